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
//! [`ShopStore::read`], [`ShopStore::view`] (reads only, beside the writer) and
//! [`ShopStore::write`] run it on tokio's blocking threads.
//! [`ShopStore::shared`] hands the same store to core's poller and pipeline (the shop
//! server's background work).
//!
//! # Group commit of webhooks in
//!
//! A webhook is answered only after its events are durable, and each commit costs an fsync
//! (SQLite, `synchronous=FULL`) or a WAL flush (PostgreSQL): a transaction per delivery caps
//! a shop at a few hundred deliveries a second. So [`ShopStore::ingest_delivery`] queues the
//! delivery, and a *writer* takes everything waiting (up to [`GROUP_DELIVERIES`] deliveries
//! or about [`GROUP_EVENTS`] events) into one `Store::ingest` call, one transaction, and
//! remembers the group's message ids (the replay check): on PostgreSQL in the same
//! transaction (one commit), on SQLite, whose shops are files of their own, in one more
//! after it (as for a single delivery). Only then is each delivery answered with its own
//! counts. There is no
//! timer: what arrives while a group is written waits for it and forms the next group, so a
//! lone delivery goes at once and a busy shop's groups grow with its load. A writer is a task,
//! started by a delivery that finds fewer than the store allows (SQLite one, PostgreSQL
//! [`PG_WRITERS`]); it ends when nothing waits.
//!
//! Each delivery still gets its own answer:
//! - **Counts**: `ingest` reports one total, but its `EventsAdded` changes name the shipment,
//!   so a delivery's stored events are those of its shipments. No two deliveries for one
//!   shipment share a transaction: the later waits for the next round of the group (as it
//!   would have waited for the earlier one's commit), so its duplicates are counted as
//!   before.
//! - **Failures**: a delivery whose lookup fails fails alone; if a round's transaction fails,
//!   nothing of it was stored, and each of its deliveries is ingested again on its own, so one
//!   delivery's bad data fails only that delivery.
//!
//! On PostgreSQL a group's tracking numbers are found from memory, those not seen before in
//! one query ([`ShopStore::lookup`]; a `find` each would be a transaction each), and the
//! group is written from the writer's own task ([`PgStore::ingest_async`]) rather than a
//! blocking thread: each reply would otherwise wake another thread before the next
//! statement goes out.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use deadpool_postgres::Pool;
use parceltrail_core::domain::{Order, OrderId, Shipment, ShipmentId};
use parceltrail_core::poller::SharedStore;
use parceltrail_core::store::{
    Change, IngestBatch, IngestReport, OrderDetail, OrderQuery, SqliteStore, Store,
};
use tokio::sync::{oneshot, watch};

use crate::db::MessagesInTx;
use crate::hooks::{HookSource, Push, Verified};
use crate::tracking::{Also, AlsoInTx, Tx};
use crate::{Db, PgStore, ShopId};

/// The most webhook deliveries one group commit takes.
pub const GROUP_DELIVERIES: usize = 256;
/// How many tracking numbers' shipments a PostgreSQL shop keeps in memory for its webhooks
/// (see [`ShopStore::lookup`]); the least recently used go first.
pub const NUMBERS_KEPT: usize = 50_000;
/// How many groups of one shop PostgreSQL writes at once (see `ShopStore::writers`).
pub const PG_WRITERS: usize = 2;
/// The events one group commit stops taking deliveries at (one larger delivery goes alone):
/// a bound on how long a group holds the shop's store.
pub const GROUP_EVENTS: usize = 10_000;

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
    /// Where webhook message ids are remembered.
    db: Db,
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
    /// Where the shop's webhook message ids are remembered.
    db: Db,
    /// PostgreSQL's pool, for the one query that finds a group's shipments.
    pool: Option<Pool>,
    /// PostgreSQL: the shipments of tracking numbers found before (see [`ShopStore::lookup`]).
    numbers: Mutex<hashlink::LruCache<String, ShipmentId>>,
    /// Webhook deliveries waiting for the next group commit.
    deliveries: Mutex<Deliveries>,
}

