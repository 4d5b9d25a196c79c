//! Staff alerts, on SQLite and on a real PostgreSQL, with a real SMTP server on loopback: a
//! parcel with no carrier news for four days (stuck: over 72 hours in transit) alerts the
//! shop's alert address once, with the order, the parcel and what to do; a parcel that moved
//! an hour ago does not; after a restart the same parcel does not alert again, while one newly
//! stuck does. A bad address is refused, and a shop without an address gets no alerts. The
//! stuck parcel is listed in what needs the staff, with its reason and action, for its shop
//! only.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use common::{ShopServer, Smtp, client, make_shop, qp, server_at, ups};
use serde_json::{Value, json};

const ALERTS_TO: &str = "orders@trailhead.example";

fn server(home: &Path, db: &str, smtp: &Smtp) -> Command {
    let mut c = server_at(home, db);
    c.args(["--listen", "127.0.0.1:0"])
        .env("PARCELTRAIL_SERVER_SMTP_URL", &smtp.url)
        .env("PARCELTRAIL_SERVER_MAIL_FROM", "track@trailhead.example");
    c
}

/// The alerts the SMTP server got (not the daily digests), decoded.
fn alerts(smtp: &Smtp) -> Vec<String> {
    smtp.messages()
        .into_iter()
        .filter(|m| m.contains(&format!("To: {ALERTS_TO}")) && !m.contains("Subject: Today at"))
        .map(|m| qp(&m))
        .collect()
}

/// The daily digests the SMTP server got for `to`, decoded.
fn digests(smtp: &Smtp, to: &str) -> Vec<String> {
    smtp.messages()
        .into_iter()
        .filter(|m| m.contains(&format!("To: {to}")) && m.contains("Subject: Today at"))
        .map(|m| qp(&m))
        .collect()
}

/// A fixed-offset zone (`Etc/GMT…`, whose signs run backwards) where it is now between
/// `from` and `to` o'clock.
fn zone_at_hours(from: u32, to: u32) -> String {
    use chrono::Timelike;
    let utc = Utc::now().hour() as i32;
    (-10..=12)
        .find(|off| (from..=to).contains(&(((utc + off).rem_euclid(24)) as u32)))
        .map(|off| match off {
            0 => "Etc/GMT".to_owned(),
            o if o > 0 => format!("Etc/GMT-{o}"),
            o => format!("Etc/GMT+{}", -o),
        })
        .expect("some offset puts now in the span")
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited 40 s for {what}");
}

