//! Two devices (`parceltrail` on two data directories) in sync with a running shop server,
//! on SQLite and on PostgreSQL: signing in checks the key; a parcel added on one device
//! reaches the server (as an order of the shop) and the other device; a label set on the
//! second comes back to the first; an event the server records (as its poller would) reaches
//! both; a removal on one removes it everywhere; edits made on both sides while apart settle
//! by their times; another shop's key sees none of it; a wrong key or a plain-http remote
//! address is refused with the reason.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ShopServer, client, make_shop, server_at};
use serde_json::{Value, json};

const UPS: &str = "1Z5R89390357567127";
const DHL: &str = "3318810025";

/// `parceltrail` on the device whose data directory is `home` (credentials in its file).
fn device(home: &Path, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_parceltrail"))
        .env("PARCELTRAIL_HOME", home)
        .env_remove("RUST_LOG")
        .arg("--credentials-file")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(home: &Path, args: &[&str]) -> String {
    let (ok, out, err) = device(home, args);
    assert!(ok, "parceltrail {args:?}: {out}{err}");
    out
}

/// The device's parcel with `number`, as `parceltrail show --json` prints it (`None`: gone).
fn parcel(home: &Path, number: &str) -> Option<Value> {
    let (ok, out, _) = device(home, &["show", number, "--json"]);
    ok.then(|| serde_json::from_str(&out).unwrap())
}

fn round(home: &Path) -> Value {
    serde_json::from_str(&ok(home, &["sync", "--json"])).unwrap()
}

async fn sync_both_ways(db: String) {
    let dir = tempfile::tempdir().unwrap();
    let srv = dir.path().join("server");
    let (a, b, other) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    let shop = make_shop(server_at(&srv, &db), "Ada's parcels", "ada@example.com");
    let intruder = make_shop(server_at(&srv, &db), "Other shop", "other@example.com");
    let key = shop["api_key"].as_str().unwrap().to_owned();
    let server = ShopServer::start(
        {
            let mut c = server_at(&srv, &db);
            c.args(["--listen", "127.0.0.1:0"]);
            c
        },
        false,
    );
    let base = server.base.clone();
    let c = client();

    // Signing in checks the key, and refuses a remote address over plain HTTP.
    let (signed, _, err) = device(&a, &["sync", "login", &base, "--key", "ptk_wrong"]);
    assert!(!signed && err.contains("401"), "{err}");
    let (signed, _, err) = device(
        &a,
        &["sync", "login", "http://track.example.com", "--key", &key],
    );
    assert!(!signed && err.contains("plain HTTP"), "{err}");
    let (synced, _, err) = device(&a, &["sync"]);
    assert!(!synced && err.contains("not signed in"), "{err}");

    // Device A has a parcel, and signs in sending what it has.
    ok(
        &a,
        &[
            "add",
            UPS,
            "--store",
            "Trailhead",
            "--order",
            "TO-1",
            "--label",
            "Shoes",
        ],
    );
    let out = ok(&a, &["sync", "login", &base, "--key", &key, "--upload"]);
    assert!(out.contains("Signed in to Ada's parcels"), "{out}");
    let r = round(&a);
    assert_eq!(
        (r["sent"].as_u64(), r["changed_there"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    // On the server: an order of the shop, with the parcel.
    let (s, list) = common::api(&c, &base, Some(&key), "GET", "/orders", None).await;
    assert_eq!(s, 200);
    let orders = list["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "{list}");
    assert_eq!(orders[0]["order_number"], "TO-1");
    assert_eq!(orders[0]["channel"], "Trailhead");
    assert_eq!(orders[0]["shipments"][0]["tracking_number"], UPS);
    assert_eq!(orders[0]["shipments"][0]["label"], "Shoes");
    let server_parcel = orders[0]["shipments"][0]["id"].as_str().unwrap().to_owned();

    // Device B signs in (without uploading) and gets it; it relabels it.
    ok(&b, &["sync", "login", &base, "--key", &key]);
    let r = round(&b);
    assert_eq!(r["received"].as_u64(), Some(1), "{r}");
    assert_eq!(parcel(&b, UPS).unwrap()["shipment"]["label"], "Shoes");
    ok(&b, &["label", UPS, "Trail shoes"]);
    round(&b);
    round(&a);
    assert_eq!(parcel(&a, UPS).unwrap()["shipment"]["label"], "Trail shoes");

    // The server records an event (as its poller or a webhook would): both devices get it.
    let (s, e) = common::api(
        &c,
        &base,
        Some(&key),
        "POST",
        &format!("/shipments/{server_parcel}/events"),
        Some(json!({"status": "out_for_delivery", "description": "Out for delivery", "location": {"city": "Leeds", "country": "GB"}})),
    )
    .await;
    assert_eq!(s, 201, "{e}");
    for d in [&a, &b] {
        round(d);
        let p = parcel(d, UPS).unwrap();
        assert_eq!(p["shipment"]["status"], "out_for_delivery", "{p}");
    }

    // Apart: A renames and mutes, then B renames (later: its name wins), archives and adds a
    // parcel of its own; both settle.
    ok(&a, &["label", UPS, "A's name"]);
    ok(&a, &["mute", UPS]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    ok(&b, &["label", UPS, "B's name"]);
    ok(&b, &["archive", UPS]);
    ok(&b, &["add", DHL, "--label", "Books"]);
    for d in [&a, &b, &a] {
        round(d);
    }
    for d in [&a, &b] {
        let p = parcel(d, UPS).unwrap();
        assert_eq!(
            (&p["shipment"]["muted"], &p["shipment"]["archived"]),
            (&json!(true), &json!(true)),
            "{p}"
        );
        assert_eq!(p["shipment"]["label"], "B's name", "the later edit wins");
        assert_eq!(parcel(d, DHL).unwrap()["shipment"]["label"], "Books");
    }

    // A removal on A removes it on the server and on B.
    ok(&a, &["remove", "--yes", DHL]);
    round(&a);
    round(&b);
    assert!(parcel(&b, DHL).is_none(), "removed on B too");
    let (_, list) = common::api(
        &c,
        &base,
        Some(&key),
        "GET",
        &format!("/orders?q={DHL}"),
        None,
    )
    .await;
    assert_eq!(list["orders"].as_array().unwrap().len(), 0, "{list}");
    // Quiet: another round sends and changes nothing.
    let r = round(&b);
    assert_eq!(
        (r["changed_here"].as_u64(), r["changed_there"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );

    // Another shop's key: signed in to that shop, it sees none of this one's parcels.
    let other_key = intruder["api_key"].as_str().unwrap();
    ok(&other, &["sync", "login", &base, "--key", other_key]);
    let r = round(&other);
    assert_eq!(r["received"].as_u64(), Some(0), "{r}");
    assert!(parcel(&other, UPS).is_none());

    // Signing out: the parcels stay.
    ok(&a, &["sync", "logout"]);
    assert!(parcel(&a, UPS).is_some());
    let (synced, _, err) = device(&a, &["sync"]);
    assert!(!synced && err.contains("not signed in"), "{err}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_sync_through_the_server_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("server.db").display());
    sync_both_ways(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_sync_through_the_server_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    sync_both_ways(db).await;
}
