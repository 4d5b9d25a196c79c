//! Sync between stores: a device's and a server's (or any two), each the other's replica.
//!
//! A parcel travels as a [`Record`]: its number and carrier, its order's details, every
//! carrier event, and each user edit and its removal as a register stamped with when it was
//! set. Merging a record into a store ([`merge`]) keeps, per register, the later stamp (ties:
//! a removal, else the greater value), and adds the record's events to the parcel's set
//! (events are keyed by their content, so the same scan is one event everywhere). Merges are
//! idempotent and commutative, so replicas that have exchanged their records agree whatever
//! the order of the exchanges.
//!
//! What changed since a point is read from the store's change feed ([`changes`]): the parcels
//! whose feed entries come after the cursor, each sent whole as it now is. A cursor older
//! than the feed keeps (pruned away) starts a walk over every parcel, removed ones included,
//! so a replica away for weeks catches up. A parcel is the same parcel on every replica when
//! its tracking number is: two devices that add one number offline get one parcel.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{NewEvent, ShipmentId};
use crate::store::{Edit, IngestBatch, NewShipment, OrderInfo, Presence, Register, Store};
use crate::{Error, Result};

/// Most records one page of [`changes`] holds.
pub const MAX_PAGE: usize = 500;

/// A value and when it was set: a last-writer-wins register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped<T> {
    /// The value.
    pub value: T,
    /// When it was set.
    pub at: DateTime<Utc>,
}

impl<T: PartialOrd> Stamped<T> {
    /// Whether `self` wins over `other`: the later stamp, or on a tie the greater value (so
    /// every replica picks the same one).
    fn beats(&self, other: &Stamped<T>) -> bool {
        self.at > other.at || (self.at == other.at && self.value > other.value)
    }
}

/// The order a parcel belongs to, as its record carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordOrder {
    /// Store or merchant (a shop's sales channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The store's order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    /// What was ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<String>,
    /// When it was ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_at: Option<DateTime<FixedOffset>>,
    /// The promised delivery date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_at: Option<DateTime<FixedOffset>>,
}

/// One parcel as it travels between replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Its tracking number (what makes it the same parcel everywhere).
    pub tracking_number: String,
    /// Carrier id.
    pub carrier: String,
    /// Service level, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Its order.
    #[serde(default)]
    pub order: RecordOrder,
    /// Removed (a tombstone), and when; for a parcel being tracked, when it was added or
    /// brought back.
    pub removed: Stamped<bool>,
    /// The person's name for it.
    pub label: Stamped<Option<String>>,
    /// No notifications for it.
    pub muted: Stamped<bool>,
    /// Hidden from the default views.
    pub archived: Stamped<bool>,
    /// Every carrier event (none for a removed parcel).
    #[serde(default)]
    pub events: Vec<NewEvent>,
}

/// Where a reader of [`changes`] is: in the change feed after an entry, or walking every
/// parcel (by id, after one) from a feed position it goes on from once done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// The feed, after this entry (0: from the start, which walks every parcel first).
    Feed(i64),
    /// Every parcel with an id after `after`, then the feed after `then`.
    Walk {
        /// The feed position to go on from.
        then: i64,
        /// The last parcel sent.
        after: Option<ShipmentId>,
    },
}

impl Cursor {
    /// The cursor as text (`f<seq>`, or `w<seq>.<id>`), for a URL or a setting.
    pub fn encode(&self) -> String {
        match self {
            Cursor::Feed(seq) => format!("f{seq}"),
            Cursor::Walk { then, after } => match after {
                Some(id) => format!("w{then}.{}", id.0),
                None => format!("w{then}."),
            },
        }
    }

    /// Reads [`encode`](Self::encode)'s text.
    pub fn decode(s: &str) -> Result<Cursor> {
        let bad = || Error::InvalidInput(format!("{s:?} is not a sync cursor this store gave"));
        if let Some(seq) = s.strip_prefix('f') {
            return seq.parse().map(Cursor::Feed).map_err(|_| bad());
        }
        let rest = s.strip_prefix('w').ok_or_else(bad)?;
        let (then, after) = rest.split_once('.').ok_or_else(bad)?;
        let then = then.parse().map_err(|_| bad())?;
        let after = if after.is_empty() {
            None
        } else {
            Some(ShipmentId(after.parse().map_err(|_| bad())?))
        };
        Ok(Cursor::Walk { then, after })
    }
}

/// A page of changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The parcels that changed, each as it now is.
    pub records: Vec<Record>,
    /// Where to read on from.
    pub next: Cursor,
    /// Whether more changes wait after `next` (as of this read).
    pub more: bool,
}

