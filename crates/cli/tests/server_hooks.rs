//! Carrier webhooks into the shop server, with bodies in each sender's documented format, on
//! SQLite and on a real PostgreSQL: a good signature is stored once however often it comes;
//! bad, stale and replayed ones are refused with nothing stored; what arrives shows at once
//! on the change stream.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::{ShopServer, client, server_cmd};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const NUMBER: &str = "1Z999AA10123456784";
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn data(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shop/tests/data/hooks")
            .join(name),
    )
    .unwrap()
}

fn bin(home: &Path, db: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db]);
    c
}

struct Env {
    c: reqwest::Client,
    base: String,
    key: String,
    shop: String,
}

impl Env {
    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .c
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1{path}", self.base),
            )
            .bearer_auth(&self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(Value::Null))
    }

    async fn hook(&self, source: &str, body: &str, headers: &[(&str, String)]) -> (u16, Value) {
        let mut r = self
            .c
            .post(format!("{}/hooks/{}/{source}", self.base, self.shop))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        let res = r.send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(Value::Null))
    }

    /// Order A-1 in full.
    async fn order(&self) -> Value {
        let (s, o) = self.api("GET", "/orders?q=A-1", None).await;
        assert_eq!(s, 200);
        let id = o["orders"][0]["id"].as_str().unwrap().to_owned();
        self.api("GET", &format!("/orders/{id}"), None).await.1
    }

    async fn events(&self) -> Vec<Value> {
        self.order().await["shipments"][0]["events"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn standard_headers(id: &str, ts: i64, body: &str, secret: &str) -> Vec<(&'static str, String)> {
    let sig = parceltrail_shop::hooks::sign_standard(secret, id, ts, body.as_bytes()).unwrap();
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig),
    ]
}

