//! Orders, shipments, carrier events, the home screen, polling and carrier state: core's
//! `store/sqlite.rs`, statement for statement, in PostgreSQL's dialect.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use parceltrail_core::Error as CoreError;
use parceltrail_core::domain::{
    CarrierEta, Customer, NewEvent, Order, OrderId, Place, Shipment, ShipmentId, Source, Status,
    StatusChange, TrackingEvent,
};
use parceltrail_core::eta::{Estimate, EtaSource};
use parceltrail_core::notify::rules::KindSet;
use parceltrail_core::problems::ProblemKind;
use parceltrail_core::store::{
    Added, Backlog, Breaker, CarrierState, Change, Edit, Facets, Group, IngestBatch, IngestReport,
    ListItem, ListQuery, NewShipment, PollRecord, PollTarget, Presence, Register, ShipmentRecord,
    clean_event, clean_opt, clean_place, clean_text, encode_change,
};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Fail, Param, PgStore, R, Tx, count, each_row, exec, fixed, get, group_of, ms, one, opt,
    opt_fixed, opt_utc, parse, rows, status, utc,
};

/// Order key for "which event is the latest": time, then progress, then key. A total order,
/// so the derived state does not depend on the order events arrive in.
type Head = (i64, u8, [u8; 16]);

pub(super) const SHIPMENT_COLUMNS: &str = "id, order_id, tracking_number, carrier, service, \
    origin_city, origin_region, origin_country, origin_postal, \
    dest_city, dest_region, dest_country, dest_postal, \
    status, status_detail, last_event_at, last_event_offset, event_count, \
    eta_earliest, eta_earliest_offset, eta_latest, eta_latest_offset, eta_observed_at, \
    label, label_at, muted, muted_at, archived, archived_at, \
    last_polled_at, next_poll_at, last_error, last_error_at, created_at, updated_at, \
    est_earliest, est_likely, est_latest, est_confidence, est_source, notify_kinds";

/// How many columns [`SHIPMENT_COLUMNS`] names (what a query selects after them starts here).
const SHIPMENT_COLUMN_COUNT: usize = 41;

pub(super) fn place(r: &Row, first: usize) -> R<Place> {
    Ok(Place {
        city: get(r, first)?,
        region: get(r, first + 1)?,
        country: get(r, first + 2)?,
        postal: get(r, first + 3)?,
    })
}

/// The carrier ETA from five consecutive columns: earliest, its offset, latest, its offset,
/// observed.
pub(super) fn eta_at(r: &Row, first: usize) -> R<Option<CarrierEta>> {
    let (e, l, o): (Option<i64>, Option<i64>, Option<i64>) =
        (get(r, first)?, get(r, first + 2)?, get(r, first + 4)?);
    match (e, l, o) {
        (Some(e), Some(l), Some(o)) => Ok(Some(CarrierEta {
            earliest: fixed(e, get::<Option<i32>>(r, first + 1)?.unwrap_or(0))?,
            latest: fixed(l, get::<Option<i32>>(r, first + 3)?.unwrap_or(0))?,
            observed_at: utc(o)?,
        })),
        _ => Ok(None),
    }
}

/// Our estimate from five consecutive columns: earliest, likely, latest, confidence, source.
pub(super) fn estimate_at(r: &Row, first: usize) -> R<Option<Estimate>> {
    let (e, m, l): (Option<i64>, Option<i64>, Option<i64>) =
        (get(r, first)?, get(r, first + 1)?, get(r, first + 2)?);
    let (Some(e), Some(m), Some(l)) = (e, m, l) else {
        return Ok(None);
    };
    Ok(Some(Estimate {
        earliest: utc(e)?,
        likely: utc(m)?,
        latest: utc(l)?,
        confidence: get::<f64>(r, first + 3)? as f32,
        source: parse::<EtaSource>(&get::<String>(r, first + 4)?)?,
    }))
}

/// Reads a row of [`SHIPMENT_COLUMNS`].
pub(super) fn shipment_from_row(r: &Row) -> R<Shipment> {
    Ok(Shipment {
        id: ShipmentId(get(r, 0)?),
        order_id: OrderId(get(r, 1)?),
        tracking_number: get(r, 2)?,
        carrier: get(r, 3)?,
        service: get(r, 4)?,
        origin: place(r, 5)?,
        destination: place(r, 9)?,
        status: status(get(r, 13)?)?,
        status_detail: get(r, 14)?,
        last_event_at: opt_fixed(get(r, 15)?, get(r, 16)?)?,
        event_count: count(i64::from(get::<i32>(r, 17)?))?,
        carrier_eta: eta_at(r, 18)?,
        label: get(r, 23)?,
        label_at: utc(get(r, 24)?)?,
        muted: get(r, 25)?,
        muted_at: utc(get(r, 26)?)?,
        archived: get(r, 27)?,
        archived_at: utc(get(r, 28)?)?,
        last_polled_at: opt_utc(get(r, 29)?)?,
        next_poll_at: opt_utc(get(r, 30)?)?,
        last_error: get(r, 31)?,
        last_error_at: opt_utc(get(r, 32)?)?,
        created_at: utc(get(r, 33)?)?,
        updated_at: utc(get(r, 34)?)?,
        estimate: estimate_at(r, 35)?,
        notify_kinds: get::<Option<String>>(r, 40)?
            .map(|k| k.parse::<KindSet>().map_err(Fail::Bad))
            .transpose()?,
    })
}

pub(super) const ORDER_COLUMNS: &str = "id, store, order_number, items, placed_at, placed_offset, notes, \
    archived, archived_at, created_at, promised_at, promised_offset, \
    customer_name, customer_email, customer_phone, customer_postcode, customer_address, \
    stage, stage_at, updated_at";

pub(super) fn order_from_row(r: &Row) -> R<Order> {
    Ok(Order {
        id: OrderId(get(r, 0)?),
        store: get(r, 1)?,
        order_number: get(r, 2)?,
        items: get(r, 3)?,
        placed_at: opt_fixed(get(r, 4)?, get(r, 5)?)?,
        notes: get(r, 6)?,
        archived: get(r, 7)?,
        archived_at: utc(get(r, 8)?)?,
        created_at: utc(get(r, 9)?)?,
        promised_at: opt_fixed(get(r, 10)?, get(r, 11)?)?,
        customer: Customer {
            name: get(r, 12)?,
            email: get(r, 13)?,
            phone: get(r, 14)?,
            postcode: get(r, 15)?,
            address: get(r, 16)?,
        },
        stage: parse(get(r, 17)?)?,
        stage_at: utc(get(r, 18)?)?,
        updated_at: utc(get(r, 19)?)?,
    })
}

const EVENT_COLUMNS: &str = "shipment_id, dedupe_key, occurred_at, occurred_offset, status, raw_code, \
    description, city, region, country, postal, source, recorded_at";

fn event_from_row(r: &Row) -> R<TrackingEvent> {
    Ok(TrackingEvent {
        shipment_id: ShipmentId(get(r, 0)?),
        dedupe_key: get(r, 1)?,
        occurred_at: fixed(get(r, 2)?, get(r, 3)?)?,
        status: status(get(r, 4)?)?,
        raw_code: get(r, 5)?,
        description: get(r, 6)?,
        location: place(r, 7)?,
        source: parse::<Source>(get(r, 11)?)?,
        recorded_at: utc(get(r, 12)?)?,
    })
}

/// The journal lock of one transaction, taken at most once: by a writer that holds the
/// rows it needs, right before its first `status_log` or `problems` row, or else right
/// before it appends to the feed, at its end.
pub(super) struct Journal<'s> {
    schema: &'s str,
    taken: bool,
}

impl<'s> Journal<'s> {
    pub(super) fn new(schema: &'s str) -> Self {
        Journal {
            schema,
            taken: false,
        }
    }

    pub(super) async fn take(&mut self, tx: &Tx<'_>) -> R<()> {
        if !self.taken {
            PgStore::journal_lock(tx, self.schema).await?;
            self.taken = true;
        }
        Ok(())
    }
}

