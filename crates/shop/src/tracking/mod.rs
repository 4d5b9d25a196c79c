//! Core's tracking store ([`parceltrail_core::store::Store`]) on PostgreSQL: each shop's
//! orders (with their customers and stage log), shipments, events, estimates, problems,
//! notification outbox and change feed, with the same meaning, transactions and answers as
//! core's `SqliteStore` (`tests/core_store.rs` runs one suite on both).
//!
//! **One PostgreSQL schema per shop.** A [`PgStore`] is opened on one schema and every
//! transaction starts with `SET LOCAL search_path` to that schema alone, so its SQL (kept
//! close to core's SQLite SQL, unqualified) cannot name another shop's tables. `SET LOCAL`
//! rather than a session `SET`: pooled connections serve every shop, and a transaction-local
//! setting cannot outlive the transaction that set it. Prepared statements are cached per
//! connection; PostgreSQL re-parses one when the search path differs from its last use, so a
//! statement prepared for one shop runs against the next shop's tables.
//!
//! **Concurrency** (several server replicas on one database), where SQLite has a single
//! writer:
//! - the journal (`status_log` and `problems` ids, read by the notifier through a cursor)
//!   and the change feed (`feed.seq`, read by the shop server's event stream from the last
//!   `seq` it saw) get their rows under a per-schema advisory lock held to commit, so ids
//!   become visible in the order they were handed out and a reader never skips a row
//!   committed late. Writers serialize on it only for their tail: a transaction takes it
//!   right before its first journal row, or else right before it appends its feed rows,
//!   which are always its last writes (one `INSERT … SELECT` from arrays);
//! - locks are taken in one order, so writers wait for each other instead of deadlocking:
//!   the numbers lock (below), then order rows, then shipment rows (`FOR UPDATE`, in id
//!   order), then the journal lock. Adding a parcel to an existing order touches the order
//!   after its parcels' rows, but only under the numbers lock, as does everything else that
//!   locks an order and then its parcels;
//! - a second per-schema advisory lock, the numbers lock, is taken first by everything that
//!   gives out or frees an order number or a tracking number (`add_shipments`, `save_order`,
//!   `update_order`, `remove_order`), so two replicas adding one number or order take turns
//!   and the second finds the first's rows;
//! - the outbox claim is one atomic `UPDATE … WHERE … next_attempt_at <= now`; moving the
//!   notifier's cursor locks it `FOR UPDATE` and refuses when it moved;
//! - polls are claimed with a lease: [`Store::due`] moves the due rows' `next_poll_at` to
//!   the end of the lease ([`PgStore::with_poll_lease`], [`POLL_LEASE`] by default) in the
//!   statement that picks them (`FOR UPDATE SKIP LOCKED`: replicas asking at once get
//!   different rows, and since it never waits for a lock, taking rows in due order rather
//!   than id order cannot deadlock), and `record_polls` sets the real next
//!   time. A replica that dies mid-poll leaves its rows leased; when the lease ends they are
//!   due again, for whichever replica asks first;
//! - a transaction PostgreSQL aborts as a deadlock or serialization failure is retried.

mod derived;
mod orders;
mod shipments;

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use deadpool_postgres::{Pool, PoolError};
use parceltrail_core::Error as CoreError;
use parceltrail_core::domain::{
    Order, OrderId, OrderStage, Shipment, ShipmentId, StageChange, Status, StatusChange,
    TrackingEvent,
};
use parceltrail_core::eta::Delivery;
use parceltrail_core::notify::rules::Draft;
use parceltrail_core::problems::OpenProblem;
use parceltrail_core::store::{
    Active, Added, Assessment, Backlog, CarrierState, Change, Edit, Facets, FeedEntry, FeedHead,
    Group, IngestBatch, IngestReport, JournalCursor, JournalEntry, ListItem, ListQuery, NewOrder,
    NewShipment, OnExisting, OrderDetail, OrderPatch, OrderQuery, OutboxEntry, PollRecord,
    PollTarget, Presence, Register, SavedOrder, SendOutcome, ShipmentRecord, Store,
};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use uuid::Uuid;

/// The migrations, in order: version N is `MIGRATIONS[N - 1]`. One per SQLite migration of
/// core (`crates/core/migrations/`), so both stores have the same versions.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres-core/0001_initial.sql"),
    include_str!("../../migrations/postgres-core/0002_carrier_state.sql"),
    include_str!("../../migrations/postgres-core/0003_eta_problems_notifications.sql"),
    include_str!("../../migrations/postgres-core/0004_orders_feed.sql"),
    include_str!("../../migrations/postgres-core/0005_name_search.sql"),
    include_str!("../../migrations/postgres-core/0006_events_index.sql"),
    include_str!("../../migrations/postgres-core/0007_name_index_pending.sql"),
    include_str!("../../migrations/postgres-core/0008_outbox_by_shipment.sql"),
    include_str!("../../migrations/postgres-core/0009_delivery_facts.sql"),
    include_str!("../../migrations/postgres-core/0010_outbox_event_at.sql"),
];

