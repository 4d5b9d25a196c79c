//! Store benchmarks that print figures (a plain harness: these runs are too long for
//! criterion's repeated sampling).
//!
//! - ingest 1,000,000 events into 100,000 shipments, and a bare rusqlite prepared-insert loop
//!   of the same rows into the same table in the same run (the ratio: baseline time / ours);
//! - the timeline of one shipment at that size (p50, p99 over 10,000 random shipments);
//! - `list` over 1,000 active shipments (median of 50).
//!
//! `cargo bench -p parceltrail-core --bench store`; set PARCELTRAIL_BENCH_KEEP=DIR to keep the
//! 100,000-shipment database (as DIR/parceltrail.db) for measuring the CLI against it.

use std::time::{Duration, Instant};

use chrono::{Duration as Days, FixedOffset, TimeZone, Utc};
use parceltrail_core::domain::{NewEvent, Place, ShipmentId, Source, Status};
use parceltrail_core::store::{IngestBatch, ListQuery, NewShipment, OrderInfo, SqliteStore, Store};

const SHIPMENTS: usize = 100_000;
const EVENTS_PER: usize = 10;
const SHIPMENTS_PER_CALL: usize = 1_000;

const JOURNEY: [(Status, &str, &str); EVENTS_PER] = [
    (
        Status::InfoReceived,
        "pre-transit",
        "Shipment information received",
    ),
    (Status::InTransit, "transit", "Picked up"),
    (Status::InTransit, "transit", "Processed at origin facility"),
    (Status::InTransit, "transit", "Departed origin facility"),
    (Status::InTransit, "transit", "Arrived at sort hub"),
    (Status::InTransit, "transit", "Departed sort hub"),
    (
        Status::InTransit,
        "transit",
        "Arrived at destination facility",
    ),
    (
        Status::InTransit,
        "transit",
        "Processed at delivery station",
    ),
    (Status::OutForDelivery, "transit", "Out for delivery"),
    (Status::Delivered, "delivered", "Delivered, front door"),
];
const CITIES: [&str; 6] = [
    "Leipzig",
    "Köln",
    "Hamburg",
    "München",
    "Berlin",
    "Frankfurt",
];

fn events_for(i: usize) -> Vec<NewEvent> {
    let off = FixedOffset::east_opt(3600).unwrap();
    let start =
        off.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap() + Days::minutes((i % 50_000) as i64);
    JOURNEY
        .iter()
        .enumerate()
        .map(|(k, (status, code, desc))| NewEvent {
            occurred_at: start + Days::hours(7 * k as i64),
            status: *status,
            raw_code: Some((*code).into()),
            description: (*desc).into(),
            location: Place {
                city: Some(CITIES[(i + k) % CITIES.len()].into()),
                country: Some("DE".into()),
                ..Place::default()
            },
            source: Source::Poll,
        })
        .collect()
}

