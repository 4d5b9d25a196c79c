//! A shop's orders, their customers and parcels: create, read, list, change, remove; the
//! order's own stages; a staff member's status update for a parcel whose carrier sends
//! nothing. Every call runs on the caller's shop's own store, so another shop's ids are
//! simply not there (404).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset, Utc};
use parceltrail_core::domain::{
    Customer, NewEvent, Order, OrderId, OrderStage, Place, Shipment, ShipmentId, Source,
    StageChange, Status, TrackingEvent,
};
use parceltrail_core::eta::Estimate;
use parceltrail_core::import::{self, MAX_FIELD};
use parceltrail_core::store::{
    IngestBatch, NewOrder, NewShipment, OnExisting, OrderInfo, OrderPatch, OrderQuery,
};
use parceltrail_shop::stores::ShopStore;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Body, Caller};
use super::problem::PROBLEM;
use super::{Problem, ShopState};
use parceltrail_shop::db::ContactChoice;

/// Most parcels one order may have.
pub const MAX_SHIPMENTS: usize = 50;
/// The longest list page.
pub const MAX_PAGE: usize = 200;
/// A list page when none is asked for.
pub const DEFAULT_PAGE: usize = 50;

/// The caller's shop's tracking store.
pub(crate) async fn store_of(
    state: &ShopState,
    caller: &Caller,
) -> Result<Arc<ShopStore>, Problem> {
    state
        .stores
        .get(caller.shop_id)
        .await
        .map_err(Problem::from)
}

/// A caller-chosen id in a path: a malformed one names nothing of this shop (the same 404 as
/// an unknown one).
fn order_id(raw: &str) -> Result<OrderId, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

fn shipment_id(raw: &str) -> Result<ShipmentId, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

fn invalid(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        "Invalid request",
    )
    .detail(detail)
}

// ----- what callers send -----

/// The customer an order is for; every part optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerBody {
    /// Full name.
    #[schema(max_length = 2000)]
    name: Option<String>,
    /// Email address (lists find orders by it, in any case).
    #[schema(max_length = 254, example = "ada@example.com")]
    email: Option<String>,
    /// Phone number, as the customer gave it.
    #[schema(max_length = 2000)]
    phone: Option<String>,
    /// Postal code.
    #[schema(max_length = 2000)]
    postcode: Option<String>,
    /// Delivery address (may span lines).
    #[schema(max_length = 2000)]
    address: Option<String>,
    /// The language the customer's messages are written in: a tag such as `de` or `de-AT`
    /// (messages come in `en` or `de`). Read back on a single order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 35, example = "de")]
    language: Option<String>,
    /// The customer's time zone, an IANA name: quiet hours and dates in messages are read in
    /// it. Read back on a single order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64, example = "Europe/Berlin")]
    time_zone: Option<String>,
}

/// A parcel to track with an order.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewShipmentBody {
    /// The carrier's tracking number, as written (spaces and dashes are fine).
    #[schema(min_length = 1, max_length = 2000, example = "1Z999AA10123456784")]
    tracking_number: String,
    /// Carrier id (`ups`, `fedex`, `usps`, `dhl`, ...) or name; detected from the number
    /// when left out.
    #[schema(max_length = 2000, example = "ups")]
    carrier: Option<String>,
    /// A name for the parcel ("the sofa's legs").
    #[schema(max_length = 2000)]
    label: Option<String>,
}

/// A new order.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewOrderBody {
    /// The shop's order number, unique within its channel.
    #[schema(min_length = 1, max_length = 200, example = "A-1001")]
    order_number: String,
    /// The sales channel (web shop, marketplace, till ...).
    #[schema(max_length = 200, example = "web")]
    channel: Option<String>,
    /// When the order was placed: RFC 3339, or YYYY-MM-DD.
    #[schema(example = "2026-11-30T10:00:00Z")]
    placed_at: Option<String>,
    /// The delivery date promised to the customer: YYYY-MM-DD, or RFC 3339.
    #[schema(example = "2026-12-04")]
    promised_at: Option<String>,
    /// What was ordered, in a few words.
    #[schema(max_length = 2000)]
    items: Option<String>,
    /// The staff's notes.
    #[schema(max_length = 2000)]
    notes: Option<String>,
    /// The order's own stage (default `received`).
    #[schema(value_type = Option<StageName>)]
    stage: Option<OrderStage>,
    #[serde(default, deserialize_with = "object")]
    customer: CustomerBody,
    /// Its parcels (at most 50); more can be added later.
    #[serde(default, deserialize_with = "objects")]
    #[schema(max_items = 50)]
    shipments: Vec<NewShipmentBody>,
}

/// An order's stage: `received`, `in_preparation`, `shipped`, `cancelled`.
#[derive(ToSchema)]
#[schema(as = StageName)]
#[allow(dead_code)]
enum StageName {
    #[schema(rename = "received")]
    Received,
    #[schema(rename = "in_preparation")]
    InPreparation,
    #[schema(rename = "shipped")]
    Shipped,
    #[schema(rename = "cancelled")]
    Cancelled,
}

/// A JSON object read into `T`. serde reads a struct from an array too (`[null, null]`);
/// the API's document says object, so that is what is taken.
fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = serde_json::Value::deserialize(d)?;
    if !v.is_object() {
        return Err(serde::de::Error::custom("expected an object"));
    }
    serde_json::from_value(v).map_err(serde::de::Error::custom)
}

