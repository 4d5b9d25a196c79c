//! The delivery report: parcels delivered over a span, grouped by carrier, service,
//! destination region or week, with transit and order-to-delivery times in calendar and
//! business days, punctuality against the promised date and against the first estimate,
//! and the first-attempt rate. One SQL text serves both backends (`sql`), so SQLite and
//! PostgreSQL count alike; each runs its own percentiles.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};

use crate::eta::calendar::BusinessCalendar;

/// What a [`DeliveryGroup`] is a group of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportBy {
    /// The carrier's id.
    Carrier,
    /// The carrier's service (`None`: not known).
    Service,
    /// The destination: ISO country, and region when known (`US-CA`).
    Region,
    /// The week of delivery, by its Monday (the shop's days).
    Week,
}

impl ReportBy {
    /// The grouping's SQL, over the columns of the report's `l` step.
    fn key(self) -> &'static str {
        match self {
            ReportBy::Carrier => "carrier",
            ReportBy::Service => "service",
            ReportBy::Region => "upper(dest_country) || coalesce('-' || upper(dest_region), '')",
            ReportBy::Week => "dd - (dd + 3) % 7",
        }
    }
}

/// A span of delivery times and the zone's local days, as a report reads them.
#[derive(Debug, Clone)]
pub struct ReportSpan {
    /// Delivered at or after this instant.
    pub from: DateTime<Utc>,
    /// Delivered before this instant.
    pub to: DateTime<Utc>,
    /// The zone's offsets ([`super::zone_offsets`]), from well before `from` (a parcel's
    /// first event or order can be months older than its delivery) to after `to`.
    pub offsets: Vec<(i64, i32)>,
    /// Public holidays on weekdays, as days since 1970-01-01, that are not business days.
    pub holidays: Vec<i64>,
}

impl ReportSpan {
    /// The span `[from, to)` in zone `tz`, business days by `calendar`'s holidays. Offsets
    /// and holidays reach back `lookback_days` before `from`: times older than that are read
    /// in the oldest offset, and holidays before it are counted as business days.
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: chrono_tz::Tz,
        calendar: &BusinessCalendar,
        lookback_days: i64,
    ) -> Self {
        let early = from - chrono::Duration::days(lookback_days);
        let late = to + chrono::Duration::days(2);
        let offsets = super::zone_offsets(tz, early, late);
        let (first, last) = (
            early.date_naive() - chrono::Duration::days(1),
            late.date_naive(),
        );
        let holidays = first
            .iter_days()
            .take_while(|d| *d <= last)
            .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
            .filter(|d| !calendar.is_business_day(*d))
            .map(epoch_day)
            .collect();
        ReportSpan {
            from,
            to,
            offsets,
            holidays,
        }
    }
}

/// Days since 1970-01-01.
pub fn epoch_day(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce()) - 719_163
}

/// The date of a day counted from 1970-01-01.
pub fn from_epoch_day(n: i64) -> Option<NaiveDate> {
    i32::try_from(n + 719_163)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

/// A median and 90th percentile (linear between ranks, as PostgreSQL's
/// `percentile_cont`), over `n` parcels; `None` when `n` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spread {
    /// Parcels measured.
    pub n: u64,
    /// The median.
    pub median: Option<f64>,
    /// The 90th percentile.
    pub p90: Option<f64>,
}

/// One group of delivered parcels (see [`super::Store::delivery_report`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeliveryGroup {
    /// Carrier id, service, `CC` or `CC-REGION`, or the week's Monday (`YYYY-MM-DD`);
    /// `None` when the parcels do not say (no service, no destination).
    pub key: Option<String>,
    /// Parcels delivered.
    pub delivered: u64,
    /// From the first carrier event to delivery, in days (decimals).
    pub transit_days: Spread,
    /// The same in business days: weekdays after the first event's day up to the
    /// delivery's, public holidays not counted.
    pub transit_business_days: Spread,
    /// From the order to delivery, in days (orders with a time of ordering).
    pub order_days: Spread,
    /// The same in business days.
    pub order_business_days: Spread,
    /// Delivered on a day before the order's promised date.
    pub early: u64,
    /// Delivered on the promised date.
    pub on_day: u64,
    /// Delivered on a day after it (orders without one are in none of the three).
    pub late: u64,
    /// Delivered on or before the last day of the first estimate the parcel was given.
    pub estimate_met: u64,
    /// Delivered after it (parcels never estimated are in neither).
    pub estimate_missed: u64,
    /// Delivered without a failed attempt.
    pub first_attempt: u64,
}

