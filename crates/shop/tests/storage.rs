//! One suite, run against SQLite and against a real PostgreSQL (`parceltrail_shop::testing`).

use chrono::{DateTime, Duration, Utc};
use parceltrail_shop::{Db, DbUrl, Error, KeyId, Role, Scopes, ShopId};

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
    a_new_shop_has_an_owner_a_key_and_a_one_time_link,
    migrations_run_once_and_a_newer_schema_is_refused,
    another_shops_ids_are_not_found,
    keys_authenticate_until_revoked_and_record_their_use,
    a_key_revoked_on_one_replica_is_refused_on_another_within_two_seconds,
    setup_links_work_once_and_logins_need_the_password,
    one_account_per_email_address,
    bad_input_says_what_is_wrong,
    concurrent_opens_of_a_new_database_both_succeed,
    an_idempotency_key_answers_its_first_request_again,
    tracking_links_are_voided_by_rotation_and_by_withdrawal,
    requests_move_once_from_open_and_feedback_is_editable_for_a_week,
    a_customers_choice_is_kept_part_by_part_over_the_shops_defaults,
);

async fn open(url: &DbUrl) -> Db {
    Db::open(url).await.expect("open").0
}

async fn a_new_shop_has_an_owner_a_key_and_a_one_time_link(url: DbUrl) {
    let db = open(&url).await;
    let new = db
        .create_shop("  Trailhead Outfitters ", "Owner@Trailhead.example", t0())
        .await
        .unwrap();
    assert_eq!(new.shop.name, "Trailhead Outfitters");
    assert_eq!(new.owner.email, "owner@trailhead.example");
    assert_eq!(new.owner.role, Role::Owner);
    assert!(!new.owner.password_set);
    assert_eq!(new.key.scopes, Scopes::ALL);
    assert!(new.api_key.starts_with(&new.key.prefix));
    assert_eq!(db.shop(new.shop.id).await.unwrap(), new.shop);
    assert_eq!(db.shops().await.unwrap(), vec![new.shop.clone()]);
    assert_eq!(
        db.staff(new.shop.id).await.unwrap(),
        vec![new.owner.clone()]
    );
    assert_eq!(db.keys(new.shop.id).await.unwrap(), vec![new.key.clone()]);
    // Reopened, everything is still there.
    drop(db);
    let db = open(&url).await;
    assert_eq!(db.shop(new.shop.id).await.unwrap(), new.shop);
    assert!(
        db.authenticate_key(&new.api_key, t0())
            .await
            .unwrap()
            .is_some()
    );
}