/// As [`object`], for an optional field (`null` reads as absent).
fn object_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        v if v.is_object() => serde_json::from_value(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("expected an object")),
    }
}

/// As [`object`], for a list of objects.
fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let items = Vec::<serde_json::Value>::deserialize(d)?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            if !v.is_object() {
                return Err(serde::de::Error::custom(format!(
                    "[{i}]: expected an object"
                )));
            }
            serde_json::from_value(v).map_err(|e| serde::de::Error::custom(format!("[{i}]: {e}")))
        })
        .collect()
}

/// A field that may be left out (keep), `null` (clear) or a value (set).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Changes to an order: a field left out is kept, `null` clears it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderPatchBody {
    /// A new order number (it cannot be cleared).
    #[schema(min_length = 1, max_length = 200)]
    order_number: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    channel: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    placed_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    promised_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    items: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    notes: Option<Option<String>>,
    /// Parts of the customer to change (each as above).
    #[serde(default, deserialize_with = "object_opt")]
    customer: Option<CustomerPatchBody>,
    /// Move the order to this stage (logged with who did it).
    #[schema(value_type = Option<StageName>)]
    stage: Option<OrderStage>,
    /// Why, for the stage log.
    #[schema(max_length = 2000)]
    stage_note: Option<String>,
}

/// Changes to an order's customer: a part left out is kept, `null` clears it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerPatchBody {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    postcode: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    address: Option<Option<String>>,
    /// The customer's language, as above (kept until changed).
    language: Option<String>,
    /// The customer's time zone, as above (kept until changed).
    time_zone: Option<String>,
}

/// Parcels to add to an order.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddShipmentsBody {
    #[serde(deserialize_with = "objects")]
    #[schema(min_items = 1, max_items = 50)]
    shipments: Vec<NewShipmentBody>,
}

/// A place as a person or carrier gives it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlaceBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "DE")]
    country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal: Option<String>,
}

/// A status update a staff member records for a parcel (for carriers that send nothing).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManualEventBody {
    /// When it happened: RFC 3339 (default: now).
    occurred_at: Option<String>,
    /// The normalised status (`in_transit`, `out_for_delivery`, `delivered`, ...).
    #[schema(example = "out_for_delivery")]
    status: String,
    /// What happened, in words.
    #[schema(max_length = 2000, example = "Handed to our own driver")]
    description: Option<String>,
    #[serde(default, deserialize_with = "object")]
    location: PlaceBody,
}

// ----- what callers get -----

/// Our delivery estimate: a window and how sure we are of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct EstimateBody {
    earliest: DateTime<Utc>,
    likely: DateTime<Utc>,
    latest: DateTime<Utc>,
    /// The chance, 0 to 1, that the delivery falls in the window.
    confidence: f32,
    /// `carrier`, `history`, `prior`, `out_for_delivery` ...
    source: String,
}

impl From<&Estimate> for EstimateBody {
    fn from(e: &Estimate) -> Self {
        EstimateBody {
            earliest: e.earliest,
            likely: e.likely,
            latest: e.latest,
            confidence: e.confidence,
            source: serde_json::to_value(e.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}

/// One carrier (or manual) event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct EventBody {
    /// With the carrier's UTC offset.
    #[schema(value_type = String, format = DateTime)]
    occurred_at: DateTime<FixedOffset>,
    status: String,
    description: String,
    location: PlaceBody,
    /// `poll`, `webhook`, `manual` or `simulator`.
    source: String,
    /// The carrier's own code.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
}

impl From<TrackingEvent> for EventBody {
    fn from(e: TrackingEvent) -> Self {
        EventBody {
            occurred_at: e.occurred_at,
            status: e.status.as_str().to_owned(),
            description: e.description,
            location: place_body(e.location),
            source: e.source.as_str().to_owned(),
            code: e.raw_code,
        }
    }
}

fn place_body(p: Place) -> PlaceBody {
    PlaceBody {
        city: p.city,
        region: p.region,
        country: p.country,
        postal: p.postal,
    }
}

/// A parcel of an order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ShipmentBody {
    #[schema(value_type = uuid::Uuid)]
    id: ShipmentId,
    /// Normalised: upper case, no spaces.
    tracking_number: String,
    carrier: String,
    /// The carrier's name, for people.
    carrier_name: String,
    /// The carrier's colour (`#rrggbb`), for its badge.
    carrier_color: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    /// The normalised status, derived from the events.
    status: String,
    /// The status in words.
    status_label: String,
    /// The latest event's description.
    #[serde(skip_serializing_if = "Option::is_none")]
    status_detail: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    last_event_at: Option<DateTime<FixedOffset>>,
    /// Our delivery estimate, when there is one.
    estimate: Option<EstimateBody>,
    /// The last failure asking the carrier, if the last ask failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// Every event, oldest first (in lists: left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<EventBody>>,
}

fn shipment_body(s: Shipment, events: Option<Vec<TrackingEvent>>) -> ShipmentBody {
    let badge = parceltrail_core::view::CarrierBadge::new(&s.carrier, &s.tracking_number);
    ShipmentBody {
        id: s.id,
        carrier_name: badge.name,
        carrier_color: badge.color,
        tracking_number: s.tracking_number,
        carrier: s.carrier,
        service: s.service,
        label: s.label,
        status: s.status.as_str().to_owned(),
        status_label: s.status.label().to_owned(),
        status_detail: s.status_detail,
        last_event_at: s.last_event_at,
        estimate: s.estimate.as_ref().map(EstimateBody::from),
        last_error: s.last_error,
        events: events.map(|e| e.into_iter().map(EventBody::from).collect()),
    }
}

/// One change of an order's stage.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct StageBody {
    #[schema(value_type = StageName)]
    from: OrderStage,
    #[schema(value_type = StageName)]
    to: OrderStage,
    /// Who: `key:<name>`, `staff:<id>`, `import`.
    actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    changed_at: DateTime<Utc>,
}

