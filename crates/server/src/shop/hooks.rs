//! Carrier and platform webhooks in: `POST /hooks/{shop_id}/{source}` for 17TRACK, AfterShip
//! and Standard Webhooks, and the shop's secrets for them (`/api/v1/hooks`).
//!
//! A delivery is verified against the shop's secret before a byte of it is parsed; a bad,
//! missing or stale signature is 401 with nothing stored, an id already received is 409.
//! The events then go through `Store::ingest`, the same idempotent path as a poll (so a
//! webhook and a poll of the same scan are one event), and the answer is given only after
//! the ingest committed: a 2xx means stored. Deliveries to one shop arriving together share
//! one transaction (`parceltrail_shop::stores`' group commit), each with its own answer.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use parceltrail_shop::ShopId;
use parceltrail_shop::hooks::{self, HookError, HookSource};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Body, Caller};
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// axum's headers as the verifier reads them.
struct Headers<'a>(&'a HeaderMap);

impl hooks::Headers for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name)?.to_str().ok()
    }
}

fn source(raw: &str) -> Result<HookSource, Problem> {
    raw.parse().map_err(|_| {
        Problem::not_found().detail("webhook sources are 17track, aftership and standard")
    })
}

fn hook_problem(e: HookError) -> Problem {
    if e.is_auth_failure() {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "bad-signature",
            "Webhook not authenticated",
        )
        .detail(e.to_string())
    } else if e.is_replay() {
        Problem::new(StatusCode::CONFLICT, "replayed", "Webhook already received").detail(format!(
            "{e}; it was stored when it first came, and is not stored again"
        ))
    } else if e.is_malformed() {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-body",
            "Unreadable webhook body",
        )
        .detail(e.to_string())
    } else {
        tracing::error!(error = %e, "webhook failed");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The server could not complete the request",
        )
    }
}

/// What a delivery came to.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Received {
    /// Events stored for the first time.
    stored: usize,
    /// Events already known (from a poll, or an earlier delivery).
    duplicates: usize,
    /// Tracking numbers the shop does not track: their events were not stored.
    unknown: Vec<String>,
}

