//! Staff alerts: a parcel stuck or late alerts the shop's staff by email, once per occurrence.
//!
//! Each tick the supervisor looks at every shop with an alert address for open problems of
//! those kinds, and queues an email for each in the shop's outbox, keyed by the problem's
//! parcel, kind and start ([`alert_key`]). The outbox keeps one message a key, so another pass,
//! a restart or another replica queues nothing more, and its claim sends it once. A problem that
//! ends and starts again is a new occurrence, and alerts again.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{NaiveDate, Timelike, Utc};
use parceltrail_core::domain::ShipmentId;
use parceltrail_core::notify::NotifyError;
use parceltrail_core::notify::rules::clip;
use parceltrail_core::notify::rules::{Draft, Initial};
use parceltrail_core::notify::{Channel, Urgency};
use parceltrail_core::problems::{OpenProblem, ProblemKind};
use parceltrail_notifiers::email::Email;
use parceltrail_shop::ShopId;
use parceltrail_shop::stores::ShopStore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::{Body, Caller};
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// What every message to the staff (not to a customer) has its outbox link start with.
pub(crate) const STAFF_LINK: &str = "parceltrail-shop://";
/// The outbox link of a staff alert: `{ALERT_LINK}{shipment id}/{kind}`.
pub(crate) const ALERT_LINK: &str = "parceltrail-shop://alert/";
/// The outbox link of a daily digest: `{DIGEST_LINK}{YYYY-MM-DD}` (the shop's day).
pub(crate) const DIGEST_LINK: &str = "parceltrail-shop://digest/";
/// The hour of the shop's day from which its digest goes.
const DIGEST_HOUR: u32 = 8;
/// Most items a digest lists (the dashboard has them all).
const DIGEST_ITEMS: usize = 50;

/// The day each shop's digest was last queued by this process, so a tick does not write it
/// again (the outbox keeps one a day anyway, across restarts and replicas).
static DIGESTED: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<ShopId, NaiveDate>>,
> = std::sync::LazyLock::new(Default::default);

/// What alerts the staff.
const ALERTING: [ProblemKind; 2] = [ProblemKind::Stuck, ProblemKind::Late];

/// Where the shop's staff are alerted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AlertSettings {
    /// The address alerts go to (`null`: no alerts).
    #[schema(nullable, example = "orders@trailhead.example")]
    email: Option<String>,
}

/// Where the shop's staff are alerted of stuck and late parcels.
#[utoipa::path(get, operation_id = "alert_settings", path = "/shop/alerts", tag = "alerts",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = AlertSettings),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn get(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<AlertSettings>, Problem> {
    caller.require(|s| s.read, "read")?;
    let email = state.db.alert_email(caller.shop_id).await?;
    Ok(Json(AlertSettings { email }))
}

/// Sets where the staff are alerted (`null` turns alerts off). A parcel stuck (no carrier
/// news for longer than its status allows) or late (past its promised window) alerts once.
#[utoipa::path(put, operation_id = "set_alert_settings", path = "/shop/alerts", tag = "alerts",
    security(("api_key" = []), ("session" = [])),
    request_body = AlertSettings,
    responses(
        (status = 200, description = "Kept", body = AlertSettings),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner (sessions) or no write scope (keys), or no CSRF token", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field is not what it should be (the detail names it)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn set(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<AlertSettings>, Problem> {
    caller.require_owner()?;
    let body: AlertSettings = super::problem::from_object(body)?;
    let email = state
        .db
        .set_alert_email(caller.shop_id, body.email.as_deref(), Utc::now())
        .await?;
    Ok(Json(AlertSettings { email }))
}

/// One occurrence of a problem: the same parcel, kind and start.
fn alert_key(p: &OpenProblem) -> Uuid {
    Uuid::new_v5(
        &p.shipment_id.0,
        format!(
            "staff alert {} {}",
            p.problem.kind.as_str(),
            p.problem.since.timestamp_millis()
        )
        .as_bytes(),
    )
}