impl From<StageChange> for StageBody {
    fn from(c: StageChange) -> Self {
        StageBody {
            from: c.from,
            to: c.to,
            actor: c.actor,
            note: c.note,
            changed_at: c.changed_at,
        }
    }
}

/// An order, its customer and its parcels.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct OrderBody {
    #[schema(value_type = uuid::Uuid)]
    id: OrderId,
    order_number: Option<String>,
    channel: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    placed_at: Option<DateTime<FixedOffset>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    promised_at: Option<DateTime<FixedOffset>>,
    items: Option<String>,
    notes: Option<String>,
    /// The order's own stage, as staff or the shop's systems set it.
    #[schema(value_type = StageName)]
    stage: OrderStage,
    stage_at: DateTime<Utc>,
    /// Where the order stands for the customer: its stage, moved on by its parcels
    /// (`shipped` once one moves, `delivered` when all are delivered).
    #[schema(example = "shipped")]
    progress: &'static str,
    customer: CustomerBody,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    shipments: Vec<ShipmentBody>,
    /// The stage log, oldest first (on a single order only).
    #[serde(skip_serializing_if = "Option::is_none")]
    stages: Option<Vec<StageBody>>,
    /// The customer's tracking page: a signed link, as notifications carry (on a single
    /// order only).
    #[serde(skip_serializing_if = "Option::is_none")]
    tracking_url: Option<String>,
    /// The customer's requests about the order, oldest first (`GET` of one order only).
    #[serde(skip_serializing_if = "Option::is_none")]
    requests: Option<Vec<super::requests::RequestStaffBody>>,
    /// What the customer said of its delivered parcels (`GET` of one order only).
    #[serde(skip_serializing_if = "Option::is_none")]
    feedback: Option<Vec<super::requests::FeedbackBodyOut>>,
    /// What the customer was sent about the order's parcels, newest first, with each
    /// failure's reason and, for an SMS, the carrier's report (`GET` of one order only).
    #[serde(skip_serializing_if = "Option::is_none")]
    notifications: Option<Vec<NotificationBody>>,
}

/// One message to the customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct NotificationBody {
    id: uuid::Uuid,
    /// `email` or `sms`.
    channel: String,
    #[schema(value_type = Option<uuid::Uuid>)]
    shipment_id: Option<ShipmentId>,
    /// The news it carried (`delivered`, `out_for_delivery`, …).
    kind: Option<String>,
    /// `pending` (or being retried), `sent`, `failed` (given up: `last_error` says why),
    /// `held` (quiet hours), `summarized`.
    state: &'static str,
    attempts: u32,
    /// Why the last try failed, or why it waits (the customer's quiet hours).
    last_error: Option<String>,
    /// When a pending message goes next: a retry, or the end of the customer's quiet hours.
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    /// For an SMS: Twilio's latest report (`queued`, `sent`, `delivered`, `undelivered`,
    /// `failed`) and its error code.
    delivery: Option<DeliveryReport>,
}

/// A carrier's report on a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct DeliveryReport {
    status: String,
    error_code: Option<i32>,
    at: DateTime<Utc>,
}

impl OrderBody {
    /// With the order's signed tracking link.
    async fn linked(
        mut self,
        state: &ShopState,
        shop: parceltrail_shop::ShopId,
    ) -> Result<Self, Problem> {
        let (token, _) = super::track::mint(
            state,
            shop,
            self.id,
            parceltrail_shop::links::LinkScope::Link,
            None,
        )
        .await?;
        self.tracking_url = Some(super::track::link_url(&state.public_url, &token));
        let choice = state.db.contact_choice(shop, self.id).await?;
        self.customer.language = choice.language.map(|l| l.code().to_owned());
        self.customer.time_zone = choice.time_zone.map(|z| z.name().to_owned());
        Ok(self)
    }

    /// With the link and what the customer asked, said and was sent (a single order's read).
    async fn detailed(
        self,
        state: &ShopState,
        shop: parceltrail_shop::ShopId,
    ) -> Result<Self, Problem> {
        let mut this = self.linked(state, shop).await?;
        this.add_customer_side(state, shop).await?;
        Ok(this)
    }

    async fn add_customer_side(
        &mut self,
        state: &ShopState,
        shop: parceltrail_shop::ShopId,
    ) -> Result<(), Problem> {
        let (requests, feedback) = tokio::try_join!(
            state.db.order_requests(shop, self.id),
            state.db.order_feedback(shop, self.id)
        )?;
        self.requests = Some(
            requests
                .into_iter()
                .map(super::requests::staff_body)
                .collect(),
        );
        self.feedback = Some(
            feedback
                .into_iter()
                .map(super::requests::feedback_body)
                .collect(),
        );
        let ids: Vec<ShipmentId> = self.shipments.iter().map(|s| s.id).collect();
        let store = state.stores.get(shop).await?;
        let (sent, sms) = tokio::try_join!(
            async {
                store
                    .view(move |s| s.shipment_notifications(&ids, 200))
                    .await
                    .map_err(Problem::from)
            },
            async {
                state
                    .db
                    .order_sms(shop, self.id)
                    .await
                    .map_err(Problem::from)
            }
        )?;
        self.notifications = Some(
            sent.into_iter()
                .map(|n| notification_body(n, &sms))
                .collect(),
        );
        Ok(())
    }
}

