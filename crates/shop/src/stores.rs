//! Each shop's tracking store: core's [`Store`] (orders, shipments, events, estimates,
//! problems, the change feed) for one shop, opened on first use and kept open.
//!
//! On SQLite each shop has a file of its own, `shops/<shop id>.db` beside the shop store's
//! file, so a shop's parcels are one file to back up, move or delete. On PostgreSQL each shop
//! has a schema of its own in the same database ([`PgStore`]). Either way a handler reaches
//! a shop's parcels only through the [`ShopStore`] of the caller's shop: tenancy comes from
//! where the rows are, not from a filter every query must remember.
//!
//! The store is synchronous (SQLite is, and `PgStore` `block_on`s the runtime), so
//! [`ShopStore::read`] and [`ShopStore::write`] run it on tokio's blocking threads.
//! [`ShopStore::shared`] hands the same store to core's poller and pipeline (the shop
//! server's background work).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use deadpool_postgres::Pool;
use parceltrail_core::poller::SharedStore;
use parceltrail_core::store::{SqliteStore, Store};
use tokio::sync::watch;

use crate::{Db, PgStore, ShopId};

/// Where the shops' stores live.
pub(crate) enum Home {
    /// A folder of SQLite files.
    Dir(PathBuf),
    /// Schemas in this PostgreSQL database.
    Pool(Pool),
}

/// Every shop's tracking store, opened on demand.
pub struct Stores {
    home: Home,
    open: Mutex<HashMap<ShopId, Arc<ShopStore>>>,
    /// Serialises opening, so two requests for a new shop do not migrate it twice at once.
    opening: tokio::sync::Mutex<()>,
    /// Rung when a store is opened (the background work starts a new shop's at once).
    opened_bell: tokio::sync::Notify,
}

/// One shop's tracking store.
pub struct ShopStore {
    shop: ShopId,
    inner: Inner,
    /// Counts writes through this process, for those waiting on the shop's changes.
    changed: watch::Sender<u64>,
}

enum Inner {
    /// One connection: SQLite has one writer, and a shop's reads are short. The poller and
    /// the pipeline share it (see [`ShopStore::shared`]).
    Sqlite(Arc<Mutex<SqliteStore>>),
    /// A pooled store: each call gets its own clone, so calls run side by side.
    Postgres(PgStore),
}

impl std::fmt::Debug for ShopStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopStore")
            .field("shop", &self.shop)
            .finish()
    }
}

/// The schema a shop's tables live in on PostgreSQL.
pub fn schema_of(shop: ShopId) -> String {
    format!("shop_{}", shop.0.simple())
}

impl Stores {
    /// The stores of the shops in `db`'s database.
    pub fn new(db: &Db) -> Stores {
        Stores {
            home: db.tracking_home(),
            open: Mutex::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
            opened_bell: tokio::sync::Notify::new(),
        }
    }

    /// The shop's store, opened (and its schema brought up to date) on first use. The caller
    /// has already established that the shop exists.
    pub async fn get(&self, shop: ShopId) -> parceltrail_core::Result<Arc<ShopStore>> {
        if let Some(s) = self.cached(shop) {
            return Ok(s);
        }
        let _turn = self.opening.lock().await;
        if let Some(s) = self.cached(shop) {
            return Ok(s);
        }
        let inner = match &self.home {
            Home::Dir(dir) => {
                let path = dir.join(format!("{}.db", shop.0));
                let store = tokio::task::spawn_blocking(move || SqliteStore::open(path))
                    .await
                    .map_err(task_failed)??;
                Inner::Sqlite(Arc::new(Mutex::new(store)))
            }
            Home::Pool(pool) => {
                let pool = pool.clone();
                let handle = tokio::runtime::Handle::current();
                let schema = schema_of(shop);
                let store =
                    tokio::task::spawn_blocking(move || PgStore::open(pool, handle, &schema))
                        .await
                        .map_err(task_failed)??;
                Inner::Postgres(store)
            }
        };
        let store = Arc::new(ShopStore {
            shop,
            inner,
            changed: watch::Sender::new(0),
        });
        self.lock().insert(shop, store.clone());
        self.opened_bell.notify_one();
        Ok(store)
    }

    /// Resolves when a store was opened since the last call (a shop's first request).
    pub async fn newly_opened(&self) {
        self.opened_bell.notified().await;
    }

    /// Every store opened so far (the background work visits these).
    pub fn opened(&self) -> Vec<Arc<ShopStore>> {
        self.lock().values().cloned().collect()
    }

    fn cached(&self, shop: ShopId) -> Option<Arc<ShopStore>> {
        self.lock().get(&shop).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ShopId, Arc<ShopStore>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn task_failed(e: tokio::task::JoinError) -> parceltrail_core::Error {
    parceltrail_core::Error::Backend(Box::new(e))
}

impl ShopStore {
    /// Whose store this is.
    pub fn shop(&self) -> ShopId {
        self.shop
    }

    /// Run a read on a blocking thread.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> parceltrail_core::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> parceltrail_core::Result<T> + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.with(f))
            .await
            .map_err(task_failed)?
    }

    /// Run a write on a blocking thread, then wake whoever waits for this shop's changes.
    pub async fn write<T, F>(self: &Arc<Self>, f: F) -> parceltrail_core::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> parceltrail_core::Result<T> + Send + 'static,
    {
        let out = self.read(f).await;
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        out
    }

    /// Changes at each write through this process (other replicas' writes are seen by
    /// polling the feed).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The store for core's poller or pipeline. On SQLite, the one connection the API uses
    /// too (SQLite has one writer, and a second connection would only wait for it); on
    /// PostgreSQL a clone in a mutex of its own, its polls claimed for `poll_lease` (see
    /// [`PgStore::with_poll_lease`]), so replicas sharing the database never poll one parcel
    /// at once. SQLite is one process's: it claims nothing, and the lease does not apply.
    pub fn shared(&self, poll_lease: std::time::Duration) -> SharedStore {
        match &self.inner {
            Inner::Sqlite(s) => s.clone(),
            Inner::Postgres(s) => Arc::new(Mutex::new(s.clone().with_poll_lease(poll_lease))),
        }
    }

    /// Whether several processes may share this store (PostgreSQL), so polls are claimed.
    pub fn is_shared(&self) -> bool {
        matches!(self.inner, Inner::Postgres(_))
    }

    /// Run `f` on this thread (which must not be a runtime worker: see [`PgStore`]).
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> parceltrail_core::Result<T>,
    ) -> parceltrail_core::Result<T> {
        match &self.inner {
            Inner::Sqlite(s) => f(&mut *s.lock().unwrap_or_else(|p| p.into_inner())),
            Inner::Postgres(s) => f(&mut s.clone()),
        }
    }
}
