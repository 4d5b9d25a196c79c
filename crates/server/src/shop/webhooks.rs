//! The shop's webhook endpoints and their deliveries: make, list, change, delete, rotate the
//! signing secret, send a test event, list deliveries with their attempts, replay one.
//! Reading needs a key with `read`, changing one with `write`; of staff sessions, the
//! owner's (as for keys).

use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use parceltrail_shop::webhooks::{
    self as wh, Delivery, DeliveryId, DeliveryState, Endpoint, EndpointId, EndpointPatch,
    NewEndpoint,
};
use parceltrail_shop::{Role, ShopId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Auth, Body, Caller};
use super::outbound::new_event_id;
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// An event type a shop can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) enum EventType {
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.updated")]
    OrderUpdated,
    #[serde(rename = "order.stage_changed")]
    OrderStageChanged,
    #[serde(rename = "order.removed")]
    OrderRemoved,
    #[serde(rename = "shipment.added")]
    ShipmentAdded,
    #[serde(rename = "shipment.status_changed")]
    ShipmentStatusChanged,
    #[serde(rename = "shipment.events_added")]
    ShipmentEventsAdded,
    #[serde(rename = "shipment.estimate_changed")]
    ShipmentEstimateChanged,
    #[serde(rename = "shipment.problem_opened")]
    ShipmentProblemOpened,
    #[serde(rename = "shipment.problem_resolved")]
    ShipmentProblemResolved,
    #[serde(rename = "request.created")]
    RequestCreated,
    #[serde(rename = "request.updated")]
    RequestUpdated,
    #[serde(rename = "feedback.given")]
    FeedbackGiven,
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    fn name(self) -> String {
        // The serde name, the store's name.
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    fn names(types: &[EventType]) -> Vec<String> {
        types.iter().map(|t| t.name()).collect()
    }
}

/// The URLs the API takes: `http` or `https`, a host name (its last label starting with a
/// letter, so never read as an IP address), an optional port, path and query of URL
/// characters; no user, password or `#fragment`. URLs with an IP address are taken besides
/// (see [`check_url`]).
pub(crate) const URL_PATTERN: &str = r"^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$";

static URL_RE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(URL_PATTERN).expect("the URL pattern is valid"));

/// A webhook endpoint (never its secret).
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookBody {
    #[schema(value_type = uuid::Uuid)]
    id: EndpointId,
    /// Where deliveries are POSTed.
    url: String,
    description: String,
    /// The event types it receives; empty: every type.
    event_types: Vec<EventType>,
    /// Whether it receives deliveries.
    enabled: bool,
    /// Why it was disabled.
    disabled_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Endpoint> for WebhookBody {
    fn from(e: Endpoint) -> Self {
        WebhookBody {
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e
                .event_types
                .iter()
                .filter_map(|t| serde_json::from_value(Value::String(t.clone())).ok())
                .collect(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// The shop's webhook endpoints.
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookList {
    webhooks: Vec<WebhookBody>,
}

/// An endpoint with its signing secret: shown once.
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookWithSecret {
    webhook: WebhookBody,
    /// The signing secret (`whsec_…`). It is stored encrypted and not shown again: keep it
    /// now, to verify the `webhook-signature` of each delivery.
    secret: String,
}

/// An endpoint to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWebhook {
    /// Where deliveries are POSTed: an absolute `http` or `https` URL, at most 2,000
    /// characters, without a user, password or `#fragment`. A URL with an IP address is
    /// taken too when the address is public (or the server allows private targets).
    #[schema(
        max_length = 2000,
        pattern = r"^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$",
        example = "https://shop.example/parceltrail-hooks"
    )]
    url: String,
    /// What it is for (at most 500 characters; no control characters but tabs and line
    /// breaks).
    #[serde(default)]
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*$"
    )]
    description: String,
    /// The event types it receives; empty or absent: every type.
    #[serde(default)]
    event_types: Vec<EventType>,
    /// Whether it receives deliveries from now on (default true).
    #[serde(default = "yes")]
    #[schema(default = true)]
    enabled: bool,
}

fn yes() -> bool {
    true
}

/// Changes to an endpoint; an absent (or null) field stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookPatch {
    /// A new URL (as for making one).
    #[schema(
        max_length = 2000,
        pattern = r"^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
    )]
    url: Option<String>,
    /// A new description.
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*$"
    )]
    description: Option<String>,
    /// A new filter; empty: every type.
    event_types: Option<Vec<EventType>>,
    /// Enable or disable it. A disabled endpoint gets no new deliveries; its pending ones
    /// wait, and go out if it is enabled again.
    enabled: Option<bool>,
}