/// An order with one UPS parcel whose only event was `hours_ago`.
async fn parcel(c: &reqwest::Client, base: &str, key: &str, n: u32, hours_ago: i64) -> String {
    let number = ups(700 + n);
    let (s, o) = common::api(
        c,
        base,
        Some(key),
        "POST",
        "/orders",
        Some(json!({
            "order_number": format!("A-{n}"),
            "customer": {"email": format!("c{n}@example.com")},
            "shipments": [{"tracking_number": number}],
        })),
    )
    .await;
    assert_eq!(s, 201, "{o}");
    let ship = o["shipments"][0]["id"].as_str().unwrap();
    let at = (Utc::now() - chrono::Duration::hours(hours_ago)).to_rfc3339();
    let (s, r) = common::api(
        c,
        base,
        Some(key),
        "POST",
        &format!("/shipments/{ship}/events"),
        Some(json!({"status": "in_transit", "description": "Departed the hub", "occurred_at": at})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    number
}

async fn staff_alerts(db: String) {
    let home = tempfile::tempdir().unwrap();
    let smtp = Smtp::start();
    let made = make_shop(
        server(home.path(), &db, &smtp),
        "Trailhead",
        "owner@trailhead.example",
    );
    let key = made["api_key"].as_str().unwrap().to_owned();
    let quiet = make_shop(
        server(home.path(), &db, &smtp),
        "Quiet",
        "owner@quiet.example",
    );
    let quiet_key = quiet["api_key"].as_str().unwrap().to_owned();
    let c = client();

    let s1 = ShopServer::start(server(home.path(), &db, &smtp), false);
    let base = s1.base.clone();
    let (s, a) = common::api(&c, &base, Some(&key), "GET", "/shop/alerts", None).await;
    assert_eq!((s, &a), (200, &json!({"email": null})));
    let (s, p) = common::api(
        &c,
        &base,
        Some(&key),
        "PUT",
        "/shop/alerts",
        Some(json!({"email": "not an address"})),
    )
    .await;
    assert_eq!(s, 422, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("email"), "{p}");
    let (s, a) = common::api(
        &c,
        &base,
        Some(&key),
        "PUT",
        "/shop/alerts",
        Some(json!({"email": " Orders@Trailhead.example "})),
    )
    .await;
    assert_eq!((s, &a), (200, &json!({"email": ALERTS_TO})), "{a}");

    // 98 hours: "4 days" even if a pass that began a moment before the event derives it.
    let stuck = parcel(&c, &base, &key, 1, 98).await;
    let moving = parcel(&c, &base, &key, 2, 1).await;
    // The other shop has a stuck parcel too, and no alert address.
    parcel(&c, &base, &quiet_key, 3, 96).await;

    until("the stuck parcel's alert", || !alerts(&smtp).is_empty()).await;
    let got = alerts(&smtp);
    assert_eq!(got.len(), 1, "{got:?}");
    let mail = &got[0];
    assert!(mail.contains("Subject: No movement: order A-1"), "{mail}");
    assert!(mail.contains(&stuck), "{mail}");
    assert!(mail.contains("Ask the carrier"), "{mail}");
    assert!(!mail.contains(&moving), "{mail}");

    // The same parcel heads what needs the staff, with why and what to do; the other
    // shop's list has its own parcel only.
    let (s, att) = common::api(&c, &base, Some(&key), "GET", "/attention", None).await;
    assert_eq!(s, 200, "{att}");
    let items = att["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{att}");
    assert_eq!(items[0]["kind"], "stuck", "{att}");
    assert_eq!(items[0]["order_number"], "A-1", "{att}");
    assert_eq!(items[0]["tracking_number"], json!(stuck), "{att}");
    assert!(
        items[0]["reason"]
            .as_str()
            .unwrap()
            .contains("No carrier update for 4 days"),
        "{att}"
    );
    assert!(
        items[0]["action"]
            .as_str()
            .unwrap()
            .contains("Ask the carrier"),
        "{att}"
    );
    let (_, theirs) = common::api(&c, &base, Some(&quiet_key), "GET", "/attention", None).await;
    let theirs = theirs["items"].as_array().unwrap();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["order_number"], "A-3", "{theirs:?}");

    // A restart: the same parcel alerts no more; a parcel stuck since does, once.
    s1.stop();
    let s2 = ShopServer::start(server(home.path(), &db, &smtp), false);
    let newly = parcel(&c, &s2.base, &key, 4, 80).await;
    until("the second parcel's alert", || alerts(&smtp).len() >= 2).await;
    // Two more ticks of the supervisor (10 s each), for anything sent twice to arrive.
    tokio::time::sleep(Duration::from_secs(21)).await;
    let got = alerts(&smtp);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[1].contains(&newly) && got[1].contains("order A-4"),
        "{}",
        got[1]
    );
    let all = smtp.messages();
    assert!(
        !all.iter().any(|m| m.contains("owner@quiet.example")),
        "the shop without an address was alerted"
    );
    drop(s2);
}