/// The record of the parcel `presence` names, as `store` has it (a removed one as its
/// tombstone).
pub fn record(store: &dyn Store, presence: &Presence) -> Result<Record> {
    let removed = Stamped {
        value: presence.removed,
        at: presence.at,
    };
    if presence.removed {
        // A tombstone keeps its number and stamp; its history went with it.
        return Ok(Record {
            tracking_number: presence.tracking_number.clone(),
            carrier: presence.carrier.clone(),
            service: None,
            order: RecordOrder::default(),
            removed,
            label: Stamped {
                value: None,
                at: presence.at,
            },
            muted: Stamped {
                value: false,
                at: presence.at,
            },
            archived: Stamped {
                value: false,
                at: presence.at,
            },
            events: Vec::new(),
        });
    }
    let s = store.shipment(presence.id)?;
    let o = store.order(s.order_id)?;
    let events = store
        .timeline(s.id)?
        .into_iter()
        .map(|e| NewEvent {
            occurred_at: e.occurred_at,
            status: e.status,
            raw_code: e.raw_code,
            description: e.description,
            location: e.location,
            source: e.source,
        })
        .collect();
    Ok(Record {
        tracking_number: s.tracking_number,
        carrier: s.carrier,
        service: s.service,
        order: RecordOrder {
            store: o.store,
            order_number: o.order_number,
            items: o.items,
            placed_at: o.placed_at,
            promised_at: o.promised_at,
        },
        removed,
        label: Stamped {
            value: s.label,
            at: s.label_at,
        },
        muted: Stamped {
            value: s.muted,
            at: s.muted_at,
        },
        archived: Stamped {
            value: s.archived,
            at: s.archived_at,
        },
        events,
    })
}

/// The parcels changed after `cursor`, at most `limit` (1 to [`MAX_PAGE`]), and where to go
/// on from.
pub fn changes(store: &dyn Store, cursor: Cursor, limit: usize) -> Result<Page> {
    let limit = limit.clamp(1, MAX_PAGE);
    let cursor = match cursor {
        // Entries before this one were pruned (or this is the first read): walk everything,
        // then go on from the feed's head as it is now.
        Cursor::Feed(after) if after == 0 || feed_gone(store, after)? => Cursor::Walk {
            then: store.feed_head()?,
            after: None,
        },
        c => c,
    };
    match cursor {
        Cursor::Walk { then, after } => {
            let presences = store.presences(after, limit + 1)?;
            let more = presences.len() > limit;
            let page = &presences[..presences.len().min(limit)];
            let records = page
                .iter()
                .map(|p| record(store, p))
                .collect::<Result<Vec<_>>>()?;
            let next = match (more, page.last()) {
                (true, Some(last)) => Cursor::Walk {
                    then,
                    after: Some(last.id),
                },
                _ => Cursor::Feed(then),
            };
            // The walk done, the feed after `then` may hold more.
            let more = more || store.feed_head()? > then;
            Ok(Page {
                records,
                next,
                more,
            })
        }
        Cursor::Feed(after) => {
            // Heads are small: read past `limit` parcels' worth (one parcel often has several
            // entries), stopping at a whole entry.
            let heads = store.feed_heads(after, limit * 8)?;
            let mut ids: Vec<ShipmentId> = Vec::new();
            let mut next = after;
            let mut more = false;
            for h in &heads {
                if let Some(id) = h.shipment_id
                    && !ids.contains(&id)
                {
                    if ids.len() == limit {
                        more = true;
                        break;
                    }
                    ids.push(id);
                }
                next = h.seq;
            }
            more = more || heads.len() == limit * 8;
            let mut records = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(p) = store.presence(id)? {
                    records.push(record(store, &p)?);
                }
            }
            Ok(Page {
                records,
                next: Cursor::Feed(next),
                more,
            })
        }
    }
}

/// Whether the feed no longer has entry `after` (pruned away). A cursor always names an
/// entry the store gave (identity columns may skip numbers, so a gap after it means nothing).
fn feed_gone(store: &dyn Store, after: i64) -> Result<bool> {
    Ok(store.feed_heads(after - 1, 1)?.first().map(|h| h.seq) != Some(after))
}

/// What [`merge`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    /// Records that changed something here.
    pub changed: usize,
    /// Records this store already had as they are (or newer).
    pub unchanged: usize,
}

/// Merges records into `store`, each register by its stamp and the events as a set (see
/// the module docs). `now` is only for what the store stamps on its own (the events'
/// `recorded_at`).
pub fn merge(store: &mut dyn Store, records: &[Record], now: DateTime<Utc>) -> Result<Merged> {
    let mut out = Merged::default();
    for r in records {
        if merge_one(store, r, now)? {
            out.changed += 1;
        } else {
            out.unchanged += 1;
        }
    }
    Ok(out)
}

