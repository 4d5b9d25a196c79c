//! The storage boundary.
//!
//! [`Store`] speaks the domain, not SQL: the local app and CLI use [`SqliteStore`]; the shop
//! server keeps each shop's parcels on PostgreSQL behind the same trait
//! (`parceltrail_shop::tracking::PgStore`, outside core so core has no network client). In
//! core, only modules under `store` run SQL.
//!
//! Writes are transactional. [`Store::ingest`] is the single entry point for carrier events,
//! whatever their route (poll, webhook, import, simulator): it is idempotent, derives each
//! shipment's status and carrier ETA in the same transaction, logs every status change and
//! returns the [`Change`]s it committed, for the ETA engine, notifier and UI to consume.
//!
//! Orders are records of their own too (the shop server's): [`Store::save_order`] creates one
//! with its parcels in one transaction, with its customer and its stage ([`OrderStage`],
//! logged with who set it), and [`Store::orders`] pages through them newest first.
//!
//! **The feed.** Every committed change (each [`Change`] but
//! [`Change::NotificationsChanged`]) is also appended to a durable feed, inside the
//! transaction that makes it, numbered by `seq`: [`Store::feed`] reads it from a position on,
//! so a reader (the shop server's event stream) resumes where it stopped after a restart or a
//! dropped connection, and misses nothing. Old entries are dropped by [`Store::prune_feed`].
//!
//! **Text** the store writes has U+0000 replaced by U+FFFD ([`clean_text`]): PostgreSQL's
//! `text` cannot hold it, and both backends must store the same.

pub mod orders;
pub mod report;
mod sqlite;
mod text;

pub use sqlite::SqliteStore;
pub use text::{clean_event, clean_opt, clean_place, clean_text};

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use uuid::Uuid;

use crate::domain::{
    CarrierEta, Customer, NewEvent, Order, OrderId, OrderStage, Place, Shipment, ShipmentId,
    StageChange, Status, StatusChange, TrackingEvent,
};
use crate::error::Result;
use crate::eta::{Delivery, Estimate};
use crate::notify::rules::{Draft, Kind, KindSet};
use crate::notify::{Channel, Urgency};
use crate::problems::{OpenProblem, Problem, ProblemKind};

/// What a person (or an import row) gives to start tracking a number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewShipment {
    /// Already normalised.
    pub tracking_number: String,
    /// Carrier id.
    pub carrier: String,
    /// Service, when the number says.
    pub service: Option<String>,
    /// The user's name for it.
    pub label: Option<String>,
    /// The order it belongs to.
    pub order: OrderInfo,
    /// History known from elsewhere (an import): stored in the same transaction, through the
    /// same idempotent ingest as carrier events.
    pub events: Vec<NewEvent>,
}

/// Order details given with a new shipment. With an order number, shipments of the same
/// store and number share one order; without one, each shipment gets its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderInfo {
    /// Store or merchant.
    pub store: Option<String>,
    /// The store's order number.
    pub order_number: Option<String>,
    /// What was ordered.
    pub items: Option<String>,
    /// When it was ordered.
    pub placed_at: Option<DateTime<FixedOffset>>,
    /// Free notes.
    pub notes: Option<String>,
    /// The store's promised delivery date (an input to the estimate).
    pub promised_at: Option<DateTime<FixedOffset>>,
}

/// A new order with its parcels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewOrder {
    /// Born at the caller (UUIDv7); an order merged into or revived keeps its own.
    pub id: OrderId,
    /// Store (the shop's sales channel), order number, items, dates, notes.
    pub info: OrderInfo,
    /// Who ordered.
    pub customer: Customer,
    /// Its stage at creation.
    pub stage: OrderStage,
    /// Who created it (`key:<name>`, `staff:<email>`, `import`), logged as the first stage
    /// entry.
    pub actor: String,
    /// Its parcels; their `order` field is ignored (they belong to this order).
    pub shipments: Vec<NewShipment>,
}

/// What to do when the order's number (within its store) already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Refuse with [`Error::OrderExists`](crate::Error::OrderExists), writing nothing.
    Refuse,
    /// Keep the existing order, fill in what it lacks and add the parcels to it.
    Merge,
}

/// The result of saving an order.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedOrder {
    /// The order as stored.
    pub order: Order,
    /// False when an existing order was merged into.
    pub created: bool,
    /// Each given parcel, in the given order.
    pub shipments: Vec<Added>,
}

/// A change to an order's own fields (`None`: leave as is; `Some(None)`: clear).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderPatch {
    /// Store (sales channel).
    pub store: Option<Option<String>>,
    /// Order number.
    pub order_number: Option<Option<String>>,
    /// What was ordered.
    pub items: Option<Option<String>>,
    /// When it was placed.
    pub placed_at: Option<Option<DateTime<FixedOffset>>>,
    /// The promised delivery date.
    pub promised_at: Option<Option<DateTime<FixedOffset>>>,
    /// Free notes.
    pub notes: Option<Option<String>>,
    /// Customer's name.
    pub customer_name: Option<Option<String>>,
    /// Customer's e-mail.
    pub customer_email: Option<Option<String>>,
    /// Customer's phone.
    pub customer_phone: Option<Option<String>>,
    /// Customer's postcode.
    pub customer_postcode: Option<Option<String>>,
    /// Customer's address.
    pub customer_address: Option<Option<String>>,
}