/// One attempt at sending a delivery.
#[derive(Serialize, ToSchema)]
pub(crate) struct AttemptBody {
    /// When it ended.
    at: DateTime<Utc>,
    /// The HTTP status, if an answer came.
    status: Option<u16>,
    /// What went wrong; null when it was delivered.
    error: Option<String>,
    duration_ms: i64,
}

/// Where a delivery stands.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StateBody {
    /// Waiting for its next attempt.
    Pending,
    /// Being sent now.
    Delivering,
    /// Answered with a 2xx.
    Delivered,
    /// Every attempt of its series failed (replay it to try again).
    Failed,
}

/// One event's delivery to the endpoint.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryBody {
    #[schema(value_type = uuid::Uuid)]
    id: DeliveryId,
    #[schema(value_type = uuid::Uuid)]
    webhook_id: EndpointId,
    /// The event's id, also the `webhook-id` header.
    event_id: String,
    event_type: String,
    state: StateBody,
    /// Attempts in the current series (a replay starts a new one).
    attempts: u32,
    /// When it is tried next, while pending or being sent.
    next_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's error.
    last_error: Option<String>,
    /// The last attempt's HTTP status.
    last_status: Option<u16>,
    last_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    /// The body that is sent: `{type, id, timestamp, shop_id, data}`.
    #[schema(value_type = Object)]
    payload: Value,
    /// Its attempts, newest first (at most 50), earlier series' included.
    attempt_log: Vec<AttemptBody>,
}

impl From<Delivery> for DeliveryBody {
    fn from(d: Delivery) -> Self {
        let payload = match serde_json::from_str::<Value>(&d.payload) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({ "raw": d.payload }),
        };
        DeliveryBody {
            id: d.id,
            webhook_id: d.endpoint_id,
            event_id: d.event_id,
            event_type: d.event_type,
            state: match d.state {
                DeliveryState::Pending => StateBody::Pending,
                DeliveryState::Delivering => StateBody::Delivering,
                DeliveryState::Delivered => StateBody::Delivered,
                DeliveryState::Failed => StateBody::Failed,
            },
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error,
            last_status: d.last_status,
            last_attempt_at: d.last_attempt_at,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            payload,
            attempt_log: d
                .attempt_log
                .into_iter()
                .map(|a| AttemptBody {
                    at: a.at,
                    status: a.status,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryList {
    deliveries: Vec<DeliveryBody>,
    /// Pass as `before` for the next (older) page; null on the last page.
    #[schema(value_type = Option<uuid::Uuid>)]
    next_cursor: Option<DeliveryId>,
}

/// Which deliveries to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveriesQuery {
    /// Only deliveries older than this one (a page's `next_cursor`).
    #[param(value_type = Option<uuid::Uuid>)]
    before: Option<String>,
    /// At most this many (1 to 100; default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Reading: a key with `read`, or the owner's session.
fn may_read(caller: &Caller) -> Result<(), Problem> {
    match &caller.auth {
        Auth::Staff(s) if s.role != Role::Owner => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "role",
            "Only the shop's owner may do this",
        )),
        _ => caller.require(|s| s.read, "read"),
    }
}

/// An id in a path: a malformed one names nothing of this shop, the same 404.
fn id<T: std::str::FromStr>(s: &str) -> Result<T, Problem> {
    s.parse().map_err(|_| Problem::not_found())
}

fn invalid(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        "Invalid request",
    )
    .detail(detail)
}

/// A URL the API takes: one of [`URL_PATTERN`], or one with an IP address that this server
/// may call; then the store's own check.
fn check_url(state: &ShopState, url: &str) -> Result<String, Problem> {
    if url.chars().count() > wh::MAX_URL {
        return Err(invalid(format!(
            "url: use at most {} characters",
            wh::MAX_URL
        )));
    }
    if !URL_RE.is_match(url) {
        let ip_literal = url::Url::parse(url)
            .ok()
            .is_some_and(|u| matches!(u.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))));
        if !ip_literal {
            // The store says what is wrong when it can; else the pattern's rules.
            wh::check_url(url)?;
            return Err(invalid(
                "url: use an absolute http or https URL of ASCII characters with a host name or IP address, e.g. https://shop.example/hooks",
            ));
        }
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(invalid("url: use an http or https URL"));
        }
    }
    if let Some(why) = state.outbound.refusal(url) {
        return Err(invalid(format!("url: {why}")));
    }
    // The store writes it as the parser does (given the URL as sent, so that a URL of the
    // longest length is not refused for a `/` the parser adds).
    wh::check_url(url)?;
    Ok(url.to_owned())
}

fn check_description(d: &str) -> Result<String, Problem> {
    if d.chars().count() > wh::MAX_DESCRIPTION {
        return Err(invalid(format!(
            "description: use at most {} characters",
            wh::MAX_DESCRIPTION
        )));
    }
    Ok(wh::check_description(d)?)
}

