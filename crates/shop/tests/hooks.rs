//! Webhooks' storage (sealed secrets, replay ids) and the verify-then-remember order, run
//! against SQLite and a real PostgreSQL like `storage.rs`.

use chrono::{DateTime, Duration, Utc};
use parceltrail_shop::hooks::{self, HookError, HookSource};
use parceltrail_shop::secrets::SecretKey;
use parceltrail_shop::{Db, DbUrl, Error, ShopId};

fn t0() -> DateTime<Utc> {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

/// Each test as a function of a fresh store; `both!` runs it on each backend.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = DbUrl::Sqlite(dir.path().join("server.db"));
                    super::$name(url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let url = parceltrail_shop::testing::postgres().fresh_database().await;
                    super::$name(url.parse().unwrap()).await;
                }
            )*
        }
    };
}

both!(
    secrets_are_kept_per_shop_and_source_and_never_listed,
    message_ids_are_remembered_once_per_shop_and_source,
    concurrent_remembers_of_one_id_let_exactly_one_win,
    old_message_ids_are_forgotten,
    a_delivery_is_verified_then_remembered_after_its_ingest,
    a_secret_row_copied_to_another_shop_does_not_open,
    a_secret_set_on_one_replica_holds_on_another_within_two_seconds,
);

async fn open(url: &DbUrl) -> (Db, ShopId, ShopId) {
    let db = Db::open(url).await.expect("open").0;
    let a = db.create_shop("A", "a@a.example", t0()).await.unwrap();
    let b = db.create_shop("B", "b@b.example", t0()).await.unwrap();
    (db, a.shop.id, b.shop.id)
}

async fn secrets_are_kept_per_shop_and_source_and_never_listed(url: DbUrl) {
    let (db, a, b) = open(&url).await;
    assert_eq!(
        db.hook_secret(a, HookSource::AfterShip).await.unwrap(),
        None
    );
    assert!(db.hook_secret_info(a).await.unwrap().is_empty());
    db.set_hook_secret(
        a,
        HookSource::AfterShip,
        b"sealed-1",
        "owner@a.example",
        t0(),
    )
    .await
    .unwrap();
    db.set_hook_secret(a, HookSource::Track17, b"sealed-2", "owner@a.example", t0())
        .await
        .unwrap();
    assert_eq!(
        db.hook_secret(a, HookSource::AfterShip)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"sealed-1"[..])
    );
    // Another shop sees nothing of A's, and cannot remove it.
    assert_eq!(
        db.hook_secret(b, HookSource::AfterShip).await.unwrap(),
        None
    );
    assert!(db.hook_secret_info(b).await.unwrap().is_empty());
    assert!(
        !db.delete_hook_secret(b, HookSource::AfterShip)
            .await
            .unwrap()
    );
    // Replacing keeps one row, with the new time and author.
    let later = t0() + Duration::hours(1);
    db.set_hook_secret(
        a,
        HookSource::AfterShip,
        b"sealed-3",
        " staff@a.example ",
        later,
    )
    .await
    .unwrap();
    assert_eq!(
        db.hook_secret(a, HookSource::AfterShip)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"sealed-3"[..])
    );
    let info = db.hook_secret_info(a).await.unwrap();
    let listed: Vec<(HookSource, DateTime<Utc>, &str)> = info
        .iter()
        .map(|i| (i.source, i.set_at, i.set_by.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            (HookSource::Track17, t0(), "owner@a.example"),
            (HookSource::AfterShip, later, "staff@a.example"),
        ]
    );
    assert!(
        db.delete_hook_secret(a, HookSource::AfterShip)
            .await
            .unwrap()
    );
    assert!(
        !db.delete_hook_secret(a, HookSource::AfterShip)
            .await
            .unwrap()
    );
    assert_eq!(
        db.hook_secret(a, HookSource::AfterShip).await.unwrap(),
        None
    );
    assert_eq!(db.hook_secret_info(a).await.unwrap().len(), 1);
    // An unknown shop, an empty author, an empty or huge value: refused, saying why.
    assert!(matches!(
        db.set_hook_secret(ShopId::new(), HookSource::Standard, b"x", "me", t0())
            .await,
        Err(Error::NotFound)
    ));
    for (sealed, by, field) in [
        (&b"x"[..], "", "set_by"),
        (&b"x"[..], "a\u{7}b", "set_by"),
        (&b""[..], "me", "sealed"),
        (&[0u8; 4096][..], "me", "sealed"),
    ] {
        match db
            .set_hook_secret(a, HookSource::Standard, sealed, by, t0())
            .await
        {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{by:?}: {other:?}"),
        }
    }
    // Reopened, the secrets are still there.
    drop(db);
    let db = Db::open(&url).await.unwrap().0;
    assert_eq!(
        db.hook_secret(a, HookSource::Track17)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"sealed-2"[..])
    );
}