/// What one webhook delivery came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Events stored for the first time.
    pub stored: usize,
    /// Events already known (from a poll, or an earlier delivery).
    pub duplicates: usize,
    /// Tracking numbers the shop does not track: their events were not stored.
    pub unknown: Vec<String>,
    /// The message id was already remembered: a replay (its events, the same as the
    /// first copy's, were stored before, so this changed nothing). Only PostgreSQL says so
    /// here, where the check is made in the group's transaction; on SQLite
    /// `hooks::verify_for_shop` refuses a replay before its ingest.
    pub replayed: bool,
}

/// A webhook message's id, with its source (the replay check's key).
type Message = (HookSource, String);

/// A delivery waiting for its group.
struct Delivery {
    pushes: Vec<Push>,
    events: usize,
    message: Option<Message>,
    reply: oneshot::Sender<parceltrail_core::Result<Delivered>>,
}

#[derive(Default)]
struct Deliveries {
    waiting: Vec<Delivery>,
    /// Writers draining `waiting`; a delivery that finds fewer than the store allows
    /// ([`ShopStore::writers`]) starts one.
    writers: usize,
}

enum Inner {
    /// One connection for writes: SQLite has one writer. The poller and the pipeline share
    /// it (see [`ShopStore::shared`]). Reads through [`ShopStore::view`] use read-only
    /// connections of their own beside it (WAL lets them run while it writes).
    Sqlite(Arc<Mutex<SqliteStore>>, Arc<Readers>),
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

/// The most read-only connections a SQLite shop keeps beside its writer: enough for reads
/// on both of a small machine's cores and one more waiting; a read that finds them all busy
/// takes the writer's turn.
pub const SQLITE_READERS: usize = 3;

/// A SQLite shop's read-only connections, opened as reads need them.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<SqliteStore>>,
    /// Open, idle or in use.
    open: std::sync::atomic::AtomicUsize,
}