/// One message of the log, with its SMS report when it has one.
fn notification_body(
    n: parceltrail_core::store::OutboxEntry,
    sms: &[parceltrail_shop::db::SmsMessage],
) -> NotificationBody {
    NotificationBody {
        id: n.id,
        channel: n.channel.as_str().to_owned(),
        shipment_id: n.shipment_id,
        kind: n.kind.map(|k| k.as_str().to_owned()),
        state: n.state.as_str(),
        attempts: n.attempts,
        last_error: n.last_error,
        next_attempt_at: n.next_attempt_at,
        created_at: n.created_at,
        sent_at: n.sent_at,
        delivery: sms
            .iter()
            .find(|m| m.outbox_id == n.id)
            .map(|m| DeliveryReport {
                status: m.status.clone(),
                error_code: m.error_code,
                at: m.updated_at,
            }),
    }
}

/// Sends one of the order's messages again: a new message with the same channel, news and
/// words, due now. The one before keeps its place in the log; the customer's choices (an
/// unsubscribe, an SMS STOP) are honoured at sending as for any message.
#[utoipa::path(post, operation_id = "resend_notification", path = "/orders/{id}/notifications/{notification_id}/resend", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The order's id"),
        ("notification_id" = uuid::Uuid, Path, description = "The message's id, from the order's `notifications`"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry safely: a repeat with the same key returns the first answer")),
    responses(
        (status = 201, description = "Queued: the new message", body = NotificationBody),
        (status = 400, description = "An unusable Idempotency-Key", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no such order, or the order no such message", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The Idempotency-Key was used for another request", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn resend(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path((id, message)): Path<(String, String)>,
) -> Result<(StatusCode, Json<NotificationBody>), Problem> {
    use parceltrail_core::notify::rules::{Draft, Initial};
    caller.require(|s| s.write, "write")?;
    let id = order_id(&id)?;
    let message: uuid::Uuid = message.parse().map_err(|_| Problem::not_found())?;
    let store = store_of(&state, &caller).await?;
    let detail = store.order_detail(id).await?;
    let ids: Vec<ShipmentId> = detail.shipments.iter().map(|s| s.id).collect();
    let log = |ids: Vec<ShipmentId>| {
        let store = store.clone();
        async move {
            store
                .view(move |s| s.shipment_notifications(&ids, 500))
                .await
                .map_err(Problem::from)
        }
    };
    let old = log(ids.clone())
        .await?
        .into_iter()
        .find(|n| n.id == message)
        .ok_or_else(|| Problem::not_found().detail("the order has no message with this id"))?;
    let new_id = uuid::Uuid::now_v7();
    let draft = Draft {
        id: new_id,
        // Its own news key: a resend is never taken for the message it repeats.
        dedupe_key: uuid::Uuid::new_v5(&old.dedupe_key, new_id.as_bytes()),
        channel: old.channel,
        shipment_id: old.shipment_id,
        kind: old.kind,
        title: old.title,
        body: old.body,
        link: old.link,
        urgency: old.urgency,
        initial: Initial::Pending,
    };
    store
        .write(move |s| s.queue_notifications(&[draft], Utc::now()))
        .await?;
    state.wake_pipeline(caller.shop_id);
    let sms = state.db.order_sms(caller.shop_id, id).await?;
    let new = log(ids)
        .await?
        .into_iter()
        .find(|n| n.id == new_id)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "lost",
                "The message was not queued",
            )
        })?;
    Ok((StatusCode::CREATED, Json(notification_body(new, &sms))))
}

/// The order's stage as the customer should read it.
pub(crate) fn progress(stage: OrderStage, shipments: &[Shipment]) -> &'static str {
    if stage == OrderStage::Cancelled {
        return "cancelled";
    }
    if !shipments.is_empty() && shipments.iter().all(|s| s.status == Status::Delivered) {
        return "delivered";
    }
    let moving = shipments
        .iter()
        .any(|s| !matches!(s.status, Status::Pending | Status::InfoReceived));
    match stage {
        _ if moving => "shipped",
        OrderStage::Received => "received",
        OrderStage::InPreparation => "in_preparation",
        OrderStage::Shipped => "shipped",
        OrderStage::Cancelled => "cancelled",
    }
}

fn order_body(o: Order, shipments: Vec<ShipmentBody>, raw: &[Shipment]) -> OrderBody {
    OrderBody {
        id: o.id,
        order_number: o.order_number,
        channel: o.store,
        placed_at: o.placed_at,
        promised_at: o.promised_at,
        items: o.items,
        notes: o.notes,
        progress: progress(o.stage, raw),
        stage: o.stage,
        stage_at: o.stage_at,
        customer: CustomerBody {
            name: o.customer.name,
            email: o.customer.email,
            phone: o.customer.phone,
            postcode: o.customer.postcode,
            address: o.customer.address,
            language: None,
            time_zone: None,
        },
        created_at: o.created_at,
        updated_at: o.updated_at,
        shipments,
        stages: None,
        tracking_url: None,
        requests: None,
        feedback: None,
        notifications: None,
    }
}