/// The daily digest: a shop whose day has reached 8 o'clock gets one email listing what
/// needs attention (its stuck parcel), with what to do and the
/// dashboard's link; not again on later ticks or after a restart. A shop where it is still
/// night gets none yet.
async fn daily_digest(db: String) {
    let home = tempfile::tempdir().unwrap();
    let smtp = Smtp::start();
    let c = client();
    let day = make_shop(server(home.path(), &db, &smtp), "Daytime", "o@day.example");
    let night = make_shop(
        server(home.path(), &db, &smtp),
        "Nighttime",
        "o@night.example",
    );
    let s1 = ShopServer::start(server(home.path(), &db, &smtp), false);
    let base = s1.base.clone();
    for (shop, to, zone) in [
        (&day, "staff@day.example", zone_at_hours(9, 20)),
        (&night, "staff@night.example", zone_at_hours(1, 6)),
    ] {
        let key = shop["api_key"].as_str().unwrap();
        let (s, mut settings) =
            common::api(&c, &base, Some(key), "GET", "/shop/notifications", None).await;
        assert_eq!(s, 200, "{settings}");
        settings["time_zone"] = json!(zone);
        let (s, r) = common::api(
            &c,
            &base,
            Some(key),
            "PUT",
            "/shop/notifications",
            Some(settings),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        parcel(&c, &base, key, if to.contains("day") { 11 } else { 12 }, 96).await;
        let (s, a) = common::api(
            &c,
            &base,
            Some(key),
            "PUT",
            "/shop/alerts",
            Some(json!({"email": to})),
        )
        .await;
        assert_eq!(s, 200, "{a}");
    }
    until("the daytime shop's digest", || {
        !digests(&smtp, "staff@day.example").is_empty()
    })
    .await;
    let got = digests(&smtp, "staff@day.example");
    assert_eq!(got.len(), 1, "{got:?}");
    let d = &got[0];
    assert!(
        d.contains("Subject: Today at Daytime: 1 thing needs attention"),
        "{d}"
    );
    assert!(d.contains("No movement: order A-11, parcel"), "{d}");
    assert!(
        d.contains("What to do: Ask the carrier where the parcel is"),
        "{d}"
    );
    assert!(d.contains(&format!("{base}/dashboard#/orders/")), "{d}");
    // Later ticks, and a restart: no second digest today; still none for the night shop.
    tokio::time::sleep(Duration::from_secs(11)).await;
    drop(s1);
    let s2 = ShopServer::start(server(home.path(), &db, &smtp), false);
    tokio::time::sleep(Duration::from_secs(21)).await;
    assert_eq!(digests(&smtp, "staff@day.example").len(), 1);
    assert!(
        digests(&smtp, "staff@night.example").is_empty(),
        "a digest before 8 o'clock"
    );
    drop(s2);
}

/// Per-shop stuck thresholds: read back with the defaults, a bad one refused by name, a
/// shop's own 24 hours making its parcel 30 hours without news stuck (another shop's, at the
/// default 72, is not), `null` going back to the default.
async fn stuck_thresholds(db: String) {
    let home = tempfile::tempdir().unwrap();
    let smtp = Smtp::start();
    let c = client();
    let own = make_shop(server(home.path(), &db, &smtp), "Own", "o@own.example");
    let other = make_shop(server(home.path(), &db, &smtp), "Other", "o@other.example");
    let (key, other_key) = (
        own["api_key"].as_str().unwrap(),
        other["api_key"].as_str().unwrap(),
    );
    let running = ShopServer::start(server(home.path(), &db, &smtp), false);
    let base = running.base.clone();
    let call = |key: &str, method: &str, body: Option<Value>| {
        let (c, base, key, method) = (c.clone(), base.clone(), key.to_owned(), method.to_owned());
        async move { common::api(&c, &base, Some(&key), &method, "/shop/thresholds", body).await }
    };
    let defaults = json!({"in_transit": 72, "info_received": 120, "out_for_delivery": 24,
        "after_problem": 72, "at_pickup": 120});
    assert_eq!(call(key, "GET", None).await, (200, defaults.clone()));
    for (bad, field) in [
        (json!({"in_transit": 0}), "in_transit"),
        (json!({"at_pickup": 5000}), "at_pickup"),
        (json!({"stuck": 3}), "stuck"),
    ] {
        let (s, p) = call(key, "PATCH", Some(bad)).await;
        assert_eq!(s, 422, "{p}");
        assert!(p["detail"].as_str().unwrap().contains(field), "{p}");
    }
    let (s, t) = call(key, "PATCH", Some(json!({"in_transit": 24}))).await;
    assert_eq!(
        (s, &t["in_transit"], &t["at_pickup"]),
        (200, &json!(24), &json!(120)),
        "{t}"
    );
    let mine = parcel(&c, &base, key, 21, 30).await;
    parcel(&c, &base, other_key, 22, 30).await;
    let stuck = |key: String| {
        let (c, base) = (c.clone(), base.clone());
        async move {
            let (_, a) = common::api(&c, &base, Some(&key), "GET", "/attention", None).await;
            a["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["kind"] == "stuck")
                .map(|i| i["tracking_number"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let mut found = Vec::new();
    for _ in 0..200 {
        found = stuck(key.to_owned()).await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found, vec![mine], "stuck after the shop's 24 hours");
    assert!(
        stuck(other_key.to_owned()).await.is_empty(),
        "the other shop keeps 72 hours"
    );
    assert_eq!(
        call(key, "PATCH", Some(json!({"in_transit": null}))).await,
        (200, defaults)
    );
    drop(running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_shop_sets_when_a_parcel_is_stuck_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    stuck_thresholds(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_shop_sets_when_a_parcel_is_stuck_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    stuck_thresholds(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_digest_goes_once_a_day_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    daily_digest(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_digest_goes_once_a_day_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    daily_digest(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_parcel_alerts_the_staff_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    staff_alerts(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_parcel_alerts_the_staff_once_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    staff_alerts(db).await;
}
