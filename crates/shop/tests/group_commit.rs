//! Webhooks in, committed in groups (`stores`' group commit), on SQLite and on a real
//! PostgreSQL: deliveries arriving while a group is written share the next transaction, each
//! still gets its own counts, one whose data the database refuses fails alone, and only the
//! stored deliveries' message ids are remembered.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use parceltrail_core::store::NewShipment;
use parceltrail_shop::hooks::{self, HookSource, Verified};
use parceltrail_shop::stores::{Delivered, ShopStore, Stores};
use parceltrail_shop::{Db, DbUrl, ShopId};

const PARCELS: usize = 40;

fn number(i: usize) -> String {
    format!("GC{i:08}")
}

fn body(parcel: usize, scans: &[(u32, &str)]) -> Vec<hooks::Push> {
    let events: Vec<_> = scans
        .iter()
        .map(|(minute, description)| {
            serde_json::json!({"occurred_at": format!("2026-11-20T10:{minute:02}:00Z"),
                "status": "in_transit", "description": description})
        })
        .collect();
    let body = serde_json::json!({"tracking_number": number(parcel), "events": events});
    hooks::parse(HookSource::Standard, body.to_string().as_bytes()).unwrap()
}

fn verified(id: &str) -> Verified {
    Verified {
        source: HookSource::Standard,
        message_id: Some(id.to_owned()),
        signed_at: None,
    }
}

/// Holds writes to the shop's events until dropped (so deliveries pile up behind a group).
enum Hold {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

struct Backend {
    url: DbUrl,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    /// Makes the database refuse any event described "poison", as it might refuse a row.
    async fn poison(&self, shop: ShopId) {
        match &self.url {
            DbUrl::Sqlite(path) => {
                let c = rusqlite::Connection::open(shop_file(path, shop)).unwrap();
                c.execute_batch(
                    "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.description = 'poison'
                     BEGIN SELECT RAISE(ABORT, 'poisoned event'); END;",
                )
                .unwrap();
            }
            DbUrl::Postgres(_) => {
                let schema = parceltrail_shop::stores::schema_of(shop);
                self.pg()
                    .await
                    .batch_execute(&format!(
                        "CREATE FUNCTION {schema}.poison() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN
                           IF NEW.description = 'poison' THEN RAISE EXCEPTION 'poisoned event'; END IF;
                           RETURN NEW;
                         END $$;
                         CREATE TRIGGER poison BEFORE INSERT ON {schema}.events
                           FOR EACH ROW EXECUTE FUNCTION {schema}.poison();"
                    ))
                    .await
                    .unwrap();
            }
        }
    }

    fn is_sqlite(&self) -> bool {
        matches!(self.url, DbUrl::Sqlite(_))
    }

    async fn hold(&self, shop: ShopId) -> Hold {
        match &self.url {
            DbUrl::Sqlite(path) => {
                let c = rusqlite::Connection::open(shop_file(path, shop)).unwrap();
                c.execute_batch("BEGIN EXCLUSIVE").unwrap();
                Hold::Sqlite(c)
            }
            DbUrl::Postgres(_) => {
                let c = self.pg().await;
                let schema = parceltrail_shop::stores::schema_of(shop);
                c.batch_execute(&format!(
                    "BEGIN; LOCK TABLE {schema}.events IN EXCLUSIVE MODE"
                ))
                .await
                .unwrap();
                Hold::Postgres(c)
            }
        }
    }

    async fn release(&self, hold: Hold) {
        match hold {
            Hold::Sqlite(c) => c.execute_batch("ROLLBACK").unwrap(),
            Hold::Postgres(c) => c.batch_execute("ROLLBACK").await.unwrap(),
        }
    }

