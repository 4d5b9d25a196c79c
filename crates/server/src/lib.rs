//! The HTTP face of [`parceltrail_app::App`]: the one UI (`ui/`) and its API for a plain
//! browser. `POST /api/<command>` runs a command with a JSON body; `GET /api/events` streams
//! the app's events (Server-Sent Events). `docs/api.md` is the contract. It listens on
//! loopback by default: it has no accounts of its own (the shop server adds them).
//!
//! Every request passes a [`guard::Guard`] first (the server's own `Host`, same-origin API
//! calls, JSON bodies), static files never lead out of the UI folder, and every refusal,
//! whether the guard's, the framework's or a command's, is the JSON error body of
//! [`ErrorBody`] (`{"error": "…"}`).
#![deny(missing_docs)]

pub mod guard;
pub mod shop;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use futures_util::Stream;
use parceltrail_app::{App, ErrorBody};
use serde_json::Value;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::guard::Guard;

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
    /// A non-loopback address without the explicit permission for it.
    #[error(
        "not listening on {0}: it is not a loopback address, so anyone who can reach this \
         machine over the network could read and change your parcels and carrier accounts (the \
         server has no accounts or passwords). Listen on 127.0.0.1 (the default), or pass \
         --allow-remote to accept that risk"
    )]
    NotLoopback(SocketAddr),
}

/// The UI folder of this source tree (the server serves it from disk).
pub fn default_ui_dir() -> PathBuf {
    std::env::var_os("PARCELTRAIL_UI")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui")))
}

/// The routes, behind `guard` (see [`Guard::serving`]; `/api/` is made private here).
pub fn router(app: Arc<App>, ui_dir: PathBuf, guard: Guard) -> Router {
    let api = Router::new()
        .route("/events", get(events).fallback(only_get))
        .route("/{command}", post(command).fallback(only_post))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(app);
    let ui = Arc::new(Ui::new(ui_dir));
    Router::new()
        .nest("/api", api)
        // `nest` leaves the bare prefix with a slash to the fallback.
        .route("/api/", any(no_route))
        .fallback(move |req: Request| static_file(ui.clone(), req))
        // Inside the header layers, so that refusals carry them too.
        .layer(guard.private_prefix("/api/").layer())
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

/// Listen on `addr` and serve until the task is dropped or aborted. A non-loopback `addr` is
/// refused unless `allow_remote`: the API has no accounts. Requests must name the address
/// served in `Host` ([`Guard::serving`] of the address bound).
pub async fn serve(
    app: Arc<App>,
    addr: SocketAddr,
    ui_dir: PathBuf,
    allow_remote: bool,
) -> Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>), ServeError> {
    check_listen(addr, allow_remote)?;
    if !ui_dir.join("index.html").is_file() {
        return Err(ServeError::NoUi(ui_dir));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    let router = router(app, ui_dir, Guard::serving(local));
    let task = tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((local, task))
}

/// Whether the server may listen on `addr`: loopback always, another address only with
/// `allow_remote` (the API has no accounts).
pub fn check_listen(addr: SocketAddr, allow_remote: bool) -> Result<(), ServeError> {
    if addr.ip().to_canonical().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(ServeError::NotLoopback(addr))
    }
}

/// A JSON error answer.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: message.into(),
        field: None,
    };
    (status, Json(body)).into_response()
}

async fn command(
    State(app): State<Arc<App>>,
    command: Result<Path<String>, PathRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let command = match command {
        Ok(Path(c)) => c,
        Err(e) => return error(e.status(), e.body_text()),
    };
    let args = match body {
        Ok(Json(v)) => v,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                e.status(),
                format!(
                    "the request body is larger than the {} MiB this server accepts",
                    BODY_LIMIT / (1024 * 1024)
                ),
            );
        }
        Err(e) => return error(e.status(), e.body_text()),
    };
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

async fn only_post(req: Request) -> Response {
    let mut res = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed here: commands are POST requests",
            req.method()
        ),
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    res
}

async fn only_get(req: Request) -> Response {
    let mut res = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed here: the event stream is a GET request",
            req.method()
        ),
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    res
}

async fn no_route() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such API route: commands are POST /api/<command>, events GET /api/events",
    )
}

/// The UI folder, served so that no link leads out of it.
struct Ui {
    /// The folder, canonical (symbolic links resolved).
    root: PathBuf,
    files: ServeDir,
}

impl Ui {
    fn new(dir: PathBuf) -> Self {
        let root = std::fs::canonicalize(&dir).unwrap_or(dir);
        Ui {
            files: ServeDir::new(&root),
            root,
        }
    }

    /// Whether the file `path` names (as `ServeDir` reads it: percent-decoded, index.html in
    /// a folder), with every symbolic link followed, is inside the UI folder. Paths it would
    /// refuse, and files that do not exist, are not.
    fn contains(&self, path: &str) -> bool {
        let Some(decoded) = percent_decode(path.trim_start_matches('/')) else {
            return false;
        };
        let mut file = self.root.clone();
        for component in FsPath::new(&decoded).components() {
            match component {
                Component::Normal(c) => file.push(c),
                _ => return false,
            }
        }
        let inside = |p: &FsPath| std::fs::canonicalize(p).is_ok_and(|c| c.starts_with(&self.root));
        inside(&file) && (!file.is_dir() || inside(&file.join("index.html")))
    }
}

async fn static_file(ui: Arc<Ui>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let check = ui.clone();
    // Resolving links reads the disk: not on the runtime's threads.
    let inside = tokio::task::spawn_blocking(move || check.contains(&path))
        .await
        .unwrap_or(false);
    if !inside {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut files = ui.files.clone();
    match files.try_call(req).await {
        Ok(res) => res.map(Body::new),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a UI file");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `%XX` decoded and read as UTF-8, as `ServeDir` does (a `%` not followed by two hex digits
/// stays as it is); `None` if the bytes are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
