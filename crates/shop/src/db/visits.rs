//! Tracking-page visits: which orders' pages were opened on which day, for the share of
//! customers who looked for themselves. Every query is scoped by the shop's id.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Backend, Db};
use crate::{Result, ShopId};
use parceltrail_core::domain::OrderId;

/// Days since 1970-01-01 (UTC) of an instant.
fn day(t: DateTime<Utc>) -> i32 {
    t.timestamp().div_euclid(86_400) as i32
}

impl Db {
    /// Notes that the order's tracking page was opened at `now` (once a day counts).
    pub async fn note_visit(&self, shop: ShopId, order: OrderId, now: DateTime<Utc>) -> Result<()> {
        each!(self, db => db.note_visit(shop, order, day(now)).await)
    }

    /// Orders whose tracking page was opened on the UTC days `[from, to)` touches.
    pub async fn orders_visited(
        &self,
        shop: ShopId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<u64> {
        // The UTC days the span touches.
        let last = day(to - chrono::Duration::milliseconds(1));
        each!(self, db => db.orders_visited(shop, day(from), last + 1).await)
    }
}

impl SqliteDb {
    async fn note_visit(&self, shop: ShopId, order: OrderId, day: i32) -> Result<()> {
        self.run(move |c| {
            c.prepare_cached(
                "INSERT INTO page_visits (shop_id, order_id, day) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![shop.0, order.0, day])?;
            Ok(())
        })
        .await
    }

    async fn orders_visited(&self, shop: ShopId, from: i32, to: i32) -> Result<u64> {
        self.run(move |c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT count(DISTINCT order_id) FROM page_visits
                     WHERE shop_id = ?1 AND day >= ?2 AND day < ?3",
                )?
                .query_row(params![shop.0, from, to], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
        .await
    }
}

impl PgDb {
    async fn note_visit(&self, shop: ShopId, order: OrderId, day: i32) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(
            &c.prepare_cached(
                "INSERT INTO page_visits (shop_id, order_id, day) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .await?,
            &[&shop.0, &order.0, &day],
        )
        .await?;
        Ok(())
    }

    async fn orders_visited(&self, shop: ShopId, from: i32, to: i32) -> Result<u64> {
        let c = self.pool.get().await?;
        let r = c
            .query_one(
                &c.prepare_cached(
                    "SELECT count(DISTINCT order_id) FROM page_visits
                     WHERE shop_id = $1 AND day >= $2 AND day < $3",
                )
                .await?,
                &[&shop.0, &from, &to],
            )
            .await?;
        Ok(r.get::<_, i64>(0).max(0) as u64)
    }
}
