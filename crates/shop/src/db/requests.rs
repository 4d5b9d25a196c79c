//! Customers' requests about an order and their feedback on delivered parcels: storage.
//! Every query is scoped by the shop's id; a request of another shop is not found.

use chrono::{DateTime, Duration, Utc};
use parceltrail_core::store::report::{local_day, monday};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::hooks::{ms, pg_fk, sqlite_fk};
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Backend, Db, trunc};
use crate::requests::{
    FEEDBACK_EDIT_DAYS, Feedback, FeedbackInput, History, NewRequest, Request, RequestState,
};
use crate::{Error, Result, ShopId};
use parceltrail_core::domain::{OrderId, ShipmentId};

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A feedback row (shipment, order, carrier, delivered, rating, comment, created, updated)
/// on SQLite.
fn sqlite_feedback(r: &rusqlite::Row) -> rusqlite::Result<Feedback> {
    Ok(Feedback {
        shipment_id: ShipmentId(r.get(0)?),
        order_id: OrderId(r.get(1)?),
        carrier: r.get(2)?,
        delivered_at: r.get::<_, Option<i64>>(3)?.map(at),
        rating: r.get::<_, i64>(4)?.clamp(1, 5) as u8,
        comment: r.get(5)?,
        created_at: at(r.get(6)?),
        updated_at: at(r.get(7)?),
    })
}

/// The same on PostgreSQL.
fn pg_feedback(r: &tokio_postgres::Row) -> Feedback {
    Feedback {
        shipment_id: ShipmentId(r.get(0)),
        order_id: OrderId(r.get(1)),
        carrier: r.get(2),
        delivered_at: r.get(3),
        rating: r.get::<_, i16>(4).clamp(1, 5) as u8,
        comment: r.get(5),
        created_at: r.get(6),
        updated_at: r.get(7),
    }
}

fn bad_state(s: &str) -> Error {
    Error::invalid("state", format!("unknown stored request state {s:?}"))
}

const REQUEST_COLUMNS: &str =
    "id, order_id, kind, address, postcode, text, state, created_at, updated_at";

/// A request's row without its history.
fn request_of(
    id: Uuid,
    order: Uuid,
    kind: &str,
    fields: (Option<String>, Option<String>, Option<String>),
    state: &str,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
) -> Result<Request> {
    Ok(Request {
        id,
        order_id: OrderId(order),
        kind: kind
            .parse()
            .map_err(|_| Error::invalid("kind", format!("unknown stored request kind {kind:?}")))?,
        address: fields.0,
        postcode: fields.1,
        text: fields.2,
        state: state.parse().map_err(|_| bad_state(state))?,
        created_at: created,
        updated_at: updated,
        history: Vec::new(),
    })
}

impl Db {
    /// Records a customer's request; [`Error::Conflict`] when one of its kind is open.
    pub async fn create_request(
        &self,
        shop: ShopId,
        order: OrderId,
        new: NewRequest,
        now: DateTime<Utc>,
    ) -> Result<Request> {
        let new = new.checked()?;
        let id = Uuid::now_v7();
        each!(self, db => db.create_request(shop, order, id, new, trunc(now)).await)?;
        self.request(shop, id).await
    }

    /// One request with its history.
    pub async fn request(&self, shop: ShopId, id: Uuid) -> Result<Request> {
        let mut found = each!(self, db => db.requests_where(shop, Some(id), None, None, 1).await)?;
        found.pop().ok_or(Error::NotFound)
    }

    /// The order's requests, oldest first, each with its history.
    pub async fn order_requests(&self, shop: ShopId, order: OrderId) -> Result<Vec<Request>> {
        each!(self, db => db.requests_where(shop, None, Some(order), None, 1000).await)
    }

    /// The shop's requests in one state (open: what staff have to decide), oldest first.
    pub async fn requests_in(
        &self,
        shop: ShopId,
        state: RequestState,
        limit: usize,
    ) -> Result<Vec<Request>> {
        each!(self, db => db.requests_where(shop, None, None, Some(state), limit.min(1000)).await)
    }

