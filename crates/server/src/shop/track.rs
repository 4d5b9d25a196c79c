//! The customers' side of a shop: the tracking page's data, reached with a signed link
//! (`/t/{token}`, `parceltrail_shop::links`) or by looking an order up with its number and the
//! customer's email or postcode (`/track`); live updates; and the staff's handling of links
//! (make one with an expiry, withdraw an order's links, rotate the shop's key, settings).
//!
//! What a customer sees is its own read model, not the staff's order: no notes, no staff or
//! carrier errors, and the address only through a link the shop sent, when its settings say
//! so. Every text from the shop, the customer or a carrier is sent as data; the page inserts
//! it as text.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, FixedOffset, Utc};
use futures_util::Stream;
use parceltrail_core::domain::{OrderId, OrderStage, Stage, Status, stage_reached};
use parceltrail_core::store::{OrderDetail, OrderQuery};
use parceltrail_core::view::CarrierBadge;
use parceltrail_shop::ShopId;
use parceltrail_shop::db::{ContactChoice, LinkSettings, NotifySettings};
use parceltrail_shop::links::{
    self, LinkClaims, LinkError, LinkPolicy, LinkScope, MAX_LIFETIME_DAYS,
};
use parceltrail_shop::stores::ShopStore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Body, Caller};
use super::orders::store_of;
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// Every lookup answers after at least this long, found or not, so that its time tells
/// nothing about which part was wrong.
pub const LOOKUP_FLOOR: Duration = Duration::from_millis(250);
/// How long the link a lookup gives lasts.
const LOOKUP_LINK_DAYS: i64 = 30;
/// The longest order number or email or postcode a lookup reads.
const MAX_LOOKUP_FIELD: usize = 200;
/// How often a page's stream reads the feed when nothing woke it (other replicas' writes).
const STREAM_POLL: Duration = Duration::from_secs(1);

// ----- the shop's side of every page, kept a moment -----

/// How long a process trusts what it read of a shop's link key, name, branding and
/// notification defaults: every page view and every message needs them. A change made through this process is seen at once; one made
/// through another replica within this time (as for API keys).
const SHOP_CACHE: Duration = Duration::from_secs(2);

/// A shop's link key and settings, name and branding, as read at one moment.
pub(crate) struct ShopSide {
    policy: LinkPolicy,
    pub(crate) shop: parceltrail_shop::Shop,
    branding: parceltrail_shop::db::Branding,
    /// The shop's defaults for its customers' notifications.
    pub(crate) notify: NotifySettings,
}

type Sides = std::collections::HashMap<ShopId, (std::time::Instant, Arc<ShopSide>)>;

/// What [`shop_side`] read, by shop; and each shop's orders' lead times ([`lead_times`]).
#[derive(Default)]
pub struct ShopCache(std::sync::Mutex<Sides>, std::sync::Mutex<Leads>);

/// A shop's lead times as last read (none yet while the first read runs), when, and whether a
/// read is under way.
struct Lead {
    at: std::time::Instant,
    value: Option<Arc<LeadTimes>>,
    reading: bool,
}

type Leads = std::collections::HashMap<ShopId, Lead>;
type LeadTimes = Vec<(DateTime<Utc>, DateTime<Utc>)>;

/// How long a process keeps a shop's lead times: they move by a delivery at a time.
const LEAD_CACHE: Duration = Duration::from_secs(600);
/// The orders the estimate from placing learns from: the newest delivered, of half a year.
const LEAD_ORDERS: usize = 500;
const LEAD_DAYS: i64 = 183;

/// The shop's recent orders' (placed, last delivered) times, kept a while per process. One
/// read at a time per shop: a stale value is served while a new one is read in the
/// background, and the views that meet the very first read under way get none (no estimate
/// from placing on that view) rather than a read each.
async fn lead_times(
    state: &Arc<ShopState>,
    store: &Arc<ShopStore>,
) -> Result<Arc<LeadTimes>, Problem> {
    let shop = store.shop();
    let stale = {
        let mut c = state.shop_cache.1.lock().unwrap_or_else(|p| p.into_inner());
        if c.len() > 10_000 {
            c.retain(|_, l| l.at.elapsed() < LEAD_CACHE);
        }
        match c.get_mut(&shop) {
            Some(l) if l.at.elapsed() < LEAD_CACHE || l.reading => {
                return Ok(l.value.clone().unwrap_or_default());
            }
            Some(l) => {
                l.reading = true;
                l.value.clone()
            }
            None => {
                c.insert(
                    shop,
                    Lead {
                        at: std::time::Instant::now(),
                        value: None,
                        reading: true,
                    },
                );
                None
            }
        }
    };
    let read = {
        let (state, store) = (state.clone(), store.clone());
        async move {
            let since = Utc::now() - chrono::Duration::days(LEAD_DAYS);
            let at = std::time::Instant::now();
            let got = store
                .view(move |s| s.order_lead_times(since, LEAD_ORDERS))
                .await;
            let mut c = state.shop_cache.1.lock().unwrap_or_else(|p| p.into_inner());
            let entry = c.entry(shop).or_insert(Lead {
                at,
                value: None,
                reading: false,
            });
            entry.reading = false;
            match got {
                Ok(v) => {
                    let v = Arc::new(v);
                    entry.at = at;
                    entry.value = Some(v.clone());
                    Ok(v)
                }
                Err(e) => Err(e),
            }
        }
    };
    match stale {
        // Served stale; the new one lands for the views after.
        Some(v) => {
            tokio::spawn(async move {
                if let Err(e) = read.await {
                    tracing::warn!(shop = %shop, error = %e, "reading the orders' lead times failed");
                }
            });
            Ok(v)
        }
        None => Ok(read.await?),
    }
}

