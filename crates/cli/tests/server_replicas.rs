//! Three `parceltrail server` replicas on one PostgreSQL, polling a `parceltrail sim`'s
//! parcels, one of them killed (SIGKILL) mid-run: at the simulator, no number was asked
//! about twice within a poll interval (claims with a lease, taken over when a dead replica's
//! run out); through the API, every parcel's events are the simulator's journey, each once.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{ShopServer, client, server_cmd, start_sim};
use serde_json::{Value, json};

/// The simulator's journeys run this much faster than real time (a 60-hour journey in about
/// 8 seconds)...
const SIM_SPEED: &str = "28800";
/// ...and the servers poll as if it ran at this speed, so a parcel is asked about every 2 s
/// in transit (30 min / 900), every 0.67 s out for delivery, every 8 s before its label.
const POLL_SPEED: f64 = 900.0;
/// The shortest interval the servers may poll one parcel at: out for delivery (10 min),
/// scaled, less its 10 % jitter.
fn shortest_interval() -> Duration {
    Duration::from_secs(600).div_f64(POLL_SPEED).mul_f64(0.9)
}

const PARCELS: usize = 30;

fn replica(home: &Path, db: &str, sim: &str) -> ShopServer {
    let mut cmd = server_cmd(home);
    cmd.args(["--db", db, "--listen", "127.0.0.1:0", "--sim", sim])
        .args(["--speed", &POLL_SPEED.to_string()])
        // A dead replica's claims run out within the test.
        .args(["--poll-lease", "2", "--sim-rate", "50"]);
    ShopServer::start(cmd, false)
}

async fn json_of(r: reqwest::RequestBuilder) -> Value {
    let res = r.send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    res.json().await.unwrap()
}

/// `parceltrail_polls_total{outcome="ok"}` of one replica.
async fn polled(c: &reqwest::Client, base: &str) -> f64 {
    let text = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("parceltrail_polls_total{outcome=\"ok\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn instant(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .to_utc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_poll_each_parcel_once_per_interval_and_lose_nothing() {
    let begun = Instant::now();
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (_sim, sim) = start_sim(&[
        "--parcels",
        &PARCELS.to_string(),
        "--seed",
        "11",
        "--speed",
        SIM_SPEED,
    ]);
    let made = server_cmd(h)
        .args([
            "--db",
            &db,
            "shop",
            "create",
            "Replica Outfitters",
            "--admin-email",
            "owner@replica.example",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let key = serde_json::from_slice::<Value>(&made.stdout).unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = client();
    let parcels = json_of(c.get(format!("{sim}/sim/parcels"))).await;
    let parcels = parcels.as_array().unwrap().clone();
    assert_eq!(parcels.len(), PARCELS);
    let journeys_end = parcels
        .iter()
        .map(|p| instant(&p["ends_at"]))
        .max()
        .unwrap();

    let mut replicas: Vec<Option<ShopServer>> =
        (0..3).map(|_| Some(replica(h, &db, &sim))).collect();
    let base = |r: &Option<ShopServer>| r.as_ref().unwrap().base.clone();
    let first = base(&replicas[0]);

    // The shop's orders, through one replica: two parcels to an order.
    let mut orders = Vec::new();
    for (i, pair) in parcels.chunks(2).enumerate() {
        let shipments: Vec<Value> = pair
            .iter()
            .map(|p| json!({"tracking_number": p["number"], "carrier": "dhl"}))
            .collect();
        let o = json_of(
            c.post(format!("{first}/api/v1/orders"))
                .bearer_auth(&key)
                .json(&json!({"order_number": format!("R-{i}"), "shipments": shipments})),
        )
        .await;
        orders.push(o["id"].as_str().unwrap().to_owned());
    }

    // Mid-run, one replica dies without a word.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut counts = vec![polled(&c, &base(&replicas[1])).await];
    let mut victim = replicas[1].take().unwrap();
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    drop(victim);

    // Until every journey has ended and a poll after it came in.
    let wait = (journeys_end - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_secs(3)).await;
    for r in [&replicas[0], &replicas[2]] {
        counts.push(polled(&c, &base(r)).await);
    }
    eprintln!("parcels polled per replica (the killed one first): {counts:?}");
    assert!(
        counts.iter().filter(|n| **n > 0.0).count() >= 2,
        "the replicas shared the work: {counts:?}"
    );

    // At the simulator: every parcel asked about, never twice within the shortest interval.
    let asked = json_of(c.get(format!("{sim}/sim/requests"))).await;
    let asked = asked["numbers"].as_object().unwrap().clone();
    let shortest = shortest_interval().as_millis() as i64;
    for p in &parcels {
        let n = p["number"].as_str().unwrap();
        let a = asked.get(n).unwrap_or_else(|| panic!("{n} never polled"));
        // (A journey over by the first poll is asked about once.)
        if let Some(gap) = a["min_gap_ms"].as_i64() {
            assert!(
                gap >= shortest,
                "{n} polled twice within {gap} ms (interval at least {shortest} ms): {a}"
            );
        }
    }

    // Through the API: each parcel's events are its whole journey at the simulator, each once.
    let mut journey: HashMap<String, Vec<(DateTime<Utc>, String)>> = HashMap::new();
    for p in &parcels {
        let n = p["number"].as_str().unwrap();
        let body = json_of(
            c.get(format!("{sim}/track/shipments?trackingNumber={n}"))
                .header("DHL-API-Key", "demo"),
        )
        .await;
        let mut events: Vec<(DateTime<Utc>, String)> = body["shipments"][0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    instant(&e["timestamp"]),
                    e["description"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        events.sort();
        assert_eq!(events.len(), p["events"].as_u64().unwrap() as usize, "{n}");
        journey.insert(n.to_owned(), events);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut differ = Vec::new();
        for id in &orders {
            let o = json_of(
                c.get(format!("{first}/api/v1/orders/{id}"))
                    .bearer_auth(&key),
            )
            .await;
            for sh in o["shipments"].as_array().unwrap() {
                let n = sh["tracking_number"].as_str().unwrap();
                let mut stored: Vec<(DateTime<Utc>, String)> = sh["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        (
                            instant(&e["occurred_at"]),
                            e["description"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                stored.sort();
                if stored != journey[n] {
                    differ.push(format!("{n}: stored {stored:?}, journey {:?}", journey[n]));
                }
            }
        }
        if differ.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events lost or doubled:\n{}",
            differ.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(replicas);
    eprintln!("replica test took {:?}", begun.elapsed());
}
