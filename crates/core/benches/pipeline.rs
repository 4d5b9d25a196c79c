//! After-ingest benchmarks that print figures (plain harness):
//!
//! - rule evaluation per event: `notify::rules::decide` for one parcel's news on the default
//!   channel (mean over 1,000,000 calls, wording included);
//! - recomputing estimates and problems for 100,000 active parcels through the pipeline:
//!   read them from SQLite, run the ETA model and problem detection, write back what
//!   changed (first run: every estimate is new; second run: an hour later, nothing to
//!   write for most), and the model and detection alone on the same rows.
//!
//! `cargo bench -p parceltrail-core --bench pipeline`

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use parceltrail_core::domain::{NewEvent, Place, ShipmentId, Source, Status};
use parceltrail_core::eta::{Estimate, EtaSource};
use parceltrail_core::notify::rules::{self, Kind, News, Parcel, Prefs};
use parceltrail_core::pipeline::{Pipeline, PipelineConfig, derive_one};
use parceltrail_core::poller::SharedStore;
use parceltrail_core::problems::ProblemConfig;
use parceltrail_core::store::{IngestBatch, NewShipment, SqliteStore, Store};

const PARCELS: usize = 100_000;

fn rules_per_event() {
    let prefs = Prefs {
        tz: chrono_tz::Europe::Berlin,
        ..Prefs::default()
    };
    let now = Utc.with_ymd_and_hms(2026, 5, 4, 10, 0, 0).unwrap();
    let id = ShipmentId::new();
    let parcel = Parcel {
        id,
        label: Some("Running shoes"),
        store: Some("Sportshop"),
        carrier: "DHL Express",
        number: "JJD0099999999999",
        status: Status::OutForDelivery,
        estimate: Some(Estimate {
            earliest: now,
            likely: now + Duration::hours(4),
            latest: now + Duration::hours(9),
            confidence: 0.9,
            source: EtaSource::OutForDelivery,
        }),
        muted: false,
        kinds: None,
    };
    let news = [News {
        shipment_id: id,
        kind: Kind::OutForDelivery,
        key: rules::status_news_key(id, Kind::OutForDelivery, None),
        at: now,
        detail: Some("With delivery courier".into()),
    }];
    let n = 1_000_000;
    let start = Instant::now();
    let mut chars = 0usize;
    for _ in 0..n {
        let d = rules::decide(black_box(&prefs), black_box(&parcel), black_box(&news), now);
        chars += d[0].body.len();
    }
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    black_box(chars);
    println!(
        "rules::decide per event: {:.2} µs (mean of {n})",
        per / 1000.0
    );
}

fn recompute() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = SqliteStore::open(dir.path().join("bench.db")).expect("open");
    let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap();
    // History to learn from: 20,000 delivered parcels.
    let place = |c: &str| Place {
        country: Some(c.into()),
        ..Place::default()
    };
    let ev = |at: chrono::DateTime<Utc>, s: Status| NewEvent {
        occurred_at: at.fixed_offset(),
        status: s,
        raw_code: None,
        description: s.label().into(),
        location: place("DE"),
        source: Source::Poll,
    };
    let carriers = ["dhl", "ups", "fedex", "usps"];
    let total = PARCELS + 20_000;
    for chunk in 0..(total / 1000) {
        let news: Vec<NewShipment> = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                let start = t0 - Duration::hours((n % 500) as i64);
                let mut events = vec![ev(start, Status::InTransit)];
                if n >= PARCELS {
                    events.push(ev(
                        start + Duration::hours(30 + (n % 90) as i64),
                        Status::Delivered,
                    ));
                }
                NewShipment {
                    tracking_number: format!("BENCH{n:010}"),
                    carrier: carriers[n % 4].into(),
                    events,
                    ..NewShipment::default()
                }
            })
            .collect();
        let added = db.add_shipments(&news, t0).expect("add");
        let batches: Vec<IngestBatch> = added
            .iter()
            .map(|a| IngestBatch {
                destination: Some(place(if a.shipment.tracking_number.ends_with('7') {
                    "US"
                } else {
                    "DE"
                })),
                ..IngestBatch::events(a.shipment.id, Vec::new())
            })
            .collect();
        db.ingest(&batches, t0).expect("ingest");
    }
    let store: SharedStore = Arc::new(Mutex::new(db));
    let start = Instant::now();
    let pipeline =
        Pipeline::new(store.clone(), PipelineConfig::default(), Vec::new()).expect("pipeline");
    println!(
        "train on 20,000 deliveries: {:.0} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    for (label, now) in [("first", t0), ("an hour later", t0 + Duration::hours(1))] {
        let start = Instant::now();
        let changes = pipeline.derive(None, now).expect("derive");
        println!(
            "recompute {PARCELS} active parcels ({label}; read, estimate, detect, write {} changes): {:.0} ms",
            changes.len(),
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    // The computation alone, on rows already read.
    let mut rows = Vec::with_capacity(PARCELS);
    store
        .lock()
        .unwrap()
        .active(None, &mut |a| {
            rows.push(a);
            Ok(())
        })
        .expect("active");
    let mut model = parceltrail_core::eta::Model::new(Default::default());
    store
        .lock()
        .unwrap()
        .deliveries(&mut |d| {
            model.learn(&d);
            Ok(())
        })
        .expect("deliveries");
    let config = ProblemConfig::default();
    let start = Instant::now();
    let mut some = 0usize;
    for a in &rows {
        let d = derive_one(&model, a, &config, chrono_tz::Europe::Berlin, t0);
        some += usize::from(d.estimate.is_some());
    }
    println!(
        "estimate + detect for {} parcels (computation only): {:.0} ms ({some} estimated)",
        rows.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
}

fn main() {
    rules_per_event();
    recompute();
}
