//! The shop store on SQLite: one file, one connection behind a mutex, used from tokio's
//! blocking threads. WAL, `synchronous=FULL` (an acknowledged commit survives a power cut).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{LAST_USED_GRANULARITY, Migrated, NewShopRows};
use crate::{
    ApiKey, Error, KeyId, Result, Role, Scopes, Session, Shop, ShopId, StaffId, StaffMember,
};

/// The migrations, in order: version N is `MIGRATIONS[N - 1]`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_shops.sql"),
    include_str!("../../migrations/sqlite/0002_hooks.sql"),
    include_str!("../../migrations/sqlite/0003_webhooks_out.sql"),
    include_str!("../../migrations/sqlite/0004_idempotency.sql"),
    include_str!("../../migrations/sqlite/0005_tracking_links.sql"),
    include_str!("../../migrations/sqlite/0006_order_contact.sql"),
    include_str!("../../migrations/sqlite/0007_branding.sql"),
    include_str!("../../migrations/sqlite/0008_requests_feedback.sql"),
    include_str!("../../migrations/sqlite/0009_sms.sql"),
    include_str!("../../migrations/sqlite/0010_push.sql"),
    include_str!("../../migrations/sqlite/0011_templates.sql"),
    include_str!("../../migrations/sqlite/0012_notify_settings.sql"),
    include_str!("../../migrations/sqlite/0013_staff_alerts.sql"),
    include_str!("../../migrations/sqlite/0014_hook_received.sql"),
    include_str!("../../migrations/sqlite/0015_page_visits.sql"),
    include_str!("../../migrations/sqlite/0016_carrier_accounts.sql"),
];

#[derive(Clone)]
pub(crate) struct SqliteDb {
    conn: Arc<Mutex<Connection>>,
    /// The folder the file is in (each shop's tracking store lives beside it).
    pub(crate) dir: PathBuf,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn shop(r: &Row<'_>) -> rusqlite::Result<Shop> {
    Ok(Shop {
        id: ShopId(r.get(0)?),
        name: r.get(1)?,
        created_at: time(r.get(2)?),
    })
}

const STAFF: &str =
    "SELECT id, shop_id, email, role, password_hash IS NOT NULL, created_at FROM staff";

fn staff(r: &Row<'_>) -> rusqlite::Result<StaffMember> {
    Ok(StaffMember {
        id: StaffId(r.get(0)?),
        shop_id: ShopId(r.get(1)?),
        email: r.get(2)?,
        role: r.get::<_, String>(3)?.parse().unwrap_or(Role::Staff),
        password_set: r.get(4)?,
        created_at: time(r.get(5)?),
    })
}

const KEY: &str =
    "SELECT id, shop_id, name, prefix, scopes, created_at, last_used_at, revoked_at FROM api_keys";

fn key(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: KeyId(r.get(0)?),
        shop_id: ShopId(r.get(1)?),
        name: r.get(2)?,
        prefix: r.get(3)?,
        scopes: r.get::<_, String>(4)?.parse().unwrap_or_default(),
        created_at: time(r.get(5)?),
        last_used_at: r.get::<_, Option<i64>>(6)?.map(time),
        revoked_at: r.get::<_, Option<i64>>(7)?.map(time),
    })
}

fn unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