async fn migrations_run_once_and_a_newer_schema_is_refused(url: DbUrl) {
    let (db, m) = Db::open(&url).await.unwrap();
    assert_eq!((m.from, m.to), (0, db.known_version()));
    db.create_shop("Shop", "a@shop.example", t0())
        .await
        .unwrap();
    drop(db);
    let (db, m) = Db::open(&url).await.unwrap();
    assert_eq!((m.from, m.to), (db.known_version(), db.known_version()));
    assert_eq!(db.schema_version().await.unwrap(), db.known_version());
    assert_eq!(db.shops().await.unwrap().len(), 1);
    let known = db.known_version();
    drop(db);
    // A newer build's database: refused, and left as it was.
    set_version(&url, known + 1).await;
    match Db::open(&url).await {
        Err(Error::NewerSchema { found, known: k }) => {
            assert_eq!((found, k), (known + 1, known));
        }
        Err(e) => panic!("expected NewerSchema, got {e}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
    set_version(&url, known).await;
    assert_eq!(open(&url).await.shops().await.unwrap().len(), 1);
}

async fn set_version(url: &DbUrl, v: i64) {
    match url {
        DbUrl::Sqlite(p) => {
            let c = rusqlite::Connection::open(p).unwrap();
            c.pragma_update(None, "user_version", v).unwrap();
        }
        DbUrl::Postgres(u) => {
            let (c, conn) = tokio_postgres::connect(u, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            c.execute("UPDATE schema_version SET version = $1", &[&v])
                .await
                .unwrap();
        }
    }
}

async fn another_shops_ids_are_not_found(url: DbUrl) {
    let db = open(&url).await;
    let a = db.create_shop("A", "a@a.example", t0()).await.unwrap();
    let b = db.create_shop("B", "b@b.example", t0()).await.unwrap();
    // B revoking A's key: not found, and A's key still works.
    assert!(matches!(
        db.revoke_key(b.shop.id, a.key.id, t0()).await,
        Err(Error::NotFound)
    ));
    assert!(
        db.authenticate_key(&a.api_key, t0())
            .await
            .unwrap()
            .is_some()
    );
    // Lists hold only the shop's own.
    assert_eq!(db.keys(b.shop.id).await.unwrap(), vec![b.key.clone()]);
    assert_eq!(db.staff(b.shop.id).await.unwrap(), vec![b.owner.clone()]);
    // Unknown ids: the same answer.
    let nobody = ShopId::new();
    assert!(matches!(db.shop(nobody).await, Err(Error::NotFound)));
    assert!(matches!(
        db.revoke_key(a.shop.id, KeyId::new(), t0()).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        db.create_key(nobody, "x", Scopes::ALL, t0()).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        db.add_staff(nobody, "c@c.example", Role::Staff, t0()).await,
        Err(Error::NotFound)
    ));
    // A key authenticates as its own shop only.
    let k = db
        .authenticate_key(&b.api_key, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(k.shop_id, b.shop.id);
}

async fn keys_authenticate_until_revoked_and_record_their_use(url: DbUrl) {
    let db = open(&url).await;
    let shop = db
        .create_shop("Shop", "o@shop.example", t0())
        .await
        .unwrap();
    let scopes: Scopes = "read,ingest".parse().unwrap();
    let (rec, key) = db
        .create_key(shop.shop.id, "warehouse", scopes, t0())
        .await
        .unwrap();
    assert_eq!(rec.scopes, scopes);
    assert!(rec.last_used_at.is_none());
    let used = db.authenticate_key(&key, t0()).await.unwrap().unwrap();
    assert_eq!(used.id, rec.id);
    assert_eq!(used.last_used_at, Some(t0()));
    // Within the minute, the recorded use stays; after it, it moves.
    let later = t0() + Duration::seconds(30);
    let again = db.authenticate_key(&key, later).await.unwrap().unwrap();
    assert_eq!(again.last_used_at, Some(t0()));
    let much_later = t0() + Duration::minutes(5);
    db.authenticate_key(&key, much_later)
        .await
        .unwrap()
        .unwrap();
    let listed = db.keys(shop.shop.id).await.unwrap();
    let listed = listed.iter().find(|k| k.id == rec.id).unwrap();
    assert_eq!(listed.last_used_at, Some(much_later));
    // A key with one character changed, a made-up key, and a key without the prefix: nothing.
    let mut wrong = key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    assert!(db.authenticate_key(&wrong, t0()).await.unwrap().is_none());
    assert!(
        db.authenticate_key("ptk_nonsense", t0())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.authenticate_key(&key[4..], t0())
            .await
            .unwrap()
            .is_none()
    );
    // Revoked: refused from then on; revoking again keeps the first time.
    let revoked_at = t0() + Duration::hours(1);
    let r = db
        .revoke_key(shop.shop.id, rec.id, revoked_at)
        .await
        .unwrap();
    assert_eq!(r.revoked_at, Some(revoked_at));
    assert!(
        db.authenticate_key(&key, revoked_at)
            .await
            .unwrap()
            .is_none()
    );
    let r = db
        .revoke_key(shop.shop.id, rec.id, revoked_at + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(r.revoked_at, Some(revoked_at));
    // The shop's first key is untouched.
    assert!(
        db.authenticate_key(&shop.api_key, t0())
            .await
            .unwrap()
            .is_some()
    );
}

/// Replicas (two stores on one database) remember a key they authenticated for up to
/// `KEY_CACHE`: the one that revokes it refuses it at once, the other within that time.
async fn a_key_revoked_on_one_replica_is_refused_on_another_within_two_seconds(url: DbUrl) {
    let one = open(&url).await;
    let other = open(&url).await;
    let shop = one
        .create_shop("Shop", "o@shop.example", t0())
        .await
        .unwrap();
    let (rec, key) = one
        .create_key(shop.shop.id, "till", Scopes::ALL, t0())
        .await
        .unwrap();
    let now = Utc::now();
    for db in [&one, &other] {
        assert!(db.authenticate_key(&key, now).await.unwrap().is_some());
    }
    one.revoke_key(shop.shop.id, rec.id, now).await.unwrap();
    assert!(one.authenticate_key(&key, now).await.unwrap().is_none());
    tokio::time::sleep(parceltrail_shop::db::KEY_CACHE + std::time::Duration::from_millis(100))
        .await;
    assert!(
        other
            .authenticate_key(&key, Utc::now())
            .await
            .unwrap()
            .is_none()
    );
    // The shop's other key was never revoked.
    assert!(
        other
            .authenticate_key(&shop.api_key, Utc::now())
            .await
            .unwrap()
            .is_some()
    );
}

async fn setup_links_work_once_and_logins_need_the_password(url: DbUrl) {
    let db = open(&url).await;
    let shop = db
        .create_shop("Shop", "o@shop.example", t0())
        .await
        .unwrap();
    // No password yet: no login.
    assert!(
        db.login("o@shop.example", "anything at all", t0())
            .await
            .unwrap()
            .is_none()
    );
    // A short password is refused and leaves the link usable.
    assert!(matches!(
        db.redeem_setup_link(&shop.setup_token, "short", t0()).await,
        Err(Error::Invalid {
            field: "password",
            ..
        })
    ));
    let member = db
        .redeem_setup_link(&shop.setup_token, "a long enough password", t0())
        .await
        .unwrap();
    assert!(member.password_set);
    // The link is spent.
    assert!(matches!(
        db.redeem_setup_link(&shop.setup_token, "another long password", t0())
            .await,
        Err(Error::NotFound)
    ));
    // Wrong password, unknown address: the same None.
    assert!(
        db.login("o@shop.example", "a long enough passwort", t0())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.login("x@shop.example", "a long enough password", t0())
            .await
            .unwrap()
            .is_none()
    );
    let (session, token) = db
        .login(" O@Shop.Example ", "a long enough password", t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.shop_id, shop.shop.id);
    assert_eq!(session.role, Role::Owner);
    assert_eq!(session.csrf.len(), 64);
    let found = db.session(&token, t0() + Duration::hours(1)).await.unwrap();
    assert_eq!(found, Some(session.clone()));
    // Expired, and signed out: gone.
    assert!(
        db.session(&token, session.expires_at)
            .await
            .unwrap()
            .is_none()
    );
    db.end_session(&token).await.unwrap();
    assert!(db.session(&token, t0()).await.unwrap().is_none());
    // A staff member's link, expired after a week.
    let (staff, link) = db
        .add_staff(shop.shop.id, "helper@shop.example", Role::Staff, t0())
        .await
        .unwrap();
    assert_eq!(staff.role, Role::Staff);
    assert!(matches!(
        db.redeem_setup_link(&link, "a long enough password", t0() + Duration::days(8))
            .await,
        Err(Error::NotFound)
    ));
}

async fn one_account_per_email_address(url: DbUrl) {
    let db = open(&url).await;
    let a = db.create_shop("A", "same@x.example", t0()).await.unwrap();
    assert!(matches!(
        db.create_shop("B", "Same@X.example", t0()).await,
        Err(Error::Conflict(_))
    ));
    // The refused shop left nothing behind.
    assert_eq!(db.shops().await.unwrap(), vec![a.shop.clone()]);
    assert!(matches!(
        db.add_staff(a.shop.id, "same@x.example", Role::Staff, t0())
            .await,
        Err(Error::Conflict(_))
    ));
}

async fn bad_input_says_what_is_wrong(url: DbUrl) {
    let db = open(&url).await;
    for (name, email, field) in [
        ("", "a@b.example", "name"),
        ("Shop\u{7}", "a@b.example", "name"),
        (&"x".repeat(201) as &str, "a@b.example", "name"),
        ("Shop", "not an email", "admin_email"),
    ] {
        match db.create_shop(name, email, t0()).await {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{name:?} {email:?}: {other:?}"),
        }
    }
    assert!(db.shops().await.unwrap().is_empty());
    assert!("read,delete".parse::<Scopes>().is_err());
    assert!("".parse::<Scopes>().is_err());
}

async fn concurrent_opens_of_a_new_database_both_succeed(url: DbUrl) {
    let opens = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { Db::open(&url).await.map(|(db, _)| db.known_version()) })
    });
    for o in futures_join(opens).await {
        o.expect("every concurrent open succeeds");
    }
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn an_idempotency_key_answers_its_first_request_again(url: DbUrl) {
    use parceltrail_shop::Idempotent;
    let db = open(&url).await;
    let a = db
        .create_shop("A", "a@example.com", t0())
        .await
        .unwrap()
        .shop
        .id;
    let b = db
        .create_shop("B", "b@example.com", t0())
        .await
        .unwrap()
        .shop
        .id;
    let run = |shop, key: &'static str, fp: &'static [u8], at| {
        let db = &db;
        async move { db.begin_idempotent(shop, key, fp, at).await.unwrap() }
    };
    assert_eq!(run(a, "k1", b"one", t0()).await, Idempotent::Run);
    // While the first runs, a repeat waits; another request under the key is refused.
    assert_eq!(run(a, "k1", b"one", t0()).await, Idempotent::InProgress);
    assert_eq!(run(a, "k1", b"two", t0()).await, Idempotent::Mismatch);
    // Keys are the shop's own: shop B's "k1" is another key.
    assert_eq!(run(b, "k1", b"two", t0()).await, Idempotent::Run);
    db.finish_idempotent(a, "k1", 201, Some("application/json"), b"{\"id\":1}")
        .await
        .unwrap();
    let replay = Idempotent::Replay {
        status: 201,
        content_type: Some("application/json".into()),
        body: b"{\"id\":1}".to_vec(),
    };
    assert_eq!(
        run(a, "k1", b"one", t0() + Duration::hours(1)).await,
        replay
    );
    // A first run whose server died: after its lease a repeat takes the key.
    assert_eq!(run(a, "k2", b"x", t0()).await, Idempotent::Run);
    assert_eq!(
        run(a, "k2", b"x", t0() + Duration::seconds(30)).await,
        Idempotent::InProgress
    );
    assert_eq!(
        run(a, "k2", b"x", t0() + Duration::seconds(61)).await,
        Idempotent::Run
    );
    // A run that failed on the server's side gives its key up.
    db.abandon_idempotent(a, "k2").await.unwrap();
    assert_eq!(
        run(a, "k2", b"y", t0() + Duration::seconds(62)).await,
        Idempotent::Run
    );
    // An abandoned key never drops a finished answer.
    db.abandon_idempotent(a, "k1").await.unwrap();
    assert_eq!(
        run(a, "k1", b"one", t0() + Duration::hours(2)).await,
        replay
    );
    // After a day the key is forgotten and may be used afresh.
    assert_eq!(
        run(a, "k1", b"new", t0() + Duration::hours(25)).await,
        Idempotent::Run
    );
    assert!(
        db.prune_idempotent(t0() + Duration::hours(26))
            .await
            .unwrap()
            >= 1
    );
}

async fn tracking_links_are_voided_by_rotation_and_by_withdrawal(url: DbUrl) {
    use parceltrail_core::domain::OrderId;
    use parceltrail_shop::db::LinkSettings;
    use parceltrail_shop::links::{self, LinkClaims, LinkError, LinkScope};
    use parceltrail_shop::secrets::SecretKey;

    let db = open(&url).await;
    let server = SecretKey::generate();
    let a = db
        .create_shop("A", "a@a.example", t0())
        .await
        .unwrap()
        .shop
        .id;
    let b = db
        .create_shop("B", "b@b.example", t0())
        .await
        .unwrap()
        .shop
        .id;
    // Made on first use, the same on every read after, and each shop's own.
    let pa = db.link_policy(a, &server, t0()).await.unwrap();
    assert_eq!(
        (pa.generation, pa.days_after_delivery, pa.show_address),
        (1, 90, true)
    );
    let again = db.link_policy(a, &server, t0()).await.unwrap();
    assert_eq!(*again.key, *pa.key);
    let pb = db.link_policy(b, &server, t0()).await.unwrap();
    assert_ne!(*pb.key, *pa.key);
    // Another server key cannot open it.
    assert!(
        db.link_policy(a, &SecretKey::generate(), t0())
            .await
            .is_err()
    );

    let order = OrderId::new();
    let claims = LinkClaims {
        shop: a,
        order,
        scope: LinkScope::Link,
        key_generation: pa.generation,
        link_generation: db.order_link_generation(a, order).await.unwrap(),
        expires_at: t0() + Duration::days(30),
    };
    let token = links::sign(&pa.key, &claims);
    let check = |p: &links::LinkPolicy, generation: u32| {
        links::read(&token)
            .and_then(|u| u.verify(p, t0()))
            .and_then(|c| links::check_order(&c, p, generation, None, t0()))
    };
    assert_eq!(check(&pa, 0), Ok(()));

    // Withdrawing the order's links: this order only, this shop only.
    assert_eq!(
        db.revoke_order_links(a, order, "staff:1", t0())
            .await
            .unwrap(),
        1
    );
    let now_a = db.order_link_generation(a, order).await.unwrap();
    assert_eq!(check(&pa, now_a), Err(LinkError::Revoked));
    assert_eq!(db.order_link_generation(b, order).await.unwrap(), 0);
    assert_eq!(
        db.revoke_order_links(a, order, "staff:1", t0())
            .await
            .unwrap(),
        2
    );
    assert!(matches!(
        db.revoke_order_links(ShopId::new(), order, "x", t0()).await,
        Err(Error::NotFound)
    ));

    // Rotation: a new key and generation; the old token no longer verifies.
    let rotated = db.rotate_link_key(a, &server, t0()).await.unwrap();
    assert_eq!(rotated.generation, 2);
    assert_ne!(*rotated.key, *pa.key);
    assert_eq!(check(&rotated, 0), Err(LinkError::Invalid));
    assert_eq!(
        db.link_policy(b, &server, t0()).await.unwrap().generation,
        1
    );

    // Settings: checked, kept across rotations.
    assert!(matches!(
        db.set_link_settings(
            a,
            &server,
            LinkSettings {
                days_after_delivery: Some(0),
                show_address: None
            },
            t0()
        )
        .await,
        Err(Error::Invalid {
            field: "days_after_delivery",
            ..
        })
    ));
    let set = db
        .set_link_settings(
            a,
            &server,
            LinkSettings {
                days_after_delivery: Some(14),
                show_address: Some(false),
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        (set.days_after_delivery, set.show_address, set.generation),
        (14, false, 2)
    );
    let p = db.rotate_link_key(a, &server, t0()).await.unwrap();
    assert_eq!(
        (p.days_after_delivery, p.show_address, p.generation),
        (14, false, 3)
    );
    // And on a shop that does not exist: nothing made.
    assert!(matches!(
        db.link_policy(ShopId::new(), &server, t0()).await,
        Err(Error::NotFound)
    ));
}

async fn requests_move_once_from_open_and_feedback_is_editable_for_a_week(url: DbUrl) {
    use parceltrail_core::domain::{OrderId, ShipmentId};
    use parceltrail_shop::requests::{FeedbackInput, NewRequest, RequestKind, RequestState};
    let db = open(&url).await;
    let shop = db
        .create_shop("Trailhead", "owner@trailhead.example", t0())
        .await
        .unwrap()
        .shop
        .id;
    let other = db
        .create_shop("Other", "owner@other.example", t0())
        .await
        .unwrap()
        .shop
        .id;
    let order = OrderId(uuid::Uuid::now_v7());
    let ask = |kind, text: Option<&str>| NewRequest {
        kind,
        address: None,
        postcode: None,
        text: text.map(str::to_owned),
    };
    let r = db
        .create_request(shop, order, ask(RequestKind::Cancel, Some(" twice ")), t0())
        .await
        .unwrap();
    assert_eq!(
        (r.state, r.text.as_deref()),
        (RequestState::Open, Some("twice"))
    );
    assert_eq!(r.history.len(), 1);
    // One open request of a kind; another kind is fine.
    assert!(matches!(
        db.create_request(shop, order, ask(RequestKind::Cancel, None), t0())
            .await,
        Err(Error::Conflict(_))
    ));
    db.create_request(
        shop,
        order,
        ask(RequestKind::Instructions, Some("Side door")),
        t0(),
    )
    .await
    .unwrap();
    assert!(matches!(
        db.create_request(shop, order, ask(RequestKind::Instructions, None), t0())
            .await,
        Err(Error::Invalid { field: "text", .. })
    ));
    // Another shop does not see or decide it.
    assert!(matches!(
        db.request(other, r.id).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        db.decide_request(other, r.id, RequestState::Approved, "eve", None, t0())
            .await,
        Err(Error::NotFound)
    ));
    assert_eq!(
        db.requests_in(shop, RequestState::Open, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    let later = t0() + Duration::hours(1);
    let done = db
        .decide_request(
            shop,
            r.id,
            RequestState::Rejected,
            "Sam",
            Some("It has shipped"),
            later,
        )
        .await
        .unwrap();
    assert_eq!(done.state, RequestState::Rejected);
    assert_eq!(
        done.history
            .iter()
            .map(|h| (h.state, h.by.as_str(), h.note.as_deref()))
            .collect::<Vec<_>>(),
        [
            (RequestState::Open, "customer", None),
            (RequestState::Rejected, "Sam", Some("It has shipped"))
        ]
    );
    assert!(matches!(
        db.decide_request(shop, r.id, RequestState::Withdrawn, "customer", None, later)
            .await,
        Err(Error::Conflict(_))
    ));
    // Decided, a new request of the kind may be made.
    db.create_request(shop, order, ask(RequestKind::Cancel, None), later)
        .await
        .unwrap();
    assert_eq!(db.order_requests(shop, order).await.unwrap().len(), 3);
    assert!(db.order_requests(other, order).await.unwrap().is_empty());

    // Feedback: 1 to 5, changed within the week, then kept as it is.
    let parcel = ShipmentId(uuid::Uuid::now_v7());
    let rate = |rating, comment: Option<&str>| FeedbackInput {
        shipment_id: parcel,
        order_id: order,
        carrier: "ups".into(),
        delivered_at: Some(t0()),
        rating,
        comment: comment.map(str::to_owned),
    };
    assert!(matches!(
        db.set_feedback(shop, rate(0, None), t0()).await,
        Err(Error::Invalid {
            field: "rating",
            ..
        })
    ));
    let f = db
        .set_feedback(shop, rate(5, Some("Great")), t0())
        .await
        .unwrap();
    assert_eq!((f.rating, f.comment.as_deref()), (5, Some("Great")));
    let f = db
        .set_feedback(shop, rate(2, None), t0() + Duration::days(6))
        .await
        .unwrap();
    assert_eq!((f.rating, f.created_at), (2, t0()));
    assert!(matches!(
        db.set_feedback(shop, rate(4, None), t0() + Duration::days(8))
            .await,
        Err(Error::Invalid {
            field: "rating",
            ..
        })
    ));
    assert_eq!(db.order_feedback(shop, order).await.unwrap()[0].rating, 2);
    assert!(db.order_feedback(other, order).await.unwrap().is_empty());
    assert_eq!(db.feedback_since(shop, t0()).await.unwrap().len(), 1);
    assert!(
        db.feedback_since(shop, t0() + Duration::days(7))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_customers_choice_is_kept_part_by_part_over_the_shops_defaults(url: DbUrl) {
    use parceltrail_core::domain::OrderId;
    use parceltrail_core::notify::rules::Kind;
    use parceltrail_shop::prefs::{self, ContactChoice, Language, NotifySettings};
    let db = open(&url).await;
    let shop = db
        .create_shop("Trailhead", "owner@trailhead.example", t0())
        .await
        .unwrap()
        .shop
        .id;
    let other = db
        .create_shop("Other", "owner@other.example", t0())
        .await
        .unwrap()
        .shop
        .id;
    let order = OrderId(uuid::Uuid::now_v7());

    // Nothing set: the product's defaults, and no choice.
    assert_eq!(
        db.notify_settings(shop).await.unwrap(),
        NotifySettings::default()
    );
    assert_eq!(
        db.contact_choice(shop, order).await.unwrap(),
        ContactChoice::default()
    );

    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let settings = NotifySettings {
        sms: false,
        kinds: prefs::kinds_of("news", &["delivered".into(), "problems".into()]).unwrap(),
        quiet: Some(prefs::quiet_hours("21:30", "07:00", true).unwrap()),
        time_zone: berlin,
        language: Language::De,
        ..NotifySettings::default()
    };
    db.set_notify_settings(shop, settings, t0()).await.unwrap();
    assert_eq!(db.notify_settings(shop).await.unwrap(), settings);
    assert_eq!(
        db.notify_settings(other).await.unwrap(),
        NotifySettings::default()
    );
    let none = NotifySettings {
        kinds: parceltrail_core::notify::rules::KindSet::NONE,
        ..settings
    };
    let e = db.set_notify_settings(shop, none, t0()).await.unwrap_err();
    assert!(matches!(e, Error::Invalid { field: "kinds", .. }), "{e}");

    // Each part a customer sets is kept; a later change of another part leaves it.
    let c = db
        .set_contact_choice(
            shop,
            order,
            ContactChoice {
                sms: Some(true),
                language: Some(Language::En),
                ..ContactChoice::default()
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        (c.sms, c.language, c.email),
        (Some(true), Some(Language::En), None)
    );
    let c = db
        .set_contact_choice(
            shop,
            order,
            ContactChoice {
                email: Some(false),
                kinds: Some(prefs::kinds_of("news", &["shipped".into()]).unwrap()),
                time_zone: Some("America/Chicago".parse().unwrap()),
                ..ContactChoice::default()
            },
            t0() + Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(c, db.contact_choice(shop, order).await.unwrap());
    assert_eq!(
        (c.email, c.sms, c.language),
        (Some(false), Some(true), Some(Language::En))
    );
    let who = c.over(&db.notify_settings(shop).await.unwrap());
    assert!(!who.email && who.sms);
    assert!(who.kinds.contains(Kind::Shipped) && !who.kinds.contains(Kind::Delivered));
    assert_eq!(who.time_zone.name(), "America/Chicago");
    assert_eq!(who.quiet, settings.quiet);
    // Another shop's order of the same id has no choice.
    assert_eq!(
        db.contact_choice(other, order).await.unwrap(),
        ContactChoice::default()
    );
}
