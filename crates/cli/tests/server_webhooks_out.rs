//! Webhooks out through the binary: a shop subscribes a receiver on this machine, and
//! deliveries arrive signed (checked here with an HMAC of our own), retried after a failure,
//! listed with their attempts, replayed. Without `--allow-private-targets` the same receiver
//! cannot be subscribed by address, and a name that resolves to it is refused at send time.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{ShopServer, client, server_cmd};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// What the receiver was sent.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: String,
}

/// A webhook receiver on 127.0.0.1: `/ok` answers 200, `/flaky` 500 the first time and 200
/// after, `/redirect` a 302 to `/ok`.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let app = axum::Router::new().fallback(hook).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, format!("127.0.0.1:{port}"))
    }

    fn on(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` got `n` requests.
    async fn wait_for(&self, path: &str, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.on(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path} got {} requests, not {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn hook(State(r): State<Receiver>, uri: Uri, headers: HeaderMap, body: String) -> Response {
    let path = uri.path().to_owned();
    let seen = {
        let mut got = r.got.lock().unwrap();
        got.push(Received {
            path: path.clone(),
            headers,
            body,
        });
        got.iter().filter(|g| g.path == path).count()
    };
    match path.as_str() {
        "/flaky" if seen == 1 => (StatusCode::INTERNAL_SERVER_ERROR, "boom\n").into_response(),
        "/redirect" => (StatusCode::FOUND, [("location", "/ok")], "").into_response(),
        _ => (StatusCode::OK, "thanks").into_response(),
    }
}

/// The Standard Webhooks signature, computed here independently of the server.
fn signature(secret: &str, id: &str, timestamp: &str, body: &str) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Checks a delivery's headers and signature; its payload.
fn verify(r: &Received, secret: &str) -> Value {
    let h = |name: &str| r.headers[name].to_str().unwrap().to_owned();
    let id = h("webhook-id");
    let ts = h("webhook-timestamp");
    let sent: i64 = ts.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent).abs() < 60, "{ts}");
    assert_eq!(h("webhook-signature"), signature(secret, &id, &ts, &r.body));
    assert_eq!(h("content-type"), "application/json");
    assert!(h("user-agent").starts_with("Parceltrail-Webhooks/"));
    let payload: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(payload["id"], id.as_str());
    payload
}

fn bin(home: &Path, db: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db]);
    c
}

fn create_shop(home: &Path, db: &str) -> (String, String) {
    let o = bin(home, db)
        .args([
            "shop",
            "create",
            "Trailhead",
            "--admin-email",
            "owner@trailhead.example",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        v["shop_id"].as_str().unwrap().to_owned(),
        v["api_key"].as_str().unwrap().to_owned(),
    )
}

fn serve(home: &Path, db: &str, args: &[&str]) -> ShopServer {
    let mut cmd = bin(home, db);
    cmd.args(["--listen", "127.0.0.1:0"]).args(args);
    ShopServer::start(cmd, false)
}

struct Api {
    c: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self
            .c
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, url: &str, types: &[&str]) -> (u16, Value) {
        self.call(
            "POST",
            "/webhooks",
            Some(json!({"url": url, "description": "test receiver", "event_types": types})),
        )
        .await
    }

    async fn deliveries(&self, webhook: &str) -> Vec<Value> {
        let (s, v) = self
            .call("GET", &format!("/webhooks/{webhook}/deliveries"), None)
            .await;
        assert_eq!(s, 200, "{v}");
        v["deliveries"].as_array().unwrap().clone()
    }

    /// Waits until the delivery satisfies `done`; it then.
    async fn wait_delivery(
        &self,
        webhook: &str,
        id: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .deliveries(webhook)
                .await
                .into_iter()
                .find(|d| d["id"] == id)
                .expect("the delivery is listed");
            if done(&found) {
                return found;
            }
            assert!(Instant::now() < deadline, "the delivery stayed {found}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn delivered_signed_retried_and_replayed(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (shop, key) = create_shop(h, &db);
    let (rx, addr) = Receiver::start().await;
    let server = serve(h, &db, &["--allow-private-targets"]);
    let api = Api {
        c: client(),
        base: server.base.clone(),
        key,
    };

    // Subscribed by address: the secret is shown once, never in a listing.
    let (s, made) = api
        .create(&format!("http://{addr}/ok"), &["webhook.test"])
        .await;
    assert_eq!(s, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 30,
        "{secret}"
    );
    let webhook = made["webhook"]["id"].as_str().unwrap().to_owned();
    assert_eq!(made["webhook"]["event_types"], json!(["webhook.test"]));
    let (s, listed) = api.call("GET", "/webhooks", None).await;
    assert_eq!(s, 200);
    assert_eq!(listed["webhooks"][0]["id"], webhook.as_str());
    assert!(!listed.to_string().contains(&secret));

    // A test event arrives once, signed.
    let (s, d) = api
        .call("POST", &format!("/webhooks/{webhook}/test"), None)
        .await;
    assert_eq!(s, 202, "{d}");
    let delivery = d["id"].as_str().unwrap().to_owned();
    let got = rx.wait_for("/ok", 1, Duration::from_secs(15)).await;
    let payload = verify(&got[0], &secret);
    assert_eq!(payload["type"], "webhook.test");
    assert_eq!(payload["shop_id"], shop.as_str());
    assert_eq!(payload["data"]["webhook_id"], webhook.as_str());
    assert_eq!(payload["id"], d["event_id"]);
    let first_timestamp = got[0].headers["webhook-timestamp"].clone();
    let d = api
        .wait_delivery(&webhook, &delivery, Duration::from_secs(10), |d| {
            d["state"] == "delivered"
        })
        .await;
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["attempt_log"].as_array().unwrap().len(), 1);
    assert_eq!(d["attempt_log"][0]["status"], 200);
    assert!(d["last_error"].is_null());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rx.on("/ok").len(),
        1,
        "the test event arrived more than once"
    );

    // A receiver that fails once: the failure is in the log, the retry 5 s later succeeds.
    let (s, flaky) = api.create(&format!("http://{addr}/flaky"), &[]).await;
    assert_eq!(s, 201, "{flaky}");
    let flaky_secret = flaky["secret"].as_str().unwrap().to_owned();
    let flaky = flaky["webhook"]["id"].as_str().unwrap().to_owned();
    let (_, d) = api
        .call("POST", &format!("/webhooks/{flaky}/test"), None)
        .await;
    let flaky_delivery = d["id"].as_str().unwrap().to_owned();
    let d = api
        .wait_delivery(&flaky, &flaky_delivery, Duration::from_secs(15), |d| {
            d["attempts"] == 1 && d["state"] == "pending"
        })
        .await;
    assert_eq!(d["last_status"], 500, "{d}");
    assert_eq!(d["last_error"], "HTTP 500: boom", "{d}");
    assert!(!d["next_attempt_at"].is_null());
    let got = rx.wait_for("/flaky", 2, Duration::from_secs(20)).await;
    // The retry is the same event, signed anew.
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    verify(&got[1], &flaky_secret);
    let d = api
        .wait_delivery(&flaky, &flaky_delivery, Duration::from_secs(10), |d| {
            d["state"] == "delivered"
        })
        .await;
    let log = d["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{d}");
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[1]["status"], 500);
    assert_eq!(log[1]["error"], "HTTP 500: boom");

    // Replayed: the same event again, a new series.
    let (s, r) = api
        .call(
            "POST",
            &format!("/webhooks/{webhook}/deliveries/{delivery}/replay"),
            None,
        )
        .await;
    assert_eq!(s, 202, "{r}");
    let got = rx.wait_for("/ok", 2, Duration::from_secs(15)).await;
    assert_eq!(got[1].headers["webhook-id"], got[0].headers["webhook-id"]);
    let again = verify(&got[1], &secret);
    assert_eq!(again, payload, "a replay sends the same body");
    let _ = first_timestamp;
    let d = api
        .wait_delivery(&webhook, &delivery, Duration::from_secs(10), |d| {
            d["state"] == "delivered" && d["attempt_log"].as_array().unwrap().len() == 2
        })
        .await;
    assert_eq!(d["attempts"], 1);

    // A new secret signs from now on; the old one no longer verifies.
    let (s, rotated) = api
        .call("POST", &format!("/webhooks/{webhook}/rotate-secret"), None)
        .await;
    assert_eq!(s, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    api.call("POST", &format!("/webhooks/{webhook}/test"), None)
        .await;
    let got = rx.wait_for("/ok", 3, Duration::from_secs(15)).await;
    verify(&got[2], &new_secret);
    let h = |name: &str| got[2].headers[name].to_str().unwrap().to_owned();
    assert_ne!(
        h("webhook-signature"),
        signature(
            &secret,
            &h("webhook-id"),
            &h("webhook-timestamp"),
            &got[2].body
        )
    );

    // A redirect is not followed: a failure naming where it led.
    let (_, redirect) = api.create(&format!("http://{addr}/redirect"), &[]).await;
    let redirect = redirect["webhook"]["id"].as_str().unwrap().to_owned();
    let (_, d) = api
        .call("POST", &format!("/webhooks/{redirect}/test"), None)
        .await;
    let d = api
        .wait_delivery(
            &redirect,
            d["id"].as_str().unwrap(),
            Duration::from_secs(15),
            |d| d["attempts"] == 1 && d["state"] == "pending",
        )
        .await;
    assert_eq!(d["last_status"], 302);
    assert!(
        d["last_error"]
            .as_str()
            .unwrap()
            .contains("redirected to /ok"),
        "{d}"
    );
    assert_eq!(rx.on("/ok").len(), 3, "the redirect was followed");

    // Disabled: a test is refused; deleted: gone with its deliveries.
    let (s, off) = api
        .call(
            "PATCH",
            &format!("/webhooks/{redirect}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, 200, "{off}");
    assert_eq!(off["enabled"], false);
    assert!(off["disabled_reason"].is_string());
    let (s, _) = api
        .call("POST", &format!("/webhooks/{redirect}/test"), None)
        .await;
    assert_eq!(s, 409);
    let (s, _) = api
        .call("DELETE", &format!("/webhooks/{redirect}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = api
        .call("GET", &format!("/webhooks/{redirect}/deliveries"), None)
        .await;
    assert_eq!(s, 404);

    // The operator's metrics count the outcomes.
    let metrics = api
        .c
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("parceltrail_webhook_deliveries_total{outcome=\"delivered\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("parceltrail_webhook_queue_depth"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_and_replayed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    delivered_signed_retried_and_replayed(format!("sqlite:{}", dir.path().join("s.db").display()))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_and_replayed_on_postgres() {
    delivered_signed_retried_and_replayed(
        parceltrail_shop::testing::postgres().fresh_database().await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_private_targets_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let db = format!("sqlite:{}", h.join("s.db").display());
    let (shop, key) = create_shop(h, &db);
    let (rx, addr) = Receiver::start().await;
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let server = serve(h, &db, &[]);
    let api = Api {
        c: client(),
        base: server.base.clone(),
        key,
    };
    // By address: refused when made, with the reason.
    for url in [
        format!("http://{addr}/ok"),
        format!("http://[::1]:{port}/ok"),
        "http://10.0.0.7/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        "http://0x7f.1/".to_owned(),
        "http://2130706433/".to_owned(),
    ] {
        let (s, p) = api.create(&url, &[]).await;
        assert_eq!(s, 422, "{url}: {p}");
        assert!(
            p["detail"].as_str().unwrap().contains("private"),
            "{url}: {p}"
        );
    }
    // Other bad URLs: 422 saying what is wrong.
    for url in [
        "ftp://shop.example/",
        "https://u:p@shop.example/",
        "not a url",
    ] {
        let (s, p) = api.create(url, &[]).await;
        assert_eq!(s, 422, "{url}: {p}");
    }
    // A public address is taken.
    let (s, p) = api.create("https://93.184.215.14/hook", &[]).await;
    assert_eq!(s, 201, "{p}");
    let public = p["webhook"]["id"].as_str().unwrap().to_owned();
    // Not moved to a private one either.
    let (s, p) = api
        .call(
            "PATCH",
            &format!("/webhooks/{public}"),
            Some(json!({"url": format!("http://{addr}/ok")})),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let (s, _) = api
        .call("DELETE", &format!("/webhooks/{public}"), None)
        .await;
    assert_eq!(s, 204);

    // By a name that resolves to loopback: taken, and refused when sent, in the log.
    let (s, made) = api
        .create(&format!("http://localhost:{port}/ok"), &[])
        .await;
    assert_eq!(s, 201, "{made}");
    let webhook = made["webhook"]["id"].as_str().unwrap().to_owned();
    let (_, d) = api
        .call("POST", &format!("/webhooks/{webhook}/test"), None)
        .await;
    let d = api
        .wait_delivery(
            &webhook,
            d["id"].as_str().unwrap(),
            Duration::from_secs(15),
            |d| d["attempts"] == 1 && d["state"] == "pending",
        )
        .await;
    assert_eq!(
        d["last_error"], "refused: localhost resolves to a private address",
        "{d}"
    );
    assert!(d["last_status"].is_null());
    assert_eq!(d["attempt_log"][0]["error"], d["last_error"]);
    assert!(
        rx.got.lock().unwrap().is_empty(),
        "the receiver was reached"
    );

    // Reading needs `read`, changing needs `write`.
    let o = bin(h, &db)
        .args([
            "key", "create", "--shop", &shop, "--scopes", "read", "--json",
        ])
        .output()
        .unwrap();
    let reader: Value = serde_json::from_slice(&o.stdout).unwrap();
    let reader = Api {
        c: client(),
        base: server.base.clone(),
        key: reader["api_key"].as_str().unwrap().to_owned(),
    };
    let (s, _) = reader.call("GET", "/webhooks", None).await;
    assert_eq!(s, 200);
    let (s, _) = reader
        .call("GET", &format!("/webhooks/{webhook}/deliveries"), None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = reader.create("https://shop.example/hook", &[]).await;
    assert_eq!(s, 403);
    let (s, _) = reader
        .call("POST", &format!("/webhooks/{webhook}/test"), None)
        .await;
    assert_eq!(s, 403);
}

/// The setting's layers: the flag over the variable over the config file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setting_comes_from_flag_variable_or_config() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let db = format!("sqlite:{}", h.join("s.db").display());
    let (_, key) = create_shop(h, &db);
    let config = h.join("server.toml");
    std::fs::write(
        &config,
        "allow_private_targets = true\nwebhook_concurrency = 0\n",
    )
    .unwrap();
    let url = "http://127.0.0.1:9/hook";
    let mut cases: Vec<(Vec<&str>, HashMap<&str, &str>, u16)> = vec![
        (vec![], HashMap::new(), 422),
        (
            vec!["--config", config.to_str().unwrap()],
            HashMap::new(),
            201,
        ),
        (
            vec![],
            HashMap::from([("PARCELTRAIL_SERVER_ALLOW_PRIVATE_TARGETS", "true")]),
            201,
        ),
        (
            vec!["--allow-private-targets=false"],
            HashMap::from([("PARCELTRAIL_SERVER_ALLOW_PRIVATE_TARGETS", "true")]),
            422,
        ),
        (
            vec!["--config", config.to_str().unwrap()],
            HashMap::from([("PARCELTRAIL_SERVER_ALLOW_PRIVATE_TARGETS", "0")]),
            422,
        ),
    ];
    for (args, env, expected) in cases.drain(..) {
        let mut cmd = bin(h, &db);
        cmd.args(["--listen", "127.0.0.1:0", "--webhook-concurrency", "0"])
            .args(&args)
            .envs(&env);
        let server = ShopServer::start(cmd, false);
        let api = Api {
            c: client(),
            base: server.base.clone(),
            key: key.clone(),
        };
        let (s, p) = api.create(url, &[]).await;
        assert_eq!(s, expected, "{args:?} {env:?}: {p}");
        if s == 201 {
            let id = p["webhook"]["id"].as_str().unwrap();
            api.call("DELETE", &format!("/webhooks/{id}"), None).await;
        }
    }
    // A bad value is refused before the server starts.
    let o = bin(h, &db)
        .args(["--allow-private-targets=maybe"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    std::fs::write(&config, "webhook_concurrency = 100000\n").unwrap();
    let o = bin(h, &db)
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("webhook_concurrency"));
}

/// Two servers on one PostgreSQL share the sending: every event arrives once, whichever
/// server it was enqueued on and whichever sent it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_send_each_delivery_once() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (_, key) = create_shop(h, &db);
    let (rx, addr) = Receiver::start().await;
    // One key file for both, as replicas must share it.
    let key_file = h.join("shared.key");
    let key_file = key_file.to_str().unwrap();
    let a = serve(
        h,
        &db,
        &["--allow-private-targets", "--secret-key-file", key_file],
    );
    let b = serve(
        h,
        &db,
        &["--allow-private-targets", "--secret-key-file", key_file],
    );
    let api = |base: &str| Api {
        c: client(),
        base: base.to_owned(),
        key: key.clone(),
    };
    let (api_a, api_b) = (api(&a.base), api(&b.base));
    let (s, made) = api_a.create(&format!("http://{addr}/ok"), &[]).await;
    assert_eq!(s, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    let webhook = made["webhook"]["id"].as_str().unwrap().to_owned();
    const EVENTS: usize = 20;
    for i in 0..EVENTS {
        let on = if i % 2 == 0 { &api_a } else { &api_b };
        let (s, d) = on
            .call("POST", &format!("/webhooks/{webhook}/test"), None)
            .await;
        assert_eq!(s, 202, "{d}");
    }
    let got = rx.wait_for("/ok", EVENTS, Duration::from_secs(30)).await;
    // Both servers' signatures verify: they share the key.
    for r in &got {
        verify(r, &secret);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = rx.on("/ok");
    let ids: std::collections::HashSet<String> = got
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), EVENTS);
    assert_eq!(got.len(), EVENTS, "an event was sent twice");
    let all = api_b.deliveries(&webhook).await;
    assert_eq!(all.len(), EVENTS);
    assert!(
        all.iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1)
    );
}

/// A shop's own changes become events for its endpoints: a parcel's status moves, and the
/// endpoint that takes status changes hears it once, signed, with what changed.
async fn shop_changes_reach_subscribed_endpoints(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (_shop, key) = create_shop(h, &db);
    let (rx, addr) = Receiver::start().await;
    let server = serve(h, &db, &["--allow-private-targets"]);
    let api = Api {
        c: client(),
        base: server.base.clone(),
        key,
    };
    let (s, made) = api
        .create(
            &format!("http://{addr}/status"),
            &["shipment.status_changed"],
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    let (s, all) = api.create(&format!("http://{addr}/all"), &[]).await;
    assert_eq!(s, 201, "{all}");
    let (s, order) = api
        .call(
            "POST",
            "/orders",
            Some(json!({"order_number": "W-1", "shipments": [{"tracking_number": "1Z999AA10123456784"}]})),
        )
        .await;
    assert_eq!(s, 201, "{order}");
    let ship = order["shipments"][0]["id"].as_str().unwrap().to_owned();
    let (s, sh) = api
        .call(
            "POST",
            &format!("/shipments/{ship}/events"),
            Some(json!({"status": "out_for_delivery", "description": "With our driver"})),
        )
        .await;
    assert_eq!(s, 201, "{sh}");
    let got = rx.wait_for("/status", 1, Duration::from_secs(15)).await;
    let payload = verify(&got[0], &secret);
    assert_eq!(payload["type"], "shipment.status_changed");
    assert_eq!(payload["data"]["shipment_id"], json!(ship));
    assert_eq!(payload["data"]["order_id"], order["id"]);
    assert_eq!(payload["data"]["change"]["to"], "out_for_delivery");
    // The endpoint that takes every type heard the order, the parcel and its event too.
    let every = rx.wait_for("/all", 4, Duration::from_secs(15)).await;
    let types: Vec<String> = every
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for t in [
        "order.created",
        "shipment.added",
        "shipment.events_added",
        "shipment.status_changed",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} not in {types:?}");
    }
    // After a restart nothing is sent again.
    drop(server);
    let _server = serve(h, &db, &["--allow-private-targets"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rx.on("/status").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_changes_reach_subscribed_endpoints_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    shop_changes_reach_subscribed_endpoints(format!(
        "sqlite:{}",
        dir.path().join("s.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_changes_reach_subscribed_endpoints_on_postgres() {
    shop_changes_reach_subscribed_endpoints(
        parceltrail_shop::testing::postgres().fresh_database().await,
    )
    .await;
}
