//! SMS sent and STOP replies: storage. A message's row is scoped by its shop; a report names
//! only Twilio's SID (checked as the server's account's), which finds the row.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::hooks::{ms, pg_fk, sqlite_fk};
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Backend, Db, trunc};
use crate::sms::status_rank;
use crate::{Result, ShopId};
use parceltrail_core::domain::OrderId;

/// An SMS sent to a customer, with Twilio's latest report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMessage {
    /// Twilio's SID.
    pub sid: String,
    /// The order it was about.
    pub order_id: OrderId,
    /// The notification it carried.
    pub outbox_id: Uuid,
    /// The number it went to.
    pub recipient: String,
    /// Twilio's status: `queued`, `sent`, `delivered`, `undelivered`, `failed` …
    pub status: String,
    /// Twilio's error code, for a message not delivered.
    pub error_code: Option<i32>,
    /// When it was handed to Twilio.
    pub created_at: DateTime<Utc>,
    /// When its status last moved.
    pub updated_at: DateTime<Utc>,
}

fn at(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

impl Db {
    /// Records an SMS Twilio accepted.
    pub async fn record_sms(
        &self,
        shop: ShopId,
        order: OrderId,
        outbox_id: Uuid,
        sid: &str,
        recipient: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (sid, recipient) = (sid.to_owned(), recipient.to_owned());
        each!(self, db => db.record_sms(shop, order, outbox_id, sid, recipient, trunc(now)).await)
    }

    /// Twilio's report on a message: moves its status on (never back: reports may come out
    /// of order); false when no message has the SID or the report is older news.
    pub async fn sms_report(
        &self,
        sid: &str,
        status: &str,
        error_code: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let Some(rank) = status_rank(status) else {
            return Err(crate::Error::invalid(
                "MessageStatus",
                format!("{status:?} is not a Twilio message status"),
            ));
        };
        let (sid, status) = (sid.to_owned(), status.to_owned());
        each!(self, db => db.sms_report(sid, status, rank, error_code, trunc(now)).await)
    }

    /// The order's SMS, oldest first.
    pub async fn order_sms(&self, shop: ShopId, order: OrderId) -> Result<Vec<SmsMessage>> {
        each!(self, db => db.order_sms(shop, order).await)
    }

    /// A number replied STOP (`true`) or START (`false`).
    pub async fn set_sms_opt_out(&self, phone: &str, out: bool, now: DateTime<Utc>) -> Result<()> {
        let phone = phone.to_owned();
        each!(self, db => db.set_sms_opt_out(phone, out, trunc(now)).await)
    }

    /// Whether the number's last word was STOP.
    pub async fn sms_opted_out(&self, phone: &str) -> Result<bool> {
        let phone = phone.to_owned();
        each!(self, db => db.sms_opted_out(phone).await)
    }
}

/// The statuses beyond `rank` (the SQL's guard against a report moving one back).
fn beyond(rank: u8) -> Vec<&'static str> {
    [
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "canceled",
    ]
    .into_iter()
    .filter(|s| status_rank(s).is_some_and(|r| r > rank))
    .collect()
}

