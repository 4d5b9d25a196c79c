//! The SQLite side of orders as records of their own (customers, stages, removal, the order
//! list) and of the change feed. Called from the [`Store`](super::Store) impl in `sqlite.rs`.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::{ORDER_COLUMNS, bad, order_from_row, utc};
use crate::domain::{Order, OrderId, OrderStage, ShipmentId, StageChange};
use crate::error::{Error, Result};
use crate::store::orders::{Fields, ParcelIndex, Search, limit_of, qualified};
use crate::store::{
    Change, FeedEntry, NewOrder, OnExisting, OrderInfo, OrderPatch, OrderQuery, clean_opt,
    clean_text,
};

/// One live order.
pub(super) fn load(conn: &Connection, id: OrderId) -> Result<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1 AND deleted = 0");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id.0], order_from_row)
        .optional()?)
}

fn live(conn: &Connection, id: OrderId) -> Result<Order> {
    load(conn, id)?.ok_or_else(|| Error::NotFound(id.to_string()))
}

pub(super) use crate::store::orders::clean_info;

/// The order with this store and number: a live one, else the latest removed one.
fn by_number(tx: &Transaction, store: Option<&str>, number: &str) -> Result<Option<(Uuid, bool)>> {
    Ok(tx
        .prepare_cached(
            "SELECT id, deleted FROM orders
             WHERE coalesce(store, '') = coalesce(?1, '') AND order_number = ?2
             ORDER BY deleted, deleted_at DESC, id DESC LIMIT 1",
        )?
        .query_row(params![store, number], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

fn by_id(tx: &Transaction, id: OrderId) -> Result<Option<(Uuid, bool)>> {
    Ok(tx
        .prepare_cached("SELECT id, deleted FROM orders WHERE id = ?1")?
        .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

fn offset(t: Option<chrono::DateTime<chrono::FixedOffset>>) -> Option<i32> {
    t.map(|t| t.offset().local_minus_utc())
}

/// Write a new order, or a removed one's tombstone afresh, and log its first stage.
fn write_fresh(tx: &Transaction, id: OrderId, f: &Fields, revive: bool, now: i64) -> Result<()> {
    let (i, c) = (&f.info, &f.customer);
    let sql = if revive {
        "UPDATE orders SET store = ?2, order_number = ?3, items = ?4, placed_at = ?5,
            placed_offset = ?6, notes = ?7, archived = 0, archived_at = ?8, created_at = ?8,
            updated_at = ?8, promised_at = ?9, promised_offset = ?10, customer_name = ?11,
            customer_email = ?12, customer_phone = ?13, customer_postcode = ?14,
            customer_address = ?15, customer_name_lower = ?16, customer_email_lower = ?17,
            stage = ?18, stage_at = ?8, deleted = 0, deleted_at = ?8
         WHERE id = ?1"
    } else {
        "INSERT INTO orders (id, store, order_number, items, placed_at, placed_offset, notes,
            archived, archived_at, created_at, updated_at, promised_at, promised_offset,
            customer_name, customer_email, customer_phone, customer_postcode, customer_address,
            customer_name_lower, customer_email_lower, stage, stage_at, deleted, deleted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
            ?16, ?17, ?18, ?8, 0, ?8)"
    };
    tx.prepare_cached(sql)?.execute(params![
        id.0,
        i.store,
        i.order_number,
        i.items,
        i.placed_at.map(|t| t.timestamp_millis()),
        offset(i.placed_at),
        i.notes,
        now,
        i.promised_at.map(|t| t.timestamp_millis()),
        offset(i.promised_at),
        c.name,
        c.email,
        c.phone,
        c.postcode,
        c.address,
        f.name_lower(),
        f.email_lower(),
        f.stage.as_str(),
    ])?;
    log_stage(tx, id, f.stage, f.stage, &f.actor, None, now)
}

fn log_stage(
    tx: &Transaction,
    id: OrderId,
    from: OrderStage,
    to: OrderStage,
    actor: &str,
    note: Option<&str>,
    at: i64,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO order_stages (order_id, from_stage, to_stage, actor, note, changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id.0, from.as_str(), to.as_str(), actor, note, at])?;
    Ok(())
}

/// Fill in what the stored order lacks; never overwrite. True when something was filled.
fn fill(tx: &Transaction, id: OrderId, f: &Fields, now: i64) -> Result<bool> {
    let (i, c) = (&f.info, &f.customer);
    // Only when a column is empty and the new value is not does anything change, so the
    // update's count says whether the order did.
    let n = tx
        .prepare_cached(
            "UPDATE orders SET items = coalesce(items, ?2), notes = coalesce(notes, ?3),
                placed_at = coalesce(placed_at, ?4), placed_offset = coalesce(placed_offset, ?5),
                promised_at = coalesce(promised_at, ?6),
                promised_offset = coalesce(promised_offset, ?7),
                customer_name = coalesce(customer_name, ?8),
                customer_name_lower = coalesce(customer_name_lower, ?9),
                customer_email = coalesce(customer_email, ?10),
                customer_email_lower = coalesce(customer_email_lower, ?11),
                customer_phone = coalesce(customer_phone, ?12),
                customer_postcode = coalesce(customer_postcode, ?13),
                customer_address = coalesce(customer_address, ?14),
                updated_at = ?15
             WHERE id = ?1 AND (
                (items IS NULL AND ?2 IS NOT NULL) OR (notes IS NULL AND ?3 IS NOT NULL)
                OR (placed_at IS NULL AND ?4 IS NOT NULL)
                OR (promised_at IS NULL AND ?6 IS NOT NULL)
                OR (customer_name IS NULL AND ?8 IS NOT NULL)
                OR (customer_email IS NULL AND ?10 IS NOT NULL)
                OR (customer_phone IS NULL AND ?12 IS NOT NULL)
                OR (customer_postcode IS NULL AND ?13 IS NOT NULL)
                OR (customer_address IS NULL AND ?14 IS NOT NULL))",
        )?
        .execute(params![
            id.0,
            i.items,
            i.notes,
            i.placed_at.map(|t| t.timestamp_millis()),
            offset(i.placed_at),
            i.promised_at.map(|t| t.timestamp_millis()),
            offset(i.promised_at),
            c.name,
            f.name_lower(),
            c.email,
            f.email_lower(),
            c.phone,
            c.postcode,
            c.address,
            now,
        ])?;
    Ok(n > 0)
}

/// Find, revive or create the order a shipment added on its own names (the app's way: an
/// order number joins shipments of one order; without one, each gets its own).
pub(super) fn resolve(
    tx: &Transaction,
    info: &OrderInfo,
    now: i64,
    feed: &mut Vec<Change>,
) -> Result<OrderId> {
    let f = Fields::implicit(info);
    let found = match &info.order_number {
        Some(n) => by_number(tx, info.store.as_deref(), n)?,
        None => None,
    };
    Ok(match found {
        Some((id, false)) => {
            let id = OrderId(id);
            if fill(tx, id, &f, now)? {
                feed.push(Change::OrderUpdated { order_id: id });
            }
            id
        }
        Some((id, true)) => {
            let id = OrderId(id);
            write_fresh(tx, id, &f, true, now)?;
            feed.push(Change::OrderCreated { order_id: id });
            id
        }
        None => {
            let id = OrderId::new();
            write_fresh(tx, id, &f, false, now)?;
            feed.push(Change::OrderCreated { order_id: id });
            id
        }
    })
}

/// The order half of `save_order`: returns the order's id and whether it was created (or
/// revived).
pub(super) fn save(
    tx: &Transaction,
    new: &NewOrder,
    on_existing: OnExisting,
    now: i64,
    feed: &mut Vec<Change>,
) -> Result<(OrderId, bool)> {
    let f = Fields::of(new);
    // By number first (the shop's own key), else by id (a retried save of an order
    // without a number).
    let found = match &f.info.order_number {
        Some(n) => by_number(tx, f.info.store.as_deref(), n)?,
        None => None,
    };
    let found = match found {
        Some(found) => Some(found),
        None => by_id(tx, new.id)?,
    };
    match found {
        Some((id, false)) => {
            let id = OrderId(id);
            if on_existing == OnExisting::Refuse {
                return Err(Error::OrderExists(id));
            }
            if fill(tx, id, &f, now)? {
                feed.push(Change::OrderUpdated { order_id: id });
            }
            Ok((id, false))
        }
        Some((id, true)) => {
            let id = OrderId(id);
            write_fresh(tx, id, &f, true, now)?;
            feed.push(Change::OrderCreated { order_id: id });
            Ok((id, true))
        }
        None => {
            write_fresh(tx, new.id, &f, false, now)?;
            feed.push(Change::OrderCreated { order_id: new.id });
            Ok((new.id, true))
        }
    }
}

/// Apply a patch; true when something changed.
pub(super) fn update(tx: &Transaction, id: OrderId, patch: &OrderPatch, now: i64) -> Result<bool> {
    let old = live(tx, id)?;
    let new = crate::store::orders::patched(&old, patch);
    if new == old {
        return Ok(false);
    }
    if let Some(number) = &new.order_number
        && (new.order_number != old.order_number || new.store != old.store)
        && let Some((other, false)) = by_number(tx, new.store.as_deref(), number)?
        && other != id.0
    {
        return Err(Error::OrderExists(OrderId(other)));
    }
    let f = Fields::from_order(&new);
    let (i, c) = (&f.info, &f.customer);
    tx.prepare_cached(
        "UPDATE orders SET store = ?2, order_number = ?3, items = ?4, placed_at = ?5,
            placed_offset = ?6, notes = ?7, promised_at = ?8, promised_offset = ?9,
            customer_name = ?10, customer_email = ?11, customer_phone = ?12,
            customer_postcode = ?13, customer_address = ?14, customer_name_lower = ?15,
            customer_email_lower = ?16, updated_at = ?17
         WHERE id = ?1",
    )?
    .execute(params![
        id.0,
        i.store,
        i.order_number,
        i.items,
        i.placed_at.map(|t| t.timestamp_millis()),
        offset(i.placed_at),
        i.notes,
        i.promised_at.map(|t| t.timestamp_millis()),
        offset(i.promised_at),
        c.name,
        c.email,
        c.phone,
        c.postcode,
        c.address,
        f.name_lower(),
        f.email_lower(),
        now,
    ])?;
    Ok(true)
}

/// Set the stage; the change to feed, or None when it was the stage already.
pub(super) fn set_stage(
    tx: &Transaction,
    id: OrderId,
    stage: OrderStage,
    actor: &str,
    note: Option<&str>,
    at: i64,
) -> Result<Option<Change>> {
    let old = live(tx, id)?;
    if old.stage == stage {
        return Ok(None);
    }
    let actor = clean_text(actor);
    tx.prepare_cached(
        "UPDATE orders SET stage = ?2, stage_at = ?3, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![id.0, stage.as_str(), at])?;
    log_stage(
        tx,
        id,
        old.stage,
        stage,
        &actor,
        clean_opt(note).as_deref(),
        at,
    )?;
    Ok(Some(Change::OrderStageChanged {
        order_id: id,
        from: old.stage,
        to: stage,
        actor: actor.into_owned(),
    }))
}

pub(super) fn stages(conn: &Connection, id: OrderId) -> Result<Vec<StageChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT from_stage, to_stage, actor, note, changed_at FROM order_stages
         WHERE order_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id.0], |r| {
        Ok(StageChange {
            from: r.get::<_, String>(0)?.parse().map_err(bad)?,
            to: r.get::<_, String>(1)?.parse().map_err(bad)?,
            actor: r.get(2)?,
            note: r.get(3)?,
            changed_at: utc(r.get(4)?)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Tombstone the order (its customer's details and stage log dropped); returns its live
/// shipments, oldest first, for the caller to remove.
pub(super) fn remove(tx: &Transaction, id: OrderId, at: i64) -> Result<Vec<ShipmentId>> {
    let n = tx
        .prepare_cached(
            "UPDATE orders SET deleted = 1, deleted_at = ?2, updated_at = ?2, items = NULL,
                notes = NULL, placed_at = NULL, placed_offset = NULL, promised_at = NULL,
                promised_offset = NULL, customer_name = NULL, customer_email = NULL,
                customer_phone = NULL, customer_postcode = NULL, customer_address = NULL,
                customer_name_lower = NULL, customer_email_lower = NULL
             WHERE id = ?1 AND deleted = 0",
        )?
        .execute(params![id.0, at])?;
    if n == 0 {
        return Err(Error::NotFound(id.to_string()));
    }
    tx.prepare_cached("DELETE FROM order_stages WHERE order_id = ?1")?
        .execute([id.0])?;
    let mut stmt = tx.prepare_cached(
        "SELECT id FROM shipments WHERE order_id = ?1 AND deleted = 0 ORDER BY created_at, id",
    )?;
    let ids = stmt
        .query_map([id.0], |r| Ok(ShipmentId(r.get(0)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// A page of orders.
pub(super) fn page(conn: &Connection, q: &OrderQuery) -> Result<Vec<Order>> {
    if q.limit == 0 {
        return Ok(Vec::new());
    }
    let (sql, args) = page_sql(q);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        rusqlite::params_from_iter(args.iter().map(|a| a.as_ref())),
        order_from_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The query's filters as SQL, only those given, so each is served by its index. A page
/// filtered by a parcel's status or carrier is read from that index, newest order first
/// ([`Search::parcel_index`]); the other filters are checked order by order on the way.
pub(super) fn page_sql(q: &OrderQuery) -> (String, Vec<Box<dyn ToSql>>) {
    let limit = limit_of(q.limit);
    let search = Search::of(q);
    let by = search.parcel_index(q);
    let cols = qualified(ORDER_COLUMNS, "o");
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: Box<dyn ToSql>| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    let mut sql = String::new();
    if let Some(t) = &search.text {
        // An order number prefix, an e-mail, part of a name, or a tracking number: each
        // found through its index, the orders they name then read by key (CROSS JOIN keeps
        // the matches the outer loop) and sorted. A `GLOB` with a literal prefix is a range
        // on the number's index (binary collation), bound parameter or not.
        arg(
            &mut sql,
            &format!("SELECT {cols} FROM (SELECT id FROM orders WHERE order_number GLOB ?"),
            Box::new(t.number_glob()),
        );
        arg(
            &mut sql,
            " UNION SELECT id FROM orders WHERE customer_email_lower = ?",
            Box::new(t.folded.clone()),
        );
        if t.by_trigrams() {
            arg(
                &mut sql,
                " UNION SELECT unhex(order_key) FROM order_names WHERE order_names MATCH ?",
                Box::new(t.name_match()),
            );
        } else {
            arg(
                &mut sql,
                " UNION SELECT id FROM orders WHERE instr(customer_name_lower, ?) > 0",
                Box::new(t.folded.clone()),
            );
        }
        arg(
            &mut sql,
            " UNION SELECT order_id FROM shipments WHERE tracking_number = ? AND deleted = 0) m
             CROSS JOIN orders o ON o.id = m.id WHERE o.deleted = 0",
            Box::new(t.number.clone()),
        );
    } else {
        match by {
            // CROSS JOIN keeps the parcels' index the outer loop, walked in order.
            Some(_) => sql.push_str(&format!(
                "SELECT {cols} FROM shipments f CROSS JOIN orders o ON o.id = f.order_id
                 WHERE f.deleted = 0 AND o.deleted = 0"
            )),
            None => sql.push_str(&format!("SELECT {cols} FROM orders o WHERE o.deleted = 0")),
        }
    }
    if let Some(n) = &search.order_number {
        arg(&mut sql, " AND o.order_number = ?", Box::new(n.clone()));
    }
    if let Some(e) = &search.email {
        arg(
            &mut sql,
            " AND o.customer_email_lower = ?",
            Box::new(e.clone()),
        );
    }
    if let Some(s) = q.status {
        let clause = if by == Some(ParcelIndex::Status) {
            " AND f.status = ?"
        } else {
            " AND EXISTS (SELECT 1 FROM shipments x WHERE x.order_id = o.id AND x.status = ? AND x.deleted = 0)"
        };
        arg(&mut sql, clause, Box::new(s.as_str()));
    }
    if let Some(c) = &search.carrier {
        let clause = if by == Some(ParcelIndex::Carrier) {
            " AND f.carrier = ?"
        } else {
            " AND EXISTS (SELECT 1 FROM shipments x WHERE x.order_id = o.id AND x.carrier = ? AND x.deleted = 0)"
        };
        arg(&mut sql, clause, Box::new(c.clone()));
    }
    if let Some(s) = &search.store {
        arg(&mut sql, " AND o.store = ?", Box::new(s.clone()));
    }
    if let Some(s) = q.stage {
        arg(&mut sql, " AND o.stage = ?", Box::new(s.as_str()));
    }
    if let Some(t) = q.placed_from {
        arg(
            &mut sql,
            " AND o.placed_at >= ?",
            Box::new(t.timestamp_millis()),
        );
    }
    if let Some(t) = q.placed_to {
        arg(
            &mut sql,
            " AND o.placed_at < ?",
            Box::new(t.timestamp_millis()),
        );
    }
    let key = if by.is_some() { "f.order_id" } else { "o.id" };
    if let Some(b) = q.before {
        arg(&mut sql, &format!(" AND {key} < ?"), Box::new(b.0));
    }
    if by.is_some() {
        // An order with two such parcels once.
        sql.push_str(" GROUP BY f.order_id");
    }
    arg(
        &mut sql,
        &format!(" ORDER BY {key} DESC LIMIT ?"),
        Box::new(limit),
    );
    (sql, args)
}

pub(super) fn feed(conn: &Connection, after: i64, limit: usize) -> Result<Vec<FeedEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at, order_id, shipment_id, data FROM feed WHERE seq > ?1
         ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit_of(limit)], |r| {
        Ok(FeedEntry {
            seq: r.get(0)?,
            at: utc(r.get(1)?)?,
            order_id: r.get::<_, Option<Uuid>>(2)?.map(OrderId),
            shipment_id: r.get::<_, Option<Uuid>>(3)?.map(ShipmentId),
            change: crate::store::decode_change(&r.get::<_, String>(4)?).map_err(bad)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