/// Append committed changes to the feed, as the transaction's last writes: under the
/// journal lock (taken here if not before), so `seq`s become visible in the order they are
/// given out and a reader resuming after the last `seq` it saw never skips one committed
/// late. A parcel's change is filed under the parcel's order.
pub(super) async fn append_feed(
    tx: &Tx<'_>,
    journal: &mut Journal<'_>,
    changes: &[Change],
    at: i64,
) -> R<()> {
    let fed = FeedColumns::of(changes);
    if fed.data.is_empty() {
        return Ok(());
    }
    journal.take(tx).await?;
    exec(
        tx,
        FEED_INSERT,
        &[&at, &fed.orders, &fed.parcels, &fed.data],
    )
    .await?;
    Ok(())
}

/// One statement for a call's changes, its rows numbered in the given order.
pub(super) const FEED_INSERT: &str = "INSERT INTO feed (at, order_id, shipment_id, data)
     SELECT $1, coalesce(t.o, (SELECT s.order_id FROM shipments s WHERE s.id = t.s)), t.s, t.d
     FROM unnest($2::uuid[], $3::uuid[], $4::text[]) WITH ORDINALITY AS t (o, s, d, n)
     ORDER BY t.n";

/// The changes the feed keeps, a column each.
pub(super) struct FeedColumns {
    pub(super) orders: Vec<Option<Uuid>>,
    pub(super) parcels: Vec<Option<Uuid>>,
    pub(super) data: Vec<String>,
}

impl FeedColumns {
    pub(super) fn of(changes: &[Change]) -> Self {
        let fed: Vec<&Change> = changes.iter().filter(|c| c.is_fed()).collect();
        FeedColumns {
            orders: fed.iter().map(|c| c.order_id().map(|o| o.0)).collect(),
            parcels: fed.iter().map(|c| c.shipment_id().map(|s| s.0)).collect(),
            data: fed.iter().map(|c| encode_change(c)).collect(),
        }
    }
}

/// Lock the given shipments' rows, in id order (see the module docs of `tracking`).
pub(super) async fn lock_shipments(tx: &Tx<'_>, ids: &mut Vec<Uuid>) -> R<()> {
    ids.sort();
    ids.dedup();
    if !ids.is_empty() {
        rows(
            tx,
            "SELECT id FROM shipments WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            &[&*ids],
        )
        .await?;
    }
    Ok(())
}

/// One shipment add inside an open transaction that holds the numbers lock and the rows of
/// the numbers it adds: into the order its `order` info names (found, revived or created;
/// `None`), or into the given order, refusing a number another order has. Returns the
/// shipment and whether it was created (or revived); the order's and the parcel's own
/// changes go to `feed`.
async fn add_in(
    tx: &Tx<'_>,
    new: &NewShipment,
    into: Option<OrderId>,
    now: i64,
    feed: &mut Vec<Change>,
) -> R<(ShipmentId, bool)> {
    let number = clean_text(&new.tracking_number);
    if number.is_empty() {
        return Err(CoreError::InvalidInput("the tracking number is empty".into()).into());
    }
    let existing = match opt(
        tx,
        "SELECT id, deleted, order_id FROM shipments WHERE tracking_number = $1",
        &[&number],
    )
    .await?
    {
        Some(r) => Some((
            get::<Uuid>(&r, 0)?,
            get::<bool>(&r, 1)?,
            get::<Uuid>(&r, 2)?,
        )),
        None => None,
    };
    if let Some((id, false, order)) = existing {
        return match into {
            Some(into) if into.0 != order => Err(CoreError::NumberTaken {
                tracking_number: number.into_owned(),
                order_id: OrderId(order),
            }
            .into()),
            _ => Ok((ShipmentId(id), false)),
        };
    }
    let order = match into {
        Some(id) => id,
        None => super::orders::resolve(tx, &new.order, now, feed).await?,
    };
    let (carrier, service, label) = (
        clean_text(&new.carrier),
        clean_opt(new.service.as_deref()),
        clean_opt(new.label.as_deref()),
    );
    let id = match existing {
        Some((id, _, _)) => {
            // Re-adding a removed number revives its tombstone (same id, so sync sees one
            // record whose `deleted` flag changed last).
            exec(
                tx,
                "UPDATE shipments SET order_id = $2, carrier = $3, service = $4, label = $5,
                    label_at = $6, muted = false, muted_at = $6, archived = false, archived_at = $6,
                    deleted = false, deleted_at = $6, next_poll_at = $6, updated_at = $6
                 WHERE id = $1",
                &[&id, &order.0, &carrier, &service, &label, &now],
            )
            .await?;
            ShipmentId(id)
        }
        None => {
            let id = ShipmentId::new();
            exec(
                tx,
                "INSERT INTO shipments (id, order_id, tracking_number, carrier, service, label,
                    label_at, muted_at, archived_at, deleted_at, next_poll_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $7, $7, $7, $7)",
                &[&id.0, &order.0, &number, &carrier, &service, &label, &now],
            )
            .await?;
            id
        }
    };
    feed.push(Change::ShipmentAdded {
        shipment_id: id,
        order_id: order,
    });
    Ok((id, true))
}

/// Lock the rows the given numbers already have (live or removed), in id order.
pub(super) async fn lock_numbers(tx: &Tx<'_>, new: &[NewShipment]) -> R<()> {
    let numbers: Vec<String> = new
        .iter()
        .map(|n| clean_text(&n.tracking_number).into_owned())
        .collect();
    rows(
        tx,
        "SELECT id FROM shipments WHERE tracking_number = ANY($1) ORDER BY id FOR UPDATE",
        &[&numbers],
    )
    .await?;
    Ok(())
}

/// Add shipments inside an open transaction that holds the numbers lock and their rows
/// (into one order, or each into the order its info names): every add first, then their
/// events, so no row is locked after the journal is (see the module docs of `tracking`).
/// Returns, per shipment, its id, whether it was created and how many events were new;
/// every change goes to `feed`, each parcel's together.
pub(super) async fn add_all(
    tx: &Tx<'_>,
    new: &[NewShipment],
    into: Option<OrderId>,
    now: i64,
    feed: &mut Vec<Change>,
    journal: &mut Journal<'_>,
) -> R<Vec<(ShipmentId, bool, usize)>> {
    let mut added = Vec::with_capacity(new.len());
    for n in new {
        let mut own = Vec::new();
        let (id, created) = add_in(tx, n, into, now, &mut own).await?;
        added.push((id, created, own));
    }
    let batches: Vec<IngestBatch> = new
        .iter()
        .zip(&added)
        .map(|(n, (id, _, _))| IngestBatch::events(*id, n.events.clone()))
        .collect();
    let each: Vec<(&IngestBatch, &str)> = batches.iter().map(|b| (b, "import")).collect();
    let (ingested, tail) = ingest_in(tx, &each, now, async { Ok(()) }).await?;
    tail.write(tx, journal, &[], async { Ok(()) }).await?;
    let mut out = Vec::with_capacity(new.len());
    for ((id, created, own), one) in added.into_iter().zip(ingested) {
        feed.extend(own);
        feed.extend(one.changes);
        out.push((id, created, one.inserted));
    }
    Ok(out)
}

pub(super) async fn add_shipments(
    tx: &Tx<'_>,
    schema: &str,
    new: &[NewShipment],
    now: DateTime<Utc>,
) -> R<Vec<Added>> {
    // Replicas adding the same number (or order) take turns: the later one finds the rows
    // the first committed.
    PgStore::numbers_lock(tx, schema).await?;
    lock_numbers(tx, new).await?;
    let mut journal = Journal::new(schema);
    let now = ms(now);
    let mut feed = Vec::new();
    let ids = add_all(tx, new, None, now, &mut feed, &mut journal).await?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, created, events_added) in ids {
        out.push(Added {
            shipment: shipment(tx, id).await?,
            created,
            events_added,
        });
    }
    append_feed(tx, &mut journal, &feed, now).await?;
    Ok(out)
}

/// Core's `Store::ingest` in `tx`: two round trips however many batches. `also` is sent with
/// the first (the rows' lock and the events), `end` with the last writes (a piped
/// transaction's `COMMIT`; see [`Tail::write`]).
pub(super) async fn ingest(
    tx: &Tx<'_>,
    schema: &str,
    batches: &[IngestBatch],
    now: DateTime<Utc>,
    also: impl Future<Output = R<()>>,
    end: impl Future<Output = R<()>>,
) -> R<IngestReport> {
    let mut journal = Journal::new(schema);
    let each: Vec<(&IngestBatch, &str)> = batches
        .iter()
        .map(|b| (b, b.events.first().map_or("carrier", |e| e.source.as_str())))
        .collect();
    let mut report = IngestReport::default();
    let (all, tail) = ingest_in(tx, &each, ms(now), also).await?;
    for one in all {
        report.inserted += one.inserted;
        report.duplicates += one.duplicates;
        report.changes.extend(one.changes);
        report.gone.extend(one.gone);
    }
    tail.write(tx, &mut journal, &report.changes, end).await?;
    Ok(report)
}

