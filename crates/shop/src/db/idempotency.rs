//! The first answer to each `Idempotency-Key`, per shop: a retried request gets it again and
//! changes nothing. The first request claims the key (with a lease, so a claim whose server
//! died ends), runs, then records its answer; a repeat of a key whose first run is still
//! going is told so, and the same key with a different request is refused.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Db, trunc};
use crate::{Result, ShopId};

/// How long an answer is kept for repeats.
pub const IDEMPOTENCY_HOURS: i64 = 24;
/// How long a first request may run before a repeat may take its key over.
pub const IDEMPOTENCY_LEASE_SECS: i64 = 60;

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotent {
    /// The first request with this key: run it, then [`Db::finish_idempotent`] (or, if it
    /// failed on the server's side, [`Db::abandon_idempotent`]).
    Run,
    /// Seen before: answer this again.
    Replay {
        /// The HTTP status.
        status: u16,
        /// Its content type.
        content_type: Option<String>,
        /// Its body.
        body: Vec<u8>,
    },
    /// The first request with this key has not finished.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// A stored row, as both backends read it.
struct Stored {
    fingerprint: Vec<u8>,
    status: Option<i32>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
    locked_until: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

/// Decides from the stored row; `None` means the caller takes the key (a fresh claim).
fn decide(row: &Stored, fingerprint: &[u8], now: DateTime<Utc>) -> Option<Idempotent> {
    if row.created_at + Duration::hours(IDEMPOTENCY_HOURS) <= now {
        return None;
    }
    if row.fingerprint != fingerprint {
        return Some(Idempotent::Mismatch);
    }
    match row.status {
        Some(status) => Some(Idempotent::Replay {
            status: status as u16,
            content_type: row.content_type.clone(),
            body: row.body.clone().unwrap_or_default(),
        }),
        None if row.locked_until > now => Some(Idempotent::InProgress),
        // Its first run's server died: this repeat runs it.
        None => None,
    }
}

impl Db {
    /// Claims `key` for a request (`fingerprint`: a digest of what it asks), or says what
    /// became of its first use.
    pub async fn begin_idempotent(
        &self,
        shop: ShopId,
        key: &str,
        fingerprint: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Idempotent> {
        let (key, fp, now) = (key.to_owned(), fingerprint.to_vec(), trunc(now));
        match &self.0 {
            super::Backend::Sqlite(db) => db.begin_idempotent(shop, key, fp, now).await,
            super::Backend::Postgres(db) => db.begin_idempotent(shop, key, fp, now).await,
        }
    }

    /// Records the first answer for `key`.
    pub async fn finish_idempotent(
        &self,
        shop: ShopId,
        key: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<()> {
        let (key, ct, body) = (
            key.to_owned(),
            content_type.map(str::to_owned),
            body.to_vec(),
        );
        match &self.0 {
            super::Backend::Sqlite(db) => db.finish_idempotent(shop, key, status, ct, body).await,
            super::Backend::Postgres(db) => db.finish_idempotent(shop, key, status, ct, body).await,
        }
    }

    /// Gives `key` up (its request failed on the server's side): a retry runs afresh.
    pub async fn abandon_idempotent(&self, shop: ShopId, key: &str) -> Result<()> {
        let key = key.to_owned();
        match &self.0 {
            super::Backend::Sqlite(db) => db.abandon_idempotent(shop, key).await,
            super::Backend::Postgres(db) => db.abandon_idempotent(shop, key).await,
        }
    }

    /// Forgets answers older than [`IDEMPOTENCY_HOURS`]; returns how many.
    pub async fn prune_idempotent(&self, now: DateTime<Utc>) -> Result<u64> {
        let cutoff = trunc(now - Duration::hours(IDEMPOTENCY_HOURS));
        match &self.0 {
            super::Backend::Sqlite(db) => db.prune_idempotent(cutoff).await,
            super::Backend::Postgres(db) => db.prune_idempotent(cutoff).await,
        }
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl SqliteDb {
    async fn begin_idempotent(
        &self,
        shop: ShopId,
        key: String,
        fp: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Idempotent> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row = tx
                .query_row(
                    "SELECT fingerprint, status, content_type, body, locked_until, created_at
                     FROM idempotency_keys WHERE shop_id = ?1 AND key = ?2",
                    params![shop.0, key],
                    |r| {
                        Ok(Stored {
                            fingerprint: r.get(0)?,
                            status: r.get(1)?,
                            content_type: r.get(2)?,
                            body: r.get(3)?,
                            locked_until: time(r.get(4)?),
                            created_at: time(r.get(5)?),
                        })
                    },
                )
                .optional()?;
            if let Some(answer) = row.as_ref().and_then(|r| decide(r, &fp, now)) {
                return Ok(answer);
            }
            let lease = now + Duration::seconds(IDEMPOTENCY_LEASE_SECS);
            tx.execute(
                "INSERT INTO idempotency_keys (shop_id, key, fingerprint, locked_until, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (shop_id, key) DO UPDATE SET fingerprint = ?3, status = NULL,
                    content_type = NULL, body = NULL, locked_until = ?4, created_at = ?5",
                params![shop.0, key, fp, ms(lease), ms(now)],
            )?;
            tx.commit()?;
            Ok(Idempotent::Run)
        })
        .await
    }

    async fn finish_idempotent(
        &self,
        shop: ShopId,
        key: String,
        status: u16,
        ct: Option<String>,
        body: Vec<u8>,
    ) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "UPDATE idempotency_keys SET status = ?3, content_type = ?4, body = ?5
                 WHERE shop_id = ?1 AND key = ?2",
                params![shop.0, key, status, ct, body],
            )?;
            Ok(())
        })
        .await
    }

    async fn abandon_idempotent(&self, shop: ShopId, key: String) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "DELETE FROM idempotency_keys WHERE shop_id = ?1 AND key = ?2 AND status IS NULL",
                params![shop.0, key],
            )?;
            Ok(())
        })
        .await
    }

    async fn prune_idempotent(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        self.run(move |c| {
            Ok(c.execute(
                "DELETE FROM idempotency_keys WHERE created_at < ?1",
                [ms(cutoff)],
            )? as u64)
        })
        .await
    }
}