/// Which orders to list: newest first (by id, a UUIDv7, so creation order), keyset paged
/// with `before`. Filters combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderQuery {
    /// The order number, exactly (in any store).
    pub order_number: Option<String>,
    /// The customer's e-mail, exactly but for case.
    pub email: Option<String>,
    /// Free search (trimmed; blank is no filter): the start of an order number (in its
    /// case), the customer's e-mail (exactly but for case), part of the customer's name (any
    /// case), or a tracking number of one of its parcels (exactly, spaces, dashes and case
    /// ignored).
    pub q: Option<String>,
    /// One of its parcels has this status.
    pub status: Option<Status>,
    /// One of its parcels is at this carrier.
    pub carrier: Option<String>,
    /// The store (sales channel), exactly.
    pub store: Option<String>,
    /// Its stage.
    pub stage: Option<OrderStage>,
    /// Placed at or after.
    pub placed_from: Option<DateTime<Utc>>,
    /// Placed before.
    pub placed_to: Option<DateTime<Utc>>,
    /// Cursor: only orders whose id is below this one (the last of the previous page).
    pub before: Option<OrderId>,
    /// At most this many (0: none).
    pub limit: usize,
}

/// One entry of the durable change feed (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEntry {
    /// Its position: strictly increasing in commit order.
    pub seq: i64,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// The order it concerns (for a parcel's change, the parcel's order).
    pub order_id: Option<OrderId>,
    /// The parcel it concerns, if one.
    pub shipment_id: Option<ShipmentId>,
    /// What changed.
    pub change: Change,
}

/// A feed entry without its change's details: what a follower that only needs to know which
/// parcel changed, and how, reads (the details of a parcel's new events are most of a busy
/// feed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedHead {
    /// Its position.
    pub seq: i64,
    /// The parcel it concerns, if one.
    pub shipment_id: Option<ShipmentId>,
    /// The change's kind, as the feed's JSON names it (`events_added`, `status_changed`, …).
    pub kind: String,
}

/// The kind named at the start of a stored change (`{"kind":"events_added",…}`).
pub fn change_kind(data: &str) -> String {
    data.strip_prefix("{\"kind\":\"")
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// The feed's stored form of a change: one encoding for every backend.
pub fn encode_change(change: &Change) -> String {
    // Serialising these plain types cannot fail.
    serde_json::to_string(change).unwrap_or_default()
}

/// A feed entry's change from its stored form.
pub fn decode_change(data: &str) -> std::result::Result<Change, String> {
    serde_json::from_str(data).map_err(|e| format!("feed entry {data:?}: {e}"))
}

/// The result of adding a shipment.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    /// The stored shipment (the existing one when it was already tracked).
    pub shipment: Shipment,
    /// False when the number was already tracked (only new events were merged).
    pub created: bool,
    /// How many of the given events were new.
    pub events_added: usize,
}

/// What one carrier response (or webhook, or import) says about one shipment.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestBatch {
    /// The shipment.
    pub shipment_id: ShipmentId,
    /// Events, in any order, duplicates allowed.
    pub events: Vec<NewEvent>,
    /// The carrier's estimate, if it gave one.
    pub carrier_eta: Option<CarrierEta>,
    /// Service level, if the carrier said.
    pub service: Option<String>,
    /// Origin, if the carrier said.
    pub origin: Option<Place>,
    /// Destination, if the carrier said.
    pub destination: Option<Place>,
}

impl IngestBatch {
    /// A batch of events only.
    pub fn events(shipment_id: ShipmentId, events: Vec<NewEvent>) -> Self {
        Self {
            shipment_id,
            events,
            carrier_eta: None,
            service: None,
            origin: None,
            destination: None,
        }
    }
}

/// A committed change, published after the transaction: the ETA engine, the notifier and
/// the UI subscribe to these, never to the database. Each is also kept in the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// New carrier events were stored (only those actually new).
    EventsAdded {
        /// Which shipment.
        shipment_id: ShipmentId,
        /// The new events, oldest first.
        events: Vec<TrackingEvent>,
    },
    /// The derived status moved.
    StatusChanged {
        /// Which shipment.
        shipment_id: ShipmentId,
        /// Before.
        from: Status,
        /// After.
        to: Status,
    },
    /// The carrier's estimate changed.
    EtaChanged {
        /// Which shipment.
        shipment_id: ShipmentId,
        /// The new estimate.
        eta: CarrierEta,
    },
    /// A user edit (label, mute, archive) was applied.
    ShipmentEdited {
        /// Which shipment.
        shipment_id: ShipmentId,
    },
    /// Our delivery estimate changed.
    EstimateChanged {
        /// Which shipment.
        shipment_id: ShipmentId,
        /// The new estimate (None: no longer estimated).
        estimate: Option<Estimate>,
    },
    /// A problem was detected.
    ProblemOpened {
        /// Which shipment.
        shipment_id: ShipmentId,
        /// Which problem.
        problem: ProblemKind,
    },
    /// A problem no longer holds.
    ProblemResolved {
        /// Which shipment.
        shipment_id: ShipmentId,
        /// Which problem.
        problem: ProblemKind,
    },
    /// A notification was recorded, sent or released.
    NotificationsChanged,
    /// An order was created (or a removed one revived).
    OrderCreated {
        /// Which order.
        order_id: OrderId,
    },
    /// An order's own fields changed.
    OrderUpdated {
        /// Which order.
        order_id: OrderId,
    },
    /// An order's stage was set.
    OrderStageChanged {
        /// Which order.
        order_id: OrderId,
        /// Before.
        from: OrderStage,
        /// After.
        to: OrderStage,
        /// Who set it.
        actor: String,
    },
    /// An order was removed, with its parcels.
    OrderRemoved {
        /// Which order.
        order_id: OrderId,
    },
    /// A parcel was added (or a removed one revived).
    ShipmentAdded {
        /// Which parcel.
        shipment_id: ShipmentId,
        /// Its order.
        order_id: OrderId,
    },
    /// A parcel was removed.
    ShipmentRemoved {
        /// Which parcel.
        shipment_id: ShipmentId,
    },
}

