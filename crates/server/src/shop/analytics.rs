//! Delivery analytics: how the shop's parcels were delivered over a span of days in the
//! shop's time zone, by carrier, service, region or week, computed by the database (core's
//! `Store::delivery_report`, the ratings from the shop's feedback), as JSON or CSV.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use parceltrail_core::eta::calendar::{BusinessCalendar, local_date, start_of_day};
use parceltrail_core::store::report::{DeliveryGroup, ReportBy, ReportSpan, Spread};
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

/// A span read and checked: its days, the instants they begin and end at, and the zone.
struct Days {
    from: NaiveDate,
    to: NaiveDate,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tz: Tz,
}

fn bad_query(e: QueryRejection) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "bad-query", "Unreadable query").detail(e.body_text())
}

async fn days(
    state: &ShopState,
    caller: &Caller,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Days, Problem> {
    let tz = state.db.notify_settings(caller.shop_id).await?.time_zone;
    let to = to.unwrap_or_else(|| local_date(Utc::now(), tz));
    let from = from.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
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
    Ok(Days {
        from,
        to,
        start: start_of_day(from, tz),
        end: start_of_day(to + Duration::days(1), tz),
        tz,
    })
}

async fn table(
    state: &ShopState,
    caller: &Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<CarrierTable, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(q) = query.map_err(bad_query)?;
    let Days {
        from,
        to,
        start,
        end,
        tz,
    } = days(state, caller, q.from, q.to).await?;
    // The carrier table is the delivery report by carrier (business days unused).
    let span = ReportSpan::new(
        start,
        end,
        tz,
        &BusinessCalendar::weekends_only(),
        LOOKBACK_DAYS,
    );
    let store = state.stores.get(caller.shop_id).await?;
    let (groups, ratings) = tokio::try_join!(
        async {
            store
                .view(move |s| s.delivery_report(&span, ReportBy::Carrier))
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
    let rows = groups
        .into_iter()
        .filter_map(|g| {
            let carrier = g.key?;
            let t = g.transit_days;
            let promised = g.early + g.on_day + g.late;
            Some(CarrierRow {
                avg_rating: ratings
                    .iter()
                    .find(|(c, _, _)| *c == carrier)
                    .map(|(_, avg, _)| *avg),
                late_share: (promised > 0).then(|| g.late as f64 / promised as f64),
                carrier_name: parceltrail_core::view::CarrierBadge::new(&carrier, "").name,
                carrier,
                delivered: t.n,
                median_transit_days: t.median?,
                p90_transit_days: t.p90?,
            })
        })
        .collect();
    Ok(CarrierTable {
        from,
        to,
        time_zone: tz.name().to_owned(),
        rows,
    })
}

/// How far before a span's first day the report reads offsets and holidays: a parcel's first
/// event or its order is rarely older than this before its delivery.
const LOOKBACK_DAYS: i64 = 120;

/// What the delivery report groups by.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum By {
    /// The carrier.
    #[default]
    Carrier,
    /// The carrier's service.
    Service,
    /// The destination country and region.
    Region,
    /// The week of delivery (Monday to Sunday, the shop's days).
    Week,
}

impl From<By> for ReportBy {
    fn from(b: By) -> Self {
        match b {
            By::Carrier => ReportBy::Carrier,
            By::Service => ReportBy::Service,
            By::Region => ReportBy::Region,
            By::Week => ReportBy::Week,
        }
    }
}

/// A span of days, a grouping and whose holidays are not business days.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportQuery {
    /// The first day (`YYYY-MM-DD`, the shop's time zone; default: 29 days before `to`).
    from: Option<NaiveDate>,
    /// The last day, included (default: today).
    to: Option<NaiveDate>,
    /// Group by carrier (default), service, region or week.
    by: Option<By>,
    /// The public holidays of this country (ISO 3166-1 alpha-2) are not business days
    /// (default: only weekends are not).
    country: Option<String>,
}

/// A median and 90th percentile over some parcels.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SpreadBody {
    /// Parcels measured.
    n: u64,
    /// The median; `null` when none was measured.
    median: Option<f64>,
    /// The 90th percentile (linear between ranks); `null` when none was measured.
    p90: Option<f64>,
}