async fn message_ids_are_remembered_once_per_shop_and_source(url: DbUrl) {
    let (db, a, b) = open(&url).await;
    let s = HookSource::Standard;
    assert!(!db.message_seen(a, s, "msg_1").await.unwrap());
    assert!(db.remember_message(a, s, "msg_1", t0()).await.unwrap());
    assert!(db.message_seen(a, s, "msg_1").await.unwrap());
    // Replayed: the second remember is refused.
    assert!(!db.remember_message(a, s, "msg_1", t0()).await.unwrap());
    // The same id from another source, or for another shop, is another message.
    assert!(
        !db.message_seen(a, HookSource::AfterShip, "msg_1")
            .await
            .unwrap()
    );
    assert!(!db.message_seen(b, s, "msg_1").await.unwrap());
    assert!(db.remember_message(b, s, "msg_1", t0()).await.unwrap());
    assert!(
        db.remember_message(a, HookSource::AfterShip, "msg_1", t0())
            .await
            .unwrap()
    );
    // Ids that cannot be stored are refused; an unknown shop is not found.
    for bad in ["", "a\0b", &"m".repeat(hooks::MAX_MESSAGE_ID + 1)] {
        assert!(matches!(
            db.remember_message(a, s, bad, t0()).await,
            Err(Error::Invalid {
                field: "message_id",
                ..
            })
        ));
        assert!(db.message_seen(a, s, bad).await.is_err());
    }
    assert!(matches!(
        db.remember_message(ShopId::new(), s, "msg_1", t0()).await,
        Err(Error::NotFound)
    ));
}

async fn concurrent_remembers_of_one_id_let_exactly_one_win(url: DbUrl) {
    let (db, a, _) = open(&url).await;
    let db = std::sync::Arc::new(db);
    for round in 0..5 {
        let id = format!("msg_race_{round}");
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (db, id) = (db.clone(), id.clone());
                tokio::spawn(async move {
                    db.remember_message(a, HookSource::Standard, &id, t0())
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1, "round {round}");
    }
}

async fn old_message_ids_are_forgotten(url: DbUrl) {
    let (db, a, b) = open(&url).await;
    let s = HookSource::AfterShip;
    for (shop, id, at) in [
        (a, "old", t0()),
        (b, "old", t0() + Duration::hours(1)),
        (a, "new", t0() + Duration::days(4)),
    ] {
        assert!(db.remember_message(shop, s, id, at).await.unwrap());
    }
    let cutoff = t0() + Duration::days(4) - hooks::MESSAGE_RETENTION;
    assert_eq!(db.forget_messages_before(cutoff).await.unwrap(), 2);
    assert_eq!(db.forget_messages_before(cutoff).await.unwrap(), 0);
    assert!(!db.message_seen(a, s, "old").await.unwrap());
    assert!(!db.message_seen(b, s, "old").await.unwrap());
    assert!(db.message_seen(a, s, "new").await.unwrap());
}

fn standard_delivery(
    secret: &str,
    id: &str,
    at: DateTime<Utc>,
    body: &[u8],
) -> Vec<(String, String)> {
    let ts = at.timestamp();
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), ts.to_string()),
        (
            "webhook-signature".into(),
            hooks::sign_standard(secret, id, ts, body).unwrap(),
        ),
    ]
}