impl ShopCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sides> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the shop's entry (its settings changed here).
    pub(crate) fn forget(&self, shop: ShopId) {
        self.lock().remove(&shop);
    }
}

pub(crate) async fn shop_side(
    state: &ShopState,
    shop: ShopId,
) -> Result<Arc<ShopSide>, parceltrail_shop::Error> {
    if let Some((at, side)) = state.shop_cache.lock().get(&shop)
        && at.elapsed() < SHOP_CACHE
    {
        return Ok(side.clone());
    }
    let read = std::time::Instant::now();
    let policy = state
        .db
        .link_policy(shop, &state.secret_key, Utc::now())
        .await?;
    let (record, branding, notify) = tokio::try_join!(
        state.db.shop(shop),
        state.db.branding(shop),
        state.db.notify_settings(shop)
    )?;
    let side = Arc::new(ShopSide {
        policy,
        shop: record,
        branding,
        notify,
    });
    let mut cache = state.shop_cache.lock();
    if cache.len() > 10_000 {
        cache.retain(|_, (at, _)| at.elapsed() < SHOP_CACHE);
    }
    cache.insert(shop, (read, side.clone()));
    Ok(side)
}

// ----- links -----

/// A link's absolute address.
pub(crate) fn link_url(public_url: &str, token: &str) -> String {
    format!("{}/t/{token}", public_url.trim_end_matches('/'))
}

/// When the links made today stop working in any case: the same all day, so an order's link
/// is the same string however often it is asked for.
fn default_expiry(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        + chrono::Duration::days(MAX_LIFETIME_DAYS)
}

/// A signed link to `order` of `shop`.
pub(crate) async fn mint(
    state: &ShopState,
    shop: ShopId,
    order: OrderId,
    scope: LinkScope,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(String, DateTime<Utc>), Problem> {
    let now = Utc::now();
    let side = shop_side(state, shop).await?;
    let policy = &side.policy;
    let link_generation = state.db.order_link_generation(shop, order).await?;
    let expires_at = expires_at.unwrap_or_else(|| default_expiry(now));
    let token = links::sign(
        &policy.key,
        &LinkClaims {
            shop,
            order,
            scope,
            key_generation: policy.generation,
            link_generation,
            expires_at,
        },
    );
    Ok((token, expires_at))
}

/// When the order's last parcel was delivered, if every parcel is.
fn delivered_at(detail: &OrderDetail) -> Option<DateTime<Utc>> {
    if detail.shipments.is_empty()
        || detail
            .shipments
            .iter()
            .any(|s| s.status != Status::Delivered)
    {
        return None;
    }
    detail
        .shipments
        .iter()
        .zip(&detail.timelines)
        .map(|(s, events)| {
            events
                .iter()
                .filter(|e| e.status == Status::Delivered)
                .map(|e| e.occurred_at.with_timezone(&Utc))
                .max()
                .or(s.last_event_at.map(|t| t.with_timezone(&Utc)))
                .unwrap_or(s.updated_at)
        })
        .max()
}

fn link_problem(e: LinkError) -> Problem {
    match e {
        LinkError::Invalid => Problem::new(StatusCode::NOT_FOUND, "link-invalid", "Link not valid")
            .detail("this tracking link is not valid: look the order up with its number instead"),
        LinkError::Expired => Problem::new(StatusCode::GONE, "link-expired", "Link expired")
            .detail("this tracking link has expired: look the order up with its number instead"),
        LinkError::Revoked => Problem::new(StatusCode::GONE, "link-revoked", "Link withdrawn")
            .detail("the shop has replaced this tracking link: use the newest one it sent, or look the order up with its number"),
    }
}

/// A checked link: its claims, the shop's policy, the order.
pub(crate) struct Opened {
    pub(crate) claims: LinkClaims,
    side: Arc<ShopSide>,
    store: Arc<ShopStore>,
    pub(crate) detail: OrderDetail,
}

pub(crate) async fn open(state: &ShopState, token: &str) -> Result<Opened, Problem> {
    let now = Utc::now();
    let unverified = links::read(token).map_err(link_problem)?;
    let shop = unverified.shop;
    let invalid = || link_problem(LinkError::Invalid);
    let side = match shop_side(state, shop).await {
        Ok(p) => p,
        Err(parceltrail_shop::Error::NotFound) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    let claims = unverified.verify(&side.policy, now).map_err(link_problem)?;
    // An email's unsubscribe address travels in its headers, to mail providers too: it
    // opens no page.
    if claims.scope == LinkScope::Unsubscribe {
        return Err(invalid());
    }
    let store = state.stores.get(shop).await?;
    let order = claims.order;
    let detail = match store.order_detail(order).await {
        Ok(d) => d,
        Err(parceltrail_core::Error::NotFound(_)) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    let current = state.db.order_link_generation(shop, order).await?;
    links::check_order(&claims, &side.policy, current, delivered_at(&detail), now)
        .map_err(link_problem)?;
    Ok(Opened {
        claims,
        side,
        store,
        detail,
    })
}

// ----- what the page gets -----

/// The shop, as its customers see it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ShopFace {
    #[schema(value_type = uuid::Uuid)]
    id: ShopId,
    name: String,
    /// The shop's colour, `#rrggbb`.
    color: Option<String>,
    /// The shop's logo as a `data:` URL.
    logo: Option<String>,
}

/// A logo as the page shows it.
fn data_url(media_type: &str, bytes: &[u8]) -> String {
    use base64::Engine;
    format!(
        "data:{media_type};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The shop's face: its name and branding.
fn shop_face(side: &ShopSide) -> ShopFace {
    let b = &side.branding;
    ShopFace {
        id: side.shop.id,
        name: side.shop.name.clone(),
        color: b.color.clone(),
        logo: b.logo.as_ref().map(|(bytes, t)| data_url(t, bytes)),
    }
}

/// One stage of a parcel's journey.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StageView {
    /// `ordered`, `shipped`, `in_transit`, `out_for_delivery`, `delivered`.
    #[schema(value_type = String)]
    stage: Stage,
    reached: bool,
}

/// A carrier event as the customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventFace {
    #[schema(value_type = String, format = DateTime)]
    occurred_at: DateTime<FixedOffset>,
    #[schema(value_type = String)]
    status: Status,
    /// The carrier's words.
    description: String,
    /// Where, in words (empty when unknown).
    place: String,
    city: Option<String>,
    /// ISO 3166-1 alpha-2.
    country: Option<String>,
}

/// Our estimate of the delivery.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EstimateFace {
    earliest: DateTime<Utc>,
    likely: DateTime<Utc>,
    latest: DateTime<Utc>,
    /// The chance, 0 to 1, that the delivery falls in the window.
    confidence: f64,
    /// `carrier`, `history`, `prior`, `out_for_delivery`; `orders` for an order's estimate
    /// from its placing.
    source: String,
    /// How many of the shop's orders an estimate from placing learnt from.
    #[serde(skip_serializing_if = "Option::is_none")]
    orders: Option<usize>,
}

/// The carrier, as a badge.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CarrierFace {
    id: String,
    name: String,
    /// `#rrggbb`.
    color: String,
    /// The carrier's own page for this parcel.
    tracking_url: Option<String>,
}