/// The backend a report's SQL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite with its percentile extension (`percentile_cont(Y, P)`), compiled into the
    /// bundled SQLite by `LIBSQLITE3_FLAGS` in `.cargo/config.toml`: `?N` parameters.
    Sqlite,
    /// SQLite built without it (cargo run from outside the repository, which does not read
    /// that file): the same figures by ranking, about three times slower.
    SqliteRanked,
    /// PostgreSQL: `$N`, `percentile_cont(P) WITHIN GROUP (ORDER BY Y)`.
    Postgres,
}

/// The SQLite dialect this process's SQLite speaks: with its percentile functions, or
/// without them.
pub fn sqlite_dialect() -> Dialect {
    static HAS: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        rusqlite::Connection::open_in_memory()
            .and_then(|c| c.query_row("SELECT percentile_cont(1, 0.5)", [], |_| Ok(())))
            .is_ok()
    });
    if *HAS {
        Dialect::Sqlite
    } else {
        Dialect::SqliteRanked
    }
}

/// The report's SQL, for `span`. Parameters: 1 from, 2 to (ms). The zone's offsets and the
/// holidays are written into the text as integer literals (they are the program's own
/// numbers, never text from outside): looked up per parcel as parameters, they cost more
/// than the rest of the query. Columns: key, delivered, then (n, median, p90) for transit,
/// transit business, order and order business days, then early, on day, late, estimate
/// met, estimate missed, first attempt. Rows in no order.
pub fn sql(dialect: Dialect, by: ReportBy, span: &ReportSpan) -> String {
    use std::fmt::Write;
    let pg = dialect == Dialect::Postgres;
    let (live, days, max, min, from, to) = if pg {
        (
            "NOT s.deleted AND NOT o.deleted",
            "::float8 / 86400000",
            "greatest",
            "least",
            "$1",
            "$2",
        )
    } else {
        (
            "s.deleted = 0 AND o.deleted = 0",
            " / 86400000.0",
            "max",
            "min",
            "?1",
            "?2",
        )
    };
    let day = |t: &str| local_day(t, &span.offsets);
    // Weekdays in days [-3, x] (day -3, 1969-12-29, a Monday), less the holidays up to x:
    // their difference counts the business days after one day up to another.
    let business_to = |x: &str| {
        let mut holidays = String::new();
        for (i, h) in span.holidays.iter().enumerate().rev() {
            let _ = write!(holidays, " WHEN {x} >= {h} THEN {}", i + 1);
        }
        let holidays = if holidays.is_empty() {
            "0".to_owned()
        } else {
            format!("CASE{holidays} ELSE 0 END")
        };
        format!("(5 * (({x} + 3) / 7) + {min}(({x} + 3) % 7 + 1, 5) - {holidays})")
    };
    let business = |a: &str, b: &str| format!("{max}(0, {} - {})", business_to(b), business_to(a));
    let rows = format!(
        "WITH d AS (
           SELECT s.carrier, s.service, s.dest_country, s.dest_region, s.status_at AS da,
                  s.first_event_at AS fa, o.placed_at AS pa, s.failed_attempts AS fails,
                  (o.promised_at + 1000 * coalesce(o.promised_offset, 0)) / 86400000 AS pd,
                  s.est_first_latest AS ea
           FROM shipments s JOIN orders o ON o.id = s.order_id
           WHERE s.status = 'delivered' AND {live}
             AND s.status_at >= {from} AND s.status_at < {to}),
         l AS MATERIALIZED (
           SELECT carrier, service, dest_country, dest_region, da, fa, pa, fails, pd,
                  {dd} AS dd,
                  CASE WHEN fa <= da THEN {fd} END AS fd,
                  CASE WHEN pa <= da THEN {od} END AS od,
                  {ed} AS ed
           FROM d),
         m AS MATERIALIZED (
           SELECT {key} AS k, fails,
                  CASE WHEN fd IS NOT NULL THEN (da - fa){days} END AS ship,
                  CASE WHEN fd IS NOT NULL THEN {ship_b} END AS ship_b,
                  CASE WHEN od IS NOT NULL THEN (da - pa){days} END AS ord,
                  CASE WHEN od IS NOT NULL THEN {ord_b} END AS ord_b,
                  CASE WHEN pd IS NULL THEN NULL WHEN dd < pd THEN -1 WHEN dd = pd THEN 0
                       ELSE 1 END AS vp,
                  CASE WHEN ed IS NULL THEN NULL WHEN dd <= ed THEN 0 ELSE 1 END AS ve
           FROM l)",
        dd = day("da"),
        fd = day("fa"),
        od = day("pa"),
        ed = day("ea"),
        key = by.key(),
        ship_b = business("fd", "dd"),
        ord_b = business("od", "dd"),
    );
    let counts = "count(*) FILTER (WHERE vp = -1), count(*) FILTER (WHERE vp = 0),
                  count(*) FILTER (WHERE vp = 1), count(*) FILTER (WHERE ve = 0),
                  count(*) FILTER (WHERE ve = 1), count(*) FILTER (WHERE fails = 0)";
    if pg {
        let spread = |c: &str| {
            format!(
                "count({c}), percentile_cont(0.5) WITHIN GROUP (ORDER BY {c}),
                 percentile_cont(0.9) WITHIN GROUP (ORDER BY {c})"
            )
        };
        format!(
            "{rows}
             SELECT k, count(*), {}, {}, {}, {}, {counts} FROM m GROUP BY k",
            spread("ship"),
            spread("ship_b"),
            spread("ord"),
            spread("ord_b"),
        )
    } else if dialect == Dialect::Sqlite {
        let spread =
            |c: &str| format!("count({c}), percentile_cont({c}, 0.5), percentile_cont({c}, 0.9)");
        format!(
            "{rows}
             SELECT k, count(*), {}, {}, {}, {}, {counts} FROM m GROUP BY k",
            spread("ship"),
            spread("ship_b"),
            spread("ord"),
            spread("ord_b"),
        )
    } else {
        format!(
            "{rows},
             r AS (SELECT m.*, {}, {}, {}, {} FROM m)
             SELECT k, count(*), {}, {}, {}, {}, {counts} FROM r GROUP BY k",
            sqlite_rank("ship", 1),
            sqlite_rank("ship_b", 2),
            sqlite_rank("ord", 3),
            sqlite_rank("ord_b", 4),
            sqlite_spread("ship", 1),
            sqlite_spread("ship_b", 2),
            sqlite_spread("ord", 3),
            sqlite_spread("ord_b", 4),
        )
    }
}

