//! Sync with devices: the app (or `parceltrail sync`) signed in with one of the shop's API
//! keys reads what changed in the shop's parcels since its cursor and sends what changed on
//! the device, both as core's sync records ([`parceltrail_core::sync`]): carrier events merge
//! as a set, labels, mutes, archives and removals by their stamps. The server polls the
//! carriers; a device connected to it does not.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use parceltrail_core::sync::{self, Cursor, MAX_PAGE, Record};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Body, Caller};
use super::orders::store_of;
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// The largest push: 500 parcels with their events.
pub(crate) const MAX_BODY: usize = 16 << 20;

/// How far ahead of the server's clock a record's stamp may be: a device whose clock runs
/// fast would otherwise win every later edit.
const CLOCK_SLACK_MINUTES: i64 = 10;
/// Most events one record may carry.
const MAX_EVENTS: usize = 2_000;
/// The longest text field of a record, in characters.
const MAX_TEXT: usize = 2_000;

/// Where to read from.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PullParams {
    /// The `cursor` of the previous page, or none for everything (a first sync).
    cursor: Option<String>,
    /// Records per page, 1 to 500 (default 200).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// A value and when it was set.
#[derive(ToSchema)]
#[allow(dead_code)] // Only described: records are read as core's `sync::Record`.
struct StampedFlag {
    value: bool,
    at: DateTime<Utc>,
}

/// A text (or `null`) and when it was set.
#[derive(ToSchema)]
#[allow(dead_code)]
struct StampedText {
    #[schema(nullable)]
    value: Option<String>,
    at: DateTime<Utc>,
}

/// The order a parcel belongs to.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SyncOrder {
    store: Option<String>,
    order_number: Option<String>,
    items: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    placed_at: Option<DateTime<FixedOffset>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    promised_at: Option<DateTime<FixedOffset>>,
}

/// A place.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SyncPlace {
    city: Option<String>,
    region: Option<String>,
    /// ISO 3166-1 alpha-2.
    country: Option<String>,
    postal: Option<String>,
}

/// A carrier event.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SyncEvent {
    #[schema(value_type = String, format = DateTime)]
    occurred_at: DateTime<FixedOffset>,
    /// The normalised status (`in_transit`, `delivered`, …).
    status: String,
    raw_code: Option<String>,
    description: String,
    location: SyncPlace,
    /// `poll`, `webhook`, `manual`, `import` or `simulator`.
    source: String,
}

/// One parcel as it travels between the server and a device.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SyncRecord {
    /// What makes it the same parcel everywhere.
    tracking_number: String,
    /// Carrier id.
    carrier: String,
    service: Option<String>,
    order: SyncOrder,
    /// Removed (`true`: a tombstone, without events), and when; for a parcel tracked, when
    /// it was added or brought back.
    removed: StampedFlag,
    label: StampedText,
    muted: StampedFlag,
    archived: StampedFlag,
    /// Every carrier event (a set: the same event twice is one).
    events: Vec<SyncEvent>,
}

/// A page of what changed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SyncPage {
    /// The parcels that changed, each whole as it now is.
    #[schema(value_type = Vec<SyncRecord>)]
    records: Vec<Record>,
    /// Pass as `cursor` next time (also when `more` is false: it is where this device is).
    cursor: String,
    /// More changes wait: ask again at once.
    more: bool,
}

/// What a device sends.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SyncPush {
    /// What changed on the device (at most 500 parcels).
    #[schema(value_type = Vec<SyncRecord>)]
    records: Vec<Record>,
}

/// What the server made of it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SyncPushed {
    /// Records that changed something here.
    changed: usize,
    /// Records the server already had (or had newer).
    unchanged: usize,
    /// The server's record of each parcel sent, as it now is: merged on the device, they
    /// settle what the server knew better.
    #[schema(value_type = Vec<SyncRecord>)]
    records: Vec<Record>,
}

fn invalid(detail: String) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        "Invalid request",
    )
    .detail(detail)
}

/// The parcels of the shop that changed after `cursor` (all of them, removed ones included,
/// on a first sync or when the cursor is older than the change feed keeps).
#[utoipa::path(get, operation_id = "sync_pull", path = "/sync", tag = "sync",
    security(("api_key" = []), ("session" = [])),
    params(PullParams),
    responses(
        (status = 200, description = "OK", body = SyncPage),
        (status = 400, description = "A query parameter is unreadable", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Not a cursor this server gave, or a limit out of range", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn pull(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<PullParams>, QueryRejection>,
) -> Result<Json<SyncPage>, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(p) = query.map_err(|e| {
        Problem::new(StatusCode::BAD_REQUEST, "bad-query", "Unreadable query").detail(e.body_text())
    })?;
    let limit = p.limit.unwrap_or(200);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid(format!(
            "limit {limit} is not between 1 and {MAX_PAGE}"
        )));
    }
    let cursor = match p.cursor.as_deref().map(str::trim) {
        None | Some("") => Cursor::Feed(0),
        Some(c) => Cursor::decode(c).map_err(|e| invalid(format!("cursor: {e}")))?,
    };
    let store = store_of(&state, &caller).await?;
    let page = store.view(move |s| sync::changes(s, cursor, limit)).await?;
    Ok(Json(SyncPage {
        records: page.records,
        cursor: page.next.encode(),
        more: page.more,
    }))
}