impl Change {
    /// The shipment it concerns, if one.
    pub fn shipment_id(&self) -> Option<ShipmentId> {
        match self {
            Change::EventsAdded { shipment_id, .. }
            | Change::StatusChanged { shipment_id, .. }
            | Change::EtaChanged { shipment_id, .. }
            | Change::ShipmentEdited { shipment_id }
            | Change::EstimateChanged { shipment_id, .. }
            | Change::ProblemOpened { shipment_id, .. }
            | Change::ProblemResolved { shipment_id, .. }
            | Change::ShipmentAdded { shipment_id, .. }
            | Change::ShipmentRemoved { shipment_id } => Some(*shipment_id),
            Change::NotificationsChanged
            | Change::OrderCreated { .. }
            | Change::OrderUpdated { .. }
            | Change::OrderStageChanged { .. }
            | Change::OrderRemoved { .. } => None,
        }
    }

    /// The order it names, if one (a parcel's change other than its addition names none:
    /// the feed looks the order up).
    pub fn order_id(&self) -> Option<OrderId> {
        match self {
            Change::OrderCreated { order_id }
            | Change::OrderUpdated { order_id }
            | Change::OrderStageChanged { order_id, .. }
            | Change::OrderRemoved { order_id }
            | Change::ShipmentAdded { order_id, .. } => Some(*order_id),
            _ => None,
        }
    }

    /// Whether the feed keeps it (notifications are the outbox's business, not the feed's).
    pub fn is_fed(&self) -> bool {
        !matches!(self, Change::NotificationsChanged)
    }
}

/// What an ingest call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestReport {
    /// Events stored for the first time.
    pub inserted: usize,
    /// Events already stored (or repeated within the call).
    pub duplicates: usize,
    /// The committed changes, in order.
    pub changes: Vec<Change>,
    /// Shipments of batches that were dropped because the shipment is not there (removed
    /// meanwhile): nothing of those batches was stored.
    pub gone: Vec<ShipmentId>,
}

/// An order as its page shows it ([`Store::order_detail`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDetail {
    /// The order.
    pub order: Order,
    /// Its (non-removed) shipments, oldest first.
    pub shipments: Vec<Shipment>,
    /// Each shipment's events, oldest first, in the order of `shipments`.
    pub timelines: Vec<Vec<TrackingEvent>>,
    /// Its stage changes, oldest first.
    pub stages: Vec<StageChange>,
}

/// A user edit with its last-writer-wins stamp.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Rename (None clears).
    Label(Option<String>),
    /// Mute or unmute notifications.
    Muted(bool),
    /// Archive or unarchive.
    Archived(bool),
    /// Which news notifies for this parcel (None: the channels' own choice).
    NotifyKinds(Option<KindSet>),
}

/// The most orders [`Store::order_lead_times`] looks at: the newest placed, so its cost is
/// bounded however many orders a shop has.
pub const LEAD_SCAN: usize = 5_000;

/// The home-screen groups, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Out for delivery, or the estimate says today.
    ArrivingToday,
    /// Everything else still moving.
    OnTheWay,
    /// Exceptions, failed attempts, returns, pickups waiting, carrier errors.
    NeedsAttention,
    /// Delivered within the recent window.
    DeliveredRecently,
    /// Archived, or delivered long ago (only with `all`).
    Archived,
}

impl Group {
    /// Every group in display order.
    pub const ALL: [Group; 5] = [
        Group::ArrivingToday,
        Group::OnTheWay,
        Group::NeedsAttention,
        Group::DeliveredRecently,
        Group::Archived,
    ];

    /// Heading for people.
    pub fn title(self) -> &'static str {
        match self {
            Group::ArrivingToday => "Arriving today",
            Group::OnTheWay => "On the way",
            Group::NeedsAttention => "Needs attention",
            Group::DeliveredRecently => "Delivered recently",
            Group::Archived => "Archived and older",
        }
    }

    pub(crate) fn from_index(i: i64) -> Group {
        Group::ALL[(i.clamp(0, 4)) as usize]
    }
}

/// What to list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListQuery {
    /// The user's "today", as an instant range.
    pub today_start: DateTime<Utc>,
    /// End of today (exclusive).
    pub today_end: DateTime<Utc>,
    /// Deliveries since then count as recent.
    pub delivered_since: DateTime<Utc>,
    /// Include archived parcels and old deliveries.
    pub all: bool,
}

/// What the tracked shipments are spread over (see [`Store::facets`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    /// Store names (non-blank).
    pub stores: Vec<String>,
    /// Carrier ids.
    pub carriers: Vec<String>,
}