/// An order with every event of every parcel and its stage log.
fn full_order(
    store: &dyn parceltrail_core::store::Store,
    id: OrderId,
) -> parceltrail_core::Result<OrderBody> {
    Ok(detail_body(store.order_detail(id)?))
}

fn detail_body(detail: parceltrail_core::store::OrderDetail) -> OrderBody {
    let shipments = detail.shipments;
    let bodies = shipments
        .iter()
        .zip(detail.timelines)
        .map(|(s, events)| shipment_body(s.clone(), Some(events)))
        .collect();
    let stages = detail.stages;
    let mut body = order_body(detail.order, bodies, &shipments);
    body.stages = Some(stages.into_iter().map(StageBody::from).collect());
    body
}

// ----- checking what callers send -----

/// A person's text: trimmed, empty as none, bounded, without control characters (except
/// line breaks where `lines`).
fn text(
    field: &str,
    v: Option<String>,
    max: usize,
    lines: bool,
) -> Result<Option<String>, Problem> {
    match v {
        None => Ok(None),
        Some(v) => import::clean_field(field, &v, max, lines).map_err(invalid),
    }
}

fn email(field: &str, v: Option<String>) -> Result<Option<String>, Problem> {
    match v {
        None => Ok(None),
        Some(v) => import::clean_email(field, &v).map_err(invalid),
    }
}

fn date(field: &str, v: Option<String>) -> Result<Option<DateTime<FixedOffset>>, Problem> {
    match text(field, v, 100, false)? {
        None => Ok(None),
        Some(raw) => import::parse_date(field, &raw).map(Some).map_err(invalid),
    }
}

/// The fields' names in the orders API.
const CONTACT_FIELDS: (&str, &str) = ("customer.language", "customer.time_zone");

/// The customer's language and zone, as given with the order (kept shop-side with what the
/// customer chooses on the tracking page).
pub(crate) fn contact_of(
    language: Option<&str>,
    time_zone: Option<&str>,
    fields: (&'static str, &'static str),
) -> Result<Option<ContactChoice>, Problem> {
    use parceltrail_shop::prefs;
    if language.is_none() && time_zone.is_none() {
        return Ok(None);
    }
    Ok(Some(ContactChoice {
        language: language
            .map(|l| prefs::Language::parse(fields.0, l))
            .transpose()?,
        time_zone: time_zone
            .map(|z| prefs::parse_zone(fields.1, z))
            .transpose()?,
        ..ContactChoice::default()
    }))
}

fn customer(c: CustomerBody, at: &str) -> Result<Customer, Problem> {
    Ok(Customer {
        name: text(&format!("{at}.name"), c.name, MAX_FIELD, false)?,
        email: email(&format!("{at}.email"), c.email)?,
        phone: text(&format!("{at}.phone"), c.phone, 100, false)?,
        postcode: text(&format!("{at}.postcode"), c.postcode, 100, false)?,
        address: text(&format!("{at}.address"), c.address, MAX_FIELD, true)?,
    })
}

fn new_shipments(list: Vec<NewShipmentBody>) -> Result<Vec<NewShipment>, Problem> {
    if list.len() > MAX_SHIPMENTS {
        return Err(invalid(format!(
            "shipments has {} parcels; an order has at most {MAX_SHIPMENTS}",
            list.len()
        )));
    }
    let mut out: Vec<NewShipment> = Vec::with_capacity(list.len());
    for (i, s) in list.into_iter().enumerate() {
        let at = format!("shipments[{i}]");
        let raw = text(
            &format!("{at}.tracking_number"),
            Some(s.tracking_number),
            100,
            false,
        )?
        .ok_or_else(|| invalid(format!("{at}.tracking_number is empty")))?;
        let carrier = text(&format!("{at}.carrier"), s.carrier, 100, false)?;
        let (number, carrier, service) = import::resolve_number(&raw, carrier.as_deref())
            .map_err(|reason| invalid(format!("{at}.tracking_number: {reason}")))?;
        if out.iter().any(|o| o.tracking_number == number) {
            return Err(invalid(format!(
                "{at}.tracking_number {number} is given twice"
            )));
        }
        out.push(NewShipment {
            tracking_number: number,
            carrier,
            service,
            label: text(&format!("{at}.label"), s.label, MAX_FIELD, false)?,
            order: OrderInfo::default(),
            events: Vec::new(),
        });
    }
    Ok(out)
}

fn new_order(body: NewOrderBody, actor: String) -> Result<NewOrder, Problem> {
    let number = text("order_number", Some(body.order_number), 200, false)?
        .ok_or_else(|| invalid("order_number is empty"))?;
    Ok(NewOrder {
        id: OrderId::new(),
        info: OrderInfo {
            store: text("channel", body.channel, 200, false)?,
            order_number: Some(number),
            items: text("items", body.items, MAX_FIELD, true)?,
            placed_at: date("placed_at", body.placed_at)?,
            notes: text("notes", body.notes, MAX_FIELD, true)?,
            promised_at: date("promised_at", body.promised_at)?,
        },
        customer: customer(body.customer, "customer")?,
        stage: body.stage.unwrap_or_default(),
        actor,
        shipments: new_shipments(body.shipments)?,
    })
}

/// A nullable patch field, checked like the field itself.
fn patch<T>(
    v: Option<Option<String>>,
    check: impl FnOnce(Option<String>) -> Result<Option<T>, Problem>,
) -> Result<Option<Option<T>>, Problem> {
    match v {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) => check(Some(s)).map(Some),
    }
}

