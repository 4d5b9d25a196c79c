//! Web Push subscriptions: the browsers that asked to hear about an order. Scoped by shop and
//! order; an endpoint the push service says is gone is dropped everywhere.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::hooks::{ms, pg_fk, sqlite_fk};
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Backend, Db, trunc};
use crate::{Error, Result, ShopId};
use parceltrail_core::domain::OrderId;

/// The most browsers one order keeps.
pub const MAX_PUSH_PER_ORDER: usize = 10;

/// A browser's subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// The browser's P-256 public key, uncompressed (65 bytes).
    pub p256dh: Vec<u8>,
    /// Its 16-byte authentication secret.
    pub auth: Vec<u8>,
}

impl Db {
    /// Keeps a browser's subscription to the order's news (again: its keys are renewed).
    pub async fn add_push(
        &self,
        shop: ShopId,
        order: OrderId,
        sub: PushSubscription,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let kept = self.order_push(shop, order).await?;
        if kept.len() >= MAX_PUSH_PER_ORDER && !kept.iter().any(|s| s.endpoint == sub.endpoint) {
            return Err(Error::invalid(
                "endpoint",
                format!("an order takes at most {MAX_PUSH_PER_ORDER} browsers"),
            ));
        }
        each!(self, db => db.add_push(shop, order, sub, trunc(now)).await)
    }

    /// Forgets a browser for the order; whether it was there.
    pub async fn remove_push(&self, shop: ShopId, order: OrderId, endpoint: &str) -> Result<bool> {
        let endpoint = endpoint.to_owned();
        each!(self, db => db.remove_push(shop, order, endpoint).await)
    }

    /// The order's browsers.
    pub async fn order_push(&self, shop: ShopId, order: OrderId) -> Result<Vec<PushSubscription>> {
        each!(self, db => db.order_push(shop, order).await)
    }

    /// A push service said the endpoint is gone: forgotten for every order.
    pub async fn drop_push_endpoint(&self, endpoint: &str) -> Result<()> {
        let endpoint = endpoint.to_owned();
        each!(self, db => db.drop_push_endpoint(endpoint).await)
    }
}

impl SqliteDb {
    async fn add_push(
        &self,
        shop: ShopId,
        order: OrderId,
        sub: PushSubscription,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO push_subscriptions (shop_id, order_id, endpoint, p256dh, auth, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (shop_id, order_id, endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth",
                params![shop.0, order.0, sub.endpoint, sub.p256dh, sub.auth, ms(now)],
            )
            .map_err(sqlite_fk)?;
            Ok(())
        })
        .await
    }

    async fn remove_push(&self, shop: ShopId, order: OrderId, endpoint: String) -> Result<bool> {
        self.run(move |c| {
            Ok(c.execute(
                "DELETE FROM push_subscriptions WHERE shop_id = ?1 AND order_id = ?2 AND endpoint = ?3",
                params![shop.0, order.0, endpoint],
            )? > 0)
        })
        .await
    }

    async fn order_push(&self, shop: ShopId, order: OrderId) -> Result<Vec<PushSubscription>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE shop_id = ?1 AND order_id = ?2
                 ORDER BY created_at, endpoint",
            )?;
            let rows = stmt.query_map(params![shop.0, order.0], |r| {
                Ok(PushSubscription {
                    endpoint: r.get(0)?,
                    p256dh: r.get(1)?,
                    auth: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn drop_push_endpoint(&self, endpoint: String) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "DELETE FROM push_subscriptions WHERE endpoint = ?1",
                [endpoint],
            )?;
            Ok(())
        })
        .await
    }
}

impl PgDb {
    async fn add_push(
        &self,
        shop: ShopId,
        order: OrderId,
        sub: PushSubscription,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO push_subscriptions (shop_id, order_id, endpoint, p256dh, auth, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (shop_id, order_id, endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth",
            )
            .await?;
        c.execute(
            &stmt,
            &[
                &shop.0,
                &order.0,
                &sub.endpoint,
                &sub.p256dh,
                &sub.auth,
                &now,
            ],
        )
        .await
        .map_err(pg_fk)?;
        Ok(())
    }

    async fn remove_push(&self, shop: ShopId, order: OrderId, endpoint: String) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "DELETE FROM push_subscriptions WHERE shop_id = $1 AND order_id = $2 AND endpoint = $3",
            )
            .await?;
        Ok(c.execute(&stmt, &[&shop.0, &order.0, &endpoint]).await? > 0)
    }

    async fn order_push(&self, shop: ShopId, order: OrderId) -> Result<Vec<PushSubscription>> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE shop_id = $1 AND order_id = $2
                 ORDER BY created_at, endpoint",
            )
            .await?;
        Ok(c.query(&stmt, &[&shop.0, &order.0])
            .await?
            .iter()
            .map(|r| PushSubscription {
                endpoint: r.get(0),
                p256dh: r.get(1),
                auth: r.get(2),
            })
            .collect())
    }

    async fn drop_push_endpoint(&self, endpoint: String) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached("DELETE FROM push_subscriptions WHERE endpoint = $1")
            .await?;
        c.execute(&stmt, &[&endpoint]).await?;
        Ok(())
    }
}
