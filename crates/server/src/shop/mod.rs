//! The shop server's HTTP face: health and readiness for the operator, the staff's sign-in
//! pages, and `/api/v1` for a shop's systems and staff, authenticated by the shop's API keys
//! or a staff session. Errors are RFC 9457 problem details. The OpenAPI 3.1 document at
//! `/api/v1/openapi.json` is generated from the handlers below; `docs/server.md` explains it.

mod account;
mod accounts;
mod alerts;
mod analytics;
mod attention;
mod auth;
pub mod background;
mod carriers;
mod csvout;
mod events;
mod hooks;
mod idempotency;
mod import;
mod keys;
pub mod notify;
mod observe;
mod orders;
pub mod outbound;
mod preferences;
mod problem;
pub mod pump;
mod push;
mod requests;
mod staff;
mod sync;
mod templates;
mod thresholds;
pub mod track;
mod twilio;
mod webhooks;
mod words;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parceltrail_shop::{Db, ShopId};
use serde::Serialize;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{Auth, Body, CSRF_HEADER, Caller, Limits, SESSION_COOKIE};
pub use observe::{Metrics, REQUEST_ID, WebhookMetrics};
pub use outbound::{Outbound, OutboundConfig};
pub use problem::Problem;

/// What every handler shares.
pub struct ShopState {
    /// The shop store.
    pub db: Db,
    /// Each shop's tracking store (orders, parcels, events).
    pub stores: parceltrail_shop::stores::Stores,
    /// The address customers and staff reach the server at (links are built from it).
    pub public_url: String,
    /// Throttles for guessable things.
    pub limits: Limits,
    /// What `/metrics` shows.
    pub metrics: Metrics,
    /// The server's key for the secrets it must read back, stored sealed (webhook secrets,
    /// in and out).
    pub secret_key: Arc<parceltrail_shop::secrets::SecretKey>,
    /// Webhooks out: enqueueing events and the sender.
    pub outbound: Arc<Outbound>,
    /// Customers' email and SMS, as configured.
    pub channels: notify::Channels,
    /// What the tracking pages read of each shop, kept a moment.
    pub shop_cache: track::ShopCache,
    /// The shops' pipelines running here, to wake for a message queued outside them.
    pub wakes: Wakes,
    /// Each running shop's carrier APIs and their documented request budgets.
    pub budgets: Budgets,
}

/// The carrier APIs each shop's poller in this process uses, with their request budgets
/// (what carrier health weighs today's requests against).
#[derive(Default)]
pub struct Budgets(
    std::sync::Mutex<
        std::collections::HashMap<ShopId, Vec<(String, parceltrail_core::carrier::RateLimit)>>,
    >,
);

impl Budgets {
    fn set(&self, shop: ShopId, limits: Vec<(String, parceltrail_core::carrier::RateLimit)>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shop, limits);
    }

    /// Whether the shop's poller here has an adapter `id`.
    fn uses(&self, shop: ShopId, id: &str) -> bool {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.get(&shop)
            .is_some_and(|l| l.iter().any(|(a, _)| a == id))
    }

    /// Requests a day the shop's adapter `id` may make, by its documented rate.
    fn per_day(&self, shop: ShopId, id: &str) -> Option<u64> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (_, l) = all.get(&shop)?.iter().find(|(a, _)| a == id)?;
        let per = l.per.as_secs_f64();
        (per > 0.0).then(|| (f64::from(l.requests) * 86_400.0 / per).floor() as u64)
    }
}

/// Each shop pipeline running in this process, by the door that wakes it.
#[derive(Default)]
pub struct Wakes(
    std::sync::Mutex<
        std::collections::HashMap<
            ShopId,
            tokio::sync::broadcast::Sender<parceltrail_core::store::Change>,
        >,
    >,
);

