//! Webhooks' storage: each shop's sealed signing secret per source, and the message ids
//! already handled. Every query is scoped by the shop's id.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use tokio_postgres::error::SqlState;

use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Backend, Db, MAX_NAME, trunc};
use crate::hooks::{HookSource, MAX_MESSAGE_ID};
use crate::{Error, Result, ShopId, auth};

/// The longest sealed secret stored (a secret of at most `hooks::MAX_SECRET` bytes and the
/// seal's 41).
const MAX_SEALED: usize = 2_048;

/// How long a replica on PostgreSQL trusts a sealed secret it read (or its absence) before
/// reading it again: every delivery needs it, and it is a round trip the delivery waits
/// for. A replica that sets or removes a secret forgets its copy at once; other replicas
/// follow within this time.
pub(crate) const SECRET_CACHE: std::time::Duration = std::time::Duration::from_secs(2);

/// Sealed secrets by shop and source, with when each was read.
pub(crate) type SecretCache = std::sync::Arc<std::sync::Mutex<Secrets>>;
pub(crate) type Secrets =
    std::collections::HashMap<(ShopId, HookSource), (Option<Vec<u8>>, std::time::Instant)>;

/// A shop's webhook secret, described (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookSecretInfo {
    /// Its source.
    pub source: HookSource,
    /// When it was set.
    pub set_at: DateTime<Utc>,
    /// Who set it.
    pub set_by: String,
    /// When a delivery from it was last accepted (to the minute).
    pub last_received_at: Option<DateTime<Utc>>,
}

fn message_id(id: &str) -> Result<String> {
    if id.is_empty() || id.len() > MAX_MESSAGE_ID || id.contains('\0') {
        return Err(Error::invalid(
            "message_id",
            format!("use 1 to {MAX_MESSAGE_ID} bytes of text"),
        ));
    }
    Ok(id.to_owned())
}

fn source_of(s: &str) -> HookSource {
    // The table's CHECK admits only the sources' names.
    s.parse().unwrap_or(HookSource::Standard)
}

impl Db {
    /// Sets (or replaces) the shop's secret for `source`, already sealed
    /// (`hooks::seal_secret`), recording who set it and when.
    pub async fn set_hook_secret(
        &self,
        shop: ShopId,
        source: HookSource,
        sealed: &[u8],
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let by = auth::normalise_name("set_by", by, MAX_NAME)?;
        if sealed.is_empty() || sealed.len() > MAX_SEALED {
            return Err(Error::invalid(
                "sealed",
                format!("a sealed secret is 1 to {MAX_SEALED} bytes"),
            ));
        }
        let sealed = sealed.to_vec();
        each!(self, db => db.set_hook_secret(shop, source, sealed, by, trunc(now)).await)
    }

    /// The shop's sealed secret for `source`, if one is set. On PostgreSQL as read at most
    /// 2 s ago by this process (which forgets it when it sets or removes it).
    pub async fn hook_secret(&self, shop: ShopId, source: HookSource) -> Result<Option<Vec<u8>>> {
        each!(self, db => db.hook_secret(shop, source).await)
    }

    /// Which sources the shop has a secret for, and when and by whom each was set, by source
    /// name. The secrets themselves are not read.
    pub async fn hook_secret_info(&self, shop: ShopId) -> Result<Vec<HookSecretInfo>> {
        each!(self, db => db.hook_secret_info(shop).await)
    }

    /// Notes that `source` delivered to the shop at `now`: written when the last note is a
    /// minute old or more, so a burst of deliveries writes once.
    pub async fn hook_received(
        &self,
        shop: ShopId,
        source: HookSource,
        now: DateTime<Utc>,
    ) -> Result<()> {
        each!(self, db => db.hook_received(shop, source, now).await)
    }

    /// Removes the shop's secret for `source`; whether there was one.
    pub async fn delete_hook_secret(&self, shop: ShopId, source: HookSource) -> Result<bool> {
        each!(self, db => db.delete_hook_secret(shop, source).await)
    }

    /// Whether a message id from `source` was already remembered for the shop (checked
    /// before ingesting; see `hooks` for the order).
    pub async fn message_seen(&self, shop: ShopId, source: HookSource, id: &str) -> Result<bool> {
        let id = message_id(id)?;
        each!(self, db => db.message_seen(shop, source, id).await)
    }