/// The derived state of one shipment as ingest sees it.
struct Derived {
    status: Status,
    status_head: Option<Head>,
    last_head: Option<Head>,
    last_offset: Option<i32>,
    detail: Option<String>,
    count: i32,
    eta_observed: Option<i64>,
}

/// One shipment of an ingest call: its derived state as the batches so far left it, and what
/// they said of it that is written only when given (`coalesce`d: the last batch to say wins).
struct Pending {
    d: Derived,
    /// Whether a batch changed anything, so the row is written.
    touched: bool,
    eta: Option<CarrierEta>,
    service: Option<String>,
    origin: Place,
    destination: Place,
    shipped: Option<i64>,
    /// The earliest of the new events, and how many of them are failed attempts.
    first: Option<i64>,
    failed: i32,
}

/// What ingest made of one batch.
#[derive(Default)]
pub(super) struct Ingested {
    /// Events stored for the first time.
    pub(super) inserted: usize,
    /// Events already stored, or repeated within the call.
    pub(super) duplicates: usize,
    /// The batch's changes, in order.
    pub(super) changes: Vec<Change>,
    /// The batch's shipment, when it was dropped because the shipment is not there.
    pub(super) gone: Option<ShipmentId>,
}

fn head(r: &Row, a: usize) -> R<Option<Head>> {
    let (at, rank, key): (Option<i64>, Option<i32>, Option<Uuid>) =
        (get(r, a)?, get(r, a + 1)?, get(r, a + 2)?);
    Ok(match (at, rank, key) {
        (Some(at), Some(rank), Some(key)) => Some((
            at,
            u8::try_from(rank).map_err(|_| Fail::Bad(format!("rank {rank}")))?,
            *key.as_bytes(),
        )),
        _ => None,
    })
}

/// A place's parts the batch gives replace the stored ones; the others stay.
fn merge_place(into: &mut Place, new: Place) {
    for (to, from) in [
        (&mut into.city, new.city),
        (&mut into.region, new.region),
        (&mut into.country, new.country),
        (&mut into.postal, new.postal),
    ] {
        if from.is_some() {
            *to = from;
        }
    }
}

/// Batches (each with the cause its status changes are logged with) inside an open
/// transaction, with the meaning of ingesting them one after another, in a fixed number of
/// statements and round trips however many there are (a group commit's round trips are its
/// cost): the shipments' rows locked and read and every event offered (one `INSERT … ON
/// CONFLICT DO NOTHING` that returns those that were new), with `also`, in one round trip, then the
/// derived state worked out here in batch order. Returns what each batch came to, in order,
/// and the [`Tail`] to write: one `UPDATE` of the rows that changed and one insert of the
/// status log, sent with the caller's last writes. A batch for a shipment removed meanwhile
/// is dropped, by design.
pub(super) async fn ingest_in<'a>(
    tx: &Tx<'_>,
    batches: &[(&'a IngestBatch, &'a str)],
    now: i64,
    also: impl Future<Output = R<()>>,
) -> R<(Vec<Ingested>, Tail<'a>)> {
    let mut ids: Vec<Uuid> = batches.iter().map(|(b, _)| b.shipment_id.0).collect();
    ids.sort_unstable();
    ids.dedup();
    // Every event, once (the first of equal keys is the one offered, as one after another
    // would store it).
    let cleaned: Vec<Vec<(Cow<'_, NewEvent>, Uuid)>> = batches
        .iter()
        .map(|(b, _)| {
            b.events
                .iter()
                .map(|e| {
                    let e = clean_event(e);
                    let key = e.dedupe_key();
                    (e, key)
                })
                .collect()
        })
        .collect();
    let mut offered: HashSet<(Uuid, Uuid)> = HashSet::new();
    let mut cols = EventColumns::default();
    for ((b, _), events) in batches.iter().zip(&cleaned) {
        for (ev, key) in events {
            if offered.insert((b.shipment_id.0, *key)) {
                cols.push(b.shipment_id.0, *key, ev);
            }
        }
    }
    // The rows locked and read (in id order, as everywhere: see the module docs of
    // `tracking`) and the events offered, in one round trip: both prepared first (cached,
    // so usually no round trip), then sent together, in this order. The insert keeps the
    // events of shipments still there, whose rows the statement before it locked.
    let (lock, insert) = futures_util::try_join!(
        tx.prepare_cached(
            "SELECT id, status, status_at, status_rank, status_key, last_event_at, last_event_rank,
                    last_event_key, last_event_offset, status_detail, event_count, eta_observed_at
             FROM shipments WHERE id = ANY($1) AND NOT deleted ORDER BY id FOR UPDATE"
        ),
        tx.prepare_cached(
            "INSERT INTO events (shipment_id, dedupe_key, occurred_at, occurred_offset, status,
                raw_code, description, city, region, country, postal, source, recorded_at)
             SELECT t.*, $13::bigint
             FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::integer[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                         $11::text[], $12::text[])
                  AS t (shipment_id, dedupe_key, occurred_at, occurred_offset, status, raw_code,
                        description, city, region, country, postal, source)
             WHERE EXISTS (SELECT 1 FROM shipments s WHERE s.id = t.shipment_id AND NOT s.deleted)
             ON CONFLICT DO NOTHING
             RETURNING shipment_id, dedupe_key"
        ),
    )?;
    let lock_params: &[Param<'_>] = &[&ids];
    let (locked, stored, ()) = futures_util::try_join!(
        async { Ok::<_, Fail>(tx.query(&lock, lock_params).await?) },
        async {
            if cols.shipment.is_empty() {
                return Ok(Vec::new());
            }
            Ok(tx
                .query(
                    &insert,
                    &[
                        &cols.shipment,
                        &cols.key,
                        &cols.at,
                        &cols.offset,
                        &cols.status,
                        &cols.raw_code,
                        &cols.description,
                        &cols.city,
                        &cols.region,
                        &cols.country,
                        &cols.postal,
                        &cols.source,
                        &now,
                    ],
                )
                .await?)
        },
        also,
    )?;
    let mut state: HashMap<Uuid, Pending> = HashMap::with_capacity(ids.len());
    for r in locked {
        let d = Derived {
            status: status(get(&r, 1)?)?,
            status_head: head(&r, 2)?,
            last_head: head(&r, 5)?,
            last_offset: get(&r, 8)?,
            detail: get(&r, 9)?,
            count: get(&r, 10)?,
            eta_observed: get(&r, 11)?,
        };
        state.insert(
            get(&r, 0)?,
            Pending {
                d,
                touched: false,
                eta: None,
                service: None,
                origin: Place::default(),
                destination: Place::default(),
                shipped: None,
                first: None,
                failed: 0,
            },
        );
    }
    let mut new: HashSet<(Uuid, Uuid)> = HashSet::with_capacity(stored.len());
    for r in stored {
        new.insert((get(&r, 0)?, get(&r, 1)?));
    }

    let recorded_at = utc(now)?;
    let mut out = Vec::with_capacity(batches.len());
    let mut log = StatusLogColumns::default();
    for ((batch, cause), events) in batches.iter().zip(&cleaned) {
        let sid = batch.shipment_id;
        let mut one = Ingested::default();
        let Some(p) = state.get_mut(&sid.0) else {
            one.gone = Some(sid);
            out.push(one);
            continue;
        };
        let d = &mut p.d;
        let before = d.status;
        let mut inserted = Vec::new();
        for (ev, key) in events {
            // Counted new once: a repeat within the call is a duplicate, as it would be
            // one after another.
            if !new.remove(&(sid.0, *key)) {
                one.duplicates += 1;
                continue;
            }
            one.inserted += 1;
            d.count += 1;
            let at = ev.occurred_at.timestamp_millis();
            p.first = Some(p.first.map_or(at, |f| f.min(at)));
            p.failed += i32::from(ev.status == Status::FailedAttempt);
            let off = ev.occurred_at.offset().local_minus_utc();
            if !matches!(
                ev.status,
                Status::Pending | Status::InfoReceived | Status::Unknown
            ) {
                p.shipped = Some(p.shipped.map_or(at, |s| s.min(at)));
            }
            let h: Head = (at, ev.status.progress_rank(), *key.as_bytes());
            if d.last_head.is_none_or(|l| h > l) {
                d.last_head = Some(h);
                d.last_offset = Some(off);
                d.detail = Some(ev.description.clone());
            }
            // An unmapped carrier code never hides a known status.
            if ev.status != Status::Unknown && d.status_head.is_none_or(|s| h > s) {
                d.status_head = Some(h);
                d.status = ev.status;
            }
            inserted.push(TrackingEvent {
                shipment_id: sid,
                dedupe_key: *key,
                occurred_at: ev.occurred_at,
                status: ev.status,
                raw_code: ev.raw_code.clone(),
                description: ev.description.clone(),
                location: ev.location.clone(),
                source: ev.source,
                recorded_at,
            });
        }
        if d.status_head.is_none() && d.count > 0 {
            d.status = Status::Unknown;
        }
        let new_eta = batch
            .carrier_eta
            .filter(|eta| d.eta_observed.is_none_or(|o| ms(eta.observed_at) > o));
        let has_meta =
            batch.service.is_some() || batch.origin.is_some() || batch.destination.is_some();
        if inserted.is_empty() && new_eta.is_none() && !has_meta {
            out.push(one);
            continue;
        }
        p.touched = true;
        if let Some(eta) = new_eta {
            d.eta_observed = Some(ms(eta.observed_at));
            p.eta = Some(eta);
        }
        if let Some(s) = clean_opt(batch.service.as_deref()) {
            p.service = Some(s);
        }
        if let Some(o) = &batch.origin {
            merge_place(&mut p.origin, clean_place(o).into_owned());
        }
        if let Some(de) = &batch.destination {
            merge_place(&mut p.destination, clean_place(de).into_owned());
        }
        if !inserted.is_empty() {
            inserted.sort_by_key(|e| {
                (
                    e.occurred_at,
                    e.status.progress_rank(),
                    *e.dedupe_key.as_bytes(),
                )
            });
            one.changes.push(Change::EventsAdded {
                shipment_id: sid,
                events: inserted,
            });
        }
        if d.status != before {
            log.push(sid.0, before, d.status, cause, d.status_head);
            one.changes.push(Change::StatusChanged {
                shipment_id: sid,
                from: before,
                to: d.status,
            });
        }
        if let Some(eta) = new_eta {
            one.changes.push(Change::EtaChanged {
                shipment_id: sid,
                eta,
            });
        }
        out.push(one);
    }

    let mut rows_out = ShipmentColumns::default();
    for id in &ids {
        if let Some(p) = state.get(id).filter(|p| p.touched) {
            rows_out.push(*id, p);
        }
    }
    Ok((
        out,
        Tail {
            rows: rows_out,
            log,
            now,
        },
    ))
}

/// What an ingest writes last: the shipments' rows and the status log, and with them the
/// feed and whatever else the caller's transaction writes ([`Tail::write`]).
pub(super) struct Tail<'a> {
    rows: ShipmentColumns,
    log: StatusLogColumns<'a>,
    now: i64,
}

