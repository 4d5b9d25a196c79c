//! The HTTP face of [`parceltrail_app::App`]: the one UI (`ui/`) and its API for a plain
//! browser. `POST /api/<command>` runs a command with a JSON body; `GET /api/events` streams
//! the app's events (Server-Sent Events). `docs/api.md` is the contract. It listens on
//! loopback by default: it has no accounts of its own (the shop server adds them).
#![deny(missing_docs)]

pub mod shop;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use parceltrail_app::{App, ErrorBody};
use serde_json::Value;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// The content security policy: only this origin's scripts, styles and images; no inline
/// script; no frames.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Imports arrive as one JSON body.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The UI folder is missing.
    #[error("the UI folder {0} has no index.html")]
    NoUi(PathBuf),
}

/// The UI folder of this source tree (the server serves it from disk).
pub fn default_ui_dir() -> PathBuf {
    std::env::var_os("PARCELTRAIL_UI")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui")))
}

/// The routes.
pub fn router(app: Arc<App>, ui_dir: PathBuf) -> Router {
    let api = Router::new()
        .route("/api/events", get(events))
        .route("/api/{command}", post(command))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(app);
    api.fallback_service(ServeDir::new(ui_dir))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

/// Listen on `addr` and serve until the task is dropped or aborted.
pub async fn serve(
    app: Arc<App>,
    addr: SocketAddr,
    ui_dir: PathBuf,
) -> Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>), ServeError> {
    if !ui_dir.join("index.html").is_file() {
        return Err(ServeError::NoUi(ui_dir));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    let router = router(app, ui_dir);
    let task = tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((local, task))
}

async fn command(
    State(app): State<Arc<App>>,
    Path(command): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let args = body.map(|Json(v)| v).unwrap_or(Value::Null);
    match app.call(&command, args).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            let status = match &e {
                parceltrail_app::Error::NotFound(_) => StatusCode::NOT_FOUND,
                e if e.is_caller_error() => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if status.is_server_error() {
                tracing::error!(command, error = %e, "command failed");
            }
            (status, Json(ErrorBody::from(&e))).into_response()
        }
    }
}

async fn events(
    State(app): State<Arc<App>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = app.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(e) => e,
            // Missed some: "anything may have changed".
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                parceltrail_app::Event::Changed { ids: Vec::new() }
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        let data = serde_json::to_string(&event).unwrap_or_default();
        Some((Ok(SseEvent::default().event(event.name()).data(data)), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
