//! Orders as records of their own (customers, stages, removal, the order list) and the
//! change feed: core's `store/sqlite/orders.rs`, statement for statement, in PostgreSQL's
//! dialect, with the locks PostgreSQL needs (see the module docs of `tracking`).

use chrono::{DateTime, Utc};
use parceltrail_core::Error as CoreError;
use parceltrail_core::domain::{Order, OrderId, OrderStage, Shipment, ShipmentId, StageChange};
use parceltrail_core::store::orders::{Fields, ParcelIndex, Search, limit_of, qualified};
use parceltrail_core::store::{
    Added, Change, FeedEntry, FeedHead, NewOrder, OnExisting, OrderInfo, OrderPatch, OrderQuery,
    SavedOrder, change_kind, clean_opt, clean_text, decode_change,
};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::shipments::{
    Journal, ORDER_COLUMNS, SHIPMENT_COLUMNS, add_all, append_feed, lock_numbers, order_from_row,
    remove_in, shipment, shipment_from_row,
};
use super::{Fail, PgStore, R, Tx, exec, get, ms, one, opt, parse, rows, utc};

/// One live order; `lock` holds its row until the transaction ends.
async fn load(tx: &Tx<'_>, id: OrderId, lock: bool) -> R<Order> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 AND NOT deleted{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    match opt(tx, &sql, &[&id.0]).await? {
        Some(r) => order_from_row(&r),
        None => Err(CoreError::NotFound(id.to_string()).into()),
    }
}

/// The order with this store and number: a live one, else the latest removed one (locked).
async fn by_number(tx: &Tx<'_>, store: Option<&str>, number: &str) -> R<Option<(Uuid, bool)>> {
    match opt(
        tx,
        "SELECT id, deleted FROM orders
         WHERE coalesce(store, '') = coalesce($1, '') AND order_number = $2
         ORDER BY deleted, deleted_at DESC, id DESC LIMIT 1 FOR UPDATE",
        &[&store, &number],
    )
    .await?
    {
        Some(r) => Ok(Some((get(&r, 0)?, get(&r, 1)?))),
        None => Ok(None),
    }
}

async fn by_id(tx: &Tx<'_>, id: OrderId) -> R<Option<(Uuid, bool)>> {
    match opt(
        tx,
        "SELECT id, deleted FROM orders WHERE id = $1 FOR UPDATE",
        &[&id.0],
    )
    .await?
    {
        Some(r) => Ok(Some((get(&r, 0)?, get(&r, 1)?))),
        None => Ok(None),
    }
}

fn offset(t: Option<chrono::DateTime<chrono::FixedOffset>>) -> Option<i32> {
    t.map(|t| t.offset().local_minus_utc())
}

/// Write a new order, or a removed one's tombstone afresh, and log its first stage.
async fn write_fresh(tx: &Tx<'_>, id: OrderId, f: &Fields, revive: bool, now: i64) -> R<()> {
    let (i, c) = (&f.info, &f.customer);
    let sql = if revive {
        "UPDATE orders SET store = $2, order_number = $3, items = $4, placed_at = $5,
            placed_offset = $6, notes = $7, archived = false, archived_at = $8, created_at = $8,
            updated_at = $8, promised_at = $9, promised_offset = $10, customer_name = $11,
            customer_email = $12, customer_phone = $13, customer_postcode = $14,
            customer_address = $15, customer_name_lower = $16, customer_email_lower = $17,
            stage = $18, stage_at = $8, deleted = false, deleted_at = $8
         WHERE id = $1"
    } else {
        "INSERT INTO orders (id, store, order_number, items, placed_at, placed_offset, notes,
            archived, archived_at, created_at, updated_at, promised_at, promised_offset,
            customer_name, customer_email, customer_phone, customer_postcode, customer_address,
            customer_name_lower, customer_email_lower, stage, stage_at, deleted, deleted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8, $8, $8, $9, $10, $11, $12, $13, $14,
            $15, $16, $17, $18, $8, false, $8)"
    };
    exec(
        tx,
        sql,
        &[
            &id.0,
            &i.store,
            &i.order_number,
            &i.items,
            &i.placed_at.map(|t| t.timestamp_millis()),
            &offset(i.placed_at),
            &i.notes,
            &now,
            &i.promised_at.map(|t| t.timestamp_millis()),
            &offset(i.promised_at),
            &c.name,
            &c.email,
            &c.phone,
            &c.postcode,
            &c.address,
            &f.name_lower(),
            &f.email_lower(),
            &f.stage.as_str(),
        ],
    )
    .await?;
    log_stage(tx, id, f.stage, f.stage, &f.actor, None, now).await
}

