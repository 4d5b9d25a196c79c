//! `parceltrail server` as its operator and a shop's systems meet it, on SQLite and on a
//! real PostgreSQL.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{ShopServer, client, server_cmd};
use serde_json::Value;

fn bin(home: &Path, db: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db]);
    c
}

fn run(home: &Path, db: &str, args: &[&str]) -> Output {
    bin(home, db).args(args).output().unwrap()
}

fn run_ok(home: &Path, db: &str, args: &[&str]) -> String {
    let o = run(home, db, args);
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn start(home: &Path, db: &str) -> ShopServer {
    let mut cmd = bin(home, db);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--public-url",
        "https://track.example.com/",
    ]);
    ShopServer::start(cmd, false)
}

async fn get(c: &reqwest::Client, url: &str, key: Option<&str>) -> (u16, String, Value) {
    let mut r = c.get(url);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    let res = r.send().await.unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.json().await.unwrap_or(Value::Null))
}

async fn bootstrap_and_serve(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let created: Value = serde_json::from_str(&run_ok(
        h,
        &db,
        &[
            "shop",
            "create",
            "Trailhead Outfitters",
            "--admin-email",
            "owner@trailhead.example",
            "--json",
            "--public-url",
            "https://track.example.com/",
        ],
    ))
    .unwrap();
    let shop_a = created["shop_id"].as_str().unwrap().to_owned();
    let key_a = created["api_key"].as_str().unwrap().to_owned();
    assert!(key_a.starts_with("ptk_"));
    let setup = created["setup_url"].as_str().unwrap();
    assert!(
        setup.starts_with("https://track.example.com/setup#") && setup.len() > 40,
        "{setup}"
    );
    // The same owner address for a second shop: refused, with the reason.
    let dup = run(
        h,
        &db,
        &[
            "shop",
            "create",
            "Other",
            "--admin-email",
            "Owner@Trailhead.example",
        ],
    );
    assert_eq!(dup.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already in use"));
    let b: Value = serde_json::from_str(&run_ok(
        h,
        &db,
        &[
            "shop",
            "create",
            "Bakery",
            "--admin-email",
            "b@bakery.example",
            "--json",
        ],
    ))
    .unwrap();
    let shop_b = b["shop_id"].as_str().unwrap().to_owned();
    let key_b = b["api_key"].as_str().unwrap().to_owned();
    // The key is never stored: the database holds no trace of it.
    if let Some(path) = db.strip_prefix("sqlite:") {
        let bytes = std::fs::read(path).unwrap();
        let needle = key_a.as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    }

    let server = start(h, &db);
    let c = client();
    let (s, _, body) = get(&c, &format!("{}/healthz", server.base), None).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ok")));
    let (s, _, body) = get(&c, &format!("{}/readyz", server.base), None).await;
    assert_eq!(s, 200, "{body}");
    // The schema is as new as this build's migrations.
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shop/migrations/sqlite"
    ))
    .unwrap()
    .count();
    assert_eq!(body["schema_version"], migrations);

    // No key, a wrong key: 401 problem+json.
    let shop_url = format!("{}/api/v1/shop", server.base);
    for key in [None, Some("ptk_0000"), Some("Basic abc")] {
        let (s, ct, body) = get(&c, &shop_url, key).await;
        assert_eq!(s, 401, "{key:?}");
        assert_eq!(ct, "application/problem+json");
        assert_eq!(body["status"], 401);
        assert!(body["detail"].as_str().is_some());
    }
    // Each key sees its own shop.
    let (s, _, body) = get(&c, &shop_url, Some(&key_a)).await;
    assert_eq!(s, 200);
    assert_eq!(body["id"], shop_a.as_str());
    assert_eq!(body["name"], "Trailhead Outfitters");
    let (_, _, body) = get(&c, &shop_url, Some(&key_b)).await;
    assert_eq!(body["id"], shop_b.as_str());

    // A second key; its listing shows its prefix and never the key.
    let made: Value = serde_json::from_str(&run_ok(
        h,
        &db,
        &[
            "key",
            "create",
            "--shop",
            &shop_a,
            "--name",
            "warehouse",
            "--scopes",
            "ingest",
            "--json",
        ],
    ))
    .unwrap();
    let key2 = made["api_key"].as_str().unwrap();
    let key2_id = made["id"].as_str().unwrap();
    // Without the read scope, the shop is not readable.
    let (s, _, _) = get(&c, &shop_url, Some(key2)).await;
    assert_eq!(s, 403);
    let list = run_ok(h, &db, &["key", "list", "--shop", &shop_a]);
    assert!(list.contains("warehouse") && list.contains(&key2[..12]));
    assert!(!list.contains(key2) && !list.contains(&key_a));
    assert!(list.contains("last used"), "{list}");

    // Shop B cannot revoke shop A's key, and is told only that B has no such key.
    let o = run(h, &db, &["key", "revoke", "--shop", &shop_b, key2_id]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("this shop has no key with this id"));
    // Revoked by its own shop through the command line, beside the running server: the
    // server, which remembers a key it checked for up to 2 s, refuses it within that time.
    run_ok(h, &db, &["key", "revoke", "--shop", &shop_a, key2_id]);
    let revoked = std::time::Instant::now();
    loop {
        let (s, _, _) = get(&c, &shop_url, Some(key2)).await;
        if s == 401 {
            break;
        }
        // Still taken as the key it was (which lacks the read scope).
        assert_eq!(s, 403);
        assert!(
            revoked.elapsed() < std::time::Duration::from_secs(3),
            "a revoked key still works after {:?}",
            revoked.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Revoked through the server's own API, a key it has just used is refused at once.
    let made: Value = c
        .post(format!("{}/api/v1/keys", server.base))
        .bearer_auth(&key_a)
        .json(&serde_json::json!({"name": "till", "scopes": "read"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let till = made["api_key"].as_str().unwrap();
    assert_eq!(get(&c, &shop_url, Some(till)).await.0, 200);
    let res = c
        .delete(format!(
            "{}/api/v1/keys/{}",
            server.base,
            made["key"]["id"].as_str().unwrap()
        ))
        .bearer_auth(&key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(get(&c, &shop_url, Some(till)).await.0, 401);
    let (s, _, _) = get(&c, &shop_url, Some(&key_a)).await;
    assert_eq!(s, 200);

    // Unknown API routes: problem+json 404.
    let (s, ct, _) = get(&c, &format!("{}/api/v1/nothing", server.base), Some(&key_a)).await;
    assert_eq!((s, ct.as_str()), (404, "application/problem+json"));

    // Only its own names: the listen address and the public URL's host (behind a proxy).
    let healthz = format!("{}/healthz", server.base);
    let with_host = |host: &'static str| c.get(&healthz).header("host", host).send();
    assert_eq!(with_host("track.example.com").await.unwrap().status(), 200);
    let res = with_host("evil.example").await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    // A page on another site can neither change anything nor read the API.
    let res = c
        .post(format!("{}/api/v1/keys", server.base))
        .bearer_auth(&key_a)
        .header("origin", "https://evil.example")
        .json(&serde_json::json!({"name": "evil", "scopes": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "urn:parceltrail:problem:cross-site");
    let res = c
        .get(&shop_url)
        .bearer_auth(&key_a)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // A form post (what any page may send without asking) is refused: bodies are JSON only.
    let res = c
        .post(format!("{}/api/v1/login", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a&password=b")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert!(
        !list_keys(h, &db, &shop_a).contains("evil"),
        "the cross-site request made a key"
    );

    // Migrating again is a no-op.
    assert!(run_ok(h, &db, &["migrate"]).contains("up to date"));
}

fn list_keys(h: &Path, db: &str, shop: &str) -> String {
    run_ok(h, db, &["key", "list", "--shop", shop])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_and_serve_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "sqlite:{}",
        dir.path().join("shop").join("server.db").display()
    );
    bootstrap_and_serve(db.clone()).await;
    // The database holds customers' data: the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join("shop").join("server.db");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        let mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_and_serve_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    bootstrap_and_serve(db).await;
}

#[test]
fn a_bad_public_url_is_refused_with_an_example() {
    let home = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", home.path().join("s.db").display());
    for bad in [
        "track.example.com",
        "ftp://track.example.com",
        "https://track.example.com/?a=1",
    ] {
        let o = run(home.path(), &db, &["--public-url", bad, "migrate"]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("https://track.example.com"));
    }
}

#[test]
fn a_bad_database_url_says_what_is_expected() {
    let home = tempfile::tempdir().unwrap();
    let o = run(home.path(), "mysql://root:hunter2@db/x", &["migrate"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("sqlite:PATH or postgres://"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

async fn post(
    c: &reqwest::Client,
    url: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = c.post(url).json(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let res = r.send().await.unwrap();
    let status = res.status().as_u16();
    let h = res.headers().clone();
    (status, h, res.json().await.unwrap_or(Value::Null))
}

async fn staff_set_a_password_and_sign_in(db: String) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let created: Value = serde_json::from_str(&run_ok(
        h,
        &db,
        &[
            "shop",
            "create",
            "Bakery",
            "--admin-email",
            "owner@bakery.example",
            "--json",
        ],
    ))
    .unwrap();
    let token = created["setup_url"]
        .as_str()
        .unwrap()
        .split_once('#')
        .unwrap()
        .1
        .to_owned();
    let server = start(h, &db);
    let c = client();
    let api = |p: &str| format!("{}/api/v1/{p}", server.base);

    // The set-up page is served from the binary.
    let page = c
        .get(format!("{}/setup", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Set your password"));

    // A short password is refused with the reason; the link stays usable.
    let (s, _, body) = post(
        &c,
        &api("setup"),
        &serde_json::json!({"token": token, "password": "short"}),
        &[],
    )
    .await;
    assert_eq!(s, 422);
    assert!(body["detail"].as_str().unwrap().contains("at least 10"));
    let good = serde_json::json!({"token": token, "password": "flour and water 42"});
    let (s, _, body) = post(&c, &api("setup"), &good, &[]).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["email"], "owner@bakery.example");
    // Used once: never again.
    let (s, _, body) = post(&c, &api("setup"), &good, &[]).await;
    assert_eq!(s, 404);
    assert!(body["detail"].as_str().unwrap().contains("not valid"));

    // Wrong password and unknown address: the same 401.
    let (s1, _, b1) = post(
        &c,
        &api("login"),
        &serde_json::json!({"email": "owner@bakery.example", "password": "flour and water 43"}),
        &[],
    )
    .await;
    let (s2, _, b2) = post(
        &c,
        &api("login"),
        &serde_json::json!({"email": "nobody@bakery.example", "password": "flour and water 42"}),
        &[],
    )
    .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(b1["detail"], b2["detail"]);

    let (s, headers, session) = post(
        &c,
        &api("login"),
        &serde_json::json!({"email": "Owner@Bakery.example", "password": "flour and water 42"}),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{session}");
    let cookie = headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for attr in [
        "__Host-pt_session=",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let jar = cookie.split(';').next().unwrap().to_owned();
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(session["role"], "owner");

    // The cookie reads; a change without the CSRF token (what a cross-site form could
    // cause) is refused and changes nothing.
    let (s, _, body) = {
        let res = c
            .get(api("shop"))
            .header("cookie", &jar)
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            (),
            res.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(s, 200);
    assert_eq!(body["name"], "Bakery");
    let (s, _, body) = post(
        &c,
        &api("logout"),
        &serde_json::json!({}),
        &[("cookie", &jar)],
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(body["type"], "urn:parceltrail:problem:csrf");
    let (s, _, _) = post(
        &c,
        &api("logout"),
        &serde_json::json!({}),
        &[("cookie", &jar), ("x-csrf-token", &"0".repeat(64))],
    )
    .await;
    assert_eq!(s, 403);
    let res = c
        .get(api("session"))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // With the token, signing out ends the session for good.
    let (s, _, _) = post(
        &c,
        &api("logout"),
        &serde_json::json!({}),
        &[("cookie", &jar), ("x-csrf-token", &csrf)],
    )
    .await;
    assert_eq!(s, 204);
    let res = c
        .get(api("session"))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Guessing a password is throttled per account: ten tries, then 429 with Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (s, headers, _) = post(
            &c,
            &api("login"),
            &serde_json::json!({"email": "owner@bakery.example", "password": "not the password"}),
            &[],
        )
        .await;
        if s == 429 {
            assert!(headers.get("retry-after").is_some());
        }
        statuses.push(s);
    }
    let allowed = statuses.iter().take_while(|s| **s == 401).count();
    assert!((7..=10).contains(&allowed), "{statuses:?}");
    assert!(
        statuses[allowed..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    // Even the right password waits out the throttle.
    let (s, _, _) = post(
        &c,
        &api("login"),
        &serde_json::json!({"email": "owner@bakery.example", "password": "flour and water 42"}),
        &[],
    )
    .await;
    assert_eq!(s, 429);

    // Guessing keys is throttled per address; a shop's own key from elsewhere still works.
    let mut last = 0;
    for i in 0..40 {
        let (s, _, _) = get(&c, &api("shop"), Some(&format!("ptk_{i:064}"))).await;
        last = s;
    }
    assert_eq!(last, 429);
    let (s, _, _) = get(&c, &api("shop"), Some(created["api_key"].as_str().unwrap())).await;
    assert_eq!(
        s, 429,
        "a blocked address is refused before its key is looked at"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    staff_set_a_password_and_sign_in(format!("sqlite:{}", dir.path().join("s.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    staff_set_a_password_and_sign_in(db).await;
}