    /// Remembers a message id once its ingest committed: true the first time, false when it
    /// was already there. Atomic: of two calls at once, exactly one gets true.
    pub async fn remember_message(
        &self,
        shop: ShopId,
        source: HookSource,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let id = message_id(id)?;
        each!(self, db => db.remember_message(shop, source, id.clone(), trunc(now)).await)
    }

    /// Remembers several message ids of the shop at once, in one transaction (the ids of a
    /// group of deliveries ingested together: one commit, not one each); how many were new.
    pub async fn remember_messages(
        &self,
        shop: ShopId,
        ids: &[(HookSource, String)],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids = checked(ids)?;
        each!(self, db => db.remember_messages(shop, ids, trunc(now)).await)
    }

    /// On PostgreSQL, the way to remember message ids inside another transaction on the same
    /// database (a shop's group ingest: one commit for both); `None` on SQLite, where the
    /// shops' stores are other files.
    pub(crate) fn messages_in_tx(&self) -> Option<MessagesInTx> {
        match &self.0 {
            super::Backend::Sqlite(_) => None,
            super::Backend::Postgres(db) => Some(db.messages.clone()),
        }
    }

    /// Forgets message ids remembered before `cutoff` (every shop's; run now minus
    /// `hooks::MESSAGE_RETENTION`); how many.
    pub async fn forget_messages_before(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        each!(self, db => db.forget_messages_before(trunc(cutoff)).await)
    }
}

/// Message ids checked for storing, in order.
fn checked(ids: &[(HookSource, String)]) -> Result<Vec<(HookSource, String)>> {
    ids.iter()
        .map(|(source, id)| Ok((*source, message_id(id)?)))
        .collect()
}

/// [`Db::remember_messages`] on PostgreSQL, through the pool or inside a transaction of the
/// caller's (see [`Db::messages_in_tx`]).
#[derive(Clone)]
pub(crate) struct MessagesInTx {
    /// The insert, its table named with the server's schema (made once, at open).
    insert: std::sync::Arc<str>,
    /// The same, answering which ids were new.
    insert_returning: std::sync::Arc<str>,
}

impl MessagesInTx {
    /// For the server's tables in `schema`.
    pub(crate) fn new(schema: &str) -> Self {
        let schema = format!("\"{}\"", schema.replace('"', "\"\""));
        let insert = format!(
            "INSERT INTO {schema}.hook_messages (shop_id, source, message_id, seen_at)
             SELECT $1, s, m, $4 FROM unnest($2::text[], $3::text[]) AS t (s, m)
             ON CONFLICT DO NOTHING"
        );
        MessagesInTx {
            insert_returning: format!("{insert} RETURNING source, message_id").into(),
            insert: insert.into(),
        }
    }

    /// Remembers `ids` of `shop` in `tx`; those that were new, as (source, id) (an id
    /// already there is a replay).
    pub(crate) async fn remember(
        &self,
        tx: &crate::tracking::Tx<'_>,
        shop: ShopId,
        ids: &[(HookSource, String)],
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (sources, ids): (Vec<&str>, Vec<String>) = checked(ids)?
            .into_iter()
            .map(|(s, id)| (s.as_str(), id))
            .unzip();
        let stmt = tx.prepare_cached(&self.insert_returning).await?;
        let rows = tx
            .query(&stmt, &[&shop.0, &sources, &ids, &trunc(now)])
            .await
            .map_err(pg_fk)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// One statement for checked ids: on a pooled connection, its own transaction.
    async fn insert(
        &self,
        c: &impl deadpool_postgres::GenericClient,
        shop: ShopId,
        ids: Vec<(HookSource, String)>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let (sources, ids): (Vec<&str>, Vec<String>) =
            ids.into_iter().map(|(s, id)| (s.as_str(), id)).unzip();
        let stmt = c.prepare_cached(&self.insert).await?;
        Ok(c.execute(&stmt, &[&shop.0, &sources, &ids, &now])
            .await
            .map_err(pg_fk)? as usize)
    }
}

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A foreign key that names no shop: the shop is not there.
pub(super) fn sqlite_fk(e: rusqlite::Error) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            Error::NotFound
        }
        _ => e.into(),
    }
}