async fn log_stage(
    tx: &Tx<'_>,
    id: OrderId,
    from: OrderStage,
    to: OrderStage,
    actor: &str,
    note: Option<&str>,
    at: i64,
) -> R<()> {
    exec(
        tx,
        "INSERT INTO order_stages (order_id, from_stage, to_stage, actor, note, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&id.0, &from.as_str(), &to.as_str(), &actor, &note, &at],
    )
    .await?;
    Ok(())
}

/// Fill in what the stored order lacks; never overwrite. True when something was filled.
async fn fill(tx: &Tx<'_>, id: OrderId, f: &Fields, now: i64) -> R<bool> {
    let (i, c) = (&f.info, &f.customer);
    // Only when a column is empty and the new value is not does anything change, so the
    // update's count says whether the order did.
    let n = exec(
        tx,
        "UPDATE orders SET items = coalesce(items, $2), notes = coalesce(notes, $3),
            placed_at = coalesce(placed_at, $4), placed_offset = coalesce(placed_offset, $5),
            promised_at = coalesce(promised_at, $6),
            promised_offset = coalesce(promised_offset, $7),
            customer_name = coalesce(customer_name, $8),
            customer_name_lower = coalesce(customer_name_lower, $9),
            customer_email = coalesce(customer_email, $10),
            customer_email_lower = coalesce(customer_email_lower, $11),
            customer_phone = coalesce(customer_phone, $12),
            customer_postcode = coalesce(customer_postcode, $13),
            customer_address = coalesce(customer_address, $14),
            updated_at = $15
         WHERE id = $1 AND (
            (items IS NULL AND $2::text IS NOT NULL) OR (notes IS NULL AND $3::text IS NOT NULL)
            OR (placed_at IS NULL AND $4::bigint IS NOT NULL)
            OR (promised_at IS NULL AND $6::bigint IS NOT NULL)
            OR (customer_name IS NULL AND $8::text IS NOT NULL)
            OR (customer_email IS NULL AND $10::text IS NOT NULL)
            OR (customer_phone IS NULL AND $12::text IS NOT NULL)
            OR (customer_postcode IS NULL AND $13::text IS NOT NULL)
            OR (customer_address IS NULL AND $14::text IS NOT NULL))",
        &[
            &id.0,
            &i.items,
            &i.notes,
            &i.placed_at.map(|t| t.timestamp_millis()),
            &offset(i.placed_at),
            &i.promised_at.map(|t| t.timestamp_millis()),
            &offset(i.promised_at),
            &c.name,
            &f.name_lower(),
            &c.email,
            &f.email_lower(),
            &c.phone,
            &c.postcode,
            &c.address,
            &now,
        ],
    )
    .await?;
    Ok(n > 0)
}

/// Find, revive or create the order a shipment added on its own names (the app's way: an
/// order number joins shipments of one order; without one, each gets its own). The caller
/// holds the numbers lock.
pub(super) async fn resolve(
    tx: &Tx<'_>,
    info: &OrderInfo,
    now: i64,
    feed: &mut Vec<Change>,
) -> R<OrderId> {
    let f = Fields::implicit(info);
    let found = match &f.info.order_number {
        Some(n) => by_number(tx, f.info.store.as_deref(), n).await?,
        None => None,
    };
    Ok(match found {
        Some((id, false)) => {
            let id = OrderId(id);
            if fill(tx, id, &f, now).await? {
                feed.push(Change::OrderUpdated { order_id: id });
            }
            id
        }
        Some((id, true)) => {
            let id = OrderId(id);
            write_fresh(tx, id, &f, true, now).await?;
            feed.push(Change::OrderCreated { order_id: id });
            id
        }
        None => {
            let id = OrderId::new();
            write_fresh(tx, id, &f, false, now).await?;
            feed.push(Change::OrderCreated { order_id: id });
            id
        }
    })
}

