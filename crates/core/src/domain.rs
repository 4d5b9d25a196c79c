//! The domain: orders, shipments, carrier events and the normalised status set.
//!
//! Identity rules that keep future sync possible:
//! - orders and shipments get a UUIDv7 where they are born;
//! - carrier events are immutable and keyed by `(shipment, dedupe_key)`, so two copies of the
//!   same history merge as a grow-only set;
//! - user edits (label, mute, archive) carry the time they were made: the last writer wins.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id (UUIDv7), made where the record is born.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies an order.
    OrderId
);
id_type!(
    /// Identifies a shipment (one tracking number).
    ShipmentId
);

/// The normalised status set every carrier's vocabulary maps onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No carrier data yet.
    Pending,
    /// The carrier has the shipping information (a label exists) but not the parcel.
    InfoReceived,
    /// On its way.
    InTransit,
    /// On the delivery vehicle.
    OutForDelivery,
    /// Waiting at a pickup point or locker.
    AvailableForPickup,
    /// Delivered.
    Delivered,
    /// The carrier tried and failed to deliver.
    FailedAttempt,
    /// Something went wrong (damage, customs hold, address problem, ...).
    Exception,
    /// Going or gone back to the sender.
    Returned,
    /// No news for so long that tracking stopped.
    Expired,
    /// The carrier said something we could not map.
    Unknown,
}

impl Status {
    /// Every status, in display order.
    pub const ALL: [Status; 11] = [
        Status::Pending,
        Status::InfoReceived,
        Status::InTransit,
        Status::OutForDelivery,
        Status::AvailableForPickup,
        Status::Delivered,
        Status::FailedAttempt,
        Status::Exception,
        Status::Returned,
        Status::Expired,
        Status::Unknown,
    ];

    /// The stable wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::InfoReceived => "info_received",
            Status::InTransit => "in_transit",
            Status::OutForDelivery => "out_for_delivery",
            Status::AvailableForPickup => "available_for_pickup",
            Status::Delivered => "delivered",
            Status::FailedAttempt => "failed_attempt",
            Status::Exception => "exception",
            Status::Returned => "returned",
            Status::Expired => "expired",
            Status::Unknown => "unknown",
        }
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pending => "Not scanned yet",
            Status::InfoReceived => "Label created",
            Status::InTransit => "In transit",
            Status::OutForDelivery => "Out for delivery",
            Status::AvailableForPickup => "Ready for pickup",
            Status::Delivered => "Delivered",
            Status::FailedAttempt => "Delivery attempt failed",
            Status::Exception => "Exception",
            Status::Returned => "Returned to sender",
            Status::Expired => "Tracking expired",
            Status::Unknown => "Unknown status",
        }
    }

    /// No further carrier updates are expected.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Delivered | Status::Returned | Status::Expired)
    }

    /// Something the user probably wants to act on.
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            Status::FailedAttempt
                | Status::Exception
                | Status::Returned
                | Status::Expired
                | Status::AvailableForPickup
        )
    }

    /// Tie-break between events stamped with the same instant: the one further along the
    /// journey wins, so the derived status does not depend on arrival order. Public so every
    /// store derives with the same order.
    pub fn progress_rank(self) -> u8 {
        match self {
            Status::Pending => 0,
            Status::Unknown => 1,
            Status::InfoReceived => 2,
            Status::InTransit => 3,
            Status::Exception => 4,
            Status::FailedAttempt => 5,
            Status::OutForDelivery => 6,
            Status::AvailableForPickup => 7,
            Status::Returned => 8,
            Status::Expired => 9,
            Status::Delivered => 10,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a status name that is not in the set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// The five display stages of a parcel's journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Ordered, label maybe created.
    Ordered,
    /// The carrier has the parcel.
    Shipped,
    /// Moving through the network.
    InTransit,
    /// Last mile (or at a pickup point).
    OutForDelivery,
    /// Delivered.
    Delivered,
}

/// The furthest display stage a journey has reached, from its events' statuses (in any
/// order) and its current status. Exception branches (returned, exception, ...) keep the
/// stage reached before them; the UI names the branch beside it.
pub fn stage_reached(current: Status, events: impl IntoIterator<Item = Status>) -> Stage {
    if current == Status::Delivered {
        return Stage::Delivered;
    }
    let (mut carried, mut last_mile) = (0usize, false);
    for s in events {
        match s {
            Status::Pending | Status::InfoReceived | Status::Unknown => {}
            Status::OutForDelivery
            | Status::AvailableForPickup
            | Status::FailedAttempt
            | Status::Delivered => {
                carried += 1;
                last_mile = true;
            }
            _ => carried += 1,
        }
    }
    match (last_mile, carried) {
        (true, _) => Stage::OutForDelivery,
        (false, 0) => Stage::Ordered,
        (false, 1) => Stage::Shipped,
        _ => Stage::InTransit,
    }
}

impl Stage {
    /// Every stage in journey order.
    pub const ALL: [Stage; 5] = [
        Stage::Ordered,
        Stage::Shipped,
        Stage::InTransit,
        Stage::OutForDelivery,
        Stage::Delivered,
    ];

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Ordered => "Ordered",
            Stage::Shipped => "Shipped",
            Stage::InTransit => "In transit",
            Stage::OutForDelivery => "Out for delivery",
            Stage::Delivered => "Delivered",
        }
    }
}

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Fetched by polling the carrier.
    Poll,
    /// Pushed by a carrier or aggregator webhook.
    Webhook,
    /// Entered or imported by a person.
    Manual,
    /// Produced by the local carrier simulator.
    Simulator,
}