fn order_patch(b: OrderPatchBody) -> Result<OrderPatch, Problem> {
    let order_number = match b.order_number {
        None => None,
        Some(n) => Some(Some(
            text("order_number", Some(n), 200, false)?
                .ok_or_else(|| invalid("order_number cannot be cleared"))?,
        )),
    };
    let c = b.customer.unwrap_or_default();
    Ok(OrderPatch {
        store: patch(b.channel, |v| text("channel", v, 200, false))?,
        order_number,
        items: patch(b.items, |v| text("items", v, MAX_FIELD, true))?,
        placed_at: patch(b.placed_at, |v| date("placed_at", v))?,
        promised_at: patch(b.promised_at, |v| date("promised_at", v))?,
        notes: patch(b.notes, |v| text("notes", v, MAX_FIELD, true))?,
        customer_name: patch(c.name, |v| text("customer.name", v, MAX_FIELD, false))?,
        customer_email: patch(c.email, |v| email("customer.email", v))?,
        customer_phone: patch(c.phone, |v| text("customer.phone", v, 100, false))?,
        customer_postcode: patch(c.postcode, |v| text("customer.postcode", v, 100, false))?,
        customer_address: patch(c.address, |v| text("customer.address", v, MAX_FIELD, true))?,
    })
}

// ----- the routes -----

/// Makes an order with its customer and parcels (carriers detected when not given).
#[utoipa::path(post, operation_id = "create_order", path = "/orders", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    request_body = NewOrderBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry safely: a repeat with the same key returns the first answer")),
    responses(
        (status = 201, description = "Created", body = OrderBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The order number, or a tracking number, is already another order's", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field's value is not acceptable", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn create(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(body): Body<NewOrderBody>,
) -> Result<(StatusCode, Json<OrderBody>), Problem> {
    caller.require(|s| s.write, "write")?;
    let contact = contact_of(
        body.customer.language.as_deref(),
        body.customer.time_zone.as_deref(),
        CONTACT_FIELDS,
    )?;
    let new = new_order(body, caller.actor())?;
    let store = store_of(&state, &caller).await?;
    let body = store
        .write(move |s| {
            let saved = s.save_order(&new, OnExisting::Refuse, Utc::now())?;
            full_order(s, saved.order.id)
        })
        .await?;
    if let Some(c) = contact {
        state
            .db
            .set_contact_choice(caller.shop_id, body.id, c, Utc::now())
            .await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(body.linked(&state, caller.shop_id).await?),
    ))
}

/// One order: its customer, its parcels with every event and estimate, its stage log.
#[utoipa::path(get, operation_id = "get_order", path = "/orders/{id}", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, description = "OK", body = OrderBody),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no order with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn get(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<OrderBody>, Problem> {
    caller.require(|s| s.read, "read")?;
    let id = order_id(&id)?;
    let store = store_of(&state, &caller).await?;
    Ok(Json(
        detail_body(store.order_detail(id).await?)
            .detailed(&state, caller.shop_id)
            .await?,
    ))
}