pub(super) async fn save_order(
    tx: &Tx<'_>,
    schema: &str,
    new: &NewOrder,
    on_existing: OnExisting,
    now: DateTime<Utc>,
) -> R<SavedOrder> {
    let mut feed = Vec::new();
    let saved = save_one(tx, schema, new, on_existing, ms(now), &mut feed).await?;
    // Last, so the journal lock is held for the commit only.
    append_feed(tx, &mut Journal::new(schema), &feed, ms(now)).await?;
    Ok(saved)
}

/// [`Store::save_orders`](parceltrail_core::store::Store::save_orders): each order in a
/// savepoint of its own, so a refused one is undone alone; the feed once, at the end.
pub(super) async fn save_orders(
    tx: &Tx<'_>,
    schema: &str,
    orders: &[NewOrder],
    on_existing: OnExisting,
    now: DateTime<Utc>,
) -> R<Vec<parceltrail_core::Result<SavedOrder>>> {
    let mut feed = Vec::new();
    let mut out = Vec::with_capacity(orders.len());
    for new in orders {
        tx.batch_execute("SAVEPOINT save_order").await?;
        let mut own = Vec::new();
        match save_one(tx, schema, new, on_existing, ms(now), &mut own).await {
            Ok(saved) => {
                tx.batch_execute("RELEASE SAVEPOINT save_order").await?;
                feed.append(&mut own);
                out.push(Ok(saved));
            }
            Err(Fail::Core(e)) if e.is_refusal() => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT save_order; RELEASE SAVEPOINT save_order")
                    .await?;
                out.push(Err(e));
            }
            Err(e) => return Err(e),
        }
    }
    append_feed(tx, &mut Journal::new(schema), &feed, ms(now)).await?;
    Ok(out)
}

/// One order's writes, its feed entries pushed onto `feed` for the caller to append.
async fn save_one(
    tx: &Tx<'_>,
    schema: &str,
    new: &NewOrder,
    on_existing: OnExisting,
    now: i64,
    feed: &mut Vec<Change>,
) -> R<SavedOrder> {
    // Replicas saving one order (or adding one number) take turns; the order's row, then
    // its numbers' rows are locked before anything is written.
    PgStore::numbers_lock(tx, schema).await?;
    let f = Fields::of(new);
    let found = match &f.info.order_number {
        Some(n) => by_number(tx, f.info.store.as_deref(), n).await?,
        None => None,
    };
    let found = match found {
        Some(found) => Some(found),
        None => by_id(tx, new.id).await?,
    };
    let (id, created) = match found {
        Some((id, false)) => {
            let id = OrderId(id);
            if on_existing == OnExisting::Refuse {
                return Err(CoreError::OrderExists(id).into());
            }
            if fill(tx, id, &f, now).await? {
                feed.push(Change::OrderUpdated { order_id: id });
            }
            (id, false)
        }
        Some((id, true)) => {
            let id = OrderId(id);
            write_fresh(tx, id, &f, true, now).await?;
            feed.push(Change::OrderCreated { order_id: id });
            (id, true)
        }
        None => {
            write_fresh(tx, new.id, &f, false, now).await?;
            feed.push(Change::OrderCreated { order_id: new.id });
            (new.id, true)
        }
    };
    lock_numbers(tx, &new.shipments).await?;
    let mut journal = Journal::new(schema);
    let added = add_all(tx, &new.shipments, Some(id), now, feed, &mut journal).await?;
    let mut shipments = Vec::with_capacity(added.len());
    for (sid, created, events_added) in added {
        shipments.push(Added {
            shipment: shipment(tx, sid).await?,
            created,
            events_added,
        });
    }
    let order = load(tx, id, false).await?;
    Ok(SavedOrder {
        order,
        created,
        shipments,
    })
}