impl Source {
    /// The stable wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Poll => "poll",
            Source::Webhook => "webhook",
            Source::Manual => "manual",
            Source::Simulator => "simulator",
        }
    }
}

impl FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "poll" => Ok(Source::Poll),
            "webhook" => Ok(Source::Webhook),
            "manual" => Ok(Source::Manual),
            "simulator" => Ok(Source::Simulator),
            other => Err(format!("unknown event source {other:?}")),
        }
    }
}

/// A place as carriers report it; every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Place {
    /// City or town.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State, province or region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Postal code (for shipments' origin and destination: just its prefix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal: Option<String>,
}

impl Place {
    /// The region the ETA model keys routes by: `CC-REGION`, or just the country or region
    /// (upper case), None when neither is known.
    pub fn region_key(&self) -> Option<String> {
        match (&self.country, &self.region) {
            (Some(c), Some(r)) => Some(format!("{}-{}", c.to_uppercase(), r.to_uppercase())),
            (Some(c), None) => Some(c.to_uppercase()),
            (None, Some(r)) => Some(r.to_uppercase()),
            (None, None) => None,
        }
    }

    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        self.city.is_none()
            && self.region.is_none()
            && self.country.is_none()
            && self.postal.is_none()
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [&self.city, &self.region, &self.country]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .filter(|p| !p.is_empty())
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// The carrier's own delivery estimate, as a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierEta {
    /// Start of the window.
    pub earliest: DateTime<FixedOffset>,
    /// End of the window (equal to `earliest` for a single time or day).
    pub latest: DateTime<FixedOffset>,
    /// When the carrier said so; the newest statement wins.
    pub observed_at: DateTime<Utc>,
}

/// The shop's customer for an order; every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Full name.
    pub name: Option<String>,
    /// E-mail address, as given (searched without regard to case).
    pub email: Option<String>,
    /// Phone number, as given.
    pub phone: Option<String>,
    /// Postcode of the delivery address.
    pub postcode: Option<String>,
    /// The delivery address, free text.
    pub address: Option<String>,
}

/// The order's own stage, set by staff or the shop's systems (parcels' statuses are
/// separate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OrderStage {
    /// Taken, nothing done yet.
    #[default]
    Received,
    /// Being picked and packed.
    InPreparation,
    /// Handed to the carrier(s).
    Shipped,
    /// Called off.
    Cancelled,
}

impl OrderStage {
    /// Every stage, in the usual order.
    pub const ALL: [OrderStage; 4] = [
        OrderStage::Received,
        OrderStage::InPreparation,
        OrderStage::Shipped,
        OrderStage::Cancelled,
    ];

    /// The stable wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStage::Received => "received",
            OrderStage::InPreparation => "in_preparation",
            OrderStage::Shipped => "shipped",
            OrderStage::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for OrderStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStage::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = OrderStage::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown order stage {s:?}; use one of {}", names.join(", "))
            })
    }
}

