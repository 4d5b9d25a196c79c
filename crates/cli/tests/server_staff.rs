//! The shop's staff, managed by its owner, on SQLite and on a real PostgreSQL: an invitation's
//! one-time link sets a password once; a staff member sees no staff page and cannot invite;
//! a new link (a forgotten password) replaces the unused one and, once used, signs the member
//! out everywhere; a removed member's session ends at once and they cannot sign in again. An
//! API key cannot let anyone in, the owner cannot remove themselves, and another shop's
//! members are not found.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ShopServer, client, make_shop, server_cmd};
use serde_json::{Value, json};

fn bin(home: &Path, db: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db, "--listen", "127.0.0.1:0"]);
    c
}

/// A signed-in browser: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

struct Api {
    c: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        who: Who<'_>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.c.request(
            method.parse().unwrap(),
            format!("{}/api/v1{path}", self.base),
        );
        match who {
            Who::Key(k) => r = r.bearer_auth(k),
            Who::Session(s) => {
                r = r
                    .header("cookie", &s.cookie)
                    .header("x-csrf-token", &s.csrf);
            }
            Who::Nobody => {}
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(Value::Null))
    }

    async fn set_password(&self, setup_url: &str, password: &str) -> u16 {
        let token = setup_url.split_once("/setup#").unwrap().1;
        self.call(
            "POST",
            "/setup",
            Who::Nobody,
            Some(json!({"token": token, "password": password})),
        )
        .await
        .0
    }

    async fn login(&self, email: &str, password: &str) -> Option<Session> {
        let res = self
            .c
            .post(format!("{}/api/v1/login", self.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            return None;
        }
        let cookie = res.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let body: Value = res.json().await.unwrap();
        Some(Session {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        })
    }

    async fn signed_in(&self, s: &Session) -> bool {
        self.call("GET", "/session", Who::Session(s), None).await.0 == 200
    }
}