/// One parcel of the order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ParcelFace {
    /// What the page names it by (its feedback's address).
    #[schema(value_type = uuid::Uuid)]
    id: parceltrail_core::domain::ShipmentId,
    carrier: CarrierFace,
    tracking_number: String,
    #[schema(value_type = String)]
    status: Status,
    stages: Vec<StageView>,
    /// The exception the journey took (`failed_attempt`, `exception`, `returned`, `expired`).
    #[schema(value_type = Option<String>)]
    branch: Option<Status>,
    estimate: Option<EstimateFace>,
    delivered_at: Option<DateTime<FixedOffset>>,
    /// Newest first.
    events: Vec<EventFace>,
    /// What the customer said of it once delivered.
    feedback: Option<super::requests::FeedbackFace>,
}

/// Where the order goes (only on a link the shop sent, and when its settings show it).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryFace {
    name: Option<String>,
    address: Option<String>,
    postcode: Option<String>,
}

/// The order as its customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderFace {
    order_number: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    placed_at: Option<DateTime<FixedOffset>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    promised_at: Option<DateTime<FixedOffset>>,
    /// `received`, `in_preparation`, `shipped`, `delivered`, `cancelled`.
    #[schema(value_type = String)]
    stage: OrderStage,
    /// Where the order stands for the customer: its stage, moved on by its parcels
    /// (`received`, `in_preparation`, `shipped`, `delivered`, `cancelled`).
    progress: &'static str,
    items: Option<String>,
    /// Before a parcel moves: when the shop's own orders came, from their placing (source
    /// `orders`); then each parcel's estimate takes over.
    estimate: Option<EstimateFace>,
}

/// Everything the tracking page shows.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrackingPage {
    shop: ShopFace,
    /// `link` (sent by the shop) or `lookup` (found by order number).
    #[schema(value_type = String)]
    scope: LinkScope,
    /// When this link stops working at the latest.
    expires_at: DateTime<Utc>,
    order: OrderFace,
    delivery: Option<DeliveryFace>,
    /// The customer's first name, for the greeting (links the shop sent only).
    first_name: Option<String>,
    parcels: Vec<ParcelFace>,
    /// How the customer hears of news about the order.
    notifications: NotificationsFace,
    /// What the customer asked of the order and may ask now (a link the shop sent only).
    requests: Option<super::requests::RequestsFace>,
}

/// One channel as the customer may choose it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelFace {
    /// The shop sends it, and the order has the address or number it needs.
    available: bool,
    /// The customer gets it (unless they turned it off).
    on: bool,
}

/// The customer's channels for this order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationsFace {
    email: ChannelFace,
    sms: ChannelFace,
    /// "Notify me in this browser": `available` when the server offers Web Push (the page
    /// knows whether this browser subscribed).
    push: ChannelFace,
    /// The news the customer hears of: `shipped`, `out_for_delivery`, `ready_for_pickup`,
    /// `delivered`, `problems`.
    news: Vec<&'static str>,
    /// The language the customer's messages are written in (`en`, `de`).
    language: &'static str,
    /// The customer's time zone as known (from the order, or the browser that saved a
    /// choice); none: the shop's is used.
    #[schema(nullable)]
    time_zone: Option<String>,
    /// The shop's quiet hours, in the customer's time of day: messages wait until they end.
    #[schema(nullable)]
    quiet_hours: Option<QuietFace>,
}

/// Quiet hours as the page shows them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QuietFace {
    /// `HH:MM`.
    start: String,
    /// `HH:MM`.
    end: String,
    /// "Delivered" goes through anyway.
    delivered_through: bool,
}

