//! The shop server's HTTP face: health and readiness for the operator, and `/api/v1` for a
//! shop's systems, authenticated by the shop's API keys. Errors are RFC 9457 problem
//! details (`application/problem+json`). `docs/server.md` is the contract.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use governor::clock::DefaultClock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use parceltrail_shop::{ApiKey, Db, Scopes, Session, ShopId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;

/// What every handler shares.
pub struct ShopState {
    /// The shop store.
    pub db: Db,
    /// The address customers and staff reach the server at (links are built from it).
    pub public_url: String,
    /// Throttles for guessable things.
    pub limits: Limits,
}

/// An RFC 9457 problem: `type` is a stable identifier, `title` its short meaning, `detail`
/// what exactly was wrong with this request.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The HTTP status, repeated in the body.
    pub status: u16,
    /// A short, stable summary of the kind of problem.
    pub title: &'static str,
    /// What was wrong with this request, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds to wait before trying again (also sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of this status, kind and detail.
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str) -> Self {
        Problem {
            status: status.as_u16(),
            title,
            detail: None,
            retry_after: None,
            kind: format!("urn:parceltrail:problem:{kind}"),
        }
    }

    /// With what exactly was wrong.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// No such thing in this shop (whether or not another shop has one).
    pub fn not_found() -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found")
    }

    /// Not authenticated (with a Bearer challenge).
    pub fn unauthorized(detail: &str) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Not signed in").detail(detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(&self)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<parceltrail_shop::Error> for Problem {
    fn from(e: parceltrail_shop::Error) -> Self {
        use parceltrail_shop::Error as E;
        match e {
            E::NotFound => Problem::not_found(),
            E::Invalid { field, message } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid request",
            )
            .detail(format!("{field}: {message}")),
            E::Conflict(what) => Problem::new(StatusCode::CONFLICT, "conflict", "Already exists")
                .detail(format!("{what} is already in use")),
            other => {
                // The operator's log has the cause; the caller gets no internals.
                tracing::error!(error = %other, "shop store failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "The server could not complete the request",
                )
            }
        }
    }
}

/// The session cookie. `__Host-` makes browsers refuse it unless it is Secure, for this host
/// only and for every path: no sibling domain can set or read it.
pub const SESSION_COOKIE: &str = "__Host-pt_session";
/// The header a signed-in browser sends its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the caller proved who it is.
#[derive(Debug, Clone)]
pub enum Auth {
    /// One of the shop's API keys (`Authorization: Bearer ptk_…`).
    Key(ApiKey),
    /// A staff member's login session (the cookie, and for changes the CSRF token).
    Staff(Session),
}

/// An authenticated request: every query it makes is scoped to `shop_id`.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's shop.
    pub shop_id: ShopId,
    /// How it authenticated.
    pub auth: Auth,
}

impl Caller {
    /// Refuses a key without the scope (staff may do what the API's scopes allow).
    pub fn require(&self, scope: fn(&Scopes) -> bool, name: &str) -> Result<(), Problem> {
        match &self.auth {
            Auth::Key(k) if !scope(&k.scopes) => {
                Err(
                    Problem::new(StatusCode::FORBIDDEN, "scope", "The key lacks a scope")
                        .detail(format!("this key has no {name:?} scope")),
                )
            }
            _ => Ok(()),
        }
    }
}

fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// The session token in the request's cookies, if any.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Equal strings in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl FromRequestParts<Arc<ShopState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ShopState>,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts);
        let now = Utc::now();
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            state.limits.check_ip(ip)?;
            let key = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    Problem::unauthorized("the Authorization header must be Bearer <key>")
                })?;
            return match state.db.authenticate_key(key, now).await? {
                Some(key) => Ok(Caller {
                    shop_id: key.shop_id,
                    auth: Auth::Key(key),
                }),
                None => {
                    // Failures count against the address: guessing keys is throttled.
                    state.limits.failed(ip);
                    Err(Problem::unauthorized(
                        "this API key is not valid (mistyped or revoked)",
                    ))
                }
            };
        }
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(Problem::unauthorized(
                "send the shop's API key as Authorization: Bearer <key>, or sign in",
            ));
        };
        let Some(session) = state.db.session(token, now).await? else {
            return Err(Problem::unauthorized(
                "the session has ended: sign in again",
            ));
        };
        // A cookie rides along on any request the browser makes, even one another site
        // caused: a change must also prove it comes from our page.
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !same_secret(sent, &session.csrf) {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "Missing or wrong CSRF token",
                )
                .detail(format!(
                    "send the session's csrf_token (GET /api/v1/session) in the {CSRF_HEADER} header"
                )));
            }
        }
        Ok(Caller {
            shop_id: session.shop_id,
            auth: Auth::Staff(session),
        })
    }
}

