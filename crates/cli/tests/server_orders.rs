//! The shop server's orders API as a shop's systems use it, on SQLite and on a real
//! PostgreSQL: orders with customers and parcels, their stages, lists with filters and
//! pages, staff status updates, retries with Idempotency-Key, and the change stream.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{ShopServer, client, server_at as bin, ups};
use serde_json::{Value, json};

struct Shop {
    key: String,
}

fn make_shop(home: &Path, db: &str, name: &str, email: &str) -> Shop {
    let o = bin(home, db)
        .args(["shop", "create", name, "--admin-email", email, "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    Shop {
        key: v["api_key"].as_str().unwrap().to_owned(),
    }
}

fn start(home: &Path, db: &str) -> ShopServer {
    let mut cmd = bin(home, db);
    cmd.args(["--listen", "127.0.0.1:0"]);
    ShopServer::start(cmd, false)
}

struct Api {
    c: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_with(method, path, body, &[]).await.0
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> ((u16, Value), reqwest::header::HeaderMap) {
        let url = format!("{}/api/v1{path}", self.base);
        let mut r = self
            .c
            .request(method.parse().unwrap(), url)
            .bearer_auth(&self.key);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        ((status, v), headers)
    }
}

/// Whether `needle` is anywhere in the database: the SQLite files' bytes, or (PostgreSQL)
/// the kept idempotent answers, read with psql.
fn database_holds(db: &str, needle: &str) -> bool {
    if let Some(path) = db.strip_prefix("sqlite:") {
        return ["", "-wal"].iter().any(|ext| {
            std::fs::read(format!("{path}{ext}"))
                .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        });
    }
    let o = Command::new("psql")
        .args([db, "-Atc"])
        .arg(format!(
            "SELECT count(*) FROM idempotency_keys WHERE position(convert_to('{needle}', 'UTF8') in body) > 0"
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim() != "0"
}

fn order(number: &str, email: &str, shipments: Value) -> Value {
    json!({
        "order_number": number,
        "placed_at": "2026-11-30T10:00:00Z",
        "promised_at": "2026-12-04",
        "channel": "web",
        "customer": {"name": "Ada Lovelace", "email": email, "phone": "+44 20 7946 0000", "postcode": "NW1 6XE"},
        "shipments": shipments,
    })
}

async fn orders_api(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let a = make_shop(h, &db, "Trailhead", "owner@trailhead.example");
    let b = make_shop(h, &db, "Bakery", "owner@bakery.example");
    let server = start(h, &db);
    let api = Api {
        c: client(),
        base: server.base.clone(),
        key: a.key.clone(),
    };
    let other = Api {
        c: client(),
        base: server.base.clone(),
        key: b.key.clone(),
    };

    // The contract's body: carrier given for one number, detected for the other.
    let (s, o) = api
        .call(
            "POST",
            "/orders",
            Some(order(
                "A-1001",
                "Ada@Example.com",
                json!([{"tracking_number": ups(1), "carrier": "ups"}, {"tracking_number": ups(2)}]),
            )),
        )
        .await;
    assert_eq!(s, 201, "{o}");
    let id = o["id"].as_str().unwrap().to_owned();
    assert_eq!(o["order_number"], "A-1001");
    assert_eq!(o["customer"]["email"], "Ada@Example.com");
    assert_eq!(o["customer"]["postcode"], "NW1 6XE");
    assert_eq!(o["stage"], "received");
    let ships = o["shipments"].as_array().unwrap();
    assert_eq!(ships.len(), 2);
    for sh in ships {
        assert!(sh["id"].is_string());
        assert_eq!(sh["carrier"], "ups");
        assert_eq!(sh["status"], "pending");
        assert_eq!(sh["events"], json!([]));
    }
    let ship = ships[0]["id"].as_str().unwrap().to_owned();

    // The same order number again: 409, and nothing of it stored.
    let (s, p) = api
        .call(
            "POST",
            "/orders",
            Some(order(
                "A-1001",
                "x@example.com",
                json!([{"tracking_number": ups(3)}]),
            )),
        )
        .await;
    assert_eq!(s, 409, "{p}");
    assert_eq!(p["type"], "urn:parceltrail:problem:conflict");
    // A number of another order: 409, naming it.
    let (s, p) = api
        .call(
            "POST",
            "/orders",
            Some(order(
                "A-1002",
                "x@example.com",
                json!([{"tracking_number": ups(2)}]),
            )),
        )
        .await;
    assert_eq!(s, 409, "{p}");
    assert!(p["detail"].as_str().unwrap().contains(&ups(2)), "{p}");
    // A mistyped number: 422 saying which and why; nothing stored.
    let mut bad = ups(4);
    bad.pop();
    bad.push('0');
    let (s, p) = api
        .call(
            "POST",
            "/orders",
            Some(order(
                "A-1003",
                "x@example.com",
                json!([{"tracking_number": ups(5)}, {"tracking_number": bad}]),
            )),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("shipments[1].tracking_number"),
        "{p}"
    );
    let (s, p) = api
        .call(
            "POST",
            "/orders",
            Some(json!({"order_number": "A-1004", "customer": {"email": "not an address"}})),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("customer.email"),
        "{p}"
    );
    let (s, list) = api.call("GET", "/orders", None).await;
    assert_eq!(s, 200);
    assert_eq!(list["orders"].as_array().unwrap().len(), 1, "{list}");

    // The change stream, opened before the update it should show.
    let mut sse = api
        .c
        .get(format!("{}/api/v1/events", api.base))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    assert!(
        sse.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    // A staff status update for a carrier that sends nothing.
    let (s, sh) = api
        .call(
            "POST",
            &format!("/shipments/{ship}/events"),
            Some(json!({"status": "out_for_delivery", "description": "With our driver", "location": {"city": "Leeds", "country": "gb"}})),
        )
        .await;
    assert_eq!(s, 201, "{sh}");
    assert_eq!(sh["status"], "out_for_delivery");
    let ev = &sh["events"][0];
    assert_eq!(ev["source"], "manual");
    assert_eq!(ev["location"]["country"], "GB");
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("event: status_changed") {
            let chunk = sse.chunk().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no status change on the stream: {seen}"));
    assert!(seen.contains("out_for_delivery"), "{seen}");
    let last_id: i64 = seen
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .next_back()
        .unwrap()
        .parse()
        .unwrap();
    drop(sse);

    // The order as a whole: events, estimate, stage log; `progress` follows the parcels.
    let (s, full) = api.call("GET", &format!("/orders/{id}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(full["progress"], "shipped");
    let first = &full["shipments"][0];
    assert_eq!(first["events"][0]["status"], "out_for_delivery");
    assert_eq!(first["events"][0]["description"], "With our driver");
    assert!(first.get("estimate").is_some(), "{first}");
    assert_eq!(full["stages"][0]["to"], "received");

    // Stage and fields changed; a customer part cleared; the stage logged with who.
    let (s, up) = api
        .call(
            "PATCH",
            &format!("/orders/{id}"),
            Some(json!({"stage": "in_preparation", "stage_note": "picking", "customer": {"phone": null}, "notes": "gift wrap"})),
        )
        .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["stage"], "in_preparation");
    assert_eq!(up["notes"], "gift wrap");
    assert!(up["customer"]["phone"].is_null(), "{up}");
    assert_eq!(up["customer"]["name"], "Ada Lovelace");
    let log = up["stages"].as_array().unwrap();
    assert_eq!(log.last().unwrap()["to"], "in_preparation");
    assert_eq!(log.last().unwrap()["note"], "picking");
    assert!(
        log.last().unwrap()["actor"]
            .as_str()
            .unwrap()
            .starts_with("key:")
    );

    // Resuming the stream after the last id seen: only what came after (the order update).
    let mut sse = api
        .c
        .get(format!("{}/api/v1/events", api.base))
        .bearer_auth(&api.key)
        .header("Last-Event-ID", last_id.to_string())
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("event: order_stage_changed") {
            let chunk = sse.chunk().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no stage change on the resumed stream: {seen}"));
    assert!(!seen.contains("event: status_changed"), "replayed: {seen}");
    drop(sse);

    // Idempotency-Key: the repeat gets the first answer, and nothing is made twice.
    let body = order(
        "A-2000",
        "grace@example.com",
        json!([{"tracking_number": ups(6)}]),
    );
    let key = [("Idempotency-Key", "4b0f7f0e-order-A-2000")];
    let ((s1, o1), _) = api
        .call_with("POST", "/orders", Some(body.clone()), &key)
        .await;
    let ((s2, o2), h2) = api
        .call_with("POST", "/orders", Some(body.clone()), &key)
        .await;
    assert_eq!((s1, s2), (201, 201), "{o1} {o2}");
    assert_eq!(o1["id"], o2["id"]);
    assert_eq!(h2["idempotent-replayed"], "true");
    let mut changed = body.clone();
    changed["order_number"] = json!("A-2001");
    let ((s, p), _) = api.call_with("POST", "/orders", Some(changed), &key).await;
    assert_eq!(s, 422, "{p}");
    // An answer carrying a secret shown once (a new API key) is replayed, but never lies in
    // the database in the clear.
    let made = [("Idempotency-Key", "key-for-the-warehouse")];
    let kb = json!({"name": "warehouse", "scopes": "read"});
    let ((s1, k1), _) = api
        .call_with("POST", "/keys", Some(kb.clone()), &made)
        .await;
    let ((s2, k2), h2) = api.call_with("POST", "/keys", Some(kb), &made).await;
    assert_eq!((s1, s2), (201, 201), "{k1} {k2}");
    assert_eq!(k1["api_key"], k2["api_key"]);
    assert_eq!(h2["idempotent-replayed"], "true");
    let secret = k1["api_key"].as_str().unwrap();
    assert!(
        !database_holds(&db, secret),
        "the new key is in the database in the clear"
    );
    // The other shop's same key is its own.
    let ((s, _), _) = other
        .call_with(
            "POST",
            "/orders",
            Some(order("A-2000", "z@example.com", json!([]))),
            &key,
        )
        .await;
    assert_eq!(s, 201);

    // More orders for the list: filters and pages.
    for n in 0..7u32 {
        let carrier = json!([{"tracking_number": ups(100 + n)}]);
        let (s, p) = api
            .call(
                "POST",
                "/orders",
                Some(order(
                    &format!("B-{n}"),
                    &format!("c{n}@example.com"),
                    carrier,
                )),
            )
            .await;
        assert_eq!(s, 201, "{p}");
    }
    let (_, l) = api.call("GET", "/orders?email=ADA@example.com", None).await;
    assert_eq!(l["orders"].as_array().unwrap().len(), 1, "{l}");
    assert_eq!(l["orders"][0]["id"], json!(id));
    assert!(l["orders"][0]["shipments"][0].get("events").is_none());
    let (_, l) = api
        .call("GET", "/orders?status=out_for_delivery", None)
        .await;
    assert_eq!(l["orders"].as_array().unwrap().len(), 1, "{l}");
    let (_, l) = api.call("GET", "/orders?q=B-", None).await;
    assert_eq!(l["orders"].as_array().unwrap().len(), 7, "{l}");
    let (_, l) = api
        .call("GET", &format!("/orders?q={}", ups(103)), None)
        .await;
    assert_eq!(l["orders"][0]["order_number"], "B-3", "{l}");
    let (_, l) = api
        .call("GET", "/orders?stage=in_preparation&carrier=UPS", None)
        .await;
    assert_eq!(l["orders"].as_array().unwrap().len(), 1, "{l}");
    let (_, l) = api
        .call("GET", "/orders?placed_from=2026-12-01", None)
        .await;
    assert_eq!(l["orders"].as_array().unwrap().len(), 0, "{l}");
    // Pages of 3, newest first, without gaps or repeats.
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/orders?limit=3&cursor={c}"),
            None => "/orders?limit=3".to_owned(),
        };
        let (s, page) = api.call("GET", &path, None).await;
        assert_eq!(s, 200, "{page}");
        for o in page["orders"].as_array().unwrap() {
            all.push(o["order_number"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(all.len(), 9, "{all:?}");
    assert_eq!(all[0], "B-6");
    assert_eq!(all.last().unwrap(), "A-1001");
    let (s, p) = api.call("GET", "/orders?limit=0", None).await;
    assert_eq!(s, 422, "{p}");
    let (s, p) = api.call("GET", "/orders?status=lost_in_space", None).await;
    assert_eq!(s, 422, "{p}");

    // Another shop sees none of it.
    let (s, _) = other.call("GET", &format!("/orders/{id}"), None).await;
    assert_eq!(s, 404);
    let (s, _) = other
        .call(
            "POST",
            &format!("/shipments/{ship}/events"),
            Some(json!({"status": "delivered"})),
        )
        .await;
    assert_eq!(s, 404);
    let (_, l) = other.call("GET", "/orders?q=A-1001", None).await;
    assert_eq!(l["orders"], json!([]));

    // Removed: gone from reads and lists; the number may be used again.
    let (s, _) = api.call("DELETE", &format!("/orders/{id}"), None).await;
    assert_eq!(s, 204);
    let (s, _) = api.call("GET", &format!("/orders/{id}"), None).await;
    assert_eq!(s, 404);
    let (_, l) = api.call("GET", "/orders?email=ada@example.com", None).await;
    assert_eq!(l["orders"], json!([]));
    let (s, again) = api
        .call(
            "POST",
            "/orders",
            Some(order(
                "A-1001",
                "ada@example.com",
                json!([{"tracking_number": ups(1)}]),
            )),
        )
        .await;
    assert_eq!(s, 201, "{again}");

    // Everything survives a restart.
    drop(server);
    let server = start(h, &db);
    let api = Api {
        base: server.base.clone(),
        ..api
    };
    let (_, l) = api.call("GET", "/orders?limit=200", None).await;
    assert_eq!(l["orders"].as_array().unwrap().len(), 9, "{l}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    orders_api(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    orders_api(db).await;
}