/// A zone's UTC offsets over `[from, to)`: `(from this instant in ms, seconds east of UTC)`,
/// oldest first, the first at `from`. A store's query reads local days through them, so
/// both backends count days alike (SQLite knows no time zones).
pub fn zone_offsets(tz: chrono_tz::Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(i64, i32)> {
    use chrono::{Offset, TimeZone};
    let off = |t: DateTime<Utc>| {
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
    };
    let mut out = vec![(from.timestamp_millis(), off(from))];
    let mut t = from;
    // No zone changes its offset twice in six hours; a change is found to the millisecond.
    while t < to {
        let next = (t + chrono::Duration::hours(6)).min(to);
        let current = out[out.len() - 1].1;
        if off(next) != current {
            let (mut lo, mut hi) = (t.timestamp_millis(), next.timestamp_millis());
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                let mid_t = DateTime::<Utc>::from_timestamp_millis(mid).unwrap_or(next);
                if off(mid_t) == current {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            out.push((hi, off(next)));
        }
        t = next;
    }
    out
}

/// One row of the home screen: enough to draw a card, small enough to stream 100,000.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListItem {
    /// The group it falls in.
    pub group: Group,
    /// Shipment id.
    pub id: ShipmentId,
    /// Tracking number.
    pub tracking_number: String,
    /// Carrier id.
    pub carrier: String,
    /// Current status.
    pub status: Status,
    /// Latest event description.
    pub status_detail: Option<String>,
    /// User's label.
    pub label: Option<String>,
    /// Store.
    pub store: Option<String>,
    /// Order number.
    pub order_number: Option<String>,
    /// Latest event time.
    pub last_event_at: Option<DateTime<FixedOffset>>,
    /// Carrier estimate.
    pub carrier_eta: Option<CarrierEta>,
    /// Our estimate.
    pub estimate: Option<Estimate>,
    /// Open problems.
    pub problems: Vec<ProblemKind>,
    /// Last carrier error.
    pub last_error: Option<String>,
    /// Muted.
    pub muted: bool,
    /// Archived.
    pub archived: bool,
}

/// Everything stored about one shipment, for export and the detail view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShipmentRecord {
    /// Its order.
    pub order: Order,
    /// The shipment.
    pub shipment: Shipment,
    /// Every carrier event, oldest first.
    pub events: Vec<TrackingEvent>,
    /// Every status change, oldest first.
    pub status_log: Vec<StatusChange>,
}

/// A shipment the poller should ask its carrier about.
#[derive(Debug, Clone, PartialEq)]
pub struct PollTarget {
    /// Which.
    pub id: ShipmentId,
    /// Its number.
    pub tracking_number: String,
    /// Its carrier id.
    pub carrier: String,
    /// Its current status.
    pub status: Status,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When its latest event happened.
    pub last_event_at: Option<DateTime<Utc>>,
}

/// How much work waits in a store ([`Store::backlog`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Shipments whose next poll is due (not archived, not removed).
    pub due_polls: u64,
    /// Outbox rows waiting to be sent (`pending`, retries included; not `held`).
    pub pending_notifications: u64,
}

/// What asking the carrier about one shipment came to.
#[derive(Debug, Clone, PartialEq)]
pub struct PollRecord {
    /// When we asked.
    pub polled_at: DateTime<Utc>,
    /// When to ask next (None: stop polling).
    pub next_poll_at: Option<DateTime<Utc>>,
    /// The failure to show on the parcel (None clears an earlier one).
    pub error: Option<String>,
}

/// A carrier API's circuit-breaker position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Breaker {
    /// Requests flow.
    Closed,
    /// Requests are held until `breaker_until`.
    Open,
    /// One probe request is allowed.
    HalfOpen,
}

impl Breaker {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Breaker::Closed => "closed",
            Breaker::Open => "open",
            Breaker::HalfOpen => "half_open",
        }
    }
}

/// What we keep about each carrier API between runs, so a restart neither forgets a
/// back-off nor hammers a failing API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CarrierState {
    /// Adapter id.
    pub carrier: String,
    /// Breaker position.
    pub breaker: Breaker,
    /// Open until.
    pub breaker_until: Option<DateTime<Utc>>,
    /// Consecutive openings (the cool-down doubles with each).
    pub breaker_trips: u32,
    /// Consecutive failed calls.
    pub failures: u32,
    /// No requests before this (from the carrier's Retry-After).
    pub backoff_until: Option<DateTime<Utc>>,
    /// Requests made on `requests_day` (UTC), against daily quotas.
    pub requests: u64,
    /// The day `requests` counts.
    pub requests_day: Option<chrono::NaiveDate>,
    /// Last successful call.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Last failure.
    pub last_error: Option<String>,
    /// When.
    pub last_error_at: Option<DateTime<Utc>>,
}

impl CarrierState {
    /// A fresh state: breaker closed, nothing counted.
    pub fn new(carrier: &str) -> Self {
        Self {
            carrier: carrier.to_owned(),
            breaker: Breaker::Closed,
            breaker_until: None,
            breaker_trips: 0,
            failures: 0,
            backoff_until: None,
            requests: 0,
            requests_day: None,
            last_success_at: None,
            last_error: None,
            last_error_at: None,
        }
    }
}

