//! A shop's own carrier account, on SQLite and on a real PostgreSQL, against the carrier
//! simulator speaking DHL's API with its own key: without an account the shop's DHL parcel
//! waits; with a wrong key the poller (started again within a tick) reports DHL refusing it;
//! with the right one the parcel's journey arrives. The key is never shown back, another
//! shop neither sees nor uses it, and removing it stops its use.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ShopServer, client, make_shop, server_cmd, start_sim};
use serde_json::{Value, json};

const SIM_KEY: &str = "the-shops-own-dhl-key";

fn bin(home: &Path, db: &str, sim: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db, "--listen", "127.0.0.1:0"])
        // The shop's DHL account goes to the simulator instead of DHL.
        .env("PARCELTRAIL_DHL_URL", sim);
    c
}

async fn call(
    c: &reqwest::Client,
    base: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = c
        .request(method.parse().unwrap(), format!("{base}/api/v1{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// Waits up to `secs` for `check` to hold on the answer of GET `path`.
async fn until(
    c: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    secs: u64,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, v) = call(c, base, key, "GET", path, None).await;
        if check(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} never came to pass: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn dhl_account(list: &Value) -> Value {
    list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["carrier"] == "dhl")
        .unwrap()
        .clone()
}

async fn a_shop_brings_its_own_carrier_account(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (_sim, sim) = start_sim(&[
        "--parcels",
        "4",
        "--seed",
        "5",
        "--speed",
        "3600",
        "--api-key",
        SIM_KEY,
    ]);
    let a = make_shop(bin(h, &db, &sim), "Alpha", "owner@alpha.example")["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = make_shop(bin(h, &db, &sim), "Beta", "owner@beta.example")["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Its log goes to a file (a pipe nobody reads would fill, and stall the server).
    let log_path = h.join("server.log");
    let mut cmd = bin(h, &db, &sim);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let server = ShopServer { child, base };
    let base = server.base.clone();
    let c = client();
    let parcels: Value = c
        .get(format!("{sim}/sim/parcels"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let numbers: Vec<String> = parcels
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_str().unwrap().to_owned())
        .collect();

    // The list: every carrier that takes an account, with what it needs; none set.
    let (s, list) = call(&c, &base, &a, "GET", "/carriers/accounts", None).await;
    assert_eq!(s, 200, "{list}");
    let ids: Vec<&str> = list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["carrier"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ups", "fedex", "usps", "dhl", "17track"]);
    let dhl = dhl_account(&list);
    assert_eq!(dhl["configured"], false);
    assert_eq!(dhl["in_use"], false);
    assert_eq!(
        dhl["fields"],
        json!([{"name": "api_key", "label": "API key", "secret": true}])
    );

    let order = |n: &str, number: &str| json!({"order_number": n, "shipments": [{"tracking_number": number, "carrier": "dhl"}]});
    let (s, alpha) = call(
        &c,
        &base,
        &a,
        "POST",
        "/orders",
        Some(order("A-1", &numbers[0])),
    )
    .await;
    assert_eq!(s, 201, "{alpha}");
    let alpha = format!("/orders/{}", alpha["id"].as_str().unwrap());
    let (_, beta) = call(
        &c,
        &base,
        &b,
        "POST",
        "/orders",
        Some(order("B-1", &numbers[1])),
    )
    .await;
    let beta = format!("/orders/{}", beta["id"].as_str().unwrap());

    // Refusals name what is wrong; nothing is kept.
    for (path, body, status, words) in [
        (
            "/carriers/accounts/dhl",
            json!({"fields": {}}),
            422,
            "needs its API key (api_key)",
        ),
        (
            "/carriers/accounts/dhl",
            json!({"fields": {"client_id": "x"}}),
            422,
            "no credential field \"client_id\"",
        ),
        (
            "/carriers/accounts/dhl",
            json!({"fields": {"api_key": "a\u{7}b"}}),
            422,
            "control character",
        ),
        (
            "/carriers/accounts/royalmail",
            json!({"fields": {"api_key": "x"}}),
            404,
            "ups, fedex, usps, dhl, 17track",
        ),
    ] {
        let (s, body) = call(&c, &base, &a, "PUT", path, Some(body)).await;
        assert_eq!(s, status, "{body}");
        assert!(body["detail"].as_str().unwrap().contains(words), "{body}");
    }

    // A wrong key: the poller starts again with it, and DHL (the simulator) refuses it.
    let (s, set) = call(
        &c,
        &base,
        &a,
        "PUT",
        "/carriers/accounts/dhl",
        Some(json!({"fields": {"api_key": "not-the-key"}})),
    )
    .await;
    assert_eq!(s, 200, "{set}");
    assert_eq!(set["configured"], true);
    assert_eq!(set["set_by"], "the API key “first key”", "{set}");
    let health = until(&c, &base, &a, "/carriers/health", 60, |v| {
        v["carriers"].as_array().is_some_and(|l| {
            l.iter()
                .any(|x| x["carrier"] == "dhl" && x["last_error"].is_string())
        })
    })
    .await;
    eprintln!("with a wrong key: {health}");

    // The right key: the parcel's journey arrives.
    let (s, _) = call(
        &c,
        &base,
        &a,
        "PUT",
        "/carriers/accounts/dhl",
        Some(json!({"fields": {"api_key": SIM_KEY}})),
    )
    .await;
    assert_eq!(s, 200);
    until(&c, &base, &a, &alpha, 60, |o| {
        o["shipments"][0]["last_event_at"].is_string()
    })
    .await;
    let list = until(&c, &base, &a, "/carriers/accounts", 20, |l| {
        dhl_account(l)["in_use"] == true
    })
    .await;
    assert!(
        !list.to_string().contains(SIM_KEY),
        "never shown back: {list}"
    );

    // The other shop sees no account, and its parcel is not asked about with Alpha's.
    let (_, theirs) = call(&c, &base, &b, "GET", "/carriers/accounts", None).await;
    assert_eq!(dhl_account(&theirs)["configured"], false);
    assert_eq!(dhl_account(&theirs)["in_use"], false);
    let (_, o) = call(&c, &base, &b, "GET", &beta, None).await;
    assert!(o["shipments"][0]["last_event_at"].is_null(), "{o}");
    let (s, _) = call(&c, &base, &b, "DELETE", "/carriers/accounts/dhl", None).await;
    assert_eq!(s, 404);

    // Removed: the server has no DHL account of its own, so DHL is not asked any more.
    let (s, _) = call(&c, &base, &a, "DELETE", "/carriers/accounts/dhl", None).await;
    assert_eq!(s, 204);
    until(&c, &base, &a, "/carriers/accounts", 30, |l| {
        dhl_account(l)["in_use"] == false && dhl_account(l)["configured"] == false
    })
    .await;
    server.stop();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("carrier account set"), "{log}");
    assert!(
        !log.contains(SIM_KEY) && !log.contains("not-the-key"),
        "a key in the log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_brings_its_own_carrier_account_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_shop_brings_its_own_carrier_account(format!("sqlite:{}", dir.path().join("s.db").display()))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_brings_its_own_carrier_account_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    a_shop_brings_its_own_carrier_account(db).await;
}
