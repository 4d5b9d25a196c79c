//! Reads through `ShopStore::view`, on SQLite and on a real PostgreSQL: they answer while the
//! shop's writer is busy, and on SQLite a view's reads see one state of the database.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use parceltrail_core::store::NewShipment;
use parceltrail_shop::stores::{ShopStore, Stores};
use parceltrail_shop::{Db, DbUrl};

fn parcel(n: &str) -> NewShipment {
    NewShipment {
        tracking_number: n.into(),
        carrier: "ups".into(),
        ..Default::default()
    }
}

async fn shop(url: &DbUrl) -> (Stores, Arc<ShopStore>) {
    let (db, _) = Db::open(url).await.unwrap();
    let shop = db
        .create_shop("Views", "owner@shop.example", Utc::now())
        .await
        .unwrap()
        .shop
        .id;
    let stores = Stores::new(&db);
    let store = stores.get(shop).await.unwrap();
    store
        .write(|s| s.add_shipments(&[parcel("VW00000001")], Utc::now()))
        .await
        .unwrap();
    (stores, store)
}

/// A read answers while the writer's turn is taken (a long write, the poller's batch): on
/// SQLite through a read-only connection beside it, on PostgreSQL through its own one.
async fn reads_answer_while_the_writer_is_busy(url: DbUrl) {
    let (_stores, store) = shop(&url).await;
    let (held, hold) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let writer = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            store.with(|_| {
                held.send(()).unwrap();
                released.recv().unwrap();
                Ok(())
            })
        })
    };
    hold.recv().unwrap();
    let found = tokio::time::timeout(
        Duration::from_secs(10),
        store.view(|s| s.find("VW00000001")),
    )
    .await
    .expect("the read waited for the writer")
    .unwrap();
    assert_eq!(found.tracking_number, "VW00000001");
    release.send(()).unwrap();
    writer.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_while_the_writer_is_busy_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    reads_answer_while_the_writer_is_busy(DbUrl::Sqlite(dir.path().join("server.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_while_the_writer_is_busy_on_postgres() {
    let url = parceltrail_shop::testing::postgres().fresh_database().await;
    reads_answer_while_the_writer_is_busy(url.parse().unwrap()).await;
}

/// On SQLite a view is one snapshot: a parcel committed by the writer between two of its
/// reads is not seen by the second, and the next view sees it. (On PostgreSQL each store
/// call is a transaction of its own; the views the server makes are one call each.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_on_sqlite_reads_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (_stores, store) = shop(&DbUrl::Sqlite(dir.path().join("server.db"))).await;
    let writer = store.clone();
    let (first, second) = store
        .view(move |s| {
            let first = s.find("VW00000001").is_ok();
            // From another thread, bounded: were the view on the writer's connection, the
            // write would wait for it forever.
            let (done, wrote) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = done
                    .send(writer.with(|w| w.add_shipments(&[parcel("VW00000002")], Utc::now())));
            });
            wrote
                .recv_timeout(Duration::from_secs(10))
                .expect("the write waited for the view")?;
            let second = s.find("VW00000002").is_ok();
            Ok((first, second))
        })
        .await
        .unwrap();
    assert!(first);
    assert!(!second, "a view saw a commit made after its first read");
    assert!(store.view(|s| s.find("VW00000002")).await.is_ok());
}
