//! `parceltrail server --demo` on an empty data directory, on SQLite and on a real
//! PostgreSQL: it prints a key and links, its orders list, the built-in simulator moves their
//! parcels along (the stream shows it), and a second start is the same shop with the same
//! orders.

mod common;

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{ShopServer, client, server_cmd};
use serde_json::Value;

/// What a `--demo` start printed.
struct Printed {
    shop: String,
    key: String,
    lines: Vec<String>,
}

fn start(home: &Path, db: Option<&str>) -> (ShopServer, Printed) {
    let mut cmd = server_cmd(home);
    if let Some(db) = db {
        cmd.args(["--db", db]);
    }
    // Fast enough that parcels move within seconds, slow enough that they are not all
    // delivered before the test looks.
    cmd.args(["--demo", "--listen", "127.0.0.1:0", "--speed", "2000"]);
    let (server, rx) = ShopServer::start_reading(cmd);
    let lines = read_until(&rx, "curl -N");
    let word = |prefix: &str| {
        lines
            .iter()
            .flat_map(|l| l.split_whitespace())
            .find(|w| w.starts_with(prefix))
            .map(|w| w.trim_matches(|c| c == '(' || c == ')' || c == ':' || c == '"'))
            .map(str::to_owned)
    };
    let key = word("ptk_").unwrap_or_else(|| panic!("no key in {lines:#?}"));
    let demo_line = lines
        .iter()
        .find(|l| l.starts_with("Demo shop"))
        .unwrap_or_else(|| panic!("no demo shop in {lines:#?}"));
    let shop = demo_line
        .split(['(', ')'])
        .nth(1)
        .unwrap_or_else(|| panic!("no shop id in {demo_line}"))
        .to_owned();
    (server, Printed { shop, key, lines })
}

fn read_until(rx: &Receiver<String>, end: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = l.trim_start().starts_with(end);
                lines.push(l);
                if done {
                    return lines;
                }
            }
            Err(_) => panic!("the demo printed no {end:?} line: {lines:#?}"),
        }
    }
}