impl SqliteDb {
    async fn set_hook_secret(
        &self,
        shop: ShopId,
        source: HookSource,
        sealed: Vec<u8>,
        by: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO hook_secrets (shop_id, source, sealed, set_at, set_by) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (shop_id, source) DO UPDATE SET sealed = excluded.sealed, set_at = excluded.set_at, set_by = excluded.set_by",
                params![shop.0, source.as_str(), sealed, ms(now), by],
            )
            .map_err(sqlite_fk)?;
            Ok(())
        })
        .await
    }

    async fn hook_secret(&self, shop: ShopId, source: HookSource) -> Result<Option<Vec<u8>>> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT sealed FROM hook_secrets WHERE shop_id = ?1 AND source = ?2",
                params![shop.0, source.as_str()],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn hook_secret_info(&self, shop: ShopId) -> Result<Vec<HookSecretInfo>> {
        self.run(move |c| {
            let mut st = c.prepare(
                "SELECT source, set_at, set_by, last_received_at FROM hook_secrets WHERE shop_id = ?1 ORDER BY source",
            )?;
            let rows = st
                .query_map([shop.0], |r| {
                    Ok(HookSecretInfo {
                        source: source_of(&r.get::<_, String>(0)?),
                        set_at: DateTime::from_timestamp_millis(r.get(1)?).unwrap_or_default(),
                        set_by: r.get(2)?,
                        last_received_at: r
                            .get::<_, Option<i64>>(3)?
                            .and_then(DateTime::from_timestamp_millis),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn hook_received(
        &self,
        shop: ShopId,
        source: HookSource,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            c.prepare_cached(
                "UPDATE hook_secrets SET last_received_at = ?3
                 WHERE shop_id = ?1 AND source = ?2
                   AND (last_received_at IS NULL OR last_received_at <= ?3 - 60000)",
            )?
            .execute(params![shop.0, source.as_str(), ms(now)])?;
            Ok(())
        })
        .await
    }

    async fn delete_hook_secret(&self, shop: ShopId, source: HookSource) -> Result<bool> {
        self.run(move |c| {
            Ok(c.execute(
                "DELETE FROM hook_secrets WHERE shop_id = ?1 AND source = ?2",
                params![shop.0, source.as_str()],
            )? > 0)
        })
        .await
    }

    async fn message_seen(&self, shop: ShopId, source: HookSource, id: String) -> Result<bool> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM hook_messages WHERE shop_id = ?1 AND source = ?2 AND message_id = ?3)",
                params![shop.0, source.as_str(), id],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn remember_message(
        &self,
        shop: ShopId,
        source: HookSource,
        id: String,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.run(move |c| {
            Ok(c.execute(
                "INSERT INTO hook_messages (shop_id, source, message_id, seen_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![shop.0, source.as_str(), id, ms(now)],
            )
            .map_err(sqlite_fk)?
                > 0)
        })
        .await
    }

    async fn remember_messages(
        &self,
        shop: ShopId,
        ids: Vec<(HookSource, String)>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut new = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO hook_messages (shop_id, source, message_id, seen_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )?;
                for (source, id) in &ids {
                    new += insert
                        .execute(params![shop.0, source.as_str(), id, ms(now)])
                        .map_err(sqlite_fk)?;
                }
            }
            tx.commit()?;
            Ok(new)
        })
        .await
    }

    async fn forget_messages_before(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        self.run(move |c| {
            Ok(c.execute("DELETE FROM hook_messages WHERE seen_at < ?1", [ms(cutoff)])?)
        })
        .await
    }
}

/// A foreign key that names no shop: the shop is not there.
pub(super) fn pg_fk(e: tokio_postgres::Error) -> Error {
    if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
        Error::NotFound
    } else {
        e.into()
    }
}

