//! What each customer hears, and when, on SQLite and on a real PostgreSQL: the shop's defaults
//! (`/api/v1/shop/notifications`), the customer's own choice on the tracking page (channels,
//! which news), messages in the customer's language (from the order or the page), quiet hours
//! read in the customer's own time zone, and an SMTP relay that is down at first.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{Timelike, Utc};
use common::{ShopServer, Smtp, TWILIO_SID, TWILIO_TOKEN, TwilioSink, client, qp, server_cmd};
use serde_json::{Value, json};

fn bin(home: &Path, db: &str, smtp_url: &str, twilio: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db, "--listen", "127.0.0.1:0"])
        .env("PARCELTRAIL_SERVER_SMTP_URL", smtp_url)
        .env("PARCELTRAIL_SERVER_MAIL_FROM", "track@trailhead.example")
        .env("PARCELTRAIL_SERVER_TWILIO_URL", twilio)
        .env("PARCELTRAIL_SERVER_TWILIO_SID", TWILIO_SID)
        .env("PARCELTRAIL_SERVER_TWILIO_TOKEN", TWILIO_TOKEN)
        .env("PARCELTRAIL_SERVER_TWILIO_FROM", "+15005550006");
    c
}

fn create_shop(home: &Path, db: &str, smtp_url: &str, twilio: &str) -> String {
    let made = common::make_shop(
        bin(home, db, smtp_url, twilio),
        "Trailhead",
        "o@trailhead.example",
    );
    made["api_key"].as_str().unwrap().to_owned()
}

async fn call(
    base: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    common::api(&client(), base, Some(key), method, path, body).await
}

/// The tracking page's own calls (no key: the link is the credential).
async fn page(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    common::api(&client(), base, None, method, path, body).await
}

async fn until(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..secs * 10 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited {secs} s for {what}");
}