/// A JSON body whose rejections are problem details saying what was wrong.
pub struct Body<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(
                Problem::new(e.status(), "bad-body", "Unreadable request body")
                    .detail(e.body_text()),
            ),
        }
    }
}

/// Throttles for what can be guessed: logins per address and per account, and failed key
/// checks per address.
pub struct Limits {
    logins_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    logins_by_account: DefaultKeyedRateLimiter<String>,
    key_failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses that used up their key failures, until when. Only failures are counted, so
    /// a shop's busy integration is never slowed by its own successful calls.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

fn per(n: u32, period: std::time::Duration) -> Quota {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period / n.get())
        .unwrap_or_else(|| Quota::per_second(n))
        .allow_burst(n)
}

impl Limits {
    /// Logins: 20 a minute per address (a shared office stays usable), 10 per account every
    /// 15 minutes. Wrong API keys: 30 a minute per address.
    pub fn new() -> Self {
        let minute = std::time::Duration::from_secs(60);
        Limits {
            logins_by_ip: RateLimiter::keyed(per(20, minute)),
            logins_by_account: RateLimiter::keyed(per(10, 15 * minute)),
            key_failures: RateLimiter::keyed(per(30, minute)),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    fn too_many(wait: std::time::Duration) -> Problem {
        let secs = wait.as_secs().max(1);
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many attempts",
        )
        .detail(format!("try again in {secs} s"));
        p.retry_after = Some(secs);
        p
    }

    fn wait(n: &governor::NotUntil<governor::clock::QuantaInstant>) -> std::time::Duration {
        n.wait_time_from(governor::clock::Clock::now(&DefaultClock::default()))
    }

    /// Refuses an address that used up its key failures, before its key is even looked at.
    fn check_ip(&self, ip: IpAddr) -> Result<(), Problem> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&ip) {
            Some(until) if *until > Instant::now() => Err(Self::too_many(*until - Instant::now())),
            _ => Ok(()),
        }
    }

    fn failed(&self, ip: IpAddr) {
        if let Err(n) = self.key_failures.check_key(&ip) {
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if blocked.len() > 10_000 {
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(ip, now + Self::wait(&n));
        }
    }

    /// Counts a login attempt against the address and the account.
    fn login(&self, ip: IpAddr, account: &str) -> Result<(), Problem> {
        self.logins_by_ip
            .check_key(&ip)
            .map_err(|n| Self::too_many(Self::wait(&n)))?;
        self.logins_by_account
            .check_key(&account.to_owned())
            .map_err(|n| Self::too_many(Self::wait(&n)))?;
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

/// The routes.
pub fn router(state: Arc<ShopState>) -> Router {
    let api = Router::new()
        .route("/shop", get(shop))
        .route("/setup", post(setup))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/session", get(session))
        .fallback(|| async {
            Problem::not_found().detail("no such API route; see /api/v1/openapi.json")
        });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/setup", get(|| page(SETUP_PAGE)))
        .route("/login", get(|| page(LOGIN_PAGE)))
        .route(
            "/css/app.css",
            get(|| asset(APP_CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/js/account.js",
            get(|| asset(ACCOUNT_JS, "text/javascript; charset=utf-8")),
        )
        .nest("/api/v1", api)
        .with_state(state)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(crate::CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

/// Request bodies larger than this are refused (413).
pub const BODY_LIMIT: usize = 1024 * 1024;

// The pages are part of the binary: a packaged server never looks for the source tree.
const SETUP_PAGE: &str = include_str!("../../../ui/setup.html");
const LOGIN_PAGE: &str = include_str!("../../../ui/login.html");
const APP_CSS: &str = include_str!("../../../ui/css/app.css");
const ACCOUNT_JS: &str = include_str!("../../../ui/js/account.js");

async fn page(html: &'static str) -> Response {
    asset(html, "text/html; charset=utf-8").await
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupArgs {
    token: String,
    password: String,
}

/// Sets a staff member's password through their one-time link.
async fn setup(
    State(state): State<Arc<ShopState>>,
    Body(args): Body<SetupArgs>,
) -> Result<Json<serde_json::Value>, Problem> {
    let member = state
        .db
        .redeem_setup_link(&args.token, &args.password, Utc::now())
        .await?;
    let shop = state.db.shop(member.shop_id).await?;
    Ok(Json(
        json!({"email": member.email, "shop": {"id": shop.id, "name": shop.name}}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginArgs {
    email: String,
    password: String,
}

fn session_json(s: &Session, shop: &parceltrail_shop::Shop) -> serde_json::Value {
    json!({
        "shop": {"id": shop.id, "name": shop.name},
        "staff_id": s.staff_id,
        "role": s.role,
        "csrf_token": s.csrf,
        "expires_at": s.expires_at,
    })
}

/// Signs a staff member in: a session cookie, and the CSRF token for the page to send.
async fn login(
    State(state): State<Arc<ShopState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(args): Body<LoginArgs>,
) -> Result<Response, Problem> {
    let account = args.email.trim().to_lowercase();
    state.limits.login(peer.ip(), &account)?;
    let Some((session, token)) = state.db.login(&account, &args.password, Utc::now()).await? else {
        return Err(Problem::unauthorized("wrong email address or password"));
    };
    let shop = state.db.shop(session.shop_id).await?;
    let max_age = (session.expires_at - Utc::now()).num_seconds().max(0);
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"
    );
    let mut res = Json(session_json(&session, &shop)).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie)
            .map_err(|_| Problem::from(parceltrail_shop::Error::NotFound))?,
    );
    Ok(res)
}

/// Ends the session.
async fn logout(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    if let (Auth::Staff(_), Some(token)) = (&caller.auth, session_cookie(&headers)) {
        state.db.end_session(token).await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "__Host-pt_session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
        ),
    );
    Ok(res)
}

/// The signed-in staff member's session (and its CSRF token, for a page that reloaded).
async fn session(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, Problem> {
    match &caller.auth {
        Auth::Staff(s) => {
            let shop = state.db.shop(s.shop_id).await?;
            Ok(Json(session_json(s, &shop)))
        }
        Auth::Key(_) => Err(Problem::not_found().detail("an API key has no session")),
    }
}

/// Alive: the process answers.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready: the database answers and its schema is this build's.
async fn readyz(State(state): State<Arc<ShopState>>) -> Response {
    match state.db.schema_version().await {
        Ok(v) if v == state.db.known_version() => Json(json!({
            "status": "ready",
            "database": state.db.backend(),
            "schema_version": v,
        }))
        .into_response(),
        Ok(v) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready")
            .detail(format!(
                "the database's schema is version {v}, this server's is {}",
                state.db.known_version()
            ))
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready")
                .detail("the database does not answer")
                .into_response()
        }
    }
}

/// The key's shop and the key itself.
async fn shop(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, Problem> {
    caller.require(|s| s.read, "read")?;
    let shop = state.db.shop(caller.shop_id).await?;
    let by = match &caller.auth {
        Auth::Key(k) => {
            json!({"key": {"id": k.id, "name": k.name, "scopes": k.scopes.to_string()}})
        }
        Auth::Staff(s) => json!({"staff": {"id": s.staff_id, "role": s.role}}),
    };
    Ok(Json(json!({
        "id": shop.id,
        "name": shop.name,
        "created_at": shop.created_at,
        "caller": by,
    })))
}

/// Listens on `addr` and serves until `shutdown` completes, then finishes the requests in
/// flight.
pub async fn serve(
    state: Arc<ShopState>,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>), crate::ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| crate::ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| crate::ServeError::Bind { addr, source })?;
    let app = router(state);
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    });
    Ok((local, task))
}
