//! ETA engine benchmarks (criterion, 10 samples each):
//!
//! - `estimate_100k`: `Model::estimate` over 100,000 in-transit parcels with a model trained
//!   on 50,000 synthetic deliveries; criterion's time is for the whole batch.
//! - `learn_50k`: learning those 50,000 deliveries into an empty model (throughput in
//!   deliveries per second).
//!
//! `cargo bench -p parceltrail-core --bench eta`

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use parceltrail_core::domain::Status;
use parceltrail_core::eta::eval::{parse_timestamp, parse_tz};
use parceltrail_core::eta::synth::{Profile, SynthOptions, write_csv};
use parceltrail_core::eta::{Delivery, EtaInput, Model, ModelConfig};

fn deliveries(rows: usize, seed: u64) -> Vec<Delivery> {
    let mut buf = Vec::new();
    write_csv(
        &mut buf,
        &SynthOptions {
            rows,
            seed,
            profile: Profile::Mixed,
        },
    )
    .expect("generate");
    let tz = parse_tz("UTC").expect("utc");
    let mut rd = csv::Reader::from_reader(buf.as_slice());
    rd.records()
        .map(|r| {
            let r = r.expect("row");
            let t = |i: usize| -> Option<DateTime<Utc>> { parse_timestamp(&r[i], tz) };
            let s = |i: usize| Some(r[i].to_owned()).filter(|v| !v.is_empty());
            Delivery {
                started_at: t(0).expect("shipped"),
                delivered_at: t(1).expect("delivered"),
                promised_at: t(2),
                carrier: s(3),
                service: s(4),
                origin: s(5),
                destination: s(6),
                dest_country: s(7),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let train = deliveries(50_000, 1);
    let live = deliveries(100_000, 2);
    let tz = parse_tz("UTC").expect("utc");
    let mut model = Model::new(ModelConfig::default());
    for d in &train {
        model.learn(d);
    }
    let last = train
        .iter()
        .map(|d| d.delivered_at)
        .max()
        .expect("deliveries");
    let inputs: Vec<EtaInput<'_>> = live
        .iter()
        .enumerate()
        .map(|(i, d)| EtaInput {
            carrier: d.carrier.as_deref(),
            service: d.service.as_deref(),
            origin: d.origin.as_deref(),
            destination: d.destination.as_deref(),
            dest_country: d.dest_country.as_deref(),
            started_at: d.started_at,
            status: Status::InTransit,
            last_event_at: None,
            carrier_eta: None,
            // Half the parcels have a store promise, all are some hours to days on their way.
            promised_at: d.promised_at.filter(|_| i % 2 == 0),
            now: d.started_at + chrono::Duration::hours((i % 96) as i64),
            tz,
        })
        .collect();
    let _ = last;

    let mut g = c.benchmark_group("eta");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(inputs.len() as u64));
    g.bench_function("estimate_100k", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for input in &inputs {
                if black_box(model.estimate(input)).is_some() {
                    n += 1;
                }
            }
            n
        })
    });
    g.throughput(Throughput::Elements(train.len() as u64));
    g.bench_function("learn_50k", |b| {
        b.iter(|| {
            let mut m = Model::new(ModelConfig::default());
            for d in &train {
                m.learn(d);
            }
            black_box(m.learned())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