/// Where a migration names pg_trgm's schema (filled in by [`trigrams`]).
const TRGM_SCHEMA: &str = "TRGM_SCHEMA";

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Advisory lock classes (the first key of the two-key form; the second is the schema's
/// hash). The two-key space does not overlap the one-key space the shop store's own
/// migration lock uses.
const LOCK_MIGRATE: i32 = 0x7074_6d67; // "ptmg"
pub(crate) const LOCK_JOURNAL: i32 = 0x7074_6a6c; // "ptjl"
const LOCK_NUMBERS: i32 = 0x7074_6e6f; // "ptno"

/// How long a claimed poll is another replica's by default ([`PgStore::with_poll_lease`]):
/// enough for a batch's call with its retries (30 s per request, 3 retries with backoff).
pub const POLL_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// How a webhook group's statements are planned: once per connection (a generic plan),
/// not at every execution. Left to choose, PostgreSQL planned them anew each time (a custom
/// plan: 11 % of its time under webhook load), since a generic plan cannot see how short the
/// arrays are and would join the parcels by hashing a scan of them; every statement of a
/// group looks its rows up by key, so scans and hash joins are ruled out for it instead.
/// A poll's ingest (`Store::ingest`) runs the same statements under the same settings: a
/// generic plan is cached per connection and not made again when these settings change, so
/// one made without them would otherwise serve the next group.
const INGEST_PLANS: &str = "SET LOCAL plan_cache_mode TO force_generic_plan; \
     SET LOCAL enable_seqscan TO off; SET LOCAL enable_hashjoin TO off";

/// How the API's hottest reads (an order, a page of orders) are planned: once per
/// connection too. Their statements find their rows by key whatever the values (a page's
/// filters each have an index that yields the orders newest first), so the plan PostgreSQL
/// makes without the values is the one it makes with them; planning each anew was a fifth
/// of its time serving pages. A page limited to a range of dates, or found by free text, is
/// left to PostgreSQL's choice: which index serves it best depends on the range, or on how
/// many orders the text names (a generic plan of the text's union read every order's key
/// to join it: 35 ms where the planned one takes 1).
const READ_PLANS: &str = "SET LOCAL plan_cache_mode TO force_generic_plan";

/// How often a transaction aborted by a deadlock or serialization failure is tried.
const ATTEMPTS: usize = 3;

/// Runs `attempt` (a whole transaction) again when PostgreSQL aborted it as a deadlock or
/// serialization failure, up to [`ATTEMPTS`] times.
/// (`attempt` is a closure returning a future, not an async closure: with one, a caller's
/// task is not provably `Send`.)
async fn retrying<T, F: Future<Output = R<T>>>(attempt: impl Fn() -> F) -> R<T> {
    let mut n = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_retryable() && n < ATTEMPTS => n += 1,
            other => return other,
        }
    }
}

/// The transaction the tracking SQL runs in.
pub(crate) enum Tx<'a> {
    /// tokio-postgres' own: `BEGIN` and `COMMIT` a round trip each.
    Own(deadpool_postgres::Transaction<'a>),
    /// A connection whose caller sends `BEGIN` in the round trip of its first statements
    /// and `COMMIT` in that of its last ([`PgStore::ingest_async`]) or without waiting for
    /// its reply (reads), two round trips fewer.
    Piped(&'a deadpool_postgres::ClientWrapper),
}

impl Tx<'_> {
    pub(crate) async fn prepare_cached(
        &self,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        match self {
            Tx::Own(t) => t.prepare_cached(sql).await,
            Tx::Piped(c) => c.prepare_cached(sql).await,
        }
    }

    pub(crate) async fn execute<T: ?Sized + tokio_postgres::ToStatement + Sync>(
        &self,
        stmt: &T,
        params: &[Param<'_>],
    ) -> Result<u64, tokio_postgres::Error> {
        match self {
            Tx::Own(t) => t.execute(stmt, params).await,
            Tx::Piped(c) => c.execute(stmt, params).await,
        }
    }

    pub(crate) async fn query<T: ?Sized + tokio_postgres::ToStatement + Sync>(
        &self,
        stmt: &T,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        match self {
            Tx::Own(t) => t.query(stmt, params).await,
            Tx::Piped(c) => c.query(stmt, params).await,
        }
    }

    pub(crate) async fn query_one<T: ?Sized + tokio_postgres::ToStatement + Sync>(
        &self,
        stmt: &T,
        params: &[Param<'_>],
    ) -> Result<Row, tokio_postgres::Error> {
        match self {
            Tx::Own(t) => t.query_one(stmt, params).await,
            Tx::Piped(c) => c.query_one(stmt, params).await,
        }
    }

    pub(crate) async fn query_opt<T: ?Sized + tokio_postgres::ToStatement + Sync>(
        &self,
        stmt: &T,
        params: &[Param<'_>],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        match self {
            Tx::Own(t) => t.query_opt(stmt, params).await,
            Tx::Piped(c) => c.query_opt(stmt, params).await,
        }
    }

    pub(crate) async fn batch_execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        match self {
            Tx::Own(t) => t.batch_execute(sql).await,
            Tx::Piped(c) => c.batch_execute(sql).await,
        }
    }

    /// Commit (a piped transaction: send `COMMIT` and wait for it).
    pub(crate) async fn commit(self) -> Result<(), tokio_postgres::Error> {
        match self {
            Tx::Own(t) => t.commit().await,
            Tx::Piped(c) => c.batch_execute("COMMIT").await,
        }
    }
}

/// Something more [`PgStore::ingest_async`] writes in its transaction.
pub(crate) trait AlsoInTx: Sync {
    fn write<'t, 'c>(&'t self, tx: &'t Tx<'c>) -> Also<'t>;
}
type Param<'a> = &'a (dyn ToSql + Sync);
/// What [`PgStore::ingest_async`] also writes in its transaction.
pub(crate) type Also<'t> = std::pin::Pin<
    Box<dyn Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send + 't>,
>;

/// Core's [`Store`] on one shop's PostgreSQL schema (see the module docs).
///
/// The trait is synchronous: each method runs `handle.block_on(…)` on the process's one tokio
/// runtime, which must be a multi-thread runtime (the pool's connections are driven by its
/// workers). Call it from outside async context: a plain thread, or `spawn_blocking` (as
/// the poller and pipeline do); calling it from inside a task would block a worker and tokio
/// refuses that with a panic.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    handle: tokio::runtime::Handle,
    schema: String,
    /// `SET LOCAL search_path TO "<schema>"`, run at the start of every transaction.
    set_path: String,
    /// `BEGIN` and then `set_path`, for a piped transaction ([`Tx::Piped`]).
    begin: String,
    /// `begin` and then [`INGEST_PLANS`], for a webhook group's transaction.
    begin_ingest: String,
    /// `begin` and then [`READ_PLANS`], for the API's hottest reads.
    begin_generic: String,
    /// How long `due` claims what it returns.
    poll_lease: chrono::Duration,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish()
    }
}