fn notifications_face(
    state: &ShopState,
    order: &parceltrail_core::domain::Order,
    choice: ContactChoice,
    settings: &NotifySettings,
) -> NotificationsFace {
    let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let who = choice.over(settings);
    NotificationsFace {
        email: ChannelFace {
            available: state.channels.email.is_some() && has(&order.customer.email),
            on: who.email,
        },
        sms: ChannelFace {
            available: state.channels.sms.is_some() && has(&order.customer.phone),
            on: who.sms,
        },
        push: ChannelFace {
            available: state.channels.push,
            on: false,
        },
        news: parceltrail_shop::prefs::choices_of(who.kinds),
        language: who.language.code(),
        time_zone: choice.time_zone.map(|z| z.name().to_owned()),
        quiet_hours: who.quiet.map(|q| QuietFace {
            start: q.start.format("%H:%M").to_string(),
            end: q.end.format("%H:%M").to_string(),
            delivered_through: q.allow_delivered,
        }),
    }
}

fn parcel_face(
    s: &parceltrail_core::domain::Shipment,
    events: &[parceltrail_core::domain::TrackingEvent],
    feedback: &[parceltrail_shop::requests::Feedback],
    order_estimated: bool,
) -> ParcelFace {
    let reached = stage_reached(s.status, events.iter().map(|e| e.status));
    let badge = CarrierBadge::new(&s.carrier, &s.tracking_number);
    ParcelFace {
        id: s.id,
        feedback: feedback
            .iter()
            .find(|f| f.shipment_id == s.id)
            .map(super::requests::feedback_face),
        carrier: CarrierFace {
            id: badge.id,
            name: badge.name,
            color: badge.color,
            tracking_url: badge.tracking_url,
        },
        tracking_number: s.tracking_number.clone(),
        status: s.status,
        stages: Stage::ALL
            .iter()
            .map(|st| StageView {
                stage: *st,
                reached: *st <= reached,
            })
            .collect(),
        branch: matches!(
            s.status,
            Status::FailedAttempt | Status::Exception | Status::Returned | Status::Expired
        )
        .then_some(s.status),
        estimate: s
            .estimate
            .as_ref()
            // Before it moves, the order's estimate from its placing stands for it.
            .filter(|_| !s.status.is_terminal() && (!order_estimated || moved(s.status)))
            .map(|e| EstimateFace {
                earliest: e.earliest,
                likely: e.likely,
                latest: e.latest,
                // Two decimals: the f32 widened as it is would print as 0.8999999761581421.
                confidence: (f64::from(e.confidence) * 100.0).round() / 100.0,
                source: serde_json::to_value(e.source)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                orders: None,
            }),
        delivered_at: (s.status == Status::Delivered)
            .then(|| {
                events
                    .iter()
                    .filter(|e| e.status == Status::Delivered)
                    .map(|e| e.occurred_at)
                    .max()
            })
            .flatten(),
        events: events
            .iter()
            .rev()
            .map(|e| EventFace {
                occurred_at: e.occurred_at,
                status: e.status,
                description: e.description.clone(),
                place: e.location.to_string(),
                city: e.location.city.clone(),
                country: e.location.country.clone(),
            })
            .collect(),
    }
}

/// Whether the carrier has the parcel moving (or further).
fn moved(s: Status) -> bool {
    !matches!(s, Status::Pending | Status::InfoReceived | Status::Unknown)
}

/// Before any parcel of the order moves: when it should come, from the shop's own orders.
async fn order_estimate(
    state: &Arc<ShopState>,
    opened: &Opened,
) -> Result<Option<EstimateFace>, Problem> {
    let o = &opened.detail.order;
    let (Some(placed), false) = (
        o.placed_at,
        o.stage == OrderStage::Cancelled || opened.detail.shipments.iter().any(|s| moved(s.status)),
    ) else {
        return Ok(None);
    };
    let past = lead_times(state, &opened.store).await?;
    let now = Utc::now();
    Ok(
        parceltrail_core::eta::from_orders(placed.with_timezone(&Utc), &past, now).map(|e| {
            EstimateFace {
                earliest: e.earliest.max(now),
                likely: e.likely.max(now),
                latest: e.latest,
                confidence: (e.confidence * 100.0).round() / 100.0,
                source: "orders".into(),
                orders: Some(e.orders),
            }
        }),
    )
}

fn page_of(
    shop: ShopFace,
    opened: &Opened,
    notifications: NotificationsFace,
    requests: Option<super::requests::RequestsFace>,
    feedback: &[parceltrail_shop::requests::Feedback],
    estimate: Option<EstimateFace>,
) -> TrackingPage {
    let order_estimated = estimate.is_some();
    let o = &opened.detail.order;
    let full = opened.claims.scope == LinkScope::Link;
    TrackingPage {
        shop,
        scope: opened.claims.scope,
        expires_at: opened.claims.expires_at,
        order: OrderFace {
            order_number: o.order_number.clone(),
            placed_at: o.placed_at,
            promised_at: o.promised_at,
            stage: o.stage,
            progress: super::orders::progress(o.stage, &opened.detail.shipments),
            items: o.items.clone(),
            estimate,
        },
        delivery: (full && opened.side.policy.show_address).then(|| DeliveryFace {
            name: o.customer.name.clone(),
            address: o.customer.address.clone(),
            postcode: o.customer.postcode.clone(),
        }),
        first_name: full
            .then(|| {
                o.customer
                    .name
                    .as_deref()
                    .and_then(|n| n.split_whitespace().next())
                    .map(str::to_owned)
            })
            .flatten(),
        parcels: opened
            .detail
            .shipments
            .iter()
            .zip(&opened.detail.timelines)
            .map(|(s, events)| parcel_face(s, events, feedback, order_estimated))
            .collect(),
        notifications,
        requests,
    }
}

