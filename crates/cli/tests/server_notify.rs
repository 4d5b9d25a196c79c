//! Customers' notifications from the shop server, to a real SMTP server on loopback (aiosmtpd)
//! and a local server speaking Twilio's Messages API, on SQLite and on a real PostgreSQL (there
//! with two replicas): each piece of news reaches the customer once per channel: a parcel on
//! its way, then "Delivered", one email (plain text and HTML, the tracking link, one-click
//! unsubscribe headers) and one SMS (within 160 characters, with the link) each; a restart
//! sends nothing again; an unsubscribe is honoured.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{ShopServer, Smtp, TWILIO_SID, TWILIO_TOKEN, TwilioSink, client, qp, server_cmd};
use serde_json::{Value, json};

const UPS: &str = "1Z999AA10123456784";
const DHL: &str = "3318810025";
const THIRD: &str = "1Z5R89390357567127";
const FOURTH: &str = "3318810106";
const FIFTH: &str = "3318810110";

fn bin(home: &Path, db: &str, smtp: &Smtp, twilio: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db, "--listen", "127.0.0.1:0"])
        .env("PARCELTRAIL_SERVER_SMTP_URL", &smtp.url)
        .env("PARCELTRAIL_SERVER_MAIL_FROM", "track@trailhead.example")
        .env("PARCELTRAIL_SERVER_TWILIO_URL", twilio)
        .env("PARCELTRAIL_SERVER_TWILIO_SID", TWILIO_SID)
        .env("PARCELTRAIL_SERVER_TWILIO_TOKEN", TWILIO_TOKEN)
        .env("PARCELTRAIL_SERVER_TWILIO_FROM", "+15005550006");
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
    common::api(c, base, Some(key), method, path, body).await
}

/// The tracking page's notification choice, by the page's own API (`method` GET: the page).
async fn page_call(
    c: &reqwest::Client,
    base: &str,
    method: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let path = if method == "GET" {
        format!("{base}/api/v1/track/{token}")
    } else {
        format!("{base}/api/v1/track/{token}/notifications")
    };
    let mut r = c.request(method.parse().unwrap(), path);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// Adds a parcel to the order and has it delivered (a staff update).
async fn deliver_another(c: &reqwest::Client, base: &str, key: &str, order: &str, number: &str) {
    let (s, more) = call(
        c,
        base,
        key,
        "POST",
        &format!("/orders/{order}/shipments"),
        Some(json!({"shipments": [{"tracking_number": number}]})),
    )
    .await;
    assert_eq!(s, 200, "{more}");
    let id = more["shipments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tracking_number"] == number)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, r) = call(
        c,
        base,
        key,
        "POST",
        &format!("/shipments/{id}/events"),
        Some(json!({"status": "delivered", "description": "Delivered"})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
}

/// Waits until `f` holds (20 s at most).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited 20 s for {what}");
}

/// A header's value in a raw message (unfolded).
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw
        .split("\n\n")
        .next()
        .unwrap_or(raw)
        .replace("\r\n", "\n");
    let mut out: Option<String> = None;
    let mut lines = head.lines().peekable();
    while let Some(l) = lines.next() {
        if let Some((n, v)) = l.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            let mut v = v.trim().to_owned();
            while let Some(next) = lines.peek()
                && next.starts_with([' ', '\t'])
            {
                v.push(' ');
                v.push_str(next.trim());
                lines.next();
            }
            out = Some(v);
            break;
        }
    }
    out
}