// SQLite without its percentile extension: each measure `c` is ranked within its group `k`, values first, as `i{n}` of
// `n{n}` values, and the two ranks around the percentile weighted as PostgreSQL's
// `percentile_cont` does.
fn sqlite_rank(c: &str, n: u8) -> String {
    format!(
        "row_number() OVER (PARTITION BY k ORDER BY {c} IS NULL, {c}) - 1 AS i{n},
         count({c}) OVER (PARTITION BY k) AS n{n}"
    )
}

/// `count, median, p90` of a measure ranked by [`sqlite_rank`].
fn sqlite_spread(c: &str, n: u8) -> String {
    let pct = |q: &str| {
        let at = format!("{q} * (n{n} - 1)");
        let whole = format!("CAST({at} AS INTEGER)");
        format!(
            "CASE WHEN max(n{n}) > 0 THEN sum(CASE WHEN i{n} = {whole} THEN {c} * (1 - ({at} - {whole}))
                 WHEN i{n} = {whole} + 1 AND i{n} < n{n} THEN {c} * ({at} - {whole}) ELSE 0 END) END"
        )
    };
    format!("coalesce(max(n{n}), 0), {}, {}", pct("0.5"), pct("0.9"))
}

/// SQL for the local day (days since 1970-01-01) of the instant `t` (ms, a column or an
/// expression) through the zone's `offsets` ([`super::zone_offsets`]): its offset is the
/// last change at or before it, else the oldest known. The offsets are written as integer
/// literals (see [`sql`]).
pub fn local_day(t: &str, offsets: &[(i64, i32)]) -> String {
    use std::fmt::Write;
    let mut offs = offsets.iter();
    let first = offs.next().map_or(0, |o| o.1);
    let mut case = String::new();
    for (at, off) in offs.rev() {
        let _ = write!(case, " WHEN {t} >= {at} THEN {off}");
    }
    if case.is_empty() {
        format!("({t} + {}) / 86400000", i64::from(first) * 1000)
    } else {
        format!("({t} + 1000 * CASE{case} ELSE {first} END) / 86400000")
    }
}

/// SQL for the Monday (days since 1970-01-01) of the week of a local day.
pub fn monday(day: &str) -> String {
    format!("({day} - ({day} + 3) % 7)")
}

/// Parcels with a problem of one kind that began in a span, at one carrier (see
/// [`super::Store::problem_counts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemCount {
    /// Carrier id.
    pub carrier: String,
    /// What went wrong.
    pub kind: crate::problems::ProblemKind,
    /// Parcels (each once per kind, however often it recurred).
    pub parcels: u64,
}

/// The SQL of [`super::Store::problem_counts`]: parameters from and to (ms); columns
/// carrier, kind, parcels; in order of carrier and kind.
pub fn problems_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite | Dialect::SqliteRanked => {
            "SELECT s.carrier, p.kind, count(DISTINCT p.shipment_id)
             FROM problems p JOIN shipments s ON s.id = p.shipment_id
             WHERE p.since >= ?1 AND p.since < ?2 AND s.deleted = 0
             GROUP BY s.carrier, p.kind ORDER BY s.carrier, p.kind"
        }
        Dialect::Postgres => {
            "SELECT s.carrier, p.kind, count(DISTINCT p.shipment_id)
             FROM problems p JOIN shipments s ON s.id = p.shipment_id
             WHERE p.since >= $1 AND p.since < $2 AND NOT s.deleted
             GROUP BY s.carrier, p.kind ORDER BY s.carrier COLLATE \"C\", p.kind COLLATE \"C\""
        }
    }
}