impl Wakes {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<
            ShopId,
            tokio::sync::broadcast::Sender<parceltrail_core::store::Change>,
        >,
    > {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shop's pipeline hears from `door` (it replaces an earlier one).
    pub(crate) fn register(
        &self,
        shop: ShopId,
        door: tokio::sync::broadcast::Sender<parceltrail_core::store::Change>,
    ) {
        self.lock().insert(shop, door);
    }
}

impl ShopState {
    /// Wakes the shop's pipeline, when it runs here, to send what was queued; otherwise
    /// whichever replica runs it sends it at its next tick.
    pub fn wake_pipeline(&self, shop: ShopId) {
        if let Some(door) = self.wakes.lock().get(&shop) {
            let _ = door.send(parceltrail_core::store::Change::NotificationsChanged);
        }
    }
}

/// Request bodies larger than this are refused (413), but for an import's.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The largest body a route takes.
pub(crate) fn body_limit(path: &str) -> usize {
    if path == import::PATH {
        import::MAX_BODY
    } else {
        BODY_LIMIT
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Parceltrail shop server",
        description = "A shop's orders, shipments and staff. Authenticate with an API key (`Authorization: Bearer ptk_…`) or a staff session cookie; a cookie-authenticated change also sends `X-CSRF-Token`. Every error is an RFC 9457 problem (`application/problem+json`). Another shop's ids answer 404, exactly like ids that do not exist."
    ),
    components(schemas(Problem)),
    modifiers(&Security)
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ptk_…")
                    .description(Some(
                        "One of the shop's API keys (`parceltrail server key create`).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "A staff member's session, from POST /api/v1/login.",
            ))),
        );
    }
}

/// The API's routes and their OpenAPI document.
fn api() -> (Router<Arc<ShopState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(observe::metrics))
        .routes(routes!(hooks::receive))
        .routes(routes!(twilio::status))
        .routes(routes!(twilio::inbound))
        .routes(routes!(unsubscribe_page, track::unsubscribe))
        .nest(
            "/api/v1",
            OpenApiRouter::new()
                .routes(routes!(account::shop))
                .routes(routes!(account::setup))
                .routes(routes!(account::login))
                .routes(routes!(account::logout))
                .routes(routes!(account::session))
                .routes(routes!(keys::list, keys::create))
                .routes(routes!(keys::revoke))
                .routes(routes!(staff::list, staff::invite))
                .routes(routes!(staff::setup_link))
                .routes(routes!(staff::remove))
                .routes(routes!(accounts::list))
                .routes(routes!(accounts::set, accounts::remove))
                .routes(routes!(orders::list, orders::create))
                .routes(routes!(orders::export))
                .routes(routes!(orders::get, orders::update, orders::remove))
                .merge(
                    OpenApiRouter::new()
                        .routes(routes!(import::import))
                        .layer(DefaultBodyLimit::max(import::MAX_BODY)),
                )
                .routes(routes!(orders::add_shipments))
                .routes(routes!(orders::add_event))
                .routes(routes!(orders::resend))
                .routes(routes!(events::stream))
                .routes(routes!(hooks::list))
                .routes(routes!(hooks::set, hooks::remove))
                .routes(routes!(webhooks::list, webhooks::create))
                .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
                .routes(routes!(webhooks::rotate_secret))
                .routes(routes!(webhooks::test))
                .routes(routes!(webhooks::deliveries))
                .routes(routes!(webhooks::replay))
                .routes(routes!(track::create_link, track::revoke_links))
                .routes(routes!(track::settings, track::update_settings))
                .routes(routes!(track::rotate))
                .routes(routes!(track::branding, track::set_branding))
                .routes(routes!(track::lookup))
                .routes(routes!(track::shop))
                .routes(routes!(track::page))
                .routes(routes!(track::stream))
                .routes(routes!(track::set_notifications))
                .routes(routes!(preferences::get, preferences::set))
                .routes(routes!(templates::list))
                .merge(
                    // A template at its longest, every character JSON-escaped, is over the
                    // usual 1 MiB.
                    OpenApiRouter::new()
                        .routes(routes!(templates::preview))
                        .routes(routes!(templates::set, templates::remove))
                        .layer(DefaultBodyLimit::max(templates::MAX_BODY)),
                )
                .routes(routes!(push::key))
                .routes(routes!(push::subscribe, push::unsubscribe))
                .routes(routes!(requests::create))
                .routes(routes!(requests::withdraw))
                .routes(routes!(requests::feedback))
                .routes(routes!(requests::list))
                .routes(routes!(requests::decide_route))
                .routes(routes!(requests::of_order))
                .routes(routes!(requests::list_feedback))
                .routes(routes!(alerts::get, alerts::set))
                .routes(routes!(attention::list))
                .routes(routes!(thresholds::get, thresholds::set))
                .routes(routes!(analytics::carriers))
                .routes(routes!(carriers::health))
                .routes(routes!(analytics::carriers_csv))
                .routes(routes!(analytics::deliveries))
                .routes(routes!(analytics::deliveries_csv))
                .routes(routes!(analytics::problems))
                .routes(routes!(analytics::problems_csv))
                .routes(routes!(analytics::feedback))
                .routes(routes!(analytics::feedback_csv))
                .routes(routes!(analytics::service))
                .merge(
                    // A page of 500 parcels with their events is over the usual 1 MiB.
                    OpenApiRouter::new()
                        .routes(routes!(sync::pull, sync::push))
                        .layer(DefaultBodyLimit::max(sync::MAX_BODY)),
                ),
        )
        .split_for_parts()
}