async fn notifications(db: String, replicas: usize) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let smtp = Smtp::start();
    let (twilio, twilio_url) = TwilioSink::start().await;
    let o = bin(h, &db, &smtp, &twilio_url)
        .args([
            "shop",
            "create",
            "Trailhead Outfitters",
            "--admin-email",
            "o@trailhead.example",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    let key = made["api_key"].as_str().unwrap().to_owned();
    let mut servers: Vec<ShopServer> = (0..replicas)
        .map(|_| ShopServer::start(bin(h, &db, &smtp, &twilio_url), false))
        .collect();
    let base = servers[0].base.clone();
    let c = client();
    let (s, order) = call(
        &c,
        &base,
        &key,
        "POST",
        "/orders",
        Some(json!({
            "order_number": "A-1001",
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+447700900123"},
            "shipments": [{"tracking_number": UPS}]
        })),
    )
    .await;
    assert_eq!(s, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let ship = order["shipments"][0]["id"].as_str().unwrap().to_owned();
    let link = order["tracking_url"].as_str().unwrap().to_owned();

    // Each piece of news once: on its way, then delivered.
    for (n, status) in [(1, "in_transit"), (2, "delivered")] {
        let (s, r) = call(
            &c,
            &base,
            &key,
            "POST",
            &format!("/shipments/{ship}/events"),
            Some(json!({"status": status, "description": format!("{status} <b>scan</b>"), "location": {"city": "London", "country": "GB"}})),
        )
        .await;
        assert_eq!(s, 201, "{r}");
        until("an email and an SMS", || {
            smtp.messages().len() >= n && twilio.got().len() >= n
        })
        .await;
    }
    // Time for a second copy, were there one to come (another replica, a retry).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mail = smtp.messages();
    let texts = twilio.got();
    assert_eq!((mail.len(), texts.len()), (2, 2), "{mail:#?} {texts:#?}");
    assert_eq!(
        header(&mail[0], "Subject").unwrap(),
        "Trailhead Outfitters: Your order A-1001 is on its way"
    );
    assert!(
        texts[0]
            .body
            .starts_with("Trailhead Outfitters: order A-1001 on its way."),
        "{}",
        texts[0].body
    );

    let m = &mail[1];
    assert_eq!(
        header(m, "To").unwrap(),
        "\"Ada Lovelace\" <ada@example.com>"
    );
    assert_eq!(
        header(m, "From").unwrap(),
        "\"Trailhead Outfitters\" <track@trailhead.example>"
    );
    assert_eq!(
        header(m, "Subject").unwrap(),
        "Trailhead Outfitters: Your order A-1001 has been delivered"
    );
    assert!(
        header(m, "Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{m}"
    );
    assert!(
        m.contains("Content-Type: text/plain") && m.contains("Content-Type: text/html"),
        "{m}"
    );
    let unsubscribe = header(m, "List-Unsubscribe").unwrap();
    let unsubscribe = unsubscribe
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned();
    // (Each replica here has its own address; behind one public URL they would share it.)
    assert!(
        unsubscribe.starts_with("http://127.0.0.1:") && unsubscribe.contains("/u/"),
        "{unsubscribe}"
    );
    assert_eq!(
        header(m, "List-Unsubscribe-Post").unwrap(),
        "List-Unsubscribe=One-Click"
    );
    // The link in both parts, and again in each to rate the delivery; no carrier markup.
    let body = qp(m);
    let link = link.rsplit_once("/t/").unwrap().1;
    assert_eq!(body.matches(link).count(), 4, "{body}");
    assert_eq!(
        body.matches(&format!("{link}#feedback")).count(),
        2,
        "{body}"
    );
    assert!(body.contains("Hello Ada,"), "{body}");
    assert!(!body.contains("scan"), "{body}");

    let t = &texts[1];
    assert_eq!(
        (t.to.as_str(), t.from.as_str()),
        ("+447700900123", "+15005550006")
    );
    assert!(t.body.chars().count() <= 160, "{}", t.body);
    assert!(
        t.body
            .starts_with("Trailhead Outfitters: order A-1001 delivered."),
        "{}",
        t.body
    );
    assert!(t.body.ends_with(link), "{}", t.body);

    // Twilio's reports, signed: a forged one refused, a late one not moving the message back.
    let cb = t.status_callback.clone().expect("a status callback");
    assert!(
        cb.starts_with("http://127.0.0.1:") && cb.ends_with("/twilio/status"),
        "{cb}"
    );
    let report = |status: &str| {
        vec![
            ("AccountSid", TWILIO_SID.to_owned()),
            ("MessageSid", t.sid.clone()),
            ("MessageStatus", status.to_owned()),
            ("To", t.to.clone()),
        ]
    };
    assert_eq!(
        twilio_post(&c, &cb, &report("delivered"), Some("forged"))
            .await
            .0,
        403
    );
    assert_eq!(
        twilio_post(&c, &cb, &report("delivered"), None).await.0,
        204
    );
    assert_eq!(twilio_post(&c, &cb, &report("sent"), None).await.0, 204);
    let (s, o) = call(&c, &base, &key, "GET", &format!("/orders/{id}"), None).await;
    assert_eq!(s, 200);
    let sms: Vec<&Value> = o["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["channel"] == "sms")
        .collect();
    assert_eq!(sms.len(), 2, "{o}");
    assert_eq!(sms[0]["kind"], "delivered");
    assert_eq!(sms[0]["state"], "sent");
    assert_eq!(sms[0]["delivery"]["status"], "delivered", "{o}");

    // A restart (every replica) sends nothing again.
    for s in servers.drain(..) {
        s.stop();
    }
    let servers: Vec<ShopServer> = (0..replicas)
        .map(|_| ShopServer::start(bin(h, &db, &smtp, &twilio_url), false))
        .collect();
    let base = servers[0].base.clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!((smtp.messages().len(), twilio.got().len()), (2, 2));

    // The staff send the delivered email again: a new message in the log, sent once more.
    let (_, o) = call(&c, &base, &key, "GET", &format!("/orders/{id}"), None).await;
    let delivered = o["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["channel"] == "email" && n["kind"] == "delivered")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resend = format!("/orders/{id}/notifications/{delivered}/resend");
    let (s, again) = call(&c, &base, &key, "POST", &resend, None).await;
    assert_eq!(s, 201, "{again}");
    assert_ne!(again["id"], json!(delivered));
    assert_eq!(
        (&again["channel"], &again["kind"]),
        (&json!("email"), &json!("delivered"))
    );
    until("the email sent again", || smtp.messages().len() == 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mail = smtp.messages();
    assert_eq!(mail.len(), 3, "sent again once");
    assert_eq!(
        header(&mail[2], "Subject").unwrap(),
        "Trailhead Outfitters: Your order A-1001 has been delivered"
    );
    let (_, o) = call(&c, &base, &key, "GET", &format!("/orders/{id}"), None).await;
    let sent: Vec<&Value> = o["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["channel"] == "email" && n["kind"] == "delivered")
        .collect();
    assert_eq!(sent.len(), 2, "{o}");
    assert!(sent.iter().all(|n| n["state"] == "sent"), "{o}");
    // A message that is not the order's is not found.
    let other = format!("/orders/{id}/notifications/{}/resend", uuid::Uuid::now_v7());
    assert_eq!(call(&c, &base, &key, "POST", &other, None).await.0, 404);

    // The unsubscribe address opens no page, and one click stops the order's emails.
    let token = unsubscribe.rsplit_once("/u/").unwrap().1.to_owned();
    let r = c
        .get(format!("{base}/api/v1/track/{token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .post(format!("{base}/u/{token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let mut forged = token.clone().into_bytes();
    forged[50] = if forged[50] == b'A' { b'B' } else { b'A' };
    let r = c
        .post(format!("{base}/u/{}", String::from_utf8(forged).unwrap()))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A second parcel of the order delivered: an SMS, and no email.
    deliver_another(&c, &base, &key, &id, DHL).await;
    until("the third SMS", || twilio.got().len() == 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 3, "an email after the unsubscribe");
    assert_eq!(twilio.got().len(), 3);

    // The tracking page shows the choice, and turns SMS off too: a third parcel's delivery
    // sends nothing.
    let page_token = link.to_owned();
    let (s, page) = page_call(&c, &base, "GET", &page_token, None).await;
    assert_eq!(s, 200, "{page}");
    let n = &page["notifications"];
    assert_eq!(
        (&n["email"], &n["sms"], &n["push"]),
        (
            &json!({"available": true, "on": false}),
            &json!({"available": true, "on": true}),
            &json!({"available": false, "on": false})
        ),
        "{n}"
    );
    let (s, now) = page_call(&c, &base, "PUT", &page_token, Some(json!({"sms": false}))).await;
    assert_eq!((s, &now["sms"]["on"]), (200, &json!(false)), "{now}");
    let (s, bad) = page_call(&c, &base, "PUT", &page_token, Some(json!(["sms"]))).await;
    assert_eq!(s, 422, "{bad}");
    deliver_another(&c, &base, &key, &id, THIRD).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!((smtp.messages().len(), twilio.got().len()), (3, 3));

    // SMS back on, then the customer replies STOP: no SMS, and the order says why; START
    // brings them back.
    let (s, _) = page_call(&c, &base, "PUT", &page_token, Some(json!({"sms": true}))).await;
    assert_eq!(s, 200);
    let inbound = format!("{base}/twilio/inbound");
    let reply = |body: &str| {
        vec![
            ("AccountSid", TWILIO_SID.to_owned()),
            ("From", "+447700900123".to_owned()),
            ("To", "+15005550006".to_owned()),
            ("Body", body.to_owned()),
        ]
    };
    assert_eq!(
        twilio_post(&c, &inbound, &reply("STOP"), Some("forged"))
            .await
            .0,
        403
    );
    let (s, answer) = twilio_post(&c, &inbound, &reply("Stop"), None).await;
    assert_eq!(
        (s, answer.as_str()),
        (200, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>")
    );
    deliver_another(&c, &base, &key, &id, FOURTH).await;
    let why = || async {
        let (_, o) = call(&c, &base, &key, "GET", &format!("/orders/{id}"), None).await;
        o["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["channel"] == "sms" && n["state"] == "failed")
            .map(|n| n["last_error"].as_str().unwrap_or_default().to_owned())
            .find(|e| e.contains("STOP"))
    };
    let mut failed = None;
    for _ in 0..100 {
        failed = why().await;
        if failed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failed.is_some(), "no SMS given up for the STOP");
    assert_eq!(twilio.got().len(), 3);
    assert_eq!(
        twilio_post(&c, &inbound, &reply("START"), None).await.0,
        200
    );
    deliver_another(&c, &base, &key, &id, FIFTH).await;
    until("an SMS after START", || twilio.got().len() == 4).await;
    drop(servers);
}

/// A form POST to the server as Twilio makes it, signed for `url` (or with `forged`).
async fn twilio_post(
    c: &reqwest::Client,
    url: &str,
    params: &[(&str, String)],
    forged: Option<&str>,
) -> (u16, String) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let signature = forged
        .map(str::to_owned)
        .unwrap_or_else(|| parceltrail_shop::sms::sign(TWILIO_TOKEN, url, &owned));
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(owned.iter())
        .finish();
    let res = c
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_sends_one_email_and_one_sms_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    notifications(
        format!("sqlite:{}", dir.path().join("server.db").display()),
        1,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_sends_one_email_and_one_sms_with_two_replicas_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    notifications(db, 2).await;
}