/// How long one channel's messages about parcels' news took to leave, in seconds: from the
/// news reaching the store (the message written), and from the carrier's event itself (see
/// [`super::Store::notification_latency`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelLatency {
    /// `email`, `sms`, `push`, `desktop`.
    pub channel: String,
    /// Over the messages sent, from the message written.
    pub seconds: Spread,
    /// Over the messages sent about a carrier's event (not those about a parcel that went
    /// quiet, ran late or expired), from the event's time as the carrier gives it: the
    /// newest event the parcel had when the message was written (`outbox.event_at`).
    pub from_event: Spread,
}

/// The kinds of news no carrier event brings: the absence of one (stuck, expired) or a date
/// passing (late). Their messages have no event to time from.
const NOT_FROM_AN_EVENT: &str = "('stuck', 'late', 'expired')";

/// The SQL of [`super::Store::notification_latency`]: parameters from and to (ms); columns
/// channel, sent, median, 90th percentile (seconds) from the message written, then the same
/// three from the carrier's event. Messages about a parcel's news only (a kind): staff
/// alerts and summaries are not the customers'.
pub fn latency_sql(dialect: Dialect) -> &'static str {
    static SQL: std::sync::LazyLock<[String; 3]> = std::sync::LazyLock::new(|| {
        let measures = |div: &str, p1: &str, p2: &str| {
            format!(
                "SELECT channel AS k, (sent_at - created_at){div} AS v,
                   CASE WHEN kind NOT IN {NOT_FROM_AN_EVENT} THEN (sent_at - event_at){div} END AS w
                 FROM outbox
                 WHERE created_at >= {p1} AND created_at < {p2} AND state = 'sent'
                   AND sent_at IS NOT NULL AND kind IS NOT NULL"
            )
        };
        let sqlite = measures(" / 1000.0", "?1", "?2");
        let pg = measures("::float8 / 1000", "$1", "$2");
        [
            format!(
                "WITH m AS ({sqlite})
                 SELECT k, count(v), percentile_cont(v, 0.5), percentile_cont(v, 0.9),
                        count(w), percentile_cont(w, 0.5), percentile_cont(w, 0.9)
                 FROM m GROUP BY k ORDER BY k"
            ),
            format!(
                "WITH m AS ({sqlite}),
                 r AS (SELECT m.*, {}, {} FROM m)
                 SELECT k, {}, {} FROM r GROUP BY k ORDER BY k",
                sqlite_rank("v", 1),
                sqlite_rank("w", 2),
                sqlite_spread("v", 1),
                sqlite_spread("w", 2)
            ),
            format!(
                "WITH m AS ({pg})
                 SELECT k, count(v),
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY v),
                        percentile_cont(0.9) WITHIN GROUP (ORDER BY v),
                        count(w),
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY w),
                        percentile_cont(0.9) WITHIN GROUP (ORDER BY w)
                 FROM m GROUP BY k ORDER BY k COLLATE \"C\""
            ),
        ]
    });
    match dialect {
        Dialect::Sqlite => SQL[0].as_str(),
        Dialect::SqliteRanked => SQL[1].as_str(),
        Dialect::Postgres => SQL[2].as_str(),
    }
}

/// The SQL of [`super::Store::orders_placed`]: parameters from and to (ms).
pub fn placed_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite | Dialect::SqliteRanked => {
            "SELECT count(*) FROM orders WHERE placed_at >= ?1 AND placed_at < ?2 AND deleted = 0"
        }
        Dialect::Postgres => {
            "SELECT count(*) FROM orders WHERE placed_at >= $1 AND placed_at < $2 AND NOT deleted"
        }
    }
}

/// Groups in the report's order: known keys first, in order, then the unknown.
pub fn sort(groups: &mut [DeliveryGroup]) {
    groups.sort_by(|a, b| (a.key.is_none(), &a.key).cmp(&(b.key.is_none(), &b.key)));
}

/// A week key read back (days since 1970-01-01) as the Monday's date.
pub fn week_key(day: i64) -> Option<String> {
    from_epoch_day(day).map(|d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_days_round_trip() {
        let d = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(epoch_day(d), 0);
        let d = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(from_epoch_day(epoch_day(d)), Some(d));
        // Day -3 is a Monday, which the weekday count relies on.
        assert_eq!(from_epoch_day(-3).unwrap().weekday(), Weekday::Mon);
    }
}