/// Queues an alert for each stuck or late parcel of the shop not alerted yet (none without an
/// alert address or without email). Run by the supervisor each tick.
pub(crate) async fn queue(state: &ShopState, shop: ShopId, store: &Arc<ShopStore>) {
    if state.channels.email.is_none() {
        return;
    }
    match state.db.alert_email(shop).await {
        Ok(Some(_)) => {}
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(shop = %shop, error = %e, "reading the alert address failed");
            return;
        }
    }
    digest(state, shop, store).await;
    let open = match store.view(|s| s.open_problems(None)).await {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!(shop = %shop, error = %e, "reading open problems failed");
            return;
        }
    };
    let drafts: Vec<Draft> = open
        .iter()
        .filter(|p| ALERTING.contains(&p.problem.kind))
        .map(|p| Draft {
            id: Uuid::now_v7(),
            dedupe_key: alert_key(p),
            channel: Channel::Email,
            shipment_id: Some(p.shipment_id),
            // Not news for the customer: the customers' rules never see it.
            kind: None,
            title: format!("Needs attention: {}", p.problem.kind.label()),
            body: p.problem.detail.clone(),
            link: format!(
                "{ALERT_LINK}{}/{}",
                p.shipment_id.0,
                p.problem.kind.as_str()
            ),
            urgency: Urgency::Normal,
            initial: Initial::Pending,
        })
        .collect();
    if drafts.is_empty() {
        return;
    }
    // Only parcels not alerted yet are written (the outbox would keep one a key anyway) and
    // wake the pipeline to send.
    let mut ids: Vec<ShipmentId> = drafts.iter().filter_map(|d| d.shipment_id).collect();
    ids.dedup();
    let limit = 20 * ids.len() + 50;
    let fresh = match store
        .view(move |s| s.shipment_notifications(&ids, limit))
        .await
    {
        Ok(known) => drafts
            .into_iter()
            .filter(|d| !known.iter().any(|k| k.dedupe_key == d.dedupe_key))
            .collect::<Vec<_>>(),
        Err(_) => drafts,
    };
    if fresh.is_empty() {
        return;
    }
    match store
        .write(move |s| s.queue_notifications(&fresh, Utc::now()))
        .await
    {
        Ok(()) => state.wake_pipeline(shop),
        Err(e) => tracing::warn!(shop = %shop, error = %e, "queueing staff alerts failed"),
    }
}

/// Sends the alert `rest` (`{shipment id}/{kind}`, after [`ALERT_LINK`]) names, if its problem
/// is still open.
pub(crate) async fn send(
    state: &ShopState,
    store: &Arc<ShopStore>,
    channel: Channel,
    rest: &str,
) -> Result<(), NotifyError> {
    let not_alert = || NotifyError::Rejected("not a staff alert's link".into());
    let (id, kind) = rest.split_once('/').ok_or_else(not_alert)?;
    let id = ShipmentId(id.parse().map_err(|_| not_alert())?);
    let kind: ProblemKind = kind.parse().map_err(|_| not_alert())?;
    let staff = StaffMail::of(state, store, channel).await?;
    let found = store
        .read(move |s| {
            let open = s.open_problems(Some(id))?;
            let shipment = s.shipment(id)?;
            let order = s.order(shipment.order_id)?;
            Ok((open, shipment, order))
        })
        .await;
    let (open, shipment, order) = match found {
        Ok(f) => f,
        Err(parceltrail_core::Error::NotFound(_)) => {
            return Err(NotifyError::NotWanted("the parcel was removed".into()));
        }
        Err(e) => return Err(NotifyError::Unavailable(format!("the shop's store: {e}"))),
    };
    let Some(problem) = open.iter().find(|p| p.problem.kind == kind) else {
        return Err(NotifyError::NotWanted(format!(
            "the parcel is no longer {}",
            kind.as_str()
        )));
    };
    let (shop_name, to) = (&staff.shop_name, &staff.to);
    let number = order
        .order_number
        .as_deref()
        .map(super::notify::line)
        .unwrap_or_else(|| "without a number".into());
    let action = super::attention::action(kind);
    let what = kind.label();
    let detail = super::notify::line(&problem.problem.detail);
    let base = state.public_url.trim_end_matches('/');
    let text = format!(
        "{what}: order {number}, parcel {tracking} ({carrier}).\n\n{detail}\nSince {since}.\n\n{action}\n\nThe order: {base}/dashboard#/orders/{order_id}\n\n--\nParceltrail for {shop_name}: staff alerts go to {to} (PUT /api/v1/shop/alerts changes it).\n",
        tracking = super::notify::line(&shipment.tracking_number),
        carrier = shipment.carrier,
        since = problem.problem.since.format("%Y-%m-%d %H:%M UTC"),
        order_id = order.id.0,
    );
    staff.send(&format!("{what}: order {number}"), text).await
}

/// A message to the shop's staff: by email only, to the shop's alert address, from its name.
struct StaffMail<'a> {
    mailer: &'a parceltrail_notifiers::email::Mailer,
    to: String,
    shop_name: String,
}

