//! The customers' tracking page on the shop server, on SQLite and on a real PostgreSQL: an
//! order's signed link shows its parcels (and the address, as the shop allows); a lookup by
//! number and email or postcode finds it, and every wrong combination gets one answer in one
//! time; forged, expired, withdrawn and rotated links are refused, each with its reason; a
//! new event reaches an open page; guessing is throttled.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ShopServer, client, server_cmd};
use serde_json::{Value, json};

const NUMBER: &str = "1Z999AA10123456784";

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn bin(home: &Path, db: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db]);
    c
}

fn shop(home: &Path, db: &str, name: &str, email: &str) -> (String, String) {
    let o = bin(home, db)
        .args(["shop", "create", name, "--admin-email", email, "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        made["shop_id"].as_str().unwrap().to_owned(),
        made["api_key"].as_str().unwrap().to_owned(),
    )
}

struct Env {
    c: reqwest::Client,
    base: String,
}

impl Env {
    async fn call(
        &self,
        key: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .c
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(Value::Null))
    }

    /// The page's data for a link (absolute or `/t/…`).
    async fn page(&self, link: &str) -> (u16, Value) {
        let token = link.rsplit_once("/t/").unwrap().1;
        self.call(None, "GET", &format!("/api/v1/track/{token}"), None)
            .await
    }

    async fn lookup(&self, number: &str, secret: &str) -> (u16, Value, Duration) {
        let t = Instant::now();
        let (s, v) = self
            .call(
                None,
                "POST",
                "/api/v1/track/lookup",
                Some(json!({"order_number": number, "email_or_postcode": secret})),
            )
            .await;
        (s, v, t.elapsed())
    }
}