/// What went wrong inside, before it becomes core's error at the trait's edge.
#[derive(Debug)]
pub(crate) enum Fail {
    Core(CoreError),
    Pg(tokio_postgres::Error),
    Pool(PoolError),
    /// A stored value this build cannot read.
    Bad(String),
}

impl From<CoreError> for Fail {
    fn from(e: CoreError) -> Self {
        Fail::Core(e)
    }
}
impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Pg(e)
    }
}
impl From<PoolError> for Fail {
    fn from(e: PoolError) -> Self {
        Fail::Pool(e)
    }
}

impl From<Fail> for CoreError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Core(e) => e,
            Fail::Pg(e) => CoreError::Backend(Box::new(e)),
            Fail::Pool(e) => CoreError::Backend(Box::new(e)),
            Fail::Bad(what) => {
                CoreError::Backend(format!("unreadable stored value: {what}").into())
            }
        }
    }
}

impl Fail {
    /// PostgreSQL aborted the transaction to let another through; running it again is safe.
    fn is_retryable(&self) -> bool {
        matches!(self, Fail::Pg(e) if matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
        ))
    }
}

pub(crate) type R<T> = std::result::Result<T, Fail>;

/// Whether `name` may name a shop's schema: `[a-z0-9_]{1,63}`, and none PostgreSQL reserves
/// or the shop store's own tables live in.
fn valid_schema(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.starts_with("pg_")
        && !matches!(name, "public" | "information_schema")
}

impl PgStore {
    /// Open one shop's store in `schema` (e.g. `shop_<uuid simple>`): create the schema if it
    /// is missing and bring its tables up to date, under an advisory lock keyed by the schema,
    /// so replicas opening at once take turns. A schema written by a newer build is refused
    /// untouched. Call from outside async context (see the type's docs).
    pub fn open(
        pool: Pool,
        handle: tokio::runtime::Handle,
        schema: &str,
    ) -> parceltrail_core::Result<PgStore> {
        if !valid_schema(schema) {
            return Err(CoreError::InvalidInput(format!(
                "{schema:?} cannot name a shop's schema: use 1 to 63 of a-z, 0-9 and _, not starting with pg_"
            )));
        }
        let store = PgStore {
            pool,
            handle,
            schema: schema.to_owned(),
            set_path: format!("SET LOCAL search_path TO \"{schema}\""),
            begin: format!("BEGIN; SET LOCAL search_path TO \"{schema}\""),
            begin_ingest: format!("BEGIN; SET LOCAL search_path TO \"{schema}\"; {INGEST_PLANS}"),
            begin_generic: format!("BEGIN; SET LOCAL search_path TO \"{schema}\"; {READ_PLANS}"),
            poll_lease: lease(POLL_LEASE),
        };
        store.handle.block_on(store.migrate())?;
        Ok(store)
    }

