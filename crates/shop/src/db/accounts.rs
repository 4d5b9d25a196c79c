//! A shop's own carrier accounts: sealed credentials per carrier, and the fingerprint the
//! background work compares to notice a change made on any replica. Every query is scoped
//! by the shop's id.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::hooks::{ms, pg_fk, sqlite_fk};
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Backend, Db, MAX_NAME, trunc};
use crate::accounts::MAX_SEALED;
use crate::{Error, Result, ShopId, auth};

/// One of the shop's carrier accounts, sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierAccount {
    /// The carrier's id (`ups`, `fedex`, `usps`, `dhl`, `17track`).
    pub carrier: String,
    /// The credentials, sealed (`accounts::seal`).
    pub sealed: Vec<u8>,
    /// When they were set.
    pub set_at: DateTime<Utc>,
    /// Who set them.
    pub set_by: String,
}

/// What changes when any of a shop's accounts is set or removed: how many there are and the
/// newest's time. Compared, not interpreted.
pub type AccountsFingerprint = (i64, Option<DateTime<Utc>>);

impl Db {
    /// Sets (or replaces) the shop's account at `carrier`, already sealed.
    pub async fn set_carrier_account(
        &self,
        shop: ShopId,
        carrier: &str,
        sealed: &[u8],
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let by = auth::normalise_name("set_by", by, MAX_NAME)?;
        if sealed.is_empty() || sealed.len() > MAX_SEALED {
            return Err(Error::invalid(
                "sealed",
                format!("sealed credentials are 1 to {MAX_SEALED} bytes"),
            ));
        }
        let (carrier, sealed) = (carrier.to_owned(), sealed.to_vec());
        each!(self, db => db.set_carrier_account(shop, carrier, sealed, by, trunc(now)).await)
    }

    /// The shop's accounts, by carrier id.
    pub async fn carrier_accounts(&self, shop: ShopId) -> Result<Vec<CarrierAccount>> {
        each!(self, db => db.carrier_accounts(shop).await)
    }

    /// Removes the shop's account at `carrier`; whether there was one.
    pub async fn remove_carrier_account(&self, shop: ShopId, carrier: &str) -> Result<bool> {
        let carrier = carrier.to_owned();
        each!(self, db => db.remove_carrier_account(shop, carrier).await)
    }

    /// Every shop's [`AccountsFingerprint`] (shops without accounts are absent).
    pub async fn carrier_account_fingerprints(
        &self,
    ) -> Result<std::collections::HashMap<ShopId, AccountsFingerprint>> {
        each!(self, db => db.carrier_account_fingerprints().await)
    }
}

impl SqliteDb {
    async fn set_carrier_account(
        &self,
        shop: ShopId,
        carrier: String,
        sealed: Vec<u8>,
        by: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            // A replacement's time is always later than the one it replaces, so the
            // fingerprint changes even within one millisecond.
            c.execute(
                "INSERT INTO carrier_accounts (shop_id, carrier, sealed, set_at, set_by) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (shop_id, carrier) DO UPDATE SET sealed = excluded.sealed,
                   set_at = max(excluded.set_at, carrier_accounts.set_at + 1), set_by = excluded.set_by",
                params![shop.0, carrier, sealed, ms(now), by],
            )
            .map_err(sqlite_fk)?;
            Ok(())
        })
        .await
    }

    async fn carrier_accounts(&self, shop: ShopId) -> Result<Vec<CarrierAccount>> {
        self.run(move |c| {
            let mut st = c.prepare(
                "SELECT carrier, sealed, set_at, set_by FROM carrier_accounts WHERE shop_id = ?1 ORDER BY carrier",
            )?;
            let rows = st
                .query_map([shop.0], |r| {
                    Ok(CarrierAccount {
                        carrier: r.get(0)?,
                        sealed: r.get(1)?,
                        set_at: DateTime::from_timestamp_millis(r.get(2)?).unwrap_or_default(),
                        set_by: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn remove_carrier_account(&self, shop: ShopId, carrier: String) -> Result<bool> {
        self.run(move |c| {
            Ok(c.execute(
                "DELETE FROM carrier_accounts WHERE shop_id = ?1 AND carrier = ?2",
                params![shop.0, carrier],
            )? > 0)
        })
        .await
    }

    async fn carrier_account_fingerprints(
        &self,
    ) -> Result<std::collections::HashMap<ShopId, AccountsFingerprint>> {
        self.run(move |c| {
            let mut st = c.prepare_cached(
                "SELECT shop_id, count(*), max(set_at) FROM carrier_accounts GROUP BY shop_id",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        ShopId(r.get(0)?),
                        (
                            r.get(1)?,
                            r.get::<_, Option<i64>>(2)?
                                .and_then(DateTime::from_timestamp_millis),
                        ),
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }
}

impl PgDb {
    async fn set_carrier_account(
        &self,
        shop: ShopId,
        carrier: String,
        sealed: Vec<u8>,
        by: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(
            &c.prepare_cached(
                "INSERT INTO carrier_accounts (shop_id, carrier, sealed, set_at, set_by) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (shop_id, carrier) DO UPDATE SET sealed = excluded.sealed,
                   set_at = greatest(excluded.set_at, carrier_accounts.set_at + interval '1 millisecond'),
                   set_by = excluded.set_by",
            )
            .await?,
            &[&shop.0, &carrier, &sealed, &now, &by],
        )
        .await
        .map_err(pg_fk)?;
        Ok(())
    }

    async fn carrier_accounts(&self, shop: ShopId) -> Result<Vec<CarrierAccount>> {
        let c = self.pool.get().await?;
        // Ordered as SQLite orders text (bytewise), so both list alike.
        Ok(c.query(
            &c.prepare_cached(
                "SELECT carrier, sealed, set_at, set_by FROM carrier_accounts WHERE shop_id = $1 ORDER BY carrier COLLATE \"C\"",
            )
            .await?,
            &[&shop.0],
        )
        .await?
        .iter()
        .map(|r| CarrierAccount {
            carrier: r.get(0),
            sealed: r.get(1),
            set_at: r.get(2),
            set_by: r.get(3),
        })
        .collect())
    }

    async fn remove_carrier_account(&self, shop: ShopId, carrier: String) -> Result<bool> {
        let c = self.pool.get().await?;
        Ok(c.execute(
            &c.prepare_cached("DELETE FROM carrier_accounts WHERE shop_id = $1 AND carrier = $2")
                .await?,
            &[&shop.0, &carrier],
        )
        .await?
            > 0)
    }

    async fn carrier_account_fingerprints(
        &self,
    ) -> Result<std::collections::HashMap<ShopId, AccountsFingerprint>> {
        let c = self.pool.get().await?;
        Ok(c.query(
            &c.prepare_cached(
                "SELECT shop_id, count(*), max(set_at) FROM carrier_accounts GROUP BY shop_id",
            )
            .await?,
            &[],
        )
        .await?
        .iter()
        .map(|r| (ShopId(r.get(0)), (r.get(1), r.get(2))))
        .collect())
    }
}
