//! The SQLite implementation of [`Store`]: the local app's and CLI's database.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use uuid::Uuid;

mod orders;
mod tracking;

use super::{
    Active, Added, Assessment, Backlog, Breaker, CarrierState, Change, Edit, Facets, FeedEntry,
    FeedHead, Group, IngestBatch, IngestReport, JournalCursor, JournalEntry, ListItem, ListQuery,
    NewOrder, NewShipment, OnExisting, OrderPatch, OrderQuery, OutboxEntry, OutboxState,
    PollRecord, PollTarget, Presence, Register, SavedOrder, SendOutcome, ShipmentRecord, Store,
    change_kind, clean_event, clean_opt, clean_place, clean_text,
};
use crate::domain::{
    CarrierEta, Customer, Order, OrderId, Place, Shipment, ShipmentId, Source, StageChange, Status,
    StatusChange, TrackingEvent,
};
use crate::error::{Error, Result};
use crate::eta::{Delivery, Estimate, EtaSource};
use crate::notify::rules::{Draft, KindSet};
use crate::problems::{OpenProblem, ProblemKind};

/// Numbered, embedded migrations, applied in order; `user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_carrier_state.sql"),
    include_str!("../../migrations/0003_eta_problems_notifications.sql"),
    include_str!("../../migrations/0004_orders_feed.sql"),
    include_str!("../../migrations/0005_name_search.sql"),
    include_str!("../../migrations/0006_events_index.sql"),
    include_str!("../../migrations/0007_name_index_pending.sql"),
    include_str!("../../migrations/0008_outbox_by_shipment.sql"),
    include_str!("../../migrations/0009_delivery_facts.sql"),
    include_str!("../../migrations/0010_outbox_event_at.sql"),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// The most the write-ahead log keeps on disk after a checkpoint (bytes).
const WAL_SIZE_LIMIT: i64 = 4 << 20;