    /// [`Store::ingest`], with `also` (another part's writes, such as the webhook message
    /// ids a group of deliveries carried) in the same transaction and the same round trip
    /// as the ingest's last statements: one commit for both. `also` runs again should the
    /// transaction be retried; it must name its tables with their schema (the transaction's
    /// search path is this shop's).
    ///
    /// Async, for a task on the runtime (unlike the trait's methods): no blocking thread
    /// between the connection's replies and the next statement (each hop between threads is
    /// a wait for a core, on a machine the database shares). `also` is a trait object rather
    /// than an async closure: with a closure the caller's task is not provably `Send`.
    pub(crate) async fn ingest_async(
        &self,
        batches: &[IngestBatch],
        now: DateTime<Utc>,
        also: &dyn AlsoInTx,
    ) -> parceltrail_core::Result<IngestReport> {
        retrying(|| async {
            let client = self.pool.get().await?;
            let tx = Tx::Piped(&client);
            let also = async {
                also.write(&tx)
                    .await
                    .map_err(|e| Fail::Core(CoreError::Backend(e)))
            };
            let commit = async { Ok(tx.batch_execute("COMMIT").await?) };
            // `BEGIN` and the search path go out with the first statements, `COMMIT` with
            // the last (the connection runs requests in the order they were first polled).
            // Should a statement fail, PostgreSQL aborts the transaction and its `COMMIT`
            // rolls back; should this fail before sending `COMMIT`, the `ROLLBACK` below
            // ends it. Either way the connection goes back to the pool with none open.
            let (begun, out) = tokio::join!(
                tx.batch_execute(&self.begin_ingest),
                shipments::ingest(&tx, &self.schema, batches, now, also, commit)
            );
            let out = begun.map_err(Fail::from).and(out);
            if out.is_err() {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            out
        })
        .await
        .map_err(Into::into)
    }

    /// [`Store::save_derived`] in one piped transaction (see [`derived::save_derived`]).
    fn save_derived_piped(
        &self,
        rows: &[Assessment],
        now: DateTime<Utc>,
        skip_locked: bool,
    ) -> parceltrail_core::Result<(Vec<Change>, Vec<ShipmentId>)> {
        if rows.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        self.handle
            .block_on(retrying(|| async {
                let client = self.pool.get().await?;
                let tx = Tx::Piped(&client);
                let commit = async { Ok(tx.batch_execute("COMMIT").await?) };
                // As a webhook group's: `BEGIN` with the first statements, `COMMIT` with the
                // last, a `ROLLBACK` should this fail before sending it.
                let (begun, out) = tokio::join!(
                    tx.batch_execute(&self.begin_ingest),
                    derived::save_derived(&tx, &self.schema, rows, now, skip_locked, commit)
                );
                let out = begun.map_err(Fail::from).and(out);
                if out.is_err() {
                    let _ = client.batch_execute("ROLLBACK").await;
                }
                out
            }))
            .map_err(Into::into)
    }

    /// The schema this store lives in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// This store's [`Store::due`] claims what it returns for `lease` (see the module docs):
    /// longer than a poll of one batch takes, retries included, so the claim outlives it.
    pub fn with_poll_lease(mut self, lease: std::time::Duration) -> PgStore {
        self.poll_lease = self::lease(lease);
        self
    }

    /// The schema's version (0 before the first migration).
    pub fn schema_version(&self) -> parceltrail_core::Result<i64> {
        self.read(async |tx| {
            Ok(one(tx, "SELECT max(version) FROM schema_version", &[])
                .await?
                .try_get::<_, Option<i64>>(0)?
                .unwrap_or(0))
        })
    }

    async fn migrate(&self) -> R<()> {
        let mut client = self.pool.get().await?;
        let tx = Tx::Own(client.transaction().await?);
        // Creating the schema races too, so the lock comes first.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&LOCK_MIGRATE, &self.schema],
        )
        .await?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{0}\"; {1};
             CREATE TABLE IF NOT EXISTS schema_version (version bigint NOT NULL)",
            self.schema, self.set_path
        ))
        .await?;
        let from: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0)::bigint FROM schema_version",
                &[],
            )
            .await?
            .try_get(0)?;
        if from > SCHEMA_VERSION {
            return Err(CoreError::NewerSchema {
                path: PathBuf::from(format!("schema {}", self.schema)),
                found: from as usize,
                known: SCHEMA_VERSION as usize,
            }
            .into());
        }
        for sql in &MIGRATIONS[from as usize..] {
            if sql.contains(TRGM_SCHEMA) {
                let schema = trigrams(&tx).await?;
                tx.batch_execute(&sql.replace(TRGM_SCHEMA, &schema.replace('"', "\"\"")))
                    .await?;
            } else {
                tx.batch_execute(sql).await?;
            }
        }
        if from < SCHEMA_VERSION {
            tx.execute("DELETE FROM schema_version", &[]).await?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Run `f` in `tx` on this shop's schema. The `SET LOCAL` goes out in the same round trip
    /// as `f`'s first statement: the two futures are polled together, the `SET` first, and
    /// the connection runs requests in the order they were first polled, so `f`'s first
    /// statement is parsed under the shop's search path. (A round trip a transaction is a
    /// fifth of a one-statement read's.)
    async fn on_schema<T>(&self, tx: &Tx<'_>, f: impl AsyncFnOnce(&Tx<'_>) -> R<T>) -> R<T> {
        let (set, out) = tokio::join!(tx.batch_execute(&self.set_path), f(tx));
        set?;
        out
    }

    /// Run `f` (which only reads) in one transaction on this shop's schema, piped: `BEGIN`
    /// and the search path go out with `f`'s first statement, and the `COMMIT` is sent
    /// without waiting for its reply ([`end_read`]). So a read is its statements' round
    /// trips only, two fewer.
    fn read<T>(&self, f: impl AsyncFnOnce(&Tx<'_>) -> R<T>) -> parceltrail_core::Result<T> {
        self.handle
            .block_on(async {
                let client = self.pool.get().await?;
                let tx = Tx::Piped(&client);
                let (begun, out) = tokio::join!(tx.batch_execute(&self.begin), f(&tx));
                let out = begun.map_err(Fail::from).and(out);
                end_read(&client, out.is_ok());
                out
            })
            .map_err(Into::into)
    }

    /// Like [`read`](Self::read), run again when PostgreSQL aborts it as a deadlock or
    /// serialization failure (`f` must only build its answer from the transaction).
    fn write<T>(&self, f: impl AsyncFn(&Tx<'_>) -> R<T>) -> parceltrail_core::Result<T> {
        self.handle
            .block_on(retrying(|| async {
                let mut client = self.pool.get().await?;
                let tx = Tx::Own(client.transaction().await?);
                let out = self.on_schema(&tx, &f).await?;
                tx.commit().await?;
                Ok(out)
            }))
            .map_err(Into::into)
    }

    /// Take the numbers lock (see the module docs); held until the transaction ends.
    pub(crate) async fn numbers_lock(tx: &Tx<'_>, schema: &str) -> R<()> {
        exec(
            tx,
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&LOCK_NUMBERS, &schema],
        )
        .await?;
        Ok(())
    }

    pub(crate) const JOURNAL_LOCK: &str = "SELECT pg_advisory_xact_lock($1, hashtext($2))";

    /// Take the journal lock (see the module docs); held until the transaction ends.
    pub(crate) async fn journal_lock(tx: &Tx<'_>, schema: &str) -> R<()> {
        exec(tx, Self::JOURNAL_LOCK, &[&LOCK_JOURNAL, &schema]).await?;
        Ok(())
    }
}