/// A parcel as the ETA engine and problem detection see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    /// Which.
    pub id: ShipmentId,
    /// Carrier id.
    pub carrier: String,
    /// Service level.
    pub service: Option<String>,
    /// Where from.
    pub origin: Place,
    /// Where to.
    pub destination: Place,
    /// Current status.
    pub status: Status,
    /// When the event that set the status happened.
    pub status_at: Option<DateTime<Utc>>,
    /// The latest event's description.
    pub detail: Option<String>,
    /// When the carrier first had it (None: not yet).
    pub shipped_at: Option<DateTime<Utc>>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When the latest event happened.
    pub last_event_at: Option<DateTime<Utc>>,
    /// The carrier's estimate.
    pub carrier_eta: Option<CarrierEta>,
    /// The store's promised date.
    pub promised_at: Option<DateTime<Utc>>,
    /// Our current estimate.
    pub estimate: Option<Estimate>,
    /// The latest date of our first estimate once it moved.
    pub first_latest: Option<DateTime<Utc>>,
    /// Its open problems.
    pub problems: Vec<Problem>,
}

/// What the ETA engine and problem detection concluded about one parcel.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Which.
    pub id: ShipmentId,
    /// The estimate stored before (written again only when it changed).
    pub previous: Option<Estimate>,
    /// Our estimate (None clears it).
    pub estimate: Option<Estimate>,
    /// Set as the "first estimate" latest date when none is stored yet.
    pub first_latest: Option<DateTime<Utc>>,
    /// Every problem that holds now; stored open problems not in the list are resolved.
    pub problems: Vec<Problem>,
}

/// Whether two estimates say the same (confidence to half a percent): what every store
/// compares before it rewrites an estimate.
pub fn same_estimate(a: Option<&Estimate>, b: Option<&Estimate>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.earliest == b.earliest
                && a.likely == b.likely
                && a.latest == b.latest
                && a.source == b.source
                && (a.confidence - b.confidence).abs() < 0.005
        }
        _ => false,
    }
}

/// How far the notifier has read the journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JournalCursor {
    /// Last `status_log` row read.
    pub status_log: i64,
    /// Last `problems` row read.
    pub problems: i64,
}

/// One entry of the journal the notifier reads: a status change or an opened problem.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalEntry {
    /// A status change.
    Status {
        /// Which parcel.
        shipment_id: ShipmentId,
        /// Before.
        from: Status,
        /// After.
        to: Status,
        /// What caused it (`poll`, `webhook`, `import`, ...).
        cause: String,
        /// The carrier event that set the new status.
        event_key: Option<Uuid>,
        /// When that event happened.
        event_at: Option<DateTime<Utc>>,
        /// Its description.
        detail: Option<String>,
        /// When it was recorded.
        changed_at: DateTime<Utc>,
    },
    /// A problem was opened.
    Problem {
        /// Which parcel.
        shipment_id: ShipmentId,
        /// The problem.
        problem: Problem,
    },
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Recorded during quiet hours; a summary will replace it.
    Held,
    /// Waiting to be sent (or retried).
    Pending,
    /// Accepted by the channel.
    Sent,
    /// Given up on.
    Failed,
    /// Replaced by a summary after quiet hours.
    Summarized,
}

impl OutboxState {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Held => "held",
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Summarized => "summarized",
        }
    }
}

/// A recorded notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEntry {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Identity of the news it carries.
    pub dedupe_key: Uuid,
    /// Channel.
    pub channel: Channel,
    /// Parcel, if about one.
    pub shipment_id: Option<ShipmentId>,
    /// Leading kind (None for a summary).
    pub kind: Option<Kind>,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Deep link.
    pub link: String,
    /// How insistent.
    pub urgency: Urgency,
    /// Where it stands.
    pub state: OutboxState,
    /// Send attempts so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When the channel accepted it.
    pub sent_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a OutboxEntry> for crate::notify::rules::Held<'a> {
    fn from(e: &'a OutboxEntry) -> Self {
        crate::notify::rules::Held {
            title: &e.title,
            kind: e.kind,
            shipment_id: e.shipment_id,
            dedupe_key: e.dedupe_key,
        }
    }
}

/// What sending a notification came to.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The channel accepted it.
    Sent,
    /// A passing failure: try again at `at`.
    Retry {
        /// What went wrong.
        error: String,
        /// When to try again.
        at: DateTime<Utc>,
    },
    /// Given up.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// Not sent yet, and not an attempt: it waits until `at` (the recipient's quiet hours).
    Deferred {
        /// Why it waits.
        reason: String,
        /// When to send.
        at: DateTime<Utc>,
    },
}

/// One of a parcel's last-writer-wins registers, for [`Store::restamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    /// Removed or tracked (`deleted_at`).
    Presence,
    /// The label.
    Label,
    /// Muted.
    Muted,
    /// Archived.
    Archived,
}

impl Register {
    /// The register's stamp column (the same on every backend).
    pub fn column(self) -> &'static str {
        match self {
            Register::Presence => "deleted_at",
            Register::Label => "label_at",
            Register::Muted => "muted_at",
            Register::Archived => "archived_at",
        }
    }
}

/// Whether a parcel is tracked or removed, and since when: the removal register sync merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// Which.
    pub id: ShipmentId,
    /// Its number.
    pub tracking_number: String,
    /// Its carrier id.
    pub carrier: String,
    /// Removed (a tombstone).
    pub removed: bool,
    /// When it was removed, or, for one tracked, added or brought back.
    pub at: DateTime<Utc>,
}