impl SqliteDb {
    pub(crate) async fn open(path: PathBuf) -> Result<(Self, Migrated)> {
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir)?;
            }
            let mut conn = Connection::open(&path)?;
            private_file(&path);
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            let migrated = migrate(&mut conn)?;
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            Ok((
                SqliteDb {
                    conn: Arc::new(Mutex::new(conn)),
                    dir,
                },
                migrated,
            ))
        })
        .await?
    }

    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic mid-call rolled its transaction back; the connection is still good.
            let mut c = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut c)
        })
        .await?
    }

    pub(crate) fn known_version(&self) -> i64 {
        MIGRATIONS.len() as i64
    }

    pub(crate) async fn schema_version(&self) -> Result<i64> {
        self.run(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
            .await
    }

    pub(crate) async fn create_shop(&self, n: NewShopRows) -> Result<(Shop, StaffMember, ApiKey)> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ms(n.now);
            tx.execute(
                "INSERT INTO shops (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![n.shop.0, n.name, now],
            )?;
            tx.execute(
                "INSERT INTO staff (id, shop_id, email, role, created_at) VALUES (?1, ?2, ?3, 'owner', ?4)",
                params![n.owner.0, n.shop.0, n.email, now],
            )
            .map_err(|e| if unique_violation(&e) { Error::Conflict("this email address") } else { e.into() })?;
            tx.execute(
                "INSERT INTO staff_links (hash, staff_id, purpose, created_at, expires_at) VALUES (?1, ?2, 'setup', ?3, ?4)",
                params![n.setup_hash, n.owner.0, now, now + chrono::Duration::days(super::SETUP_LINK_DAYS).num_milliseconds()],
            )?;
            tx.execute(
                "INSERT INTO api_keys (id, shop_id, name, prefix, hash, scopes, created_at) VALUES (?1, ?2, 'first key', ?3, ?4, ?5, ?6)",
                params![n.key.0, n.shop.0, n.prefix, n.key_hash, Scopes::ALL.to_string(), now],
            )?;
            let shop = tx.query_row("SELECT id, name, created_at FROM shops WHERE id = ?1", [n.shop.0], shop)?;
            let owner = tx.query_row(&format!("{STAFF} WHERE id = ?1"), [n.owner.0], staff)?;
            let key = tx.query_row(&format!("{KEY} WHERE id = ?1"), [n.key.0], key)?;
            tx.commit()?;
            Ok((shop, owner, key))
        })
        .await
    }

    pub(crate) async fn shop(&self, id: ShopId) -> Result<Shop> {
        self.run(move |c| {
            c.query_row(
                "SELECT id, name, created_at FROM shops WHERE id = ?1",
                [id.0],
                shop,
            )
            .optional()?
            .ok_or(Error::NotFound)
        })
        .await
    }

    pub(crate) async fn shops(&self) -> Result<Vec<Shop>> {
        self.run(|c| {
            let mut st = c.prepare("SELECT id, name, created_at FROM shops ORDER BY id")?;
            let rows = st.query_map([], shop)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    pub(crate) async fn add_staff(
        &self,
        shop_id: ShopId,
        email: String,
        role: Role,
        link_hash: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<StaffMember> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM shops WHERE id = ?1)", [shop_id.0], |r| r.get(0))?;
            if !exists {
                return Err(Error::NotFound);
            }
            let id = StaffId::new();
            let now = ms(now);
            tx.execute(
                "INSERT INTO staff (id, shop_id, email, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.0, shop_id.0, email, role.as_str(), now],
            )
            .map_err(|e| if unique_violation(&e) { Error::Conflict("this email address") } else { e.into() })?;
            tx.execute(
                "INSERT INTO staff_links (hash, staff_id, purpose, created_at, expires_at) VALUES (?1, ?2, 'setup', ?3, ?4)",
                params![link_hash, id.0, now, now + chrono::Duration::days(super::SETUP_LINK_DAYS).num_milliseconds()],
            )?;
            let member = tx.query_row(&format!("{STAFF} WHERE id = ?1"), [id.0], staff)?;
            tx.commit()?;
            Ok(member)
        })
        .await
    }

    pub(crate) async fn new_setup_link(
        &self,
        shop_id: ShopId,
        staff_id: StaffId,
        link_hash: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<StaffMember> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let member = tx
                .query_row(&format!("{STAFF} WHERE id = ?1 AND shop_id = ?2"), [staff_id.0, shop_id.0], staff)
                .optional()?
                .ok_or(Error::NotFound)?;
            let now = ms(now);
            // One link at a time: an older one that was not used stops working.
            tx.execute("DELETE FROM staff_links WHERE staff_id = ?1 AND used_at IS NULL", [staff_id.0])?;
            tx.execute(
                "INSERT INTO staff_links (hash, staff_id, purpose, created_at, expires_at) VALUES (?1, ?2, 'setup', ?3, ?4)",
                params![link_hash, staff_id.0, now, now + chrono::Duration::days(super::SETUP_LINK_DAYS).num_milliseconds()],
            )?;
            tx.commit()?;
            Ok(member)
        })
        .await
    }

    pub(crate) async fn remove_staff(&self, shop_id: ShopId, staff_id: StaffId) -> Result<()> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let here: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM staff WHERE id = ?1 AND shop_id = ?2)",
                [staff_id.0, shop_id.0],
                |r| r.get(0),
            )?;
            if !here {
                return Err(Error::NotFound);
            }
            tx.execute("DELETE FROM sessions WHERE staff_id = ?1", [staff_id.0])?;
            tx.execute("DELETE FROM staff_links WHERE staff_id = ?1", [staff_id.0])?;
            tx.execute("DELETE FROM staff WHERE id = ?1", [staff_id.0])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn staff(&self, shop_id: ShopId) -> Result<Vec<StaffMember>> {
        self.run(move |c| {
            let mut st = c.prepare(&format!("{STAFF} WHERE shop_id = ?1 ORDER BY id"))?;
            let rows = st
                .query_map([shop_id.0], staff)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    pub(crate) async fn setup_link_usable(
        &self,
        hash: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM staff_links WHERE hash = ?1 AND purpose = 'setup' AND used_at IS NULL AND expires_at > ?2)",
                params![hash, ms(now)],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub(crate) async fn redeem_setup_link(
        &self,
        link_hash: Vec<u8>,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<Option<StaffMember>> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ms(now);
            // The link is spent in the same statement that finds it: a second use finds nothing.
            let staff_id: Option<uuid::Uuid> = tx
                .query_row(
                    "UPDATE staff_links SET used_at = ?2 WHERE hash = ?1 AND purpose = 'setup' AND used_at IS NULL AND expires_at > ?2 RETURNING staff_id",
                    params![link_hash, now],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(staff_id) = staff_id else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE staff SET password_hash = ?2 WHERE id = ?1",
                params![staff_id, password_hash],
            )?;
            // A new password ends every session of the account.
            tx.execute("DELETE FROM sessions WHERE staff_id = ?1", [staff_id])?;
            let member = tx.query_row(&format!("{STAFF} WHERE id = ?1"), [staff_id], staff)?;
            tx.commit()?;
            Ok(Some(member))
        })
        .await
    }

    pub(crate) async fn password_of(
        &self,
        email: String,
    ) -> Result<Option<(StaffId, Option<String>)>> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT id, password_hash FROM staff WHERE email = ?1",
                [email],
                |r| Ok((StaffId(r.get(0)?), r.get(1)?)),
            )
            .optional()?)
        })
        .await
    }

    pub(crate) async fn create_session(
        &self,
        staff_id: StaffId,
        hash: Vec<u8>,
        csrf: String,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<Session> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Expired sessions are swept as new ones begin.
            tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [ms(now)])?;
            tx.execute(
                "INSERT INTO sessions (hash, staff_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, staff_id.0, csrf, ms(now), ms(expires)],
            )?;
            let s = tx.query_row(
                "SELECT st.shop_id, st.role FROM staff st WHERE st.id = ?1",
                [staff_id.0],
                |r| Ok((ShopId(r.get(0)?), r.get::<_, String>(1)?)),
            )?;
            tx.commit()?;
            Ok(Session {
                shop_id: s.0,
                staff_id,
                role: s.1.parse().unwrap_or(Role::Staff),
                csrf,
                expires_at: expires,
            })
        })
        .await
    }

    pub(crate) async fn session(
        &self,
        hash: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT st.shop_id, s.staff_id, st.role, s.csrf, s.expires_at FROM sessions s JOIN staff st ON st.id = s.staff_id WHERE s.hash = ?1 AND s.expires_at > ?2",
                params![hash, ms(now)],
                |r| {
                    Ok(Session {
                        shop_id: ShopId(r.get(0)?),
                        staff_id: StaffId(r.get(1)?),
                        role: r.get::<_, String>(2)?.parse().unwrap_or(Role::Staff),
                        csrf: r.get(3)?,
                        expires_at: time(r.get(4)?),
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    pub(crate) async fn end_session(&self, hash: Vec<u8>) -> Result<()> {
        self.run(move |c| {
            c.execute("DELETE FROM sessions WHERE hash = ?1", [hash])?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn insert_key(&self, k: &ApiKey, hash: Vec<u8>) -> Result<()> {
        let k = k.clone();
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM shops WHERE id = ?1)",
                [k.shop_id.0],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(Error::NotFound);
            }
            tx.execute(
                "INSERT INTO api_keys (id, shop_id, name, prefix, hash, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![k.id.0, k.shop_id.0, k.name, k.prefix, hash, k.scopes.to_string(), ms(k.created_at)],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn keys(&self, shop_id: ShopId) -> Result<Vec<ApiKey>> {
        self.run(move |c| {
            let mut st = c.prepare(&format!("{KEY} WHERE shop_id = ?1 ORDER BY id"))?;
            let rows = st
                .query_map([shop_id.0], key)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    pub(crate) async fn revoke_key(
        &self,
        shop_id: ShopId,
        id: KeyId,
        now: DateTime<Utc>,
    ) -> Result<ApiKey> {
        self.run(move |c| {
            c.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?3) WHERE id = ?1 AND shop_id = ?2",
                params![id.0, shop_id.0, ms(now)],
            )?;
            c.query_row(
                &format!("{KEY} WHERE id = ?1 AND shop_id = ?2"),
                params![id.0, shop_id.0],
                key,
            )
            .optional()?
            .ok_or(Error::NotFound)
        })
        .await
    }

    pub(crate) async fn authenticate_key(
        &self,
        hash: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKey>> {
        self.run(move |c| {
            let found = c
                .query_row(
                    &format!("{KEY} WHERE hash = ?1 AND revoked_at IS NULL"),
                    [&hash],
                    key,
                )
                .optional()?;
            let Some(mut k) = found else { return Ok(None) };
            let stale = k
                .last_used_at
                .is_none_or(|t| now - t >= LAST_USED_GRANULARITY);
            if stale {
                c.execute(
                    "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                    params![k.id.0, ms(now)],
                )?;
                k.last_used_at = Some(now);
            }
            Ok(Some(k))
        })
        .await
    }
}

/// Applies the missing migrations under SQLite's write lock, so processes opening a new file
/// at once take turns and the second finds the work done.
fn migrate(conn: &mut Connection) -> Result<Migrated> {
    let known = MIGRATIONS.len() as i64;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if from > known {
        return Err(Error::NewerSchema { found: from, known });
    }
    for sql in &MIGRATIONS[from as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(Migrated { from, to: known })
}

/// The database holds customers' names and addresses: its folder is the owner's alone.
fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| Error::Url(format!("cannot create {}: {e}", dir.display())))
}

fn private_file(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = path;
}