impl From<Spread> for SpreadBody {
    fn from(s: Spread) -> Self {
        SpreadBody {
            n: s.n,
            median: s.median,
            p90: s.p90,
        }
    }
}

/// One group of the parcels delivered in the span.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryRow {
    /// Carrier id, service, `CC` or `CC-REGION`, or the week's Monday (`YYYY-MM-DD`);
    /// `null` for parcels that do not say (no service or destination known).
    key: Option<String>,
    /// The group for people: the carrier's name, "Not known", or the key.
    label: String,
    /// Parcels delivered.
    delivered: u64,
    /// From the parcel's first carrier event to its delivery, in days (decimals).
    transit_days: SpreadBody,
    /// The same in business days: weekdays after the first event's day up to the
    /// delivery's, the chosen country's public holidays not counted.
    transit_business_days: SpreadBody,
    /// From the order to the delivery, in days (orders with a time of ordering).
    order_days: SpreadBody,
    /// The same in business days.
    order_business_days: SpreadBody,
    /// Delivered on a day before the order's promised date.
    early: u64,
    /// Delivered on the promised date.
    on_day: u64,
    /// Delivered on a day after it. Orders without one are in none of the three.
    late: u64,
    /// Early or on the day, among those with a promised date; `null` when none had one.
    on_time_share: Option<f64>,
    /// Delivered by the last day of the first estimate shown for the parcel.
    estimate_met: u64,
    /// Delivered after it. Parcels never estimated are in neither.
    estimate_missed: u64,
    /// Delivered without a failed attempt, among all delivered; `null` when none were.
    first_attempt_share: Option<f64>,
    /// The customers' average rating (1–5) of the carrier's parcels delivered in the span;
    /// grouped by carrier only, else `null`, as when none was rated.
    avg_rating: Option<f64>,
}

/// The delivery report over a span.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryReport {
    /// The first day.
    from: NaiveDate,
    /// The last day (included).
    to: NaiveDate,
    /// The zone the days are in: the shop's.
    time_zone: String,
    /// What the rows are groups of.
    by: By,
    /// Whose public holidays are not business days; `null`: weekends only.
    country: Option<String>,
    /// The customers' average rating (1–5) of all parcels delivered in the span; `null`
    /// when none was rated.
    avg_rating: Option<f64>,
    /// One row per group, keys in order, the unknown last.
    rows: Vec<DeliveryRow>,
}

