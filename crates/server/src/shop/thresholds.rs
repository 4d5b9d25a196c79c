//! When a parcel counts as stuck, per shop: how long each status may go without carrier news
//! before "Needs attention" (and the staff alert) says so. Kept in the shop's tracking store
//! (core's `StuckHours`), which its pipeline reads each pass, so a change applies at the next
//! one, on every replica.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use parceltrail_core::problems::{ProblemConfig, StuckHours};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Body, Caller};
use super::orders::store_of;
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// Hours each status may go without carrier news before the parcel counts as stuck.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Thresholds {
    /// In transit (default 72).
    #[schema(minimum = 1, maximum = 2160, example = 72)]
    in_transit: u32,
    /// Label created, not yet handed to the carrier (default 120).
    #[schema(minimum = 1, maximum = 2160, example = 120)]
    info_received: u32,
    /// Out for delivery (default 24).
    #[schema(minimum = 1, maximum = 2160, example = 24)]
    out_for_delivery: u32,
    /// After a failed attempt or an exception (default 72).
    #[schema(minimum = 1, maximum = 2160, example = 72)]
    after_problem: u32,
    /// Waiting at a pickup point (default 120).
    #[schema(minimum = 1, maximum = 2160, example = 120)]
    at_pickup: u32,
}

/// Changes to the thresholds: a status left out keeps its hours, `null` goes back to the
/// default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThresholdsPatch {
    #[schema(nullable, minimum = 1, maximum = 2160)]
    #[serde(default, deserialize_with = "some")]
    in_transit: Option<Option<u32>>,
    #[schema(nullable, minimum = 1, maximum = 2160)]
    #[serde(default, deserialize_with = "some")]
    info_received: Option<Option<u32>>,
    #[schema(nullable, minimum = 1, maximum = 2160)]
    #[serde(default, deserialize_with = "some")]
    out_for_delivery: Option<Option<u32>>,
    #[schema(nullable, minimum = 1, maximum = 2160)]
    #[serde(default, deserialize_with = "some")]
    after_problem: Option<Option<u32>>,
    #[schema(nullable, minimum = 1, maximum = 2160)]
    #[serde(default, deserialize_with = "some")]
    at_pickup: Option<Option<u32>>,
}

/// A field given (`null` included) as `Some`.
fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

fn effective(own: &StuckHours) -> Thresholds {
    let c = own.apply(&ProblemConfig::default());
    let h = |d: std::time::Duration| (d.as_secs() / 3600) as u32;
    Thresholds {
        in_transit: h(c.stuck_in_transit),
        info_received: h(c.stuck_info_received),
        out_for_delivery: h(c.stuck_out_for_delivery),
        after_problem: h(c.stuck_after_problem),
        at_pickup: h(c.stuck_at_pickup),
    }
}

/// How long each status may go without carrier news before a parcel counts as stuck.
#[utoipa::path(get, operation_id = "stuck_thresholds", path = "/shop/thresholds", tag = "attention",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = Thresholds),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn get(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<Thresholds>, Problem> {
    caller.require(|s| s.read, "read")?;
    let store = store_of(&state, &caller).await?;
    let own = store.view(|s| StuckHours::load(s)).await?;
    Ok(Json(effective(&own)))
}

/// Changes when parcels count as stuck; applies at the pipeline's next pass (at once for a
/// parcel with news, within ten minutes for the rest).
#[utoipa::path(patch, operation_id = "set_stuck_thresholds", path = "/shop/thresholds", tag = "attention",
    security(("api_key" = []), ("session" = [])),
    request_body = ThresholdsPatch,
    responses(
        (status = 200, description = "The thresholds now", body = Thresholds),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner (sessions) or no write scope (keys), or no CSRF token", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A threshold is not 1 to 2,160 hours (the detail names it)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn set(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<Thresholds>, Problem> {
    caller.require_owner()?;
    let patch: ThresholdsPatch = super::problem::from_object(body)?;
    let store = store_of(&state, &caller).await?;
    let own = store
        .write(move |s| {
            let mut own = StuckHours::load(s)?;
            let put = |slot: &mut Option<u32>, v: Option<Option<u32>>| {
                if let Some(v) = v {
                    *slot = v;
                }
            };
            put(&mut own.in_transit, patch.in_transit);
            put(&mut own.info_received, patch.info_received);
            put(&mut own.out_for_delivery, patch.out_for_delivery);
            put(&mut own.after_problem, patch.after_problem);
            put(&mut own.at_pickup, patch.at_pickup);
            if let Some((name, h)) = own.invalid() {
                return Err(parceltrail_core::Error::InvalidInput(format!(
                    "{name}: {h} hours is not 1 to {} hours",
                    StuckHours::MAX
                )));
            }
            own.save(s, Utc::now())?;
            Ok(own)
        })
        .await?;
    Ok(Json(effective(&own)))
}