    async fn pg(&self) -> tokio_postgres::Client {
        let DbUrl::Postgres(url) = &self.url else {
            unreachable!()
        };
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }
}

fn shop_file(server_db: &std::path::Path, shop: ShopId) -> std::path::PathBuf {
    server_db
        .parent()
        .unwrap()
        .join("shops")
        .join(format!("{}.db", shop.0))
}

/// A new shop on `url` with `parcels` parcels (numbered by [`number`]), and its store.
async fn shop_with_parcels(
    url: &DbUrl,
    name: &str,
    parcels: usize,
) -> (Db, ShopId, Stores, Arc<ShopStore>) {
    let (db, _) = Db::open(url).await.unwrap();
    let shop = db
        .create_shop(name, "owner@shop.example", Utc::now())
        .await
        .unwrap()
        .shop
        .id;
    let stores = Stores::new(&db);
    let store: Arc<ShopStore> = stores.get(shop).await.unwrap();
    store
        .write(move |s| {
            let new: Vec<NewShipment> = (0..parcels)
                .map(|i| NewShipment {
                    tracking_number: number(i),
                    carrier: "ups".into(),
                    ..Default::default()
                })
                .collect();
            s.add_shipments(&new, Utc::now())
        })
        .await
        .unwrap();
    (db, shop, stores, store)
}

async fn deliveries_share_a_commit_and_fail_alone(b: Backend) {
    let (db, shop, _stores, store) = shop_with_parcels(&b.url, "Group", PARCELS).await;
    b.poison(shop).await;
    let groups = store.subscribe();
    let before = *groups.borrow();

    // The first delivery's group waits on the held table; everything sent meanwhile waits
    // for the next group.
    let hold = b.hold(shop).await;
    let send = |pushes, id: String| {
        let store = store.clone();
        tokio::spawn(async move { store.ingest_delivery(pushes, &verified(&id)).await })
    };
    let first = send(body(0, &[(0, "first")]), "m-first".into());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut later = Vec::new();
    for i in 0..PARCELS {
        // Two new scans for each parcel, one of them also in the next delivery for it.
        later.push(send(body(i, &[(1, "a"), (2, "b")]), format!("m-{i}")));
    }
    for i in 0..PARCELS / 2 {
        later.push(send(body(i, &[(2, "b"), (3, "c")]), format!("m-again-{i}")));
    }
    // In the round of the second deliveries (its parcel is not one of theirs): that round's
    // transaction fails, and each of its deliveries is ingested again alone.
    let poisoned = send(body(30, &[(4, "poison")]), "m-poison".into());
    let unknown = send(body(PARCELS + 1, &[(5, "x")]), "m-unknown".into());
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.release(hold).await;

    assert_eq!(
        first.await.unwrap().unwrap(),
        Delivered {
            stored: 1,
            duplicates: 0,
            unknown: vec![],
            replayed: false,
        }
    );
    let mut got = Vec::new();
    for h in later {
        let d = h.await.unwrap().unwrap();
        assert!(d.unknown.is_empty());
        got.push((d.stored, d.duplicates));
    }
    // Two deliveries for one parcel never share a round: whichever is written first stores
    // both its scans, the other finds "b" stored and adds its own. (On PostgreSQL two
    // writers may take them in either order.)
    for i in 0..PARCELS {
        if i < PARCELS / 2 {
            let mut pair = [got[i], got[PARCELS + i]];
            pair.sort();
            assert_eq!(pair, [(1, 1), (2, 0)], "parcel {i}: {got:?}");
        } else {
            assert_eq!(got[i], (2, 0), "parcel {i}: {got:?}");
        }
    }
    assert!(
        poisoned.await.unwrap().is_err(),
        "the refused event fails its delivery"
    );
    assert_eq!(
        unknown.await.unwrap().unwrap(),
        Delivered {
            stored: 0,
            duplicates: 0,
            unknown: vec![number(PARCELS + 1)],
            replayed: false,
        }
    );
    // Each group rings the shop's bell once (its rounds, and the retries after the poisoned
    // round failed, are one call). On SQLite two: the first delivery's, then all the others.
    // PostgreSQL runs a second writer, which may start a group of its own while the first
    // waits, and the two may share what waited after.
    let rang = *groups.borrow() - before;
    let most = if b.is_sqlite() {
        2
    } else {
        2 + parceltrail_shop::stores::PG_WRITERS as u64
    };
    assert!((2..=most).contains(&rang), "{rang} groups");

    // Each scan stored once: 1 + 40 × 2 + 20 × 1.
    let timeline = store
        .read(|s| {
            let mut n = 0;
            for i in 0..PARCELS {
                n += s.timeline(s.find(&number(i))?.id)?.len();
            }
            Ok(n)
        })
        .await
        .unwrap();
    assert_eq!(timeline, 1 + PARCELS * 2 + PARCELS / 2);
    // The ids of what was stored are remembered; the refused one may be sent again.
    for id in ["m-first", "m-0", "m-39", "m-again-19", "m-unknown"] {
        assert!(
            db.message_seen(shop, HookSource::Standard, id)
                .await
                .unwrap(),
            "{id}"
        );
    }
    assert!(
        !db.message_seen(shop, HookSource::Standard, "m-poison")
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_share_a_commit_and_fail_alone_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::Sqlite(dir.path().join("server.db"));
    deliveries_share_a_commit_and_fail_alone(Backend {
        url,
        _dir: Some(dir),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_share_a_commit_and_fail_alone_on_postgres() {
    let url = parceltrail_shop::testing::postgres().fresh_database().await;
    deliveries_share_a_commit_and_fail_alone(Backend {
        url: url.parse().unwrap(),
        _dir: None,
    })
    .await;
}

/// On PostgreSQL the replay check is made in the group's transaction (SQLite's, before the
/// ingest, is `hooks::verify_for_shop`'s): a message id already remembered is a replay, of
/// copies sent at once exactly one is not, and a replay stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_are_found_in_the_groups_transaction_on_postgres() {
    let url: DbUrl = parceltrail_shop::testing::postgres()
        .fresh_database()
        .await
        .parse()
        .unwrap();
    let (_db, _shop, _stores, store) = shop_with_parcels(&url, "Replays", 4).await;
    let first = store
        .ingest_delivery(body(0, &[(0, "first")]), &verified("r-1"))
        .await
        .unwrap();
    assert_eq!((first.stored, first.replayed), (1, false));
    let again = store
        .ingest_delivery(body(0, &[(0, "first")]), &verified("r-1"))
        .await
        .unwrap();
    assert_eq!((again.stored, again.replayed), (0, true));

    // Ten copies at once, for a parcel and for a number the shop does not track (those share
    // a round, so the check within one statement counts too).
    for (parcel, id) in [(1, "r-2"), (9, "r-3")] {
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .ingest_delivery(body(parcel, &[(1, "copy")]), &verified(id))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut fresh = 0;
        for t in tasks {
            let d = t.await.unwrap();
            fresh += usize::from(!d.replayed);
            if d.replayed {
                assert_eq!(d.stored, 0);
            }
        }
        assert_eq!(fresh, 1, "{id}: exactly one copy is not a replay");
    }
    let events = store
        .read(|s| s.timeline(s.find(&number(1))?.id).map(|t| t.len()))
        .await
        .unwrap();
    assert_eq!(events, 1);
}

/// A removed parcel takes no more webhook scans, alone or in a group, even where its number
/// was found before (PostgreSQL remembers a number's parcel): its number is answered as one
/// the shop does not track. Re-added, it takes them again.
async fn a_removed_parcel_is_unknown_to_webhooks(b: Backend) {
    let (_db, shop, _stores, store) = shop_with_parcels(&b.url, "Removed", 3).await;
    let deliver = |parcel: usize, minute: u32, id: &str| {
        let store = store.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            store
                .ingest_delivery(body(parcel, &[(minute, "scan")]), &verified(&id))
                .await
                .unwrap()
        })
    };
    let stored = |n: usize| Delivered {
        stored: n,
        ..Default::default()
    };
    let unknown = |parcel: usize| Delivered {
        unknown: vec![number(parcel)],
        ..Default::default()
    };
    for parcel in 0..3 {
        assert_eq!(
            deliver(parcel, 0, &format!("x-{parcel}")).await.unwrap(),
            stored(1)
        );
    }
    store
        .write(|s| {
            for parcel in [0, 2] {
                let id = s.find(&number(parcel))?.id;
                s.remove(id, Utc::now())?;
            }
            Ok(())
        })
        .await
        .unwrap();

    // In a group: deliveries piled up behind a held table share one transaction.
    let hold = b.hold(shop).await;
    let first = deliver(1, 1, "y-1");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (removed, kept) = (deliver(0, 2, "y-0"), deliver(1, 3, "y-1b"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.release(hold).await;
    assert_eq!(first.await.unwrap(), stored(1));
    assert_eq!(removed.await.unwrap(), unknown(0));
    assert_eq!(kept.await.unwrap(), stored(1));
    // Alone, and once more after that.
    assert_eq!(deliver(2, 4, "z-2").await.unwrap(), unknown(2));
    assert_eq!(deliver(2, 5, "z-2b").await.unwrap(), unknown(2));

    // Re-added (the same parcel, revived): scans are stored again.
    store
        .write(|s| {
            s.add_shipments(
                &[NewShipment {
                    tracking_number: number(0),
                    carrier: "ups".into(),
                    ..Default::default()
                }],
                Utc::now(),
            )
        })
        .await
        .unwrap();
    assert_eq!(deliver(0, 6, "w-0").await.unwrap(), stored(1));
    let events = store
        .read(|s| s.timeline(s.find(&number(0))?.id).map(|t| t.len()))
        .await
        .unwrap();
    assert_eq!(
        events, 1,
        "only the scan after re-adding (a removal drops the events)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_parcel_is_unknown_to_webhooks_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::Sqlite(dir.path().join("server.db"));
    a_removed_parcel_is_unknown_to_webhooks(Backend {
        url,
        _dir: Some(dir),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_parcel_is_unknown_to_webhooks_on_postgres() {
    let url = parceltrail_shop::testing::postgres().fresh_database().await;
    a_removed_parcel_is_unknown_to_webhooks(Backend {
        url: url.parse().unwrap(),
        _dir: None,
    })
    .await;
}
