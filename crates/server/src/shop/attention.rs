//! What needs the staff: every open problem of the shop's parcels (stuck, late, exceptions,
//! failed attempts, returns, customs, expired tracking), customers' requests waiting for a
//! decision, and notifications that failed, each with its reason and the action to take.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use parceltrail_core::domain::{Order, OrderId, Shipment};
use parceltrail_core::problems::ProblemKind;
use parceltrail_core::store::OutboxState;
use parceltrail_shop::ShopId;
use parceltrail_shop::requests::{RequestKind, RequestState};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Caller;
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// The most items of each source listed.
const MOST: usize = 500;
/// Failed notifications are listed for this many of the newest messages.
const LOG_READ: usize = 2_000;

/// One thing that needs the staff.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Item {
    /// `stuck`, `late`, `failed_attempt`, `exception`, `returned`, `customs_hold`, `expired`,
    /// `request` or `notification_failed`.
    pub(crate) kind: String,
    /// What is wrong, in words.
    pub(crate) reason: String,
    /// What to do about it.
    pub(crate) action: String,
    /// Since when.
    pub(crate) since: DateTime<Utc>,
    /// The order.
    pub(crate) order_id: Uuid,
    /// Its number, when it has one.
    pub(crate) order_number: Option<String>,
    /// The parcel, when it is about one.
    pub(crate) shipment_id: Option<Uuid>,
    /// Its tracking number.
    pub(crate) tracking_number: Option<String>,
    /// Its carrier.
    pub(crate) carrier: Option<String>,
    /// The request, for kind `request`.
    pub(crate) request_id: Option<Uuid>,
}

/// What needs the staff, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Attention {
    items: Vec<Item>,
}

/// What the staff should do about a problem (the alert email says it too).
pub(crate) fn action(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::Stuck => "Ask the carrier where the parcel is, and tell the customer.",
        ProblemKind::Late => "Tell the customer, and ask the carrier for a new date.",
        ProblemKind::FailedAttempt => {
            "Check the address and phone with the customer, and arrange another attempt."
        }
        ProblemKind::Exception => "Read the carrier's note, and contact the carrier.",
        ProblemKind::Returned => "Contact the customer: refund or send again.",
        ProblemKind::CustomsHold => "Send customs what they ask for, or tell the customer to.",
        ProblemKind::Expired => "Ask the carrier, or add a status update by hand.",
    }
}

/// Every open problem, waiting request and failed notification of the shop, oldest first
/// (at most 500 of each).
#[utoipa::path(get, operation_id = "attention", path = "/attention", tag = "attention",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = Attention),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<Attention>, Problem> {
    caller.require(|s| s.read, "read")?;
    Ok(Json(Attention {
        items: items(&state, caller.shop_id).await?,
    }))
}

/// What needs the shop's staff, oldest first: the list above, and the daily digest's.
pub(crate) async fn items(state: &ShopState, shop: ShopId) -> Result<Vec<Item>, Problem> {
    let store = state.stores.get(shop).await?;
    let requests = state.db.requests_in(shop, RequestState::Open, MOST).await?;
    let request_orders: Vec<OrderId> = requests.iter().map(|r| r.order_id).collect();
    let (problems, failed, shipments, orders) = store
        .view(move |s| {
            let mut problems = s.open_problems(None)?;
            problems.truncate(MOST);
            let mut failed: Vec<_> = s
                .notifications(LOG_READ)?
                .into_iter()
                .filter(|n| {
                    n.state == OutboxState::Failed && !n.link.starts_with(super::alerts::STAFF_LINK)
                })
                .collect();
            failed.truncate(MOST);
            let mut ids: Vec<_> = problems
                .iter()
                .map(|p| p.shipment_id)
                .chain(failed.iter().filter_map(|n| n.shipment_id))
                .collect();
            ids.sort_by_key(|i| i.0);
            ids.dedup();
            let shipments: HashMap<_, Shipment> = s
                .shipments_with_store(&ids)?
                .into_iter()
                .map(|(sh, _)| (sh.id, sh))
                .collect();
            let mut order_ids: Vec<OrderId> = shipments
                .values()
                .map(|sh| sh.order_id)
                .chain(request_orders)
                .collect();
            order_ids.sort_by_key(|o| o.0);
            order_ids.dedup();
            let mut orders: HashMap<OrderId, Order> = HashMap::new();
            for id in order_ids {
                match s.order(id) {
                    Ok(o) => {
                        orders.insert(id, o);
                    }
                    Err(parceltrail_core::Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok((problems, failed, shipments, orders))
        })
        .await?;
    let number = |id: OrderId| orders.get(&id).and_then(|o| o.order_number.clone());
    let mut items = Vec::new();
    for p in problems {
        let Some(sh) = shipments.get(&p.shipment_id) else {
            continue;
        };
        items.push(Item {
            kind: p.problem.kind.as_str().to_owned(),
            reason: p.problem.detail.clone(),
            action: action(p.problem.kind).to_owned(),
            since: p.problem.since,
            order_id: sh.order_id.0,
            order_number: number(sh.order_id),
            shipment_id: Some(sh.id.0),
            tracking_number: Some(sh.tracking_number.clone()),
            carrier: Some(sh.carrier.clone()),
            request_id: None,
        });
    }
    for r in requests {
        if !orders.contains_key(&r.order_id) {
            continue;
        }
        let what = match r.kind {
            RequestKind::Address => "a new delivery address",
            RequestKind::Instructions => "delivery instructions",
            RequestKind::Cancel => "a cancellation",
        };
        items.push(Item {
            kind: "request".into(),
            reason: format!("The customer asks for {what}."),
            action: "Approve or reject it: the customer is told either way, with your note.".into(),
            since: r.created_at,
            order_id: r.order_id.0,
            order_number: number(r.order_id),
            shipment_id: None,
            tracking_number: None,
            carrier: None,
            request_id: Some(r.id),
        });
    }
    for n in failed {
        let Some(sh) = n.shipment_id.and_then(|id| shipments.get(&id)) else {
            continue;
        };
        items.push(Item {
            kind: "notification_failed".into(),
            reason: format!(
                "The {} to the customer failed: {}",
                n.channel,
                n.last_error.as_deref().unwrap_or("no reason given")
            ),
            action: "Check the customer's contact details, and tell them another way.".into(),
            since: n.created_at,
            order_id: sh.order_id.0,
            order_number: number(sh.order_id),
            shipment_id: Some(sh.id.0),
            tracking_number: Some(sh.tracking_number.clone()),
            carrier: Some(sh.carrier.clone()),
            request_id: None,
        });
    }
    items.sort_by_key(|i| i.since);
    Ok(items)
}

/// A label for an item's kind, for people.
pub(crate) fn kind_label(kind: &str) -> &str {
    match kind {
        "request" => "Customer request",
        "notification_failed" => "Message not sent",
        k => k.parse::<ProblemKind>().map(|p| p.label()).unwrap_or(k),
    }
}