const SHIPMENTS_UPDATE: &str = "UPDATE shipments s SET status = t.status, status_at = t.status_at,
                status_rank = t.status_rank, status_key = t.status_key,
                last_event_at = t.last_at, last_event_offset = t.last_offset,
                last_event_rank = t.last_rank, last_event_key = t.last_key,
                status_detail = t.detail, event_count = t.n,
                eta_earliest = coalesce(t.ee, s.eta_earliest),
                eta_earliest_offset = coalesce(t.eeo, s.eta_earliest_offset),
                eta_latest = coalesce(t.el, s.eta_latest),
                eta_latest_offset = coalesce(t.elo, s.eta_latest_offset),
                eta_observed_at = coalesce(t.eo, s.eta_observed_at),
                service = coalesce(t.service, s.service),
                origin_city = coalesce(t.oc, s.origin_city),
                origin_region = coalesce(t.orr, s.origin_region),
                origin_country = coalesce(t.oco, s.origin_country),
                origin_postal = coalesce(t.op, s.origin_postal),
                dest_city = coalesce(t.dc, s.dest_city),
                dest_region = coalesce(t.dr, s.dest_region),
                dest_country = coalesce(t.dco, s.dest_country),
                dest_postal = coalesce(t.dp, s.dest_postal),
                updated_at = $27,
                shipped_at = CASE WHEN t.shipped IS NOT NULL
                                   AND (s.shipped_at IS NULL OR t.shipped < s.shipped_at)
                                  THEN t.shipped ELSE s.shipped_at END,
                first_event_at = CASE WHEN t.first IS NOT NULL
                                       AND (s.first_event_at IS NULL OR t.first < s.first_event_at)
                                      THEN t.first ELSE s.first_event_at END,
                failed_attempts = s.failed_attempts + t.failed
             FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::integer[], $5::uuid[],
                         $6::bigint[], $7::integer[], $8::integer[], $9::uuid[], $10::text[],
                         $11::integer[], $12::bigint[], $13::integer[], $14::bigint[],
                         $15::integer[], $16::bigint[], $17::text[], $18::text[], $19::text[],
                         $20::text[], $21::text[], $22::text[], $23::text[], $24::text[],
                         $25::text[], $26::bigint[], $28::bigint[], $29::integer[])
                  AS t (id, status, status_at, status_rank, status_key, last_at, last_offset,
                        last_rank, last_key, detail, n, ee, eeo, el, elo, eo, service,
                        oc, orr, oco, op, dc, dr, dco, dp, shipped, first, failed)
             WHERE s.id = t.id";

const STATUS_LOG_INSERT: &str =
    "INSERT INTO status_log (shipment_id, from_status, to_status, changed_at, cause, event_key)
     SELECT t.s, t.f, t.t, $6, t.c, t.k
     FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[])
          WITH ORDINALITY AS t (s, f, t, c, k, n)
     ORDER BY t.n";