async fn get(c: &reqwest::Client, url: &str, key: &str) -> (u16, Value) {
    let res = c.get(url).bearer_auth(key).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn demo(db: Option<String>) {
    let begun = Instant::now();
    let home = tempfile::tempdir().unwrap();
    let (server, first) = start(home.path(), db.as_deref());
    let base = server.base.clone();
    let c = client();
    assert!(
        first
            .lines
            .iter()
            .any(|l| l.contains(&format!("{base}/setup#"))),
        "the owner's set-up link: {:#?}",
        first.lines
    );
    assert!(
        first
            .lines
            .iter()
            .any(|l| l.contains("curl -s") && l.contains(&first.key)),
        "{:#?}",
        first.lines
    );

    // The demo orders: customers, channels, dates; several with two parcels, all at DHL.
    let (s, list) = get(&c, &format!("{base}/api/v1/orders"), &first.key).await;
    assert_eq!(s, 200, "{list}");
    let orders = list["orders"].as_array().unwrap().clone();
    assert_eq!(orders.len(), 9, "{list}");
    let mut numbers: Vec<&str> = orders
        .iter()
        .map(|o| o["order_number"].as_str().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(numbers[0], "DEMO-1001");
    assert!(orders.iter().all(|o| {
        o["customer"]["email"]
            .as_str()
            .is_some_and(|e| e.ends_with("@example.com"))
            && o["customer"]["name"].is_string()
            && o["customer"]["postcode"].is_string()
            && o["channel"].is_string()
            && o["placed_at"].is_string()
            && o["promised_at"].is_string()
    }));
    let parcels: usize = orders
        .iter()
        .map(|o| o["shipments"].as_array().unwrap().len())
        .sum();
    assert_eq!(parcels, 12);
    assert!(
        orders
            .iter()
            .filter(|o| o["shipments"].as_array().unwrap().len() == 2)
            .count()
            >= 3
    );
    let ids: Vec<String> = orders
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();

    // The stream, from now: the simulator moves parcels along while it is open.
    let mut sse = c
        .get(format!("{base}/api/v1/events"))
        .bearer_auth(&first.key)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);

    // A parcel's status moves: some order's parcel gets its carrier's events.
    let moved = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            for id in &ids {
                let (s, o) = get(&c, &format!("{base}/api/v1/orders/{id}"), &first.key).await;
                assert_eq!(s, 200, "{o}");
                if let Some(sh) = o["shipments"].as_array().unwrap().iter().find(|sh| {
                    sh["events"].as_array().is_some_and(|e| !e.is_empty())
                        && sh["status"] != "pending"
                }) {
                    return sh.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await
    .expect("no demo parcel got an event");
    assert_eq!(moved["carrier"], "dhl");
    // The simulated adapter marks what it stored as the simulator's.
    assert_eq!(moved["events"][0]["source"], "simulator", "{moved}");

    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(40), async {
        while !seen.contains("event: events_added") {
            let chunk = sse.chunk().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no events_added on the stream: {seen}"));
    drop(sse);

    // The metrics count the polls and the events they stored.
    let metrics = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert!(value("parceltrail_polls_total{outcome=\"ok\"}") > 0.0);
    // Carrier health: the simulator's DHL API, asked today, its breaker closed.
    let (s, h) = get(&c, &format!("{base}/api/v1/carriers/health"), &first.key).await;
    assert_eq!(s, 200, "{h}");
    let dhl = h["carriers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["carrier"] == "dhl")
        .unwrap_or_else(|| panic!("no dhl in {h}"));
    assert_eq!(dhl["breaker"], "closed", "{h}");
    assert!(dhl["requests_today"].as_u64().unwrap() > 0, "{h}");
    // Against the budget its API documents, which today's requests are within.
    assert!(
        dhl["budget_today"].as_u64().unwrap() >= dhl["requests_today"].as_u64().unwrap(),
        "{h}"
    );
    assert!(dhl["last_success_at"].is_string(), "{h}");
    assert!(value("parceltrail_ingested_events_total") > 0.0);
    value("parceltrail_polls_due");
    value("parceltrail_notifications_pending");

    // Stopped and started again: the same shop and orders, nothing twice; a new key, and the
    // first still works.
    let (status, _) = server.stop();
    assert!(status.success(), "{status}");
    let (server, again) = start(home.path(), db.as_deref());
    let base = server.base.clone();
    assert_eq!(again.shop, first.shop);
    assert_ne!(again.key, first.key);
    assert!(
        !again.lines.iter().any(|l| l.contains("/setup#")),
        "the set-up link is shown once: {:#?}",
        again.lines
    );
    assert!(
        again
            .lines
            .iter()
            .any(|l| l.contains(&format!("{base}/login")))
    );
    for key in [&first.key, &again.key] {
        let (s, list) = get(&c, &format!("{base}/api/v1/orders"), key).await;
        assert_eq!(s, 200, "{list}");
        let mut now: Vec<String> = list["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        now.sort();
        let mut before = ids.clone();
        before.sort();
        assert_eq!(now, before);
    }
    // Polled again from its saved timeline: no event stored twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in &ids {
        let (_, o) = get(&c, &format!("{base}/api/v1/orders/{id}"), &again.key).await;
        for sh in o["shipments"].as_array().unwrap() {
            let events = sh["events"].as_array().unwrap();
            let mut keys: Vec<String> = events
                .iter()
                .map(|e| format!("{}|{}", e["occurred_at"], e["description"]))
                .collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), events.len(), "an event twice: {sh}");
        }
    }
    let (status, _) = server.stop();
    assert!(status.success());
    eprintln!("demo test took {:?}", begun.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_sqlite() {
    demo(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    demo(Some(db)).await;
}

#[test]
fn a_speed_without_a_simulator_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let out = server_cmd(home.path())
        .args(["--listen", "127.0.0.1:0", "--speed", "100"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--sim URL or --demo"), "{err}");
    let both = server_cmd(home.path())
        .args(["--demo", "--sim", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(
        both.status.code(),
        Some(2),
        "--demo and --sim are one or the other"
    );
}