/// The OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The routes.
pub fn router(state: Arc<ShopState>) -> Router {
    let (api, doc) = api();
    let doc = Arc::new(doc);
    api.route(
        "/api/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
    .route("/api/v1/{*rest}", axum::routing::any(unknown_route))
    .route("/setup", get(|| page(SETUP_PAGE)))
    .route("/track", get(|| page(TRACK_PAGE)))
    .route("/t/{token}", get(|| page(TRACK_PAGE)))
    // At the root, so its scope covers the tracking pages.
    .route(
        "/sw.js",
        get(|| asset(SERVICE_WORKER, "text/javascript; charset=utf-8")),
    )
    .route("/js/{file}", get(script))
    .route(
        "/css/map.css",
        get(|| asset(MAP_CSS, "text/css; charset=utf-8")),
    )
    .route(
        "/data/cities.json",
        get(|| asset(CITIES, "application/json")),
    )
    .route("/data/land.json", get(|| asset(LAND, "application/json")))
    .route("/login", get(|| page(LOGIN_PAGE)))
    .route("/dashboard", get(|| page(DASHBOARD_PAGE)))
    // The staff's start: the dashboard (which sends a visitor without a session to sign in).
    .route(
        "/",
        get(|| async { axum::response::Redirect::to("/dashboard") }),
    )
    .route(
        "/css/dashboard.css",
        get(|| asset(DASHBOARD_CSS, "text/css; charset=utf-8")),
    )
    .route(
        "/css/app.css",
        get(|| asset(APP_CSS, "text/css; charset=utf-8")),
    )
    .fallback(|| async { Problem::not_found().detail("no such page") })
    .method_not_allowed_fallback(|| async {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            "Method not allowed",
        )
        .detail("see /api/v1/openapi.json for the methods each route takes")
    })
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        idempotency::idempotency,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        observe::observe,
    ))
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

async fn unknown_route() -> Problem {
    Problem::not_found().detail("no such API route; see /api/v1/openapi.json")
}

// The pages are part of the binary: a packaged server never looks for the source tree.
const SETUP_PAGE: &str = include_str!("../../../../ui/setup.html");
const LOGIN_PAGE: &str = include_str!("../../../../ui/login.html");
const DASHBOARD_PAGE: &str = include_str!("../../../../ui/dashboard.html");
const DASHBOARD_CSS: &str = include_str!("../../../../ui/css/dashboard.css");
const APP_CSS: &str = include_str!("../../../../ui/css/app.css");
const TRACK_PAGE: &str = include_str!("../../../../ui/track.html");
const SERVICE_WORKER: &str = include_str!("../../../../ui/sw.js");
const MAP_CSS: &str = include_str!("../../../../ui/css/map.css");
const CITIES: &str = include_str!("../../../../ui/data/cities.json");
const LAND: &str = include_str!("../../../../ui/data/land.json");
/// The scripts the shop server's pages load, by file name.
const SCRIPTS: &[(&str, &str)] = &[
    ("account.js", include_str!("../../../../ui/js/account.js")),
    (
        "dashboard.js",
        include_str!("../../../../ui/js/dashboard.js"),
    ),
    ("dash-api.js", include_str!("../../../../ui/js/dash-api.js")),
    (
        "dash-orders.js",
        include_str!("../../../../ui/js/dash-orders.js"),
    ),
    (
        "dash-order.js",
        include_str!("../../../../ui/js/dash-order.js"),
    ),
    (
        "dash-attention.js",
        include_str!("../../../../ui/js/dash-attention.js"),
    ),
    (
        "dash-analytics.js",
        include_str!("../../../../ui/js/dash-analytics.js"),
    ),
    (
        "dash-settings.js",
        include_str!("../../../../ui/js/dash-settings.js"),
    ),
    (
        "dash-settings-page.js",
        include_str!("../../../../ui/js/dash-settings-page.js"),
    ),
    (
        "dash-settings-messages.js",
        include_str!("../../../../ui/js/dash-settings-messages.js"),
    ),
    (
        "dash-settings-access.js",
        include_str!("../../../../ui/js/dash-settings-access.js"),
    ),
    (
        "dash-settings-carriers.js",
        include_str!("../../../../ui/js/dash-settings-carriers.js"),
    ),
    (
        "dash-settings-staff.js",
        include_str!("../../../../ui/js/dash-settings-staff.js"),
    ),
    (
        "dash-form.js",
        include_str!("../../../../ui/js/dash-form.js"),
    ),
    ("format.js", include_str!("../../../../ui/js/format.js")),
    ("track.js", include_str!("../../../../ui/js/track.js")),
    ("i18n.js", include_str!("../../../../ui/js/i18n.js")),
    ("dom.js", include_str!("../../../../ui/js/dom.js")),
    ("ui.js", include_str!("../../../../ui/js/ui.js")),
    ("map.js", include_str!("../../../../ui/js/map.js")),
];