impl Tail<'_> {
    /// Writes the rows, the status log and the feed of `changes`, then `end`, in one round
    /// trip: every statement prepared first (cached, so usually no round trip), then sent
    /// together, in this order (tokio-postgres sends a request when its future is first
    /// polled, and the join polls them in order), so the journal lock (taken here if not
    /// before) comes after the writes that need no lock, and before the status log and the
    /// feed, whose ids follow it (see [`append_feed`]). Holding the lock is what groups on
    /// other connections wait for, so it is held for these two statements and the commit;
    /// `end`, sent last, may be the `COMMIT` itself (a piped transaction), which then costs
    /// no round trip of its own. `end` must send its request when first polled (no
    /// `prepare` first), or it would go out before the statements.
    pub(super) async fn write(
        self,
        tx: &Tx<'_>,
        journal: &mut Journal<'_>,
        changes: &[Change],
        end: impl Future<Output = R<()>>,
    ) -> R<()> {
        let fed = FeedColumns::of(changes);
        let (c, log, now) = (&self.rows, &self.log, self.now);
        let lock = !journal.taken && (!log.shipment.is_empty() || !fed.data.is_empty());
        let (update, take, log_insert, feed_insert) = futures_util::try_join!(
            prepared(tx, !c.id.is_empty(), SHIPMENTS_UPDATE),
            prepared(tx, lock, PgStore::JOURNAL_LOCK),
            prepared(tx, !log.shipment.is_empty(), STATUS_LOG_INSERT),
            prepared(tx, !fed.data.is_empty(), FEED_INSERT),
        )?;
        let schema = journal.schema;
        let update_params: &[Param<'_>] = &[
            &c.id,
            &c.status,
            &c.status_at,
            &c.status_rank,
            &c.status_key,
            &c.last_at,
            &c.last_offset,
            &c.last_rank,
            &c.last_key,
            &c.detail,
            &c.count,
            &c.eta_earliest,
            &c.eta_earliest_offset,
            &c.eta_latest,
            &c.eta_latest_offset,
            &c.eta_observed,
            &c.service,
            &c.origin[0],
            &c.origin[1],
            &c.origin[2],
            &c.origin[3],
            &c.destination[0],
            &c.destination[1],
            &c.destination[2],
            &c.destination[3],
            &c.shipped,
            &now,
            &c.first,
            &c.failed,
        ];
        let lock_params: &[Param<'_>] = &[&super::LOCK_JOURNAL, &schema];
        let log_params: &[Param<'_>] = &[
            &log.shipment,
            &log.from,
            &log.to,
            &log.cause,
            &log.key,
            &now,
        ];
        let feed_params: &[Param<'_>] = &[&now, &fed.orders, &fed.parcels, &fed.data];
        futures_util::try_join!(
            maybe(tx, update.as_ref(), update_params),
            maybe(tx, take.as_ref(), lock_params),
            maybe(tx, log_insert.as_ref(), log_params),
            maybe(tx, feed_insert.as_ref(), feed_params),
            async { end.await.map(|()| 0) },
        )?;
        journal.taken |= lock;
        Ok(())
    }
}

/// `sql` prepared (once per connection), if `wanted`.
async fn prepared(
    tx: &Tx<'_>,
    wanted: bool,
    sql: &str,
) -> Result<Option<tokio_postgres::Statement>, tokio_postgres::Error> {
    if wanted {
        tx.prepare_cached(sql).await.map(Some)
    } else {
        Ok(None)
    }
}

/// A prepared statement run, if there is one. Its request is sent when first polled (see
/// [`Tail::write`]).
async fn maybe(
    tx: &Tx<'_>,
    stmt: Option<&tokio_postgres::Statement>,
    params: &[Param<'_>],
) -> R<u64> {
    match stmt {
        Some(stmt) => Ok(tx.execute(stmt, params).await?),
        None => Ok(0),
    }
}

/// The events one ingest offers, a column each (bound as arrays).
#[derive(Default)]
struct EventColumns<'a> {
    shipment: Vec<Uuid>,
    key: Vec<Uuid>,
    at: Vec<i64>,
    offset: Vec<i32>,
    status: Vec<&'static str>,
    raw_code: Vec<Option<&'a str>>,
    description: Vec<&'a str>,
    city: Vec<Option<&'a str>>,
    region: Vec<Option<&'a str>>,
    country: Vec<Option<&'a str>>,
    postal: Vec<Option<&'a str>>,
    source: Vec<&'static str>,
}

impl<'a> EventColumns<'a> {
    fn push(&mut self, shipment: Uuid, key: Uuid, ev: &'a NewEvent) {
        self.shipment.push(shipment);
        self.key.push(key);
        self.at.push(ev.occurred_at.timestamp_millis());
        self.offset.push(ev.occurred_at.offset().local_minus_utc());
        self.status.push(ev.status.as_str());
        self.raw_code.push(ev.raw_code.as_deref());
        self.description.push(&ev.description);
        self.city.push(ev.location.city.as_deref());
        self.region.push(ev.location.region.as_deref());
        self.country.push(ev.location.country.as_deref());
        self.postal.push(ev.location.postal.as_deref());
        self.source.push(ev.source.as_str());
    }
}

/// The status changes one ingest logs, a column each.
#[derive(Default)]
struct StatusLogColumns<'a> {
    shipment: Vec<Uuid>,
    from: Vec<&'static str>,
    to: Vec<&'static str>,
    cause: Vec<&'a str>,
    key: Vec<Option<Uuid>>,
}

impl<'a> StatusLogColumns<'a> {
    fn push(&mut self, id: Uuid, from: Status, to: Status, cause: &'a str, head: Option<Head>) {
        self.shipment.push(id);
        self.from.push(from.as_str());
        self.to.push(to.as_str());
        self.cause.push(cause);
        self.key.push(head.map(|h| Uuid::from_bytes(h.2)));
    }
}

/// The shipment rows one ingest writes, a column each.
#[derive(Default)]
struct ShipmentColumns {
    id: Vec<Uuid>,
    status: Vec<&'static str>,
    status_at: Vec<Option<i64>>,
    status_rank: Vec<Option<i32>>,
    status_key: Vec<Option<Uuid>>,
    last_at: Vec<Option<i64>>,
    last_offset: Vec<Option<i32>>,
    last_rank: Vec<Option<i32>>,
    last_key: Vec<Option<Uuid>>,
    detail: Vec<Option<String>>,
    count: Vec<i32>,
    eta_earliest: Vec<Option<i64>>,
    eta_earliest_offset: Vec<Option<i32>>,
    eta_latest: Vec<Option<i64>>,
    eta_latest_offset: Vec<Option<i32>>,
    eta_observed: Vec<Option<i64>>,
    service: Vec<Option<String>>,
    origin: [Vec<Option<String>>; 4],
    destination: [Vec<Option<String>>; 4],
    shipped: Vec<Option<i64>>,
    first: Vec<Option<i64>>,
    failed: Vec<i32>,
}

impl ShipmentColumns {
    fn push(&mut self, id: Uuid, p: &Pending) {
        let d = &p.d;
        let key = |h: Option<Head>| h.map(|h| Uuid::from_bytes(h.2));
        let rank = |h: Option<Head>| h.map(|h| i32::from(h.1));
        self.id.push(id);
        self.status.push(d.status.as_str());
        self.status_at.push(d.status_head.map(|h| h.0));
        self.status_rank.push(rank(d.status_head));
        self.status_key.push(key(d.status_head));
        self.last_at.push(d.last_head.map(|h| h.0));
        self.last_offset.push(d.last_offset);
        self.last_rank.push(rank(d.last_head));
        self.last_key.push(key(d.last_head));
        self.detail.push(d.detail.clone());
        self.count.push(d.count);
        let eta = p.eta;
        self.eta_earliest
            .push(eta.map(|e| e.earliest.timestamp_millis()));
        self.eta_earliest_offset
            .push(eta.map(|e| e.earliest.offset().local_minus_utc()));
        self.eta_latest
            .push(eta.map(|e| e.latest.timestamp_millis()));
        self.eta_latest_offset
            .push(eta.map(|e| e.latest.offset().local_minus_utc()));
        self.eta_observed.push(eta.map(|e| ms(e.observed_at)));
        self.service.push(p.service.clone());
        for (col, v) in self.origin.iter_mut().zip(place_parts(&p.origin)) {
            col.push(v);
        }
        for (col, v) in self.destination.iter_mut().zip(place_parts(&p.destination)) {
            col.push(v);
        }
        self.shipped.push(p.shipped);
        self.first.push(p.first);
        self.failed.push(p.failed);
    }
}

fn place_parts(p: &Place) -> [Option<String>; 4] {
    [
        p.city.clone(),
        p.region.clone(),
        p.country.clone(),
        p.postal.clone(),
    ]
}

pub(super) async fn shipment(tx: &Tx<'_>, id: ShipmentId) -> R<Shipment> {
    let sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE id = $1 AND NOT deleted");
    match opt(tx, &sql, &[&id.0]).await? {
        Some(r) => shipment_from_row(&r),
        None => Err(CoreError::NotFound(id.to_string()).into()),
    }
}

/// The shipments of `ids` (in that order) with their order's store, in one query.
pub(super) async fn with_store(
    tx: &Tx<'_>,
    ids: &[ShipmentId],
) -> R<Vec<(Shipment, Option<String>)>> {
    let keys: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
    let sql = format!(
        "SELECT {SHIPMENT_COLUMNS},
                (SELECT o.store FROM orders o WHERE o.id = s.order_id AND NOT o.deleted)
         FROM shipments s WHERE id = ANY($1) AND NOT deleted"
    );
    let mut found: HashMap<Uuid, (Shipment, Option<String>)> = HashMap::new();
    for r in rows(tx, &sql, &[&keys]).await? {
        let s = shipment_from_row(&r)?;
        let store = get(&r, SHIPMENT_COLUMN_COUNT)?;
        found.insert(s.id.0, (s, store));
    }
    Ok(keys.iter().filter_map(|k| found.remove(k)).collect())
}