#[derive(Clone, Copy)]
enum Who<'a> {
    Key(&'a str),
    Session(&'a Session),
    Nobody,
}

const OWNER_PW: &str = "the owner's long password";

async fn the_owner_manages_the_staff(db: String) {
    let home = tempfile::tempdir().unwrap();
    let made = make_shop(bin(home.path(), &db), "Bakery", "owner@bakery.example");
    let other = make_shop(bin(home.path(), &db), "Mill", "owner@mill.example");
    let key = made["api_key"].as_str().unwrap().to_owned();
    let server = ShopServer::start(bin(home.path(), &db), false);
    let api = Api {
        c: client(),
        base: server.base.clone(),
    };
    assert_eq!(
        api.set_password(made["setup_url"].as_str().unwrap(), OWNER_PW)
            .await,
        200
    );
    let owner = api.login("owner@bakery.example", OWNER_PW).await.unwrap();

    // The list: the owner alone, marked as the caller.
    let (s, list) = api.call("GET", "/staff", Who::Session(&owner), None).await;
    assert_eq!(s, 200, "{list}");
    let staff = list["staff"].as_array().unwrap();
    assert_eq!(staff.len(), 1);
    assert_eq!(staff[0]["email"], "owner@bakery.example");
    assert_eq!(staff[0]["role"], "owner");
    assert_eq!(staff[0]["password_set"], true);
    assert_eq!(staff[0]["you"], true);
    let owner_id = staff[0]["id"].as_str().unwrap().to_owned();

    // A key (even with every scope) reads the list but lets no one in.
    let (s, _) = api.call("GET", "/staff", Who::Key(&key), None).await;
    assert_eq!(s, 200);
    let (s, body) = api
        .call(
            "POST",
            "/staff",
            Who::Key(&key),
            Some(json!({"email": "sam@bakery.example"})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("API key"),
        "{body}"
    );

    // Bad addresses and roles are refused by name; nothing is made.
    let (s, body) = api
        .call(
            "POST",
            "/staff",
            Who::Session(&owner),
            Some(json!({"email": "sam at bakery"})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("email"), "{body}");
    let (s, body) = api
        .call(
            "POST",
            "/staff",
            Who::Session(&owner),
            Some(json!({"email": "sam@bakery.example", "role": "admin"})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("role"), "{body}");

    // The invitation: a link shown once, valid a week.
    let (s, invited) = api
        .call(
            "POST",
            "/staff",
            Who::Session(&owner),
            Some(json!({"email": "Sam@Bakery.example"})),
        )
        .await;
    assert_eq!(s, 201, "{invited}");
    assert_eq!(invited["member"]["email"], "sam@bakery.example");
    assert_eq!(invited["member"]["role"], "staff");
    assert_eq!(invited["member"]["password_set"], false);
    let sam_id = invited["member"]["id"].as_str().unwrap().to_owned();
    let first_link = invited["setup_url"].as_str().unwrap().to_owned();
    assert!(first_link.starts_with(&format!("{}/setup#", server.base)));
    let expires: chrono::DateTime<chrono::Utc> =
        invited["expires_at"].as_str().unwrap().parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((167..=168).contains(&days), "{expires}");
    // The same address again: a conflict, not a second account.
    let (s, _) = api
        .call(
            "POST",
            "/staff",
            Who::Session(&owner),
            Some(json!({"email": "sam@bakery.example"})),
        )
        .await;
    assert_eq!(s, 409);

    // A new link replaces an unused one: the first stops working.
    let (s, again) = api
        .call(
            "POST",
            &format!("/staff/{sam_id}/setup-link"),
            Who::Session(&owner),
            None,
        )
        .await;
    assert_eq!(s, 200, "{again}");
    let link = again["setup_url"].as_str().unwrap().to_owned();
    assert_ne!(link, first_link);
    assert_eq!(
        api.set_password(&first_link, "sam's first password").await,
        404
    );
    assert_eq!(api.set_password(&link, "sam's first password").await, 200);
    let sam = api
        .login("sam@bakery.example", "sam's first password")
        .await
        .unwrap();

    // Staff do not see or change the staff.
    let (s, body) = api.call("GET", "/staff", Who::Session(&sam), None).await;
    assert_eq!(
        (s, body["type"].as_str()),
        (403, Some("urn:parceltrail:problem:role"))
    );
    let (s, _) = api
        .call(
            "POST",
            "/staff",
            Who::Session(&sam),
            Some(json!({"email": "friend@bakery.example"})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/staff/{owner_id}"),
            Who::Session(&sam),
            None,
        )
        .await;
    assert_eq!(s, 403);

    // A forgotten password: a new link; once used, Sam's sessions end and the old password
    // no longer signs in.
    let (s, reset) = api
        .call(
            "POST",
            &format!("/staff/{sam_id}/setup-link"),
            Who::Session(&owner),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        api.signed_in(&sam).await,
        "a link not yet used changes nothing"
    );
    assert_eq!(
        api.set_password(
            reset["setup_url"].as_str().unwrap(),
            "sam's second password"
        )
        .await,
        200
    );
    assert!(!api.signed_in(&sam).await);
    assert!(
        api.login("sam@bakery.example", "sam's first password")
            .await
            .is_none()
    );
    let sam = api
        .login("sam@bakery.example", "sam's second password")
        .await
        .unwrap();

    // Another shop's owner finds no one of this shop.
    assert_eq!(
        api.set_password(other["setup_url"].as_str().unwrap(), OWNER_PW)
            .await,
        200
    );
    let miller = api.login("owner@mill.example", OWNER_PW).await.unwrap();
    let (_, theirs) = api.call("GET", "/staff", Who::Session(&miller), None).await;
    assert_eq!(theirs["staff"].as_array().unwrap().len(), 1, "{theirs}");
    assert_eq!(theirs["staff"][0]["email"], "owner@mill.example");
    for (method, path) in [
        ("DELETE", format!("/staff/{sam_id}")),
        ("POST", format!("/staff/{sam_id}/setup-link")),
    ] {
        let (s, _) = api.call(method, &path, Who::Session(&miller), None).await;
        assert_eq!(s, 404, "{method} {path}");
    }
    assert!(api.signed_in(&sam).await);

    // The owner cannot remove themselves; removing Sam signs Sam out at once, for good.
    let (s, body) = api
        .call(
            "DELETE",
            &format!("/staff/{owner_id}"),
            Who::Session(&owner),
            None,
        )
        .await;
    assert_eq!(s, 409, "{body}");
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/staff/{sam_id}"),
            Who::Session(&owner),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert!(!api.signed_in(&sam).await);
    assert!(
        api.login("sam@bakery.example", "sam's second password")
            .await
            .is_none()
    );
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/staff/{sam_id}"),
            Who::Session(&owner),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (_, list) = api.call("GET", "/staff", Who::Session(&owner), None).await;
    assert_eq!(list["staff"].as_array().unwrap().len(), 1);
    // The address is free again: Sam can be invited anew.
    let (s, _) = api
        .call(
            "POST",
            "/staff",
            Who::Session(&owner),
            Some(json!({"email": "sam@bakery.example"})),
        )
        .await;
    assert_eq!(s, 201);
    assert!(api.signed_in(&owner).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_manages_the_staff_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    the_owner_manages_the_staff(format!("sqlite:{}", dir.path().join("s.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_manages_the_staff_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    the_owner_manages_the_staff(db).await;
}
