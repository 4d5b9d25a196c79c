//! Who is calling: an API key or a staff session (with CSRF for changes), JSON bodies whose
//! rejections are problems, and the throttles for what can be guessed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use chrono::Utc;
use governor::clock::DefaultClock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use parceltrail_shop::{ApiKey, KeyId, Role, Scopes, Session, ShopId};

use super::ShopState;
use super::problem::Problem;

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

    /// Who, for logs a person reads: `key:<name>` or `staff:<id>`.
    pub fn actor(&self) -> String {
        match &self.auth {
            Auth::Key(k) => format!("key:{}", k.name),
            Auth::Staff(s) => format!("staff:{}", s.staff_id),
        }
    }

    /// Refuses anyone but an owner's session or a key with `write` (keys, staff, settings).
    pub fn require_owner(&self) -> Result<(), Problem> {
        match &self.auth {
            Auth::Staff(s) if s.role != Role::Owner => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "role",
                "Only the shop's owner may do this",
            )),
            _ => self.require(|s| s.write, "write"),
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
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
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
    subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()).into()
}

impl FromRequestParts<Arc<ShopState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ShopState>,
    ) -> Result<Self, Self::Rejection> {
        // Already checked by a layer (idempotency): checked, counted and throttled once.
        if let Some(Authenticated(outcome)) = parts.extensions.get::<Authenticated>() {
            return outcome.clone();
        }
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
                Some(key) => {
                    state.limits.key_request(key.id)?;
                    Ok(Caller {
                        shop_id: key.shop_id,
                        auth: Auth::Key(key),
                    })
                }
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

/// The outcome of authenticating a request, left in its extensions by a layer that needed
/// it first.
#[derive(Clone)]
pub(crate) struct Authenticated(pub(crate) Result<Caller, Problem>);

/// A JSON body whose rejections are problem details saying what was wrong.
pub struct Body<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        let unreadable = |status, detail: String| {
            Problem::new(status, "bad-body", "Unreadable request body").detail(detail)
        };
        let (parts, body) = req.into_parts();
        // Read once (within the route's body limit), so the shape can be checked after
        // axum's own checks of the media type and the syntax.
        let bytes = axum::body::Bytes::from_request(
            axum::extract::Request::from_parts(parts.clone(), body),
            state,
        )
        .await
        .map_err(|e| unreadable(e.status(), e.body_text()))?;
        let object = bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{');
        let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        match Json::<T>::from_request(req, state).await {
            // Every body of this API is an object; serde would read a struct from an array
            // of its fields in order, which no schema documents.
            Ok(_) if !object => Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid request",
            )
            .detail("the body must be a JSON object")),
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(unreadable(e.status(), e.body_text())),
        }
    }
}

/// Throttles for what can be guessed: logins per address and per account, and failed key
/// checks per address.
pub struct Limits {
    logins_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    logins_by_account: DefaultKeyedRateLimiter<String>,
    key_failures: DefaultKeyedRateLimiter<IpAddr>,
    per_key: DefaultKeyedRateLimiter<KeyId>,
    lookups_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    lookups_by_order: DefaultKeyedRateLimiter<String>,
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
    /// Sign-ins per client address and minute, by default.
    pub const LOGINS_PER_MINUTE: u32 = 20;
    /// Wrong API keys per client address and minute, by default.
    pub const KEY_FAILURES_PER_MINUTE: u32 = 30;
    /// Requests per API key and second, by default.
    pub const KEY_REQUESTS_PER_SECOND: u32 = 200;
    /// The most sign-ins per address and minute a server may be set to allow.
    pub const MAX_LOGINS_PER_MINUTE: u32 = 100_000;
    /// The most wrong keys per address and minute, or requests per key and second, a server
    /// may be set to allow.
    pub const MAX_KEY_RATE: u32 = 1_000_000;

    /// The defaults: logins 20 a minute per address (a shared office stays usable), 10 per
    /// account every 15 minutes; wrong API keys 30 a minute per address.
    pub fn new() -> Self {
        Self::with(
            Self::LOGINS_PER_MINUTE,
            Self::KEY_FAILURES_PER_MINUTE,
            Self::KEY_REQUESTS_PER_SECOND,
        )
    }

    /// Logins (and set-up links) per address and minute, wrong keys per address and minute,
    /// and requests per key and second (twice that in a burst); an account's 10 tries per 15
    /// minutes stay.
    pub fn with(
        logins_per_minute: u32,
        key_failures_per_minute: u32,
        key_requests_per_second: u32,
    ) -> Self {
        let minute = std::time::Duration::from_secs(60);
        Limits {
            logins_by_ip: RateLimiter::keyed(per(logins_per_minute, minute)),
            logins_by_account: RateLimiter::keyed(per(10, 15 * minute)),
            key_failures: RateLimiter::keyed(per(key_failures_per_minute, minute)),
            per_key: RateLimiter::keyed(
                per(key_requests_per_second, std::time::Duration::from_secs(1)).allow_burst(
                    NonZeroU32::new(key_requests_per_second.saturating_mul(2))
                        .unwrap_or(NonZeroU32::MIN),
                ),
            ),
            // Customers' order lookups: as many per address as sign-ins; 10 per order
            // number every 15 minutes, whoever asks.
            lookups_by_ip: RateLimiter::keyed(per(logins_per_minute, minute)),
            lookups_by_order: RateLimiter::keyed(per(10, 15 * minute)),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a customer's order lookup against the address and the order number (`order`:
    /// the shop and the number, whether or not such an order exists).
    pub(crate) fn lookup(&self, ip: IpAddr, order: String) -> Result<(), Problem> {
        self.lookups_by_ip
            .check_key(&ip)
            .map_err(|n| Self::too_many(Self::wait(&n)))?;
        self.lookups_by_order
            .check_key(&order)
            .map_err(|n| Self::too_many(Self::wait(&n)))
    }

    /// Forgets the counts of addresses, accounts and order numbers not seen for a while, so
    /// that the throttles' memory stays bounded by recent traffic.
    pub fn sweep(&self) {
        self.logins_by_ip.retain_recent();
        self.logins_by_account.retain_recent();
        self.key_failures.retain_recent();
        self.per_key.retain_recent();
        self.lookups_by_ip.retain_recent();
        self.lookups_by_order.retain_recent();
        let now = Instant::now();
        self.blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, until| *until > now);
    }

    /// Counts an attempt that costs a password hash against the address.
    pub(crate) fn attempt(&self, ip: IpAddr) -> Result<(), Problem> {
        self.logins_by_ip
            .check_key(&ip)
            .map_err(|n| Self::too_many(Self::wait(&n)))
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

    /// Counts a request against its key's share.
    fn key_request(&self, key: KeyId) -> Result<(), Problem> {
        self.per_key
            .check_key(&key)
            .map_err(|n| Self::too_many(Self::wait(&n)))
    }

    /// Counts a login attempt against the address and the account.
    pub(crate) fn login(&self, ip: IpAddr, account: &str) -> Result<(), Problem> {
        self.attempt(ip)?;
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