impl PgDb {
    async fn begin_idempotent(
        &self,
        shop: ShopId,
        key: String,
        fp: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Idempotent> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let lease = now + Duration::seconds(IDEMPOTENCY_LEASE_SECS);
        // Of two first uses at once, one inserts; the other waits on its row lock below.
        let inserted = tx
            .execute(&tx.prepare_cached("INSERT INTO idempotency_keys (shop_id, key, fingerprint, locked_until, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (shop_id, key) DO NOTHING").await?,
                &[&shop.0, &key, &fp, &lease, &now],
            )
            .await?;
        if inserted == 1 {
            tx.commit().await?;
            return Ok(Idempotent::Run);
        }
        let r = tx
            .query_one(
                &tx.prepare_cached(
                    "SELECT fingerprint, status, content_type, body, locked_until, created_at
                 FROM idempotency_keys WHERE shop_id = $1 AND key = $2 FOR UPDATE",
                )
                .await?,
                &[&shop.0, &key],
            )
            .await?;
        let row = Stored {
            fingerprint: r.get(0),
            status: r.get(1),
            content_type: r.get(2),
            body: r.get(3),
            locked_until: r.get(4),
            created_at: r.get(5),
        };
        if let Some(answer) = decide(&row, &fp, now) {
            return Ok(answer);
        }
        tx.execute(
            &tx.prepare_cached(
                "UPDATE idempotency_keys SET fingerprint = $3, status = NULL, content_type = NULL,
                body = NULL, locked_until = $4, created_at = $5
             WHERE shop_id = $1 AND key = $2",
            )
            .await?,
            &[&shop.0, &key, &fp, &lease, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(Idempotent::Run)
    }

    async fn finish_idempotent(
        &self,
        shop: ShopId,
        key: String,
        status: u16,
        ct: Option<String>,
        body: Vec<u8>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(
            &c.prepare_cached(
                "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5
             WHERE shop_id = $1 AND key = $2",
            )
            .await?,
            &[&shop.0, &key, &(status as i32), &ct, &body],
        )
        .await?;
        Ok(())
    }

    async fn abandon_idempotent(&self, shop: ShopId, key: String) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(
            &c.prepare_cached(
                "DELETE FROM idempotency_keys WHERE shop_id = $1 AND key = $2 AND status IS NULL",
            )
            .await?,
            &[&shop.0, &key],
        )
        .await?;
        Ok(())
    }

    async fn prune_idempotent(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute(
            &c.prepare_cached("DELETE FROM idempotency_keys WHERE created_at < $1")
                .await?,
            &[&cutoff],
        )
        .await?)
    }
}
