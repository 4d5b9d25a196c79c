//! The cost of one poll (rate limiter, DHL adapter, parsing, idempotent ingest into a file
//! database with `synchronous=FULL`, schedule update) against a raw reqwest GET of the same
//! URL, both sequential against the same simulator with 50 ms of injected latency, in the
//! same run. Prints the figures; `cargo bench -p parceltrail-cli --bench poll_overhead`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use parceltrail_carriers::{Dhl, Http, Secret};
use parceltrail_core::carrier::RateLimit;
use parceltrail_core::poller::{Poller, PollerConfig, SharedStore};
use parceltrail_core::store::{SqliteStore, Store};
use parceltrail_sim::{Sim, SimConfig};

const N: usize = 200;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Journeys already complete, so every answer carries a full history.
        let config = SimConfig { parcels: N, speed: 1e6, latency: Duration::from_millis(50), ..SimConfig::default() };
        let sim = Arc::new(Sim::new(config, Utc::now() - chrono::Duration::seconds(30)));
        let (addr, _task) = parceltrail_sim::serve(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = format!("http://{addr}");
        let numbers: Vec<String> = sim.parcels().iter().map(|p| p.number.clone()).collect();

        let client = reqwest_client();
        // Warm the connection pool for both.
        raw_get(&client, &url, &numbers[0]).await;
        let t = Instant::now();
        for n in &numbers {
            raw_get(&client, &url, n).await;
        }
        let raw = t.elapsed() / N as u32;

        let dir = std::env::temp_dir().join(format!("parceltrail-overhead-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut db = SqliteStore::open(dir.join("parceltrail.db")).unwrap();
        db.add_shipments(&parceltrail_sim::demo_shipments(&sim), Utc::now()).unwrap();
        let store: SharedStore = Arc::new(Mutex::new(db));
        let dhl = Dhl::new(Http::new(), &url, Secret::new("demo"))
            .with_rate_limit(RateLimit { requests: 1_000_000, per: Duration::from_secs(1) });
        let poller = Poller::new(store.clone(), vec![Arc::new(dhl)], PollerConfig { concurrency: 1, ..PollerConfig::default() }).unwrap();
        let t = Instant::now();
        let report = poller.poll_due().await.unwrap();
        let ours = t.elapsed() / N as u32;
        assert_eq!((report.polled, report.failed), (N, 0));
        let events: u32 = numbers.iter().map(|n| store.lock().unwrap().find(n).unwrap().event_count).sum();
        println!("raw reqwest GET (50 ms injected latency): {:.2} ms per request", raw.as_secs_f64() * 1e3);
        println!(
            "one poll through the poller, adapter and store ({N} parcels, {events} events stored): {:.2} ms per poll",
            ours.as_secs_f64() * 1e3
        );
        println!("overhead ratio poll/raw = {:.3} (goal <= 1.2)", ours.as_secs_f64() / raw.as_secs_f64());
        let _ = std::fs::remove_dir_all(&dir);
    });
}

fn reqwest_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn raw_get(client: &reqwest::Client, url: &str, number: &str) {
    let body = client
        .get(format!("{url}/track/shipments"))
        .query(&[("trackingNumber", number)])
        .header("DHL-API-Key", "demo")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(body.len() > 100);
}