impl SqliteDb {
    async fn record_sms(
        &self,
        shop: ShopId,
        order: OrderId,
        outbox: Uuid,
        sid: String,
        recipient: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO sms_messages (sid, shop_id, order_id, outbox_id, recipient, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?6) ON CONFLICT (sid) DO NOTHING",
                params![sid, shop.0, order.0, outbox, recipient, ms(now)],
            )
            .map_err(sqlite_fk)?;
            Ok(())
        })
        .await
    }

    async fn sms_report(
        &self,
        sid: String,
        status: String,
        rank: u8,
        code: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let beyond = serde_json::to_string(&beyond(rank)).unwrap_or_default();
        self.run(move |c| {
            Ok(c.execute(
                "UPDATE sms_messages SET status = ?2, error_code = ?3, updated_at = ?4
                 WHERE sid = ?1 AND status NOT IN (SELECT value FROM json_each(?5))",
                params![sid, status, code, ms(now), beyond],
            )? > 0)
        })
        .await
    }

    async fn order_sms(&self, shop: ShopId, order: OrderId) -> Result<Vec<SmsMessage>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT sid, order_id, outbox_id, recipient, status, error_code, created_at, updated_at
                 FROM sms_messages WHERE shop_id = ?1 AND order_id = ?2 ORDER BY created_at, sid",
            )?;
            let rows = stmt.query_map(params![shop.0, order.0], |r| {
                Ok(SmsMessage {
                    sid: r.get(0)?,
                    order_id: OrderId(r.get(1)?),
                    outbox_id: r.get(2)?,
                    recipient: r.get(3)?,
                    status: r.get(4)?,
                    error_code: r.get(5)?,
                    created_at: at(r.get(6)?),
                    updated_at: at(r.get(7)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn set_sms_opt_out(&self, phone: String, out: bool, now: DateTime<Utc>) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO sms_opt_outs (phone, opted_out, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (phone) DO UPDATE SET opted_out = excluded.opted_out, updated_at = excluded.updated_at",
                params![phone, out, ms(now)],
            )?;
            Ok(())
        })
        .await
    }

    async fn sms_opted_out(&self, phone: String) -> Result<bool> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT opted_out FROM sms_opt_outs WHERE phone = ?1",
                [phone],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .is_some_and(|v| v != 0))
        })
        .await
    }
}

impl PgDb {
    async fn record_sms(
        &self,
        shop: ShopId,
        order: OrderId,
        outbox: Uuid,
        sid: String,
        recipient: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO sms_messages (sid, shop_id, order_id, outbox_id, recipient, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'queued', $6, $6) ON CONFLICT (sid) DO NOTHING",
            )
            .await?;
        c.execute(&stmt, &[&sid, &shop.0, &order.0, &outbox, &recipient, &now])
            .await
            .map_err(pg_fk)?;
        Ok(())
    }

    async fn sms_report(
        &self,
        sid: String,
        status: String,
        rank: u8,
        code: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let beyond: Vec<String> = beyond(rank).into_iter().map(str::to_owned).collect();
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE sms_messages SET status = $2, error_code = $3, updated_at = $4
                 WHERE sid = $1 AND NOT (status = ANY($5))",
            )
            .await?;
        Ok(c.execute(&stmt, &[&sid, &status, &code, &now, &beyond])
            .await?
            > 0)
    }

    async fn order_sms(&self, shop: ShopId, order: OrderId) -> Result<Vec<SmsMessage>> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "SELECT sid, order_id, outbox_id, recipient, status, error_code, created_at, updated_at
                 FROM sms_messages WHERE shop_id = $1 AND order_id = $2 ORDER BY created_at, sid",
            )
            .await?;
        Ok(c.query(&stmt, &[&shop.0, &order.0])
            .await?
            .iter()
            .map(|r| SmsMessage {
                sid: r.get(0),
                order_id: OrderId(r.get(1)),
                outbox_id: r.get(2),
                recipient: r.get(3),
                status: r.get(4),
                error_code: r.get(5),
                created_at: r.get(6),
                updated_at: r.get(7),
            })
            .collect())
    }

    async fn set_sms_opt_out(&self, phone: String, out: bool, now: DateTime<Utc>) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO sms_opt_outs (phone, opted_out, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (phone) DO UPDATE SET opted_out = excluded.opted_out, updated_at = excluded.updated_at",
            )
            .await?;
        c.execute(&stmt, &[&phone, &out, &now]).await?;
        Ok(())
    }

    async fn sms_opted_out(&self, phone: String) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached("SELECT opted_out FROM sms_opt_outs WHERE phone = $1")
            .await?;
        Ok(c.query_opt(&stmt, &[&phone])
            .await?
            .is_some_and(|r| r.get::<_, bool>(0)))
    }
}