async fn script(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match SCRIPTS.iter().find(|(name, _)| *name == file) {
        Some((_, body)) => asset(body, "text/javascript; charset=utf-8").await,
        None => Problem::not_found().detail("no such page").into_response(),
    }
}

/// The page behind an email's unsubscribe link: a button that sends the one-click request
/// (opening the link changes nothing, so link scanners do not unsubscribe anyone).
#[utoipa::path(get, operation_id = "unsubscribe_page", path = "/u/{token}", tag = "tracking",
    params(("token" = String, Path, description = "The unsubscribe link's token")),
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
async fn unsubscribe_page() -> Response {
    page(TRACK_PAGE).await
}

async fn page(html: &'static str) -> Response {
    asset(html, "text/html; charset=utf-8").await
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The process is alive.
#[derive(Serialize, ToSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// Alive: the process answers.
#[utoipa::path(get, operation_id = "healthz", path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process answers", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database answers and its schema is this build's.
#[derive(Serialize, ToSchema)]
struct Ready {
    /// Always `ready`.
    status: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
    /// The database's schema version.
    schema_version: i64,
}

/// Ready: the database answers and its schema is this build's.
#[utoipa::path(get, operation_id = "readyz", path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "The database does not answer, or its schema differs", body = Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(State(state): State<Arc<ShopState>>) -> Result<Json<Ready>, Problem> {
    let not_ready = || Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready");
    match state.db.schema_version().await {
        Ok(v) if v == state.db.known_version() => Ok(Json(Ready {
            status: "ready",
            database: state.db.backend(),
            schema_version: v,
        })),
        Ok(v) => Err(not_ready().detail(format!(
            "the database's schema is version {v}, this server's is {}",
            state.db.known_version()
        ))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            Err(not_ready().detail("the database does not answer"))
        }
    }
}

/// The rules for which requests reach the routes: the bound address's names, and the public
/// URL's host, port and scheme (behind a TLS proxy: `https`, the proxy's name); cross-site
/// changes and reads of `/api/` refused.
pub fn guard(bound: SocketAddr, public_url: &str) -> crate::guard::Guard {
    let mut g = crate::guard::Guard::serving(bound)
        .private_prefix("/api/")
        .problem_details()
        // Changes need a key or the session's CSRF header; bodies are checked by each route.
        .any_post_body();
    if let Ok(u) = url::Url::parse(public_url)
        && let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default())
    {
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        g = g.allow_host(&host, port).scheme(u.scheme());
    }
    g
}

/// Binds `addr` (port 0: any free port), so the address is known before serving (links
/// are built from it when no public URL is set).
pub async fn bind(
    addr: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), crate::ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| crate::ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| crate::ServeError::Bind { addr, source })?;
    Ok((listener, local))
}

/// Serves on `listener` (from [`bind`]) until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve(
    state: Arc<ShopState>,
    (listener, local): (tokio::net::TcpListener, SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>), crate::ServeError> {
    let guard = guard(local, &state.public_url);
    let app = router(state).layer(guard.layer());
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
