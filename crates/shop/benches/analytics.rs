//! Delivery analytics over 1,000,000 parcels, on SQLite and on PostgreSQL (plain harness,
//! prints figures): the queries the dashboard's analytics page makes of the tracking store for
//! a span of 30 days (the delivery report by carrier, which is also the carrier table; the
//! problems by kind; the messages' time to leave; the orders placed), the report's other
//! groupings, and
//! spans of 90 and 365 days. Baseline: counting the store's parcels (`Store::count`), in the
//! same run on the same store.
//!
//! The parcels are written by SQL straight into the store's tables (the store's own API
//! would take an hour for a million): two years of a shop's deliveries ending on 30 November
//! 2026, about 1,370 a day, five carriers, three services each, fifty regions; 88% delivered,
//! the rest on their way; 60% with a promised date, 70% with a first estimate, 8% with a
//! failed attempt; a problem for one parcel in ten, and a sent email for each delivery.
//!
//! `cargo bench -p parceltrail-shop --bench analytics` (PostgreSQL: `PARCELTRAIL_TEST_POSTGRES`,
//! else a scratch cluster from the machine's binaries). `ANALYTICS_PARCELS=N` for fewer.

use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use parceltrail_core::eta::calendar::BusinessCalendar;
use parceltrail_core::store::report::{ReportBy, ReportSpan};
use parceltrail_core::store::{SqliteStore, Store};
use parceltrail_shop::PgStore;

const DAY: i64 = 86_400_000;
/// 2024-12-01T00:00Z, the first day of the two years.
const T0: i64 = 1_733_011_200_000;

/// The SQL that fills the store, for `n` parcels over 730 days. `{seq}` is the sequence
/// of 0..n as rows of `i`, `id` turns an integer (`{}`) into a 16-byte id, `zero` is the
/// backend's false.
fn fill(n: u64, seq: &str, id: &str, zero: &str) -> [String; 4] {
    let id_of = |x: &str| id.replace("{}", x);
    let h = "((i * 2654435761) % 1000003)";
    // The columns each row needs, from `i` and its hash `h`.
    let step = 730 * DAY / n as i64;
    let delivered = format!("({T0} + i * {step})");
    let first = format!("({delivered} - {DAY} - ({h} % 518400) * 1000)"); // up to six days more
    let placed = format!("({first} - ({h} % 172800) * 1000)");
    let orders = format!(
        "INSERT INTO orders (id, order_number, placed_at, placed_offset, promised_at,
                             promised_offset, archived, archived_at, created_at, updated_at,
                             customer_email, customer_email_lower, stage, stage_at, deleted,
                             deleted_at)
         SELECT {oid}, 'B-' || i, {placed}, 0,
                CASE WHEN {h} % 10 < 6 THEN ({placed} / {DAY} + 4) * {DAY} END, 0,
                {zero}, {placed}, {placed}, {placed},
                'c' || i || '@example.com', 'c' || i || '@example.com', 'shipped', {placed},
                {zero}, {placed}
         FROM {seq}",
        oid = id_of("i"),
    );
    let shipments = format!(
        "INSERT INTO shipments (id, order_id, tracking_number, carrier, service, dest_country,
                                dest_region, status, status_at, status_detail, last_event_at,
                                event_count, first_event_at, failed_attempts, est_first_latest,
                                label_at, muted_at, archived_at, deleted_at, created_at,
                                updated_at)
         SELECT {sid}, {oid}, '1Z' || i,
                CASE i % 5 WHEN 0 THEN 'ups' WHEN 1 THEN 'fedex' WHEN 2 THEN 'usps'
                           WHEN 3 THEN 'dhl' ELSE 'track17' END,
                CASE (i / 5) % 3 WHEN 0 THEN 'Ground' WHEN 1 THEN 'Express' ELSE 'Economy' END,
                'US', 'S' || ({h} % 50),
                CASE WHEN {h} % 100 < 88 THEN 'delivered' ELSE 'in_transit' END,
                CASE WHEN {h} % 100 < 88 THEN {delivered} ELSE {first} END,
                'Delivered, left at the front door', {delivered}, 6, {first},
                CASE WHEN {h} % 100 < 8 THEN 1 ELSE 0 END,
                CASE WHEN {h} % 10 < 7 THEN {first} + 3 * {DAY} END,
                0, 0, 0, 0, {placed}, {delivered}
         FROM {seq}",
        sid = id_of(&format!("i + {n}")),
        oid = id_of("i"),
    );
    // A problem for one parcel in ten (late or stuck, two days after its first event), and
    // a sent email for each delivered parcel (written 5 s after, sent up to 10 min later).
    let problems = format!(
        "INSERT INTO problems (shipment_id, kind, key, since, detail, opened_at)
         SELECT {sid}, CASE WHEN {h} % 2 = 0 THEN 'late' ELSE 'stuck' END, {sid},
                {first} + 2 * {DAY}, 'No news', {first} + 2 * {DAY}
         FROM {seq} WHERE {h} % 10 = 0",
        sid = id_of(&format!("i + {n}")),
    );
    let outbox = format!(
        "INSERT INTO outbox (id, dedupe_key, channel, shipment_id, kind, title, body, link,
                             urgency, state, created_at, sent_at)
         SELECT {oid}, {oid}, 'email', {sid}, 'delivered', 'Delivered', 'Your parcel came.',
                'parceltrail://parcel', 'normal', 'sent', {delivered} + 5000,
                {delivered} + 5000 + ({h} % 600) * 1000
         FROM {seq} WHERE {h} % 100 < 88",
        oid = id_of(&format!("i + {}", 2 * n)),
        sid = id_of(&format!("i + {n}")),
    );
    [orders, shipments, problems, outbox]
}