impl Readers {
    /// An idle reader, a new one while there are fewer than [`SQLITE_READERS`], else none.
    fn take(&self) -> Option<SqliteStore> {
        use std::sync::atomic::Ordering;
        if let Some(r) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Some(r);
        }
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < SQLITE_READERS).then_some(n + 1)
            })
            .ok()?;
        match SqliteStore::open_read_only(&self.path) {
            Ok(r) => Some(r),
            Err(e) => {
                self.open.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(path = %self.path.display(), error = %e, "could not open a reader; reading through the writer");
                None
            }
        }
    }

    fn put(&self, r: SqliteStore) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(r);
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
            db: db.clone(),
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
        let pool = match &self.home {
            Home::Dir(_) => None,
            Home::Pool(pool) => Some(pool.clone()),
        };
        let inner = match &self.home {
            Home::Dir(dir) => {
                let path = dir.join(format!("{}.db", shop.0));
                let readers = Arc::new(Readers {
                    path: path.clone(),
                    idle: Mutex::new(Vec::new()),
                    open: Default::default(),
                });
                let store = tokio::task::spawn_blocking(move || SqliteStore::open(path))
                    .await
                    .map_err(task_failed)??;
                Inner::Sqlite(Arc::new(Mutex::new(store)), readers)
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
            db: self.db.clone(),
            pool,
            numbers: Mutex::new(hashlink::LruCache::new(NUMBERS_KEPT)),
            deliveries: Mutex::new(Deliveries::default()),
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

    /// Run `f`, which only reads, on a blocking thread. On SQLite through a read-only
    /// connection beside the writer, so reads run side by side and never wait for a write
    /// to finish, all of `f` in one snapshot; on PostgreSQL each store call `f` makes is a
    /// transaction of its own (so one call is one snapshot).
    pub async fn view<T, F>(self: &Arc<Self>, f: F) -> parceltrail_core::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> parceltrail_core::Result<T> + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || match &me.inner {
            Inner::Sqlite(writer, readers) => match readers.take() {
                Some(r) => {
                    let out = r.snapshot(|r| f(r));
                    readers.put(r);
                    out
                }
                None => {
                    let w = writer.lock().unwrap_or_else(|p| p.into_inner());
                    f(&*w)
                }
            },
            // Each PostgreSQL call is a transaction already, beside any writer.
            Inner::Postgres(s) => f(s),
        })
        .await
        .map_err(task_failed)?
    }

    /// An order with its parcels, their events and its stage log ([`Store::order_detail`]);
    /// on PostgreSQL on this task, with no blocking thread.
    pub async fn order_detail(
        self: &Arc<Self>,
        id: OrderId,
    ) -> parceltrail_core::Result<OrderDetail> {
        match &self.inner {
            Inner::Postgres(s) => s.order_detail_async(id).await,
            Inner::Sqlite(..) => self.view(move |s| s.order_detail(id)).await,
        }
    }

    /// A page of orders and their parcels ([`Store::order_page`]); on PostgreSQL on this
    /// task, with no blocking thread.
    pub async fn order_page(
        self: &Arc<Self>,
        q: OrderQuery,
    ) -> parceltrail_core::Result<(Vec<Order>, Vec<Shipment>)> {
        match &self.inner {
            Inner::Postgres(s) => s.order_page_async(q).await,
            Inner::Sqlite(..) => self.view(move |s| s.order_page(&q)).await,
        }
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

    /// Ingests a verified webhook delivery's pushes (into the shop's shipments with those
    /// tracking numbers) and remembers its message id, answering once both are committed:
    /// with others waiting at the same time, in one transaction (see the module docs).
    pub async fn ingest_delivery(
        self: &Arc<Self>,
        pushes: Vec<Push>,
        verified: &Verified,
    ) -> parceltrail_core::Result<Delivered> {
        let (reply, answer) = oneshot::channel();
        let delivery = Delivery {
            events: pushes.iter().map(|p| p.events.len()).sum(),
            pushes,
            message: verified.message_id.clone().map(|id| (verified.source, id)),
            reply,
        };
        let start = {
            let mut q = self.queue();
            q.waiting.push(delivery);
            let start = q.writers < self.writers();
            q.writers += usize::from(start);
            start
        };
        if start {
            tokio::spawn(self.clone().write_deliveries());
        }
        answer
            .await
            .map_err(|e| parceltrail_core::Error::Backend(Box::new(e)))?
    }

    /// The shipments of a group's tracking numbers. On PostgreSQL from memory when found
    /// before, the others in one query for the whole group (a `Store::find` each is a
    /// transaction each); on SQLite `None`: each is found in the group's call, in-process.
    ///
    /// Remembering is sound because a number's shipment never changes: a shop tracks a number
    /// once, and removing it leaves a tombstone that re-adding revives with the same id. A
    /// shipment removed since is found out in the group's transaction, which locks only
    /// those there (`IngestReport::gone`): its number is answered as unknown and forgotten.
    async fn lookup(
        &self,
        group: &[(Vec<Push>, Option<Message>)],
    ) -> parceltrail_core::Result<Option<HashMap<String, ShipmentId>>> {
        let Some(pool) = &self.pool else {
            return Ok(None);
        };
        let mut numbers: Vec<&str> = group
            .iter()
            .flat_map(|(pushes, _)| pushes)
            .map(|p| p.tracking_number.as_str())
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        let mut found = HashMap::with_capacity(numbers.len());
        {
            let mut kept = self.numbers();
            numbers.retain(|n| match kept.get(*n) {
                Some(id) => {
                    found.insert(n.to_string(), *id);
                    false
                }
                None => true,
            });
        }
        if numbers.is_empty() {
            return Ok(Some(found));
        }
        let backend =
            |e: Box<dyn std::error::Error + Send + Sync>| parceltrail_core::Error::Backend(e);
        let client = pool.get().await.map_err(|e| backend(Box::new(e)))?;
        // Named with its schema rather than in a transaction that sets `search_path` (as
        // `PgStore` does), to stay one round trip; the schema is this shop's, from its id.
        let sql = format!(
            "SELECT tracking_number, id FROM \"{}\".shipments
             WHERE tracking_number = ANY($1) AND NOT deleted",
            schema_of(self.shop)
        );
        let stmt = client
            .prepare_cached(&sql)
            .await
            .map_err(|e| backend(Box::new(e)))?;
        let rows = client
            .query(&stmt, &[&numbers])
            .await
            .map_err(|e| backend(Box::new(e)))?;
        let mut kept = self.numbers();
        for r in rows {
            let number: String = r.try_get(0).map_err(|e| backend(Box::new(e)))?;
            let id = ShipmentId(r.try_get(1).map_err(|e| backend(Box::new(e)))?);
            kept.insert(number.clone(), id);
            found.insert(number, id);
        }
        Ok(Some(found))
    }

    /// How many groups may be written at once. SQLite: one (it has one writer, and the
    /// shop's one connection). PostgreSQL: [`PG_WRITERS`], each on a connection of its own:
    /// a group is two round trips (two pipelined batches of statements, the first with
    /// `BEGIN`, the second with the commit; a lookup before them for numbers not seen
    /// before) and a second group overlaps its first with the other's journal lock and
    /// commit (the lock, held to the commit, orders them). Rows are locked in id order,
    /// so groups do not deadlock, and two touching one shipment take turns. (Measured on two
    /// cores with 1-event deliveries: one writer 1,730 events/s, two 2,200 to 2,500, four
    /// 1,740, their groups queueing on that lock; with the lookup from memory, three
    /// writers were no faster than two and cost PostgreSQL more CPU, their groups smaller.)
    fn writers(&self) -> usize {
        match self.inner {
            Inner::Sqlite(..) => 1,
            Inner::Postgres(_) => PG_WRITERS,
        }
    }

    fn numbers(&self) -> std::sync::MutexGuard<'_, hashlink::LruCache<String, ShipmentId>> {
        self.numbers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Deliveries> {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shop's webhook writer: a group at a time until none waits.
    async fn write_deliveries(self: Arc<Self>) {
        let _clear = ClearOnPanic(&self);
        loop {
            let group: Vec<Delivery> = {
                let mut q = self.queue();
                let (mut n, mut events) = (0, 0);
                for d in &q.waiting {
                    if n > 0 && (n == GROUP_DELIVERIES || events + d.events > GROUP_EVENTS) {
                        break;
                    }
                    n += 1;
                    events += d.events;
                }
                if n == 0 {
                    q.writers -= 1;
                    return;
                }
                q.waiting.drain(..n).collect()
            };
            let mut pushes = Vec::with_capacity(group.len());
            let mut waiting = Vec::with_capacity(group.len());
            for d in group {
                pushes.push((d.pushes, d.message.clone()));
                waiting.push((d.message, d.reply));
            }
            let failed = |e: String| {
                (0..waiting.len())
                    .map(|_| Err(parceltrail_core::Error::Backend(e.clone().into())))
                    .collect()
            };
            // On PostgreSQL the ids are remembered in the ingest's own transaction.
            let in_tx = match &self.inner {
                Inner::Postgres(_) => self.db.messages_in_tx(),
                Inner::Sqlite(..) => None,
            };
            let after = in_tx.is_none();
            let results = match (self.lookup(&pushes).await, &self.inner) {
                // PostgreSQL: written from this task (see `PgStore::ingest_async`).
                (Ok(found), Inner::Postgres(pg)) => {
                    let found = found.unwrap_or_default();
                    let resolved = resolve_group(pushes, |n| Ok(found.get(n).copied()));
                    let mut commit = PgCommit {
                        pg,
                        messages: in_tx.as_ref(),
                        shop: self.shop,
                        now: Utc::now(),
                    };
                    ingest_group(resolved, &mut commit).await
                }
                (Ok(_), Inner::Sqlite(..)) => {
                    let me = self.clone();
                    let handle = tokio::runtime::Handle::current();
                    match tokio::task::spawn_blocking(move || {
                        let now = Utc::now();
                        me.with(|s| {
                            let resolved = resolve_group(pushes, |n| find_whole(s, n));
                            // Nothing in `commit` awaits: this runs it on this thread.
                            let mut commit = SqliteCommit { store: s, now };
                            Ok(handle.block_on(ingest_group(resolved, &mut commit)))
                        })
                    })
                    .await
                    {
                        Ok(Ok(results)) => results,
                        Ok(Err(e)) => failed(e.to_string()),
                        Err(e) => failed(e.to_string()),
                    }
                }
                (Err(e), _) => failed(e.to_string()),
            };
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
            if self.pool.is_some() {
                // Numbers answered as unknown (some removed since they were remembered) are
                // looked up again next time.
                let mut kept = self.numbers();
                for d in results.iter().flatten() {
                    for n in &d.unknown {
                        kept.remove(n);
                    }
                }
            }
            if after {
                // After the commit, as for a single delivery (see `hooks`): a crash before
                // this lets the senders' retries through, which the idempotent ingest absorbs.
                let ids: Vec<(HookSource, String)> = waiting
                    .iter()
                    .zip(&results)
                    .filter(|(_, r)| r.is_ok())
                    .filter_map(|((m, _), _)| m.clone())
                    .collect();
                if let Err(e) = self.db.remember_messages(self.shop, &ids, Utc::now()).await {
                    tracing::error!(shop = %self.shop, error = %e, "could not remember webhooks' ids");
                }
            }
            for ((_, reply), result) in waiting.into_iter().zip(results) {
                // A sender that has gone (its connection closed) needs no answer.
                let _ = reply.send(result);
            }
        }
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
            Inner::Sqlite(s, _) => s.clone(),
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
            Inner::Sqlite(s, _) => f(&mut *s.lock().unwrap_or_else(|p| p.into_inner())),
            Inner::Postgres(s) => f(&mut s.clone()),
        }
    }
}