/// A zone (`Etc/GMT±N`) where the time of day is about `hour` now.
fn zone_at(hour: i64) -> String {
    let utc = i64::from(Utc::now().hour());
    let offset = (hour - utc + 12).rem_euclid(24) - 12;
    // POSIX's sign: Etc/GMT-3 is three hours ahead of UTC.
    match offset {
        0 => "Etc/GMT".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// The Subject header, decoded when it is an RFC 2047 UTF-8 word.
fn subject(raw: &str) -> String {
    let line = raw
        .replace("\r\n", "\n")
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .replace("\n ", " ")
        .lines()
        .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
        .unwrap_or_default();
    line.split(' ')
        .map(|w| {
            w.strip_prefix("=?utf-8?b?")
                .or_else(|| w.strip_prefix("=?UTF-8?B?"))
                .and_then(|b| b.strip_suffix("?="))
                .map(|b| {
                    use base64::Engine;
                    String::from_utf8_lossy(
                        &base64::engine::general_purpose::STANDARD
                            .decode(b)
                            .unwrap_or_default(),
                    )
                    .into_owned()
                })
                .unwrap_or_else(|| w.to_owned())
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace("  ", " ")
}

async fn order(base: &str, key: &str, body: Value) -> (String, String, String) {
    let (s, o) = call(base, key, "POST", "/orders", Some(body)).await;
    assert_eq!(s, 201, "{o}");
    let token = o["tracking_url"]
        .as_str()
        .unwrap()
        .rsplit_once("/t/")
        .unwrap()
        .1
        .to_owned();
    (
        o["id"].as_str().unwrap().to_owned(),
        o["shipments"][0]["id"].as_str().unwrap().to_owned(),
        token,
    )
}

async fn event(base: &str, key: &str, ship: &str, status: &str) {
    let (s, r) = call(
        base,
        key,
        "POST",
        &format!("/shipments/{ship}/events"),
        Some(json!({"status": status, "description": status})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
}

async fn log(base: &str, key: &str, id: &str) -> Vec<Value> {
    let (s, o) = call(base, key, "GET", &format!("/orders/{id}"), None).await;
    assert_eq!(s, 200, "{o}");
    o["notifications"].as_array().unwrap().clone()
}

async fn choices(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let smtp = Smtp::start();
    let (twilio, twilio_url) = TwilioSink::start().await;
    let key = create_shop(h, &db, &smtp.url, &twilio_url);
    let server = ShopServer::start(bin(h, &db, &smtp.url, &twilio_url), false);
    let base = server.base.clone();

    // The shop's defaults: the product's until set; bad values named.
    let (s, d) = call(&base, &key, "GET", "/shop/notifications", None).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(
        d,
        json!({"email": true, "sms": true, "news": ["shipped", "out_for_delivery", "ready_for_pickup", "delivered", "problems"],
               "quiet_hours": null, "time_zone": "UTC", "language": "en"})
    );
    let mut settings = json!({"email": true, "sms": false, "news": ["shipped", "delivered", "problems"],
        "quiet_hours": {"start": "00:00", "end": "06:00"}, "time_zone": "Europe/Berlin", "language": "en"});
    for (field, value, named) in [
        ("time_zone", json!("Mars/Olympus"), "time_zone"),
        ("language", json!("fr"), "language"),
        ("news", json!(["soon"]), "news"),
        (
            "quiet_hours",
            json!({"start": "9pm", "end": "06:00"}),
            "quiet_hours.start",
        ),
    ] {
        let mut bad = settings.clone();
        bad[field] = value;
        let (s, p) = call(&base, &key, "PUT", "/shop/notifications", Some(bad)).await;
        assert_eq!(s, 422, "{p}");
        assert!(p["detail"].as_str().unwrap().contains(named), "{p}");
    }
    let (s, kept) = call(
        &base,
        &key,
        "PUT",
        "/shop/notifications",
        Some(settings.clone()),
    )
    .await;
    assert_eq!(s, 200, "{kept}");
    settings["quiet_hours"]["delivered_through"] = json!(false);
    assert_eq!(kept, settings);
    assert_eq!(
        call(&base, &key, "GET", "/shop/notifications", None)
            .await
            .1,
        settings
    );

    // A German customer, awake: the order's language gives German words, the shop's default
    // of no SMS holds.
    let awake = zone_at(15);
    let (de, de_ship, de_token) = order(
        &base,
        &key,
        json!({"order_number": "DE-1",
               "customer": {"name": "Jana Weber", "email": "jana@example.com", "phone": "+4915112345678",
                            "language": "de-DE", "time_zone": awake},
               "shipments": [{"tracking_number": "1Z999AA10123456784"}]}),
    )
    .await;
    let (s, o) = call(&base, &key, "GET", &format!("/orders/{de}"), None).await;
    assert_eq!((s, &o["customer"]["language"]), (200, &json!("de")), "{o}");
    assert_eq!(o["customer"]["time_zone"], json!(awake));
    let (s, p) = call(
        &base,
        &key,
        "PATCH",
        &format!("/orders/{de}"),
        Some(json!({"customer": {"time_zone": "Nowhere/Land"}})),
    )
    .await;
    assert_eq!(s, 422, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("customer.time_zone"),
        "{p}"
    );

    event(&base, &key, &de_ship, "in_transit").await;
    until("the German email", 20, async || smtp.messages().len() == 1).await;
    let m = qp(&smtp.messages()[0]);
    assert_eq!(
        subject(&smtp.messages()[0]),
        "Trailhead: Ihre Bestellung DE-1 ist unterwegs"
    );
    assert!(
        m.contains("Hallo Jana,") && m.contains("Bestellung verfolgen"),
        "{m}"
    );
    assert!(m.contains("Keine E-Mails mehr zu dieser Bestellung"), "{m}");
    assert!(m.contains("<html lang=\"de\">"), "{m}");

    // The page shows the customer's choice over the defaults, and takes theirs: SMS on, and
    // only "delivered".
    let (s, p) = page(&base, "GET", &format!("/track/{de_token}"), None).await;
    assert_eq!(s, 200, "{p}");
    let n = &p["notifications"];
    assert_eq!(
        (&n["email"]["on"], &n["sms"]["on"]),
        (&json!(true), &json!(false)),
        "{n}"
    );
    assert_eq!(n["news"], json!(["shipped", "delivered", "problems"]));
    assert_eq!(n["language"], "de");
    assert_eq!(
        n["quiet_hours"],
        json!({"start": "00:00", "end": "06:00", "delivered_through": false})
    );
    let put = format!("/track/{de_token}/notifications");
    let (s, bad) = page(&base, "PUT", &put, Some(json!({"news": ["everything"]}))).await;
    assert_eq!(s, 422, "{bad}");
    assert!(bad["detail"].as_str().unwrap().contains("news"), "{bad}");
    let (s, n) = page(
        &base,
        "PUT",
        &put,
        Some(json!({"sms": true, "news": ["delivered"], "language": "de", "time_zone": awake})),
    )
    .await;
    assert_eq!(s, 200, "{n}");
    assert_eq!(
        (&n["sms"]["on"], &n["news"]),
        (&json!(true), &json!(["delivered"])),
        "{n}"
    );

    event(&base, &key, &de_ship, "out_for_delivery").await;
    until(
        "the out-for-delivery news to be looked at",
        20,
        async || {
            log(&base, &key, &de)
                .await
                .iter()
                .filter(|n| n["kind"] == "out_for_delivery" && n["state"] == "failed")
                .count()
                == 2
        },
    )
    .await;
    event(&base, &key, &de_ship, "delivered").await;
    until("the German delivery email and SMS", 20, async || {
        smtp.messages().len() == 2 && twilio.got().len() == 1
    })
    .await;
    assert_eq!(
        subject(&smtp.messages()[1]),
        "Trailhead: Ihre Bestellung DE-1 wurde zugestellt"
    );
    let text = &twilio.got()[0].body;
    assert!(
        text.starts_with("Trailhead: Bestellung DE-1 zugestellt."),
        "{text}"
    );
    // "Out for delivery" was not wanted: kept with the reason, not sent.
    let entries = log(&base, &key, &de).await;
    let ofd: Vec<&Value> = entries
        .iter()
        .filter(|n| n["kind"] == "out_for_delivery")
        .collect();
    assert!(!ofd.is_empty(), "{entries:#?}");
    assert!(
        ofd.iter().all(|n| n["state"] == "failed"
            && n["last_error"]
                .as_str()
                .unwrap()
                .contains("chose not to hear")),
        "{ofd:#?}"
    );

    // A customer whose night it is: nothing now, their email waits for 06:00 their time,
    // in the shop's default language. The awake customer's news goes meanwhile.
    let asleep = zone_at(3);
    let (ny, ny_ship, _) = order(
        &base,
        &key,
        json!({"order_number": "NY-2",
               "customer": {"name": "Sam Reed", "email": "sam@example.com", "time_zone": asleep},
               "shipments": [{"tracking_number": "1Z5R89390357567127"}]}),
    )
    .await;
    event(&base, &key, &ny_ship, "in_transit").await;
    let mut waiting = None;
    until("the sleeping customer's email to wait", 20, async || {
        waiting = log(&base, &key, &ny).await.into_iter().find(|n| {
            n["channel"] == "email"
                && n["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("quiet hours"))
        });
        waiting.is_some()
    })
    .await;
    let w = waiting.unwrap();
    assert_eq!(
        (&w["state"], &w["attempts"]),
        (&json!("pending"), &json!(0)),
        "{w}"
    );
    let at: chrono::DateTime<Utc> = w["next_attempt_at"].as_str().unwrap().parse().unwrap();
    let tz: chrono_tz::Tz = asleep.parse().unwrap();
    let local = at.with_timezone(&tz);
    assert_eq!((local.hour(), local.minute()), (6, 0), "{w}");
    assert!(
        at > Utc::now() && at < Utc::now() + chrono::Duration::hours(7),
        "{at}"
    );
    assert_eq!(smtp.messages().len(), 2);
    drop(server);
}

/// The relay down at first: the emails wait and are retried, and only the latest news
/// arrives, once; a refusal for good is recorded on the order at once.
async fn relay_down_then_up(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let port = common::free_port();
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let (_twilio, twilio_url) = TwilioSink::start().await;
    let key = create_shop(h, &db, &smtp_url, &twilio_url);
    let server = ShopServer::start(bin(h, &db, &smtp_url, &twilio_url), false);
    let base = server.base.clone();
    let (id, ship, _) = order(
        &base,
        &key,
        json!({"order_number": "R-1", "customer": {"email": "ada@example.com"},
               "shipments": [{"tracking_number": "1Z999AA10123456784"}]}),
    )
    .await;
    let failed_once =
        |n: &Value| n["channel"] == "email" && n["state"] == "pending" && n["attempts"] == 1;
    // Two pieces of news while the relay is down: each tried once and waiting.
    event(&base, &key, &ship, "in_transit").await;
    until("a failed first try", 20, async || {
        log(&base, &key, &id).await.iter().any(failed_once)
    })
    .await;
    event(&base, &key, &ship, "delivered").await;
    until("the second news's failed first try", 20, async || {
        log(&base, &key, &id)
            .await
            .iter()
            .filter(|n| failed_once(n))
            .count()
            == 2
    })
    .await;
    let first = log(&base, &key, &id).await;
    let e = first.iter().find(|n| n["channel"] == "email").unwrap();
    assert!(
        e["last_error"].as_str().is_some_and(|s| !s.is_empty()),
        "{e}"
    );
    assert!(e["next_attempt_at"].is_string(), "{e}");

    // The relay comes up: the retry (30 s after the first try) delivers it, once.
    let smtp = Smtp::start_on(port);
    until("the retried email", 75, async || smtp.messages().len() == 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1);
    let e = log(&base, &key, &id)
        .await
        .into_iter()
        .find(|n| n["channel"] == "email")
        .unwrap();
    assert_eq!(
        (&e["state"], &e["attempts"]),
        (&json!("sent"), &json!(2)),
        "{e}"
    );
    // Only the latest news went: the older one, overtaken while both waited, is kept as such.
    assert_eq!(
        subject(&smtp.messages()[0]),
        "Trailhead: Your order R-1 has been delivered"
    );
    let older = log(&base, &key, &id)
        .await
        .into_iter()
        .find(|n| n["channel"] == "email" && n["kind"] == "shipped")
        .unwrap();
    assert_eq!(older["state"], "failed", "{older}");
    assert!(
        older["last_error"].as_str().unwrap().contains("later news"),
        "{older}"
    );

    // A relay's refusal for good (550) is not retried: the order says it failed, and why.
    let (id, ship, _) = order(
        &base,
        &key,
        json!({"order_number": "R-2", "customer": {"email": "nobody@refused.example"},
               "shipments": [{"tracking_number": "1Z5R89390357567127"}]}),
    )
    .await;
    event(&base, &key, &ship, "delivered").await;
    let mut refused = None;
    until("the refusal on the order", 20, async || {
        refused = log(&base, &key, &id)
            .await
            .into_iter()
            .find(|n| n["channel"] == "email" && n["state"] == "failed");
        refused.is_some()
    })
    .await;
    let r = refused.unwrap();
    assert_eq!(r["attempts"], json!(1), "{r}");
    assert!(r["last_error"].as_str().unwrap().contains("550"), "{r}");
    assert_eq!(smtp.messages().len(), 1);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_choices_language_and_quiet_hours_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    choices(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_choices_language_and_quiet_hours_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    choices(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_is_retried_until_the_relay_takes_it_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    relay_down_then_up(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_is_retried_until_the_relay_takes_it_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    relay_down_then_up(db).await;
}