/// Changes an order's fields, its customer or its stage.
#[utoipa::path(patch, operation_id = "update_order", path = "/orders/{id}", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    request_body = OrderPatchBody,
    responses(
        (status = 200, description = "The order as it now is", body = OrderBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no order with this id", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The new order number is another order's", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field's value is not acceptable", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn update(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<OrderPatchBody>,
) -> Result<Json<OrderBody>, Problem> {
    caller.require(|s| s.write, "write")?;
    let id = order_id(&id)?;
    let stage = body.stage;
    let note = text("stage_note", body.stage_note.clone(), MAX_FIELD, true)?;
    let contact = match &body.customer {
        Some(c) => contact_of(
            c.language.as_deref(),
            c.time_zone.as_deref(),
            CONTACT_FIELDS,
        )?,
        None => None,
    };
    let fields = order_patch(body)?;
    let actor = caller.actor();
    let store = store_of(&state, &caller).await?;
    let body = store
        .write(move |s| {
            let now = Utc::now();
            // Both in one go would need one transaction; the fields first, so a refused
            // number leaves the stage alone too.
            s.update_order(id, &fields, now)?;
            if let Some(stage) = stage {
                s.set_order_stage(id, stage, &actor, note.as_deref(), now)?;
            }
            full_order(s, id)
        })
        .await?;
    if let Some(c) = contact {
        state
            .db
            .set_contact_choice(caller.shop_id, id, c, Utc::now())
            .await?;
    }
    Ok(Json(body.linked(&state, caller.shop_id).await?))
}

/// Removes an order and its parcels (they stop being tracked).
#[utoipa::path(delete, operation_id = "delete_order", path = "/orders/{id}", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no order with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn remove(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require(|s| s.write, "write")?;
    let id = order_id(&id)?;
    let store = store_of(&state, &caller).await?;
    store.write(move |s| s.remove_order(id, Utc::now())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds parcels to an order (a number it already has is kept once).
#[utoipa::path(post, operation_id = "add_shipments", path = "/orders/{id}/shipments", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The order's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry safely: a repeat with the same key returns the first answer")),
    request_body = AddShipmentsBody,
    responses(
        (status = 200, description = "The order as it now is", body = OrderBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no order with this id", body = Problem, content_type = PROBLEM),
        (status = 409, description = "A tracking number is already another order's", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field's value is not acceptable", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn add_shipments(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<AddShipmentsBody>,
) -> Result<Json<OrderBody>, Problem> {
    caller.require(|s| s.write, "write")?;
    let id = order_id(&id)?;
    if body.shipments.is_empty() {
        return Err(invalid("shipments is empty"));
    }
    let shipments = new_shipments(body.shipments)?;
    let actor = caller.actor();
    let store = store_of(&state, &caller).await?;
    let body = store
        .write(move |s| {
            let order = s.order(id)?;
            let new = NewOrder {
                id,
                info: OrderInfo {
                    store: order.store.clone(),
                    order_number: order.order_number.clone(),
                    ..OrderInfo::default()
                },
                customer: Customer::default(),
                stage: order.stage,
                actor,
                shipments,
            };
            let saved = s.save_order(&new, OnExisting::Merge, Utc::now())?;
            if saved.order.id != id {
                // Only an order without a number could be matched to another; the API's
                // orders always have one.
                return Err(parceltrail_core::Error::NotFound(id.to_string()));
            }
            full_order(s, id)
        })
        .await?;
    Ok(Json(body.linked(&state, caller.shop_id).await?))
}

/// Filters and the page of `GET /orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// The order number, exactly.
    order_number: Option<String>,
    /// The customer's email, in any case.
    email: Option<String>,
    /// Search: an order number's start, a customer's email or name, or a tracking number.
    q: Option<String>,
    /// Orders with a parcel in this status (`in_transit`, `delivered`, `exception` ...).
    status: Option<String>,
    /// Orders with a parcel at this carrier (`ups`, `dhl` ...).
    carrier: Option<String>,
    /// The sales channel, exactly.
    channel: Option<String>,
    /// The order's own stage.
    #[param(value_type = Option<StageName>)]
    stage: Option<String>,
    /// Placed at or after (RFC 3339 or YYYY-MM-DD).
    placed_from: Option<String>,
    /// Placed before (RFC 3339 or YYYY-MM-DD).
    placed_to: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Orders per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
}

/// A page of orders.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderPage {
    /// Newest first; parcels without their events.
    orders: Vec<OrderBody>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn order_query(p: ListParams) -> Result<OrderQuery, Problem> {
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid(format!(
            "limit {limit} is not between 1 and {MAX_PAGE}"
        )));
    }
    // Named values: an empty one is not "any", it is none of them.
    let status = match p.status.as_deref().map(str::trim) {
        None => None,
        Some(s) => Some(
            s.parse::<Status>()
                .map_err(|e| invalid(format!("status: {e}")))?,
        ),
    };
    let stage = match p.stage.as_deref().map(str::trim) {
        None => None,
        Some(s) => Some(
            s.parse::<OrderStage>()
                .map_err(|e| invalid(format!("stage: {e}")))?,
        ),
    };
    let before = match text("cursor", p.cursor, 100, false)? {
        None => None,
        Some(c) => Some(
            c.parse::<OrderId>()
                .map_err(|_| invalid("cursor is not one this server gave"))?,
        ),
    };
    let utc = |field, v| -> Result<Option<DateTime<Utc>>, Problem> {
        Ok(date(field, v)?.map(|t| t.with_timezone(&Utc)))
    };
    Ok(OrderQuery {
        order_number: text("order_number", p.order_number, 200, false)?,
        email: text("email", p.email, 254, false)?,
        q: text("q", p.q, 200, false)?,
        status,
        carrier: text("carrier", p.carrier, 100, false)?
            .map(|c| import::carrier_id(&c).unwrap_or(c)),
        store: text("channel", p.channel, 200, false)?,
        stage,
        placed_from: utc("placed_from", p.placed_from)?,
        placed_to: utc("placed_to", p.placed_to)?,
        before,
        limit: limit + 1,
    })
}

/// The shop's orders, newest first, filtered and paged.
#[utoipa::path(get, operation_id = "list_orders", path = "/orders", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "OK", body = OrderPage),
        (status = 400, description = "A query parameter is unreadable", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A filter's value is not acceptable", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<OrderPage>, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(params) = query.map_err(|e| {
        Problem::new(StatusCode::BAD_REQUEST, "bad-query", "Unreadable query").detail(e.body_text())
    })?;
    let q = order_query(params)?;
    let limit = q.limit - 1;
    let store = store_of(&state, &caller).await?;
    // One read for the page and its parcels (the one beyond `limit` only tells whether
    // there is a next page; its parcels are read along and dropped).
    let (mut orders, shipments) = store.order_page(q).await?;
    let more = orders.len() > limit;
    orders.truncate(limit);
    let mut by_order: HashMap<OrderId, Vec<Shipment>> = HashMap::new();
    for sh in shipments {
        by_order.entry(sh.order_id).or_default().push(sh);
    }
    let next_cursor = more
        .then(|| orders.last().map(|o| o.id.to_string()))
        .flatten();
    let orders = orders
        .into_iter()
        .map(|o| {
            let raw = by_order.remove(&o.id).unwrap_or_default();
            let bodies = raw
                .iter()
                .cloned()
                .map(|s| shipment_body(s, None))
                .collect();
            order_body(o, bodies, &raw)
        })
        .collect();
    Ok(Json(OrderPage {
        orders,
        next_cursor,
    }))
}

/// Most orders one export holds.
pub const MAX_EXPORT: usize = 100_000;

/// The columns of an export: the import's, so an exported file imports again as it was,
/// then what the carriers said.
const EXPORT_COLUMNS: [&str; 17] = [
    "order_number",
    "tracking_number",
    "carrier",
    "channel",
    "placed_at",
    "promised_at",
    "items",
    "notes",
    "stage",
    "customer_name",
    "customer_email",
    "customer_phone",
    "customer_postcode",
    "customer_address",
    "parcel_status",
    "parcel_status_at",
    "order_id",
];