/// Should a writer panic, it leaves no queue behind that no writer drains: were it the last,
/// the deliveries waiting are dropped (their requests fail); the next delivery starts a new
/// writer.
struct ClearOnPanic<'a>(&'a ShopStore);

impl Drop for ClearOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut q = self.0.queue();
            q.writers -= 1;
            if q.writers == 0 {
                q.waiting.clear();
            }
        }
    }
}

/// A delivery's pushes, matched to the shop's shipments.
struct Resolved {
    batches: Vec<IngestBatch>,
    /// Each batch's tracking number, in order.
    numbers: Vec<String>,
    unknown: Vec<String>,
    message: Option<Message>,
}

impl Resolved {
    /// What the delivery came to, given what its transaction reported: `stored` of its
    /// events new, the rest already known, except those of shipments `gone` (removed since
    /// they were found), whose numbers are now unknown.
    fn delivered(
        &self,
        batches: &[IngestBatch],
        stored: usize,
        gone: &[ShipmentId],
        replayed: bool,
    ) -> Delivered {
        let mut unknown = self.unknown.clone();
        let mut given = 0;
        for (b, n) in batches.iter().zip(&self.numbers) {
            if gone.contains(&b.shipment_id) {
                unknown.push(n.clone());
            } else {
                given += b.events.len();
            }
        }
        Delivered {
            stored,
            duplicates: given.saturating_sub(stored),
            unknown,
            replayed,
        }
    }
}

