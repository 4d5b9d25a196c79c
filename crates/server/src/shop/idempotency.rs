//! `Idempotency-Key` on every POST of the API: the first request with a key runs and its
//! answer is kept for a day; a repeat gets that answer again (with `Idempotent-Replayed:
//! true`) and changes nothing. A repeat while the first still runs is 409; the same key with
//! a different request (method, path or body) is 422. Answers the server failed to give
//! (5xx) are not kept, so a retry runs afresh. Keys are per shop. Kept answers are sealed
//! with the server's key, since some carry a secret shown once (a new API key).
//!
//! A layer rather than a habit of each handler, so no POST can forget it. It authenticates
//! the caller itself (to know whose key it is) and leaves the outcome in the request for the
//! handler's [`Caller`] extractor, so a key is checked, counted and throttled once.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use parceltrail_shop::Idempotent;
use sha2::{Digest, Sha256};

use super::auth::{Authenticated, Caller};
use super::{Problem, ShopState};

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a repeated answer.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The largest answer kept for repeats; a larger one is given once (a repeat runs again).
const MAX_KEPT: usize = 16 * 1024 * 1024;

/// What binds a kept answer to its shop and key. Answers are kept sealed: some carry a
/// secret shown once (a new API key, a webhook signing secret), which must not lie in the
/// database in the clear.
fn answer_aad(shop: parceltrail_shop::ShopId, key: &str) -> Vec<u8> {
    let mut aad = b"parceltrail idempotent answer\0".to_vec();
    aad.extend_from_slice(shop.0.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key.as_bytes());
    aad
}

/// The layer's function (see the module docs).
pub async fn idempotency(
    State(state): State<Arc<ShopState>>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get(&IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let key = match raw.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_owned()
        }
        _ => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "idempotency-key",
                "Unusable Idempotency-Key",
            )
            .detail(
                "an Idempotency-Key is 1 to 255 visible ASCII characters (a UUID is a good one)",
            )
            .into_response();
        }
    };
    let (mut parts, body) = req.into_parts();
    let caller = Caller::from_request_parts(&mut parts, &state).await;
    parts.extensions.insert(Authenticated(caller.clone()));
    let Ok(caller) = caller else {
        // Not authenticated: the handler gives its answer (nothing is kept for no one).
        return next.run(Request::from_parts(parts, body)).await;
    };
    let limit = super::body_limit(parts.uri.path());
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Request body too large",
            )
            .detail(format!("a request body here is at most {limit} bytes"))
            .into_response();
        }
    };
    let mut digest = Sha256::new();
    digest.update(parts.method.as_str());
    digest.update([0]);
    digest.update(parts.uri.path());
    digest.update([0]);
    digest.update(parts.uri.query().unwrap_or_default());
    digest.update([0]);
    digest.update(&bytes);
    let fingerprint = digest.finalize();
    let shop = caller.shop_id;
    match state.db.begin_idempotent(shop, &key, &fingerprint, Utc::now()).await {
        Err(e) => Problem::from(e).into_response(),
        Ok(Idempotent::InProgress) => Problem::new(StatusCode::CONFLICT, "in-progress", "Request in progress")
            .detail("a request with this Idempotency-Key has not finished yet; retry in a moment")
            .into_response(),
        Ok(Idempotent::Mismatch) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key reused",
        )
        .detail("this Idempotency-Key was used for a different request (method, path or body); use a new key for a new request")
        .into_response(),
        Ok(Idempotent::Replay { status, content_type, body }) => {
            let Ok(body) = state.secret_key.open(&body, &answer_aad(shop, &key)) else {
                tracing::error!("a kept idempotent answer does not open with this server's key");
                return Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "The server could not complete the request",
                )
                .into_response();
            };
            let mut res = Response::new(Body::from(body.to_vec()));
            *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                res.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            res.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
            res
        }
        Ok(Idempotent::Run) => {
            let res = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let (head, body) = res.into_parts();
            if head.status.is_server_error() {
                if let Err(e) = state.db.abandon_idempotent(shop, &key).await {
                    tracing::error!(error = %e, "could not give an idempotency key up");
                }
                return Response::from_parts(head, body);
            }
            let Ok(bytes) = axum::body::to_bytes(body, MAX_KEPT).await else {
                if let Err(e) = state.db.abandon_idempotent(shop, &key).await {
                    tracing::error!(error = %e, "could not give an idempotency key up");
                }
                return Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "The answer was too large to keep for repeats",
                )
                .into_response();
            };
            let ct = head
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            if let Err(e) = state
                .db
                .finish_idempotent(
                    shop,
                    &key,
                    head.status.as_u16(),
                    ct,
                    &state.secret_key.seal(&bytes, &answer_aad(shop, &key)),
                )
                .await
            {
                // The change is made; only its replay is lost. A repeat after the lease
                // runs again, which the API's own uniqueness rules make safe.
                tracing::error!(error = %e, "could not keep an idempotent answer");
            }
            Response::from_parts(head, Body::from(bytes))
        }
    }
}