async fn webhooks(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let o = bin(h, &db)
        .args([
            "shop",
            "create",
            "Trailhead",
            "--admin-email",
            "o@trailhead.example",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut cmd = bin(h, &db);
    cmd.args(["--listen", "127.0.0.1:0"]);
    let server = ShopServer::start(cmd, false);
    let env = Env {
        c: client(),
        base: server.base.clone(),
        key: made["api_key"].as_str().unwrap().to_owned(),
        shop: made["shop_id"].as_str().unwrap().to_owned(),
    };
    let (s, _) = env
        .api(
            "POST",
            "/orders",
            Some(json!({"order_number": "A-1", "shipments": [{"tracking_number": NUMBER}]})),
        )
        .await;
    assert_eq!(s, 201);

    // Nothing is accepted before the shop sets a secret.
    let standard = json!({"tracking_number": NUMBER, "carrier": "ups", "events": [
        {"occurred_at": "2026-12-01T07:45:00+01:00", "status": "out_for_delivery",
         "description": "Out for delivery", "location": {"city": "Berlin", "country": "DE"}}]})
    .to_string();
    let now = chrono::Utc::now().timestamp();
    let (s, p) = env
        .hook(
            "standard",
            &standard,
            &standard_headers("msg_1", now, &standard, STANDARD_SECRET),
        )
        .await;
    assert_eq!(s, 401, "{p}");

    // Secrets: a Standard one must be whsec_ + base64; none is ever shown again.
    let (s, p) = env
        .api("PUT", "/hooks/standard", Some(json!({"secret": "hunter2"})))
        .await;
    assert_eq!(s, 422, "{p}");
    for (source, secret) in [
        ("standard", STANDARD_SECRET),
        ("17track", "my-17track-key"),
        ("aftership", "as-webhook-secret"),
    ] {
        let (s, p) = env
            .api(
                "PUT",
                &format!("/hooks/{source}"),
                Some(json!({"secret": secret})),
            )
            .await;
        assert_eq!(s, 200, "{p}");
        assert!(!p.to_string().contains(secret), "{p}");
    }
    let (_, list) = env.api("GET", "/hooks", None).await;
    assert!(
        list["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["configured"] == true),
        "{list}"
    );
    assert!(
        list["hooks"][0]["url"]
            .as_str()
            .unwrap()
            .contains(&env.shop)
    );
    let (s, _) = env
        .api("PUT", "/hooks/fedex", Some(json!({"secret": "x"})))
        .await;
    assert_eq!(s, 404);
    // Nothing delivered yet: carrier health says so for each source set up.
    let (s, h) = env.api("GET", "/carriers/health", None).await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["webhooks"].as_array().unwrap().len(), 3, "{h}");
    assert!(
        h["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["last_received_at"].is_null()),
        "{h}"
    );

    // The seed's test: "Out for delivery" arrives, is stored, and shows at once on the stream.
    let mut sse = env
        .c
        .get(format!("{}/api/v1/events", env.base))
        .bearer_auth(&env.key)
        .send()
        .await
        .unwrap();
    let (s, r) = env
        .hook(
            "standard",
            &standard,
            &standard_headers("msg_1", now, &standard, STANDARD_SECRET),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["stored"], 1);
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !seen.contains("event: status_changed") {
            seen.push_str(&String::from_utf8_lossy(
                &sse.chunk().await.unwrap().unwrap(),
            ));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not on the stream: {seen}"));
    assert!(seen.contains("\"to\":\"out_for_delivery\""), "{seen}");
    drop(sse);
    let events = env.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status"], "out_for_delivery");
    assert_eq!(events[0]["source"], "webhook");
    // And the news is derived at once, as a poll's is: the parcel is expected today.
    let mut estimate = Value::Null;
    for _ in 0..100 {
        estimate = env.order().await["shipments"][0]["estimate"].clone();
        if estimate["source"] == "out_for_delivery" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(estimate["source"], "out_for_delivery", "{estimate}");

    // The same message again: refused as a replay, nothing stored twice.
    let (s, p) = env
        .hook(
            "standard",
            &standard,
            &standard_headers("msg_1", now, &standard, STANDARD_SECRET),
        )
        .await;
    assert_eq!(
        (s, p["type"].as_str()),
        (409, Some("urn:parceltrail:problem:replayed")),
        "{p}"
    );
    // The same scan in a new message: accepted, and still one event.
    let (s, r) = env
        .hook(
            "standard",
            &standard,
            &standard_headers("msg_2", now, &standard, STANDARD_SECRET),
        )
        .await;
    assert_eq!(
        (s, &r["stored"], &r["duplicates"]),
        (200, &json!(0), &json!(1)),
        "{r}"
    );
    // Bad, stale, missing and wrong-secret signatures: 401 and nothing stored.
    let delivered = json!({"tracking_number": NUMBER, "events": [
        {"occurred_at": "2026-12-01T11:02:00+01:00", "status": "delivered", "description": "Delivered"}]})
    .to_string();
    let mut forged = standard_headers("msg_3", now, &delivered, STANDARD_SECRET);
    forged[2].1 = standard_headers("msg_3", now, &standard, STANDARD_SECRET)[2]
        .1
        .clone();
    let other_secret =
        "whsec_".to_owned() + &base64::engine::general_purpose::STANDARD.encode([7u8; 24]);
    for (why, headers) in [
        ("signature of another body", forged),
        (
            "ten minutes old",
            standard_headers("msg_4", now - 600, &delivered, STANDARD_SECRET),
        ),
        (
            "another secret",
            standard_headers("msg_5", now, &delivered, &other_secret),
        ),
        (
            "no signature",
            standard_headers("msg_6", now, &delivered, STANDARD_SECRET)[..2].to_vec(),
        ),
    ] {
        let (s, p) = env.hook("standard", &delivered, &headers).await;
        assert_eq!(s, 401, "{why}: {p}");
        assert_eq!(
            p["type"], "urn:parceltrail:problem:bad-signature",
            "{why}: {p}"
        );
    }
    assert_eq!(env.events().await.len(), 1);
    // A well-signed body that is not a Parceltrail event: 422 saying where.
    let bad = json!({"tracking_number": NUMBER, "events": [{"occurred_at": "yesterday", "status": "delivered"}]}).to_string();
    let (s, p) = env
        .hook(
            "standard",
            &bad,
            &standard_headers("msg_7", now, &bad, STANDARD_SECRET),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("events[0].occurred_at"),
        "{p}"
    );
    // Too large: 413.
    let huge = "x".repeat((1 << 20) + 1000);
    let (s, _) = env
        .hook(
            "standard",
            &huge,
            &standard_headers("msg_8", now, &huge, STANDARD_SECRET),
        )
        .await;
    assert_eq!(s, 413);
    // Another shop's id, or none: the same refusal as a wrong signature; a source we do not
    // take: 404.
    let (s, _) = env
        .c
        .post(format!(
            "{}/hooks/{}/standard",
            env.base,
            uuid::Uuid::now_v7()
        ))
        .body(standard.clone())
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s, 401);
    let (s, _) = env.hook("fedex", &standard, &[]).await;
    assert_eq!(s, 404);

    // 17TRACK: sign = hex SHA-256 of body + "/" + key. Sent twice, stored once.
    let body = data("17track_tracking_updated.json");
    let sign = hex::encode(Sha256::digest(format!("{body}/my-17track-key")));
    let (s, r) = env.hook("17track", &body, &[("sign", sign.clone())]).await;
    assert_eq!(s, 200, "{r}");
    let stored = r["stored"].as_u64().unwrap();
    assert!(stored >= 2, "{r}");
    let (s, r) = env.hook("17track", &body, &[("sign", sign)]).await;
    assert_eq!((s, r["stored"].as_u64()), (200, Some(0)), "{r}");
    let (s, _) = env
        .hook(
            "17track",
            &body,
            &[("sign", hex::encode(Sha256::digest(body.as_bytes())))],
        )
        .await;
    assert_eq!(s, 401);
    let after_17 = env.events().await.len();
    assert_eq!(after_17 as u64, 1 + stored);

    // AfterShip: base64 HMAC-SHA256 of the body. Its number replaced by ours.
    let sample: Value = serde_json::from_str(&data("aftership_tracking_update.json")).unwrap();
    let theirs = sample["msg"]["tracking_number"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = data("aftership_tracking_update.json").replace(&theirs, NUMBER);
    let mut mac = Hmac::<Sha256>::new_from_slice(b"as-webhook-secret").unwrap();
    mac.update(body.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let (s, r) = env
        .hook(
            "aftership",
            &body,
            &[("aftership-hmac-sha256", sig.clone())],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert!(r["stored"].as_u64().unwrap() >= 1, "{r}");
    let (s, _) = env
        .hook("aftership", &body, &[("aftership-hmac-sha256", sig)])
        .await;
    assert_eq!(s, 409, "AfterShip's event_id is remembered");
    let (s, _) = env
        .hook(
            "aftership",
            &body,
            &[("aftership-hmac-sha256", "AAAA".into())],
        )
        .await;
    assert_eq!(s, 401);
    // A number the shop does not track: acknowledged (so the sender stops), nothing stored.
    let stranger = json!({"tracking_number": "1Z5R89390000000019", "events": [
        {"occurred_at": "2026-12-01T07:45:00Z", "status": "in_transit"}]})
    .to_string();
    let (s, r) = env
        .hook(
            "standard",
            &stranger,
            &standard_headers("msg_9", now, &stranger, STANDARD_SECRET),
        )
        .await;
    assert_eq!(
        (s, &r["unknown"]),
        (200, &json!(["1Z5R89390000000019"])),
        "{r}"
    );

    // Carrier health and the hooks list say when the Standard source last delivered.
    let (_, h) = env.api("GET", "/carriers/health", None).await;
    let standard_at = |v: &Value, list: &str| {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["source"] == "standard")
            .and_then(|w| w["last_received_at"].as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
    };
    let at = standard_at(&h, "webhooks").unwrap_or_else(|| panic!("{h}"));
    assert!((at - chrono::Utc::now().timestamp()).abs() < 300, "{h}");
    let (_, list) = env.api("GET", "/hooks", None).await;
    assert_eq!(standard_at(&list, "hooks"), Some(at), "{list}");

    // Removing a secret refuses that source again.
    let (s, _) = env.api("DELETE", "/hooks/standard", None).await;
    assert_eq!(s, 204);
    let (s, _) = env
        .hook(
            "standard",
            &standard,
            &standard_headers("msg_10", now, &standard, STANDARD_SECRET),
        )
        .await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    webhooks(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    webhooks(db).await;
}

/// A valid UPS number (1Z, 15 characters, mod 10 check digit) for parcel `i`.
fn ups(i: usize) -> String {
    let serial = format!("5R8939{i:09}");
    let total: u32 = serial
        .bytes()
        .enumerate()
        .map(|(k, c)| {
            let v = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                (u32::from(c) - 3) % 10
            };
            v * if k % 2 == 0 { 1 } else { 2 }
        })
        .sum();
    format!("1Z{serial}{}", (10 - total % 10) % 10)
}

/// Many deliveries at once (the server commits them in groups): each is answered with its own
/// counts, each scan is stored once, and a bad body or a replay among them is refused alone.
async fn concurrent_webhooks(db: String) {
    const PARCELS: usize = 8;
    const EACH: usize = 12;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let o = bin(h, &db)
        .args([
            "shop",
            "create",
            "Rush",
            "--admin-email",
            "o@rush.example",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut cmd = bin(h, &db);
    cmd.args(["--listen", "127.0.0.1:0"]);
    let server = ShopServer::start(cmd, false);
    let env = std::sync::Arc::new(Env {
        c: client(),
        base: server.base.clone(),
        key: made["api_key"].as_str().unwrap().to_owned(),
        shop: made["shop_id"].as_str().unwrap().to_owned(),
    });
    let mut orders = Vec::new();
    for i in 0..PARCELS {
        let (s, o) = env
            .api(
                "POST",
                "/orders",
                Some(json!({"order_number": format!("R-{i}"), "shipments": [{"tracking_number": ups(i)}]})),
            )
            .await;
        assert_eq!(s, 201, "{o}");
        orders.push(o["id"].as_str().unwrap().to_owned());
    }
    let (s, _) = env
        .api(
            "PUT",
            "/hooks/standard",
            Some(json!({"secret": STANDARD_SECRET})),
        )
        .await;
    assert_eq!(s, 200);
    let scan = |parcel: usize, k: usize| {
        json!({"tracking_number": ups(parcel), "events": [
            {"occurred_at": format!("2026-11-20T{:02}:{:02}:00Z", 8 + k / 60, k % 60),
             "status": "in_transit", "description": format!("Scan {k}")}]})
        .to_string()
    };
    let now = chrono::Utc::now().timestamp();
    let early = scan(0, 500);
    let (s, r) = env
        .hook(
            "standard",
            &early,
            &standard_headers("rush-early", now, &early, STANDARD_SECRET),
        )
        .await;
    assert_eq!((s, &r["stored"]), (200, &json!(1)), "{r}");

    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..PARCELS * EACH {
        let (env, body) = (env.clone(), scan(k % PARCELS, k));
        tasks.spawn(async move {
            let headers = standard_headers(&format!("rush-{k}"), now, &body, STANDARD_SECRET);
            (k, env.hook("standard", &body, &headers).await)
        });
    }
    // The same scans as a delivery of its own (a sender's second copy, a new id): nothing new.
    let again = scan(3, 3);
    let bad = json!({"tracking_number": ups(1), "events": [{"occurred_at": "soon", "status": "delivered"}]})
        .to_string();
    for (k, body, id) in [
        (10_000, early.clone(), "rush-early"),
        (10_001, bad, "rush-bad"),
        (10_002, again, "rush-again"),
    ] {
        let env = env.clone();
        tasks.spawn(async move {
            let headers = standard_headers(id, now, &body, STANDARD_SECRET);
            (k, env.hook("standard", &body, &headers).await)
        });
    }
    let mut stored = 0;
    while let Some(done) = tasks.join_next().await {
        let (k, (s, r)) = done.unwrap();
        match k {
            10_000 => assert_eq!(
                (s, r["type"].as_str()),
                (409, Some("urn:parceltrail:problem:replayed")),
                "{r}"
            ),
            10_001 => assert_eq!(s, 422, "{r}"),
            10_002 => {
                // Whether it came before or after delivery 3: the scan is stored once.
                assert_eq!(s, 200, "{r}");
                stored += r["stored"].as_u64().unwrap();
                assert_eq!(
                    r["stored"].as_u64().unwrap() + r["duplicates"].as_u64().unwrap(),
                    1
                );
            }
            _ => {
                assert_eq!(s, 200, "delivery {k}: {r}");
                stored += r["stored"].as_u64().unwrap();
                assert_eq!(
                    r["stored"].as_u64().unwrap() + r["duplicates"].as_u64().unwrap(),
                    1,
                    "{r}"
                );
            }
        }
    }
    assert_eq!(stored as usize, PARCELS * EACH, "each scan stored once");
    for (i, id) in orders.iter().enumerate() {
        let (_, o) = env.api("GET", &format!("/orders/{id}"), None).await;
        let events = o["shipments"][0]["events"].as_array().unwrap().len();
        assert_eq!(events, EACH + usize::from(i == 0), "order {i}: {o}");
    }
    // Every acknowledged id is remembered: sent again, each is a replay.
    let body = scan(5, 5);
    let (s, _) = env
        .hook(
            "standard",
            &body,
            &standard_headers("rush-5", now, &body, STANDARD_SECRET),
        )
        .await;
    assert_eq!(s, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_webhooks_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_webhooks(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_webhooks_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    concurrent_webhooks(db).await;
}