/// Finds the shipment of each push through `find`; numbers the shop does not track are
/// `unknown`.
fn resolve(
    pushes: Vec<Push>,
    message: Option<Message>,
    find: &mut impl FnMut(&str) -> parceltrail_core::Result<Option<ShipmentId>>,
) -> parceltrail_core::Result<Resolved> {
    let mut batches = Vec::with_capacity(pushes.len());
    let mut numbers = Vec::with_capacity(pushes.len());
    let mut unknown = Vec::new();
    for push in pushes {
        match find(&push.tracking_number)? {
            Some(id) => {
                numbers.push(push.tracking_number.clone());
                batches.push(push.into_batch(id));
            }
            None => unknown.push(push.tracking_number),
        }
    }
    Ok(Resolved {
        batches,
        numbers,
        unknown,
        message,
    })
}

/// The shipment with exactly this tracking number, through `Store::find` (which also
/// matches a number's tail; a webhook names whole numbers only).
fn find_whole<S: Store + ?Sized>(
    s: &mut S,
    number: &str,
) -> parceltrail_core::Result<Option<ShipmentId>> {
    match s.find(number) {
        Ok(sh) if sh.tracking_number == number => Ok(Some(sh.id)),
        Ok(_)
        | Err(parceltrail_core::Error::NotFound(_))
        | Err(parceltrail_core::Error::Ambiguous { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How a group's batches are ingested in one transaction, with the message ids of the
/// deliveries they came in.
trait Commit {
    fn commit<'a>(
        &'a mut self,
        batches: &'a [IngestBatch],
        messages: &'a [Message],
    ) -> BoxFuture<'a, parceltrail_core::Result<Committed>>;
}

/// What a group's transaction came to.
struct Committed {
    report: IngestReport,
    /// The message ids remembered for the first time in the transaction; `None` where none
    /// are remembered in it (SQLite: the replay check came before).
    fresh: Option<HashSet<Message>>,
}

impl Committed {
    /// Whether a delivery with `message` is a replay; the first delivery to ask about a
    /// fresh id takes it, so of two copies in one round the second is the replay.
    fn replayed(&mut self, message: &Option<Message>) -> bool {
        match (message, &mut self.fresh) {
            (Some(m), Some(fresh)) => !fresh.remove(m),
            _ => false,
        }
    }
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// PostgreSQL: from the writer's task, the ids remembered in the ingest's transaction.
struct PgCommit<'s> {
    pg: &'s PgStore,
    messages: Option<&'s MessagesInTx>,
    shop: ShopId,
    now: chrono::DateTime<Utc>,
}

impl Commit for PgCommit<'_> {
    fn commit<'a>(
        &'a mut self,
        batches: &'a [IngestBatch],
        messages: &'a [Message],
    ) -> BoxFuture<'a, parceltrail_core::Result<Committed>> {
        let remember = Remember {
            messages: self.messages,
            shop: self.shop,
            ids: messages,
            now: self.now,
            fresh: Mutex::new(HashSet::new()),
        };
        Box::pin(async move {
            let report = self.pg.ingest_async(batches, self.now, &remember).await?;
            let fresh = self.messages.is_some().then(|| {
                remember
                    .fresh
                    .into_inner()
                    .unwrap_or_else(|p| p.into_inner())
            });
            Ok(Committed { report, fresh })
        })
    }
}