/// One change of an order's stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageChange {
    /// Stage before (equal to `to` for the order's creation).
    pub from: OrderStage,
    /// Stage after.
    pub to: OrderStage,
    /// Who: `key:<name>`, `staff:<email>`, `import`, `system`.
    pub actor: String,
    /// Why, if they said.
    pub note: Option<String>,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// An order from a store; it may ship in several parcels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    /// Born-here id.
    pub id: OrderId,
    /// Store or merchant name.
    pub store: Option<String>,
    /// The store's order number.
    pub order_number: Option<String>,
    /// What was ordered, in a few words.
    pub items: Option<String>,
    /// When the order was placed.
    pub placed_at: Option<DateTime<FixedOffset>>,
    /// Free notes.
    pub notes: Option<String>,
    /// Hidden from the default views.
    pub archived: bool,
    /// When `archived` was last set (last writer wins).
    pub archived_at: DateTime<Utc>,
    /// When the record was created.
    pub created_at: DateTime<Utc>,
    /// The store's promised delivery date.
    pub promised_at: Option<DateTime<FixedOffset>>,
    /// Who ordered.
    pub customer: Customer,
    /// The order's own stage.
    pub stage: OrderStage,
    /// When the stage was last set (the creation time until then).
    pub stage_at: DateTime<Utc>,
    /// When anything on the record last changed.
    pub updated_at: DateTime<Utc>,
}

/// One tracking number at one carrier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shipment {
    /// Born-here id.
    pub id: ShipmentId,
    /// The order it belongs to.
    pub order_id: OrderId,
    /// Normalised: upper case, no spaces or dashes.
    pub tracking_number: String,
    /// Carrier id (see `parceltrail carriers`).
    pub carrier: String,
    /// Service level, when the carrier or the number says.
    pub service: Option<String>,
    /// Where it comes from.
    pub origin: Place,
    /// Where it goes.
    pub destination: Place,
    /// Current normalised status, derived from the events.
    pub status: Status,
    /// The latest event's description.
    pub status_detail: Option<String>,
    /// When the latest event happened.
    pub last_event_at: Option<DateTime<FixedOffset>>,
    /// How many distinct carrier events are stored.
    pub event_count: u32,
    /// The carrier's delivery estimate.
    pub carrier_eta: Option<CarrierEta>,
    /// The user's name for the parcel.
    pub label: Option<String>,
    /// When `label` was last set.
    pub label_at: DateTime<Utc>,
    /// No notifications for this parcel.
    pub muted: bool,
    /// When `muted` was last set.
    pub muted_at: DateTime<Utc>,
    /// Hidden from the default views.
    pub archived: bool,
    /// When `archived` was last set.
    pub archived_at: DateTime<Utc>,
    /// Last time the carrier was asked.
    pub last_polled_at: Option<DateTime<Utc>>,
    /// Next time the carrier should be asked.
    pub next_poll_at: Option<DateTime<Utc>>,
    /// The last failure talking to the carrier, never silent.
    pub last_error: Option<String>,
    /// When that failure happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// When the record was created.
    pub created_at: DateTime<Utc>,
    /// When anything on the record last changed.
    pub updated_at: DateTime<Utc>,
    /// Our delivery estimate.
    pub estimate: Option<crate::eta::Estimate>,
    /// Which news notifies for this parcel (None: the channels' own choice).
    pub notify_kinds: Option<crate::notify::rules::KindSet>,
}

/// A carrier event as an adapter (or a person) reports it, before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// When it happened, with the carrier's UTC offset.
    pub occurred_at: DateTime<FixedOffset>,
    /// Normalised status.
    pub status: Status,
    /// The carrier's own code, kept for diagnosis.
    pub raw_code: Option<String>,
    /// The carrier's description.
    pub description: String,
    /// Where it happened.
    pub location: Place,
    /// How we learnt of it.
    pub source: Source,
}