/// Parcels delivered in the span, grouped by carrier, service, destination region or week:
/// transit and order-to-delivery times in calendar and business days (median and 90th
/// percentile), punctuality against the promised date and the first estimate, and the
/// first-attempt rate.
#[utoipa::path(get, operation_id = "analytics_deliveries", path = "/analytics/deliveries", tag = "analytics",
    security(("api_key" = []), ("session" = [])),
    params(ReportQuery),
    responses(
        (status = 200, description = "OK", body = DeliveryReport),
        (status = 400, description = "A day is not `YYYY-MM-DD`, `from` is after `to`, the span is over 1,096 days, `by` is none of the four, or the country is not known", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn deliveries(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Json<DeliveryReport>, Problem> {
    Ok(Json(report(&state, &caller, query).await?))
}

/// The same report as CSV, one line per group after the header (empty cells for `null`).
#[utoipa::path(get, operation_id = "analytics_deliveries_csv", path = "/analytics/deliveries.csv", tag = "analytics",
    security(("api_key" = []), ("session" = [])),
    params(ReportQuery),
    responses(
        (status = 200, description = "OK", body = String, content_type = "text/csv"),
        (status = 400, description = "A day is not `YYYY-MM-DD`, `from` is after `to`, the span is over 1,096 days, `by` is none of the four, or the country is not known", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn deliveries_csv(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let t = report(&state, &caller, query).await?;
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut header = vec!["key".to_owned(), "label".to_owned(), "delivered".to_owned()];
    for m in [
        "transit_days",
        "transit_business_days",
        "order_days",
        "order_business_days",
    ] {
        for part in ["n", "median", "p90"] {
            header.push(format!("{m}_{part}"));
        }
    }
    header.extend(
        [
            "early",
            "on_day",
            "late",
            "on_time_share",
            "estimate_met",
            "estimate_missed",
            "first_attempt_share",
            "avg_rating",
        ]
        .map(str::to_owned),
    );
    let rows = t.rows.iter().map(|r| {
        let mut line = vec![
            cell(r.key.as_deref().unwrap_or_default()),
            cell(&r.label),
            r.delivered.to_string(),
        ];
        for s in [
            &r.transit_days,
            &r.transit_business_days,
            &r.order_days,
            &r.order_business_days,
        ] {
            line.extend([s.n.to_string(), num(s.median), num(s.p90)]);
        }
        line.extend([
            r.early.to_string(),
            r.on_day.to_string(),
            r.late.to_string(),
            num(r.on_time_share),
            r.estimate_met.to_string(),
            r.estimate_missed.to_string(),
            num(r.first_attempt_share),
            num(r.avg_rating),
        ]);
        line
    });
    let by = serde_json::to_value(t.by)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    attachment(
        &format!("deliveries-by-{by}-{}-{}.csv", t.from, t.to),
        std::iter::once(header).chain(rows),
    )
}

async fn report(
    state: &ShopState,
    caller: &Caller,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<DeliveryReport, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(q) = query.map_err(bad_query)?;
    let country = match q.country.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) if BusinessCalendar::knows(c) => Some(c.to_ascii_uppercase()),
        Some(c) => {
            return Err(
                Problem::new(StatusCode::BAD_REQUEST, "bad-country", "Unknown country").detail(
                    format!(
                        "country: {:?} is not an ISO 3166-1 alpha-2 code with holiday data",
                        c.chars().take(20).collect::<String>()
                    ),
                ),
            );
        }
    };
    let d = days(state, caller, q.from, q.to).await?;
    let by = q.by.unwrap_or_default();
    let calendar = BusinessCalendar::for_country(country.as_deref());
    let span = ReportSpan::new(d.start, d.end, d.tz, &calendar, LOOKBACK_DAYS);
    let store = state.stores.get(caller.shop_id).await?;
    let (groups, ratings) = tokio::try_join!(
        async {
            store
                .view(move |s| s.delivery_report(&span, by.into()))
                .await
                .map_err(Problem::from)
        },
        async {
            state
                .db
                .ratings_by_carrier(caller.shop_id, d.start, d.end)
                .await
                .map_err(Problem::from)
        },
    )?;
    let rated: u64 = ratings.iter().map(|r| r.2).sum();
    let avg_rating =
        (rated > 0).then(|| ratings.iter().map(|r| r.1 * r.2 as f64).sum::<f64>() / rated as f64);
    let share = |part: u64, all: u64| (all > 0).then(|| part as f64 / all as f64);
    let rows = groups
        .into_iter()
        .map(|g: DeliveryGroup| DeliveryRow {
            label: match (&g.key, by) {
                (None, _) => "Not known".to_owned(),
                (Some(k), By::Carrier) => parceltrail_core::view::CarrierBadge::new(k, "").name,
                (Some(k), _) => k.clone(),
            },
            on_time_share: share(g.early + g.on_day, g.early + g.on_day + g.late),
            first_attempt_share: share(g.first_attempt, g.delivered),
            avg_rating: match (&g.key, by) {
                (Some(k), By::Carrier) => ratings.iter().find(|r| r.0 == *k).map(|r| r.1),
                _ => None,
            },
            key: g.key,
            delivered: g.delivered,
            transit_days: g.transit_days.into(),
            transit_business_days: g.transit_business_days.into(),
            order_days: g.order_days.into(),
            order_business_days: g.order_business_days.into(),
            early: g.early,
            on_day: g.on_day,
            late: g.late,
            estimate_met: g.estimate_met,
            estimate_missed: g.estimate_missed,
        })
        .collect();
    Ok(DeliveryReport {
        from: d.from,
        to: d.to,
        time_zone: d.tz.name().to_owned(),
        by,
        country,
        avg_rating,
        rows,
    })
}

/// One carrier's parcels with one kind of problem that began in the span.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProblemRow {
    /// Carrier id.
    carrier: String,
    /// The carrier's name, for people.
    carrier_name: String,
    /// `stuck`, `late`, `failed_attempt`, `exception`, `returned`, `customs_hold` or
    /// `expired`.
    kind: String,
    /// The kind, for people.
    kind_name: String,
    /// Parcels (each once per kind), whether the problem is still open or not.
    parcels: u64,
}

/// Problems that began in a span, by carrier and kind.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProblemTable {
    /// The first day.
    from: NaiveDate,
    /// The last day (included).
    to: NaiveDate,
    /// The zone the days are in: the shop's.
    time_zone: String,
    /// By carrier, then kind.
    rows: Vec<ProblemRow>,
}

/// Parcels whose problems (delays, exceptions, failed attempts, returns, customs holds,
/// stuck or expired tracking) began in the span, by carrier and kind.
#[utoipa::path(get, operation_id = "analytics_problems", path = "/analytics/problems", tag = "analytics",
    security(("api_key" = []), ("session" = [])),
    params(Span),
    responses(
        (status = 200, description = "OK", body = ProblemTable),
        (status = 400, description = "A day is not `YYYY-MM-DD`, `from` is after `to`, or the span is over 1,096 days", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn problems(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<Json<ProblemTable>, Problem> {
    Ok(Json(problem_table(&state, &caller, query).await?))
}

/// The same table as CSV.
#[utoipa::path(get, operation_id = "analytics_problems_csv", path = "/analytics/problems.csv", tag = "analytics",
    security(("api_key" = []), ("session" = [])),
    params(Span),
    responses(
        (status = 200, description = "OK", body = String, content_type = "text/csv"),
        (status = 400, description = "A day is not `YYYY-MM-DD`, `from` is after `to`, or the span is over 1,096 days", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn problems_csv(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<Response, Problem> {
    let t = problem_table(&state, &caller, query).await?;
    let header = ["carrier", "kind", "parcels"].map(str::to_owned).to_vec();
    let rows = t
        .rows
        .iter()
        .map(|r| vec![cell(&r.carrier), r.kind.clone(), r.parcels.to_string()]);
    attachment(
        &format!("problems-{}-{}.csv", t.from, t.to),
        std::iter::once(header).chain(rows),
    )
}

async fn problem_table(
    state: &ShopState,
    caller: &Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<ProblemTable, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(q) = query.map_err(bad_query)?;
    let d = days(state, caller, q.from, q.to).await?;
    let store = state.stores.get(caller.shop_id).await?;
    let (start, end) = (d.start, d.end);
    let counts = store.view(move |s| s.problem_counts(start, end)).await?;
    Ok(ProblemTable {
        from: d.from,
        to: d.to,
        time_zone: d.tz.name().to_owned(),
        rows: counts
            .into_iter()
            .map(|c| ProblemRow {
                carrier_name: parceltrail_core::view::CarrierBadge::new(&c.carrier, "").name,
                carrier: c.carrier,
                kind: c.kind.as_str().to_owned(),
                kind_name: c.kind.label().to_owned(),
                parcels: c.parcels,
            })
            .collect(),
    })
}

/// The most comments a feedback report lists.
const COMMENTS: usize = 100;

/// One carrier's ratings in one week.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WeekRating {
    /// The week's Monday (the shop's days), by the parcels' delivery.
    week: NaiveDate,
    /// Carrier id.
    carrier: String,
    /// The carrier's name, for people.
    carrier_name: String,
    /// Parcels rated.
    rated: u64,
    /// Their average rating (1–5).
    avg_rating: f64,
}

/// A rating with words.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Comment {
    /// When the parcel was delivered.
    delivered_at: Option<DateTime<Utc>>,
    /// Carrier id.
    carrier: String,
    /// The carrier's name, for people.
    carrier_name: String,
    /// 1 to 5.
    rating: u8,
    /// The customer's words (text, never markup).
    comment: String,
    /// The order.
    order_id: uuid::Uuid,
    /// The parcel.
    shipment_id: uuid::Uuid,
}

/// The customers' feedback on the parcels delivered in a span.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FeedbackReport {
    /// The first day.
    from: NaiveDate,
    /// The last day (included).
    to: NaiveDate,
    /// The zone the days are in: the shop's.
    time_zone: String,
    /// By week, then carrier.
    weeks: Vec<WeekRating>,
    /// The newest 100 ratings with words, newest delivery first.
    comments: Vec<Comment>,
}

/// The average rating by carrier and week of the parcels delivered in the span, and what the
/// customers wrote.
#[utoipa::path(get, operation_id = "analytics_feedback", path = "/analytics/feedback", tag = "analytics",
    security(("api_key" = []), ("session" = [])),
    params(Span),
    responses(
        (status = 200, description = "OK", body = FeedbackReport),
        (status = 400, description = "A day is not `YYYY-MM-DD`, `from` is after `to`, or the span is over 1,096 days", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn feedback(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<Json<FeedbackReport>, Problem> {
    Ok(Json(feedback_report(&state, &caller, query).await?))
}

/// The ratings by week and carrier as CSV.
#[utoipa::path(get, operation_id = "analytics_feedback_csv", path = "/analytics/feedback.csv", tag = "analytics",
    security(("api_key" = []), ("session" = [])),
    params(Span),
    responses(
        (status = 200, description = "OK", body = String, content_type = "text/csv"),
        (status = 400, description = "A day is not `YYYY-MM-DD`, `from` is after `to`, or the span is over 1,096 days", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn feedback_csv(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<Response, Problem> {
    let t = feedback_report(&state, &caller, query).await?;
    let header = ["week", "carrier", "rated", "avg_rating"]
        .map(str::to_owned)
        .to_vec();
    let rows = t.weeks.iter().map(|w| {
        vec![
            w.week.to_string(),
            cell(&w.carrier),
            w.rated.to_string(),
            w.avg_rating.to_string(),
        ]
    });
    attachment(
        &format!("feedback-{}-{}.csv", t.from, t.to),
        std::iter::once(header).chain(rows),
    )
}

async fn feedback_report(
    state: &ShopState,
    caller: &Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<FeedbackReport, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(q) = query.map_err(bad_query)?;
    let d = days(state, caller, q.from, q.to).await?;
    let offsets = parceltrail_core::store::zone_offsets(d.tz, d.start, d.end);
    let name = |c: &str| parceltrail_core::view::CarrierBadge::new(c, "").name;
    let (weeks, comments) = tokio::try_join!(
        state
            .db
            .ratings_by_week(caller.shop_id, d.start, d.end, offsets),
        state
            .db
            .feedback_comments(caller.shop_id, d.start, d.end, COMMENTS),
    )?;
    Ok(FeedbackReport {
        from: d.from,
        to: d.to,
        time_zone: d.tz.name().to_owned(),
        weeks: weeks
            .into_iter()
            .filter_map(|(day, carrier, avg, n)| {
                Some(WeekRating {
                    week: parceltrail_core::store::report::from_epoch_day(day)?,
                    carrier_name: name(&carrier),
                    carrier,
                    rated: n,
                    avg_rating: avg,
                })
            })
            .collect(),
        comments: comments
            .into_iter()
            .map(|f| Comment {
                delivered_at: f.delivered_at,
                carrier_name: name(&f.carrier),
                carrier: f.carrier,
                rating: f.rating,
                comment: f.comment.unwrap_or_default(),
                order_id: f.order_id.0,
                shipment_id: f.shipment_id.0,
            })
            .collect(),
    })
}

/// How long one channel's messages to customers took to leave.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelService {
    /// `email`, `sms` or `push`.
    channel: String,
    /// Messages sent (their news came in the span).
    sent: u64,
    /// Median seconds from the news reaching the server (the message written) to the
    /// message leaving it: the pipeline, quiet hours and retries included.
    median_seconds: Option<f64>,
    /// 90th percentile of the same.
    p90_seconds: Option<f64>,
    /// Of those, the messages about a carrier's event (not a parcel gone quiet, late or
    /// expired).
    from_event_sent: u64,
    /// Median seconds from the carrier's event (its time as the carrier gives it) to the
    /// message leaving: the carrier's own delay in telling, polling or the webhook, and ours.
    from_event_median_seconds: Option<f64>,
    /// 90th percentile of the same.
    from_event_p90_seconds: Option<f64>,
}

/// The customers who looked for themselves.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SelfService {
    /// Orders placed in the span.
    orders_placed: u64,
    /// Orders whose tracking page was opened in the span (on the UTC days it touches),
    /// whenever they were placed.
    orders_viewed: u64,
    /// `orders_viewed` against `orders_placed`; `null` when none was placed.
    viewed_share: Option<f64>,
}

/// The shop's own service over a span.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceReport {
    /// The first day.
    from: NaiveDate,
    /// The last day (included).
    to: NaiveDate,
    /// The zone the days are in: the shop's.
    time_zone: String,
    /// By channel.
    notifications: Vec<ChannelService>,
    /// Tracking-page visits against orders.
    tracking_page: SelfService,
}

/// The shop's own service figures: how soon news reached the customers by each channel, and
/// how many customers opened their tracking page against the orders placed.
#[utoipa::path(get, operation_id = "analytics_service", path = "/analytics/service", tag = "analytics",
    security(("api_key" = []), ("session" = [])),
    params(Span),
    responses(
        (status = 200, description = "OK", body = ServiceReport),
        (status = 400, description = "A day is not `YYYY-MM-DD`, `from` is after `to`, or the span is over 1,096 days", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn service(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<Span>, QueryRejection>,
) -> Result<Json<ServiceReport>, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(q) = query.map_err(bad_query)?;
    let d = days(&state, &caller, q.from, q.to).await?;
    let store = state.stores.get(caller.shop_id).await?;
    let (start, end) = (d.start, d.end);
    let (latency, placed, viewed) = tokio::try_join!(
        async {
            store
                .view(move |s| s.notification_latency(start, end))
                .await
                .map_err(Problem::from)
        },
        async {
            store
                .view(move |s| s.orders_placed(start, end))
                .await
                .map_err(Problem::from)
        },
        async {
            state
                .db
                .orders_visited(caller.shop_id, start, end)
                .await
                .map_err(Problem::from)
        },
    )?;
    Ok(Json(ServiceReport {
        from: d.from,
        to: d.to,
        time_zone: d.tz.name().to_owned(),
        notifications: latency
            .into_iter()
            .map(|l| ChannelService {
                channel: l.channel,
                sent: l.seconds.n,
                median_seconds: l.seconds.median,
                p90_seconds: l.seconds.p90,
                from_event_sent: l.from_event.n,
                from_event_median_seconds: l.from_event.median,
                from_event_p90_seconds: l.from_event.p90,
            })
            .collect(),
        tracking_page: SelfService {
            orders_placed: placed,
            orders_viewed: viewed,
            viewed_share: (placed > 0).then(|| viewed as f64 / placed as f64),
        },
    }))
}