impl PgDb {
    async fn set_hook_secret(
        &self,
        shop: ShopId,
        source: HookSource,
        sealed: Vec<u8>,
        by: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(&c.prepare_cached("INSERT INTO hook_secrets (shop_id, source, sealed, set_at, set_by) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (shop_id, source) DO UPDATE SET sealed = excluded.sealed, set_at = excluded.set_at, set_by = excluded.set_by").await?,
            &[&shop.0, &source.as_str(), &sealed, &now, &by],
        )
        .await
        .map_err(pg_fk)?;
        self.secrets().remove(&(shop, source));
        Ok(())
    }

    fn secrets(&self) -> std::sync::MutexGuard<'_, Secrets> {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn hook_secret(&self, shop: ShopId, source: HookSource) -> Result<Option<Vec<u8>>> {
        if let Some((sealed, at)) = self.secrets().get(&(shop, source))
            && at.elapsed() < SECRET_CACHE
        {
            return Ok(sealed.clone());
        }
        let read = std::time::Instant::now();
        let sealed = self.read_hook_secret(shop, source).await?;
        let mut cache = self.secrets();
        // Shops come and go; entries past their time are of no use.
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at)| at.elapsed() < SECRET_CACHE);
        }
        cache.insert((shop, source), (sealed.clone(), read));
        Ok(sealed)
    }

    async fn read_hook_secret(&self, shop: ShopId, source: HookSource) -> Result<Option<Vec<u8>>> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(
            &c.prepare_cached("SELECT sealed FROM hook_secrets WHERE shop_id = $1 AND source = $2")
                .await?,
            &[&shop.0, &source.as_str()],
        )
        .await?
        .map(|r| r.get(0)))
    }

    async fn hook_secret_info(&self, shop: ShopId) -> Result<Vec<HookSecretInfo>> {
        let c = self.pool.get().await?;
        // Ordered as SQLite orders text (bytewise), so both list alike.
        Ok(c.query(&c.prepare_cached(
            "SELECT source, set_at, set_by, last_received_at FROM hook_secrets WHERE shop_id = $1 ORDER BY source COLLATE \"C\"").await?,
            &[&shop.0],
        )
        .await?
        .iter()
        .map(|r| HookSecretInfo {
            source: source_of(r.get(0)),
            set_at: r.get(1),
            set_by: r.get(2),
            last_received_at: r.get(3),
        })
        .collect())
    }

    async fn hook_received(
        &self,
        shop: ShopId,
        source: HookSource,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(
            &c.prepare_cached(
                "UPDATE hook_secrets SET last_received_at = $3
                 WHERE shop_id = $1 AND source = $2
                   AND (last_received_at IS NULL OR last_received_at <= $3::timestamptz - interval '1 minute')",
            )
            .await?,
            &[&shop.0, &source.as_str(), &now],
        )
        .await?;
        Ok(())
    }

    async fn delete_hook_secret(&self, shop: ShopId, source: HookSource) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached("DELETE FROM hook_secrets WHERE shop_id = $1 AND source = $2")
            .await?;
        let gone = c.execute(&stmt, &[&shop.0, &source.as_str()]).await? > 0;
        self.secrets().remove(&(shop, source));
        Ok(gone)
    }

    async fn message_seen(&self, shop: ShopId, source: HookSource, id: String) -> Result<bool> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(&c.prepare_cached("SELECT 1 FROM hook_messages WHERE shop_id = $1 AND source = $2 AND message_id = $3").await?,
            &[&shop.0, &source.as_str(), &id],
        )
        .await?
        .is_some())
    }

    async fn remember_message(
        &self,
        shop: ShopId,
        source: HookSource,
        id: String,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let c = self.pool.get().await?;
        Ok(c.execute(&c.prepare_cached("INSERT INTO hook_messages (shop_id, source, message_id, seen_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING").await?,
            &[&shop.0, &source.as_str(), &id, &now],
        )
        .await
        .map_err(pg_fk)?
            > 0)
    }

    async fn remember_messages(
        &self,
        shop: ShopId,
        ids: Vec<(HookSource, String)>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let c = self.pool.get().await?;
        self.messages.insert(&c, shop, ids, now).await
    }

    async fn forget_messages_before(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        let c = self.pool.get().await?;
        Ok(c.execute(
            &c.prepare_cached("DELETE FROM hook_messages WHERE seen_at < $1")
                .await?,
            &[&cutoff],
        )
        .await? as usize)
    }
}