pub(super) async fn update_order(
    tx: &Tx<'_>,
    schema: &str,
    id: OrderId,
    patch: &OrderPatch,
    now: DateTime<Utc>,
) -> R<Order> {
    let now = ms(now);
    // The numbers lock first: a new number is checked against the others and taken in turn.
    PgStore::numbers_lock(tx, schema).await?;
    let old = load(tx, id, true).await?;
    let new = parceltrail_core::store::orders::patched(&old, patch);
    if new == old {
        return Ok(old);
    }
    if let Some(number) = &new.order_number
        && (new.order_number != old.order_number || new.store != old.store)
        && let Some((other, false)) = by_number(tx, new.store.as_deref(), number).await?
        && other != id.0
    {
        return Err(CoreError::OrderExists(OrderId(other)).into());
    }
    let f = Fields::from_order(&new);
    let (i, c) = (&f.info, &f.customer);
    exec(
        tx,
        "UPDATE orders SET store = $2, order_number = $3, items = $4, placed_at = $5,
            placed_offset = $6, notes = $7, promised_at = $8, promised_offset = $9,
            customer_name = $10, customer_email = $11, customer_phone = $12,
            customer_postcode = $13, customer_address = $14, customer_name_lower = $15,
            customer_email_lower = $16, updated_at = $17
         WHERE id = $1",
        &[
            &id.0,
            &i.store,
            &i.order_number,
            &i.items,
            &i.placed_at.map(|t| t.timestamp_millis()),
            &offset(i.placed_at),
            &i.notes,
            &i.promised_at.map(|t| t.timestamp_millis()),
            &offset(i.promised_at),
            &c.name,
            &c.email,
            &c.phone,
            &c.postcode,
            &c.address,
            &f.name_lower(),
            &f.email_lower(),
            &now,
        ],
    )
    .await?;
    let order = load(tx, id, false).await?;
    let updated = [Change::OrderUpdated { order_id: id }];
    append_feed(tx, &mut Journal::new(schema), &updated, now).await?;
    Ok(order)
}

pub(super) async fn set_order_stage(
    tx: &Tx<'_>,
    schema: &str,
    id: OrderId,
    stage: OrderStage,
    actor: &str,
    note: Option<&str>,
    at: DateTime<Utc>,
) -> R<Order> {
    let at = ms(at);
    let old = load(tx, id, true).await?;
    if old.stage == stage {
        return Ok(old);
    }
    let actor = clean_text(actor);
    exec(
        tx,
        "UPDATE orders SET stage = $2, stage_at = $3, updated_at = $3 WHERE id = $1",
        &[&id.0, &stage.as_str(), &at],
    )
    .await?;
    log_stage(
        tx,
        id,
        old.stage,
        stage,
        &actor,
        clean_opt(note).as_deref(),
        at,
    )
    .await?;
    let changed = [Change::OrderStageChanged {
        order_id: id,
        from: old.stage,
        to: stage,
        actor: actor.into_owned(),
    }];
    let order = load(tx, id, false).await?;
    append_feed(tx, &mut Journal::new(schema), &changed, at).await?;
    Ok(order)
}

pub(super) async fn order_stages(tx: &Tx<'_>, id: OrderId) -> R<Vec<StageChange>> {
    load(tx, id, false).await?;
    stages_of(tx, id).await
}

/// The stage log of an order, without looking at the order (its caller has).
pub(super) async fn stages_of(tx: &Tx<'_>, id: OrderId) -> R<Vec<StageChange>> {
    rows(
        tx,
        "SELECT from_stage, to_stage, actor, note, changed_at FROM order_stages
         WHERE order_id = $1 ORDER BY id",
        &[&id.0],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(StageChange {
            from: parse(get(r, 0)?)?,
            to: parse(get(r, 1)?)?,
            actor: get(r, 2)?,
            note: get(r, 3)?,
            changed_at: utc(get(r, 4)?)?,
        })
    })
    .collect()
}