    /// Moves an open request on (approved or rejected by staff, withdrawn by the customer),
    /// with who and why in its history; [`Error::Conflict`] when it is no longer open.
    pub async fn decide_request(
        &self,
        shop: ShopId,
        id: Uuid,
        to: RequestState,
        by: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Request> {
        if to == RequestState::Open {
            return Err(Error::invalid(
                "decision",
                "a request is decided: approved, rejected or withdrawn",
            ));
        }
        let by = crate::auth::normalise_name("by", by, super::MAX_NAME)?;
        let note = crate::requests::clean_text("note", note, crate::requests::MAX_TEXT)?;
        each!(self, db => db.decide_request(shop, id, to, by, note, trunc(now)).await)?;
        self.request(shop, id).await
    }

    /// Records (or, within a week of the first answer, changes) the customer's rating of a
    /// delivered parcel.
    pub async fn set_feedback(
        &self,
        shop: ShopId,
        input: FeedbackInput,
        now: DateTime<Utc>,
    ) -> Result<Feedback> {
        let input = input.checked()?;
        let shipment = input.shipment_id;
        each!(self, db => db.set_feedback(shop, input, trunc(now)).await)?;
        let mut found =
            each!(self, db => db.feedback_where(shop, None, Some(shipment), None).await)?;
        found.pop().ok_or(Error::NotFound)
    }

    /// The feedback on the order's parcels.
    pub async fn order_feedback(&self, shop: ShopId, order: OrderId) -> Result<Vec<Feedback>> {
        each!(self, db => db.feedback_where(shop, Some(order), None, None).await)
    }

    /// The shop's feedback given or changed since `since`, oldest first (at most 1,000).
    pub async fn feedback_since(
        &self,
        shop: ShopId,
        since: DateTime<Utc>,
    ) -> Result<Vec<Feedback>> {
        each!(self, db => db.feedback_where(shop, None, None, Some(trunc(since))).await)
    }
}

impl Db {
    /// The average rating and the number of ratings, by carrier, of the shop's parcels
    /// delivered in `[from, to)`, carriers in order.
    pub async fn ratings_by_carrier(
        &self,
        shop: ShopId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, f64, u64)>> {
        each!(self, db => db.ratings_by_carrier(shop, from, to).await)
    }

    /// The average rating and the number of ratings by week of delivery (its Monday, as
    /// days since 1970-01-01, in the zone whose `offsets` are given: see core's
    /// `store::report::local_day`) and carrier, of the shop's parcels delivered in
    /// `[from, to)`, in order.
    pub async fn ratings_by_week(
        &self,
        shop: ShopId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        offsets: Vec<(i64, i32)>,
    ) -> Result<Vec<(i64, String, f64, u64)>> {
        each!(self, db => db.ratings_by_week(shop, from, to, offsets).await)
    }