pub(super) async fn edit(
    tx: &Tx<'_>,
    schema: &str,
    id: ShipmentId,
    edit: &Edit,
    at: DateTime<Utc>,
) -> R<bool> {
    let at = ms(at);
    let n = match edit {
        Edit::Label(label) => {
            exec(
                tx,
                "UPDATE shipments SET label = $2, label_at = $3, updated_at = greatest(updated_at, $3)
                 WHERE id = $1 AND NOT deleted AND label_at <= $3 AND label IS DISTINCT FROM $2",
                &[&id.0, &clean_opt(label.as_deref()), &at],
            )
            .await?
        }
        Edit::Muted(v) => {
            exec(
                tx,
                "UPDATE shipments SET muted = $2, muted_at = $3, updated_at = greatest(updated_at, $3)
                 WHERE id = $1 AND NOT deleted AND muted_at <= $3 AND muted IS DISTINCT FROM $2",
                &[&id.0, v, &at],
            )
            .await?
        }
        Edit::Archived(v) => {
            exec(
                tx,
                "UPDATE shipments SET archived = $2, archived_at = $3, updated_at = greatest(updated_at, $3)
                 WHERE id = $1 AND NOT deleted AND archived_at <= $3 AND archived IS DISTINCT FROM $2",
                &[&id.0, v, &at],
            )
            .await?
        }
        Edit::NotifyKinds(kinds) => {
            exec(
                tx,
                "UPDATE shipments SET notify_kinds = $2, notify_kinds_at = $3,
                    updated_at = greatest(updated_at, $3)
                 WHERE id = $1 AND NOT deleted AND notify_kinds_at <= $3
                   AND notify_kinds IS DISTINCT FROM $2",
                &[&id.0, &kinds.map(|k| k.to_string()), &at],
            )
            .await?
        }
    };
    if n == 0 {
        // Distinguish "no such parcel" from "nothing to change / older edit".
        shipment(tx, id).await?;
        return Ok(false);
    }
    let edited = [Change::ShipmentEdited { shipment_id: id }];
    append_feed(tx, &mut Journal::new(schema), &edited, at).await?;
    Ok(true)
}

pub(super) async fn remove(tx: &Tx<'_>, schema: &str, id: ShipmentId, at: DateTime<Utc>) -> R<()> {
    if !remove_in(tx, id, ms(at)).await? {
        return Err(CoreError::NotFound(id.to_string()).into());
    }
    let removed = [Change::ShipmentRemoved { shipment_id: id }];
    append_feed(tx, &mut Journal::new(schema), &removed, ms(at)).await
}

/// Tombstone one live shipment and drop its history, inside an open transaction; false when
/// there is no such live shipment.
pub(super) async fn remove_in(tx: &Tx<'_>, id: ShipmentId, at: i64) -> R<bool> {
    let n = exec(
        tx,
        "UPDATE shipments SET deleted = true, deleted_at = $2, updated_at = $2, label = NULL,
            status = 'pending', status_at = NULL, status_rank = NULL, status_key = NULL,
            status_detail = NULL, last_event_at = NULL, last_event_offset = NULL,
            last_event_rank = NULL, last_event_key = NULL, event_count = 0,
            eta_earliest = NULL, eta_earliest_offset = NULL, eta_latest = NULL,
            eta_latest_offset = NULL, eta_observed_at = NULL, next_poll_at = NULL,
            last_error = NULL, last_error_at = NULL, shipped_at = NULL,
            first_event_at = NULL, failed_attempts = 0,
            est_earliest = NULL, est_likely = NULL, est_latest = NULL, est_confidence = NULL,
            est_source = NULL, est_first_latest = NULL
         WHERE id = $1 AND NOT deleted",
        &[&id.0, &at],
    )
    .await?;
    if n == 0 {
        return Ok(false);
    }
    exec(tx, "DELETE FROM events WHERE shipment_id = $1", &[&id.0]).await?;
    exec(
        tx,
        "DELETE FROM status_log WHERE shipment_id = $1",
        &[&id.0],
    )
    .await?;
    exec(tx, "DELETE FROM problems WHERE shipment_id = $1", &[&id.0]).await?;
    Ok(true)
}

async fn find_ids(tx: &Tx<'_>, sql: &str, arg: &str) -> R<Vec<(ShipmentId, String)>> {
    rows(tx, sql, &[&arg])
        .await?
        .iter()
        .map(|r| Ok((ShipmentId(get(r, 0)?), get(r, 1)?)))
        .collect()
}

pub(super) async fn find(tx: &Tx<'_>, key: &str) -> R<Shipment> {
    let trimmed = key.trim();
    if let Ok(uuid) = Uuid::parse_str(trimmed) {
        return shipment(tx, ShipmentId(uuid)).await;
    }
    let number: String = trimmed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    if number.is_empty() {
        return Err(CoreError::NotFound(key.to_owned()).into());
    }
    let mut matches = find_ids(
        tx,
        "SELECT id, tracking_number FROM shipments WHERE tracking_number = $1 AND NOT deleted",
        &number,
    )
    .await?;
    if matches.is_empty() && number.len() >= 4 {
        // A unique tail of the number ("…4784"), as people read it off a label. SQLite's LIKE
        // ignores ASCII case and has no escape character; ILIKE with ESCAPE '' does the same.
        let like = number.replace(['%', '_'], "");
        matches = find_ids(
            tx,
            "SELECT id, tracking_number FROM shipments
             WHERE NOT deleted AND tracking_number ILIKE '%' || $1::text ESCAPE ''
             LIMIT 6",
            &like,
        )
        .await?;
    }
    match matches.len() {
        0 => Err(CoreError::NotFound(key.to_owned()).into()),
        1 => shipment(tx, matches[0].0).await,
        _ => Err(CoreError::Ambiguous {
            key: key.to_owned(),
            matches: matches.into_iter().map(|m| m.1).collect(),
        }
        .into()),
    }
}

pub(super) async fn order(tx: &Tx<'_>, id: OrderId) -> R<Order> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 AND NOT deleted");
    match opt(tx, &sql, &[&id.0]).await? {
        Some(r) => order_from_row(&r),
        None => Err(CoreError::NotFound(id.to_string()).into()),
    }
}

pub(super) async fn timeline(tx: &Tx<'_>, id: ShipmentId) -> R<Vec<TrackingEvent>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE shipment_id = $1 ORDER BY occurred_at, dedupe_key"
    );
    let mut out = rows(tx, &sql, &[&id.0])
        .await?
        .iter()
        .map(event_from_row)
        .collect::<R<Vec<_>>>()?;
    in_journey_order(&mut out);
    Ok(out)
}

/// Same-instant events in journey order, as the status derivation sees them.
fn in_journey_order(events: &mut [TrackingEvent]) {
    events.sort_by_key(|e| {
        (
            e.occurred_at,
            e.status.progress_rank(),
            *e.dedupe_key.as_bytes(),
        )
    });
}

/// The timelines of an order's live parcels, by parcel, in one statement (an order's page
/// is then one round trip, not one more per parcel).
pub(super) async fn timelines_of_order(
    tx: &Tx<'_>,
    id: OrderId,
) -> R<HashMap<ShipmentId, Vec<TrackingEvent>>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE shipment_id IN
           (SELECT id FROM shipments WHERE order_id = $1 AND NOT deleted)"
    );
    let mut out: HashMap<ShipmentId, Vec<TrackingEvent>> = HashMap::new();
    for r in rows(tx, &sql, &[&id.0]).await? {
        let e = event_from_row(&r)?;
        out.entry(e.shipment_id).or_default().push(e);
    }
    out.values_mut().for_each(|t| in_journey_order(t));
    Ok(out)
}

pub(super) async fn status_log(tx: &Tx<'_>, id: ShipmentId) -> R<Vec<StatusChange>> {
    rows(
        tx,
        "SELECT from_status, to_status, changed_at, cause FROM status_log
         WHERE shipment_id = $1 ORDER BY id",
        &[&id.0],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(StatusChange {
            from: status(get(r, 0)?)?,
            to: status(get(r, 1)?)?,
            changed_at: utc(get(r, 2)?)?,
            cause: get(r, 3)?,
        })
    })
    .collect()
}

/// Which group a shipment falls in: core's `GROUP_SQL` (sqlite.rs), the statuses that need
/// attention taken from the domain as there, with `$1` = delivered since, `$2` = today's
/// start, `$3` = today's end. The shared suite holds the two to the same answers.
static GROUP_SQL: LazyLock<String> = LazyLock::new(|| {
    let attention: Vec<String> = Status::ALL
        .into_iter()
        .filter(|s| s.needs_attention() && *s != Status::Delivered)
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!(
        "CASE
           WHEN s.archived OR o.archived THEN 4
           WHEN s.status = 'delivered' THEN
             CASE WHEN coalesce(s.last_event_at, s.updated_at) >= $1 THEN 3 ELSE 4 END
           WHEN s.status IN ({}) OR s.last_error IS NOT NULL
             OR EXISTS (SELECT 1 FROM problems p
                        WHERE p.shipment_id = s.id AND p.resolved_at IS NULL) THEN 2
           WHEN s.status = 'out_for_delivery'
             OR (s.est_likely >= $2 AND s.est_likely < $3)
             OR (s.est_likely IS NULL AND s.eta_earliest < $3
                 AND s.eta_latest >= $2) THEN 0
           ELSE 1
         END",
        attention.join(", ")
    )
});

