//! Customers' requests and feedback through the shop server, on SQLite and on a real
//! PostgreSQL (there with two replicas: the request made through one, decided through the
//! other). A request is refused when it is too late, incomplete, a duplicate of an open one, or
//! made through a lookup's link; staff list and decide it; an approved address change is
//! written to the order; the customer gets one email with the decision (a real SMTP server on
//! loopback); a decided request cannot be decided or withdrawn again; another shop sees none of
//! it. A delivered parcel is rated once, changed, and listed for the shop; the delivered email
//! asks for it.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{ShopServer, Smtp, client, server_cmd};
use serde_json::{Value, json};

const UPS: &str = "1Z999AA10123456784";

fn bin(home: &Path, db: &str, smtp: &Smtp) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db, "--listen", "127.0.0.1:0"])
        .env("PARCELTRAIL_SERVER_SMTP_URL", &smtp.url)
        .env("PARCELTRAIL_SERVER_MAIL_FROM", "track@trailhead.example");
    c
}

/// A new shop: its API key and id.
fn shop(home: &Path, db: &str, smtp: &Smtp, name: &str) -> (String, String) {
    let o = bin(home, db, smtp)
        .args(["shop", "create", name, "--admin-email"])
        .arg(format!("owner@{}.example", name.len()))
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        made["api_key"].as_str().unwrap().to_owned(),
        made["shop_id"].as_str().unwrap().to_owned(),
    )
}

/// A call with a key (`key` None: the public tracking API).
async fn call(
    c: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    common::api(c, base, key, method, path, body).await
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited 30 s for {what}");
}

fn subject(raw: &str) -> String {
    raw.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .to_owned()
}