/// The schema pg_trgm lives in, installed (in `public`) if the database does not have it:
/// once for all shops, under a lock of its own, since shops migrate side by side. pg_trgm
/// ships with PostgreSQL (Debian's server package has it) and is a trusted extension, which
/// the database's owner may install.
async fn trigrams(tx: &Tx<'_>) -> R<String> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext('pg_trgm'))",
        &[&LOCK_MIGRATE],
    )
    .await?;
    tx.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        .await?;
    let row = tx
        .query_one(
            "SELECT n.nspname::text FROM pg_extension e
             JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'",
            &[],
        )
        .await?;
    Ok(row.try_get(0)?)
}

// Small query helpers: every statement is prepared once per connection.

pub(crate) async fn rows(tx: &Tx<'_>, sql: &str, params: &[Param<'_>]) -> R<Vec<Row>> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.query(&stmt, params).await?)
}

pub(crate) async fn opt(tx: &Tx<'_>, sql: &str, params: &[Param<'_>]) -> R<Option<Row>> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&stmt, params).await?)
}

pub(crate) async fn one(tx: &Tx<'_>, sql: &str, params: &[Param<'_>]) -> R<Row> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&stmt, params).await?)
}

pub(crate) async fn exec(tx: &Tx<'_>, sql: &str, params: &[Param<'_>]) -> R<u64> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&stmt, params).await?)
}

/// Stream a query's rows as they arrive, so a big answer is never all in memory: the
/// connection hands over one batch of messages at a time and reads on only when it is
/// taken.
pub(crate) async fn each_row(
    tx: &Tx<'_>,
    sql: &str,
    params: &[Param<'_>],
    mut f: impl FnMut(&Row) -> R<()>,
) -> R<()> {
    let stmt = tx.prepare_cached(sql).await?;
    let rows = match tx {
        Tx::Own(t) => t.query_raw(&stmt, params.iter().copied()).await?,
        Tx::Piped(c) => c.query_raw(&stmt, params.iter().copied()).await?,
    };
    let mut rows = std::pin::pin!(rows);
    while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
        f(&r)?;
    }
    Ok(())
}

/// One column, its failure a [`Fail`].
pub(crate) fn get<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> R<T> {
    Ok(r.try_get(i)?)
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn utc(ms: i64) -> R<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| Fail::Bad(format!("timestamp {ms}")))
}

pub(crate) fn fixed(ms: i64, offset: i32) -> R<DateTime<FixedOffset>> {
    let off =
        FixedOffset::east_opt(offset).ok_or_else(|| Fail::Bad(format!("UTC offset {offset}")))?;
    Ok(utc(ms)?.with_timezone(&off))
}

pub(crate) fn opt_fixed(ms: Option<i64>, offset: Option<i32>) -> R<Option<DateTime<FixedOffset>>> {
    ms.map(|m| fixed(m, offset.unwrap_or(0))).transpose()
}

pub(crate) fn opt_utc(ms: Option<i64>) -> R<Option<DateTime<Utc>>> {
    ms.map(utc).transpose()
}

pub(crate) fn status(s: &str) -> R<Status> {
    s.parse()
        .map_err(|e: parceltrail_core::domain::UnknownStatus| Fail::Bad(e.to_string()))
}

/// A stored name parsed with its own `FromStr`.
pub(crate) fn parse<T: std::str::FromStr>(s: &str) -> R<T>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e: T::Err| Fail::Bad(format!("{s:?}: {e}")))
}

/// A stored count that must fit the domain's type.
pub(crate) fn count<T: TryFrom<i64>>(v: i64) -> R<T> {
    T::try_from(v).map_err(|_| Fail::Bad(format!("count {v}")))
}