/// A group's message ids, remembered in its ingest's transaction.
struct Remember<'a> {
    messages: Option<&'a MessagesInTx>,
    shop: ShopId,
    ids: &'a [Message],
    now: chrono::DateTime<Utc>,
    /// Those of `ids` that were new, as the last attempt of the transaction found them.
    fresh: Mutex<HashSet<Message>>,
}

impl AlsoInTx for Remember<'_> {
    fn write<'t, 'c>(&'t self, tx: &'t Tx<'c>) -> Also<'t> {
        Box::pin(async move {
            if let Some(m) = self.messages {
                let new = m.remember(tx, self.shop, self.ids, self.now).await?;
                let new: HashSet<(&str, &str)> = new
                    .iter()
                    .map(|(s, id)| (s.as_str(), id.as_str()))
                    .collect();
                let fresh = self
                    .ids
                    .iter()
                    .filter(|(s, id)| new.contains(&(s.as_str(), id.as_str())))
                    .cloned()
                    .collect();
                *self.fresh.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
            }
            Ok(())
        })
    }
}

/// SQLite: on a blocking thread (nothing awaits), the ids remembered after the commit.
struct SqliteCommit<'s> {
    store: &'s mut dyn Store,
    now: chrono::DateTime<Utc>,
}

impl Commit for SqliteCommit<'_> {
    fn commit<'a>(
        &'a mut self,
        batches: &'a [IngestBatch],
        _: &'a [Message],
    ) -> BoxFuture<'a, parceltrail_core::Result<Committed>> {
        let out = self
            .store
            .ingest(batches, self.now)
            .map(|report| Committed {
                report,
                fresh: None,
            });
        Box::pin(std::future::ready(out))
    }
}

/// Each delivery of a group matched to the shop's shipments (see [`resolve`]).
fn resolve_group(
    group: Vec<(Vec<Push>, Option<Message>)>,
    mut find: impl FnMut(&str) -> parceltrail_core::Result<Option<ShipmentId>>,
) -> Vec<parceltrail_core::Result<Resolved>> {
    group
        .into_iter()
        .map(|(pushes, message)| resolve(pushes, message, &mut find))
        .collect()
}