/// Note for the analytics that the order's page was opened today: once a day per order
/// from this process (the page asks again on every live update), and a failure is only
/// logged: the customer's page never waits on it.
async fn visited(state: &ShopState, opened: &Opened) {
    type Seen = std::collections::HashMap<(ShopId, OrderId), i64>;
    static SEEN: std::sync::LazyLock<std::sync::Mutex<Seen>> =
        std::sync::LazyLock::new(Default::default);
    let now = Utc::now();
    let (shop, order) = (opened.claims.shop, opened.claims.order);
    let today = now.timestamp().div_euclid(86_400);
    {
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        if seen.get(&(shop, order)) == Some(&today) {
            return;
        }
        // Bounded: yesterday's entries go when it grows large.
        if seen.len() > 100_000 {
            seen.retain(|_, d| *d == today);
        }
        seen.insert((shop, order), today);
    }
    if let Err(e) = state.db.note_visit(shop, order, now).await {
        tracing::warn!(%shop, error = %e, "noting a tracking page visit failed");
    }
}

/// The tracking page's data for a signed link.
#[utoipa::path(get, operation_id = "tracking_page", path = "/track/{token}", tag = "tracking",
    params(("token" = String, Path, description = "The link's token: what follows /t/ in the link")),
    responses(
        (status = 200, description = "The order's parcels", body = TrackingPage),
        (status = 404, description = "Not a valid link (forged, mistyped, or signed by a key the shop replaced)", body = Problem, content_type = PROBLEM),
        (status = 410, description = "The link expired, or the shop withdrew it", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn page(
    State(state): State<Arc<ShopState>>,
    Path(token): Path<String>,
) -> Result<Json<TrackingPage>, Problem> {
    let opened = open(&state, &token).await?;
    visited(&state, &opened).await;
    let choice = state
        .db
        .contact_choice(opened.claims.shop, opened.claims.order)
        .await?;
    let notifications =
        notifications_face(&state, &opened.detail.order, choice, &opened.side.notify);
    let requests = super::requests::requests_face(&state, &opened).await?;
    let feedback = state
        .db
        .order_feedback(opened.claims.shop, opened.claims.order)
        .await?;
    // The estimate from placing is a nicety: the page goes on without it.
    let estimate = order_estimate(&state, &opened).await.unwrap_or_else(|p| {
        tracing::warn!(shop = %opened.claims.shop, problem = %p.title, "the estimate from placing failed");
        None
    });
    Ok(Json(page_of(
        shop_face(&opened.side),
        &opened,
        notifications,
        requests,
        &feedback,
        estimate,
    )))
}

/// The customer's choice for the order: each part given is kept, the others stay as they were.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationsPatch {
    email: Option<bool>,
    sms: Option<bool>,
    /// Which news: any of `shipped`, `out_for_delivery`, `ready_for_pickup`, `delivered`,
    /// `problems`.
    news: Option<Vec<String>>,
    /// The customer's language (a tag such as `de-AT`; messages come in `en` or `de`).
    language: Option<String>,
    /// The customer's time zone, an IANA name (the browser's).
    time_zone: Option<String>,
}

impl NotificationsPatch {
    fn choice(&self) -> Result<ContactChoice, parceltrail_shop::Error> {
        use parceltrail_shop::prefs;
        Ok(ContactChoice {
            email: self.email,
            sms: self.sms,
            kinds: self
                .news
                .as_deref()
                .map(|n| prefs::kinds_of("news", n))
                .transpose()?,
            language: self
                .language
                .as_deref()
                .map(|l| prefs::Language::parse("language", l))
                .transpose()?,
            time_zone: self
                .time_zone
                .as_deref()
                .map(|z| prefs::parse_zone("time_zone", z))
                .transpose()?,
        })
    }
}

/// Sets what the order's customer hears of and how, as they choose on the tracking page:
/// email and SMS on or off, which news, and the language and time zone messages use.
#[utoipa::path(put, operation_id = "tracking_page_notifications", path = "/track/{token}/notifications", tag = "tracking",
    params(("token" = String, Path, description = "The link's token")),
    request_body = NotificationsPatch,
    responses(
        (status = 200, description = "The choice as it now is", body = NotificationsFace),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Not a valid link", body = Problem, content_type = PROBLEM),
        (status = 410, description = "The link expired, or the shop withdrew it", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field is not what it should be (the detail names it)", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn set_notifications(
    State(state): State<Arc<ShopState>>,
    Path(token): Path<String>,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<NotificationsFace>, Problem> {
    let opened = open(&state, &token).await?;
    let patch: NotificationsPatch = super::problem::from_object(body)?;
    let choice = patch.choice()?;
    let (shop, order) = (opened.claims.shop, opened.claims.order);
    let choice = state
        .db
        .set_contact_choice(shop, order, choice, Utc::now())
        .await?;
    Ok(Json(notifications_face(
        &state,
        &opened.detail.order,
        choice,
        &opened.side.notify,
    )))
}

/// The tracking page's live updates: an event `changed` whenever one of the order's parcels
/// or the order itself changes (the page then reads itself again).
#[utoipa::path(get, operation_id = "tracking_page_events", path = "/track/{token}/events", tag = "tracking",
    params(("token" = String, Path, description = "The link's token")),
    responses(
        (status = 200, description = "An endless event stream", content_type = "text/event-stream", body = String),
        (status = 404, description = "Not a valid link", body = Problem, content_type = PROBLEM),
        (status = 410, description = "The link expired, or the shop withdrew it", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn stream(
    State(state): State<Arc<ShopState>>,
    Path(token): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let opened = open(&state, &token).await?;
    let order = opened.claims.order;
    let store = opened.store;
    let woken = store.subscribe();
    let after = store.view(|s| s.feed_head()).await?;
    let stream = futures_util::stream::unfold(
        (store, woken, after),
        move |(store, mut woken, mut after)| async move {
            loop {
                let from = after;
                match store.view(move |s| s.feed(from, 500)).await {
                    Ok(batch) if !batch.is_empty() => {
                        after = batch.last().map(|e| e.seq).unwrap_or(after);
                        if batch.iter().any(|e| e.order_id == Some(order)) {
                            let event = Event::default().event("changed").data(after.to_string());
                            return Some((Ok(event), (store, woken, after)));
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "reading the change feed failed"),
                }
                let _ = tokio::time::timeout(STREAM_POLL, woken.changed()).await;
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

// ----- finding an order -----

/// Which shop's page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ShopParam {
    /// The shop (needed when the server holds several).
    shop: Option<String>,
}

/// The shop a `/track` page is for: the one named, or the server's only shop.
async fn which_shop(
    state: &ShopState,
    named: Option<&str>,
) -> Result<parceltrail_shop::Shop, Problem> {
    match named.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => {
            let id: ShopId = id
                .parse()
                .map_err(|_| Problem::not_found().detail("no such shop"))?;
            state.db.shop(id).await.map_err(|e| match e {
                parceltrail_shop::Error::NotFound => Problem::not_found().detail("no such shop"),
                e => e.into(),
            })
        }
        None => {
            let mut shops = state.db.shops().await?;
            if shops.len() == 1 {
                Ok(shops.remove(0))
            } else {
                Err(Problem::not_found().detail(
                    "this server holds several shops: use the tracking page link of yours (/track?shop=…)",
                ))
            }
        }
    }
}

/// The shop a lookup page is for: its name, for the page's heading.
#[utoipa::path(get, operation_id = "tracking_shop", path = "/track/shop", tag = "tracking",
    params(ShopParam),
    responses(
        (status = 200, description = "The shop", body = ShopFace),
        (status = 404, description = "No such shop, or none named on a server with several", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn shop(
    State(state): State<Arc<ShopState>>,
    Query(q): Query<ShopParam>,
) -> Result<Json<ShopFace>, Problem> {
    let shop = which_shop(&state, q.shop.as_deref()).await?;
    Ok(Json(shop_face(&*shop_side(&state, shop.id).await?)))
}

/// A customer's order lookup.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupBody {
    /// The shop (needed when the server holds several).
    shop: Option<String>,
    order_number: String,
    /// The customer's email address or the delivery postcode.
    email_or_postcode: String,
}

/// Where the found order's page is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Found {
    /// `/t/{token}`: the order's page, without the delivery address.
    url: String,
    expires_at: DateTime<Utc>,
}

/// An email address or a postcode, as compared: case, spaces and dashes aside.
fn normalised(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

type Peer = Result<ConnectInfo<SocketAddr>, axum::extract::rejection::ExtensionRejection>;

fn client_ip(peer: Peer) -> IpAddr {
    peer.map(|c| c.0.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Finds an order by its number and the customer's email address or postcode. Any wrong
/// combination gets the same answer after the same time, and lookups are throttled per
/// address and per order number.
#[utoipa::path(post, operation_id = "tracking_lookup", path = "/track/lookup", tag = "tracking",
    request_body = LookupBody,
    responses(
        (status = 200, description = "Found: the page to open", body = Found),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No order of the shop has this number with this email or postcode", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field is empty or too long", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn lookup(
    State(state): State<Arc<ShopState>>,
    ci: Peer,
    Body(body): Body<LookupBody>,
) -> Result<Json<Found>, Problem> {
    let started = tokio::time::Instant::now();
    let number = body.order_number.trim().to_owned();
    let secret = normalised(&body.email_or_postcode);
    for (field, v) in [("order_number", &number), ("email_or_postcode", &secret)] {
        if v.is_empty() || v.len() > MAX_LOOKUP_FIELD {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid request",
            )
            .detail(format!("{field}: give 1 to {MAX_LOOKUP_FIELD} characters")));
        }
    }
    let shop = which_shop(&state, body.shop.as_deref()).await?;
    state.limits.lookup(
        client_ip(ci),
        format!("{}:{}", shop.id, normalised(&number)),
    )?;
    let found = find(&state, shop.id, number, secret).await;
    // The same time for every answer (a failure of the store answers at once: it says
    // nothing about the order).
    tokio::time::sleep_until(started + LOOKUP_FLOOR).await;
    match found? {
        Some(order) => {
            let expires = Utc::now() + chrono::Duration::days(LOOKUP_LINK_DAYS);
            let (token, expires_at) =
                mint(&state, shop.id, order, LinkScope::Lookup, Some(expires)).await?;
            Ok(Json(Found {
                url: format!("/t/{token}"),
                expires_at,
            }))
        }
        None => Err(Problem::new(StatusCode::NOT_FOUND, "no-match", "No such order").detail(
            "no order has this number with this email address or postcode: check both against your order confirmation",
        )),
    }
}

/// The order with this number whose customer has this email or postcode (normalised).
async fn find(
    state: &ShopState,
    shop: ShopId,
    number: String,
    secret: String,
) -> Result<Option<OrderId>, Problem> {
    let store = state.stores.get(shop).await?;
    let (orders, _) = store
        .read(move |s| {
            s.order_page(&OrderQuery {
                order_number: Some(number),
                limit: 20,
                ..Default::default()
            })
        })
        .await?;
    // Every candidate compared in full, in constant time: where a comparison fails says
    // nothing.
    let mut hit = None;
    for o in &orders {
        let c = &o.customer;
        let mut matched = subtle::Choice::from(0);
        for known in [&c.email, &c.postcode].into_iter().flatten() {
            matched |= normalised(known).as_bytes().ct_eq(secret.as_bytes());
        }
        if bool::from(matched) && hit.is_none() {
            hit = Some(o.id);
        }
    }
    Ok(hit)
}

// ----- staff: links and their settings -----

/// A link to make.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewLinkBody {
    /// When it stops working (at most 400 days ahead); the default is 400 days. It also
    /// stops working the shop's days after delivery.
    expires_at: Option<DateTime<Utc>>,
}

/// A signed link to the order's tracking page.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinkBody {
    url: String,
    expires_at: DateTime<Utc>,
}

fn order_id(raw: &str) -> Result<OrderId, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

/// Makes a signed link to the order's tracking page, as notifications carry (the order's
/// `tracking_url` is one with the longest expiry).
#[utoipa::path(post, operation_id = "create_tracking_link", path = "/orders/{id}/tracking-link", tag = "tracking",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    request_body = Option<NewLinkBody>,
    responses(
        (status = 201, description = "The link", body = LinkBody),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no order with this id", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The expiry is past or too far ahead", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn create_link(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<LinkBody>), Problem> {
    caller.require(|s| s.read, "read")?;
    let id = order_id(&id)?;
    // The body is optional: none asks for the default expiry.
    let body: NewLinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        NewLinkBody::default()
    } else {
        let unreadable = |detail: String| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad-body",
                "Unreadable request body",
            )
            .detail(detail)
        };
        match serde_json::from_slice(&body).map_err(|e| unreadable(e.to_string()))? {
            serde_json::Value::Null => NewLinkBody::default(),
            serde_json::Value::Object(fields) => super::problem::from_object(fields)?,
            _ => return Err(unreadable("the body must be a JSON object or null".into())),
        }
    };
    let expires_at = body.expires_at;
    let now = Utc::now();
    if let Some(at) = expires_at
        && (at <= now || at > now + chrono::Duration::days(MAX_LIFETIME_DAYS))
    {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Invalid request",
        )
        .detail(format!(
            "expires_at: give a time in the next {MAX_LIFETIME_DAYS} days"
        )));
    }
    let store = store_of(&state, &caller).await?;
    store.read(move |s| s.order(id)).await?;
    let (token, expires_at) = mint(&state, caller.shop_id, id, LinkScope::Link, expires_at).await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkBody {
            url: link_url(&state.public_url, &token),
            expires_at,
        }),
    ))
}

/// Withdraws every link to the order made so far (the ones sent to the customer included);
/// the order's `tracking_url` is a new one from now on.
#[utoipa::path(delete, operation_id = "revoke_tracking_links", path = "/orders/{id}/tracking-link", tag = "tracking",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no order with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn revoke_links(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require(|s| s.write, "write")?;
    let id = order_id(&id)?;
    let store = store_of(&state, &caller).await?;
    store.read(move |s| s.order(id)).await?;
    state
        .db
        .revoke_order_links(caller.shop_id, id, &caller.actor(), Utc::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The shop's tracking-link settings.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinkSettingsBody {
    /// Links work this many days after the order's last parcel is delivered.
    days_after_delivery: u32,
    /// Whether a link the shop sent shows the customer's name and delivery address (a
    /// lookup by order number never does).
    show_address: bool,
    /// Bumped by each rotation of the shop's link key.
    key_generation: u32,
}

impl From<LinkPolicy> for LinkSettingsBody {
    fn from(p: LinkPolicy) -> Self {
        LinkSettingsBody {
            days_after_delivery: p.days_after_delivery,
            show_address: p.show_address,
            key_generation: p.generation,
        }
    }
}

/// Changes to the shop's tracking-link settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkSettingsPatch {
    /// 1 to 3650.
    days_after_delivery: Option<u32>,
    show_address: Option<bool>,
}