/// The storage boundary (see the module docs).
pub trait Store {
    /// Start tracking a number; idempotent by tracking number (events given with an
    /// existing number are merged into its history).
    fn add_shipment(&mut self, new: &NewShipment, now: DateTime<Utc>) -> Result<Added>;
    /// Add many in one transaction: all or none.
    fn add_shipments(&mut self, new: &[NewShipment], now: DateTime<Utc>) -> Result<Vec<Added>>;
    /// Store carrier events, in one transaction for the whole call.
    fn ingest(&mut self, batches: &[IngestBatch], now: DateTime<Utc>) -> Result<IngestReport>;
    /// Apply a user edit if its stamp is not older than the stored one; returns whether it
    /// changed anything.
    fn edit(&mut self, id: ShipmentId, edit: Edit, at: DateTime<Utc>) -> Result<bool>;
    /// Remove a shipment and its history (a tombstone stays for sync).
    fn remove(&mut self, id: ShipmentId, at: DateTime<Utc>) -> Result<()>;
    /// One shipment.
    fn shipment(&self, id: ShipmentId) -> Result<Shipment>;
    /// Find by tracking number (spaces and case ignored) or id (or a unique id prefix).
    fn find(&self, key: &str) -> Result<Shipment>;
    /// Whether a parcel is tracked or removed, and since when (the removal register that
    /// sync merges), removed ones included; `None` when there is no such parcel.
    fn presence(&self, id: ShipmentId) -> Result<Option<Presence>>;
    /// The same for a tracking number (normalised).
    fn presence_of_number(&self, number: &str) -> Result<Option<Presence>>;
    /// Every parcel's presence, removed ones included, by id after `after`, at most `limit`.
    fn presences(&self, after: Option<ShipmentId>, limit: usize) -> Result<Vec<Presence>>;
    /// Move a register's stamp on to `at`, its value kept (a replica set the same value
    /// later); false when the stamp is as late already. Removed parcels' presence too.
    fn restamp(&mut self, id: ShipmentId, register: Register, at: DateTime<Utc>) -> Result<bool>;
    /// One order.
    fn order(&self, id: OrderId) -> Result<Order>;
    /// These shipments, each with its order's store, in the order given; gone ones are left
    /// out. What the notifier words a batch of news with (one read where a round trip
    /// costs).
    fn shipments_with_store(&self, ids: &[ShipmentId]) -> Result<Vec<(Shipment, Option<String>)>> {
        Ok(ids
            .iter()
            .filter_map(|id| self.shipment(*id).ok())
            .map(|s| {
                let store = self.order(s.order_id).ok().and_then(|o| o.store);
                (s, store)
            })
            .collect())
    }
    /// A shipment's events, oldest first.
    fn timeline(&self, id: ShipmentId) -> Result<Vec<TrackingEvent>>;
    /// A shipment's status changes, oldest first.
    fn status_log(&self, id: ShipmentId) -> Result<Vec<StatusChange>>;
    /// Stream the home screen, grouped and ordered.
    fn list(&self, query: &ListQuery, each: &mut dyn FnMut(ListItem) -> Result<()>) -> Result<()>;
    /// The group one shipment falls in, as `list` would put it.
    fn group(&self, id: ShipmentId, query: &ListQuery) -> Result<Group>;
    /// Stream every shipment with its full history (for export).
    fn for_each_record(&self, each: &mut dyn FnMut(ShipmentRecord) -> Result<()>) -> Result<()>;
    /// How many shipments are tracked (not removed).
    fn count(&self) -> Result<u64>;
    /// The stores and carriers of the tracked shipments (archived ones too), each once, in
    /// no particular order: what the home screen's filters offer.
    fn facets(&self) -> Result<Facets>;