/// The median of `runs` timings of `f`, after one run to warm the caches.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> StdDuration {
    black_box(f());
    let mut all: Vec<StdDuration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    all.sort();
    all[runs / 2]
}

fn span(days: i64, end: DateTime<Utc>, us: &BusinessCalendar) -> ReportSpan {
    ReportSpan::new(
        end - chrono::Duration::days(days),
        end,
        chrono_tz::America::New_York,
        us,
        120,
    )
}

fn measure(name: &str, store: &dyn Store) {
    let end = Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, 0).unwrap();
    let us = BusinessCalendar::for_country(Some("US"));
    let runs = 15;
    let base = time(runs, || store.count().unwrap());
    let ms = |d: StdDuration| d.as_secs_f64() * 1000.0;
    println!("{name}: baseline count of parcels {:.1} ms", ms(base));
    let row = |what: &str, d: StdDuration| {
        println!(
            "{name}: {what:<44} {:>8.1} ms  ({:.1}× baseline)",
            ms(d),
            ms(d) / ms(base)
        );
    };
    let s30 = span(30, end, &us);
    let mut page = StdDuration::ZERO;
    for by in [
        ReportBy::Carrier,
        ReportBy::Service,
        ReportBy::Region,
        ReportBy::Week,
    ] {
        let d = time(runs, || store.delivery_report(&s30, by).unwrap());
        if by == ReportBy::Carrier {
            page += d;
        }
        row(&format!("report by {by:?}, 30 days"), d);
    }
    let (from, to) = (s30.from, s30.to);
    let problems = time(runs, || store.problem_counts(from, to).unwrap());
    row("problems by kind, 30 days", problems);
    let latency = time(runs, || store.notification_latency(from, to).unwrap());
    row("messages' time to leave, 30 days", latency);
    let placed = time(runs, || store.orders_placed(from, to).unwrap());
    row("orders placed, 30 days", placed);
    page += problems + latency + placed;
    row("the page's store reads, one after another, 30 days", page);
    for days in [90, 365] {
        let s = span(days, end, &us);
        let d = time(5, || store.delivery_report(&s, ReportBy::Carrier).unwrap());
        row(&format!("report by Carrier, {days} days"), d);
    }
    let delivered: u64 = store
        .delivery_report(&s30, ReportBy::Carrier)
        .unwrap()
        .iter()
        .map(|g| g.delivered)
        .sum();
    println!("{name}: {delivered} parcels delivered in the 30 days");
}

fn main() {
    let n: u64 = std::env::var("ANALYTICS_PARCELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);

    // ANALYTICS_ONLY=sqlite or postgres measures one.
    let only = std::env::var("ANALYTICS_ONLY").unwrap_or_default();
    if only != "postgres" {
        sqlite(n);
    }
    if only != "sqlite" {
        postgres(n);
    }
}

fn sqlite(n: u64) {
    let dir = tempfile::tempdir().unwrap();
    // ANALYTICS_DB keeps the SQLite store there, to look into.
    let path = std::env::var_os("ANALYTICS_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("analytics.db"));
    drop(SqliteStore::open(&path).unwrap());
    let started = Instant::now();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let seq = format!(
            "(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {}) SELECT i FROM n)",
            n - 1
        );
        let tx = conn.unchecked_transaction().unwrap();
        for sql in fill(n, &seq, "unhex(printf('%032x', {}))", "0") {
            tx.execute_batch(&sql).unwrap();
        }
        tx.commit().unwrap();
        conn.execute_batch("ANALYZE").unwrap();
    }
    println!(
        "sqlite: {n} parcels written in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.count().unwrap(), n);
    if std::env::var_os("ANALYTICS_SQL").is_some() {
        let us = BusinessCalendar::for_country(Some("US"));
        let s = span(30, Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, 0).unwrap(), &us);
        let sql = parceltrail_core::store::report::sql(
            parceltrail_core::store::report::Dialect::Sqlite,
            ReportBy::Carrier,
            &s,
        );
        println!(
            "{sql}\n-- {} {}",
            s.from.timestamp_millis(),
            s.to.timestamp_millis()
        );
    }
    measure("sqlite", &store);
}

fn postgres(n: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(parceltrail_shop::testing::postgres().fresh_database());
    let config: tokio_postgres::Config = url.parse().unwrap();
    let pool = Pool::builder(Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    ))
    .max_size(4)
    .runtime(deadpool_postgres::Runtime::Tokio1)
    .build()
    .unwrap();
    let store = PgStore::open(pool.clone(), rt.handle().clone(), "bench_shop").unwrap();
    let started = Instant::now();
    rt.block_on(async {
        let client = pool.get().await.unwrap();
        client
            .batch_execute("SET search_path TO bench_shop")
            .await
            .unwrap();
        let seq = format!("generate_series(0::bigint, {}) AS g (i)", n - 1);
        for sql in fill(
            n,
            &seq,
            "lpad(to_hex(({})::bigint), 32, '0')::uuid",
            "false",
        ) {
            client.batch_execute(&sql).await.unwrap();
        }
        client.batch_execute("RESET search_path").await.unwrap();
        // Outside the store's transaction, as VACUUM must be.
        for sql in [
            "VACUUM ANALYZE bench_shop.orders",
            "VACUUM ANALYZE bench_shop.shipments",
        ] {
            client.simple_query(sql).await.unwrap();
        }
    });
    println!(
        "postgres: {n} parcels written in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(store.count().unwrap(), n);
    measure("postgres", &store);
}