impl NewEvent {
    /// The key that makes the same carrier event, however often or by whatever route it
    /// arrives, one stored event: the instant, the carrier's code (or our status when it has
    /// none), the description and the place, normalised. The source is deliberately left out
    /// so a webhook and a poll of the same scan collapse.
    pub fn dedupe_key(&self) -> Uuid {
        fn norm(s: &str) -> String {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        }
        let code = self
            .raw_code
            .as_deref()
            .map(norm)
            .unwrap_or_else(|| self.status.as_str().to_owned());
        let canonical = format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.occurred_at.timestamp(),
            code,
            norm(&self.description),
            norm(self.location.city.as_deref().unwrap_or("")),
            norm(self.location.country.as_deref().unwrap_or("")),
        );
        Uuid::new_v5(&EVENT_KEY_NAMESPACE, canonical.as_bytes())
    }
}

/// Namespace for event dedupe keys (UUIDv5). Never change it: stored keys depend on it.
const EVENT_KEY_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_2c0e_5d4a_4f0b_9d7e_3a1c_8e2f_4b60);

/// A stored carrier event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingEvent {
    /// The shipment it belongs to.
    pub shipment_id: ShipmentId,
    /// Its key within the shipment (see [`NewEvent::dedupe_key`]).
    pub dedupe_key: Uuid,
    /// When it happened, with the carrier's UTC offset.
    pub occurred_at: DateTime<FixedOffset>,
    /// Normalised status.
    pub status: Status,
    /// The carrier's own code.
    pub raw_code: Option<String>,
    /// The carrier's description.
    pub description: String,
    /// Where it happened.
    pub location: Place,
    /// How we learnt of it.
    pub source: Source,
    /// When we stored it.
    pub recorded_at: DateTime<Utc>,
}

/// One entry of a shipment's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusChange {
    /// Status before.
    pub from: Status,
    /// Status after.
    pub to: Status,
    /// When it was recorded.
    pub changed_at: DateTime<Utc>,
    /// What caused it (an ingest source, or a user action).
    pub cause: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        assert!("shipped".parse::<Status>().is_err());
    }

    #[test]
    fn order_stage_names_round_trip() {
        for s in OrderStage::ALL {
            assert_eq!(s.as_str().parse::<OrderStage>().unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        let err = "packed".parse::<OrderStage>().unwrap_err();
        assert!(
            err.contains("in_preparation") && err.contains("\"packed\""),
            "{err}"
        );
        assert_eq!(OrderStage::default(), OrderStage::Received);
    }

    #[test]
    fn stages_follow_the_journey() {
        use Status::*;
        assert_eq!(stage_reached(Pending, []), Stage::Ordered);
        assert_eq!(stage_reached(InfoReceived, [InfoReceived]), Stage::Ordered);
        assert_eq!(
            stage_reached(InTransit, [InfoReceived, InTransit]),
            Stage::Shipped
        );
        assert_eq!(
            stage_reached(InTransit, [InTransit, InTransit]),
            Stage::InTransit
        );
        assert_eq!(
            stage_reached(FailedAttempt, [InTransit, FailedAttempt]),
            Stage::OutForDelivery
        );
        assert_eq!(
            stage_reached(Exception, [InTransit, InTransit, Exception]),
            Stage::InTransit
        );
        assert_eq!(stage_reached(Delivered, [Delivered]), Stage::Delivered);
    }

    #[test]
    fn dedupe_key_ignores_source_and_whitespace_but_not_time() {
        let at = DateTime::parse_from_rfc3339("2026-05-02T10:00:00+02:00").unwrap();
        let a = NewEvent {
            occurred_at: at,
            status: Status::InTransit,
            raw_code: Some("PU".into()),
            description: "Picked  up".into(),
            location: Place {
                city: Some("Leipzig".into()),
                ..Place::default()
            },
            source: Source::Poll,
        };
        let mut b = a.clone();
        b.source = Source::Webhook;
        b.description = "picked up ".into();
        // Same instant written in another offset.
        b.occurred_at = DateTime::parse_from_rfc3339("2026-05-02T08:00:00+00:00").unwrap();
        assert_eq!(a.dedupe_key(), b.dedupe_key());
        b.occurred_at = DateTime::parse_from_rfc3339("2026-05-02T08:00:01+00:00").unwrap();
        assert_ne!(a.dedupe_key(), b.dedupe_key());
    }
}