fn main() {
    let dir = std::env::var_os("PARCELTRAIL_BENCH_KEEP")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("parceltrail-bench-{}", std::process::id()))
        });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("parceltrail.db");
    let now = Utc::now();

    let mut store = SqliteStore::open(&path).unwrap();
    let mut ids: Vec<ShipmentId> = Vec::with_capacity(SHIPMENTS);
    let t = Instant::now();
    for chunk in (0..SHIPMENTS)
        .collect::<Vec<_>>()
        .chunks(SHIPMENTS_PER_CALL)
    {
        let new: Vec<NewShipment> = chunk
            .iter()
            .map(|i| NewShipment {
                tracking_number: format!("JJD{i:015}"),
                carrier: "dhl".into(),
                order: OrderInfo {
                    store: Some(format!("Store {}", i % 200)),
                    ..OrderInfo::default()
                },
                ..NewShipment::default()
            })
            .collect();
        ids.extend(
            store
                .add_shipments(&new, now)
                .unwrap()
                .into_iter()
                .map(|a| a.shipment.id),
        );
    }
    println!(
        "add {SHIPMENTS} shipments: {:.2} s",
        t.elapsed().as_secs_f64()
    );

    // Build all batches first so only the ingest is timed.
    let batches: Vec<IngestBatch> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| IngestBatch::events(*id, events_for(i)))
        .collect();
    let total_events = SHIPMENTS * EVENTS_PER;
    let t = Instant::now();
    let mut inserted = 0;
    for chunk in batches.chunks(SHIPMENTS_PER_CALL) {
        inserted += store.ingest(chunk, now).unwrap().inserted;
    }
    let ours = t.elapsed();
    assert_eq!(inserted, total_events);
    println!(
        "ingest {total_events} events into {SHIPMENTS} shipments: {:.2} s ({:.0} events/s)",
        ours.as_secs_f64(),
        total_events as f64 / ours.as_secs_f64()
    );

    let base = bare_rusqlite(&dir, &batches);
    println!(
        "bare rusqlite prepared-insert loop, same rows and table: {:.2} s; ratio baseline/ours = {:.2} (goal >= 0.5)",
        base.as_secs_f64(),
        base.as_secs_f64() / ours.as_secs_f64()
    );

    // Timeline of one shipment, random shipments.
    let mut lat: Vec<Duration> = Vec::with_capacity(10_000);
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = ids[(x % SHIPMENTS as u64) as usize];
        let t = Instant::now();
        let tl = store.timeline(id).unwrap();
        lat.push(t.elapsed());
        assert_eq!(tl.len(), EVENTS_PER);
    }
    lat.sort();
    println!(
        "timeline of one shipment at {total_events} events: p50 {:.1} µs, p99 {:.1} µs (goal p99 < 1 ms)",
        lat[lat.len() / 2].as_secs_f64() * 1e6,
        lat[lat.len() * 99 / 100].as_secs_f64() * 1e6
    );
    drop(store);

    // `list` over 1,000 active shipments.
    let small = dir.join("list.db");
    let mut s = SqliteStore::open(&small).unwrap();
    let new: Vec<NewShipment> = (0..1000)
        .map(|i| NewShipment {
            tracking_number: format!("JJD{i:015}"),
            carrier: "dhl".into(),
            label: Some(format!("Parcel {i}")),
            ..NewShipment::default()
        })
        .collect();
    let added = s.add_shipments(&new, now).unwrap();
    let batches: Vec<IngestBatch> = added
        .iter()
        .enumerate()
        .map(|(i, a)| IngestBatch::events(a.shipment.id, events_for(i)[..4 + i % 5].to_vec()))
        .collect();
    s.ingest(&batches, now).unwrap();
    let q = ListQuery {
        today_start: now - Days::hours(12),
        today_end: now + Days::hours(12),
        delivered_since: now - Days::days(14),
        all: false,
    };
    let mut runs = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let mut n = 0;
        s.list(&q, &mut |item| {
            n += item.tracking_number.len();
            Ok(())
        })
        .unwrap();
        runs.push(t.elapsed());
        assert!(n > 0);
    }
    runs.sort();
    println!(
        "list over 1,000 active shipments: median {:.2} ms, max {:.2} ms (goal < 20 ms)",
        runs[runs.len() / 2].as_secs_f64() * 1e3,
        runs[runs.len() - 1].as_secs_f64() * 1e3
    );
    drop(s);
    let _ = std::fs::remove_file(&small);
    if std::env::var_os("PARCELTRAIL_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The same rows into the same events table with a bare prepared INSERT, the same pragmas and
/// the same transaction size: the floor our ingest is measured against.
fn bare_rusqlite(dir: &std::path::Path, batches: &[IngestBatch]) -> Duration {
    let path = dir.join("bare.db");
    let _ = std::fs::remove_file(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch(
        "CREATE TABLE events (
            shipment_id BLOB NOT NULL, dedupe_key BLOB NOT NULL, occurred_at INTEGER NOT NULL,
            occurred_offset INTEGER NOT NULL, status TEXT NOT NULL, raw_code TEXT,
            description TEXT NOT NULL, city TEXT, region TEXT, country TEXT, postal TEXT,
            source TEXT NOT NULL, recorded_at INTEGER NOT NULL,
            PRIMARY KEY (shipment_id, dedupe_key)) WITHOUT ROWID;",
    )
    .unwrap();
    let now = Utc::now().timestamp_millis();
    let t = Instant::now();
    let mut conn = conn;
    for chunk in batches.chunks(SHIPMENTS_PER_CALL) {
        let tx = conn.transaction().unwrap();
        {
            let mut st = tx
                .prepare("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")
                .unwrap();
            for b in chunk {
                for e in &b.events {
                    st.execute(rusqlite::params![
                        b.shipment_id.0,
                        e.dedupe_key(),
                        e.occurred_at.timestamp_millis(),
                        e.occurred_at.offset().local_minus_utc(),
                        e.status.as_str(),
                        e.raw_code,
                        e.description,
                        e.location.city,
                        e.location.region,
                        e.location.country,
                        e.location.postal,
                        e.source.as_str(),
                        now,
                    ])
                    .unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    let d = t.elapsed();
    drop(conn);
    let _ = std::fs::remove_file(&path);
    d
}