/// The shop's orders as CSV, one line per parcel (an order without parcels has one line),
/// newest first, with the filters of `GET /orders` (a `limit` is checked but changes nothing; at most 100,000
/// orders). The columns are the import's, so the file imports again as it was.
#[utoipa::path(get, operation_id = "export_orders", path = "/orders.csv", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "OK", body = String, content_type = "text/csv"),
        (status = 400, description = "A query parameter is unreadable", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A filter's value is not acceptable", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn export(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, Problem> {
    use super::csvout::{attachment, cell};
    caller.require(|s| s.read, "read")?;
    let Query(params) = query.map_err(|e| {
        Problem::new(StatusCode::BAD_REQUEST, "bad-query", "Unreadable query").detail(e.body_text())
    })?;
    // `limit` is checked as the list checks it, then each page is the largest.
    let mut q = order_query(params)?;
    q.limit = MAX_PAGE + 1;
    let store = store_of(&state, &caller).await?;
    let opt = |v: Option<String>| v.as_deref().map(cell).unwrap_or_default();
    let time = |v: Option<DateTime<FixedOffset>>| v.map(|t| t.to_rfc3339()).unwrap_or_default();
    let mut records = vec![EXPORT_COLUMNS.map(str::to_owned).to_vec()];
    let mut seen = 0;
    loop {
        let (mut orders, shipments) = store.order_page(q.clone()).await?;
        let more = orders.len() > MAX_PAGE && seen + MAX_PAGE < MAX_EXPORT;
        orders.truncate(MAX_PAGE.min(MAX_EXPORT - seen));
        seen += orders.len();
        let mut by_order: HashMap<OrderId, Vec<Shipment>> = HashMap::new();
        for sh in shipments {
            by_order.entry(sh.order_id).or_default().push(sh);
        }
        for o in &orders {
            let parcels = by_order.remove(&o.id).unwrap_or_default();
            let order_cells = |s: Option<&Shipment>| {
                vec![
                    opt(o.order_number.clone()),
                    s.map(|s| cell(&s.tracking_number)).unwrap_or_default(),
                    s.map(|s| cell(&s.carrier)).unwrap_or_default(),
                    opt(o.store.clone()),
                    time(o.placed_at),
                    time(o.promised_at),
                    opt(o.items.clone()),
                    opt(o.notes.clone()),
                    o.stage.as_str().to_owned(),
                    opt(o.customer.name.clone()),
                    opt(o.customer.email.clone()),
                    opt(o.customer.phone.clone()),
                    opt(o.customer.postcode.clone()),
                    opt(o.customer.address.clone()),
                    s.map(|s| s.status.as_str().to_owned()).unwrap_or_default(),
                    time(s.and_then(|s| s.last_event_at)),
                    o.id.to_string(),
                ]
            };
            if parcels.is_empty() {
                records.push(order_cells(None));
            }
            for s in &parcels {
                records.push(order_cells(Some(s)));
            }
        }
        if !more {
            break;
        }
        q.before = orders.last().map(|o| o.id);
    }
    attachment(
        &format!("orders-{}.csv", Utc::now().format("%Y-%m-%d")),
        records,
    )
}

/// Records a staff member's status update for a parcel (for carriers that send nothing),
/// stored like a carrier event and marked `manual`.
#[utoipa::path(post, operation_id = "add_shipment_event", path = "/shipments/{id}/events", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The parcel's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry safely: a repeat with the same key returns the first answer")),
    request_body = ManualEventBody,
    responses(
        (status = 201, description = "Recorded; the parcel with its events", body = ShipmentBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no parcel with this id", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field's value is not acceptable", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn add_event(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<ManualEventBody>,
) -> Result<(StatusCode, Json<ShipmentBody>), Problem> {
    caller.require(|s| s.write, "write")?;
    let id = shipment_id(&id)?;
    let status: Status = text("status", Some(body.status), 100, false)?
        .unwrap_or_default()
        .parse()
        .map_err(|e| invalid(format!("status: {e}")))?;
    let occurred_at = match text("occurred_at", body.occurred_at, 100, false)? {
        None => Utc::now().fixed_offset(),
        Some(raw) => {
            let t = import::parse_date("occurred_at", &raw).map_err(invalid)?;
            if t.with_timezone(&Utc) > Utc::now() + chrono::Duration::minutes(5) {
                return Err(invalid(format!("occurred_at {raw:?} is in the future")));
            }
            t
        }
    };
    let l = body.location;
    let event = NewEvent {
        occurred_at,
        status,
        raw_code: None,
        description: text("description", body.description, MAX_FIELD, false)?
            .unwrap_or_else(|| status.label().to_owned()),
        location: Place {
            city: text("location.city", l.city, 200, false)?,
            region: text("location.region", l.region, 200, false)?,
            country: text("location.country", l.country, 2, false)?.map(|c| c.to_uppercase()),
            postal: text("location.postal", l.postal, 100, false)?,
        },
        source: Source::Manual,
    };
    let store = store_of(&state, &caller).await?;
    let body = store
        .write(move |s| {
            s.shipment(id)?;
            s.ingest(&[IngestBatch::events(id, vec![event])], Utc::now())?;
            let events = s.timeline(id)?;
            Ok(shipment_body(s.shipment(id)?, Some(events)))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(body)))
}
