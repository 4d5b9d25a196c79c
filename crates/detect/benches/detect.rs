//! Throughput of `scan` over large plain text and of `detect` on valid numbers.
//!
//! Run with `cargo bench -p parceltrail-detect --bench detect`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use parceltrail_detect::{detect, scan};

#[path = "support/email.rs"]
mod email;

const NUMBERS: &[&str] = &[
    "1Z5R89390357567127",
    "1Z879E930346834440",
    "986578788855",
    "9400111201080805483016",
    "92055901649173127513",
    "RB876543216GB",
    "RR123456785FR",
    "C11031500001879",
    "3318810025",
    "TBA502887274000",
    "012345670000012345678101276S",
    "0073938000549297",
    "LP00123456789012",
    "YT1234567890123456",
    "JJD000390007123456789",
    "K1506235620",
];

const WORDS: &[&str] = &[
    "the",
    "parcel",
    "will",
    "arrive",
    "between",
    "and",
    "your",
    "order",
    "has",
    "been",
    "shipped",
    "thank",
    "you",
    "for",
    "shopping",
    "with",
    "us",
    "delivery",
    "address",
    "street",
    "questions",
    "reply",
    "to",
    "this",
    "email",
    "2024-05-14",
    "$12.99",
    "10:42",
    "qty",
    "3",
    "item",
    "colour",
    "blue",
    "size",
    "M",
    "returns",
    "within",
    "30",
    "days",
    "customer",
    "service",
    "is",
    "open",
    "Monday",
    "to",
    "Friday",
    "9-17",
    "call",
    "555-0123",
    "receipt",
    "#4521",
    "subtotal",
    "shipping",
    "free",
    "tax",
    "included",
];

/// ~10 MB of prose with a tracking number every ~10 KB.
fn corpus() -> String {
    let mut s = String::with_capacity(10_500_000);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut since = 0;
    let mut n = 0;
    while s.len() < 10_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if since > 10_000 {
            s.push_str("your tracking number is ");
            s.push_str(NUMBERS[n % NUMBERS.len()]);
            n += 1;
            since = 0;
        } else {
            let w = WORDS[(x % WORDS.len() as u64) as usize];
            s.push_str(w);
            since += w.len() + 1;
        }
        s.push(if x.trailing_zeros() >= 4 { '\n' } else { ' ' });
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = corpus();
    // Every inserted number is found, each once (distinct numbers are
    // deduplicated, so count the numbers list, not the insertions).
    let found = scan(&text);
    assert_eq!(found.len(), NUMBERS.len(), "{found:?}");
    assert!(found.iter().all(|d| d.valid));
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("10MB_sparse_text", |b| b.iter(|| scan(black_box(&text))));
    g.finish();

    // Dense email-like text (order and phone numbers, prices, dates, URLs), where the
    // cost is in the candidates, not the scan: what `scripts/bench-detect` measures as a
    // whole process. 4 MiB, the most `parceltrail detect` reads.
    let mails = email::emails(1, 4 << 20);
    let text: String = mails.iter().map(|m| m.text.as_str()).collect();
    let planted = mails.iter().map(|m| m.numbers.len()).sum::<usize>();
    let found = scan(&text).iter().filter(|d| d.valid).count();
    assert!(found * 100 >= planted * 95, "{found} of {planted} found");
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("4MB_dense_email_text", |b| {
        b.iter(|| scan(black_box(&text)))
    });
    g.finish();

    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(NUMBERS.len() as u64));
    g.bench_function("mixed_valid_numbers", |b| {
        b.iter(|| {
            for n in NUMBERS {
                black_box(detect(black_box(n)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