pub(super) async fn remove_order(
    tx: &Tx<'_>,
    schema: &str,
    id: OrderId,
    at: DateTime<Utc>,
) -> R<()> {
    let at = ms(at);
    // As `save_order` takes its locks: numbers, the order, its parcels (in id order).
    PgStore::numbers_lock(tx, schema).await?;
    let n = exec(
        tx,
        "UPDATE orders SET deleted = true, deleted_at = $2, updated_at = $2, items = NULL,
            notes = NULL, placed_at = NULL, placed_offset = NULL, promised_at = NULL,
            promised_offset = NULL, customer_name = NULL, customer_email = NULL,
            customer_phone = NULL, customer_postcode = NULL, customer_address = NULL,
            customer_name_lower = NULL, customer_email_lower = NULL
         WHERE id = $1 AND NOT deleted",
        &[&id.0, &at],
    )
    .await?;
    if n == 0 {
        return Err(CoreError::NotFound(id.to_string()).into());
    }
    exec(tx, "DELETE FROM order_stages WHERE order_id = $1", &[&id.0]).await?;
    rows(
        tx,
        "SELECT id FROM shipments WHERE order_id = $1 AND NOT deleted ORDER BY id FOR UPDATE",
        &[&id.0],
    )
    .await?;
    let ids: Vec<Uuid> = rows(
        tx,
        "SELECT id FROM shipments WHERE order_id = $1 AND NOT deleted ORDER BY created_at, id",
        &[&id.0],
    )
    .await?
    .iter()
    .map(|r| get(r, 0))
    .collect::<R<_>>()?;
    let mut feed = vec![Change::OrderRemoved { order_id: id }];
    for sid in ids {
        let sid = ShipmentId(sid);
        remove_in(tx, sid, at).await?;
        feed.push(Change::ShipmentRemoved { shipment_id: sid });
    }
    append_feed(tx, &mut Journal::new(schema), &feed, at).await
}

pub(super) async fn order_shipments(tx: &Tx<'_>, id: OrderId) -> R<Vec<Shipment>> {
    load(tx, id, false).await?;
    shipments_of_orders(tx, &[id]).await
}

pub(super) async fn shipments_of_orders(tx: &Tx<'_>, ids: &[OrderId]) -> R<Vec<Shipment>> {
    let wanted: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
    let sql = format!(
        "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE order_id = ANY($1) AND NOT deleted
         ORDER BY created_at, id"
    );
    let mut out = rows(tx, &sql, &[&wanted])
        .await?
        .iter()
        .map(shipment_from_row)
        .collect::<R<Vec<_>>>()?;
    // Grouped in the order asked for (a stable sort keeps each order's oldest first).
    out.sort_by_key(|s| wanted.iter().position(|w| *w == s.order_id.0));
    Ok(out)
}

