//! Webhooks out in the store: endpoints, enqueueing, claims with leases, the retry schedule,
//! replays and scoping, on SQLite and on a real PostgreSQL (`parceltrail_shop::testing`).

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use parceltrail_shop::webhooks::{
    self, DeliveryId, DeliveryState, EndpointId, EndpointPatch, NewEndpoint, Outcome, Recorded,
};
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
    endpoints_are_made_listed_changed_and_deleted,
    enqueueing_is_idempotent_and_follows_each_filter,
    a_claim_is_leased_and_a_stale_claimer_is_refused,
    a_dead_claimers_work_is_claimed_again_when_its_lease_ends,
    failures_follow_the_schedule_for_three_days_then_fail,
    a_replay_starts_a_new_series,
    another_shops_webhooks_are_not_found,
    deliveries_are_listed_newest_first_in_pages,
    old_finished_deliveries_are_pruned,
    concurrent_claimers_never_share_a_delivery,
);

async fn open(url: &DbUrl) -> Db {
    Db::open(url).await.expect("open").0
}

async fn shop(db: &Db, name: &str) -> ShopId {
    db.create_shop(name, &format!("owner@{name}.example"), t0())
        .await
        .unwrap()
        .shop
        .id
}

fn new(url: &str, types: &[&str]) -> NewEndpoint {
    NewEndpoint {
        url: url.to_owned(),
        description: "test".to_owned(),
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        enabled: true,
    }
}

async fn endpoint(db: &Db, shop: ShopId, url: &str, types: &[&str]) -> EndpointId {
    let id = EndpointId::new();
    db.create_endpoint(shop, id, new(url, types), b"sealed".to_vec(), t0())
        .await
        .unwrap();
    id
}

fn ok() -> Outcome {
    Outcome {
        delivered: true,
        status: Some(200),
        error: None,
        duration_ms: 12,
    }
}

fn fail(why: &str) -> Outcome {
    Outcome {
        delivered: false,
        status: Some(500),
        error: Some(why.to_owned()),
        duration_ms: 34,
    }
}

fn lease_end(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::seconds(60)
}