/// Quoted-printable soft breaks joined (enough to find words and links).
fn unfolded(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

async fn requests_and_feedback(db: String, replicas: usize) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let smtp = Smtp::start();
    let (key, shop_id) = shop(h, &db, &smtp, "Trailhead Outfitters");
    let (other, _) = shop(h, &db, &smtp, "Other Shop");
    let servers: Vec<ShopServer> = (0..replicas)
        .map(|_| ShopServer::start(bin(h, &db, &smtp), false))
        .collect();
    let (a, b) = (servers[0].base.clone(), servers[replicas - 1].base.clone());
    let k = Some(key.as_str());
    let c = client();

    // The staff's systems hear of requests and feedback by webhook (the address is never
    // reached from here: the deliveries' log is what is checked).
    let (s, hook) = call(
        &c,
        &a,
        k,
        "POST",
        "/webhooks",
        Some(json!({"url": "https://hooks.trailhead.example/in", "event_types": ["request.created", "request.updated", "feedback.given"]})),
    )
    .await;
    assert_eq!(s, 201, "{hook}");
    let hook = hook["webhook"]["id"]
        .as_str()
        .or(hook["id"].as_str())
        .unwrap()
        .to_owned();
    let (s, order) = call(
        &c,
        &a,
        k,
        "POST",
        "/orders",
        Some(json!({
            "order_number": "A-1001",
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "postcode": "SW1A 1AA", "address": "10 Downing Street"},
            "shipments": [{"tracking_number": UPS}]
        })),
    )
    .await;
    assert_eq!(s, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let ship = order["shipments"][0]["id"].as_str().unwrap().to_owned();
    let token = order["tracking_url"]
        .as_str()
        .unwrap()
        .rsplit_once("/t/")
        .unwrap()
        .1
        .to_owned();
    let page = |base: &str| format!("{base}/api/v1/track/{token}");
    let r: Value = c.get(page(&a)).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        r["requests"]["allowed"],
        json!(["address", "instructions", "cancel"]),
        "{r}"
    );

    // The shop words its "on its way" email itself; a mistake is refused with where it is.
    let (s, bad) = call(
        &c,
        &a,
        k,
        "PUT",
        "/shop/templates/shipped",
        Some(json!({"subject": "{{ shop }}", "text": "Hi {{ frist_name }}"})),
    )
    .await;
    assert_eq!(s, 422, "{bad}");
    assert!(
        bad["detail"].as_str().unwrap().starts_with("text, line 1"),
        "{bad}"
    );
    let (s, _) = call(
        &c,
        &a,
        k,
        "PUT",
        "/shop/templates/teleported",
        Some(json!({"subject": "s", "text": "t"})),
    )
    .await;
    assert_eq!(s, 404);
    let template = json!({
        "subject": "{{ shop }} ships {{ order_number }}",
        "text": "Hi {{ first_name }}, your parcel {{ status }}.\nFollow it: {{ tracking_url }}",
        "html": "<p>Hi {{ first_name }}, your parcel <b>{{ status }}</b>.</p>"
    });
    let (s, preview) = call(
        &c,
        &a,
        k,
        "POST",
        "/shop/templates/preview",
        Some(template.clone()),
    )
    .await;
    assert_eq!(s, 200, "{preview}");
    assert_eq!(preview["subject"], "Trailhead Outfitters ships A-1001");
    let (s, kept) = call(&c, &b, k, "PUT", "/shop/templates/shipped", Some(template)).await;
    assert_eq!((s, &kept["kind"]), (200, &json!("shipped")), "{kept}");
    let (_, listed) = call(&c, &a, k, "GET", "/shop/templates", None).await;
    assert_eq!(listed["templates"].as_array().unwrap().len(), 1, "{listed}");
    let (_, theirs) = call(&c, &a, Some(&other), "GET", "/shop/templates", None).await;
    assert_eq!(theirs["templates"], json!([]));

    // Moving: too late to cancel.
    let (s, r) = call(
        &c,
        &a,
        k,
        "POST",
        &format!("/shipments/{ship}/events"),
        Some(json!({"status": "in_transit", "description": "Departed"})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    until("the on-its-way email", || smtp.messages().len() == 1).await;
    let first = smtp.messages()[0].clone();
    assert_eq!(subject(&first), "Trailhead Outfitters ships A-1001");
    let words = unfolded(&first);
    assert!(
        words.contains("Hi Ada, your parcel is on its way."),
        "{words}"
    );
    assert!(words.contains("<b>is on its way</b>"), "{words}");
    // Whatever the template, the unsubscribe line.
    assert!(words.contains("Stop emails about this order"), "{words}");
    let rq = format!("/track/{token}/requests");
    let (s, r) = call(&c, &a, None, "POST", &rq, Some(json!({"kind": "cancel"}))).await;
    assert_eq!(
        (s, r["detail"].as_str()),
        (409, Some("the order has already shipped"))
    );
    let (s, r) = call(&c, &a, None, "POST", &rq, Some(json!({"kind": "address"}))).await;
    assert_eq!(s, 422, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("address"), "{r}");
    let (s, r) = call(&c, &a, None, "POST", &rq, Some(json!({"kind": "teleport"}))).await;
    assert_eq!(s, 422, "{r}");

    // A lookup's link cannot change the order.
    let (s, found) = call(
        &c,
        &a,
        None,
        "POST",
        "/track/lookup",
        Some(json!({"shop": shop_id, "order_number": "A-1001", "email_or_postcode": "ada@example.com"})),
    )
    .await;
    assert_eq!(s, 200, "{found}");
    let lookup = found["url"].as_str().unwrap().rsplit_once("/t/").unwrap().1;
    let (s, r) = call(
        &c,
        &a,
        None,
        "POST",
        &format!("/track/{lookup}/requests"),
        Some(json!({"kind": "instructions", "text": "Side door"})),
    )
    .await;
    assert_eq!(
        (s, r["type"].as_str().map(|t| t.ends_with("link-needed"))),
        (403, Some(true))
    );

    // A new address, through one replica.
    let (s, made) = call(
        &c,
        &a,
        None,
        "POST",
        &rq,
        Some(json!({"kind": "address", "address": "  221B Baker Street\r\nLondon ", "postcode": "NW1 6XE", "text": "Moved"})),
    )
    .await;
    assert_eq!(s, 201, "{made}");
    assert_eq!(made["state"], "open");
    assert_eq!(made["address"], "221B Baker Street\nLondon");
    // It waits for the staff among what needs them, saying what to do.
    let (s, att) = call(&c, &b, k, "GET", "/attention", None).await;
    assert_eq!(s, 200, "{att}");
    let waiting: Vec<&Value> = att["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "request")
        .collect();
    assert_eq!(waiting.len(), 1, "{att}");
    assert_eq!(waiting[0]["request_id"], made["id"], "{att}");
    assert_eq!(waiting[0]["order_number"], "A-1001", "{att}");
    assert!(
        waiting[0]["reason"]
            .as_str()
            .unwrap()
            .contains("a new delivery address"),
        "{att}"
    );
    let rid = made["id"].as_str().unwrap().to_owned();
    let (s, r) = call(
        &c,
        &a,
        None,
        "POST",
        &rq,
        Some(json!({"kind": "address", "address": "Elsewhere"})),
    )
    .await;
    assert_eq!(s, 409, "{r}");

    // Staff see it waiting; another shop does not, and cannot decide it.
    let (s, open) = call(&c, &b, k, "GET", "/requests", None).await;
    assert_eq!(s, 200);
    assert_eq!(open["requests"].as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open["requests"][0]["id"], rid.as_str());
    let (_, theirs) = call(&c, &b, Some(&other), "GET", "/requests", None).await;
    assert_eq!(theirs["requests"], json!([]));
    let decision = format!("/requests/{rid}/decision");
    let (s, _) = call(
        &c,
        &b,
        Some(&other),
        "POST",
        &decision,
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &c,
        &b,
        Some(&other),
        "GET",
        &format!("/orders/{id}/requests"),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, r) = call(
        &c,
        &b,
        k,
        "POST",
        &decision,
        Some(json!({"decision": "maybe"})),
    )
    .await;
    assert_eq!(s, 422, "{r}");

    // Approved through the other replica: the order has the new address, the customer one
    // email.
    let (s, done) = call(
        &c,
        &b,
        k,
        "POST",
        &decision,
        Some(json!({"decision": "approve", "note": "Done: the courier has it"})),
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["state"], "approved");
    let steps: Vec<&str> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["open", "approved"]);
    assert_eq!(done["history"][0]["by"], "customer");
    let (_, o) = call(&c, &a, k, "GET", &format!("/orders/{id}"), None).await;
    assert_eq!(o["customer"]["address"], "221B Baker Street\nLondon", "{o}");
    assert_eq!(o["customer"]["postcode"], "NW1 6XE");
    assert_eq!(o["requests"][0]["state"], "approved");
    until("the decision's email", || smtp.messages().len() == 2).await;
    let mail = smtp.messages();
    assert_eq!(
        subject(&mail[1]),
        "Trailhead Outfitters: order A-1001, new delivery address confirmed"
    );
    let body = unfolded(&mail[1]);
    assert!(body.contains("Done: the courier has it"), "{body}");
    assert!(body.contains(&format!("/t/{}", &token[..40])), "{body}");
    let (s, _) = call(
        &c,
        &a,
        k,
        "POST",
        &decision,
        Some(json!({"decision": "reject"})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = call(&c, &a, None, "POST", &format!("{rq}/{rid}/withdraw"), None).await;
    assert_eq!(s, 409);

    // Instructions, withdrawn by the customer: nothing to email.
    let (s, ins) = call(
        &c,
        &b,
        None,
        "POST",
        &rq,
        Some(json!({"kind": "instructions", "text": "Leave it with number 12"})),
    )
    .await;
    assert_eq!(s, 201, "{ins}");
    let iid = ins["id"].as_str().unwrap();
    let (s, w) = call(&c, &a, None, "POST", &format!("{rq}/{iid}/withdraw"), None).await;
    assert_eq!((s, &w["state"]), (200, &json!("withdrawn")), "{w}");
    let r: Value = c.get(page(&b)).send().await.unwrap().json().await.unwrap();
    let states: Vec<&str> = r["requests"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["approved", "withdrawn"]);
    // The customer's page names no staff member.
    assert_eq!(r["requests"]["list"][0]["history"][1]["by"], "shop");

    // Feedback: not before delivery; once delivered, one rating per parcel, changeable.
    let fb = format!("/track/{token}/parcels/{ship}/feedback");
    let (s, _) = call(&c, &a, None, "PUT", &fb, Some(json!({"rating": 5}))).await;
    assert_eq!(s, 409);
    let (s, r) = call(
        &c,
        &a,
        k,
        "POST",
        &format!("/shipments/{ship}/events"),
        Some(json!({"status": "delivered", "description": "Delivered"})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    until("the delivered email", || smtp.messages().len() == 3).await;
    let delivered = unfolded(&smtp.messages()[2]);
    assert!(delivered.contains("#feedback"), "{delivered}");
    let (s, _) = call(&c, &a, None, "PUT", &fb, Some(json!({"rating": 6}))).await;
    assert_eq!(s, 422);
    let (s, r) = call(
        &c,
        &a,
        None,
        "PUT",
        &fb,
        Some(json!({"rating": 5, "comment": "Quick <b>and</b> friendly"})),
    )
    .await;
    assert_eq!((s, &r["rating"]), (200, &json!(5)), "{r}");
    let (s, r) = call(&c, &b, None, "PUT", &fb, Some(json!({"rating": 3}))).await;
    assert_eq!(
        (s, &r["rating"], &r["comment"]),
        (200, &json!(3), &Value::Null),
        "{r}"
    );
    let (s, wrong) = call(
        &c,
        &a,
        None,
        "PUT",
        &format!("/track/{token}/parcels/{}/feedback", uuid::Uuid::now_v7()),
        Some(json!({"rating": 3})),
    )
    .await;
    assert_eq!(s, 404, "{wrong}");
    let (s, all) = call(&c, &b, k, "GET", "/feedback", None).await;
    assert_eq!(s, 200);
    assert_eq!(all["feedback"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all["feedback"][0]["rating"], 3);
    assert_eq!(all["feedback"][0]["carrier"], "ups");
    let (_, theirs) = call(&c, &b, Some(&other), "GET", "/feedback", None).await;
    assert_eq!(theirs["feedback"], json!([]));
    let r: Value = c.get(page(&a)).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["parcels"][0]["feedback"]["rating"], 3, "{r}");

    // Nothing sent twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.messages().len(), 3);
    let (s, log) = call(
        &c,
        &a,
        k,
        "GET",
        &format!("/webhooks/{hook}/deliveries?limit=100"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{log}");
    let mut types: Vec<&str> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event_type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "feedback.given",
            "feedback.given",
            "request.created",
            "request.created",
            "request.updated",
            "request.updated"
        ]
    );
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_feedback_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    requests_and_feedback(
        format!("sqlite:{}", dir.path().join("server.db").display()),
        1,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_feedback_with_two_replicas_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    requests_and_feedback(db, 2).await;
}