/// A page of orders: the query's filters as SQL, so each is served by its index.
pub(super) async fn orders(tx: &Tx<'_>, q: &OrderQuery) -> R<Vec<Order>> {
    let limit = limit_of(q.limit);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let search = Search::of(q);
    // As on SQLite (`Search::parcel_index`): with a parcel filter the page is read from the
    // parcels' index newest first, each order looked up as it comes, stopping at the page's
    // end. The planner, left to itself, walks the orders' key and merges, which reads every
    // newer order without such a parcel first (thousands); `OFFSET 0` keeps the lateral
    // lookup a lookup.
    let by = search.parcel_index(q);
    let cols = qualified(ORDER_COLUMNS, "o");
    let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: Box<dyn ToSql + Sync + Send>| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("${}", args.len())));
    };
    let mut sql = String::new();
    // With free text and nothing else to filter by, the page is the newest of the matching
    // ids, taken before the orders are read.
    let alone = search.text.is_some()
        && search.order_number.is_none()
        && search.email.is_none()
        && q.status.is_none()
        && search.carrier.is_none()
        && search.store.is_none()
        && q.stage.is_none()
        && q.placed_from.is_none()
        && q.placed_to.is_none();
    if let Some(t) = &search.text {
        // An order number prefix, an e-mail, part of a name, or a tracking number: each
        // found through its index (the name through pg_trgm's), then the orders they name,
        // each looked up by key. Joined by merging instead, as the planner prefers (it
        // takes a prefix to match a hundredth of the orders), the join read every order
        // newer than the one a full number names: 46 ms at 100,000 orders, not 2.
        arg(
            &mut sql,
            &format!(
                "SELECT {cols} FROM (SELECT id FROM (SELECT id FROM orders
                 WHERE order_number LIKE ? AND NOT deleted"
            ),
            Box::new(t.number_like()),
        );
        arg(
            &mut sql,
            " UNION SELECT id FROM orders WHERE customer_email_lower = ? AND NOT deleted",
            Box::new(t.folded.clone()),
        );
        let (name, part) = if t.by_trigrams() {
            (
                " UNION SELECT id FROM orders WHERE customer_name_lower LIKE ? AND NOT deleted",
                t.name_like(),
            )
        } else {
            // Too short for trigrams: the index would only be read whole.
            (
                " UNION SELECT id FROM orders WHERE strpos(customer_name_lower, ?) > 0
                 AND NOT deleted",
                t.folded.clone(),
            )
        };
        arg(&mut sql, name, Box::new(part));
        arg(
            &mut sql,
            " UNION SELECT s.order_id FROM shipments s JOIN orders d ON d.id = s.order_id
             WHERE s.tracking_number = ? AND NOT s.deleted AND NOT d.deleted) u",
            Box::new(t.number.clone()),
        );
        if alone {
            if let Some(b) = q.before {
                arg(&mut sql, " WHERE id < ?", Box::new(b.0));
            }
            arg(&mut sql, " ORDER BY id DESC LIMIT ?", Box::new(limit));
        }
        sql.push_str(
            ") m CROSS JOIN LATERAL (SELECT * FROM orders x WHERE x.id = m.id OFFSET 0) o
             WHERE NOT o.deleted",
        );
    } else {
        sql.push_str(&match by {
            Some(_) => format!(
                "SELECT DISTINCT ON (f.order_id) {cols} FROM shipments f
                 CROSS JOIN LATERAL (SELECT * FROM orders x WHERE x.id = f.order_id OFFSET 0) o
                 WHERE NOT f.deleted AND NOT o.deleted"
            ),
            None => format!("SELECT {cols} FROM orders o WHERE NOT o.deleted"),
        });
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
            " AND o.id IN (SELECT order_id FROM shipments WHERE status = ? AND NOT deleted)"
        };
        arg(&mut sql, clause, Box::new(s.as_str()));
    }
    if let Some(c) = &search.carrier {
        let clause = if by == Some(ParcelIndex::Carrier) {
            " AND f.carrier = ?"
        } else {
            " AND o.id IN (SELECT order_id FROM shipments WHERE carrier = ? AND NOT deleted)"
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
    if alone {
        // The page's bounds were set on its ids.
        sql.push_str(" ORDER BY o.id DESC");
    } else {
        if let Some(b) = q.before {
            arg(&mut sql, &format!(" AND {key} < ?"), Box::new(b.0));
        }
        arg(
            &mut sql,
            &format!(" ORDER BY {key} DESC LIMIT ?"),
            Box::new(limit),
        );
    }
    let params: Vec<&(dyn ToSql + Sync)> = args
        .iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect();
    rows(tx, &sql, &params)
        .await?
        .iter()
        .map(order_from_row)
        .collect()
}

pub(super) async fn feed(tx: &Tx<'_>, after: i64, limit: usize) -> R<Vec<FeedEntry>> {
    rows(
        tx,
        "SELECT seq, at, order_id, shipment_id, data FROM feed WHERE seq > $1
         ORDER BY seq LIMIT $2",
        &[&after, &limit_of(limit)],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(FeedEntry {
            seq: get(r, 0)?,
            at: utc(get(r, 1)?)?,
            order_id: get::<Option<Uuid>>(r, 2)?.map(OrderId),
            shipment_id: get::<Option<Uuid>>(r, 3)?.map(ShipmentId),
            change: decode_change(get(r, 4)?).map_err(Fail::Bad)?,
        })
    })
    .collect()
}

pub(super) async fn feed_heads(tx: &Tx<'_>, after: i64, limit: usize) -> R<Vec<FeedHead>> {
    rows(
        tx,
        "SELECT seq, shipment_id, left(data, 64) FROM feed WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&after, &limit_of(limit)],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(FeedHead {
            seq: get(r, 0)?,
            shipment_id: get::<Option<Uuid>>(r, 1)?.map(ShipmentId),
            kind: change_kind(get(r, 2)?),
        })
    })
    .collect()
}

pub(super) async fn feed_head(tx: &Tx<'_>) -> R<i64> {
    get(
        &one(tx, "SELECT coalesce(max(seq), 0)::bigint FROM feed", &[]).await?,
        0,
    )
}

pub(super) async fn prune_feed(tx: &Tx<'_>, before: DateTime<Utc>) -> R<usize> {
    Ok(exec(tx, "DELETE FROM feed WHERE at < $1", &[&ms(before)]).await? as usize)
}