/// A lease as chrono's duration (a longer one than chrono holds is as good as forever).
fn lease(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn group_of(i: i32) -> Group {
    Group::ALL[i.clamp(0, 4) as usize]
}

impl Store for PgStore {
    fn add_shipment(
        &mut self,
        new: &NewShipment,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<Added> {
        Ok(self
            .add_shipments(std::slice::from_ref(new), now)?
            .remove(0))
    }

    fn add_shipments(
        &mut self,
        new: &[NewShipment],
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<Vec<Added>> {
        self.write(async |tx| shipments::add_shipments(tx, &self.schema, new, now).await)
    }

    fn ingest(
        &mut self,
        batches: &[IngestBatch],
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<IngestReport> {
        // Planned as a webhook group's (see [`INGEST_PLANS`]): the same statements, cached
        // per connection, so a plan made here is the one a group on this connection reuses.
        self.write(async |tx| {
            let (plans, out) = tokio::join!(
                tx.batch_execute(INGEST_PLANS),
                shipments::ingest(tx, &self.schema, batches, now, async { Ok(()) }, async {
                    Ok(())
                })
            );
            plans?;
            out
        })
    }

    fn edit(
        &mut self,
        id: ShipmentId,
        edit: Edit,
        at: DateTime<Utc>,
    ) -> parceltrail_core::Result<bool> {
        self.write(async |tx| shipments::edit(tx, &self.schema, id, &edit, at).await)
    }

    fn remove(&mut self, id: ShipmentId, at: DateTime<Utc>) -> parceltrail_core::Result<()> {
        self.write(async |tx| shipments::remove(tx, &self.schema, id, at).await)
    }

    fn presence(&self, id: ShipmentId) -> parceltrail_core::Result<Option<Presence>> {
        self.read(async |tx| shipments::presence(tx, "id = $1", &[&id.0]).await)
    }

    fn presence_of_number(&self, number: &str) -> parceltrail_core::Result<Option<Presence>> {
        let number = number.to_owned();
        self.read(async |tx| shipments::presence(tx, "tracking_number = $1", &[&number]).await)
    }

    fn restamp(
        &mut self,
        id: ShipmentId,
        register: Register,
        at: DateTime<Utc>,
    ) -> parceltrail_core::Result<bool> {
        self.write(async |tx| shipments::restamp(tx, &self.schema, id, register, at).await)
    }

    fn presences(
        &self,
        after: Option<ShipmentId>,
        limit: usize,
    ) -> parceltrail_core::Result<Vec<Presence>> {
        self.read(async |tx| shipments::presences(tx, after, limit).await)
    }

    fn shipment(&self, id: ShipmentId) -> parceltrail_core::Result<Shipment> {
        self.read(async |tx| shipments::shipment(tx, id).await)
    }

    fn find(&self, key: &str) -> parceltrail_core::Result<Shipment> {
        self.read(async |tx| shipments::find(tx, key).await)
    }

    fn order(&self, id: OrderId) -> parceltrail_core::Result<Order> {
        self.read(async |tx| shipments::order(tx, id).await)
    }

    fn shipments_with_store(
        &self,
        ids: &[ShipmentId],
    ) -> parceltrail_core::Result<Vec<(Shipment, Option<String>)>> {
        self.read(async |tx| shipments::with_store(tx, ids).await)
    }

    fn timeline(&self, id: ShipmentId) -> parceltrail_core::Result<Vec<TrackingEvent>> {
        self.read(async |tx| shipments::timeline(tx, id).await)
    }

    fn status_log(&self, id: ShipmentId) -> parceltrail_core::Result<Vec<StatusChange>> {
        self.read(async |tx| shipments::status_log(tx, id).await)
    }

    fn list(
        &self,
        query: &ListQuery,
        each: &mut dyn FnMut(ListItem) -> parceltrail_core::Result<()>,
    ) -> parceltrail_core::Result<()> {
        self.read(async |tx| shipments::list(tx, query, each).await)
    }

    fn group(&self, id: ShipmentId, query: &ListQuery) -> parceltrail_core::Result<Group> {
        self.read(async |tx| shipments::group(tx, id, query).await)
    }

    fn for_each_record(
        &self,
        each: &mut dyn FnMut(ShipmentRecord) -> parceltrail_core::Result<()>,
    ) -> parceltrail_core::Result<()> {
        self.read(async |tx| shipments::for_each_record(tx, each).await)
    }

    fn count(&self) -> parceltrail_core::Result<u64> {
        self.read(async |tx| {
            let n: i64 = get(
                &one(tx, "SELECT count(*) FROM shipments WHERE NOT deleted", &[]).await?,
                0,
            )?;
            count(n)
        })
    }

    fn facets(&self) -> parceltrail_core::Result<Facets> {
        self.read(async |tx| shipments::facets(tx).await)
    }

    fn due(&self, now: DateTime<Utc>, limit: usize) -> parceltrail_core::Result<Vec<PollTarget>> {
        let until = now
            .checked_add_signed(self.poll_lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.write(async |tx| shipments::claim_due(tx, now, until, limit).await)
    }

    fn next_due(&self) -> parceltrail_core::Result<Option<DateTime<Utc>>> {
        self.read(async |tx| shipments::next_due(tx).await)
    }

    fn record_polls(
        &mut self,
        records: &[(ShipmentId, PollRecord)],
    ) -> parceltrail_core::Result<()> {
        self.write(async |tx| shipments::record_polls(tx, records).await)
    }

    fn poll_now(
        &mut self,
        id: Option<ShipmentId>,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<usize> {
        self.write(async |tx| shipments::poll_now(tx, id, now).await)
    }

    fn expire_stale(
        &mut self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<Vec<Change>> {
        self.write(async |tx| shipments::expire_stale(tx, &self.schema, cutoff, now).await)
    }

    fn archive_delivered(
        &mut self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<Vec<Change>> {
        self.write(async |tx| shipments::archive_delivered(tx, &self.schema, cutoff, now).await)
    }

    fn carrier_states(&self) -> parceltrail_core::Result<Vec<CarrierState>> {
        self.read(async |tx| shipments::carrier_states(tx).await)
    }

    fn save_carrier_state(
        &mut self,
        state: &CarrierState,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<()> {
        self.write(async |tx| shipments::save_carrier_state(tx, state, now).await)
    }

    fn deliveries(
        &self,
        each: &mut dyn FnMut(Delivery) -> parceltrail_core::Result<()>,
    ) -> parceltrail_core::Result<()> {
        self.read(async |tx| derived::deliveries(tx, each).await)
    }

    fn notification_latency(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> parceltrail_core::Result<Vec<parceltrail_core::store::report::ChannelLatency>> {
        self.read(async |tx| derived::notification_latency(tx, from, to).await)
    }

    fn orders_placed(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> parceltrail_core::Result<u64> {
        use parceltrail_core::store::report::{Dialect, placed_sql};
        self.read(async |tx| {
            let r = one(tx, placed_sql(Dialect::Postgres), &[&ms(from), &ms(to)]).await?;
            Ok(get::<i64>(&r, 0)?.max(0) as u64)
        })
    }

    fn problem_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> parceltrail_core::Result<Vec<parceltrail_core::store::report::ProblemCount>> {
        self.read(async |tx| derived::problem_counts(tx, from, to).await)
    }

    fn delivery_report(
        &self,
        span: &parceltrail_core::store::report::ReportSpan,
        by: parceltrail_core::store::report::ReportBy,
    ) -> parceltrail_core::Result<Vec<parceltrail_core::store::report::DeliveryGroup>> {
        self.read(async |tx| derived::delivery_report(tx, span, by).await)
    }

    fn order_lead_times(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> parceltrail_core::Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
        self.read(async |tx| derived::order_lead_times(tx, since, limit).await)
    }

    fn active(
        &self,
        ids: Option<&[ShipmentId]>,
        each: &mut dyn FnMut(Active) -> parceltrail_core::Result<()>,
    ) -> parceltrail_core::Result<()> {
        self.read(async |tx| derived::active(tx, ids, each).await)
    }

    fn save_derived(
        &mut self,
        rows: &[Assessment],
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<Vec<Change>> {
        // Rows a webhook group holds are skipped at first, so the derivation never queues
        // behind webhooks (nor holds the rows a burst of them waits for); they are saved
        // after, in a second transaction that waits for them.
        let (mut changes, skipped) = self.save_derived_piped(rows, now, true)?;
        if !skipped.is_empty() {
            let rest: Vec<Assessment> = rows
                .iter()
                .filter(|d| skipped.contains(&d.id))
                .cloned()
                .collect();
            changes.extend(self.save_derived_piped(&rest, now, false)?.0);
        }
        Ok(changes)
    }

    fn open_problems(&self, id: Option<ShipmentId>) -> parceltrail_core::Result<Vec<OpenProblem>> {
        self.read(async |tx| derived::open_problems(tx, id).await)
    }

    fn journal_cursor(&self) -> parceltrail_core::Result<JournalCursor> {
        self.read(async |tx| derived::journal_cursor(tx, false).await)
    }

    fn journal(
        &self,
        after: JournalCursor,
        limit: usize,
    ) -> parceltrail_core::Result<(Vec<JournalEntry>, JournalCursor)> {
        self.read(async |tx| derived::journal(tx, after, limit).await)
    }

    fn notified(&self, keys: &[Uuid]) -> parceltrail_core::Result<Vec<Uuid>> {
        self.read(async |tx| derived::notified(tx, keys).await)
    }

    fn record_notifications(
        &mut self,
        from: JournalCursor,
        to: JournalCursor,
        news: &[Uuid],
        drafts: &[Draft],
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<bool> {
        self.write(async |tx| derived::record_notifications(tx, from, to, news, drafts, now).await)
    }

    fn queue_notifications(
        &mut self,
        drafts: &[Draft],
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<()> {
        self.write(async |tx| derived::queue_notifications(tx, drafts, now).await)
    }

    fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> parceltrail_core::Result<Vec<OutboxEntry>> {
        self.read(async |tx| derived::due_notifications(tx, now, limit).await)
    }

    fn shipment_notifications(
        &self,
        ids: &[ShipmentId],
        limit: usize,
    ) -> parceltrail_core::Result<Vec<OutboxEntry>> {
        self.read(async |tx| derived::shipment_notifications(tx, ids, limit).await)
    }

    fn next_notification_due(&self) -> parceltrail_core::Result<Option<DateTime<Utc>>> {
        self.read(async |tx| derived::next_notification_due(tx).await)
    }

    fn claim_notification(
        &mut self,
        id: Uuid,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<bool> {
        self.write(async |tx| derived::claim_notification(tx, id, lease_until, now).await)
    }

    fn mark_notification(
        &mut self,
        id: Uuid,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<()> {
        self.write(async |tx| derived::mark_notification(tx, id, outcome, now).await)
    }

    fn held_notifications(&self) -> parceltrail_core::Result<Vec<OutboxEntry>> {
        self.read(async |tx| derived::held_notifications(tx).await)
    }

    fn release_held(
        &mut self,
        held: &[Uuid],
        summary: Option<&Draft>,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<()> {
        self.write(async |tx| derived::release_held(tx, held, summary, now).await)
    }

    fn notifications(&self, limit: usize) -> parceltrail_core::Result<Vec<OutboxEntry>> {
        self.read(async |tx| derived::notifications(tx, limit).await)
    }

    fn setting(&self, key: &str) -> parceltrail_core::Result<Option<String>> {
        self.read(async |tx| derived::setting(tx, key).await)
    }

    fn set_setting(
        &mut self,
        key: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> parceltrail_core::Result<bool> {
        self.write(async |tx| derived::set_setting(tx, key, value, at).await)
    }

    fn save_order(
        &mut self,
        new: &NewOrder,
        on_existing: OnExisting,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<SavedOrder> {
        self.write(async |tx| orders::save_order(tx, &self.schema, new, on_existing, now).await)
    }

    fn save_orders(
        &mut self,
        orders: &[NewOrder],
        on_existing: OnExisting,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<Vec<parceltrail_core::Result<SavedOrder>>> {
        self.write(async |tx| orders::save_orders(tx, &self.schema, orders, on_existing, now).await)
    }

    fn update_order(
        &mut self,
        id: OrderId,
        patch: &OrderPatch,
        now: DateTime<Utc>,
    ) -> parceltrail_core::Result<Order> {
        self.write(async |tx| orders::update_order(tx, &self.schema, id, patch, now).await)
    }

    fn set_order_stage(
        &mut self,
        id: OrderId,
        stage: OrderStage,
        actor: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> parceltrail_core::Result<Order> {
        self.write(async |tx| {
            orders::set_order_stage(tx, &self.schema, id, stage, actor, note, at).await
        })
    }

    fn order_stages(&self, id: OrderId) -> parceltrail_core::Result<Vec<StageChange>> {
        self.read(async |tx| orders::order_stages(tx, id).await)
    }

    fn remove_order(&mut self, id: OrderId, at: DateTime<Utc>) -> parceltrail_core::Result<()> {
        self.write(async |tx| orders::remove_order(tx, &self.schema, id, at).await)
    }

    fn order_shipments(&self, id: OrderId) -> parceltrail_core::Result<Vec<Shipment>> {
        self.read(async |tx| orders::order_shipments(tx, id).await)
    }

    fn shipments_of_orders(&self, ids: &[OrderId]) -> parceltrail_core::Result<Vec<Shipment>> {
        self.read(async |tx| orders::shipments_of_orders(tx, ids).await)
    }

    fn orders(&self, q: &OrderQuery) -> parceltrail_core::Result<Vec<Order>> {
        self.read(async |tx| orders::orders(tx, q).await)
    }

    fn order_page(&self, q: &OrderQuery) -> parceltrail_core::Result<(Vec<Order>, Vec<Shipment>)> {
        self.read(async |tx| order_page(tx, q).await)
    }

    fn order_detail(&self, id: OrderId) -> parceltrail_core::Result<OrderDetail> {
        self.read(async |tx| order_detail(tx, id).await)
    }

    fn feed(&self, after: i64, limit: usize) -> parceltrail_core::Result<Vec<FeedEntry>> {
        self.read(async |tx| orders::feed(tx, after, limit).await)
    }

    fn feed_heads(&self, after: i64, limit: usize) -> parceltrail_core::Result<Vec<FeedHead>> {
        self.read(async |tx| orders::feed_heads(tx, after, limit).await)
    }

    fn feed_head(&self) -> parceltrail_core::Result<i64> {
        self.read(async |tx| orders::feed_head(tx).await)
    }

    fn prune_feed(&mut self, before: DateTime<Utc>) -> parceltrail_core::Result<usize> {
        self.write(async |tx| orders::prune_feed(tx, before).await)
    }

    fn backlog(&self, now: DateTime<Utc>) -> parceltrail_core::Result<Backlog> {
        self.read(async |tx| shipments::backlog(tx, now).await)
    }
}

/// A page of orders and their parcels: two round trips (the parcels' query needs the page).
async fn order_page(tx: &Tx<'_>, q: &OrderQuery) -> R<(Vec<Order>, Vec<Shipment>)> {
    let page = orders::orders(tx, q).await?;
    let ids: Vec<OrderId> = page.iter().map(|o| o.id).collect();
    let shipments = orders::shipments_of_orders(tx, &ids).await?;
    Ok((page, shipments))
}

/// An order's page: its four statements pipelined, one round trip (an unknown or removed
/// order is the first one's NotFound; the others then find nothing).
async fn order_detail(tx: &Tx<'_>, id: OrderId) -> R<OrderDetail> {
    let ids = [id];
    let (order, shipments, stages, mut events) = tokio::try_join!(
        shipments::order(tx, id),
        orders::shipments_of_orders(tx, &ids),
        orders::stages_of(tx, id),
        shipments::timelines_of_order(tx, id),
    )?;
    let timelines = shipments
        .iter()
        .map(|s| events.remove(&s.id).unwrap_or_default())
        .collect();
    Ok(OrderDetail {
        order,
        shipments,
        timelines,
        stages,
    })
}

/// The API's two hottest reads, async for a task on the runtime (as
/// [`PgStore::ingest_async`] is): no blocking thread between the connection's replies.
impl PgStore {
    /// [`Store::order_detail`].
    pub async fn order_detail_async(&self, id: OrderId) -> parceltrail_core::Result<OrderDetail> {
        self.read_async(&self.begin_generic, |tx| Box::pin(order_detail(tx, id)))
            .await
    }

    /// [`Store::order_page`].
    pub async fn order_page_async(
        &self,
        q: OrderQuery,
    ) -> parceltrail_core::Result<(Vec<Order>, Vec<Shipment>)> {
        let chosen = q.placed_from.is_some()
            || q.placed_to.is_some()
            || parceltrail_core::store::orders::Search::of(&q)
                .text
                .is_some();
        let begin = if chosen {
            &self.begin
        } else {
            &self.begin_generic
        };
        self.read_async(begin, move |tx| {
            Box::pin(async move { order_page(tx, &q).await })
        })
        .await
    }

    /// [`read`](Self::read) without the blocking thread, its transaction opened by `begin`
    /// (one of `self`'s). `f` returns a boxed, `Send` future (an async closure's would not
    /// be provably `Send` to the caller's task).
    async fn read_async<T>(
        &self,
        begin: &str,
        f: impl for<'t> FnOnce(&'t Tx<'t>) -> futures_util::future::BoxFuture<'t, R<T>>,
    ) -> parceltrail_core::Result<T> {
        let client = self.pool.get().await.map_err(Fail::from)?;
        let tx = Tx::Piped(&client);
        let (begun, out) = tokio::join!(tx.batch_execute(begin), f(&tx));
        let out = begun.map_err(Fail::from).and(out);
        end_read(&client, out.is_ok());
        out.map_err(Into::into)
    }
}

/// Ends a piped read: its `COMMIT` (or `ROLLBACK`) is sent without waiting for the reply (a
/// read-only transaction has nothing to make durable; whoever takes the connection next is
/// served after it, and the reply is dropped).
fn end_read(client: &deadpool_postgres::ClientWrapper, ok: bool) {
    let end = if ok { "COMMIT" } else { "ROLLBACK" };
    // Polled once, the request is sent; the future is then dropped.
    let _ = futures_util::FutureExt::now_or_never(client.batch_execute(end));
}