/// One group: each delivery's answer, in order (see the module docs). `commit` ingests
/// batches in one transaction, with the message ids of the deliveries they came in (which
/// it may remember in that transaction).
async fn ingest_group(
    group: Vec<parceltrail_core::Result<Resolved>>,
    commit: &mut impl Commit,
) -> Vec<parceltrail_core::Result<Delivered>> {
    let mut out: Vec<Option<parceltrail_core::Result<Delivered>>> = Vec::new();
    let mut todo = Vec::new();
    for (i, resolved) in group.into_iter().enumerate() {
        match resolved {
            Ok(r) => {
                out.push(None);
                todo.push((i, r));
            }
            Err(e) => out.push(Some(Err(e))),
        }
    }
    // Rounds of deliveries with no shipment in common, in arrival order per shipment: a
    // delivery touching a shipment an earlier one (committed in this round or waiting for the
    // next) touches waits for the next round.
    while !todo.is_empty() {
        let mut busy = HashSet::new();
        let (mut round, mut later) = (Vec::new(), Vec::new());
        for (i, r) in todo {
            let ids: Vec<ShipmentId> = r.batches.iter().map(|b| b.shipment_id).collect();
            let free = ids.iter().all(|id| !busy.contains(id));
            busy.extend(ids);
            if free {
                round.push((i, r))
            } else {
                later.push((i, r))
            }
        }
        for (i, result) in commit_round(round, commit).await {
            out[i] = Some(result);
        }
        todo = later;
    }
    out.into_iter()
        .map(|r| r.expect("every delivery of a group is answered"))
        .collect()
}

/// One transaction for the round's deliveries (their shipments disjoint); should it fail,
/// one each.
async fn commit_round(
    round: Vec<(usize, Resolved)>,
    commit: &mut impl Commit,
) -> Vec<(usize, parceltrail_core::Result<Delivered>)> {
    let mut all = Vec::new();
    let mut spans: Vec<Range<usize>> = Vec::with_capacity(round.len());
    let mut answers = Vec::with_capacity(round.len());
    let mut messages = Vec::new();
    for (i, mut r) in round {
        let start = all.len();
        all.append(&mut r.batches);
        spans.push(start..all.len());
        messages.extend(r.message.clone());
        answers.push((i, r));
    }
    if answers.len() == 1 {
        let (i, r) = answers.pop().expect("one");
        return vec![(i, alone(commit, &all[spans.remove(0)], &r).await)];
    }
    match commit.commit(&all, &messages).await {
        Ok(mut committed) => {
            let mut added: HashMap<ShipmentId, usize> = HashMap::new();
            for c in &committed.report.changes {
                if let Change::EventsAdded {
                    shipment_id,
                    events,
                } = c
                {
                    *added.entry(*shipment_id).or_default() += events.len();
                }
            }
            answers
                .into_iter()
                .zip(spans)
                .map(|((i, r), span)| {
                    let batches = &all[span];
                    let mut ids: Vec<ShipmentId> = batches.iter().map(|b| b.shipment_id).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    let stored: usize = ids.iter().filter_map(|id| added.get(id)).sum();
                    let replayed = committed.replayed(&r.message);
                    let delivered = r.delivered(batches, stored, &committed.report.gone, replayed);
                    (i, Ok(delivered))
                })
                .collect()
        }
        Err(e) => {
            tracing::warn!(error = %e, deliveries = answers.len(),
                "a group of webhook deliveries failed together; each is ingested alone");
            let mut out = Vec::with_capacity(answers.len());
            for ((i, r), span) in answers.into_iter().zip(spans) {
                out.push((i, alone(commit, &all[span], &r).await));
            }
            out
        }
    }
}

/// One delivery's batches in a transaction of their own.
async fn alone(
    commit: &mut impl Commit,
    batches: &[IngestBatch],
    r: &Resolved,
) -> parceltrail_core::Result<Delivered> {
    let messages: Vec<Message> = r.message.iter().cloned().collect();
    let mut committed = commit.commit(batches, &messages).await?;
    let replayed = committed.replayed(&r.message);
    let report = &committed.report;
    Ok(r.delivered(batches, report.inserted, &report.gone, replayed))
}
