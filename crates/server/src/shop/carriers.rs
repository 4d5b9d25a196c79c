//! Carrier health: how each carrier's API is doing for the shop's parcels (requests today,
//! failures, the circuit breaker, a back-off the carrier asked for, the last success and
//! error), so the staff see a carrier going quiet before the customers do. Read from the
//! state the poller keeps in the shop's tracking store.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use parceltrail_core::store::Breaker;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::orders::store_of;
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// One carrier API.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CarrierHealth {
    /// Carrier (adapter) id.
    carrier: String,
    /// Its name, for people.
    carrier_name: String,
    /// `closed` (requests flow), `open` (held after failures) or `half_open` (one probe).
    #[schema(example = "closed")]
    breaker: &'static str,
    /// While open: until when.
    breaker_until: Option<DateTime<Utc>>,
    /// Failed calls in a row.
    failures: u32,
    /// The carrier asked us to wait until then (a rate limit), if it did and that is ahead.
    backing_off_until: Option<DateTime<Utc>>,
    /// Requests made today (UTC).
    requests_today: u64,
    /// The requests a day its API allows, by its documented rate; `null` when this server
    /// does not poll it now.
    budget_today: Option<u64>,
    /// The last call that worked.
    last_success_at: Option<DateTime<Utc>>,
    /// The last failure, in words.
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
}

/// One source of inbound webhooks the shop set up.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookHealth {
    /// `17track`, `aftership` or `standard`.
    source: String,
    /// When a delivery from it was last accepted (to the minute); `null`: none yet.
    last_received_at: Option<DateTime<Utc>>,
}

/// Every carrier API the shop's parcels were asked about, and its webhook sources.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CarriersHealth {
    /// By carrier id.
    carriers: Vec<CarrierHealth>,
    /// The webhook sources with a secret set, by name.
    webhooks: Vec<WebhookHealth>,
}

/// How each carrier's API is doing for the shop's parcels.
#[utoipa::path(get, operation_id = "carrier_health", path = "/carriers/health", tag = "analytics",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = CarriersHealth),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn health(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<CarriersHealth>, Problem> {
    caller.require(|s| s.read, "read")?;
    let store = store_of(&state, &caller).await?;
    let mut states = store.view(|s| s.carrier_states()).await?;
    let hooks = state.db.hook_secret_info(caller.shop_id).await?;
    states.sort_by(|a, b| a.carrier.cmp(&b.carrier));
    let now = Utc::now();
    let today = now.date_naive();
    Ok(Json(CarriersHealth {
        carriers: states
            .into_iter()
            .map(|s| CarrierHealth {
                carrier_name: parceltrail_core::view::CarrierBadge::new(&s.carrier, "").name,
                breaker: match s.breaker {
                    Breaker::Closed => "closed",
                    Breaker::Open => "open",
                    Breaker::HalfOpen => "half_open",
                },
                breaker_until: s.breaker_until.filter(|_| s.breaker == Breaker::Open),
                failures: s.failures,
                backing_off_until: s.backoff_until.filter(|b| *b > now),
                requests_today: if s.requests_day == Some(today) {
                    s.requests
                } else {
                    0
                },
                budget_today: state.budgets.per_day(caller.shop_id, &s.carrier),
                last_success_at: s.last_success_at,
                last_error: s.last_error,
                last_error_at: s.last_error_at,
                carrier: s.carrier,
            })
            .collect(),
        webhooks: hooks
            .into_iter()
            .map(|h| WebhookHealth {
                source: h.source.as_str().to_owned(),
                last_received_at: h.last_received_at,
            })
            .collect(),
    }))
}