async fn tracking_page(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (shop_a, key) = shop(h, &db, "Trailhead Outfitters", "o@trailhead.example");
    let mut cmd = bin(h, &db);
    cmd.args(["--listen", "127.0.0.1:0"]);
    let server = ShopServer::start(cmd, false);
    let env = Env {
        c: client(),
        base: server.base.clone(),
    };
    let (s, order) = env
        .call(
            Some(&key),
            "POST",
            "/api/v1/orders",
            Some(json!({
                "order_number": "A-1001",
                "placed_at": "2026-11-30T10:00:00Z",
                "items": "Trail shoes <img src=x onerror=alert(1)>",
                "customer": {"name": "Ada Lovelace", "email": "Ada@Example.com", "phone": "+44 20 7946 0000",
                             "postcode": "SW1A 1AA", "address": "10 Downing Street\nLondon"},
                "shipments": [{"tracking_number": NUMBER}]
            })),
        )
        .await;
    assert_eq!(s, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let ship = order["shipments"][0]["id"].as_str().unwrap().to_owned();

    // The order's link: absolute, the same on every read the same day.
    let (_, again) = env
        .call(Some(&key), "GET", &format!("/api/v1/orders/{id}"), None)
        .await;
    let link = again["tracking_url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("{}/t/", env.base)), "{link}");
    assert_eq!(order["tracking_url"], again["tracking_url"]);

    // The page itself is the one UI's, embedded; the data says what the customer may see.
    let html = env.c.get(&link).send().await.unwrap();
    assert_eq!(html.status(), 200);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(html.text().await.unwrap().contains("/js/track.js"));
    for asset in [
        "/js/track.js",
        "/js/i18n.js",
        "/js/dom.js",
        "/js/ui.js",
        "/js/map.js",
        "/css/map.css",
        "/data/cities.json",
    ] {
        let r = env
            .c
            .get(format!("{}{asset}", env.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
    let (s, page) = env.page(&link).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["shop"]["name"], "Trailhead Outfitters");
    assert_eq!(page["scope"], "link");
    assert_eq!(page["order"]["order_number"], "A-1001");
    assert_eq!(page["order"]["progress"], "received");
    assert_eq!(page["first_name"], "Ada");
    assert_eq!(page["delivery"]["address"], "10 Downing Street\nLondon");
    assert_eq!(page["parcels"][0]["tracking_number"], NUMBER);
    assert_eq!(page["parcels"][0]["carrier"]["id"], "ups");
    assert!(
        !page.to_string().contains("+44 20"),
        "the phone is never shown: {page}"
    );
    assert!(
        !page.to_string().contains("Ada@Example.com"),
        "nor the email: {page}"
    );

    // Branding: checked, then on the page (the logo a data URL of the image's own type).
    let (s, p) = env
        .call(
            Some(&key),
            "PUT",
            "/api/v1/shop/branding",
            Some(json!({"color": "green"})),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let not_an_image = format!(
        "data:image/png;base64,{}",
        base64_of(b"<svg onload=alert(1)>")
    );
    let (s, p) = env
        .call(
            Some(&key),
            "PUT",
            "/api/v1/shop/branding",
            Some(json!({"logo": not_an_image})),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let png =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../icons/32x32.png")).unwrap();
    let (s, b) = env
        .call(Some(&key), "PUT", "/api/v1/shop/branding", Some(json!({"color": "#0B6E4F", "logo": format!("data:image/jpeg;base64,{}", base64_of(&png))})))
        .await;
    assert_eq!(s, 200, "{b}");
    let (_, page) = env.page(&link).await;
    assert_eq!(page["shop"]["color"], "#0b6e4f");
    assert_eq!(
        page["shop"]["logo"],
        format!("data:image/png;base64,{}", base64_of(&png))
    );

    // The shop can hide the address from its links.
    let (s, set) = env
        .call(
            Some(&key),
            "PATCH",
            "/api/v1/shop/tracking-links",
            Some(json!({"show_address": false})),
        )
        .await;
    assert_eq!((s, &set["show_address"]), (200, &json!(false)), "{set}");
    assert!(env.page(&link).await.1["delivery"].is_null());
    env.call(
        Some(&key),
        "PATCH",
        "/api/v1/shop/tracking-links",
        Some(json!({"show_address": true})),
    )
    .await;

    // A lookup: email in any case, postcode in any spacing; never the address.
    let (s, found, took) = env.lookup(" A-1001 ", "ada@example.COM").await;
    assert_eq!(s, 200, "{found}");
    assert!(took >= Duration::from_millis(250), "{took:?}");
    let lookup_link = found["url"].as_str().unwrap().to_owned();
    assert!(lookup_link.starts_with("/t/"), "{lookup_link}");
    let (s, seen) = env.page(&lookup_link).await;
    assert_eq!(s, 200);
    assert_eq!(seen["scope"], "lookup");
    assert!(
        seen["delivery"].is_null() && seen["first_name"].is_null(),
        "{seen}"
    );
    assert_eq!(seen["parcels"][0]["tracking_number"], NUMBER);
    let (s, _, _) = env.lookup("A-1001", "sw1a1aa").await;
    assert_eq!(s, 200);
    // Every wrong combination: the same answer, after the same floor.
    let mut answers = Vec::new();
    for (number, secret) in [
        ("A-1001", "eve@example.com"),
        ("A-9999", "ada@example.com"),
        ("A-1001", "SW1A 1AB"),
    ] {
        let (s, v, took) = env.lookup(number, secret).await;
        assert!(took >= Duration::from_millis(250), "{took:?}");
        answers.push((s, v));
    }
    assert_eq!(answers[0].0, 404);
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    let (s, p, _) = env.lookup("A-1001", "  ").await;
    assert_eq!(s, 422, "{p}");

    // Forged: any character changed.
    let token = link.rsplit_once("/t/").unwrap().1.to_owned();
    let mut forged = token.clone().into_bytes();
    forged[40] = if forged[40] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let (s, p) = env.page(&format!("/t/{forged}")).await;
    assert_eq!(
        (s, p["type"].as_str()),
        (404, Some("urn:parceltrail:problem:link-invalid")),
        "{p}"
    );
    let (s, _) = env.page("/t/nonsense").await;
    assert_eq!(s, 404);

    // Expired: a link made to last two seconds.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (s, short) = env
        .call(
            Some(&key),
            "POST",
            &format!("/api/v1/orders/{id}/tracking-link"),
            Some(json!({"expires_at": soon})),
        )
        .await;
    assert_eq!(s, 201, "{short}");
    let short = short["url"].as_str().unwrap().to_owned();
    assert_eq!(env.page(&short).await.0, 200);
    let (s, p) = env
        .call(
            Some(&key),
            "POST",
            &format!("/api/v1/orders/{id}/tracking-link"),
            Some(json!({"expires_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    // Bodies are objects: serde would read `[null]` as the fields in order, and make a link.
    for shape in [json!([null]), json!([]), json!("soon")] {
        let (s, p) = env
            .call(
                Some(&key),
                "POST",
                &format!("/api/v1/orders/{id}/tracking-link"),
                Some(shape.clone()),
            )
            .await;
        assert_eq!(s, 422, "{shape}: {p}");
        assert!(p["detail"].as_str().unwrap().contains("JSON object"), "{p}");
        let (s, p) = env
            .call(
                Some(&key),
                "PATCH",
                &format!("/api/v1/orders/{id}"),
                Some(json!([shape])),
            )
            .await;
        assert_eq!(s, 422, "{shape}: {p}");
    }

    // Live: a staff update reaches the open page's stream.
    let mut live = env
        .c
        .get(format!("{}/api/v1/track/{token}/events", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let (s, _) = env
        .call(
            Some(&key),
            "POST",
            &format!("/api/v1/shipments/{ship}/events"),
            Some(json!({"status": "out_for_delivery", "description": "With our driver <script>x</script>", "location": {"city": "London", "country": "GB"}})),
        )
        .await;
    assert_eq!(s, 201);
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("event: changed") {
            seen.push_str(&String::from_utf8_lossy(
                &live.chunk().await.unwrap().unwrap(),
            ));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("nothing on the page's stream: {seen}"));
    drop(live);
    let (_, now) = env.page(&link).await;
    let parcel = &now["parcels"][0];
    assert_eq!(parcel["status"], "out_for_delivery");
    assert_eq!(
        parcel["events"][0]["description"],
        "With our driver <script>x</script>"
    );
    assert_eq!(now["order"]["progress"], "shipped");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, p) = env.page(&short).await;
    assert_eq!(
        (s, p["type"].as_str()),
        (410, Some("urn:parceltrail:problem:link-expired")),
        "{p}"
    );

    // Another shop's key cannot make or withdraw links to this order.
    let (_, key_b) = shop(h, &db, "Other", "o@other.example");
    for method in ["POST", "DELETE"] {
        let (s, _) = env
            .call(
                Some(&key_b),
                method,
                &format!("/api/v1/orders/{id}/tracking-link"),
                None,
            )
            .await;
        assert_eq!(s, 404, "{method}");
    }
    // With two shops, a lookup must say which.
    let (s, _, _) = env.lookup("A-1001", "ada@example.com").await;
    assert_eq!(s, 404);
    let (s, v) = env
        .call(None, "POST", "/api/v1/track/lookup", Some(json!({"shop": shop_a, "order_number": "A-1001", "email_or_postcode": "ada@example.com"})))
        .await;
    assert_eq!(s, 200, "{v}");

    // Withdrawn: every link made so far, lookups' too; the order's link is a new one.
    let (s, _) = env
        .call(
            Some(&key),
            "DELETE",
            &format!("/api/v1/orders/{id}/tracking-link"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, p) = env.page(&link).await;
    assert_eq!(
        (s, p["type"].as_str()),
        (410, Some("urn:parceltrail:problem:link-revoked")),
        "{p}"
    );
    assert_eq!(env.page(&lookup_link).await.0, 410);
    let (_, again) = env
        .call(Some(&key), "GET", &format!("/api/v1/orders/{id}"), None)
        .await;
    let fresh = again["tracking_url"].as_str().unwrap().to_owned();
    assert_ne!(fresh, link);
    assert_eq!(env.page(&fresh).await.0, 200);

    // Rotated: every link of the shop, at once.
    let (s, r) = env
        .call(
            Some(&key),
            "POST",
            "/api/v1/shop/tracking-links/rotate",
            None,
        )
        .await;
    assert_eq!((s, &r["key_generation"]), (200, &json!(2)), "{r}");
    assert_eq!(env.page(&fresh).await.0, 404);
    let (_, again) = env
        .call(Some(&key), "GET", &format!("/api/v1/orders/{id}"), None)
        .await;
    assert_eq!(
        env.page(again["tracking_url"].as_str().unwrap()).await.0,
        200
    );

    // A removed order's links lead nowhere.
    let (s, _) = env
        .call(Some(&key), "DELETE", &format!("/api/v1/orders/{id}"), None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        env.page(again["tracking_url"].as_str().unwrap()).await.0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_page_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    tracking_page(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_page_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    tracking_page(db).await;
}

/// 10,000 guesses from one address: only the first few are even looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_guessing_is_throttled() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let db = format!("sqlite:{}", h.join("server.db").display());
    shop(h, &db, "Trailhead", "o@trailhead.example");
    let mut cmd = bin(h, &db);
    cmd.args(["--listen", "127.0.0.1:0"]);
    let server = ShopServer::start(cmd, false);
    let c = client();
    let url = format!("{}/api/v1/track/lookup", server.base);
    let started = Instant::now();
    let mut answered = std::collections::BTreeMap::<u16, usize>::new();
    let guesses = 10_000;
    // 50 at a time: each guess a different order number, as an enumeration would try.
    for wave in 0..guesses / 50 {
        let batch = (0..50).map(|i| {
            let (c, url) = (c.clone(), url.clone());
            let n = wave * 50 + i;
            tokio::spawn(async move {
                c.post(url)
                    .json(&json!({"order_number": format!("A-{n:05}"), "email_or_postcode": "x@example.com"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        });
        let batch: Vec<_> = batch.collect();
        for s in batch {
            let s = s.await.unwrap();
            *answered.entry(s).or_default() += 1;
        }
    }
    let looked_at = answered.get(&404).copied().unwrap_or(0);
    println!(
        "{guesses} guesses from one address in {:?}: {looked_at} looked at, the other {} throttled",
        started.elapsed(),
        answered.get(&429).copied().unwrap_or(0),
    );
    assert_eq!(answered.values().sum::<usize>(), guesses);
    assert_eq!(answered.len(), 2, "{answered:?}");
    // 20 a minute per address, and the run takes well under a minute more than that.
    assert!((20..=40).contains(&looked_at), "{answered:?}");

    // And one order number, whoever asks: 10 tries per 15 minutes.
    let mut statuses = Vec::new();
    for i in 0..12u8 {
        let from = std::net::IpAddr::from([127, 0, 0, 10 + i]);
        let c = reqwest::Client::builder()
            .local_address(from)
            .build()
            .unwrap();
        let s = c
            .post(&url)
            .json(&json!({"order_number": "B-1", "email_or_postcode": format!("guess{i}@example.com")}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        statuses.push(s);
    }
    assert_eq!(&statuses[..10], &[404; 10], "{statuses:?}");
    assert_eq!(&statuses[10..], &[429; 2], "{statuses:?}");
}

/// Before any parcel moves, the page expects the order when the shop's own orders came (from
/// their placing); once a parcel moves, the carrier-based estimate takes over.
async fn estimate_from_placing(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (_, key) = shop(h, &db, "Trailhead Outfitters", "o@trailhead.example");
    let mut cmd = bin(h, &db);
    cmd.args(["--listen", "127.0.0.1:0"]);
    let server = ShopServer::start(cmd, false);
    let env = Env {
        c: client(),
        base: server.base.clone(),
    };
    let now = chrono::Utc::now();
    let at = |hours: i64| (now + chrono::Duration::hours(hours)).to_rfc3339();
    let order = |number: String, placed: String, shipments: Value| json!({"order_number": number, "placed_at": placed, "customer": {"email": "ada@example.com"}, "shipments": shipments});
    // Twelve past orders, delivered 48, 50, … 70 hours after they were placed.
    for i in 0..12i64 {
        let placed = -600 + i * 10;
        // A DHL Express number: nine digits and their remainder by 7.
        let serial = 331_881_000 + i as u64;
        let number = format!("{serial}{}", serial % 7);
        let (s, made) = env
            .call(
                Some(&key),
                "POST",
                "/api/v1/orders",
                Some(order(
                    format!("P-{i}"),
                    at(placed),
                    json!([{"tracking_number": number, "carrier": "dhl"}]),
                )),
            )
            .await;
        assert_eq!(s, 201, "{made}");
        let ship = made["shipments"][0]["id"].as_str().unwrap();
        let (s, r) = env
            .call(
                Some(&key),
                "POST",
                &format!("/api/v1/shipments/{ship}/events"),
                Some(json!({"status": "delivered", "description": "Delivered", "occurred_at": at(placed + 48 + 2 * i)})),
            )
            .await;
        assert_eq!(s, 201, "{r}");
    }
    // Placed an hour ago, no tracking number yet.
    let (s, fresh) = env
        .call(
            Some(&key),
            "POST",
            "/api/v1/orders",
            Some(order("N-1".into(), at(-1), json!([]))),
        )
        .await;
    assert_eq!(s, 201, "{fresh}");
    let link = fresh["tracking_url"].as_str().unwrap().to_owned();
    let (s, page) = env.page(&link).await;
    assert_eq!(s, 200, "{page}");
    let e = &page["order"]["estimate"];
    assert_eq!(
        (e["source"].as_str(), e["orders"].as_u64()),
        (Some("orders"), Some(12)),
        "{page}"
    );
    let hours = |field: &str| {
        let t: chrono::DateTime<chrono::Utc> = e[field].as_str().unwrap().parse().unwrap();
        ((t - now).num_minutes() as f64 / 60.0).round() as i64
    };
    // Nearest rank over 48, 50 … 70: the 10th percentile 50, the median 58, the 90th 68.
    assert_eq!(
        (hours("earliest"), hours("likely"), hours("latest")),
        (49, 57, 67),
        "{e}"
    );

    // A label alone does not move it; a scan does, and the parcel's own estimate follows.
    let (s, more) = env
        .call(
            Some(&key),
            "POST",
            &format!("/api/v1/orders/{}/shipments", fresh["id"].as_str().unwrap()),
            Some(json!({"shipments": [{"tracking_number": NUMBER}]})),
        )
        .await;
    assert_eq!(s, 200, "{more}");
    let (_, page) = env.page(&link).await;
    assert_eq!(page["order"]["estimate"]["source"], "orders", "{page}");
    assert_eq!(page["parcels"][0]["estimate"], Value::Null);
    let ship = more["shipments"][0]["id"].as_str().unwrap();
    let (s, r) = env
        .call(
            Some(&key),
            "POST",
            &format!("/api/v1/shipments/{ship}/events"),
            Some(json!({"status": "in_transit", "description": "Departed"})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let (_, page) = env.page(&link).await;
    assert_eq!(page["order"]["estimate"], Value::Null, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimate_from_placing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    estimate_from_placing(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimate_from_placing_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    estimate_from_placing(db).await;
}
