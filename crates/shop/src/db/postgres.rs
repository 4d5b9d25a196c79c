//! The shop store on PostgreSQL: a connection pool on the process's tokio runtime. Several
//! servers may share one database; schema changes are serialised by an advisory lock.

use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use super::{LAST_USED_GRANULARITY, Migrated, NewShopRows};
use crate::{
    ApiKey, Error, KeyId, Result, Role, Scopes, Session, Shop, ShopId, StaffId, StaffMember,
};

/// The migrations, in order: version N is `MIGRATIONS[N - 1]`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_shops.sql"),
    include_str!("../../migrations/postgres/0002_hooks.sql"),
    include_str!("../../migrations/postgres/0003_webhooks_out.sql"),
    include_str!("../../migrations/postgres/0004_idempotency.sql"),
    include_str!("../../migrations/postgres/0005_tracking_links.sql"),
    include_str!("../../migrations/postgres/0006_order_contact.sql"),
    include_str!("../../migrations/postgres/0007_branding.sql"),
    include_str!("../../migrations/postgres/0008_requests_feedback.sql"),
    include_str!("../../migrations/postgres/0009_sms.sql"),
    include_str!("../../migrations/postgres/0010_push.sql"),
    include_str!("../../migrations/postgres/0011_templates.sql"),
    include_str!("../../migrations/postgres/0012_notify_settings.sql"),
    include_str!("../../migrations/postgres/0013_staff_alerts.sql"),
    include_str!("../../migrations/postgres/0014_hook_received.sql"),
    include_str!("../../migrations/postgres/0015_page_visits.sql"),
    include_str!("../../migrations/postgres/0016_carrier_accounts.sql"),
];

/// The advisory lock taken while migrating (any constant; "ptshop" in ASCII).
const MIGRATION_LOCK: i64 = 0x7074_7368_6f70;

/// Connections per server process.
const POOL_SIZE: usize = 16;

#[derive(Clone)]
pub(crate) struct PgDb {
    pub(crate) pool: Pool,
    /// Remembering webhook message ids, its table named with the server's schema (so it
    /// also runs in a transaction on a shop's schema: see `Db::messages_in_tx`).
    pub(crate) messages: super::hooks::MessagesInTx,
    /// Sealed webhook secrets lately read (see `hooks::SECRET_CACHE`).
    pub(crate) secrets: super::hooks::SecretCache,
}

fn shop(r: &Row) -> Shop {
    Shop {
        id: ShopId(r.get(0)),
        name: r.get(1),
        created_at: r.get(2),
    }
}

const STAFF: &str =
    "SELECT id, shop_id, email, role, password_hash IS NOT NULL, created_at FROM staff";

fn staff(r: &Row) -> StaffMember {
    StaffMember {
        id: StaffId(r.get(0)),
        shop_id: ShopId(r.get(1)),
        email: r.get(2),
        role: r.get::<_, String>(3).parse().unwrap_or(Role::Staff),
        password_set: r.get(4),
        created_at: r.get(5),
    }
}

const KEY: &str =
    "SELECT id, shop_id, name, prefix, scopes, created_at, last_used_at, revoked_at FROM api_keys";

fn key(r: &Row) -> ApiKey {
    ApiKey {
        id: KeyId(r.get(0)),
        shop_id: ShopId(r.get(1)),
        name: r.get(2),
        prefix: r.get(3),
        scopes: r.get::<_, String>(4).parse().unwrap_or_default(),
        created_at: r.get(5),
        last_used_at: r.get(6),
        revoked_at: r.get(7),
    }
}

fn conflict(e: tokio_postgres::Error, what: &'static str) -> Error {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        Error::Conflict(what)
    } else {
        e.into()
    }
}