/// How long an open or a write waits for another process's lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A local SQLite database.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    read_only: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl SqliteStore {
    /// A saved order as stored, read back after its commit.
    fn saved_order(
        &self,
        id: OrderId,
        created: bool,
        added: Vec<(ShipmentId, bool, usize)>,
    ) -> Result<SavedOrder> {
        let mut shipments = Vec::with_capacity(added.len());
        for (sid, created, events_added) in added {
            shipments.push(Added {
                shipment: self.shipment(sid)?,
                created,
                events_added,
            });
        }
        Ok(SavedOrder {
            order: self.order(id)?,
            created,
            shipments,
        })
    }

    /// Open (creating if needed) the database file and bring its schema up to date.
    ///
    /// The directory holding it is private to the user (0700 on Unix) and the database and
    /// its `-wal`/`-shm` files are 0600; wider permissions found on an existing directory or
    /// file are narrowed. When the database cannot be written (a read-only copy or medium),
    /// it is opened read-only if its schema is current, so it can still be listed and
    /// exported.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private::dir(dir).map_err(|source| Error::Io {
                context: format!("cannot create the data directory {}", dir.display()),
                source,
            })?;
        }
        let existed = path.exists();
        let writable = private::database(&path).map_err(|source| Error::Io {
            context: format!("cannot create the database {}", path.display()),
            source,
        });
        let opened = writable.and_then(|()| {
            let conn = Connection::open(&path).map_err(|e| classify(e, &path))?;
            Self::init(conn, path.clone())
        });
        match opened {
            Err(e) if existed && is_read_only(&e) => Self::open_read_only(path),
            other => other,
        }
    }

    /// Open an existing database for reading only: nothing is written, not even a schema
    /// upgrade (a database that needs one is refused with [`Error::ReadOnly`]).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        use rusqlite::OpenFlags;
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let read = |target: &str| -> rusqlite::Result<(Connection, usize)> {
            let conn = Connection::open_with_flags(target, flags)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            let version = user_version(&conn)?;
            Ok((conn, version))
        };
        let (conn, found) = read(&file_uri(&path, false))
            .or_else(|e| {
                // A WAL database whose -shm file neither exists nor can be created (a read-only
                // directory or medium, where a clean close left no log): read the file as it is.
                match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
                        if path.exists() =>
                    {
                        read(&file_uri(&path, true))
                    }
                    _ => Err(e),
                }
            })
            .map_err(|e| classify(e, &path))?;
        if found > SCHEMA_VERSION {
            return Err(Error::NewerSchema {
                path,
                found,
                known: SCHEMA_VERSION,
            });
        }
        if found < SCHEMA_VERSION {
            return Err(Error::ReadOnly {
                path,
                found,
                known: SCHEMA_VERSION,
            });
        }
        conn.pragma_update(None, "query_only", "ON")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            conn,
            path,
            read_only: true,
        })
    }

    /// A private in-memory database (tests, benchmarks).
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn init(mut conn: Connection, path: PathBuf) -> Result<Self> {
        // First, so that switching to WAL and migrating wait for another process opening the
        // same database instead of failing.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Pragmas live outside migrations: they are per connection.
        // WAL lets readers (the UI) run beside the writer (the poller); synchronous=FULL makes
        // every acknowledged commit survive a power cut, not only a crash.
        wal(&conn).map_err(|e| classify(e, &path))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Checkpoints reuse the log from its start but never shrink the file: after a big
        // import it would stay that size, and every start after a crash reads all of it.
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&mut conn, &path)?;
        Ok(Self {
            conn,
            path,
            read_only: false,
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f`'s reads in one read transaction, so they see one state of the database even
    /// while another connection commits beside them (WAL). Nothing is written: the
    /// transaction ends by rolling back.
    pub fn snapshot<T>(&self, f: impl FnOnce(&Self) -> Result<T>) -> Result<T> {
        let tx = self.conn.unchecked_transaction()?;
        let out = f(self);
        drop(tx);
        out
    }

    /// Whether it was opened read-only (see [`SqliteStore::open`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// SQLite's own consistency check; `Ok(())` when it says "ok".
    pub fn integrity_check(&self) -> Result<()> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(Error::Corrupt {
                path: self.path.clone(),
                detail: verdict,
            })
        }
    }

    fn load_shipment(&self, id: ShipmentId) -> Result<Option<Shipment>> {
        let sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE id = ?1 AND deleted = 0");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.0], shipment_from_row)
            .optional()?)
    }

    fn find_ids(&self, sql: &str, arg: &str) -> Result<Vec<(ShipmentId, String)>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([arg], |r| Ok((ShipmentId(r.get(0)?), r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Switch to WAL. Two connections switching at once can deadlock on the lock it needs, and
/// SQLite then answers "busy" to one of them at once rather than wait; it waits here instead
/// (the other's switch soon makes this one a no-op).
fn wal(conn: &Connection) -> rusqlite::Result<()> {
    let since = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && since.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<usize> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    // A negative version is nothing we wrote; treat it as newer than anything we know.
    Ok(usize::try_from(v).unwrap_or(usize::MAX))
}

/// Bring the schema up to date. Several processes may open a new database at once (the app
/// starting at login beside a command): the write lock is taken before the version is read
/// again, so exactly one of them migrates and the others find the work done.
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let newer = |found| Error::NewerSchema {
        path: path.to_path_buf(),
        found,
        known: SCHEMA_VERSION,
    };
    let found = user_version(conn).map_err(|e| classify(e, path))?;
    if found > SCHEMA_VERSION {
        return Err(newer(found));
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| classify(e, path))?;
    let found = user_version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(newer(found));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found) {
        tx.execute_batch(sql).map_err(|e| {
            if is_read_only_code(&e) {
                return Error::Database(e);
            }
            // SQLite's own words are short ("table orders already exists"); the SQL it
            // quotes after them ("… in CREATE TABLE …") is not for the person reading.
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            let detail = match first.find(" in ") {
                Some(at) if sql.contains(&first[at + 4..]) => &first[..at],
                _ => first,
            };
            let detail = detail.chars().take(200).collect();
            Error::Migration {
                path: path.to_path_buf(),
                found,
                step: i + 1,
                detail,
            }
        })?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION as i64)?;
    tx.commit()?;
    Ok(())
}

fn is_read_only_code(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{CannotOpen, PermissionDenied, ReadOnly};
    matches!(
        e.sqlite_error_code(),
        Some(ReadOnly | CannotOpen | PermissionDenied)
    )
}

/// Whether opening for writing failed because the database or its directory cannot be
/// written, so that a read-only open may still work.
fn is_read_only(e: &Error) -> bool {
    match e {
        Error::Database(e) => is_read_only_code(e),
        Error::Io { source, .. } => matches!(
            source.kind(),
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
        ),
        _ => false,
    }
}

/// An SQLite `file:` URI for a path (`immutable=1` reads the file without locks or a log).
fn file_uri(path: &Path, immutable: bool) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '?' | '#' | '%' => uri.push_str(&format!("%{:02X}", c as u8)),
            c => uri.push(c),
        }
    }
    if immutable {
        uri.push_str("?immutable=1");
    }
    uri
}

/// Private files on Unix: the data directory 0700, the database and its companions 0600.
/// Permissions are only ever narrowed; where they cannot be changed (a read-only medium,
/// someone else's file) they are left as found.
#[cfg(unix)]
mod private {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    use std::path::Path;

    fn narrow(path: &Path, private: u32) {
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & !private != 0 {
                let _ =
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & private));
            }
        }
    }

    pub fn dir(dir: &Path) -> std::io::Result<()> {
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        // A shared directory (sticky, as /tmp) holding a database someone put there is not
        // the store's to close: narrowing it would lock every other user out.
        let shared = std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o1000 != 0);
        if !shared {
            narrow(dir, 0o700);
        }
        Ok(())
    }

    /// Create the database file 0600 before SQLite does (its `-wal` and `-shm` files take
    /// the database's permissions), or narrow an existing one and its companions.
    pub fn database(path: &Path) -> std::io::Result<()> {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            narrow(Path::new(&p), 0o600);
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod private {
    use std::path::Path;

    pub fn dir(dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    pub fn database(_path: &Path) -> std::io::Result<()> {
        Ok(())
    }
}

/// Map SQLite's "this is not a database" family to [`Error::Corrupt`].
fn classify(e: rusqlite::Error, path: &Path) -> Error {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e.sqlite_error_code() {
        Some(DatabaseCorrupt | NotADatabase) => Error::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        _ => Error::Database(e),
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored value we cannot interpret, reported through rusqlite's conversion error so row
/// readers stay plain `rusqlite::Result`s.
fn bad(what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Null, what.into())
}

fn presence_from_row(r: &Row) -> rusqlite::Result<Presence> {
    Ok(Presence {
        id: ShipmentId(r.get(0)?),
        tracking_number: r.get(1)?,
        carrier: r.get(2)?,
        removed: r.get(3)?,
        at: utc(r.get(4)?)?,
    })
}

fn utc(ms: i64) -> rusqlite::Result<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| bad(format!("timestamp {ms}")))
}

fn fixed(ms: i64, offset: i64) -> rusqlite::Result<DateTime<FixedOffset>> {
    let off = i32::try_from(offset)
        .ok()
        .and_then(FixedOffset::east_opt)
        .ok_or_else(|| bad(format!("UTC offset {offset}")))?;
    Ok(utc(ms)?.with_timezone(&off))
}

fn opt_fixed(
    ms: Option<i64>,
    offset: Option<i64>,
) -> rusqlite::Result<Option<DateTime<FixedOffset>>> {
    ms.map(|m| fixed(m, offset.unwrap_or(0))).transpose()
}

fn opt_utc(ms: Option<i64>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    ms.map(utc).transpose()
}

fn status(s: &str) -> rusqlite::Result<Status> {
    s.parse()
        .map_err(|e: crate::domain::UnknownStatus| bad(e.to_string()))
}

/// Order key for "which event is the latest": time, then progress, then key. A total order,
/// so the derived state does not depend on the order events arrive in.
type Head = (i64, u8, [u8; 16]);

const SHIPMENT_COLUMNS: &str = "id, order_id, tracking_number, carrier, service, \
    origin_city, origin_region, origin_country, origin_postal, \
    dest_city, dest_region, dest_country, dest_postal, \
    status, status_detail, last_event_at, last_event_offset, event_count, \
    eta_earliest, eta_earliest_offset, eta_latest, eta_latest_offset, eta_observed_at, \
    label, label_at, muted, muted_at, archived, archived_at, \
    last_polled_at, next_poll_at, last_error, last_error_at, created_at, updated_at, \
    est_earliest, est_likely, est_latest, est_confidence, est_source, notify_kinds";

fn place(r: &Row, first: usize) -> rusqlite::Result<Place> {
    Ok(Place {
        city: r.get(first)?,
        region: r.get(first + 1)?,
        country: r.get(first + 2)?,
        postal: r.get(first + 3)?,
    })
}

/// The carrier ETA from five consecutive columns: earliest, its offset, latest, its offset,
/// observed.
fn eta_at(r: &Row, first: usize) -> rusqlite::Result<Option<CarrierEta>> {
    let (e, l, o): (Option<i64>, Option<i64>, Option<i64>) =
        (r.get(first)?, r.get(first + 2)?, r.get(first + 4)?);
    match (e, l, o) {
        (Some(e), Some(l), Some(o)) => Ok(Some(CarrierEta {
            earliest: fixed(e, r.get::<_, Option<i64>>(first + 1)?.unwrap_or(0))?,
            latest: fixed(l, r.get::<_, Option<i64>>(first + 3)?.unwrap_or(0))?,
            observed_at: utc(o)?,
        })),
        _ => Ok(None),
    }
}

/// Our estimate from five consecutive columns: earliest, likely, latest, confidence, source.
pub(super) fn estimate_at(r: &Row, first: usize) -> rusqlite::Result<Option<Estimate>> {
    let (e, m, l): (Option<i64>, Option<i64>, Option<i64>) =
        (r.get(first)?, r.get(first + 1)?, r.get(first + 2)?);
    let (Some(e), Some(m), Some(l)) = (e, m, l) else {
        return Ok(None);
    };
    Ok(Some(Estimate {
        earliest: utc(e)?,
        likely: utc(m)?,
        latest: utc(l)?,
        confidence: r.get::<_, f64>(first + 3)? as f32,
        source: r
            .get::<_, String>(first + 4)?
            .parse::<EtaSource>()
            .map_err(|e| bad(e.to_string()))?,
    }))
}

/// Reads a row of [`SHIPMENT_COLUMNS`].
fn shipment_from_row(r: &Row) -> rusqlite::Result<Shipment> {
    Ok(Shipment {
        id: ShipmentId(r.get(0)?),
        order_id: OrderId(r.get(1)?),
        tracking_number: r.get(2)?,
        carrier: r.get(3)?,
        service: r.get(4)?,
        origin: place(r, 5)?,
        destination: place(r, 9)?,
        status: status(&r.get::<_, String>(13)?)?,
        status_detail: r.get(14)?,
        last_event_at: opt_fixed(r.get(15)?, r.get(16)?)?,
        event_count: r.get(17)?,
        carrier_eta: eta_at(r, 18)?,
        label: r.get(23)?,
        label_at: utc(r.get(24)?)?,
        muted: r.get(25)?,
        muted_at: utc(r.get(26)?)?,
        archived: r.get(27)?,
        archived_at: utc(r.get(28)?)?,
        last_polled_at: opt_utc(r.get(29)?)?,
        next_poll_at: opt_utc(r.get(30)?)?,
        last_error: r.get(31)?,
        last_error_at: opt_utc(r.get(32)?)?,
        created_at: utc(r.get(33)?)?,
        updated_at: utc(r.get(34)?)?,
        estimate: estimate_at(r, 35)?,
        notify_kinds: r
            .get::<_, Option<String>>(40)?
            .map(|k| k.parse::<KindSet>().map_err(bad))
            .transpose()?,
    })
}

const ORDER_COLUMNS: &str = "id, store, order_number, items, placed_at, placed_offset, notes, \
    archived, archived_at, created_at, promised_at, promised_offset, \
    customer_name, customer_email, customer_phone, customer_postcode, customer_address, \
    stage, stage_at, updated_at";

fn order_from_row(r: &Row) -> rusqlite::Result<Order> {
    Ok(Order {
        id: OrderId(r.get(0)?),
        store: r.get(1)?,
        order_number: r.get(2)?,
        items: r.get(3)?,
        placed_at: opt_fixed(r.get(4)?, r.get(5)?)?,
        notes: r.get(6)?,
        archived: r.get(7)?,
        archived_at: utc(r.get(8)?)?,
        created_at: utc(r.get(9)?)?,
        promised_at: opt_fixed(r.get(10)?, r.get(11)?)?,
        customer: Customer {
            name: r.get(12)?,
            email: r.get(13)?,
            phone: r.get(14)?,
            postcode: r.get(15)?,
            address: r.get(16)?,
        },
        stage: r.get::<_, String>(17)?.parse().map_err(bad)?,
        stage_at: utc(r.get(18)?)?,
        updated_at: utc(r.get(19)?)?,
    })
}

const EVENT_COLUMNS: &str = "shipment_id, dedupe_key, occurred_at, occurred_offset, status, raw_code, \
    description, city, region, country, postal, source, recorded_at";

fn event_from_row(r: &Row) -> rusqlite::Result<TrackingEvent> {
    Ok(TrackingEvent {
        shipment_id: ShipmentId(r.get(0)?),
        dedupe_key: r.get(1)?,
        occurred_at: fixed(r.get(2)?, r.get(3)?)?,
        status: status(&r.get::<_, String>(4)?)?,
        raw_code: r.get(5)?,
        description: r.get(6)?,
        location: place(r, 7)?,
        source: r.get::<_, String>(11)?.parse::<Source>().map_err(bad)?,
        recorded_at: utc(r.get(12)?)?,
    })
}

/// One shipment add inside an open transaction: into the order its `order` info names
/// (found, revived or created; `None`), or into the given order, refusing a number another
/// order has. Returns the shipment and whether it was created (or revived); the order's and
/// the parcel's own changes go to `feed`.
fn add_in(
    tx: &Transaction,
    new: &NewShipment,
    into: Option<OrderId>,
    now: i64,
    feed: &mut Vec<Change>,
) -> Result<(ShipmentId, bool)> {
    let number = clean_text(&new.tracking_number);
    if number.is_empty() {
        return Err(Error::InvalidInput("the tracking number is empty".into()));
    }
    let existing: Option<(Uuid, bool, Uuid)> = tx
        .prepare_cached("SELECT id, deleted, order_id FROM shipments WHERE tracking_number = ?1")?
        .query_row([&number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((id, false, order)) = existing {
        return match into {
            Some(into) if into.0 != order => Err(Error::NumberTaken {
                tracking_number: number.into_owned(),
                order_id: OrderId(order),
            }),
            _ => Ok((ShipmentId(id), false)),
        };
    }
    let order = match into {
        Some(id) => id,
        None => orders::resolve(tx, &orders::clean_info(&new.order), now, feed)?,
    };
    let (carrier, service, label) = (
        clean_text(&new.carrier),
        clean_opt(new.service.as_deref()),
        clean_opt(new.label.as_deref()),
    );
    let id = match existing {
        Some((id, _, _)) => {
            // Re-adding a removed number revives its tombstone (same id, so sync sees one
            // record whose `deleted` flag changed last).
            tx.prepare_cached(
                "UPDATE shipments SET order_id = ?2, carrier = ?3, service = ?4, label = ?5,
                    label_at = ?6, muted = 0, muted_at = ?6, archived = 0, archived_at = ?6,
                    deleted = 0, deleted_at = ?6, next_poll_at = ?6, updated_at = ?6
                 WHERE id = ?1",
            )?
            .execute(params![id, order.0, carrier, service, label, now])?;
            ShipmentId(id)
        }
        None => {
            let id = ShipmentId::new();
            tx.prepare_cached(
                "INSERT INTO shipments (id, order_id, tracking_number, carrier, service, label,
                    label_at, muted_at, archived_at, deleted_at, next_poll_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7, ?7, ?7, ?7, ?7)",
            )?
            .execute(params![id.0, order.0, number, carrier, service, label, now])?;
            id
        }
    };
    feed.push(Change::ShipmentAdded {
        shipment_id: id,
        order_id: order,
    });
    Ok((id, true))
}

/// Add shipments inside an open transaction (into one order, or each into the order its
/// info names): every add first, then their events, so a batch's writes come in the same
/// order on every backend. Returns, per shipment, its id, whether it was created and how
/// many events were new; every change goes to `feed`, each parcel's together.
fn add_all(
    tx: &Transaction,
    new: &[NewShipment],
    into: Option<OrderId>,
    now: i64,
    feed: &mut Vec<Change>,
) -> Result<Vec<(ShipmentId, bool, usize)>> {
    let mut added = Vec::with_capacity(new.len());
    for n in new {
        let mut own = Vec::new();
        let (id, created) = add_in(tx, n, into, now, &mut own)?;
        added.push((id, created, own));
    }
    let mut out = Vec::with_capacity(new.len());
    for (n, (id, created, own)) in new.iter().zip(added) {
        feed.extend(own);
        let mut report = IngestReport::default();
        if !n.events.is_empty() {
            let batch = IngestBatch::events(id, n.events.clone());
            ingest_one(tx, &batch, now, "import", &mut report)?;
        }
        feed.append(&mut report.changes);
        out.push((id, created, report.inserted));
    }
    Ok(out)
}

/// Tombstone one live shipment and drop its history, inside an open transaction; false when
/// there is no such live shipment.
fn remove_in(tx: &Transaction, id: ShipmentId, at: i64) -> Result<bool> {
    let n = tx
        .prepare_cached(
            "UPDATE shipments SET deleted = 1, deleted_at = ?2, updated_at = ?2, label = NULL,
                status = 'pending', status_at = NULL, status_rank = NULL, status_key = NULL,
                status_detail = NULL, last_event_at = NULL, last_event_offset = NULL,
                last_event_rank = NULL, last_event_key = NULL, event_count = 0,
                eta_earliest = NULL, eta_earliest_offset = NULL, eta_latest = NULL,
                eta_latest_offset = NULL, eta_observed_at = NULL, next_poll_at = NULL,
                last_error = NULL, last_error_at = NULL, shipped_at = NULL,
                first_event_at = NULL, failed_attempts = 0,
                est_earliest = NULL, est_likely = NULL, est_latest = NULL, est_confidence = NULL,
                est_source = NULL, est_first_latest = NULL
             WHERE id = ?1 AND deleted = 0",
        )?
        .execute(params![id.0, at])?;
    if n == 0 {
        return Ok(false);
    }
    tx.prepare_cached("DELETE FROM events WHERE shipment_id = ?1")?
        .execute([id.0])?;
    tx.prepare_cached("DELETE FROM status_log WHERE shipment_id = ?1")?
        .execute([id.0])?;
    tx.prepare_cached("DELETE FROM problems WHERE shipment_id = ?1")?
        .execute([id.0])?;
    Ok(true)
}

/// Append committed changes to the feed, inside the transaction that makes them; a parcel's
/// change is filed under the parcel's order.
fn append_feed(conn: &Connection, changes: &[Change], at: i64) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO feed (at, order_id, shipment_id, data)
         VALUES (?1, coalesce(?2, (SELECT order_id FROM shipments WHERE id = ?3)), ?3, ?4)",
    )?;
    for c in changes.iter().filter(|c| c.is_fed()) {
        stmt.execute(params![
            at,
            c.order_id().map(|o| o.0),
            c.shipment_id().map(|s| s.0),
            super::encode_change(c),
        ])?;
    }
    Ok(())
}

/// The derived state of one shipment as ingest sees it.
struct Derived {
    status: Status,
    status_head: Option<Head>,
    last_head: Option<Head>,
    last_offset: Option<i64>,
    detail: Option<String>,
    count: i64,
    eta_observed: Option<i64>,
}

fn ingest_one(
    tx: &Transaction,
    batch: &IngestBatch,
    now: i64,
    cause: &str,
    report: &mut IngestReport,
) -> Result<()> {
    let sid = batch.shipment_id;
    let loaded = tx
        .prepare_cached(
            "SELECT status, status_at, status_rank, status_key, last_event_at, last_event_rank,
                    last_event_key, last_event_offset, status_detail, event_count, eta_observed_at
             FROM shipments WHERE id = ?1 AND deleted = 0",
        )?
        .query_row([sid.0], |r| {
            let head = |a: usize| -> rusqlite::Result<Option<Head>> {
                Ok(match (r.get(a)?, r.get(a + 1)?, r.get(a + 2)?) {
                    (Some(at), Some(rank), Some(key)) => Some((at, rank, key)),
                    _ => None,
                })
            };
            Ok((
                status(&r.get::<_, String>(0)?)?,
                Derived {
                    status: Status::Pending,
                    status_head: head(1)?,
                    last_head: head(4)?,
                    last_offset: r.get(7)?,
                    detail: r.get(8)?,
                    count: r.get(9)?,
                    eta_observed: r.get(10)?,
                },
            ))
        })
        .optional()?;
    // A result for a parcel removed meanwhile is dropped, by design.
    let Some((before, mut d)) = loaded else {
        report.gone.push(sid);
        return Ok(());
    };
    d.status = before;

    let mut inserted = Vec::new();
    let mut shipped: Option<i64> = None;
    let (mut first, mut failed) = (None::<i64>, 0_i64);
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (shipment_id, dedupe_key, occurred_at, occurred_offset, status,
                raw_code, description, city, region, country, postal, source, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT DO NOTHING",
        )?;
        for ev in &batch.events {
            let ev = clean_event(ev);
            let key = ev.dedupe_key();
            let at = ev.occurred_at.timestamp_millis();
            let offset = i64::from(ev.occurred_at.offset().local_minus_utc());
            let n = insert.execute(params![
                sid.0,
                key,
                at,
                offset,
                ev.status.as_str(),
                ev.raw_code,
                ev.description,
                ev.location.city,
                ev.location.region,
                ev.location.country,
                ev.location.postal,
                ev.source.as_str(),
                now,
            ])?;
            if n == 0 {
                report.duplicates += 1;
                continue;
            }
            report.inserted += 1;
            d.count += 1;
            first = Some(first.map_or(at, |f| f.min(at)));
            failed += i64::from(ev.status == Status::FailedAttempt);
            if !matches!(
                ev.status,
                Status::Pending | Status::InfoReceived | Status::Unknown
            ) {
                shipped = Some(shipped.map_or(at, |s| s.min(at)));
            }
            let head: Head = (at, ev.status.progress_rank(), *key.as_bytes());
            if d.last_head.is_none_or(|h| head > h) {
                d.last_head = Some(head);
                d.last_offset = Some(offset);
                d.detail = Some(ev.description.clone());
            }
            // An unmapped carrier code never hides a known status.
            if ev.status != Status::Unknown && d.status_head.is_none_or(|h| head > h) {
                d.status_head = Some(head);
                d.status = ev.status;
            }
            inserted.push(TrackingEvent {
                shipment_id: sid,
                dedupe_key: key,
                occurred_at: ev.occurred_at,
                status: ev.status,
                raw_code: ev.raw_code.clone(),
                description: ev.description.clone(),
                location: ev.location.clone(),
                source: ev.source,
                recorded_at: utc(now)?,
            });
        }
    }
    if d.status_head.is_none() && d.count > 0 {
        d.status = Status::Unknown;
    }

    let new_eta = batch
        .carrier_eta
        .filter(|eta| d.eta_observed.is_none_or(|o| ms(eta.observed_at) > o));
    let has_meta = batch.service.is_some() || batch.origin.is_some() || batch.destination.is_some();
    if inserted.is_empty() && new_eta.is_none() && !has_meta {
        return Ok(());
    }
    let o = batch
        .origin
        .as_ref()
        .map_or_else(Place::default, |p| clean_place(p).into_owned());
    let de = batch
        .destination
        .as_ref()
        .map_or_else(Place::default, |p| clean_place(p).into_owned());
    let service = clean_opt(batch.service.as_deref());
    tx.prepare_cached(
        "UPDATE shipments SET status = ?2, status_at = ?3, status_rank = ?4, status_key = ?5,
            last_event_at = ?6, last_event_offset = ?7, last_event_rank = ?8, last_event_key = ?9,
            status_detail = ?10, event_count = ?11,
            eta_earliest = coalesce(?12, eta_earliest), eta_earliest_offset = coalesce(?13, eta_earliest_offset),
            eta_latest = coalesce(?14, eta_latest), eta_latest_offset = coalesce(?15, eta_latest_offset),
            eta_observed_at = coalesce(?16, eta_observed_at),
            service = coalesce(?17, service),
            origin_city = coalesce(?18, origin_city), origin_region = coalesce(?19, origin_region),
            origin_country = coalesce(?20, origin_country), origin_postal = coalesce(?21, origin_postal),
            dest_city = coalesce(?22, dest_city), dest_region = coalesce(?23, dest_region),
            dest_country = coalesce(?24, dest_country), dest_postal = coalesce(?25, dest_postal),
            updated_at = ?26,
            shipped_at = CASE WHEN ?27 IS NOT NULL AND (shipped_at IS NULL OR ?27 < shipped_at)
                              THEN ?27 ELSE shipped_at END,
            first_event_at = CASE WHEN ?28 IS NOT NULL
                                   AND (first_event_at IS NULL OR ?28 < first_event_at)
                                  THEN ?28 ELSE first_event_at END,
            failed_attempts = failed_attempts + ?29
         WHERE id = ?1",
    )?
    .execute(params![
        sid.0,
        d.status.as_str(),
        d.status_head.map(|h| h.0),
        d.status_head.map(|h| h.1),
        d.status_head.map(|h| h.2),
        d.last_head.map(|h| h.0),
        d.last_offset,
        d.last_head.map(|h| h.1),
        d.last_head.map(|h| h.2),
        d.detail,
        d.count,
        new_eta.map(|e| e.earliest.timestamp_millis()),
        new_eta.map(|e| e.earliest.offset().local_minus_utc()),
        new_eta.map(|e| e.latest.timestamp_millis()),
        new_eta.map(|e| e.latest.offset().local_minus_utc()),
        new_eta.map(|e| ms(e.observed_at)),
        service,
        o.city,
        o.region,
        o.country,
        o.postal,
        de.city,
        de.region,
        de.country,
        de.postal,
        now,
        shipped,
        first,
        failed,
    ])?;
    if !inserted.is_empty() {
        inserted.sort_by_key(|e| {
            (
                e.occurred_at,
                e.status.progress_rank(),
                *e.dedupe_key.as_bytes(),
            )
        });
        report.changes.push(Change::EventsAdded {
            shipment_id: sid,
            events: inserted,
        });
    }
    if d.status != before {
        tx.prepare_cached(
            "INSERT INTO status_log (shipment_id, from_status, to_status, changed_at, cause, event_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            sid.0,
            before.as_str(),
            d.status.as_str(),
            now,
            cause,
            d.status_head.map(|h| Uuid::from_bytes(h.2)),
        ])?;
        report.changes.push(Change::StatusChanged {
            shipment_id: sid,
            from: before,
            to: d.status,
        });
    }
    if let Some(eta) = new_eta {
        report.changes.push(Change::EtaChanged {
            shipment_id: sid,
            eta,
        });
    }
    Ok(())
}

/// Which group a shipment falls in: the one place that decides, as SQL so `list` can stream
/// 100,000 parcels in order without holding them in memory.
static GROUP_SQL: LazyLock<String> = LazyLock::new(|| {
    let attention: Vec<String> = Status::ALL
        .into_iter()
        .filter(|s| s.needs_attention() && *s != Status::Delivered)
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!(
        "CASE
           WHEN s.archived OR o.archived THEN 4
           WHEN s.status = 'delivered' THEN
             CASE WHEN coalesce(s.last_event_at, s.updated_at) >= :since THEN 3 ELSE 4 END
           WHEN s.status IN ({}) OR s.last_error IS NOT NULL
             OR EXISTS (SELECT 1 FROM problems p
                        WHERE p.shipment_id = s.id AND p.resolved_at IS NULL) THEN 2
           WHEN s.status = 'out_for_delivery'
             OR (s.est_likely >= :today_start AND s.est_likely < :today_end)
             OR (s.est_likely IS NULL AND s.eta_earliest < :today_end
                 AND s.eta_latest >= :today_start) THEN 0
           ELSE 1
         END",
        attention.join(", ")
    )
});

impl Store for SqliteStore {
    fn checkpoint(&mut self) -> Result<()> {
        // TRUNCATE empties the log file too; it waits (busy_timeout) for other writers.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn add_shipment(&mut self, new: &NewShipment, now: DateTime<Utc>) -> Result<Added> {
        Ok(self
            .add_shipments(std::slice::from_ref(new), now)?
            .remove(0))
    }

    fn add_shipments(&mut self, new: &[NewShipment], now: DateTime<Utc>) -> Result<Vec<Added>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut feed = Vec::new();
        let ids = add_all(&tx, new, None, ms(now), &mut feed)?;
        append_feed(&tx, &feed, ms(now))?;
        tx.commit()?;
        ids.into_iter()
            .map(|(id, created, events_added)| {
                let shipment = self
                    .load_shipment(id)?
                    .ok_or_else(|| Error::NotFound(id.to_string()))?;
                Ok(Added {
                    shipment,
                    created,
                    events_added,
                })
            })
            .collect()
    }

    fn ingest(&mut self, batches: &[IngestBatch], now: DateTime<Utc>) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for batch in batches {
            let cause = batch
                .events
                .first()
                .map_or("carrier", |e| e.source.as_str());
            ingest_one(&tx, batch, ms(now), cause, &mut report)?;
        }
        append_feed(&tx, &report.changes, ms(now))?;
        tx.commit()?;
        Ok(report)
    }

    fn edit(&mut self, id: ShipmentId, edit: Edit, at: DateTime<Utc>) -> Result<bool> {
        let at = ms(at);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = match &edit {
            Edit::Label(label) => tx.prepare_cached(
                "UPDATE shipments SET label = ?2, label_at = ?3, updated_at = max(updated_at, ?3)
                 WHERE id = ?1 AND deleted = 0 AND label_at <= ?3 AND label IS NOT ?2",
            )?.execute(params![id.0, clean_opt(label.as_deref()), at])?,
            Edit::Muted(v) => tx.prepare_cached(
                "UPDATE shipments SET muted = ?2, muted_at = ?3, updated_at = max(updated_at, ?3)
                 WHERE id = ?1 AND deleted = 0 AND muted_at <= ?3 AND muted IS NOT ?2",
            )?.execute(params![id.0, v, at])?,
            Edit::Archived(v) => tx.prepare_cached(
                "UPDATE shipments SET archived = ?2, archived_at = ?3, updated_at = max(updated_at, ?3)
                 WHERE id = ?1 AND deleted = 0 AND archived_at <= ?3 AND archived IS NOT ?2",
            )?.execute(params![id.0, v, at])?,
            Edit::NotifyKinds(kinds) => tx.prepare_cached(
                "UPDATE shipments SET notify_kinds = ?2, notify_kinds_at = ?3, updated_at = max(updated_at, ?3)
                 WHERE id = ?1 AND deleted = 0 AND notify_kinds_at <= ?3 AND notify_kinds IS NOT ?2",
            )?.execute(params![id.0, kinds.map(|k| k.to_string()), at])?,
        };
        if n > 0 {
            append_feed(&tx, &[Change::ShipmentEdited { shipment_id: id }], at)?;
        }
        tx.commit()?;
        if n == 0 {
            // Distinguish "no such parcel" from "nothing to change / older edit".
            self.shipment(id)?;
        }
        Ok(n > 0)
    }

    fn remove(&mut self, id: ShipmentId, at: DateTime<Utc>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if !remove_in(&tx, id, ms(at))? {
            return Err(Error::NotFound(id.to_string()));
        }
        append_feed(&tx, &[Change::ShipmentRemoved { shipment_id: id }], ms(at))?;
        tx.commit()?;
        Ok(())
    }

    fn presence(&self, id: ShipmentId) -> Result<Option<Presence>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, tracking_number, carrier, deleted, deleted_at FROM shipments
                 WHERE id = ?1",
            )?
            .query_row([id.0], presence_from_row)
            .optional()?)
    }

    fn presence_of_number(&self, number: &str) -> Result<Option<Presence>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, tracking_number, carrier, deleted, deleted_at FROM shipments
                 WHERE tracking_number = ?1",
            )?
            .query_row([number], presence_from_row)
            .optional()?)
    }

    fn restamp(&mut self, id: ShipmentId, register: Register, at: DateTime<Utc>) -> Result<bool> {
        let at = ms(at);
        let col = register.column();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = tx
            .prepare_cached(&format!(
                "UPDATE shipments SET {col} = ?2, updated_at = max(updated_at, ?2)
                 WHERE id = ?1 AND {col} < ?2"
            ))?
            .execute(params![id.0, at])?;
        if n > 0 {
            append_feed(&tx, &[Change::ShipmentEdited { shipment_id: id }], at)?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    fn presences(&self, after: Option<ShipmentId>, limit: usize) -> Result<Vec<Presence>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, tracking_number, carrier, deleted, deleted_at FROM shipments
             WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after.map(|a| a.0), limit as i64], presence_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn shipment(&self, id: ShipmentId) -> Result<Shipment> {
        self.load_shipment(id)?
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    fn find(&self, key: &str) -> Result<Shipment> {
        let trimmed = key.trim();
        if let Ok(uuid) = Uuid::parse_str(trimmed) {
            return self.shipment(ShipmentId(uuid));
        }
        let number: String = trimmed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_uppercase)
            .collect();
        if number.is_empty() {
            return Err(Error::NotFound(key.to_owned()));
        }
        let exact = self.find_ids(
            "SELECT id, tracking_number FROM shipments WHERE tracking_number = ?1 AND deleted = 0",
            &number,
        )?;
        let mut matches = exact;
        if matches.is_empty() && number.len() >= 4 {
            // A unique tail of the number ("…4784"), as people read it off a label.
            let like = number.replace(['%', '_'], "");
            matches = self.find_ids(
                "SELECT id, tracking_number FROM shipments
                 WHERE deleted = 0 AND tracking_number LIKE '%' || ?1
                 LIMIT 6",
                &like,
            )?;
        }
        match matches.len() {
            0 => Err(Error::NotFound(key.to_owned())),
            1 => self.shipment(matches[0].0),
            _ => Err(Error::Ambiguous {
                key: key.to_owned(),
                matches: matches.into_iter().map(|m| m.1).collect(),
            }),
        }
    }

    fn order(&self, id: OrderId) -> Result<Order> {
        orders::load(&self.conn, id)?.ok_or_else(|| Error::NotFound(id.to_string()))
    }

    fn timeline(&self, id: ShipmentId) -> Result<Vec<TrackingEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE shipment_id = ?1 ORDER BY occurred_at, dedupe_key"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut out = stmt
            .query_map([id.0], event_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // Same-instant events in journey order, as the status derivation sees them.
        out.sort_by_key(|e| {
            (
                e.occurred_at,
                e.status.progress_rank(),
                *e.dedupe_key.as_bytes(),
            )
        });
        Ok(out)
    }

    fn status_log(&self, id: ShipmentId) -> Result<Vec<StatusChange>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT from_status, to_status, changed_at, cause FROM status_log
             WHERE shipment_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id.0], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (from, to, at, cause) = r?;
            out.push(StatusChange {
                from: status(&from)?,
                to: status(&to)?,
                changed_at: utc(at)?,
                cause,
            });
        }
        Ok(out)
    }

    fn list(&self, q: &ListQuery, each: &mut dyn FnMut(ListItem) -> Result<()>) -> Result<()> {
        let sql = format!(
            "SELECT * FROM (
               SELECT s.id, s.tracking_number, s.carrier, s.status, s.status_detail, s.label,
                      o.store, o.order_number, s.last_event_at, s.last_event_offset,
                      s.eta_earliest, s.eta_earliest_offset, s.eta_latest, s.eta_latest_offset,
                      s.eta_observed_at, s.last_error, s.muted, s.archived OR o.archived,
                      {group} AS grp, s.created_at,
                      s.est_earliest, s.est_likely, s.est_latest, s.est_confidence, s.est_source,
                      (SELECT group_concat(p.kind) FROM problems p
                       WHERE p.shipment_id = s.id AND p.resolved_at IS NULL) AS problems
               FROM shipments s JOIN orders o ON o.id = s.order_id
               WHERE s.deleted = 0)
             WHERE :all OR grp < 4
             ORDER BY grp,
               CASE WHEN grp >= 2 THEN -coalesce(last_event_at, created_at)
                    ELSE coalesce(est_likely, eta_latest, 9223372036854775807) END,
               created_at DESC",
            group = &*GROUP_SQL
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::named_params! {
            ":since": ms(q.delivered_since),
            ":today_start": ms(q.today_start),
            ":today_end": ms(q.today_end),
            ":all": q.all,
        })?;
        while let Some(r) = rows.next()? {
            let st: String = r.get(3)?;
            let item = ListItem {
                group: Group::from_index(r.get(18)?),
                id: ShipmentId(r.get(0)?),
                tracking_number: r.get(1)?,
                carrier: r.get(2)?,
                status: status(&st)?,
                status_detail: r.get(4)?,
                label: r.get(5)?,
                store: r.get(6)?,
                order_number: r.get(7)?,
                last_event_at: opt_fixed(r.get(8)?, r.get(9)?)?,
                carrier_eta: eta_at(r, 10)?,
                estimate: estimate_at(r, 20)?,
                problems: r
                    .get::<_, Option<String>>(25)?
                    .map(|p| {
                        let mut v: Vec<ProblemKind> =
                            p.split(',').filter_map(|k| k.parse().ok()).collect();
                        v.sort();
                        v.dedup();
                        v
                    })
                    .unwrap_or_default(),
                last_error: r.get(15)?,
                muted: r.get(16)?,
                archived: r.get(17)?,
            };
            each(item)?;
        }
        Ok(())
    }

    fn group(&self, id: ShipmentId, q: &ListQuery) -> Result<Group> {
        let sql = format!(
            "SELECT {group} FROM shipments s JOIN orders o ON o.id = s.order_id
             WHERE s.id = :id AND s.deleted = 0",
            group = &*GROUP_SQL
        );
        self.conn
            .prepare_cached(&sql)?
            .query_row(
                rusqlite::named_params! {
                    ":id": id.0,
                    ":since": ms(q.delivered_since),
                    ":today_start": ms(q.today_start),
                    ":today_end": ms(q.today_end),
                },
                |r| r.get(0).map(Group::from_index),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    fn for_each_record(&self, each: &mut dyn FnMut(ShipmentRecord) -> Result<()>) -> Result<()> {
        let ids: Vec<(Uuid, Uuid)> = {
            let mut stmt = self.conn.prepare(
                "SELECT id, order_id FROM shipments WHERE deleted = 0 ORDER BY created_at, id",
            )?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut last_order: Option<Order> = None;
        for (sid, oid) in ids {
            let order = match last_order.take() {
                Some(o) if o.id.0 == oid => o,
                _ => self.order(OrderId(oid))?,
            };
            let id = ShipmentId(sid);
            let record = ShipmentRecord {
                order: order.clone(),
                shipment: self.shipment(id)?,
                events: self.timeline(id)?,
                status_log: self.status_log(id)?,
            };
            last_order = Some(order);
            each(record)?;
        }
        Ok(())
    }

    fn count(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM shipments WHERE deleted = 0",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    fn facets(&self) -> Result<Facets> {
        let column = |sql: &str| -> Result<Vec<String>> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        Ok(Facets {
            stores: column(
                "SELECT DISTINCT o.store FROM shipments s JOIN orders o ON o.id = s.order_id
                 WHERE s.deleted = 0 AND trim(coalesce(o.store, '')) <> ''",
            )?,
            carriers: column("SELECT DISTINCT carrier FROM shipments WHERE deleted = 0")?,
        })
    }

    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<PollTarget>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, tracking_number, carrier, status, created_at, last_event_at FROM shipments
             WHERE next_poll_at IS NOT NULL AND deleted = 0 AND next_poll_at <= ?1 AND archived = 0
             ORDER BY next_poll_at LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![ms(now), limit as i64], |r| {
            Ok(PollTarget {
                id: ShipmentId(r.get(0)?),
                tracking_number: r.get(1)?,
                carrier: r.get(2)?,
                status: status(&r.get::<_, String>(3)?)?,
                created_at: utc(r.get(4)?)?,
                last_event_at: opt_utc(r.get(5)?)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = self.conn.query_row(
            "SELECT min(next_poll_at) FROM shipments
             WHERE next_poll_at IS NOT NULL AND deleted = 0 AND archived = 0",
            [],
            |r| r.get(0),
        )?;
        Ok(opt_utc(at)?)
    }

    fn record_polls(&mut self, records: &[(ShipmentId, PollRecord)]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE shipments SET last_polled_at = ?2, next_poll_at = ?3, last_error = ?4,
                    last_error_at = CASE WHEN ?4 IS NULL THEN NULL
                                         WHEN last_error IS ?4 THEN last_error_at ELSE ?2 END
                 WHERE id = ?1 AND deleted = 0",
            )?;
            for (id, r) in records {
                stmt.execute(params![
                    id.0,
                    ms(r.polled_at),
                    r.next_poll_at.map(ms),
                    clean_opt(r.error.as_deref())
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn poll_now(&mut self, id: Option<ShipmentId>, now: DateTime<Utc>) -> Result<usize> {
        Ok(match id {
            Some(id) => self.conn.execute(
                "UPDATE shipments SET next_poll_at = ?2 WHERE id = ?1 AND deleted = 0",
                params![id.0, ms(now)],
            )?,
            None => self.conn.execute(
                "UPDATE shipments SET next_poll_at = ?1
                 WHERE deleted = 0 AND archived = 0
                   AND status NOT IN ('delivered', 'returned', 'expired')",
                params![ms(now)],
            )?,
        })
    }

    fn expire_stale(&mut self, cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<Change>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let stale: Vec<(Uuid, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT id, status FROM shipments
                 WHERE deleted = 0 AND archived = 0
                   AND status NOT IN ('delivered', 'returned', 'expired')
                   AND coalesce(last_event_at, created_at) < ?1",
            )?;
            stmt.query_map([ms(cutoff)], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut changes = Vec::with_capacity(stale.len());
        for (id, from) in stale {
            tx.prepare_cached(
                "UPDATE shipments SET status = 'expired', next_poll_at = NULL, updated_at = ?2 WHERE id = ?1",
            )?
            .execute(params![id, ms(now)])?;
            tx.prepare_cached(
                "INSERT INTO status_log (shipment_id, from_status, to_status, changed_at, cause)
                 VALUES (?1, ?2, 'expired', ?3, 'no news')",
            )?
            .execute(params![id, from, ms(now)])?;
            changes.push(Change::StatusChanged {
                shipment_id: ShipmentId(id),
                from: status(&from)?,
                to: Status::Expired,
            });
        }
        append_feed(&tx, &changes, ms(now))?;
        tx.commit()?;
        Ok(changes)
    }

    fn archive_delivered(
        &mut self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ids: Vec<Uuid> = {
            let mut stmt = tx.prepare_cached(
                "SELECT id FROM shipments
                 WHERE deleted = 0 AND archived = 0 AND status = 'delivered'
                   AND last_event_at < ?1
                   -- not if the user has (un)archived it since it was added or delivered
                   AND (archived_at <= created_at OR archived_at <= last_event_at)",
            )?;
            stmt.query_map([ms(cutoff)], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        for id in &ids {
            tx.prepare_cached("UPDATE shipments SET archived = 1, archived_at = ?2, updated_at = ?2 WHERE id = ?1")?
                .execute(params![id, ms(now)])?;
        }
        let changes: Vec<Change> = ids
            .into_iter()
            .map(|id| Change::ShipmentEdited {
                shipment_id: ShipmentId(id),
            })
            .collect();
        append_feed(&tx, &changes, ms(now))?;
        tx.commit()?;
        Ok(changes)
    }

    fn carrier_states(&self) -> Result<Vec<CarrierState>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT carrier, breaker, breaker_until, breaker_trips, failures, backoff_until, requests,
                    requests_day, last_success_at, last_error, last_error_at
             FROM carrier_state ORDER BY carrier",
        )?;
        let rows = stmt.query_map([], |r| {
            let breaker = match r.get::<_, String>(1)?.as_str() {
                "open" => Breaker::Open,
                "half_open" => Breaker::HalfOpen,
                _ => Breaker::Closed,
            };
            let day: Option<String> = r.get(7)?;
            Ok(CarrierState {
                carrier: r.get(0)?,
                breaker,
                breaker_until: opt_utc(r.get(2)?)?,
                breaker_trips: r.get(3)?,
                failures: r.get(4)?,
                backoff_until: opt_utc(r.get(5)?)?,
                requests: r.get::<_, i64>(6)? as u64,
                requests_day: day.and_then(|d| d.parse().ok()),
                last_success_at: opt_utc(r.get(8)?)?,
                last_error: r.get(9)?,
                last_error_at: opt_utc(r.get(10)?)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn save_carrier_state(&mut self, st: &CarrierState, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO carrier_state (carrier, breaker, breaker_until, breaker_trips, failures,
                    backoff_until, requests, requests_day, last_success_at, last_error, last_error_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (carrier) DO UPDATE SET breaker = ?2, breaker_until = ?3,
                    breaker_trips = ?4, failures = ?5, backoff_until = ?6, requests = ?7,
                    requests_day = ?8, last_success_at = ?9, last_error = ?10, last_error_at = ?11,
                    updated_at = ?12",
            )?
            .execute(params![
                st.carrier,
                st.breaker.as_str(),
                st.breaker_until.map(ms),
                st.breaker_trips,
                st.failures,
                st.backoff_until.map(ms),
                st.requests as i64,
                st.requests_day.map(|d| d.to_string()),
                st.last_success_at.map(ms),
                clean_opt(st.last_error.as_deref()),
                st.last_error_at.map(ms),
                ms(now),
            ])?;
        Ok(())
    }

    fn deliveries(&self, each: &mut dyn FnMut(Delivery) -> Result<()>) -> Result<()> {
        tracking::deliveries(&self.conn, each)
    }

    fn notification_latency(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<super::report::ChannelLatency>> {
        tracking::notification_latency(&self.conn, from, to)
    }

    fn orders_placed(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached(super::report::placed_sql(super::report::Dialect::Sqlite))?
            .query_row(params![ms(from), ms(to)], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn problem_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<super::report::ProblemCount>> {
        tracking::problem_counts(&self.conn, from, to)
    }

    fn delivery_report(
        &self,
        span: &super::report::ReportSpan,
        by: super::report::ReportBy,
    ) -> Result<Vec<super::report::DeliveryGroup>> {
        tracking::delivery_report(&self.conn, span, by)
    }

    fn order_lead_times(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
        tracking::order_lead_times(&self.conn, since, limit)
    }

    fn active(
        &self,
        ids: Option<&[ShipmentId]>,
        each: &mut dyn FnMut(Active) -> Result<()>,
    ) -> Result<()> {
        tracking::active(&self.conn, ids, each)
    }

    fn save_derived(&mut self, rows: &[Assessment], now: DateTime<Utc>) -> Result<Vec<Change>> {
        tracking::save_derived(&mut self.conn, rows, now)
    }

    fn open_problems(&self, id: Option<ShipmentId>) -> Result<Vec<OpenProblem>> {
        tracking::open_problems(&self.conn, id)
    }

    fn journal_cursor(&self) -> Result<JournalCursor> {
        tracking::journal_cursor(&self.conn)
    }

    fn journal(
        &self,
        after: JournalCursor,
        limit: usize,
    ) -> Result<(Vec<JournalEntry>, JournalCursor)> {
        tracking::journal(&self.conn, after, limit)
    }

    fn notified(&self, keys: &[Uuid]) -> Result<Vec<Uuid>> {
        tracking::notified(&self.conn, keys)
    }

    fn record_notifications(
        &mut self,
        from: JournalCursor,
        to: JournalCursor,
        news: &[Uuid],
        drafts: &[Draft],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        tracking::record_notifications(&mut self.conn, from, to, news, drafts, now)
    }

    fn queue_notifications(&mut self, drafts: &[Draft], now: DateTime<Utc>) -> Result<()> {
        tracking::queue_notifications(&mut self.conn, drafts, now)
    }

    fn due_notifications(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>> {
        tracking::due_notifications(&self.conn, now, limit)
    }

    fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>> {
        tracking::next_notification_due(&self.conn)
    }

    fn mark_notification(
        &mut self,
        id: Uuid,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> Result<()> {
        tracking::mark_notification(&self.conn, id, outcome, now)
    }

    fn claim_notification(
        &mut self,
        id: Uuid,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        tracking::claim_notification(&self.conn, id, lease_until, now)
    }

    fn held_notifications(&self) -> Result<Vec<OutboxEntry>> {
        tracking::held_notifications(&self.conn)
    }

    fn release_held(
        &mut self,
        held: &[Uuid],
        summary: Option<&Draft>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        tracking::release_held(&mut self.conn, held, summary, now)
    }

    fn notifications(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        tracking::notifications(&self.conn, limit)
    }

    fn shipment_notifications(&self, ids: &[ShipmentId], limit: usize) -> Result<Vec<OutboxEntry>> {
        tracking::shipment_notifications(&self.conn, ids, limit)
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        tracking::setting(&self.conn, key)
    }

    fn set_setting(&mut self, key: &str, value: &str, at: DateTime<Utc>) -> Result<bool> {
        tracking::set_setting(&self.conn, key, value, at)
    }

    fn save_order(
        &mut self,
        new: &NewOrder,
        on_existing: OnExisting,
        now: DateTime<Utc>,
    ) -> Result<SavedOrder> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut feed = Vec::new();
        let (id, created) = orders::save(&tx, new, on_existing, ms(now), &mut feed)?;
        let added = add_all(&tx, &new.shipments, Some(id), ms(now), &mut feed)?;
        append_feed(&tx, &feed, ms(now))?;
        tx.commit()?;
        self.saved_order(id, created, added)
    }

    fn save_orders(
        &mut self,
        orders: &[NewOrder],
        on_existing: OnExisting,
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<SavedOrder>>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut feed = Vec::new();
        let mut saved = Vec::with_capacity(orders.len());
        for new in orders {
            // Each order in a savepoint of its own: a refused one is undone alone.
            tx.execute_batch("SAVEPOINT save_order")?;
            let mut own = Vec::new();
            let done =
                orders::save(&tx, new, on_existing, ms(now), &mut own).and_then(|(id, created)| {
                    add_all(&tx, &new.shipments, Some(id), ms(now), &mut own)
                        .map(|added| (id, created, added))
                });
            match done {
                Ok(v) => {
                    tx.execute_batch("RELEASE save_order")?;
                    feed.append(&mut own);
                    saved.push(Ok(v));
                }
                Err(e) if e.is_refusal() => {
                    tx.execute_batch("ROLLBACK TO save_order; RELEASE save_order")?;
                    saved.push(Err(e));
                }
                Err(e) => return Err(e),
            }
        }
        append_feed(&tx, &feed, ms(now))?;
        tx.commit()?;
        let mut out = Vec::with_capacity(saved.len());
        for one in saved {
            out.push(match one {
                Err(e) => Err(e),
                Ok((id, created, added)) => Ok(self.saved_order(id, created, added)?),
            });
        }
        Ok(out)
    }

    fn update_order(
        &mut self,
        id: OrderId,
        patch: &OrderPatch,
        now: DateTime<Utc>,
    ) -> Result<Order> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if orders::update(&tx, id, patch, ms(now))? {
            append_feed(&tx, &[Change::OrderUpdated { order_id: id }], ms(now))?;
        }
        tx.commit()?;
        self.order(id)
    }

    fn set_order_stage(
        &mut self,
        id: OrderId,
        stage: crate::domain::OrderStage,
        actor: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Order> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Some(change) = orders::set_stage(&tx, id, stage, actor, note, ms(at))? {
            append_feed(&tx, &[change], ms(at))?;
        }
        tx.commit()?;
        self.order(id)
    }

    fn order_stages(&self, id: OrderId) -> Result<Vec<StageChange>> {
        self.order(id)?;
        orders::stages(&self.conn, id)
    }

    fn remove_order(&mut self, id: OrderId, at: DateTime<Utc>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let shipments = orders::remove(&tx, id, ms(at))?;
        let mut feed = vec![Change::OrderRemoved { order_id: id }];
        for sid in shipments {
            remove_in(&tx, sid, ms(at))?;
            feed.push(Change::ShipmentRemoved { shipment_id: sid });
        }
        append_feed(&tx, &feed, ms(at))?;
        tx.commit()?;
        Ok(())
    }

    fn order_shipments(&self, id: OrderId) -> Result<Vec<Shipment>> {
        self.order(id)?;
        self.shipments_of_orders(&[id])
    }

    fn shipments_of_orders(&self, ids: &[OrderId]) -> Result<Vec<Shipment>> {
        let sql = format!(
            "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE order_id = ?1 AND deleted = 0
             ORDER BY created_at, id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for id in ids.iter().filter(|id| seen.insert(**id)) {
            for sh in stmt.query_map([id.0], shipment_from_row)? {
                out.push(sh?);
            }
        }
        Ok(out)
    }

    fn orders(&self, q: &OrderQuery) -> Result<Vec<Order>> {
        orders::page(&self.conn, q)
    }

    fn feed(&self, after: i64, limit: usize) -> Result<Vec<FeedEntry>> {
        orders::feed(&self.conn, after, limit)
    }

    fn feed_heads(&self, after: i64, limit: usize) -> Result<Vec<FeedHead>> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, shipment_id, substr(data, 1, 64) FROM feed WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = st.query_map(rusqlite::params![after, limit], |r| {
            let id: Option<uuid::Uuid> = r.get(1)?;
            let data: String = r.get(2)?;
            Ok(FeedHead {
                seq: r.get(0)?,
                shipment_id: id.map(ShipmentId),
                kind: change_kind(&data),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn feed_head(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(seq), 0) FROM feed", [], |r| r.get(0))?)
    }

    fn prune_feed(&mut self, before: DateTime<Utc>) -> Result<usize> {
        Ok(self
            .conn
            .execute("DELETE FROM feed WHERE at < ?1", [ms(before)])?)
    }

    fn backlog(&self, now: DateTime<Utc>) -> Result<Backlog> {
        let (due, pending): (i64, i64) = self.conn.query_row(
            "SELECT (SELECT count(*) FROM shipments
                     WHERE next_poll_at IS NOT NULL AND next_poll_at <= ?1
                       AND deleted = 0 AND archived = 0),
                    (SELECT count(*) FROM outbox WHERE state = 'pending')",
            [ms(now)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Backlog {
            due_polls: due.max(0) as u64,
            pending_notifications: pending.max(0) as u64,
        })
    }
}

#[cfg(test)]
mod tests;