    /// The newest `limit` ratings with words of the shop's parcels delivered in
    /// `[from, to)`, newest delivery first.
    pub async fn feedback_comments(
        &self,
        shop: ShopId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Feedback>> {
        each!(self, db => db.feedback_comments(shop, from, to, limit).await)
    }
}

impl SqliteDb {
    async fn ratings_by_carrier(
        &self,
        shop: ShopId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, f64, u64)>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT carrier, avg(rating), count(*) FROM shipment_feedback
                 WHERE shop_id = ?1 AND delivered_at >= ?2 AND delivered_at < ?3
                 GROUP BY carrier ORDER BY carrier",
            )?;
            let rows = stmt.query_map(params![shop.0, ms(from), ms(to)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn ratings_by_week(
        &self,
        shop: ShopId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        offsets: Vec<(i64, i32)>,
    ) -> Result<Vec<(i64, String, f64, u64)>> {
        // Not cached: the zone's offsets are in the text.
        let week = monday(&local_day("delivered_at", &offsets));
        self.run(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {week} AS w, carrier, avg(rating), count(*) FROM shipment_feedback
                 WHERE shop_id = ?1 AND delivered_at >= ?2 AND delivered_at < ?3
                 GROUP BY w, carrier ORDER BY w, carrier"
            ))?;
            let rows = stmt.query_map(params![shop.0, ms(from), ms(to)], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, i64>(3)?.max(0) as u64,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn feedback_comments(
        &self,
        shop: ShopId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Feedback>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT shipment_id, order_id, carrier, delivered_at, rating, comment, created_at, updated_at
                 FROM shipment_feedback
                 WHERE shop_id = ?1 AND delivered_at >= ?2 AND delivered_at < ?3
                   AND comment IS NOT NULL AND comment <> ''
                 ORDER BY delivered_at DESC, shipment_id LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![shop.0, ms(from), ms(to), limit as i64],
                sqlite_feedback,
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn create_request(
        &self,
        shop: ShopId,
        order: OrderId,
        id: Uuid,
        new: NewRequest,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx
                .execute(
                    "INSERT INTO order_requests (id, shop_id, order_id, kind, address, postcode, text, state, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8, ?8) ON CONFLICT DO NOTHING",
                    params![id, shop.0, order.0, new.kind.as_str(), new.address, new.postcode, new.text, ms(now)],
                )
                .map_err(sqlite_fk)?;
            if inserted == 0 {
                return Err(Error::Conflict("an open request of this kind"));
            }
            tx.execute(
                "INSERT INTO order_request_history (request_id, seq, state, by_who, note, at) VALUES (?1, 1, 'open', 'customer', NULL, ?2)",
                params![id, ms(now)],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn requests_where(
        &self,
        shop: ShopId,
        id: Option<Uuid>,
        order: Option<OrderId>,
        state: Option<RequestState>,
        limit: usize,
    ) -> Result<Vec<Request>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {REQUEST_COLUMNS} FROM order_requests
                 WHERE shop_id = ?1 AND (?2 IS NULL OR id = ?2) AND (?3 IS NULL OR order_id = ?3)
                   AND (?4 IS NULL OR state = ?4)
                 ORDER BY created_at, id LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![shop.0, id, order.map(|o| o.0), state.map(|s| s.as_str()), limit as i64],
                |r| {
                    Ok((
                        r.get::<_, Uuid>(0)?,
                        r.get::<_, Uuid>(1)?,
                        r.get::<_, String>(2)?,
                        (r.get(3)?, r.get(4)?, r.get(5)?),
                        r.get::<_, String>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, i64>(8)?,
                    ))
                },
            )?;
            let mut out = Vec::new();
            for row in rows {
                let (id, order, kind, fields, state, created, updated) = row?;
                out.push(request_of(id, order, &kind, fields, &state, at(created), at(updated))?);
            }
            let mut hist = c.prepare_cached(
                "SELECT state, by_who, note, at FROM order_request_history WHERE request_id = ?1 ORDER BY seq",
            )?;
            for r in &mut out {
                let rows = hist.query_map([r.id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })?;
                for h in rows {
                    let (state, by, note, when) = h?;
                    r.history.push(History {
                        state: state.parse().map_err(|_| bad_state(&state))?,
                        by,
                        note,
                        at: at(when),
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn decide_request(
        &self,
        shop: ShopId,
        id: Uuid,
        to: RequestState,
        by: String,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state: Option<String> = tx
                .query_row(
                    "SELECT state FROM order_requests WHERE shop_id = ?1 AND id = ?2",
                    params![shop.0, id],
                    |r| r.get(0),
                )
                .optional()?;
            match state.as_deref() {
                None => return Err(Error::NotFound),
                Some("open") => {}
                Some(_) => return Err(Error::Conflict("a decided request")),
            }
            tx.execute(
                "UPDATE order_requests SET state = ?3, updated_at = ?4 WHERE shop_id = ?1 AND id = ?2",
                params![shop.0, id, to.as_str(), ms(now)],
            )?;
            tx.execute(
                "INSERT INTO order_request_history (request_id, seq, state, by_who, note, at)
                 SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4, ?5 FROM order_request_history WHERE request_id = ?1",
                params![id, to.as_str(), by, note, ms(now)],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn set_feedback(&self, shop: ShopId, f: FeedbackInput, now: DateTime<Utc>) -> Result<()> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let first: Option<i64> = tx
                .query_row(
                    "SELECT created_at FROM shipment_feedback WHERE shop_id = ?1 AND shipment_id = ?2",
                    params![shop.0, f.shipment_id.0],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(first) = first {
                editable(at(first), now)?;
            }
            tx.execute(
                "INSERT INTO shipment_feedback (shop_id, shipment_id, order_id, carrier, delivered_at, rating, comment, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
                 ON CONFLICT (shop_id, shipment_id) DO UPDATE SET rating = excluded.rating,
                     comment = excluded.comment, updated_at = excluded.updated_at",
                params![
                    shop.0,
                    f.shipment_id.0,
                    f.order_id.0,
                    f.carrier,
                    f.delivered_at.map(ms),
                    f.rating,
                    f.comment,
                    ms(now)
                ],
            )
            .map_err(sqlite_fk)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn feedback_where(
        &self,
        shop: ShopId,
        order: Option<OrderId>,
        shipment: Option<ShipmentId>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Feedback>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT shipment_id, order_id, carrier, delivered_at, rating, comment, created_at, updated_at
                 FROM shipment_feedback
                 WHERE shop_id = ?1 AND (?2 IS NULL OR order_id = ?2) AND (?3 IS NULL OR shipment_id = ?3)
                   AND (?4 IS NULL OR updated_at >= ?4)
                 ORDER BY updated_at, shipment_id LIMIT 1000",
            )?;
            let rows = stmt.query_map(
                params![shop.0, order.map(|o| o.0), shipment.map(|s| s.0), since.map(ms)],
                sqlite_feedback,
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

/// Feedback can be changed for a week from the first answer.
fn editable(first: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
    if now > first + Duration::days(FEEDBACK_EDIT_DAYS) {
        return Err(Error::invalid(
            "rating",
            format!(
                "feedback can be changed for {FEEDBACK_EDIT_DAYS} days after it is first given"
            ),
        ));
    }
    Ok(())
}

impl PgDb {
    async fn ratings_by_carrier(
        &self,
        shop: ShopId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, f64, u64)>> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "SELECT carrier, avg(rating)::float8, count(*) FROM shipment_feedback
                 WHERE shop_id = $1 AND delivered_at >= $2 AND delivered_at < $3
                 GROUP BY carrier ORDER BY carrier COLLATE \"C\"",
            )
            .await?;
        let rows = c.query(&stmt, &[&shop.0, &from, &to]).await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2).max(0) as u64))
            .collect())
    }

    async fn ratings_by_week(
        &self,
        shop: ShopId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        offsets: Vec<(i64, i32)>,
    ) -> Result<Vec<(i64, String, f64, u64)>> {
        let week = monday(&local_day(
            "(extract(epoch FROM delivered_at) * 1000)::bigint",
            &offsets,
        ));
        let c = self.pool.get().await?;
        // Not prepared and cached: the zone's offsets are in the text.
        let rows = c
            .query(
                &format!(
                    "SELECT {week} AS w, carrier, avg(rating)::float8, count(*) FROM shipment_feedback
                     WHERE shop_id = $1 AND delivered_at >= $2 AND delivered_at < $3
                     GROUP BY 1, 2 ORDER BY w, carrier COLLATE \"C\""
                ),
                &[&shop.0, &from, &to],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get::<_, i64>(3).max(0) as u64,
                )
            })
            .collect())
    }

    async fn feedback_comments(
        &self,
        shop: ShopId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Feedback>> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "SELECT shipment_id, order_id, carrier, delivered_at, rating, comment, created_at, updated_at
                 FROM shipment_feedback
                 WHERE shop_id = $1 AND delivered_at >= $2 AND delivered_at < $3
                   AND comment IS NOT NULL AND comment <> ''
                 ORDER BY delivered_at DESC, shipment_id LIMIT $4",
            )
            .await?;
        let rows = c
            .query(&stmt, &[&shop.0, &from, &to, &(limit as i64)])
            .await?;
        Ok(rows.iter().map(pg_feedback).collect())
    }

    async fn create_request(
        &self,
        shop: ShopId,
        order: OrderId,
        id: Uuid,
        new: NewRequest,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO order_requests (id, shop_id, order_id, kind, address, postcode, text, state, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $8) ON CONFLICT DO NOTHING",
                &[&id, &shop.0, &order.0, &new.kind.as_str(), &new.address, &new.postcode, &new.text, &now],
            )
            .await
            .map_err(pg_fk)?;
        if inserted == 0 {
            return Err(Error::Conflict("an open request of this kind"));
        }
        tx.execute(
            "INSERT INTO order_request_history (request_id, seq, state, by_who, note, at) VALUES ($1, 1, 'open', 'customer', NULL, $2)",
            &[&id, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn requests_where(
        &self,
        shop: ShopId,
        id: Option<Uuid>,
        order: Option<OrderId>,
        state: Option<RequestState>,
        limit: usize,
    ) -> Result<Vec<Request>> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {REQUEST_COLUMNS} FROM order_requests
                 WHERE shop_id = $1 AND ($2::uuid IS NULL OR id = $2) AND ($3::uuid IS NULL OR order_id = $3)
                   AND ($4::text IS NULL OR state = $4)
                 ORDER BY created_at, id LIMIT $5"
            ))
            .await?;
        let rows = c
            .query(
                &stmt,
                &[
                    &shop.0,
                    &id,
                    &order.map(|o| o.0),
                    &state.map(|s| s.as_str()),
                    &(limit as i64),
                ],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(request_of(
                r.get(0),
                r.get(1),
                r.get(2),
                (r.get(3), r.get(4), r.get(5)),
                r.get(6),
                r.get(7),
                r.get(8),
            )?);
        }
        if out.is_empty() {
            return Ok(out);
        }
        let ids: Vec<Uuid> = out.iter().map(|r| r.id).collect();
        let hist = c
            .prepare_cached(
                "SELECT request_id, state, by_who, note, at FROM order_request_history
                 WHERE request_id = ANY($1) ORDER BY request_id, seq",
            )
            .await?;
        for h in c.query(&hist, &[&ids]).await? {
            let rid: Uuid = h.get(0);
            let state: String = h.get(1);
            if let Some(r) = out.iter_mut().find(|r| r.id == rid) {
                r.history.push(History {
                    state: state.parse().map_err(|_| bad_state(&state))?,
                    by: h.get(2),
                    note: h.get(3),
                    at: h.get(4),
                });
            }
        }
        Ok(out)
    }

    async fn decide_request(
        &self,
        shop: ShopId,
        id: Uuid,
        to: RequestState,
        by: String,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Locked: of a decision and a withdrawal at once, one finds the request decided.
        let row = tx
            .query_opt(
                "SELECT state FROM order_requests WHERE shop_id = $1 AND id = $2 FOR UPDATE",
                &[&shop.0, &id],
            )
            .await?;
        match row.as_ref().map(|r| r.get::<_, &str>(0)) {
            None => return Err(Error::NotFound),
            Some("open") => {}
            Some(_) => return Err(Error::Conflict("a decided request")),
        }
        tx.execute(
            "UPDATE order_requests SET state = $3, updated_at = $4 WHERE shop_id = $1 AND id = $2",
            &[&shop.0, &id, &to.as_str(), &now],
        )
        .await?;
        tx.execute(
            "INSERT INTO order_request_history (request_id, seq, state, by_who, note, at)
             SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5 FROM order_request_history WHERE request_id = $1",
            &[&id, &to.as_str(), &by, &note, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_feedback(&self, shop: ShopId, f: FeedbackInput, now: DateTime<Utc>) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let first = tx
            .query_opt(
                "SELECT created_at FROM shipment_feedback WHERE shop_id = $1 AND shipment_id = $2 FOR UPDATE",
                &[&shop.0, &f.shipment_id.0],
            )
            .await?;
        if let Some(first) = first {
            editable(first.get(0), now)?;
        }
        tx.execute(
            "INSERT INTO shipment_feedback (shop_id, shipment_id, order_id, carrier, delivered_at, rating, comment, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT (shop_id, shipment_id) DO UPDATE SET rating = excluded.rating,
                 comment = excluded.comment, updated_at = excluded.updated_at",
            &[
                &shop.0,
                &f.shipment_id.0,
                &f.order_id.0,
                &f.carrier,
                &f.delivered_at,
                &i16::from(f.rating),
                &f.comment,
                &now,
            ],
        )
        .await
        .map_err(pg_fk)?;
        tx.commit().await?;
        Ok(())
    }

    async fn feedback_where(
        &self,
        shop: ShopId,
        order: Option<OrderId>,
        shipment: Option<ShipmentId>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Feedback>> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "SELECT shipment_id, order_id, carrier, delivered_at, rating, comment, created_at, updated_at
                 FROM shipment_feedback
                 WHERE shop_id = $1 AND ($2::uuid IS NULL OR order_id = $2) AND ($3::uuid IS NULL OR shipment_id = $3)
                   AND ($4::timestamptz IS NULL OR updated_at >= $4)
                 ORDER BY updated_at, shipment_id LIMIT 1000",
            )
            .await?;
        let rows = c
            .query(
                &stmt,
                &[&shop.0, &order.map(|o| o.0), &shipment.map(|s| s.0), &since],
            )
            .await?;
        Ok(rows.iter().map(pg_feedback).collect())
    }
}