/// Merges what changed on a device into the shop's parcels, and answers with the server's
/// record of each. Sending the same records again changes nothing.
#[utoipa::path(post, operation_id = "sync_push", path = "/sync", tag = "sync",
    security(("api_key" = []), ("session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry safely: a repeat with the same key returns the first answer")),
    request_body = SyncPush,
    responses(
        (status = 200, description = "Merged", body = SyncPushed),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A record is not acceptable (the detail says which and why)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn push(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(body): Body<SyncPush>,
) -> Result<Json<SyncPushed>, Problem> {
    caller.require(|s| s.write, "write")?;
    let now = Utc::now();
    check(&body.records, now)?;
    let store = store_of(&state, &caller).await?;
    let records = body.records;
    let (merged, answer) = store
        .write(move |s| {
            let merged = sync::merge(s, &records, now)?;
            let mut answer = Vec::with_capacity(records.len());
            for r in &records {
                let number = parceltrail_core::detect::normalize(&r.tracking_number);
                if let Some(p) = s.presence_of_number(&number)? {
                    answer.push(sync::record(s, &p)?);
                }
            }
            Ok((merged, answer))
        })
        .await?;
    state.wake_pipeline(caller.shop_id);
    Ok(Json(SyncPushed {
        changed: merged.changed,
        unchanged: merged.unchanged,
        records: answer,
    }))
}

/// Refuses what no device should send, naming the record (by its place in the list) and why.
fn check(records: &[Record], now: DateTime<Utc>) -> Result<(), Problem> {
    if records.len() > MAX_PAGE {
        return Err(invalid(format!(
            "{} records; send at most {MAX_PAGE} at a time",
            records.len()
        )));
    }
    let latest = now + Duration::minutes(CLOCK_SLACK_MINUTES);
    for (i, r) in records.iter().enumerate() {
        let at = |what: &str| format!("records/{i} ({}): {what}", r.tracking_number);
        let number = parceltrail_core::detect::normalize(&r.tracking_number);
        if number.is_empty() || number.chars().count() > 64 {
            return Err(invalid(at(
                "the tracking number must have 1 to 64 letters or digits",
            )));
        }
        if r.carrier.trim().is_empty() || r.carrier.chars().count() > 40 {
            return Err(invalid(at("the carrier must be 1 to 40 characters")));
        }
        for (name, stamp) in [
            ("removed", r.removed.at),
            ("label", r.label.at),
            ("muted", r.muted.at),
            ("archived", r.archived.at),
        ] {
            if stamp > latest {
                return Err(invalid(at(&format!(
                    "{name}.at {stamp} is ahead of the server's clock ({now}); check the device's clock"
                ))));
            }
        }
        if r.events.len() > MAX_EVENTS {
            return Err(invalid(at(&format!("more than {MAX_EVENTS} events"))));
        }
        let texts = [
            ("carrier", Some(r.carrier.as_str())),
            ("service", r.service.as_deref()),
            ("label.value", r.label.value.as_deref()),
            ("order.store", r.order.store.as_deref()),
            ("order.order_number", r.order.order_number.as_deref()),
            ("order.items", r.order.items.as_deref()),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .chain(r.events.iter().enumerate().flat_map(|(j, e)| {
            [
                (
                    format!("events/{j}/description"),
                    Some(e.description.as_str()),
                ),
                (format!("events/{j}/raw_code"), e.raw_code.as_deref()),
                (
                    format!("events/{j}/location/city"),
                    e.location.city.as_deref(),
                ),
                (
                    format!("events/{j}/location/region"),
                    e.location.region.as_deref(),
                ),
                (
                    format!("events/{j}/location/country"),
                    e.location.country.as_deref(),
                ),
                (
                    format!("events/{j}/location/postal"),
                    e.location.postal.as_deref(),
                ),
            ]
        }));
        for (name, value) in texts {
            let Some(v) = value else { continue };
            if v.chars().count() > MAX_TEXT {
                return Err(invalid(at(&format!(
                    "{name} is longer than {MAX_TEXT} characters"
                ))));
            }
            if let Some(c) = v.chars().position(|c| c.is_control() && c != '\n') {
                return Err(invalid(at(&format!(
                    "{name} has a control character at character {}",
                    c + 1
                ))));
            }
        }
    }
    Ok(())
}