async fn endpoints_are_made_listed_changed_and_deleted(url: DbUrl) {
    let db = open(&url).await;
    let s = shop(&db, "a").await;
    let id = EndpointId::new();
    let e = db
        .create_endpoint(
            s,
            id,
            new(
                " https://Hooks.Example/in ",
                &["webhook.test", "order.created"],
            ),
            b"sealed".to_vec(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(e.id, id);
    assert_eq!(e.url, "https://hooks.example/in");
    assert_eq!(e.event_types, ["order.created", "webhook.test"]);
    assert!(e.enabled && e.disabled_reason.is_none());
    assert_eq!(db.endpoint(s, id).await.unwrap(), e);
    assert_eq!(db.endpoints(s).await.unwrap(), vec![e.clone()]);

    // Bad input names its field, and changes nothing.
    for (bad, field) in [
        (new("ftp://x.example/", &[]), "url"),
        (new("https://u:p@x.example/", &[]), "url"),
        (new("https://x.example/", &["order.shipped"]), "event_types"),
        (
            NewEndpoint {
                description: "\u{7}".into(),
                ..new("https://x.example/", &[])
            },
            "description",
        ),
    ] {
        match db
            .create_endpoint(s, EndpointId::new(), bad, vec![], t0())
            .await
        {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(db.endpoints(s).await.unwrap().len(), 1);

    // Disabled: it says why; enabled again: the reason goes.
    let later = t0() + Duration::minutes(1);
    let off = db
        .update_endpoint(
            s,
            id,
            EndpointPatch {
                enabled: Some(false),
                event_types: Some(vec![]),
                ..Default::default()
            },
            later,
        )
        .await
        .unwrap();
    assert!(!off.enabled);
    assert!(off.disabled_reason.is_some());
    assert!(off.event_types.is_empty());
    assert_eq!(off.updated_at, later);
    assert_eq!(off.url, e.url);
    // No deliveries for a disabled endpoint, and no test either.
    assert_eq!(
        db.enqueue(s, "evt_1", "order.created", "{}", t0())
            .await
            .unwrap(),
        0
    );
    assert!(matches!(
        db.enqueue_to(s, id, "evt_t", "webhook.test", "{}", t0())
            .await,
        Err(Error::Invalid {
            field: "enabled",
            ..
        })
    ));
    let on = db
        .update_endpoint(
            s,
            id,
            EndpointPatch {
                enabled: Some(true),
                url: Some("http://hooks.example:8080/x".into()),
                ..Default::default()
            },
            later,
        )
        .await
        .unwrap();
    assert!(on.enabled && on.disabled_reason.is_none());
    assert_eq!(on.url, "http://hooks.example:8080/x");
    let rotated = db
        .rotate_endpoint_secret(s, id, b"new".to_vec(), later)
        .await
        .unwrap();
    assert_eq!(rotated.url, on.url);

    // The claim carries the endpoint's current URL and secret.
    db.enqueue(s, "evt_2", "order.created", "{}", t0())
        .await
        .unwrap();
    let claimed = db.claim_due(later, lease_end(later), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].url, "http://hooks.example:8080/x");
    assert_eq!(claimed[0].secret_sealed, b"new");

    // Deleted, with its deliveries: the claimer's outcome finds nothing.
    db.delete_endpoint(s, id).await.unwrap();
    assert!(matches!(db.endpoint(s, id).await, Err(Error::NotFound)));
    assert!(matches!(
        db.delete_endpoint(s, id).await,
        Err(Error::NotFound)
    ));
    assert_eq!(
        db.record_attempt(claimed[0].lease, ok(), later)
            .await
            .unwrap(),
        Recorded::Stale
    );
    assert_eq!(db.queue_depth().await.unwrap(), 0);
}

async fn enqueueing_is_idempotent_and_follows_each_filter(url: DbUrl) {
    let db = open(&url).await;
    let s = shop(&db, "a").await;
    let all = endpoint(&db, s, "https://all.example/", &[]).await;
    let orders = endpoint(&db, s, "https://orders.example/", &["order.created"]).await;
    let _problems = endpoint(
        &db,
        s,
        "https://problems.example/",
        &["shipment.problem_opened"],
    )
    .await;
    assert_eq!(
        db.enqueue(s, "evt_1", "order.created", r#"{"a":1}"#, t0())
            .await
            .unwrap(),
        2
    );
    // The same event again (another replica, a pump's retry): nothing new.
    assert_eq!(
        db.enqueue(s, "evt_1", "order.created", r#"{"a":1}"#, t0())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.enqueue(s, "evt_2", "shipment.added", "{}", t0())
            .await
            .unwrap(),
        1
    );
    assert_eq!(db.queue_depth().await.unwrap(), 3);
    // A second store on the same database, enqueueing the same event: still once.
    let other = open(&url).await;
    assert_eq!(
        other
            .enqueue(s, "evt_2", "shipment.added", "{}", t0())
            .await
            .unwrap(),
        0
    );
    // A test event goes to the one endpoint, whatever its filter, once.
    let test = db
        .enqueue_to(s, orders, "evt_t", "webhook.test", "{}", t0())
        .await
        .unwrap()
        .expect("a new delivery");
    assert_eq!(
        db.delivery(s, orders, test).await.unwrap().event_type,
        "webhook.test"
    );
    assert_eq!(
        db.enqueue_to(s, orders, "evt_t", "webhook.test", "{}", t0())
            .await
            .unwrap(),
        None
    );
    let page = db.deliveries(s, orders, None, 50).await.unwrap();
    let types: Vec<&str> = page
        .deliveries
        .iter()
        .map(|d| d.event_type.as_str())
        .collect();
    assert_eq!(types, ["webhook.test", "order.created"]);
    assert_eq!(page.deliveries[1].payload, r#"{"a":1}"#);
    assert_eq!(page.deliveries[1].state, DeliveryState::Pending);
    assert_eq!(page.deliveries[1].next_attempt_at, Some(t0()));
    let page = db.deliveries(s, all, None, 50).await.unwrap();
    assert_eq!(page.deliveries.len(), 2);
    // Unknown types and bad ids are refused.
    assert!(matches!(
        db.enqueue(s, "evt_3", "order.shipped", "{}", t0()).await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        db.enqueue(s, "", "order.created", "{}", t0()).await,
        Err(Error::Invalid { .. })
    ));
    // The earliest is due first; nothing is due before its time.
    assert_eq!(db.next_due().await.unwrap(), Some(t0()));
    assert!(
        db.claim_due(t0() - Duration::seconds(1), t0(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_claim_is_leased_and_a_stale_claimer_is_refused(url: DbUrl) {
    let db = open(&url).await;
    let s = shop(&db, "a").await;
    let e = endpoint(&db, s, "https://a.example/", &[]).await;
    db.enqueue(s, "evt_1", "order.created", "{}", t0())
        .await
        .unwrap();
    let first = db.claim_due(t0(), lease_end(t0()), 10).await.unwrap();
    assert_eq!(first.len(), 1);
    let c = &first[0];
    assert_eq!((c.shop_id, c.endpoint_id), (s, e));
    assert_eq!((c.event_id.as_str(), c.lease.attempt), ("evt_1", 1));
    // Leased: nobody else gets it while the lease lasts.
    assert!(
        db.claim_due(
            t0() + Duration::seconds(59),
            t0() + Duration::seconds(119),
            10
        )
        .await
        .unwrap()
        .is_empty()
    );
    let d = db.delivery(s, e, c.lease.delivery_id).await.unwrap();
    assert_eq!(d.state, DeliveryState::Delivering);
    assert_eq!(d.attempts, 1);
    // The lease ends: another claimer takes it, and the first one's outcome is refused.
    let after = lease_end(t0()) + Duration::seconds(1);
    let second = db.claim_due(after, lease_end(after), 10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].lease.delivery_id, c.lease.delivery_id);
    assert_ne!(second[0].lease.token, c.lease.token);
    assert_eq!(second[0].lease.attempt, 2);
    assert_eq!(
        db.record_attempt(c.lease, ok(), after).await.unwrap(),
        Recorded::Stale
    );
    let d = db.delivery(s, e, c.lease.delivery_id).await.unwrap();
    assert_eq!(d.state, DeliveryState::Delivering);
    assert!(d.attempt_log.is_empty());
    // The holder's outcome counts, once.
    assert_eq!(
        db.record_attempt(second[0].lease, ok(), after)
            .await
            .unwrap(),
        Recorded::Delivered
    );
    assert_eq!(
        db.record_attempt(second[0].lease, fail("again"), after)
            .await
            .unwrap(),
        Recorded::Stale
    );
    let d = db.delivery(s, e, c.lease.delivery_id).await.unwrap();
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.delivered_at, Some(after));
    assert_eq!(d.next_attempt_at, None);
    assert_eq!(d.last_status, Some(200));
    assert_eq!(d.attempt_log.len(), 1);
    assert_eq!(d.attempt_log[0].duration_ms, 12);
    assert_eq!(db.queue_depth().await.unwrap(), 0);
    assert_eq!(db.next_due().await.unwrap(), None);
    // Delivered is never claimed again.
    let much_later = t0() + Duration::days(10);
    assert!(
        db.claim_due(much_later, lease_end(much_later), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_dead_claimers_work_is_claimed_again_when_its_lease_ends(url: DbUrl) {
    // Two replicas on one database: the first claims and dies.
    let a = open(&url).await;
    let b = open(&url).await;
    let s = shop(&a, "a").await;
    let e = endpoint(&a, s, "https://a.example/", &[]).await;
    for i in 0..3 {
        a.enqueue(s, &format!("evt_{i}"), "order.created", "{}", t0())
            .await
            .unwrap();
    }
    let dead = a.claim_due(t0(), lease_end(t0()), 2).await.unwrap();
    assert_eq!(dead.len(), 2);
    drop(a);
    // The other replica gets only what was not claimed, until the lease ends.
    let now = t0() + Duration::seconds(1);
    let got = b.claim_due(now, lease_end(now), 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        dead.iter()
            .all(|d| d.lease.delivery_id != got[0].lease.delivery_id)
    );
    assert_eq!(b.next_due().await.unwrap(), Some(lease_end(t0())));
    let now = lease_end(t0());
    let again = b.claim_due(now, lease_end(now), 10).await.unwrap();
    let mut ids: Vec<DeliveryId> = again.iter().map(|c| c.lease.delivery_id).collect();
    ids.sort();
    let mut expected: Vec<DeliveryId> = dead.iter().map(|c| c.lease.delivery_id).collect();
    expected.sort();
    assert_eq!(ids, expected);
    for c in &again {
        assert_eq!(c.lease.attempt, 2);
        assert_eq!(
            b.record_attempt(c.lease, ok(), now).await.unwrap(),
            Recorded::Delivered
        );
    }
    let page = b.deliveries(s, e, None, 10).await.unwrap();
    assert_eq!(
        page.deliveries
            .iter()
            .filter(|d| d.state == DeliveryState::Delivered)
            .count(),
        2
    );
}

async fn failures_follow_the_schedule_for_three_days_then_fail(url: DbUrl) {
    let db = open(&url).await;
    let s = shop(&db, "a").await;
    let e = endpoint(&db, s, "https://a.example/", &[]).await;
    db.enqueue(s, "evt_1", "order.created", "{}", t0())
        .await
        .unwrap();
    let mut now = t0();
    let mut waits = Vec::new();
    for attempt in 1..=webhooks::MAX_ATTEMPTS {
        // Not due a moment before its time.
        assert!(
            db.claim_due(now - Duration::milliseconds(1), now, 1)
                .await
                .unwrap()
                .is_empty(),
            "attempt {attempt} came early"
        );
        let c = db.claim_due(now, lease_end(now), 1).await.unwrap();
        assert_eq!(c.len(), 1, "attempt {attempt}");
        assert_eq!(c[0].lease.attempt, attempt);
        let done = now + Duration::milliseconds(250);
        match db
            .record_attempt(c[0].lease, fail(&format!("HTTP 500 #{attempt}")), done)
            .await
            .unwrap()
        {
            Recorded::Retry(at) => {
                assert!(attempt < webhooks::MAX_ATTEMPTS);
                waits.push(at - done);
                let d = db.delivery(s, e, c[0].lease.delivery_id).await.unwrap();
                assert_eq!(d.state, DeliveryState::Pending);
                assert_eq!(d.next_attempt_at, Some(at));
                assert_eq!(
                    d.last_error.as_deref(),
                    Some(&*format!("HTTP 500 #{attempt}"))
                );
                now = at;
            }
            Recorded::Failed => {
                assert_eq!(attempt, webhooks::MAX_ATTEMPTS);
                now = done;
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
    }
    assert_eq!(waits, webhooks::RETRY_SCHEDULE);
    assert_eq!(waits[0], Duration::seconds(5));
    assert!(now - t0() >= Duration::days(3), "{}", now - t0());
    let page = db.deliveries(s, e, None, 10).await.unwrap();
    let d = &page.deliveries[0];
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.next_attempt_at, None);
    assert_eq!(d.attempts, webhooks::MAX_ATTEMPTS);
    assert_eq!(d.attempt_log.len(), webhooks::MAX_ATTEMPTS as usize);
    // Newest first.
    assert_eq!(
        d.attempt_log[0].error.as_deref(),
        Some(&*format!("HTTP 500 #{}", webhooks::MAX_ATTEMPTS))
    );
    assert_eq!(d.attempt_log[0].status, Some(500));
    let far = now + Duration::days(20);
    assert!(
        db.claim_due(far, lease_end(far), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.queue_depth().await.unwrap(), 0);
    // Long errors are cut.
    db.enqueue(s, "evt_2", "order.created", "{}", now)
        .await
        .unwrap();
    let c = db.claim_due(now, lease_end(now), 1).await.unwrap();
    db.record_attempt(c[0].lease, fail(&"x".repeat(10_000)), now)
        .await
        .unwrap();
    let d = db.delivery(s, e, c[0].lease.delivery_id).await.unwrap();
    assert!(d.last_error.unwrap().chars().count() <= webhooks::MAX_ERROR + 1);
}

async fn a_replay_starts_a_new_series(url: DbUrl) {
    let db = open(&url).await;
    let s = shop(&db, "a").await;
    let e = endpoint(&db, s, "https://a.example/", &[]).await;
    db.enqueue(s, "evt_1", "order.created", "{}", t0())
        .await
        .unwrap();
    let c = db.claim_due(t0(), lease_end(t0()), 1).await.unwrap();
    let id = c[0].lease.delivery_id;
    db.record_attempt(c[0].lease, ok(), t0()).await.unwrap();
    // Replayed: pending now, a fresh series; its log keeps the first attempt.
    let later = t0() + Duration::hours(1);
    let d = db.replay(s, e, id, later).await.unwrap();
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!((d.attempts, d.next_attempt_at), (0, Some(later)));
    assert_eq!(d.attempt_log.len(), 1);
    let c = db.claim_due(later, lease_end(later), 1).await.unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].lease.attempt, 1);
    // Replayed while being sent: the sender's outcome is refused, the new series goes on.
    let d = db.replay(s, e, id, later).await.unwrap();
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!(
        db.record_attempt(c[0].lease, fail("late"), later)
            .await
            .unwrap(),
        Recorded::Stale
    );
    let c = db.claim_due(later, lease_end(later), 1).await.unwrap();
    assert_eq!(
        db.record_attempt(c[0].lease, fail("down"), later)
            .await
            .unwrap(),
        Recorded::Retry(later + Duration::seconds(5))
    );
    let d = db.delivery(s, e, id).await.unwrap();
    assert_eq!(d.attempt_log.len(), 2);
    assert_eq!(d.delivered_at, Some(t0()));
    // A failed delivery is replayed the same way.
    assert!(matches!(
        db.replay(s, e, DeliveryId::new(), later).await,
        Err(Error::NotFound)
    ));
}

async fn another_shops_webhooks_are_not_found(url: DbUrl) {
    let db = open(&url).await;
    let a = shop(&db, "a").await;
    let b = shop(&db, "b").await;
    let ea = endpoint(&db, a, "https://a.example/", &[]).await;
    let eb = endpoint(&db, b, "https://b.example/", &[]).await;
    db.enqueue(a, "evt_1", "order.created", "{}", t0())
        .await
        .unwrap();
    let da = db.deliveries(a, ea, None, 10).await.unwrap().deliveries[0].id;
    // B sees only its own endpoint, and none of A's records.
    assert_eq!(
        db.endpoints(b)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        [eb]
    );
    assert!(matches!(db.endpoint(b, ea).await, Err(Error::NotFound)));
    assert!(matches!(
        db.update_endpoint(
            b,
            ea,
            EndpointPatch {
                url: Some("https://evil.example/".into()),
                ..Default::default()
            },
            t0()
        )
        .await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        db.rotate_endpoint_secret(b, ea, vec![1], t0()).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        db.deliveries(b, ea, None, 10).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(db.delivery(b, ea, da).await, Err(Error::NotFound)));
    // A's delivery under B's own endpoint id: not found either.
    assert!(matches!(db.delivery(b, eb, da).await, Err(Error::NotFound)));
    assert!(matches!(
        db.replay(b, ea, da, t0()).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        db.replay(b, eb, da, t0()).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        db.enqueue_to(b, ea, "evt_t", "webhook.test", "{}", t0())
            .await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        db.delete_endpoint(b, ea).await,
        Err(Error::NotFound)
    ));
    // B's events never reach A's endpoint.
    db.enqueue(b, "evt_1", "order.created", "{}", t0())
        .await
        .unwrap();
    assert_eq!(
        db.deliveries(a, ea, None, 10)
            .await
            .unwrap()
            .deliveries
            .len(),
        1
    );
    assert_eq!(
        db.deliveries(b, eb, None, 10)
            .await
            .unwrap()
            .deliveries
            .len(),
        1
    );
    // A's endpoint is as it was.
    assert_eq!(db.endpoint(a, ea).await.unwrap().url, "https://a.example/");
    // Made for a shop that does not exist: not found.
    assert!(matches!(
        db.create_endpoint(
            ShopId::new(),
            EndpointId::new(),
            new("https://x.example/", &[]),
            vec![],
            t0()
        )
        .await,
        Err(Error::NotFound)
    ));
}

async fn deliveries_are_listed_newest_first_in_pages(url: DbUrl) {
    let db = open(&url).await;
    let s = shop(&db, "a").await;
    let e = endpoint(&db, s, "https://a.example/", &[]).await;
    for i in 0..7 {
        db.enqueue(s, &format!("evt_{i}"), "order.updated", "{}", t0())
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = db.deliveries(s, e, cursor, 3).await.unwrap();
        assert!(page.deliveries.len() <= 3);
        seen.extend(page.deliveries.iter().map(|d| d.event_id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("evt_{i}")).collect();
    assert_eq!(seen, expected);
    let ids: HashSet<String> = seen.into_iter().collect();
    assert_eq!(ids.len(), 7);
}

async fn old_finished_deliveries_are_pruned(url: DbUrl) {
    let db = open(&url).await;
    let s = shop(&db, "a").await;
    let e = endpoint(&db, s, "https://a.example/", &[]).await;
    for i in 0..3 {
        db.enqueue(s, &format!("evt_{i}"), "order.updated", "{}", t0())
            .await
            .unwrap();
    }
    let c = db.claim_due(t0(), lease_end(t0()), 2).await.unwrap();
    for x in &c {
        db.record_attempt(x.lease, ok(), t0()).await.unwrap();
    }
    assert_eq!(
        db.prune_deliveries(t0() + Duration::days(29))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.prune_deliveries(t0() + webhooks::RETENTION + Duration::seconds(1))
            .await
            .unwrap(),
        2
    );
    // The one still pending stays.
    let page = db.deliveries(s, e, None, 10).await.unwrap();
    assert_eq!(page.deliveries.len(), 1);
    assert_eq!(page.deliveries[0].state, DeliveryState::Pending);
}

async fn concurrent_claimers_never_share_a_delivery(url: DbUrl) {
    let db = open(&url).await;
    let s = shop(&db, "a").await;
    endpoint(&db, s, "https://a.example/", &[]).await;
    endpoint(&db, s, "https://b.example/", &[]).await;
    const EVENTS: usize = 60;
    for i in 0..EVENTS {
        db.enqueue(s, &format!("evt_{i}"), "order.updated", "{}", t0())
            .await
            .unwrap();
    }
    // Three replicas (stores of their own) with three claimers each, all at once.
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(open(&url).await);
    }
    // First every claimer takes what it can and dies with it (records nothing); then, when
    // the leases have ended, they race for the same expired claims and deliver them.
    for (now, record) in [(t0(), false), (lease_end(t0()), true)] {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(9));
        let mut tasks = Vec::new();
        for replica in &replicas {
            for _ in 0..3 {
                let replica = replica.clone();
                let barrier = barrier.clone();
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    let mut mine = Vec::new();
                    loop {
                        let got = replica.claim_due(now, lease_end(now), 4).await.unwrap();
                        if got.is_empty() {
                            break;
                        }
                        for c in got {
                            if record {
                                assert_eq!(
                                    replica.record_attempt(c.lease, ok(), now).await.unwrap(),
                                    Recorded::Delivered
                                );
                            }
                            mine.push(c.lease.delivery_id);
                        }
                    }
                    mine
                }));
            }
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let unique: HashSet<DeliveryId> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "a delivery was claimed twice");
        assert_eq!(all.len(), 2 * EVENTS);
    }
    assert_eq!(db.queue_depth().await.unwrap(), 0);
}