pub(super) async fn list(
    tx: &Tx<'_>,
    q: &ListQuery,
    each: &mut dyn FnMut(ListItem) -> parceltrail_core::Result<()>,
) -> R<()> {
    // The last key (id, born in time order) breaks ties as SQLite's row order does.
    let sql = format!(
        "SELECT * FROM (
           SELECT s.id, s.tracking_number, s.carrier, s.status, s.status_detail, s.label,
                  o.store, o.order_number, s.last_event_at, s.last_event_offset,
                  s.eta_earliest, s.eta_earliest_offset, s.eta_latest, s.eta_latest_offset,
                  s.eta_observed_at, s.last_error, s.muted, s.archived OR o.archived,
                  {group} AS grp, s.created_at,
                  s.est_earliest, s.est_likely, s.est_latest, s.est_confidence, s.est_source,
                  (SELECT string_agg(p.kind, ',') FROM problems p
                   WHERE p.shipment_id = s.id AND p.resolved_at IS NULL) AS problems
           FROM shipments s JOIN orders o ON o.id = s.order_id
           WHERE NOT s.deleted) AS listed
         WHERE $4::boolean OR grp < 4
         ORDER BY grp,
           CASE WHEN grp >= 2 THEN -coalesce(last_event_at, created_at)
                ELSE coalesce(est_likely, eta_latest, 9223372036854775807) END,
           created_at DESC, id",
        group = &*GROUP_SQL
    );
    each_row(
        tx,
        &sql,
        &[
            &ms(q.delivered_since),
            &ms(q.today_start),
            &ms(q.today_end),
            &q.all,
        ],
        |r| {
            let item = ListItem {
                group: group_of(get(r, 18)?),
                id: ShipmentId(get(r, 0)?),
                tracking_number: get(r, 1)?,
                carrier: get(r, 2)?,
                status: status(get(r, 3)?)?,
                status_detail: get(r, 4)?,
                label: get(r, 5)?,
                store: get(r, 6)?,
                order_number: get(r, 7)?,
                last_event_at: opt_fixed(get(r, 8)?, get(r, 9)?)?,
                carrier_eta: eta_at(r, 10)?,
                estimate: estimate_at(r, 20)?,
                problems: get::<Option<String>>(r, 25)?
                    .map(|p| {
                        let mut v: Vec<ProblemKind> =
                            p.split(',').filter_map(|k| k.parse().ok()).collect();
                        v.sort();
                        v.dedup();
                        v
                    })
                    .unwrap_or_default(),
                last_error: get(r, 15)?,
                muted: get(r, 16)?,
                archived: get(r, 17)?,
            };
            Ok(each(item)?)
        },
    )
    .await
}

pub(super) async fn group(tx: &Tx<'_>, id: ShipmentId, q: &ListQuery) -> R<Group> {
    let sql = format!(
        "SELECT {group} FROM shipments s JOIN orders o ON o.id = s.order_id
         WHERE s.id = $4 AND NOT s.deleted",
        group = &*GROUP_SQL
    );
    match opt(
        tx,
        &sql,
        &[
            &ms(q.delivered_since),
            &ms(q.today_start),
            &ms(q.today_end),
            &id.0,
        ],
    )
    .await?
    {
        Some(r) => Ok(group_of(get(&r, 0)?)),
        None => Err(CoreError::NotFound(id.to_string()).into()),
    }
}

pub(super) async fn for_each_record(
    tx: &Tx<'_>,
    each: &mut dyn FnMut(ShipmentRecord) -> parceltrail_core::Result<()>,
) -> R<()> {
    let ids: Vec<(Uuid, Uuid)> = rows(
        tx,
        "SELECT id, order_id FROM shipments WHERE NOT deleted ORDER BY created_at, id",
        &[],
    )
    .await?
    .iter()
    .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
    .collect::<R<_>>()?;
    let mut last_order: Option<Order> = None;
    for (sid, oid) in ids {
        let order = match last_order.take() {
            Some(o) if o.id.0 == oid => o,
            _ => order(tx, OrderId(oid)).await?,
        };
        let id = ShipmentId(sid);
        let record = ShipmentRecord {
            order: order.clone(),
            shipment: shipment(tx, id).await?,
            events: timeline(tx, id).await?,
            status_log: status_log(tx, id).await?,
        };
        last_order = Some(order);
        each(record)?;
    }
    Ok(())
}

pub(super) async fn facets(tx: &Tx<'_>) -> R<Facets> {
    async fn column(tx: &Tx<'_>, sql: &str) -> R<Vec<String>> {
        rows(tx, sql, &[])
            .await?
            .iter()
            .map(|r| get(r, 0))
            .collect()
    }
    Ok(Facets {
        stores: column(
            tx,
            "SELECT DISTINCT o.store FROM shipments s JOIN orders o ON o.id = s.order_id
             WHERE NOT s.deleted AND trim(coalesce(o.store, '')) <> ''",
        )
        .await?,
        carriers: column(
            tx,
            "SELECT DISTINCT carrier FROM shipments WHERE NOT deleted",
        )
        .await?,
    })
}

/// The due shipments, claimed until `until` (see the module docs: replicas asking at once
/// skip each other's rows instead of waiting for them, and get disjoint sets), soonest due
/// first.
pub(super) async fn claim_due(
    tx: &Tx<'_>,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> R<Vec<PollTarget>> {
    rows(
        tx,
        "WITH due AS (
             SELECT id, next_poll_at FROM shipments
             WHERE next_poll_at IS NOT NULL AND NOT deleted AND next_poll_at <= $1 AND NOT archived
             ORDER BY next_poll_at, id LIMIT $2
             FOR UPDATE SKIP LOCKED),
         claimed AS (
             UPDATE shipments s SET next_poll_at = $3 FROM due WHERE s.id = due.id
             RETURNING s.id, s.tracking_number, s.carrier, s.status, s.created_at,
                       s.last_event_at, due.next_poll_at AS was)
         SELECT id, tracking_number, carrier, status, created_at, last_event_at
         FROM claimed ORDER BY was, id",
        &[&ms(now), &(limit.min(i64::MAX as usize) as i64), &ms(until)],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(PollTarget {
            id: ShipmentId(get(r, 0)?),
            tracking_number: get(r, 1)?,
            carrier: get(r, 2)?,
            status: status(get(r, 3)?)?,
            created_at: utc(get(r, 4)?)?,
            last_event_at: opt_utc(get(r, 5)?)?,
        })
    })
    .collect()
}

pub(super) async fn backlog(tx: &Tx<'_>, now: DateTime<Utc>) -> R<Backlog> {
    let r = one(
        tx,
        "SELECT (SELECT count(*) FROM shipments
                 WHERE next_poll_at IS NOT NULL AND next_poll_at <= $1
                   AND NOT deleted AND NOT archived),
                (SELECT count(*) FROM outbox WHERE state = 'pending')",
        &[&ms(now)],
    )
    .await?;
    Ok(Backlog {
        due_polls: count(get::<i64>(&r, 0)?)?,
        pending_notifications: count(get::<i64>(&r, 1)?)?,
    })
}

pub(super) async fn next_due(tx: &Tx<'_>) -> R<Option<DateTime<Utc>>> {
    let r = one(
        tx,
        "SELECT min(next_poll_at) FROM shipments
         WHERE next_poll_at IS NOT NULL AND NOT deleted AND NOT archived",
        &[],
    )
    .await?;
    opt_utc(get(&r, 0)?)
}