fn new_secret(state: &ShopState, shop: ShopId, id: EndpointId) -> (String, Vec<u8>) {
    let secret = parceltrail_shop::hooks::new_standard_secret();
    let sealed = state
        .secret_key
        .seal(secret.as_bytes(), &wh::secret_aad(shop, id));
    (secret, sealed)
}

/// The shop's webhook endpoints, oldest first.
#[utoipa::path(get, operation_id = "list_webhooks", path = "/webhooks", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = WebhookList),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<WebhookList>, Problem> {
    may_read(&caller)?;
    let all = state.db.endpoints(caller.shop_id).await?;
    Ok(Json(WebhookList {
        webhooks: all.into_iter().map(WebhookBody::from).collect(),
    }))
}

/// Subscribes a URL to the shop's changes; the answer holds its signing secret, once.
#[utoipa::path(post, operation_id = "create_webhook", path = "/webhooks", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Created", body = WebhookWithSecret),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The shop has as many endpoints as it may (50)", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field's value is not acceptable (a private or loopback address among them)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn create(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(args): Body<NewWebhook>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), Problem> {
    caller.require_owner()?;
    let url = check_url(&state, &args.url)?;
    let description = check_description(&args.description)?;
    if state.db.endpoints(caller.shop_id).await?.len() as i64 >= wh::MAX_ENDPOINTS {
        return Err(
            Problem::new(StatusCode::CONFLICT, "limit", "Too many endpoints").detail(format!(
                "a shop may have at most {} webhook endpoints: delete one first",
                wh::MAX_ENDPOINTS
            )),
        );
    }
    let id = EndpointId::new();
    let (secret, sealed) = new_secret(&state, caller.shop_id, id);
    let endpoint = state
        .db
        .create_endpoint(
            caller.shop_id,
            id,
            NewEndpoint {
                url,
                description,
                event_types: EventType::names(&args.event_types),
                enabled: args.enabled,
            },
            sealed,
            Utc::now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookWithSecret {
            webhook: endpoint.into(),
            secret,
        }),
    ))
}

/// One webhook endpoint.
#[utoipa::path(get, operation_id = "get_webhook", path = "/webhooks/{id}", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "OK", body = WebhookBody),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no endpoint with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn get(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(endpoint): Path<String>,
) -> Result<Json<WebhookBody>, Problem> {
    may_read(&caller)?;
    let endpoint = id(&endpoint)?;
    Ok(Json(
        state.db.endpoint(caller.shop_id, endpoint).await?.into(),
    ))
}

/// Changes an endpoint: its URL, description, event types, or whether it is enabled.
#[utoipa::path(patch, operation_id = "update_webhook", path = "/webhooks/{id}", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "The endpoint as it is now", body = WebhookBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no endpoint with this id", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field's value is not acceptable", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn update(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(endpoint): Path<String>,
    Body(args): Body<WebhookPatch>,
) -> Result<Json<WebhookBody>, Problem> {
    caller.require_owner()?;
    let endpoint = id(&endpoint)?;
    let patch = EndpointPatch {
        url: args
            .url
            .as_deref()
            .map(|u| check_url(&state, u))
            .transpose()?,
        description: args
            .description
            .as_deref()
            .map(check_description)
            .transpose()?,
        event_types: args.event_types.as_deref().map(EventType::names),
        enabled: args.enabled,
    };
    Ok(Json(
        state
            .db
            .update_endpoint(caller.shop_id, endpoint, patch, Utc::now())
            .await?
            .into(),
    ))
}

/// Deletes an endpoint, with its deliveries and their attempts.
#[utoipa::path(delete, operation_id = "delete_webhook", path = "/webhooks/{id}", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no endpoint with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn delete(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(endpoint): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_owner()?;
    let endpoint = id(&endpoint)?;
    state.db.delete_endpoint(caller.shop_id, endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives an endpoint a new signing secret, shown once; deliveries are signed with it from
/// now on.
#[utoipa::path(post, operation_id = "rotate_webhook_secret", path = "/webhooks/{id}/rotate-secret", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint and its new secret", body = WebhookWithSecret),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no endpoint with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn rotate_secret(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(endpoint): Path<String>,
) -> Result<Json<WebhookWithSecret>, Problem> {
    caller.require_owner()?;
    let endpoint: EndpointId = id(&endpoint)?;
    let (secret, sealed) = new_secret(&state, caller.shop_id, endpoint);
    let e = state
        .db
        .rotate_endpoint_secret(caller.shop_id, endpoint, sealed, Utc::now())
        .await?;
    Ok(Json(WebhookWithSecret {
        webhook: e.into(),
        secret,
    }))
}