/// Merges records received from the other side and, when `sent` (how far this store's own
/// changes were sent) is at the feed's head and every record merged to exactly what this
/// store now has, moves it past the entries the merge wrote: what came from the other side
/// need not go back to it. When this store has more (events the other lacks, a register it
/// set later), or changed meanwhile, the cursor stays, and the next round sends it. Call it
/// under the store's lock, so no write of this store's own falls between the reads.
pub fn merge_received(
    store: &mut dyn Store,
    records: &[Record],
    now: DateTime<Utc>,
    sent: Cursor,
) -> Result<(Merged, Cursor)> {
    let before = store.feed_head()?;
    let merged = merge(store, records, now)?;
    let Cursor::Feed(at) = sent else {
        return Ok((merged, sent));
    };
    if at != before {
        return Ok((merged, sent));
    }
    for r in records {
        let number = crate::detect::normalize(&r.tracking_number);
        let here = match store.presence_of_number(&number)? {
            Some(p) => record(store, &p)?,
            None => return Ok((merged, sent)),
        };
        if !same(&here, r) {
            return Ok((merged, sent));
        }
    }
    Ok((merged, Cursor::Feed(store.feed_head()?)))
}

/// The same parcel state: registers, and events as a set (orders are not merged).
fn same(a: &Record, b: &Record) -> bool {
    let keys = |r: &Record| {
        let mut k: Vec<_> = r.events.iter().map(NewEvent::dedupe_key).collect();
        k.sort();
        k.dedup();
        k
    };
    a.removed == b.removed
        && a.label == b.label
        && a.muted == b.muted
        && a.archived == b.archived
        && keys(a) == keys(b)
}

fn merge_one(store: &mut dyn Store, r: &Record, now: DateTime<Utc>) -> Result<bool> {
    let number = crate::detect::normalize(&r.tracking_number);
    if number.is_empty() {
        return Err(Error::InvalidInput(
            "a record's tracking number is empty".into(),
        ));
    }
    let (id, mut changed) = match store.presence_of_number(&number)? {
        // Never seen here, and removed there: kept as a tombstone all the same (in an order
        // of its own, removed with it), so an older copy from elsewhere cannot bring it back.
        None if r.removed.value => {
            let bare = Record {
                order: RecordOrder::default(),
                ..r.clone()
            };
            let id = add(store, &bare, &number)?;
            let order = store.shipment(id)?.order_id;
            store.remove_order(order, r.removed.at)?;
            return Ok(true);
        }
        None => (add(store, r, &number)?, true),
        Some(p) => {
            let here = Stamped {
                value: p.removed,
                at: p.at,
            };
            if r.removed.beats(&here) {
                match (p.removed, r.removed.value) {
                    (false, true) => {
                        store.remove(p.id, r.removed.at)?;
                        return Ok(true);
                    }
                    (true, true) => return store.restamp(p.id, Register::Presence, r.removed.at),
                    // Brought back after its removal here: revived with the record's stamp.
                    (true, false) => (add(store, r, &number)?, true),
                    // Tracked on both, since later there.
                    (false, false) => {
                        (p.id, store.restamp(p.id, Register::Presence, r.removed.at)?)
                    }
                }
            } else if p.removed || r.removed.value {
                // Removed here later than it came back there, or removed there earlier
                // than it came back here.
                return Ok(false);
            } else {
                (p.id, false)
            }
        }
    };
    let s = store.shipment(id)?;
    changed |= register(
        store,
        id,
        Register::Label,
        &r.label,
        Stamped {
            value: s.label.clone(),
            at: s.label_at,
        },
        || Edit::Label(r.label.value.clone()),
    )?;
    changed |= register(
        store,
        id,
        Register::Muted,
        &r.muted,
        Stamped {
            value: s.muted,
            at: s.muted_at,
        },
        || Edit::Muted(r.muted.value),
    )?;
    changed |= register(
        store,
        id,
        Register::Archived,
        &r.archived,
        Stamped {
            value: s.archived,
            at: s.archived_at,
        },
        || Edit::Archived(r.archived.value),
    )?;
    if !r.events.is_empty() {
        let report = store.ingest(&[IngestBatch::events(id, r.events.clone())], now)?;
        changed |= report.inserted > 0;
    }
    Ok(changed)
}

/// One register merged: the record's value when it wins, or only its later stamp when the
/// value is the same.
fn register<T: PartialOrd>(
    store: &mut dyn Store,
    id: ShipmentId,
    which: Register,
    theirs: &Stamped<T>,
    ours: Stamped<T>,
    edit: impl FnOnce() -> Edit,
) -> Result<bool> {
    if !theirs.beats(&ours) {
        return Ok(false);
    }
    if theirs.value == ours.value {
        store.restamp(id, which, theirs.at)
    } else {
        store.edit(id, edit(), theirs.at)
    }
}

/// Adds (or brings back) the record's parcel, stamped as the record says it came.
fn add(store: &mut dyn Store, r: &Record, number: &str) -> Result<ShipmentId> {
    let new = NewShipment {
        tracking_number: number.to_owned(),
        carrier: r.carrier.clone(),
        service: r.service.clone(),
        label: r.label.value.clone(),
        order: OrderInfo {
            store: r.order.store.clone(),
            order_number: r.order.order_number.clone(),
            items: r.order.items.clone(),
            placed_at: r.order.placed_at,
            notes: None,
            promised_at: r.order.promised_at,
        },
        events: Vec::new(),
    };
    Ok(store.add_shipment(&new, r.removed.at)?.shipment.id)
}
