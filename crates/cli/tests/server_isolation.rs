//! One shop's credentials never reach another shop's data: for every route in the server's
//! own OpenAPI document, shop B's API key and B's staff session are tried on shop A's ids.
//! Routes with an id answer 404 (as for an id that does not exist) and change nothing; the
//! rest answer with none of A's ids. A new route with an id of a kind this test has no
//! fixture for fails it, so every route joins the check.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{ShopServer, client, server_cmd};
use serde_json::{Value, json};

fn bin(home: &Path, db: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db]);
    c
}

fn create_shop(home: &Path, db: &str, name: &str, email: &str) -> Value {
    let o = bin(home, db)
        .args(["shop", "create", name, "--admin-email", email, "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A signed-in staff member: the cookie and the CSRF token.
struct Staff {
    cookie: String,
    csrf: String,
}

async fn sign_in(c: &reqwest::Client, base: &str, created: &Value, email: &str) -> Staff {
    let token = created["setup_url"]
        .as_str()
        .unwrap()
        .split_once('#')
        .unwrap()
        .1;
    let password = "a password for the test";
    let r = c
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"token": token, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    Staff {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

enum As<'a> {
    Key(&'a str),
    Staff(&'a Staff),
}

async fn call(c: &reqwest::Client, method: &str, url: &str, who: &As<'_>) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut r = c.request(method.clone(), url);
    r = match who {
        As::Key(k) => r.bearer_auth(k),
        As::Staff(s) => r
            .header("cookie", &s.cookie)
            .header("x-csrf-token", &s.csrf),
    };
    if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
        // A body the route would take, so what answers is the id, not the body's check.
        let body = if url.ends_with("/shipments") {
            json!({"shipments": [{"tracking_number": "1Z5R89390000000019"}]})
        } else if url.ends_with("/events") {
            json!({"status": "delivered"})
        } else if url.ends_with("/decision") {
            json!({"decision": "approve"})
        } else {
            json!({})
        };
        r = r.json(&body);
    }
    let mut res = r.send().await.unwrap();
    let status = res.status().as_u16();
    let stream = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if stream {
        // An endless stream: what it says in its first moments.
        let mut body = String::new();
        while let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(std::time::Duration::from_millis(500), res.chunk()).await
        {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
        return (status, body);
    }
    (status, res.text().await.unwrap())
}

async fn isolation(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let a = create_shop(h, &db, "Shop A", "owner@a.example");
    let b = create_shop(h, &db, "Shop B", "owner@b.example");
    let mut cmd = bin(h, &db);
    // Nothing is sent: A's test delivery stays queued, and nothing leaves this machine.
    cmd.args(["--listen", "127.0.0.1:0", "--webhook-concurrency", "0"])
        // Customers' email to a port where nothing listens: A's messages are queued (and
        // retried), and nothing leaves this machine.
        .env("PARCELTRAIL_SERVER_SMTP_URL", "smtp://127.0.0.1:9")
        .env("PARCELTRAIL_SERVER_MAIL_FROM", "track@a.example");
    let server = ShopServer::start(cmd, false);
    let base = server.base.clone();
    let c = client();
    let key_a = a["api_key"].as_str().unwrap();
    let key_b = b["api_key"].as_str().unwrap();
    let staff_b = sign_in(&c, &base, &b, "owner@b.example").await;

    // Shop A's records, one of each kind a route can name.
    let made: Value = c
        .post(format!("{base}/api/v1/keys"))
        .bearer_auth(key_a)
        .json(&json!({"name": "A's warehouse", "scopes": "read"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a_key_id = made["key"]["id"].as_str().unwrap().to_owned();
    let a_key = made["api_key"].as_str().unwrap().to_owned();
    // A's parcel's number: A's alone (not the templates' sample number).
    let a_number = common::ups(4_711);
    let order: Value = c
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(key_a)
        .json(
            &json!({"order_number": "A-1", "customer": {"email": "customer@a.example"},
            "shipments": [{"tracking_number": a_number}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a_order = order["id"].as_str().unwrap().to_owned();
    let a_shipment = order["shipments"][0]["id"].as_str().unwrap().to_owned();
    let a_shop = a["shop_id"].as_str().unwrap().to_owned();
    // A webhook endpoint of A's, and a delivery to it.
    let hook: Value = c
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(key_a)
        .json(&json!({"url": "https://a.example/hooks", "description": "A's receiver"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a_hook_id = hook["webhook"]["id"].as_str().unwrap().to_owned();
    let delivery: Value = c
        .post(format!("{base}/api/v1/webhooks/{a_hook_id}/test"))
        .bearer_auth(key_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a_delivery_id = delivery["id"].as_str().unwrap().to_owned();
    // A customer's request about A's order, through its link.
    let token = order["tracking_url"]
        .as_str()
        .unwrap()
        .rsplit_once("/t/")
        .unwrap()
        .1
        .to_owned();
    let (_, request) = common::api(
        &c,
        &base,
        None,
        "POST",
        &format!("/track/{token}/requests"),
        Some(json!({"kind": "instructions", "text": "Side door"})),
    )
    .await;
    let a_request = request["id"].as_str().unwrap().to_owned();
    // A message to A's customer: the parcel on its way.
    let (s, _) = common::api(
        &c,
        &base,
        Some(key_a),
        "POST",
        &format!("/shipments/{a_shipment}/events"),
        Some(json!({"status": "in_transit", "description": "Departed"})),
    )
    .await;
    assert_eq!(s, 201);
    let mut a_message = None;
    for _ in 0..200 {
        let (_, o) = common::api(
            &c,
            &base,
            Some(key_a),
            "GET",
            &format!("/orders/{a_order}"),
            None,
        )
        .await;
        a_message = o["notifications"][0]["id"].as_str().map(str::to_owned);
        if a_message.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let a_message = a_message.expect("a message to A's customer");
    // A's owner, as A's staff list names them.
    let (_, staff) = common::api(&c, &base, Some(key_a), "GET", "/staff", None).await;
    let a_owner = staff["staff"][0]["id"].as_str().unwrap().to_owned();
    let fixtures: HashMap<&str, String> = HashMap::from([
        ("requests", a_request.clone()),
        ("parcels", a_shipment.clone()),
        ("keys", a_key_id.clone()),
        ("orders", a_order.clone()),
        ("shipments", a_shipment.clone()),
        ("webhooks", a_hook_id.clone()),
        ("deliveries", a_delivery_id.clone()),
        ("notifications", a_message.clone()),
        ("staff", a_owner.clone()),
    ]);
    let a_ids = [
        a_shop.clone(),
        a_key_id.clone(),
        a_order.clone(),
        a_shipment.clone(),
        a_hook_id.clone(),
        a_delivery_id.clone(),
        a_request.clone(),
        a_message.clone(),
        a_owner.clone(),
        // Not an id, but A's alone: no list, export or sync page of B's may carry it.
        a_number.clone(),
    ];

    let doc: Value = c
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut with_ids = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // A page of the one UI is the same file whatever the path names (its data comes
            // from the API routes checked here): it must reveal nothing, and answers 200.
            let page = op["responses"]["200"]["content"].get("text/html").is_some();
            let segments: Vec<&str> = path.split('/').collect();
            let mut url = String::new();
            let mut named = false;
            // The webhook receiver names a shop and is authenticated by signatures, not by
            // the caller's key: B's key on it must reveal nothing and store nothing.
            let receiver = path.contains("{shop_id}");
            for (i, seg) in segments.iter().enumerate() {
                if *seg == "{source}" {
                    // Not an id: a webhook source of the caller's own shop.
                    url.push_str("standard");
                } else if *seg == "{carrier}" {
                    // Not an id: a carrier account of the caller's own shop.
                    url.push_str("dhl");
                } else if *seg == "{kind}" {
                    // Not an id: a kind of news, of the caller's own templates.
                    url.push_str("default");
                } else if *seg == "{token}" {
                    // A tracking link is its own credential, whoever holds it: B's key or
                    // session opens no page without one (a token of no link here).
                    url.push_str(&"A".repeat(88));
                    named = true;
                } else if *seg == "{shop_id}" {
                    url.push_str(&a_shop);
                    named = true;
                } else if seg.starts_with('{') {
                    let kind = segments[i - 1];
                    let id = fixtures.get(kind).unwrap_or_else(|| {
                        panic!("{method} {path}: no fixture of shop A for {kind:?} ids; add one")
                    });
                    url.push_str(id);
                    named = true;
                } else {
                    url.push_str(seg);
                }
                url.push('/');
            }
            url.pop();
            let url = format!("{base}{url}");
            if !named && method != "get" {
                // A change with no id acts on the caller's own shop by construction.
                continue;
            }
            for who in [As::Key(key_b), As::Staff(&staff_b)] {
                let (status, body) = call(&c, method, &url, &who).await;
                assert!(status < 500, "{method} {path}: {status} {body}");
                for id in &a_ids {
                    assert!(
                        !body.contains(id.as_str()),
                        "{method} {path} revealed {id}: {body}"
                    );
                }
                if receiver {
                    assert_eq!(status, 401, "{method} {path} as B: {body}");
                } else if page {
                    assert_eq!(status, 200, "{method} {path} as B: {body}");
                } else if named {
                    assert_eq!(status, 404, "{method} {path} as B: {body}");
                }
            }
            if named {
                with_ids += 1;
            }
        }
    }
    assert!(
        with_ids >= 5,
        "only {with_ids} routes with an id were checked"
    );
    // A's order, which B tried to change, remove and add to, is as it was.
    let now: Value = c
        .get(format!("{base}/api/v1/orders/{a_order}"))
        .bearer_auth(key_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["shipments"].as_array().unwrap().len(), 1, "{now}");
    let events = now["shipments"][0]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "only A's own event: {now}");
    assert_eq!(events[0]["description"], "Departed", "{now}");
    // B's resend queued nothing: A's customer has the one message.
    assert_eq!(now["notifications"].as_array().unwrap().len(), 1, "{now}");
    assert_eq!(now["updated_at"], order["updated_at"], "{now}");
    // A's customer's request, which B tried to decide, is still open.
    let (_, r) = common::api(
        &c,
        &base,
        Some(key_a),
        "GET",
        &format!("/orders/{a_order}/requests"),
        None,
    )
    .await;
    assert_eq!(r["requests"][0]["state"], "open", "{r}");
    // A's key, which B tried to revoke, still works.
    let r = c
        .get(format!("{base}/api/v1/shop"))
        .bearer_auth(&a_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A's endpoint, which B tried to change, rotate and delete, is as it was, and its one
    // delivery was neither replayed nor joined by a test of B's.
    let r: Value = c
        .get(format!("{base}/api/v1/webhooks/{a_hook_id}"))
        .bearer_auth(key_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["url"], "https://a.example/hooks");
    assert_eq!(r["updated_at"], hook["webhook"]["updated_at"]);
    let r: Value = c
        .get(format!("{base}/api/v1/webhooks/{a_hook_id}/deliveries"))
        .bearer_auth(key_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // (A's own order and parcel became events for it too: only its tests count here.)
    let tests: Vec<&Value> = r["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["event_type"] == "webhook.test")
        .collect();
    assert_eq!(tests.len(), 1, "{r}");
    assert_eq!(tests[0]["id"], a_delivery_id.as_str());
    assert_eq!(tests[0]["next_attempt_at"], delivery["next_attempt_at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_shops_ids_are_404_on_every_route_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    isolation(format!("sqlite:{}", dir.path().join("s.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_shops_ids_are_404_on_every_route_on_postgres() {
    isolation(parceltrail_shop::testing::postgres().fresh_database().await).await;
}