    /// Shipments whose next poll is due at `now`, soonest first.
    ///
    /// A backend that several processes share (the shop server's replicas on one
    /// PostgreSQL) *claims* the rows it returns: their next poll moves to the end of a
    /// lease, so no other process gets them until then, and [`record_polls`](Self::record_polls)
    /// sets the real next time. A process that dies mid-poll leaves the lease to run out,
    /// and its parcels are due again. A single-process backend (`SqliteStore`) only reads.
    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<PollTarget>>;
    /// When the next poll of any shipment is due.
    fn next_due(&self) -> Result<Option<DateTime<Utc>>>;
    /// Record poll outcomes, in one transaction.
    fn record_polls(&mut self, records: &[(ShipmentId, PollRecord)]) -> Result<()>;
    /// Poll one shipment (or every active one) as soon as possible.
    fn poll_now(&mut self, id: Option<ShipmentId>, now: DateTime<Utc>) -> Result<usize>;
    /// Mark active shipments without news since `cutoff` as expired and stop polling them.
    fn expire_stale(&mut self, cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<Change>>;
    /// Archive parcels delivered before `cutoff` (unless the user touched archive since).
    fn archive_delivered(
        &mut self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>>;
    /// Every carrier's saved API state.
    fn carrier_states(&self) -> Result<Vec<CarrierState>>;
    /// Save one carrier's API state.
    fn save_carrier_state(&mut self, state: &CarrierState, now: DateTime<Utc>) -> Result<()>;

    /// The parcels delivered in the span, grouped `by` (see [`report`]), computed by the
    /// database, groups in [`report::sort`]'s order.
    fn delivery_report(
        &self,
        span: &report::ReportSpan,
        by: report::ReportBy,
    ) -> Result<Vec<report::DeliveryGroup>>;
    /// Parcels by carrier and kind of problem that began in `[from, to)` (the problems'
    /// history: open and resolved), computed by the database.
    fn problem_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<report::ProblemCount>>;
    /// How long messages about parcels' news written in `[from, to)` took to leave, by
    /// channel, computed by the database.
    fn notification_latency(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<report::ChannelLatency>>;
    /// Orders (not removed) placed in `[from, to)`.
    fn orders_placed(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<u64>;
    /// Stream delivered parcels, for the ETA engine to learn from.
    fn deliveries(&self, each: &mut dyn FnMut(Delivery) -> Result<()>) -> Result<()>;
    /// For the orders placed since `since` whose every parcel is delivered, newest first (at
    /// most `limit`, from the newest [`LEAD_SCAN`] orders placed): when each was placed and
    /// when its last parcel came. What a shop's own estimate from the moment of ordering
    /// learns from.
    fn order_lead_times(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>>;
    /// Stream the given parcels (any status), or every parcel still on its way.
    fn active(
        &self,
        ids: Option<&[ShipmentId]>,
        each: &mut dyn FnMut(Active) -> Result<()>,
    ) -> Result<()>;
    /// Store estimates and problems, in one transaction; returns what changed.
    fn save_derived(&mut self, rows: &[Assessment], now: DateTime<Utc>) -> Result<Vec<Change>>;
    /// Open problems of one parcel, or of all.
    fn open_problems(&self, id: Option<ShipmentId>) -> Result<Vec<OpenProblem>>;

    /// Where the notifier stands in the journal.
    fn journal_cursor(&self) -> Result<JournalCursor>;
    /// Journal entries after `after` (at most `limit` of each kind), and the cursor past them.
    fn journal(
        &self,
        after: JournalCursor,
        limit: usize,
    ) -> Result<(Vec<JournalEntry>, JournalCursor)>;
    /// Which of these news keys already notified.
    fn notified(&self, keys: &[Uuid]) -> Result<Vec<Uuid>>;
    /// In one transaction: move the cursor from `from` to `to` (false, and nothing written,
    /// when another process moved it first), mark the news keys notified and record the
    /// notifications.
    fn record_notifications(
        &mut self,
        from: JournalCursor,
        to: JournalCursor,
        news: &[Uuid],
        drafts: &[Draft],
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Records notifications that no journal entry leads to (a shop's reply to its
    /// customer), in one transaction; a draft whose channel and news key are recorded
    /// already is left out, so a retry adds nothing.
    fn queue_notifications(&mut self, drafts: &[Draft], now: DateTime<Utc>) -> Result<()>;
    /// Pending notifications due at `now`, oldest first.
    fn due_notifications(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>>;
    /// When the next pending notification is due.
    fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>>;
    /// Take a due notification for sending until `lease_until` (so two processes never send
    /// the same one, and one that crashed mid-send is retried after the lease); false when
    /// it is no longer due.
    fn claim_notification(
        &mut self,
        id: Uuid,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Record a send attempt's outcome.
    fn mark_notification(
        &mut self,
        id: Uuid,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Notifications held for quiet hours, oldest first.
    fn held_notifications(&self) -> Result<Vec<OutboxEntry>>;
    /// After quiet hours: replace the held notifications by `summary` (or, without one,
    /// send them as they are), in one transaction.
    fn release_held(
        &mut self,
        held: &[Uuid],
        summary: Option<&Draft>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The notification log, newest first.
    fn notifications(&self, limit: usize) -> Result<Vec<OutboxEntry>>;
    /// These parcels' notifications, newest first (at most `limit`).
    fn shipment_notifications(&self, ids: &[ShipmentId], limit: usize) -> Result<Vec<OutboxEntry>>;

    /// A setting's value.
    fn setting(&self, key: &str) -> Result<Option<String>>;
    /// Set a setting unless a newer write is stored; returns whether it was written.
    fn set_setting(&mut self, key: &str, value: &str, at: DateTime<Utc>) -> Result<bool>;

    /// Create an order and its shipments in one transaction, all or none.
    ///
    /// With [`OnExisting::Refuse`], an existing (non-removed) order with the same store and
    /// number is [`Error::OrderExists`](crate::Error::OrderExists) and nothing is written;
    /// with [`OnExisting::Merge`] the existing order is kept (fields it lacks filled in,
    /// never overwritten; customer parts likewise) and the given shipments are added to it
    /// (idempotent: running it again adds nothing, `created` false). A removed order with
    /// that number is revived (same id, fresh fields). A tracking number tracked in another
    /// (non-removed) order is [`Error::NumberTaken`](crate::Error::NumberTaken) and nothing
    /// is written; one already in this order is merged (its events).
    fn save_order(
        &mut self,
        new: &NewOrder,
        on_existing: OnExisting,
        now: DateTime<Utc>,
    ) -> Result<SavedOrder>;
    /// Save several orders in one transaction, each as [`save_order`](Self::save_order)
    /// would. An order refused for what it says ([`Error::is_refusal`](crate::Error::is_refusal):
    /// its number taken, a tracking number another order's) is left out alone, with its
    /// error in its place in the answer; any other failure writes nothing and is the call's
    /// error. One commit for many orders is what makes a bulk import fast.
    fn save_orders(
        &mut self,
        orders: &[NewOrder],
        on_existing: OnExisting,
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<SavedOrder>>>;
    /// Change an order's fields; a number (in its store) that another order has is
    /// [`Error::OrderExists`](crate::Error::OrderExists). Returns the order as stored;
    /// `updated_at` moves only when something changed.
    fn update_order(
        &mut self,
        id: OrderId,
        patch: &OrderPatch,
        now: DateTime<Utc>,
    ) -> Result<Order>;
    /// Set the order's stage, logged with who and a note; setting the current stage again
    /// changes and logs nothing.
    fn set_order_stage(
        &mut self,
        id: OrderId,
        stage: OrderStage,
        actor: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Order>;
    /// The order's stage changes, oldest first (the first is its creation: `from == to`).
    fn order_stages(&self, id: OrderId) -> Result<Vec<StageChange>>;
    /// Remove an order and every shipment of it (tombstones, as [`Store::remove`] leaves
    /// for a shipment; the customer's details are dropped).
    fn remove_order(&mut self, id: OrderId, at: DateTime<Utc>) -> Result<()>;
    /// The order's (non-removed) shipments, oldest first.
    fn order_shipments(&self, id: OrderId) -> Result<Vec<Shipment>>;
    /// Several orders' shipments at once (for a list page): grouped in the order of `ids`,
    /// each order's oldest first; unknown ids give none.
    fn shipments_of_orders(&self, ids: &[OrderId]) -> Result<Vec<Shipment>>;
    /// A page of orders (see [`OrderQuery`]), newest first, at most `limit`.
    fn orders(&self, q: &OrderQuery) -> Result<Vec<Order>>;
    /// A page of orders with their shipments ([`Store::orders`], then
    /// [`Store::shipments_of_orders`] of its ids): what a list page shows, read together (a
    /// backend across a network reads it in one transaction).
    fn order_page(&self, q: &OrderQuery) -> Result<(Vec<Order>, Vec<Shipment>)> {
        let orders = self.orders(q)?;
        let ids: Vec<OrderId> = orders.iter().map(|o| o.id).collect();
        let shipments = self.shipments_of_orders(&ids)?;
        Ok((orders, shipments))
    }
    /// An order with its shipments, each one's events and the order's stage log: what an
    /// order's page shows, read together (a backend across a network reads it in one
    /// transaction, its statements pipelined).
    fn order_detail(&self, id: OrderId) -> Result<OrderDetail> {
        let order = self.order(id)?;
        let shipments = self.order_shipments(id)?;
        let timelines = shipments
            .iter()
            .map(|s| self.timeline(s.id))
            .collect::<Result<_>>()?;
        let stages = self.order_stages(id)?;
        Ok(OrderDetail {
            order,
            shipments,
            timelines,
            stages,
        })
    }
    /// Feed entries with `seq > after`, oldest first, at most `limit`.
    fn feed(&self, after: i64, limit: usize) -> Result<Vec<FeedEntry>>;
    /// Feed entries with `seq > after` as [`FeedHead`]s, oldest first, at most `limit`: the
    /// same entries as [`feed`](Store::feed), without reading their details.
    fn feed_heads(&self, after: i64, limit: usize) -> Result<Vec<FeedHead>> {
        Ok(self
            .feed(after, limit)?
            .into_iter()
            .map(|e| FeedHead {
                seq: e.seq,
                shipment_id: e.shipment_id,
                kind: change_kind(&encode_change(&e.change)),
            })
            .collect())
    }
    /// The newest `seq` (0 when the feed is empty).
    fn feed_head(&self) -> Result<i64>;
    /// Drop feed entries older than `before`; returns how many.
    fn prune_feed(&mut self, before: DateTime<Utc>) -> Result<usize>;

    /// How much work waits (for an operator's gauges): polls due at `now` (claimed ones
    /// included) and notifications recorded but not yet sent. Reads only.
    fn backlog(&self, now: DateTime<Utc>) -> Result<Backlog>;

    /// Before the process ends: fold the write-ahead log into the database, so the next
    /// start does not replay it (committed data is durable without this).
    fn checkpoint(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod zone_tests {
    use super::zone_offsets;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn zone_offsets_find_each_change_to_the_millisecond() {
        // New York leaves summer time at 06:00 UTC on 1 November 2026 and enters it again at
        // 07:00 UTC on 14 March 2027.
        let ny = chrono_tz::America::New_York;
        let got = zone_offsets(ny, at("2026-10-01T04:00:00Z"), at("2027-04-01T04:00:00Z"));
        assert_eq!(
            got,
            [
                (at("2026-10-01T04:00:00Z").timestamp_millis(), -4 * 3600),
                (at("2026-11-01T06:00:00Z").timestamp_millis(), -5 * 3600),
                (at("2027-03-14T07:00:00Z").timestamp_millis(), -4 * 3600),
            ]
        );
        // A zone without changes, and a span of one instant.
        let utc = chrono_tz::UTC;
        assert_eq!(
            zone_offsets(utc, at("2026-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z")),
            [(at("2026-01-01T00:00:00Z").timestamp_millis(), 0)]
        );
        let t = at("2026-07-01T00:00:00Z");
        assert_eq!(zone_offsets(ny, t, t), [(t.timestamp_millis(), -4 * 3600)]);
    }
}
