//! Delivery analytics: how each carrier delivered the shop's parcels over a span of days in
//! the shop's time zone, computed by the database (core's `Store::carrier_performance`, the
//! ratings from the shop's feedback), as JSON or CSV.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, NaiveDate, Utc};
use parceltrail_core::eta::calendar::{local_date, start_of_day};
use parceltrail_core::store::zone_offsets;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::csvout::{attachment, cell};
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// The longest span one query covers, in days.
pub(crate) const MAX_DAYS: i64 = 1_096;
/// The span when `from` is not given, in days (`to` included).
const DEFAULT_DAYS: i64 = 30;

/// A span of days in the shop's time zone.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Span {
    /// The first day (`YYYY-MM-DD`, the shop's time zone; default: 29 days before `to`).
    from: Option<NaiveDate>,
    /// The last day, included (default: today).
    to: Option<NaiveDate>,
}

/// One carrier's deliveries in the span.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CarrierRow {
    /// Carrier id.
    carrier: String,
    /// The carrier's name, for people.
    carrier_name: String,
    /// Parcels delivered in the span.
    delivered: u64,
    /// Median transit in calendar days (decimals), from the parcel's first carrier event to
    /// its delivery.
    median_transit_days: f64,
    /// 90th percentile of the same.
    p90_transit_days: f64,
    /// The share of parcels delivered on a day after their order's promised date, among those
    /// whose order had one; `null` when none had.
    late_share: Option<f64>,
    /// The customers' average rating (1–5) of these parcels; `null` when none was rated.
    avg_rating: Option<f64>,
}

/// Carriers compared over a span.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CarrierTable {
    /// The first day.
    from: NaiveDate,
    /// The last day (included).
    to: NaiveDate,
    /// The zone the days are in: the shop's.
    time_zone: String,
    /// One row per carrier that delivered in the span, by carrier id.
    rows: Vec<CarrierRow>,
}

/// How each carrier delivered the shop's parcels delivered in the span.
#[utoipa::path(get, operation_id = "analytics_carriers", path = "/analytics/carriers", tag = "analytics",
    security(("api_key" = []), ("session" = [])),
    params(Span),
    responses(
        (status = 200, description = "OK", body = CarrierTable),
        (status = 400, description = "A day is not `YYYY-MM-DD`, `from` is after `to`, or the span is over 1,096 days", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn carriers(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<Json<CarrierTable>, Problem> {
    Ok(Json(table(&state, &caller, query).await?))
}

/// The same table as CSV, one line per carrier after the header (empty cells for `null`).
#[utoipa::path(get, operation_id = "analytics_carriers_csv", path = "/analytics/carriers.csv", tag = "analytics",
    security(("api_key" = []), ("session" = [])),
    params(Span),
    responses(
        (status = 200, description = "OK", body = String, content_type = "text/csv"),
        (status = 400, description = "A day is not `YYYY-MM-DD`, `from` is after `to`, or the span is over 1,096 days", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn carriers_csv(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<Response, Problem> {
    let t = table(&state, &caller, query).await?;
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let header = [
        "carrier",
        "delivered",
        "median_transit_days",
        "p90_transit_days",
        "late_share",
        "avg_rating",
    ]
    .map(str::to_owned)
    .to_vec();
    let rows = t.rows.iter().map(|r| {
        vec![
            cell(&r.carrier),
            r.delivered.to_string(),
            r.median_transit_days.to_string(),
            r.p90_transit_days.to_string(),
            num(r.late_share),
            num(r.avg_rating),
        ]
    });
    attachment(
        &format!("carriers-{}-{}.csv", t.from, t.to),
        std::iter::once(header).chain(rows),
    )
}

async fn table(
    state: &ShopState,
    caller: &Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<CarrierTable, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(q) = query.map_err(|e| {
        Problem::new(StatusCode::BAD_REQUEST, "bad-query", "Unreadable query").detail(e.body_text())
    })?;
    let tz = state.db.notify_settings(caller.shop_id).await?.time_zone;
    let to = q.to.unwrap_or_else(|| local_date(Utc::now(), tz));
    let from = q.from.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
    let bad = |why: String| {
        Problem::new(StatusCode::BAD_REQUEST, "bad-span", "Unusable span of days").detail(why)
    };
    if from > to {
        return Err(bad(format!("from ({from}) is after to ({to})")));
    }
    if (to - from).num_days() + 1 > MAX_DAYS {
        return Err(bad(format!(
            "{from} to {to} is {} days; a query covers at most {MAX_DAYS}",
            (to - from).num_days() + 1
        )));
    }
    let (start, end) = (
        start_of_day(from, tz),
        start_of_day(to + Duration::days(1), tz),
    );
    let offsets = zone_offsets(tz, start, end);
    let store = state.stores.get(caller.shop_id).await?;
    let (perf, ratings) = tokio::try_join!(
        async {
            store
                .view(move |s| s.carrier_performance(start, end, &offsets))
                .await
                .map_err(Problem::from)
        },
        async {
            state
                .db
                .ratings_by_carrier(caller.shop_id, start, end)
                .await
                .map_err(Problem::from)
        },
    )?;
    let rows = perf
        .into_iter()
        .map(|p| CarrierRow {
            avg_rating: ratings
                .iter()
                .find(|(c, _, _)| *c == p.carrier)
                .map(|(_, avg, _)| *avg),
            late_share: (p.promised > 0).then(|| p.late as f64 / p.promised as f64),
            carrier_name: parceltrail_core::view::CarrierBadge::new(&p.carrier, "").name,
            carrier: p.carrier,
            delivered: p.delivered,
            median_transit_days: p.median_transit_days,
            p90_transit_days: p.p90_transit_days,
        })
        .collect();
    Ok(CarrierTable {
        from,
        to,
        time_zone: tz.name().to_owned(),
        rows,
    })
}