/// Receives a carrier or platform webhook for a shop: 17TRACK v2.2 push (`sign` header),
/// AfterShip tracking webhooks (`aftership-hmac-sha256`), or a Parceltrail event signed per
/// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The body of a
/// `standard` delivery is `{"tracking_number", "carrier", "events": [{"occurred_at", "status",
/// "description", "location": {"city", "region", "country", "postal"}}]}`, or a list of them.
#[utoipa::path(post, operation_id = "receive_webhook", path = "/hooks/{shop_id}/{source}", tag = "webhooks",
    params(
        ("shop_id" = uuid::Uuid, Path, description = "The shop's id"),
        ("source" = String, Path, description = "`17track`, `aftership` or `standard`"),
    ),
    request_body(content = String, content_type = "application/json", description = "The sender's JSON, as signed"),
    responses(
        (status = 200, description = "Stored (or already known)", body = Received),
        (status = 401, description = "No, a wrong or a stale signature; or no secret set for this source", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such shop or source", body = Problem, content_type = PROBLEM),
        (status = 409, description = "This message id was already received", body = Problem, content_type = PROBLEM),
        (status = 413, description = "The body is larger than the server takes", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The body is not what this source sends (`detail` says where)", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn receive(
    State(state): State<Arc<ShopState>>,
    Path((shop, source_name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Received>, Problem> {
    let body = body.map_err(|e| {
        Problem::new(e.status(), "bad-body", "Unreadable request body").detail(e.body_text())
    })?;
    let shop: ShopId = shop.parse().map_err(|_| Problem::not_found())?;
    let source = source(&source_name)?;
    let now = Utc::now();
    let verified = hooks::verify_for_shop(
        &state.db,
        &state.secret_key,
        shop,
        source,
        &Headers(&headers),
        &body,
        now,
    )
    .await
    .map_err(hook_problem)?;
    // Only an authenticated body is read.
    let pushes = hooks::parse(source, &body).map_err(hook_problem)?;
    let store = state.stores.get(shop).await?;
    // Ingested with the deliveries waiting at the same time, in one transaction, and the
    // message id remembered in it or after it (`stores`' group commit): answered once both
    // are done.
    let delivered = store.ingest_delivery(pushes, &verified).await?;
    if delivered.replayed {
        let id = verified.message_id.clone().unwrap_or_default();
        return Err(hook_problem(hooks::HookError::Replayed { id }));
    }
    state.metrics.ingested(source.as_str(), delivered.stored);
    noted(&state, shop, source, now).await;
    Ok(Json(Received {
        stored: delivered.stored,
        duplicates: delivered.duplicates,
        unknown: delivered.unknown,
    }))
}

/// Note for carrier health that the source delivered: at most once a minute per shop and
/// source from this process (the database skips a note under a minute old from any
/// replica), so a burst of deliveries costs no writes. A failure is logged, never the
/// delivery's.
async fn noted(state: &ShopState, shop: ShopId, source: HookSource, now: DateTime<Utc>) {
    type Noted = std::collections::HashMap<(ShopId, &'static str), DateTime<Utc>>;
    static LAST: std::sync::LazyLock<std::sync::Mutex<Noted>> =
        std::sync::LazyLock::new(Default::default);
    {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        let key = (shop, source.as_str());
        if last
            .get(&key)
            .is_some_and(|t| now - *t < chrono::Duration::minutes(1))
        {
            return;
        }
        last.insert(key, now);
    }
    if let Err(e) = state.db.hook_received(shop, source, now).await {
        tracing::warn!(%shop, source = source.as_str(), error = %e, "noting a webhook's time failed");
    }
}

/// A shop's secret for one source.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretBody {
    /// For `17track` the shop's 17TRACK API key; for `aftership` the webhook secret; for
    /// `standard` a Standard Webhooks secret (`whsec_` + base64 of 24 to 64 bytes).
    #[schema(
        min_length = 1,
        max_length = 1024,
        example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    )]
    secret: String,
}

/// A source's secret, as the API shows it (never the secret).
#[derive(Serialize, ToSchema)]
pub(crate) struct HookBody {
    /// `17track`, `aftership` or `standard`.
    source: String,
    /// Where the source delivers to.
    url: String,
    /// Whether a secret is set (deliveries are accepted only then).
    configured: bool,
    set_at: Option<DateTime<Utc>>,
    set_by: Option<String>,
    /// When a delivery from it was last accepted (to the minute); `null`: none yet.
    last_received_at: Option<DateTime<Utc>>,
}

/// The shop's webhook sources.
#[derive(Serialize, ToSchema)]
pub(crate) struct HookList {
    hooks: Vec<HookBody>,
}

fn hook_url(state: &ShopState, shop: ShopId, source: HookSource) -> String {
    format!(
        "{}/hooks/{shop}/{}",
        state.public_url.trim_end_matches('/'),
        source.as_str()
    )
}

/// The shop's webhook sources: where each delivers to and whether its secret is set.
#[utoipa::path(get, operation_id = "list_hooks", path = "/hooks", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = HookList),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<HookList>, Problem> {
    caller.require_owner()?;
    let set = state.db.hook_secret_info(caller.shop_id).await?;
    let staff = state.db.staff(caller.shop_id).await?;
    let hooks = HookSource::ALL
        .iter()
        .map(|&source| {
            let info = set.iter().find(|i| i.source == source);
            HookBody {
                source: source.as_str().to_owned(),
                url: hook_url(&state, caller.shop_id, source),
                configured: info.is_some(),
                set_at: info.map(|i| i.set_at),
                set_by: info.map(|i| super::staff::person(&staff, &i.set_by)),
                last_received_at: info.and_then(|i| i.last_received_at),
            }
        })
        .collect();
    Ok(Json(HookList { hooks }))
}

/// Sets the shop's secret for a source (replacing any): deliveries from it are accepted
/// from now on, signed with this secret.
#[utoipa::path(put, operation_id = "set_hook_secret", path = "/hooks/{source}", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    params(("source" = String, Path, description = "`17track`, `aftership` or `standard`")),
    request_body = SecretBody,
    responses(
        (status = 200, description = "Set", body = HookBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such source", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The secret is not one this source uses", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn set(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(source_name): Path<String>,
    Body(body): Body<SecretBody>,
) -> Result<Json<HookBody>, Problem> {
    caller.require_owner()?;
    let source = source(&source_name)?;
    let sealed = hooks::seal_secret(
        &state.secret_key,
        caller.shop_id,
        source,
        body.secret.trim(),
    )
    .map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Invalid request",
        )
        .detail(format!("secret: {e}"))
    })?;
    let by = caller.actor();
    let now = Utc::now();
    state
        .db
        .set_hook_secret(caller.shop_id, source, &sealed, &by, now)
        .await?;
    Ok(Json(HookBody {
        source: source.as_str().to_owned(),
        url: hook_url(&state, caller.shop_id, source),
        configured: true,
        set_at: Some(now),
        set_by: Some(super::staff::person(
            &state.db.staff(caller.shop_id).await?,
            &by,
        )),
        last_received_at: state
            .db
            .hook_secret_info(caller.shop_id)
            .await?
            .into_iter()
            .find(|i| i.source == source)
            .and_then(|i| i.last_received_at),
    }))
}

/// Removes the shop's secret for a source: its deliveries are refused from now on.
#[utoipa::path(delete, operation_id = "delete_hook_secret", path = "/hooks/{source}", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    params(("source" = String, Path, description = "`17track`, `aftership` or `standard`")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such source, or no secret set for it", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn remove(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(source_name): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_owner()?;
    let source = source(&source_name)?;
    if state.db.delete_hook_secret(caller.shop_id, source).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found().detail("no secret is set for this source"))
    }
}