async fn a_delivery_is_verified_then_remembered_after_its_ingest(url: DbUrl) {
    let (db, a, _) = open(&url).await;
    let key = SecretKey::generate();
    let secret = hooks::new_standard_secret();
    let body = br#"{"tracking_number":"1Z999AA10123456784","events":[{"occurred_at":"2026-12-01T09:00:00Z","status":"in_transit"}]}"#;
    let h = standard_delivery(&secret, "msg_42", t0(), body);
    // No secret set yet: nothing can be authenticated.
    let e = hooks::verify_for_shop(&db, &key, a, HookSource::Standard, &h, body, t0())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            HookError::NotConfigured {
                hook: HookSource::Standard
            }
        ),
        "{e}"
    );
    assert!(e.is_auth_failure());
    let sealed = hooks::seal_secret(&key, a, HookSource::Standard, &secret).unwrap();
    db.set_hook_secret(a, HookSource::Standard, &sealed, "owner@a.example", t0())
        .await
        .unwrap();
    let v = hooks::verify_for_shop(&db, &key, a, HookSource::Standard, &h, body, t0())
        .await
        .unwrap();
    assert_eq!(v.message_id.as_deref(), Some("msg_42"));
    // Verified but not yet ingested: a retry now is let through again (nothing was burnt).
    hooks::verify_for_shop(&db, &key, a, HookSource::Standard, &h, body, t0())
        .await
        .unwrap();
    let pushes = hooks::parse(HookSource::Standard, body).unwrap();
    assert_eq!(pushes.len(), 1);
    // … the route ingests, then remembers.
    assert!(hooks::remember(&db, a, &v, t0()).await.unwrap());
    assert!(!hooks::remember(&db, a, &v, t0()).await.unwrap());
    // The sender's retry, re-signed a minute later: already handled.
    let later = t0() + Duration::minutes(1);
    let retry = standard_delivery(&secret, "msg_42", later, body);
    let out = hooks::verify_for_shop(&db, &key, a, HookSource::Standard, &retry, body, later).await;
    if matches!(url, DbUrl::Sqlite(_)) {
        let e = out.unwrap_err();
        assert!(
            matches!(&e, HookError::Replayed { id } if id == "msg_42"),
            "{e}"
        );
        assert!(e.is_replay() && !e.is_auth_failure());
    } else {
        // On PostgreSQL the group commit's transaction checks (tests/group_commit.rs).
        out.unwrap();
    }
    // A forged delivery is refused before the replay check.
    let forged = standard_delivery(&hooks::new_standard_secret(), "msg_43", t0(), body);
    let e = hooks::verify_for_shop(&db, &key, a, HookSource::Standard, &forged, body, t0())
        .await
        .unwrap_err();
    assert!(matches!(e, HookError::BadSignature), "{e}");
    // 17TRACK gives no id: remembering it is a no-op.
    let v17 = hooks::Verified {
        source: HookSource::Track17,
        message_id: None,
        signed_at: None,
    };
    assert!(hooks::remember(&db, a, &v17, t0()).await.unwrap());
}

async fn a_secret_row_copied_to_another_shop_does_not_open(url: DbUrl) {
    let (db, a, b) = open(&url).await;
    let key = SecretKey::generate();
    let secret = "aftership webhook secret";
    let sealed = hooks::seal_secret(&key, a, HookSource::AfterShip, secret).unwrap();
    db.set_hook_secret(a, HookSource::AfterShip, &sealed, "owner@a.example", t0())
        .await
        .unwrap();
    // Someone with database access copies A's row to B (and to another source of A).
    db.set_hook_secret(b, HookSource::AfterShip, &sealed, "intruder", t0())
        .await
        .unwrap();
    db.set_hook_secret(a, HookSource::Track17, &sealed, "intruder", t0())
        .await
        .unwrap();
    let body = br#"{"event":"tracking_update","event_id":"e1","msg":{"tracking_number":"X1"}}"#;
    let sig = {
        use base64::Engine;
        use hmac::{KeyInit, Mac};
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(body);
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    };
    let h = [("aftership-hmac-sha256", sig.as_str())];
    let v = hooks::verify_for_shop(&db, &key, a, HookSource::AfterShip, &h, body, t0())
        .await
        .unwrap();
    assert_eq!(v.message_id.as_deref(), Some("e1"));
    let e = hooks::verify_for_shop(&db, &key, b, HookSource::AfterShip, &h, body, t0())
        .await
        .unwrap_err();
    assert!(e.is_server_error(), "{e}");
    let e = hooks::verify_for_shop(&db, &key, a, HookSource::Track17, &h, body, t0())
        .await
        .unwrap_err();
    assert!(e.is_server_error(), "{e}");
    // And with another server key, not even A's own opens.
    let e = hooks::verify_for_shop(
        &db,
        &SecretKey::generate(),
        a,
        HookSource::AfterShip,
        &h,
        body,
        t0(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, HookError::Sealed(_)), "{e}");
}

/// Replicas (two stores on one database): each reads a shop's secret at most every two
/// seconds, so a secret set or removed through one holds on the other within that time.
async fn a_secret_set_on_one_replica_holds_on_another_within_two_seconds(url: DbUrl) {
    let (one, a, _) = open(&url).await;
    let other = Db::open(&url).await.expect("open").0;
    let read = async |db: &Db| db.hook_secret(a, HookSource::Standard).await.unwrap();
    assert_eq!(read(&other).await, None);
    one.set_hook_secret(
        a,
        HookSource::Standard,
        b"sealed-1",
        "owner@a.example",
        t0(),
    )
    .await
    .unwrap();
    // The replica that set it uses it at once.
    assert_eq!(read(&one).await.as_deref(), Some(&b"sealed-1"[..]));
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(read(&other).await.as_deref(), Some(&b"sealed-1"[..]));
    assert!(
        one.delete_hook_secret(a, HookSource::Standard)
            .await
            .unwrap()
    );
    assert_eq!(read(&one).await, None);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(read(&other).await, None);
}