/// The shop's tracking-link settings.
#[utoipa::path(get, operation_id = "tracking_link_settings", path = "/shop/tracking-links", tag = "tracking",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The settings", body = LinkSettingsBody),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn settings(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<LinkSettingsBody>, Problem> {
    caller.require(|s| s.read, "read")?;
    let p = state
        .db
        .link_policy(caller.shop_id, &state.secret_key, Utc::now())
        .await?;
    Ok(Json(p.into()))
}

/// Changes the shop's tracking-link settings (the owner's, or a key with `write`).
#[utoipa::path(patch, operation_id = "update_tracking_link_settings", path = "/shop/tracking-links", tag = "tracking",
    security(("api_key" = []), ("session" = [])),
    request_body = LinkSettingsPatch,
    responses(
        (status = 200, description = "The settings as they now are", body = LinkSettingsBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (role, scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A value is out of range", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn update_settings(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<LinkSettingsBody>, Problem> {
    caller.require_owner()?;
    // Read from an object only (serde would take a struct from an array too).
    let body: LinkSettingsPatch = super::problem::from_object(body)?;
    let p = state
        .db
        .set_link_settings(
            caller.shop_id,
            &state.secret_key,
            LinkSettings {
                days_after_delivery: body.days_after_delivery,
                show_address: body.show_address,
            },
            Utc::now(),
        )
        .await?;
    state.shop_cache.forget(caller.shop_id);
    Ok(Json(p.into()))
}

/// Replaces the shop's link key: every tracking link the shop ever sent stops working at
/// once (after a leak, say). Orders' `tracking_url`s are new from now on.
#[utoipa::path(post, operation_id = "rotate_tracking_link_key", path = "/shop/tracking-links/rotate", tag = "tracking",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "Rotated: the settings with the new key generation", body = LinkSettingsBody),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (role, scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn rotate(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<LinkSettingsBody>, Problem> {
    caller.require_owner()?;
    let p = state
        .db
        .rotate_link_key(caller.shop_id, &state.secret_key, Utc::now())
        .await?;
    state.shop_cache.forget(caller.shop_id);
    Ok(Json(p.into()))
}

// ----- unsubscribing -----

/// Stops the order's emails: the one-click unsubscribe of RFC 8058 (a mail client `POST`s
/// `List-Unsubscribe=One-Click` to the address in `List-Unsubscribe`), and the page's button.
/// Only the link's signature and expiry are checked: an unsubscribe from an older email
/// still works after the shop withdrew the order's tracking links.
#[utoipa::path(post, operation_id = "unsubscribe", path = "/u/{token}", tag = "tracking",
    params(("token" = String, Path, description = "The unsubscribe link's token, from an email's List-Unsubscribe")),
    responses(
        (status = 200, description = "No more email about the order", body = Object),
        (status = 404, description = "Not a valid unsubscribe link", body = Problem, content_type = PROBLEM),
        (status = 410, description = "The link expired", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn unsubscribe(
    State(state): State<Arc<ShopState>>,
    Path(token): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    let now = Utc::now();
    let unverified = links::read(&token).map_err(link_problem)?;
    let shop = unverified.shop;
    let side = match shop_side(&state, shop).await {
        Ok(p) => p,
        Err(parceltrail_shop::Error::NotFound) => return Err(link_problem(LinkError::Invalid)),
        Err(e) => return Err(e.into()),
    };
    let claims = unverified.verify(&side.policy, now).map_err(link_problem)?;
    if claims.scope != LinkScope::Unsubscribe {
        return Err(link_problem(LinkError::Invalid));
    }
    let store = state.stores.get(shop).await?;
    let order = claims.order;
    match store.read(move |s| s.order(order)).await {
        Ok(_) => {}
        Err(parceltrail_core::Error::NotFound(_)) => return Err(link_problem(LinkError::Invalid)),
        Err(e) => return Err(e.into()),
    }
    let off = ContactChoice {
        email: Some(false),
        ..ContactChoice::default()
    };
    state.db.set_contact_choice(shop, order, off, now).await?;
    tracing::info!(shop = %shop, order = %order, "a customer unsubscribed from an order's emails");
    Ok(Json(serde_json::json!({"unsubscribed": true})))
}

// ----- staff: the page's branding -----

/// How the shop's tracking page looks.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BrandingBody {
    /// `#rrggbb`, or none (the default blue).
    color: Option<String>,
    /// The logo as a `data:` URL, or none.
    logo: Option<String>,
}

/// New branding: both fields as they should be (`null` or absent: none).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BrandingPut {
    /// `#rrggbb`.
    color: Option<String>,
    /// `data:image/png;base64,…` (or JPEG, WebP), at most 100 KiB of image.
    logo: Option<String>,
}

fn branding_body(b: parceltrail_shop::db::Branding) -> BrandingBody {
    BrandingBody {
        color: b.color,
        logo: b.logo.map(|(bytes, t)| data_url(&t, &bytes)),
    }
}

/// The shop's tracking-page branding.
#[utoipa::path(get, operation_id = "branding", path = "/shop/branding", tag = "tracking",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The branding", body = BrandingBody),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn branding(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<BrandingBody>, Problem> {
    caller.require(|s| s.read, "read")?;
    Ok(Json(branding_body(
        state.db.branding(caller.shop_id).await?,
    )))
}