/// Sends the endpoint a `webhook.test` event (whatever its filter); the new delivery.
#[utoipa::path(post, operation_id = "test_webhook", path = "/webhooks/{id}/test", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 202, description = "Enqueued: the delivery, to follow in the delivery list", body = DeliveryBody),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no endpoint with this id", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The endpoint is disabled", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn test(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(endpoint): Path<String>,
) -> Result<(StatusCode, Json<DeliveryBody>), Problem> {
    caller.require_owner()?;
    let endpoint: EndpointId = id(&endpoint)?;
    if !state.db.endpoint(caller.shop_id, endpoint).await?.enabled {
        return Err(disabled());
    }
    let event_id = new_event_id();
    let data = json!({
        "webhook_id": endpoint,
        "message": "A test event from Parceltrail: this endpoint receives the shop's webhooks.",
    });
    let delivery = match state
        .outbound
        .enqueue_to(caller.shop_id, endpoint, &event_id, "webhook.test", &data)
        .await
    {
        Ok(Some(d)) => d,
        // A fresh event id is never there already.
        Ok(None) => return Err(parceltrail_shop::Error::NotFound.into()),
        // Disabled meanwhile.
        Err(parceltrail_shop::Error::Invalid {
            field: "enabled", ..
        }) => return Err(disabled()),
        Err(e) => return Err(e.into()),
    };
    let d = state
        .db
        .delivery(caller.shop_id, endpoint, delivery)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}

fn disabled() -> Problem {
    Problem::new(StatusCode::CONFLICT, "disabled", "The endpoint is disabled")
        .detail("enable it first: PATCH {\"enabled\": true}")
}

/// The endpoint's deliveries, newest first, each with its newest attempts.
#[utoipa::path(get, operation_id = "list_webhook_deliveries", path = "/webhooks/{id}/deliveries", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id"), DeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryList),
        (status = 400, description = "A query parameter is not acceptable", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no endpoint with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn deliveries(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(endpoint): Path<String>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<DeliveryList>, Problem> {
    may_read(&caller)?;
    let endpoint: EndpointId = id(&endpoint)?;
    let bad_query = |detail: String| {
        Problem::new(StatusCode::BAD_REQUEST, "bad-query", "Unreadable query").detail(detail)
    };
    let Query(q) = query.map_err(|e| bad_query(e.body_text()))?;
    let limit = match q.limit {
        None => 50,
        Some(n @ 1..=100) => n as usize,
        Some(n) => return Err(bad_query(format!("limit: {n} is not from 1 to 100"))),
    };
    let before = match q.before.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<DeliveryId>().map_err(|_| {
            bad_query("before: not a delivery id (use a page's next_cursor)".into())
        })?),
    };
    let page = state
        .db
        .deliveries(caller.shop_id, endpoint, before, limit)
        .await?;
    Ok(Json(DeliveryList {
        deliveries: page
            .deliveries
            .into_iter()
            .map(DeliveryBody::from)
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Sends a delivery again: due now, a new series of attempts on the retry schedule.
#[utoipa::path(post, operation_id = "replay_webhook_delivery", path = "/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "webhooks",
    security(("api_key" = []), ("session" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The endpoint's id"),
        ("delivery_id" = uuid::Uuid, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, description = "Due now: the delivery", body = DeliveryBody),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The endpoint has no delivery with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn replay(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path((endpoint, delivery)): Path<(String, String)>,
) -> Result<(StatusCode, Json<DeliveryBody>), Problem> {
    caller.require_owner()?;
    let endpoint: EndpointId = id(&endpoint)?;
    let delivery: DeliveryId = id(&delivery)?;
    let d = state
        .db
        .replay(caller.shop_id, endpoint, delivery, Utc::now())
        .await?;
    state.outbound.nudge();
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_knows_every_event_type_the_store_does() {
        let all: Vec<EventType> = wh::EVENT_TYPES
            .iter()
            .map(|t| serde_json::from_value(json!(t)).unwrap())
            .collect();
        assert_eq!(EventType::names(&all), wh::EVENT_TYPES);
    }

    #[test]
    fn the_url_pattern_takes_only_what_the_store_takes() {
        for ok in [
            "https://shop.example/hooks",
            "http://localhost:8080/x?y=1&z=%20",
            "https://a-b.c-d.example:65535/",
            "http://x.y/~a/b;c=d@e",
            "http://a",
        ] {
            assert!(URL_RE.is_match(ok), "{ok}");
            wh::check_url(ok).unwrap();
        }
        for bad in [
            "http://127.0.0.1/",
            "http://0/",
            "http://1.2.3.4.5/",
            "http://a.0x7f/",
            "http://a.b:65536/",
            "http://a.b:0/",
            "http://u@a.b/",
            "http://a.b/#f",
            "http://a.b/ x",
            " http://a.b/",
            "ftp://a.b/",
            "http://[::1]/",
            "http://a.b/\\x",
        ] {
            assert!(!URL_RE.is_match(bad), "{bad}");
        }
    }
}