impl<'a> StaffMail<'a> {
    async fn of(
        state: &'a ShopState,
        store: &Arc<ShopStore>,
        channel: Channel,
    ) -> Result<StaffMail<'a>, NotifyError> {
        if channel != Channel::Email {
            return Err(NotifyError::Rejected("staff messages go by email".into()));
        }
        let Some(mailer) = &state.channels.email else {
            return Err(NotifyError::Unavailable("email is not configured".into()));
        };
        let shop = store.shop();
        let db = |e: parceltrail_shop::Error| {
            NotifyError::Unavailable(format!("the shop database: {e}"))
        };
        let Some(to) = state.db.alert_email(shop).await.map_err(db)? else {
            return Err(NotifyError::NotWanted(
                "the shop turned staff alerts off".into(),
            ));
        };
        let name = super::track::shop_side(state, shop)
            .await
            .map_err(db)?
            .shop
            .name
            .clone();
        Ok(StaffMail {
            mailer,
            to,
            shop_name: super::notify::line(&name),
        })
    }

    /// Sends `text` (plain; the HTML part shows it as it is).
    async fn send(self, subject: &str, text: String) -> Result<(), NotifyError> {
        let html = format!(
            "<!doctype html><html lang=\"en\"><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#181b20\"><pre style=\"font:inherit;white-space:pre-wrap\">{}</pre></body></html>",
            super::notify::esc(&text)
        );
        self.mailer
            .send(&Email {
                to: self.to,
                to_name: None,
                from_name: Some(format!("{} (Parceltrail)", self.shop_name)),
                subject: clip(subject, 120),
                text,
                html,
                unsubscribe: None,
            })
            .await
    }
}

/// Queues today's digest of what needs the staff, once the shop's day reaches
/// [`DIGEST_HOUR`]; keyed by the shop and its day, so it goes once a day whatever the passes,
/// restarts or replicas. Its words are made when it is sent, from what is open then.
async fn digest(state: &ShopState, shop: ShopId, store: &Arc<ShopStore>) {
    let tz = match state.db.notify_settings(shop).await {
        Ok(s) => s.time_zone,
        Err(e) => {
            tracing::warn!(shop = %shop, error = %e, "reading the shop's time zone failed");
            return;
        }
    };
    let now = Utc::now();
    let local = now.with_timezone(&tz);
    if local.hour() < DIGEST_HOUR {
        return;
    }
    let day = local.date_naive();
    let done = |d: NaiveDate| {
        DIGESTED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(shop, d);
    };
    if DIGESTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&shop)
        == Some(&day)
    {
        return;
    }
    let draft = Draft {
        id: Uuid::now_v7(),
        dedupe_key: Uuid::new_v5(&shop.0, format!("digest {day}").as_bytes()),
        channel: Channel::Email,
        shipment_id: None,
        kind: None,
        title: format!("Daily digest {day}"),
        body: String::new(),
        link: format!("{DIGEST_LINK}{day}"),
        urgency: Urgency::Normal,
        initial: Initial::Pending,
    };
    match store
        .write(move |s| s.queue_notifications(&[draft], now))
        .await
    {
        Ok(()) => {
            done(day);
            state.wake_pipeline(shop);
        }
        Err(e) => tracing::warn!(shop = %shop, error = %e, "queueing the daily digest failed"),
    }
}

/// Sends the digest `day` (after [`DIGEST_LINK`]) names: everything that needs the staff now,
/// oldest first; nothing when nothing does.
pub(crate) async fn send_digest(
    state: &ShopState,
    store: &Arc<ShopStore>,
    channel: Channel,
    day: &str,
) -> Result<(), NotifyError> {
    let staff = StaffMail::of(state, store, channel).await?;
    let items = super::attention::items(state, store.shop())
        .await
        .map_err(|p| NotifyError::Unavailable(format!("what needs attention: {p:?}")))?;
    if items.is_empty() {
        return Err(NotifyError::NotWanted(
            "nothing needs attention today".into(),
        ));
    }
    let (shop_name, to) = (&staff.shop_name, &staff.to);
    let base = state.public_url.trim_end_matches('/');
    let n = items.len();
    let things = if n == 1 {
        "1 thing needs".to_owned()
    } else {
        format!("{n} things need")
    };
    let mut text = format!("{things} attention at {shop_name} today ({day}), oldest first.\n\n");
    for i in items.iter().take(DIGEST_ITEMS) {
        let order = i
            .order_number
            .as_deref()
            .map(super::notify::line)
            .unwrap_or_else(|| "without a number".into());
        let parcel = i
            .tracking_number
            .as_deref()
            .map(|t| format!(", parcel {}", super::notify::line(t)))
            .unwrap_or_default();
        text.push_str(&format!(
            "- {}: order {order}{parcel}, since {}.\n  {}\n  What to do: {}\n  {base}/dashboard#/orders/{}\n\n",
            super::attention::kind_label(&i.kind),
            i.since.format("%Y-%m-%d"),
            super::notify::line(&i.reason),
            i.action,
            i.order_id,
        ));
    }
    if n > DIGEST_ITEMS {
        text.push_str(&format!(
            "… and {} more: {base}/dashboard#/attention\n\n",
            n - DIGEST_ITEMS
        ));
    }
    text.push_str(&format!(
        "--\nParceltrail for {shop_name}: the daily digest goes to {to} (PUT /api/v1/shop/alerts changes it).\n"
    ));
    let subject = format!("Today at {shop_name}: {things} attention");
    staff.send(&subject, text).await
}