pub(super) async fn record_polls(tx: &Tx<'_>, records: &[(ShipmentId, PollRecord)]) -> R<()> {
    let mut ids: Vec<Uuid> = records.iter().map(|(id, _)| id.0).collect();
    lock_shipments(tx, &mut ids).await?;
    let stmt = tx
        .prepare_cached(
            "UPDATE shipments SET last_polled_at = $2, next_poll_at = $3, last_error = $4,
                last_error_at = CASE WHEN $4::text IS NULL THEN NULL
                                     WHEN last_error IS NOT DISTINCT FROM $4 THEN last_error_at
                                     ELSE $2 END
             WHERE id = $1 AND NOT deleted",
        )
        .await?;
    for (id, r) in records {
        tx.execute(
            &stmt,
            &[
                &id.0,
                &ms(r.polled_at),
                &r.next_poll_at.map(ms),
                &clean_opt(r.error.as_deref()),
            ],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn poll_now(tx: &Tx<'_>, id: Option<ShipmentId>, now: DateTime<Utc>) -> R<usize> {
    let n = match id {
        Some(id) => {
            exec(
                tx,
                "UPDATE shipments SET next_poll_at = $2 WHERE id = $1 AND NOT deleted",
                &[&id.0, &ms(now)],
            )
            .await?
        }
        None => {
            exec(
                tx,
                "UPDATE shipments SET next_poll_at = $1
                 WHERE NOT deleted AND NOT archived
                   AND status NOT IN ('delivered', 'returned', 'expired')",
                &[&ms(now)],
            )
            .await?
        }
    };
    Ok(n as usize)
}

pub(super) async fn expire_stale(
    tx: &Tx<'_>,
    schema: &str,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> R<Vec<Change>> {
    // Locked, so an ingest running beside this either lands first (and is seen here) or
    // waits and derives from the expired row.
    let stale: Vec<(Uuid, String)> = rows(
        tx,
        "SELECT id, status FROM shipments
         WHERE NOT deleted AND NOT archived
           AND status NOT IN ('delivered', 'returned', 'expired')
           AND coalesce(last_event_at, created_at) < $1
         ORDER BY id FOR UPDATE",
        &[&ms(cutoff)],
    )
    .await?
    .iter()
    .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
    .collect::<R<_>>()?;
    let mut changes = Vec::with_capacity(stale.len());
    let mut journal = Journal::new(schema);
    for (id, from) in stale {
        journal.take(tx).await?;
        exec(
            tx,
            "UPDATE shipments SET status = 'expired', next_poll_at = NULL, updated_at = $2 WHERE id = $1",
            &[&id, &ms(now)],
        )
        .await?;
        exec(
            tx,
            "INSERT INTO status_log (shipment_id, from_status, to_status, changed_at, cause)
             VALUES ($1, $2, 'expired', $3, 'no news')",
            &[&id, &from, &ms(now)],
        )
        .await?;
        changes.push(Change::StatusChanged {
            shipment_id: ShipmentId(id),
            from: status(&from)?,
            to: Status::Expired,
        });
    }
    append_feed(tx, &mut journal, &changes, ms(now)).await?;
    Ok(changes)
}

pub(super) async fn archive_delivered(
    tx: &Tx<'_>,
    schema: &str,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> R<Vec<Change>> {
    let ids: Vec<Uuid> = rows(
        tx,
        "SELECT id FROM shipments
         WHERE NOT deleted AND NOT archived AND status = 'delivered'
           AND last_event_at < $1
           -- not if the user has (un)archived it since it was added or delivered
           AND (archived_at <= created_at OR archived_at <= last_event_at)
         ORDER BY id FOR UPDATE",
        &[&ms(cutoff)],
    )
    .await?
    .iter()
    .map(|r| get(r, 0))
    .collect::<R<_>>()?;
    for id in &ids {
        exec(
            tx,
            "UPDATE shipments SET archived = true, archived_at = $2, updated_at = $2 WHERE id = $1",
            &[id, &ms(now)],
        )
        .await?;
    }
    let changes: Vec<Change> = ids
        .into_iter()
        .map(|id| Change::ShipmentEdited {
            shipment_id: ShipmentId(id),
        })
        .collect();
    append_feed(tx, &mut Journal::new(schema), &changes, ms(now)).await?;
    Ok(changes)
}

pub(super) async fn carrier_states(tx: &Tx<'_>) -> R<Vec<CarrierState>> {
    rows(
        tx,
        "SELECT carrier, breaker, breaker_until, breaker_trips, failures, backoff_until, requests,
                requests_day, last_success_at, last_error, last_error_at
         FROM carrier_state ORDER BY carrier",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        let breaker = match get::<&str>(r, 1)? {
            "open" => Breaker::Open,
            "half_open" => Breaker::HalfOpen,
            _ => Breaker::Closed,
        };
        let day: Option<String> = get(r, 7)?;
        Ok(CarrierState {
            carrier: get(r, 0)?,
            breaker,
            breaker_until: opt_utc(get(r, 2)?)?,
            breaker_trips: count(get(r, 3)?)?,
            failures: count(get(r, 4)?)?,
            backoff_until: opt_utc(get(r, 5)?)?,
            requests: count(get(r, 6)?)?,
            requests_day: day.and_then(|d| d.parse().ok()),
            last_success_at: opt_utc(get(r, 8)?)?,
            last_error: get(r, 9)?,
            last_error_at: opt_utc(get(r, 10)?)?,
        })
    })
    .collect()
}

pub(super) async fn save_carrier_state(
    tx: &Tx<'_>,
    st: &CarrierState,
    now: DateTime<Utc>,
) -> R<()> {
    exec(
        tx,
        "INSERT INTO carrier_state (carrier, breaker, breaker_until, breaker_trips, failures,
            backoff_until, requests, requests_day, last_success_at, last_error, last_error_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (carrier) DO UPDATE SET breaker = $2, breaker_until = $3,
            breaker_trips = $4, failures = $5, backoff_until = $6, requests = $7,
            requests_day = $8, last_success_at = $9, last_error = $10, last_error_at = $11,
            updated_at = $12",
        &[
            &st.carrier,
            &st.breaker.as_str(),
            &st.breaker_until.map(ms),
            &i64::from(st.breaker_trips),
            &i64::from(st.failures),
            &st.backoff_until.map(ms),
            // As SQLite stores it: a count past i64 wraps there too, and never happens.
            &(st.requests as i64),
            &st.requests_day.map(|d| d.to_string()),
            &st.last_success_at.map(ms),
            &clean_opt(st.last_error.as_deref()),
            &st.last_error_at.map(ms),
            &ms(now),
        ],
    )
    .await?;
    Ok(())
}

/// Moves a register's stamp on to `at` (see `Store::restamp`).
pub(super) async fn restamp(
    tx: &Tx<'_>,
    schema: &str,
    id: ShipmentId,
    register: Register,
    at: DateTime<Utc>,
) -> R<bool> {
    let at = ms(at);
    let col = register.column();
    let n = exec(
        tx,
        &format!(
            "UPDATE shipments SET {col} = $2, updated_at = greatest(updated_at, $2)
             WHERE id = $1 AND {col} < $2"
        ),
        &[&id.0, &at],
    )
    .await?;
    if n == 0 {
        return Ok(false);
    }
    let edited = [Change::ShipmentEdited { shipment_id: id }];
    append_feed(tx, &mut Journal::new(schema), &edited, at).await?;
    Ok(true)
}

/// A parcel's presence (sync's removal register), removed ones included, where `filter`.
pub(super) async fn presence(
    tx: &Tx<'_>,
    filter: &str,
    params: &[Param<'_>],
) -> R<Option<Presence>> {
    let sql = format!(
        "SELECT id, tracking_number, carrier, deleted, deleted_at FROM shipments WHERE {filter}"
    );
    match opt(tx, &sql, params).await? {
        Some(r) => Ok(Some(presence_from_row(&r)?)),
        None => Ok(None),
    }
}

/// Every parcel's presence by id after `after`, at most `limit`.
pub(super) async fn presences(
    tx: &Tx<'_>,
    after: Option<ShipmentId>,
    limit: usize,
) -> R<Vec<Presence>> {
    let after = after.map(|a| a.0);
    let limit = limit as i64;
    rows(
        tx,
        "SELECT id, tracking_number, carrier, deleted, deleted_at FROM shipments
         WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
        &[&after, &limit],
    )
    .await?
    .iter()
    .map(presence_from_row)
    .collect()
}

fn presence_from_row(r: &Row) -> R<Presence> {
    Ok(Presence {
        id: ShipmentId(get(r, 0)?),
        tracking_number: get(r, 1)?,
        carrier: get(r, 2)?,
        removed: get(r, 3)?,
        at: utc(get(r, 4)?)?,
    })
}
