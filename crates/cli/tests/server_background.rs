//! The shop server tracks parcels in the background, on SQLite and on a real PostgreSQL: a
//! shop made while it runs (`shop create` on the same database) is picked up, and its orders'
//! parcels get their carrier's events (here a `parceltrail sim`'s), shown on the change stream.

mod common;

use std::time::{Duration, Instant};

use common::{ShopServer, client, server_cmd, start_sim};
use serde_json::{Value, json};

async fn a_shop_made_while_running_is_tracked(db: String) {
    let begun = Instant::now();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Journeys under way at once, polled every few seconds.
    let (_sim, sim) = start_sim(&["--parcels", "4", "--seed", "5", "--speed", "3600"]);
    let mut cmd = server_cmd(h);
    cmd.args([
        "--db",
        &db,
        "--listen",
        "127.0.0.1:0",
        "--sim",
        &sim,
        "--speed",
        "600",
    ]);
    let server = ShopServer::start(cmd, false);
    let made = server_cmd(h)
        .args([
            "--db",
            &db,
            "shop",
            "create",
            "Late Comer",
            "--admin-email",
            "owner@late.example",
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
    let parcels: Value = c
        .get(format!("{sim}/sim/parcels"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shipments: Vec<Value> = parcels
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"tracking_number": p["number"], "carrier": "dhl"}))
        .collect();
    let base = &server.base;
    let mut sse = c
        .get(format!("{base}/api/v1/events"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let res = c
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&key)
        .json(&json!({"order_number": "L-1", "shipments": shipments}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let mut seen = String::new();
    // Started at the shop's first request here (or by the next read of the shop list).
    tokio::time::timeout(Duration::from_secs(30), async {
        while !seen.contains("event: events_added") {
            let chunk = sse.chunk().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the new shop's parcels were not polled: {seen}"));
    assert!(seen.contains("\"source\":\"simulator\""), "{seen}");
    eprintln!("picked up and polled after {:?}", begun.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_made_while_running_is_tracked_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_shop_made_while_running_is_tracked(format!(
        "sqlite:{}",
        dir.path().join("server.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_made_while_running_is_tracked_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    a_shop_made_while_running_is_tracked(db).await;
}