/// Sets the shop's colour and logo on its tracking page (the owner's, or a key with `write`).
#[utoipa::path(put, operation_id = "set_branding", path = "/shop/branding", tag = "tracking",
    security(("api_key" = []), ("session" = [])),
    request_body = BrandingPut,
    responses(
        (status = 200, description = "The branding as it now is", body = BrandingBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (role, scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 413, description = "The body is too large", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Not a colour, or not a PNG, JPEG or WebP image of at most 100 KiB", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn set_branding(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<BrandingBody>, Problem> {
    use base64::Engine;
    caller.require_owner()?;
    let invalid = |d: String| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Invalid request",
        )
        .detail(d)
    };
    let body: BrandingPut = serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| invalid(e.to_string()))?;
    let logo = match body
        .logo
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(url) => {
            let data = url
                .split_once(";base64,")
                .filter(|(head, _)| head.starts_with("data:image/"))
                .map(|(_, data)| data)
                .ok_or_else(|| invalid("logo: give a data:image/…;base64,… URL".into()))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| invalid(format!("logo: the base64 is unreadable: {e}")))?;
            Some((bytes, String::new()))
        }
    };
    let b = parceltrail_shop::db::Branding {
        color: body.color.filter(|c| !c.trim().is_empty()),
        logo,
    };
    state.db.set_branding(caller.shop_id, b, Utc::now()).await?;
    state.shop_cache.forget(caller.shop_id);
    Ok(Json(branding_body(
        state.db.branding(caller.shop_id).await?,
    )))
}