impl PgDb {
    pub(crate) async fn open(url: &str) -> Result<(Self, Migrated)> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| Error::Url(format!("the PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Url(format!("the PostgreSQL pool: {e}")))?;
        let migrated = Self::migrate(&pool).await?;
        // The schema the server's tables were made in: the first on the search path.
        let schema: Option<String> = pool
            .get()
            .await?
            .query_one("SELECT current_schema()", &[])
            .await?
            .get(0);
        let schema = schema.ok_or_else(|| {
            Error::Url("the PostgreSQL URL: its search_path names no schema that exists".into())
        })?;
        let messages = super::hooks::MessagesInTx::new(&schema);
        Ok((
            PgDb {
                pool,
                messages,
                secrets: Default::default(),
            },
            migrated,
        ))
    }

    async fn migrate(pool: &Pool) -> Result<Migrated> {
        let known = MIGRATIONS.len() as i64;
        let mut client = pool.get().await?;
        let tx = client.transaction().await?;
        // Replicas starting together take turns; the later ones find the work done.
        tx.execute(
            &tx.prepare_cached("SELECT pg_advisory_xact_lock($1)")
                .await?,
            &[&MIGRATION_LOCK],
        )
        .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version bigint NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
        let from: i64 = tx
            .query_one(
                &tx.prepare_cached("SELECT coalesce(max(version), 0)::bigint FROM schema_version")
                    .await?,
                &[],
            )
            .await?
            .get(0);
        if from > known {
            return Err(Error::NewerSchema { found: from, known });
        }
        for sql in &MIGRATIONS[from as usize..] {
            tx.batch_execute(sql).await?;
        }
        if from < known {
            tx.execute(&tx.prepare_cached("DELETE FROM schema_version").await?, &[])
                .await?;
            tx.execute(
                &tx.prepare_cached("INSERT INTO schema_version (version) VALUES ($1)")
                    .await?,
                &[&known],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Migrated { from, to: known })
    }

    pub(crate) fn known_version(&self) -> i64 {
        MIGRATIONS.len() as i64
    }

    pub(crate) async fn schema_version(&self) -> Result<i64> {
        let c = self.pool.get().await?;
        Ok(c.query_one(
            &c.prepare_cached("SELECT coalesce(max(version), 0)::bigint FROM schema_version")
                .await?,
            &[],
        )
        .await?
        .get(0))
    }

    pub(crate) async fn create_shop(&self, n: NewShopRows) -> Result<(Shop, StaffMember, ApiKey)> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(
            &tx.prepare_cached("INSERT INTO shops (id, name, created_at) VALUES ($1, $2, $3)")
                .await?,
            &[&n.shop.0, &n.name, &n.now],
        )
        .await?;
        tx.execute(&tx.prepare_cached("INSERT INTO staff (id, shop_id, email, role, created_at) VALUES ($1, $2, $3, 'owner', $4)").await?,
            &[&n.owner.0, &n.shop.0, &n.email, &n.now],
        )
        .await
        .map_err(|e| conflict(e, "this email address"))?;
        let expires = n.now + Duration::days(super::SETUP_LINK_DAYS);
        tx.execute(&tx.prepare_cached("INSERT INTO staff_links (hash, staff_id, purpose, created_at, expires_at) VALUES ($1, $2, 'setup', $3, $4)").await?,
            &[&n.setup_hash, &n.owner.0, &n.now, &expires],
        )
        .await?;
        tx.execute(&tx.prepare_cached("INSERT INTO api_keys (id, shop_id, name, prefix, hash, scopes, created_at) VALUES ($1, $2, 'first key', $3, $4, $5, $6)").await?,
            &[&n.key.0, &n.shop.0, &n.prefix, &n.key_hash, &Scopes::ALL.to_string(), &n.now],
        )
        .await?;
        let s = shop(
            &tx.query_one(
                &tx.prepare_cached("SELECT id, name, created_at FROM shops WHERE id = $1")
                    .await?,
                &[&n.shop.0],
            )
            .await?,
        );
        let o = staff(
            &tx.query_one(
                &tx.prepare_cached(&format!("{STAFF} WHERE id = $1")).await?,
                &[&n.owner.0],
            )
            .await?,
        );
        let k = key(&tx
            .query_one(
                &tx.prepare_cached(&format!("{KEY} WHERE id = $1")).await?,
                &[&n.key.0],
            )
            .await?);
        tx.commit().await?;
        Ok((s, o, k))
    }

    pub(crate) async fn shop(&self, id: ShopId) -> Result<Shop> {
        let c = self.pool.get().await?;
        c.query_opt(
            &c.prepare_cached("SELECT id, name, created_at FROM shops WHERE id = $1")
                .await?,
            &[&id.0],
        )
        .await?
        .map(|r| shop(&r))
        .ok_or(Error::NotFound)
    }

    pub(crate) async fn shops(&self) -> Result<Vec<Shop>> {
        let c = self.pool.get().await?;
        Ok(c.query(
            &c.prepare_cached("SELECT id, name, created_at FROM shops ORDER BY id")
                .await?,
            &[],
        )
        .await?
        .iter()
        .map(shop)
        .collect())
    }

    pub(crate) async fn add_staff(
        &self,
        shop_id: ShopId,
        email: String,
        role: Role,
        link_hash: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<StaffMember> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        if tx
            .query_opt(
                &tx.prepare_cached("SELECT 1 FROM shops WHERE id = $1")
                    .await?,
                &[&shop_id.0],
            )
            .await?
            .is_none()
        {
            return Err(Error::NotFound);
        }
        let id = StaffId::new();
        tx.execute(&tx.prepare_cached("INSERT INTO staff (id, shop_id, email, role, created_at) VALUES ($1, $2, $3, $4, $5)").await?,
            &[&id.0, &shop_id.0, &email, &role.as_str(), &now],
        )
        .await
        .map_err(|e| conflict(e, "this email address"))?;
        let expires = now + Duration::days(super::SETUP_LINK_DAYS);
        tx.execute(&tx.prepare_cached("INSERT INTO staff_links (hash, staff_id, purpose, created_at, expires_at) VALUES ($1, $2, 'setup', $3, $4)").await?,
            &[&link_hash, &id.0, &now, &expires],
        )
        .await?;
        let m = staff(
            &tx.query_one(
                &tx.prepare_cached(&format!("{STAFF} WHERE id = $1")).await?,
                &[&id.0],
            )
            .await?,
        );
        tx.commit().await?;
        Ok(m)
    }

    pub(crate) async fn new_setup_link(
        &self,
        shop_id: ShopId,
        staff_id: StaffId,
        link_hash: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<StaffMember> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let m = staff(
            &tx.query_opt(
                &tx.prepare_cached(&format!(
                    "{STAFF} WHERE id = $1 AND shop_id = $2 FOR UPDATE"
                ))
                .await?,
                &[&staff_id.0, &shop_id.0],
            )
            .await?
            .ok_or(Error::NotFound)?,
        );
        // One link at a time: an older one that was not used stops working.
        tx.execute(
            &tx.prepare_cached("DELETE FROM staff_links WHERE staff_id = $1 AND used_at IS NULL")
                .await?,
            &[&staff_id.0],
        )
        .await?;
        let expires = now + Duration::days(super::SETUP_LINK_DAYS);
        tx.execute(&tx.prepare_cached("INSERT INTO staff_links (hash, staff_id, purpose, created_at, expires_at) VALUES ($1, $2, 'setup', $3, $4)").await?,
            &[&link_hash, &staff_id.0, &now, &expires],
        )
        .await?;
        tx.commit().await?;
        Ok(m)
    }

    pub(crate) async fn remove_staff(&self, shop_id: ShopId, staff_id: StaffId) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        if tx
            .query_opt(
                &tx.prepare_cached("SELECT 1 FROM staff WHERE id = $1 AND shop_id = $2 FOR UPDATE")
                    .await?,
                &[&staff_id.0, &shop_id.0],
            )
            .await?
            .is_none()
        {
            return Err(Error::NotFound);
        }
        for sql in [
            "DELETE FROM sessions WHERE staff_id = $1",
            "DELETE FROM staff_links WHERE staff_id = $1",
            "DELETE FROM staff WHERE id = $1",
        ] {
            tx.execute(&tx.prepare_cached(sql).await?, &[&staff_id.0])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn staff(&self, shop_id: ShopId) -> Result<Vec<StaffMember>> {
        let c = self.pool.get().await?;
        Ok(c.query(
            &c.prepare_cached(&format!("{STAFF} WHERE shop_id = $1 ORDER BY id"))
                .await?,
            &[&shop_id.0],
        )
        .await?
        .iter()
        .map(staff)
        .collect())
    }

    pub(crate) async fn setup_link_usable(
        &self,
        hash: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(&c.prepare_cached("SELECT 1 FROM staff_links WHERE hash = $1 AND purpose = 'setup' AND used_at IS NULL AND expires_at > $2").await?,
            &[&hash, &now],
        )
        .await?
        .is_some())
    }

    pub(crate) async fn redeem_setup_link(
        &self,
        link_hash: Vec<u8>,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<Option<StaffMember>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // The link is spent in the same statement that finds it: a second use finds nothing.
        let Some(row) = tx
            .query_opt(&tx.prepare_cached("UPDATE staff_links SET used_at = $2 WHERE hash = $1 AND purpose = 'setup' AND used_at IS NULL AND expires_at > $2 RETURNING staff_id").await?,
                &[&link_hash, &now],
            )
            .await?
        else {
            return Ok(None);
        };
        let staff_id: Uuid = row.get(0);
        tx.execute(
            &tx.prepare_cached("UPDATE staff SET password_hash = $2 WHERE id = $1")
                .await?,
            &[&staff_id, &password_hash],
        )
        .await?;
        // A new password ends every session of the account.
        tx.execute(
            &tx.prepare_cached("DELETE FROM sessions WHERE staff_id = $1")
                .await?,
            &[&staff_id],
        )
        .await?;
        let m = staff(
            &tx.query_one(
                &tx.prepare_cached(&format!("{STAFF} WHERE id = $1")).await?,
                &[&staff_id],
            )
            .await?,
        );
        tx.commit().await?;
        Ok(Some(m))
    }

    pub(crate) async fn password_of(
        &self,
        email: String,
    ) -> Result<Option<(StaffId, Option<String>)>> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(
            &c.prepare_cached("SELECT id, password_hash FROM staff WHERE email = $1")
                .await?,
            &[&email],
        )
        .await?
        .map(|r| (StaffId(r.get(0)), r.get(1))))
    }

    pub(crate) async fn create_session(
        &self,
        staff_id: StaffId,
        hash: Vec<u8>,
        csrf: String,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<Session> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Expired sessions are swept as new ones begin.
        tx.execute(
            &tx.prepare_cached("DELETE FROM sessions WHERE expires_at <= $1")
                .await?,
            &[&now],
        )
        .await?;
        tx.execute(&tx.prepare_cached("INSERT INTO sessions (hash, staff_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)").await?,
            &[&hash, &staff_id.0, &csrf, &now, &expires],
        )
        .await?;
        let r = tx
            .query_one(
                &tx.prepare_cached("SELECT shop_id, role FROM staff WHERE id = $1")
                    .await?,
                &[&staff_id.0],
            )
            .await?;
        tx.commit().await?;
        Ok(Session {
            shop_id: ShopId(r.get(0)),
            staff_id,
            role: r.get::<_, String>(1).parse().unwrap_or(Role::Staff),
            csrf,
            expires_at: expires,
        })
    }

    pub(crate) async fn session(
        &self,
        hash: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(&c.prepare_cached("SELECT st.shop_id, s.staff_id, st.role, s.csrf, s.expires_at FROM sessions s JOIN staff st ON st.id = s.staff_id WHERE s.hash = $1 AND s.expires_at > $2").await?,
            &[&hash, &now],
        )
        .await?
        .map(|r| Session {
            shop_id: ShopId(r.get(0)),
            staff_id: StaffId(r.get(1)),
            role: r.get::<_, String>(2).parse().unwrap_or(Role::Staff),
            csrf: r.get(3),
            expires_at: r.get(4),
        }))
    }

    pub(crate) async fn end_session(&self, hash: Vec<u8>) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(
            &c.prepare_cached("DELETE FROM sessions WHERE hash = $1")
                .await?,
            &[&hash],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn insert_key(&self, k: &ApiKey, hash: Vec<u8>) -> Result<()> {
        let c = self.pool.get().await?;
        // Inserted only if the shop exists, in one statement.
        let n = c
            .execute(&c.prepare_cached("INSERT INTO api_keys (id, shop_id, name, prefix, hash, scopes, created_at) SELECT $1, id, $3, $4, $5, $6, $7 FROM shops WHERE id = $2").await?,
                &[&k.id.0, &k.shop_id.0, &k.name, &k.prefix, &hash, &k.scopes.to_string(), &k.created_at],
            )
            .await?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    pub(crate) async fn keys(&self, shop_id: ShopId) -> Result<Vec<ApiKey>> {
        let c = self.pool.get().await?;
        Ok(c.query(
            &c.prepare_cached(&format!("{KEY} WHERE shop_id = $1 ORDER BY id"))
                .await?,
            &[&shop_id.0],
        )
        .await?
        .iter()
        .map(key)
        .collect())
    }

    pub(crate) async fn revoke_key(
        &self,
        shop_id: ShopId,
        id: KeyId,
        now: DateTime<Utc>,
    ) -> Result<ApiKey> {
        let c = self.pool.get().await?;
        c.query_opt(&c.prepare_cached("UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3) WHERE id = $1 AND shop_id = $2 RETURNING id, shop_id, name, prefix, scopes, created_at, last_used_at, revoked_at").await?,
            &[&id.0, &shop_id.0, &now],
        )
        .await?
        .map(|r| key(&r))
        .ok_or(Error::NotFound)
    }

    pub(crate) async fn authenticate_key(
        &self,
        hash: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKey>> {
        let c = self.pool.get().await?;
        let Some(row) = c
            .query_opt(
                &c.prepare_cached(&format!("{KEY} WHERE hash = $1 AND revoked_at IS NULL"))
                    .await?,
                &[&hash],
            )
            .await?
        else {
            return Ok(None);
        };
        let mut k = key(&row);
        if k.last_used_at
            .is_none_or(|t| now - t >= LAST_USED_GRANULARITY)
        {
            c.execute(
                &c.prepare_cached("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                    .await?,
                &[&k.id.0, &now],
            )
            .await?;
            k.last_used_at = Some(now);
        }
        Ok(Some(k))
    }
}
