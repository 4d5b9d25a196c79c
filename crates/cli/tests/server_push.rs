//! Web Push from the shop server, with this test as the browser and its push service: the
//! tracking page's link subscribes a browser (its P-256 key and auth secret); a parcel's news
//! reaches the push service as RFC 8291 `aes128gcm`, which the browser's key decrypts, with a
//! VAPID token (RFC 8292) signed by the key the server publishes; a subscription the push
//! service calls gone (410) is dropped and gets nothing more. Bad subscriptions are refused.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{ShopServer, client, server_cmd};
use p256::ecdsa::signature::Verifier;
use serde_json::{Value, json};

/// What the push service received: the request's headers and body.
#[derive(Clone, Debug)]
struct Pushed {
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct PushService {
    got: Arc<Mutex<Vec<Pushed>>>,
    /// Answer 410 Gone from now on.
    gone: Arc<Mutex<bool>>,
}

impl PushService {
    async fn start() -> (PushService, String) {
        async fn take(
            axum::extract::State(s): axum::extract::State<PushService>,
            headers: axum::http::HeaderMap,
            body: axum::body::Bytes,
        ) -> axum::http::StatusCode {
            s.got.lock().unwrap().push(Pushed {
                headers,
                body: body.to_vec(),
            });
            if *s.gone.lock().unwrap() {
                axum::http::StatusCode::GONE
            } else {
                axum::http::StatusCode::CREATED
            }
        }
        let s = PushService::default();
        let app = axum::Router::new()
            .route("/push/{id}", axum::routing::post(take))
            .with_state(s.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (s, format!("http://127.0.0.1:{port}"))
    }

    fn got(&self) -> Vec<Pushed> {
        self.got.lock().unwrap().clone()
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited 20 s for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parcels_news_reaches_the_browser_encrypted_and_signed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    web_push(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parcels_news_reaches_the_browser_encrypted_and_signed_on_postgres() {
    web_push(parceltrail_shop::testing::postgres().fresh_database().await).await;
}

async fn web_push(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let o = server_cmd(h)
        .args(["--db", &db, "shop", "create", "Trailhead Outfitters"])
        .args(["--admin-email", "o@trailhead.example", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    let key = made["api_key"].as_str().unwrap().to_owned();
    let mut cmd = server_cmd(h);
    cmd.args(["--db", &db, "--listen", "127.0.0.1:0"])
        .args(["--web-push", "--allow-private-targets"]);
    let server = ShopServer::start(cmd, false);
    let base = server.base.clone();
    let c = client();
    let (push, push_url) = PushService::start().await;

    let api = |method: &'static str, path: &str, body: Option<Value>, auth: bool| {
        let (c, base, path) = (c.clone(), base.clone(), path.to_owned());
        let key = auth.then(|| key.clone());
        async move { common::api(&c, &base, key.as_deref(), method, &path, body).await }
    };
    let (s, order) = api(
        "POST",
        "/orders",
        Some(
            json!({"order_number": "A-1001", "customer": {"email": "ada@example.com"},
                    "shipments": [{"tracking_number": "1Z999AA10123456784"}]}),
        ),
        true,
    )
    .await;
    assert_eq!(s, 201, "{order}");
    let ship = order["shipments"][0]["id"].as_str().unwrap().to_owned();
    let link = order["tracking_url"].as_str().unwrap().to_owned();
    let token = link.rsplit_once("/t/").unwrap().1.to_owned();

    // The page offers it, and publishes the key it signs with.
    let (_, page) = api("GET", &format!("/track/{token}"), None, false).await;
    assert_eq!(page["notifications"]["push"]["available"], true, "{page}");
    let (s, k) = api("GET", "/push/key", None, false).await;
    assert_eq!(s, 200);
    let server_key = k["public_key"].as_str().unwrap().to_owned();

    // The browser's keys, as its PushManager would make them.
    let ua_secret = p256::SecretKey::from_bytes(&[7u8; 32].into()).unwrap();
    let p256dh = B64.encode(ua_secret.public_key().to_sec1_bytes());
    let auth_secret = [9u8; 16];
    let sub = |endpoint: &str, p256dh: &str, auth: &[u8]| json!({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": B64.encode(auth)}});
    let path = format!("/track/{token}/push");
    for (bad, why) in [
        (
            sub("ftp://push.example/1", &p256dh, &auth_secret),
            "endpoint",
        ),
        (
            sub(&format!("{push_url}/push/1"), "AAAA", &auth_secret),
            "p256dh",
        ),
        (
            sub(&format!("{push_url}/push/1"), &p256dh, &[1, 2, 3]),
            "auth",
        ),
    ] {
        let (s, r) = api("PUT", &path, Some(bad), false).await;
        assert_eq!(s, 422, "{r}");
        assert!(r["detail"].as_str().unwrap().contains(why), "{r}");
    }
    let endpoint = format!("{push_url}/push/browser-1");
    let (s, r) = api(
        "PUT",
        &path,
        Some(sub(&endpoint, &p256dh, &auth_secret)),
        false,
    )
    .await;
    assert_eq!(s, 204, "{r}");

    // News: one push, encrypted for this browser, signed with the server's key.
    let (s, r) = api(
        "POST",
        &format!("/shipments/{ship}/events"),
        Some(json!({"status": "in_transit", "description": "Departed"})),
        true,
    )
    .await;
    assert_eq!(s, 201, "{r}");
    until("a push", || push.got().len() == 1).await;
    let p = &push.got()[0];
    assert_eq!(p.headers["content-encoding"], "aes128gcm");
    assert!(p.headers["ttl"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    let plain = web_push_native::decrypt(
        p.body.clone(),
        &ua_secret,
        &web_push_native::Auth::clone_from_slice(&auth_secret),
    )
    .expect("the browser's key decrypts it");
    let message: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(message["title"], "Trailhead Outfitters");
    assert_eq!(message["body"], "Your order A-1001 is on its way.");
    assert_eq!(message["url"], link.as_str());

    // The VAPID token: ES256 over its header and claims, by the published key, for this
    // push service, not yet expired.
    let authz = p.headers["authorization"].to_str().unwrap();
    let rest = authz.strip_prefix("vapid ").expect("a VAPID authorization");
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    assert_eq!(field("k"), server_key);
    let jwt = field("t");
    let (input, sig) = jwt.rsplit_once('.').unwrap();
    let verifying =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&B64.decode(&server_key).unwrap()).unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&B64.decode(sig).unwrap()).unwrap();
    verifying
        .verify(input.as_bytes(), &signature)
        .expect("the token is signed by the published key");
    let claims: Value =
        serde_json::from_slice(&B64.decode(input.split_once('.').unwrap().1).unwrap()).unwrap();
    assert_eq!(claims["aud"], push_url.as_str());
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > now && exp <= now + 24 * 3600, "{claims}");
    assert!(claims["sub"].as_str().is_some());

    // The browser went away: the push service says 410, and the subscription is dropped.
    *push.gone.lock().unwrap() = true;
    let (s, _) = api(
        "POST",
        &format!("/shipments/{ship}/events"),
        Some(json!({"status": "out_for_delivery", "description": "On the van"})),
        true,
    )
    .await;
    assert_eq!(s, 201);
    until("the second push", || push.got().len() == 2).await;
    let (s, _) = api(
        "POST",
        &format!("/shipments/{ship}/events"),
        Some(json!({"status": "delivered", "description": "Delivered"})),
        true,
    )
    .await;
    assert_eq!(s, 201);
    let mut failed = Vec::new();
    for _ in 0..100 {
        let (_, o) = api(
            "GET",
            &format!("/orders/{}", order["id"].as_str().unwrap()),
            None,
            true,
        )
        .await;
        failed = o["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["channel"] == "push" && n["state"] == "failed")
            .map(|n| n["last_error"].as_str().unwrap_or_default().to_owned())
            .collect();
        if failed.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().any(|e| e.contains("expired")), "{failed:?}");
    assert!(
        failed.iter().any(|e| e.contains("no browser")),
        "{failed:?}"
    );
    assert_eq!(push.got().len(), 2, "a push after the 410");
    drop(server);
}
