//! What customers ask and say about an order, and the staff's side of it.
//!
//! From the tracking page, through the link the shop sent (a lookup by order number is not
//! enough to redirect a parcel or cancel an order): a new delivery address or delivery
//! instructions until a parcel is out for delivery, a cancellation until the order ships,
//! and withdrawing a request still open. Staff list what is open and approve or reject it
//! through the API; an approved address change is written to the order, an approved
//! cancellation cancels it. The staff hear of a new request by the shop's webhooks
//! (`request.created`) and the open list; the customer hears of the decision by email and
//! sees it on the page.
//!
//! Feedback: once a parcel is delivered, a rating from 1 to 5 and a comment, one per parcel,
//! changeable for a week, through any link to the order (a lookup's too).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use parceltrail_core::domain::{OrderId, OrderStage, ShipmentId, Status};
use parceltrail_core::notify::Channel;
use parceltrail_core::notify::rules::{Draft, Initial};
use parceltrail_core::store::OrderPatch;
use parceltrail_shop::ShopId;
use parceltrail_shop::links::LinkScope;
use parceltrail_shop::requests::{
    Feedback, FeedbackInput, NewRequest, Request, RequestKind, RequestState,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::{Body, Caller};
use super::problem::PROBLEM;
use super::track::{Opened, open};
use super::{Problem, ShopState};

/// Where a request's decision message links: the notifier reads the request from it.
pub(crate) const REQUEST_LINK: &str = "parceltrail-shop://request/";

// ----- what the customer sees -----

/// A step of a request's history, as its customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StepFace {
    /// `open`, `approved`, `rejected`, `withdrawn`.
    #[schema(value_type = String)]
    state: RequestState,
    /// `customer` or `shop`.
    by: &'static str,
    /// The shop's words with a decision.
    note: Option<String>,
    at: DateTime<Utc>,
}

/// A request as its customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestFace {
    id: Uuid,
    /// `address`, `instructions`, `cancel`.
    #[schema(value_type = String)]
    kind: RequestKind,
    #[schema(value_type = String)]
    state: RequestState,
    address: Option<String>,
    postcode: Option<String>,
    text: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Oldest first.
    history: Vec<StepFace>,
}

fn request_face(r: Request) -> RequestFace {
    RequestFace {
        id: r.id,
        kind: r.kind,
        state: r.state,
        address: r.address,
        postcode: r.postcode,
        text: r.text,
        created_at: r.created_at,
        updated_at: r.updated_at,
        history: r
            .history
            .into_iter()
            .map(|h| StepFace {
                state: h.state,
                by: if h.by == "customer" {
                    "customer"
                } else {
                    "shop"
                },
                note: h.note,
                at: h.at,
            })
            .collect(),
    }
}

/// What the customer may ask on the page (a link the shop sent only).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestsFace {
    /// The kinds that can be asked now (none open of the kind, the parcels not too far).
    #[schema(value_type = Vec<String>)]
    allowed: Vec<RequestKind>,
    /// Why each kind not allowed is not: `cancelled` (the order), `waiting` (one of the
    /// kind is open), `out_for_delivery` (too late to change), `shipped` (too late to cancel).
    #[schema(value_type = Object)]
    not_now: serde_json::Map<String, serde_json::Value>,
    /// Every request made, oldest first.
    list: Vec<RequestFace>,
}

/// A parcel's feedback, as its customer gave it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FeedbackFace {
    rating: u8,
    comment: Option<String>,
    /// It can be changed until then.
    editable_until: DateTime<Utc>,
}

pub(crate) fn feedback_face(f: &Feedback) -> FeedbackFace {
    FeedbackFace {
        rating: f.rating,
        comment: f.comment.clone(),
        editable_until: f.editable_until(),
    }
}

fn statuses(opened: &Opened) -> Vec<Status> {
    opened.detail.shipments.iter().map(|s| s.status).collect()
}

/// Why a kind cannot be asked now, if it cannot: a code for the page's words, and the words.
fn refusal(
    kind: RequestKind,
    opened: &Opened,
    list: &[Request],
) -> Option<(&'static str, &'static str)> {
    if opened.detail.order.stage == OrderStage::Cancelled {
        return Some(("cancelled", "the order is cancelled"));
    }
    if list
        .iter()
        .any(|r| r.kind == kind && r.state == RequestState::Open)
    {
        return Some(("waiting", "a request of this kind is waiting for the shop"));
    }
    let code = match kind {
        RequestKind::Cancel => "shipped",
        RequestKind::Address | RequestKind::Instructions => "out_for_delivery",
    };
    kind.allowed(&statuses(opened)).err().map(|why| (code, why))
}

/// The page's requests part (None on a lookup's link: changes need the shop's link).
pub(crate) async fn requests_face(
    state: &ShopState,
    opened: &Opened,
) -> Result<Option<RequestsFace>, Problem> {
    if opened.claims.scope != LinkScope::Link {
        return Ok(None);
    }
    let list = state
        .db
        .order_requests(opened.claims.shop, opened.claims.order)
        .await?;
    let mut allowed = Vec::new();
    let mut not_now = serde_json::Map::new();
    for kind in [
        RequestKind::Address,
        RequestKind::Instructions,
        RequestKind::Cancel,
    ] {
        match refusal(kind, opened, &list) {
            None => allowed.push(kind),
            Some((code, _)) => {
                not_now.insert(kind.as_str().into(), code.into());
            }
        }
    }
    Ok(Some(RequestsFace {
        allowed,
        not_now,
        list: list.into_iter().map(request_face).collect(),
    }))
}

// ----- the customer's routes -----

/// A request from the tracking page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestBody {
    /// `address`, `instructions` or `cancel`.
    #[schema(value_type = String, example = "instructions")]
    kind: RequestKind,
    /// For `address`: the new delivery address.
    #[schema(max_length = 500)]
    address: Option<String>,
    /// For `address`: its postcode.
    #[schema(max_length = 20)]
    postcode: Option<String>,
    /// The instructions (for `instructions`), or a reason.
    #[schema(
        max_length = 1000,
        example = "Please leave it with the neighbour at number 12"
    )]
    text: Option<String>,
}

fn unprocessable(e: impl std::fmt::Display) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        "Invalid request",
    )
    .detail(e.to_string())
}

fn bad_query(e: QueryRejection) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "bad-query", "Unreadable query").detail(e.body_text())
}

fn not_now(why: &str) -> Problem {
    Problem::new(StatusCode::CONFLICT, "not-now", "Not possible now").detail(why.to_owned())
}

fn needs_link(opened: &Opened) -> Result<(), Problem> {
    if opened.claims.scope == LinkScope::Link {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::FORBIDDEN,
        "link-needed",
        "Use the link the shop sent",
    )
    .detail(
        "to change or cancel an order, open the tracking link in the shop's email or text message",
    ))
}

/// Asks the shop to change the delivery address, pass on delivery instructions, or cancel.
#[utoipa::path(post, operation_id = "tracking_page_request", path = "/track/{token}/requests", tag = "tracking",
    params(("token" = String, Path, description = "The link's token")),
    request_body = RequestBody,
    responses(
        (status = 201, description = "Made: the shop decides", body = RequestFace),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 403, description = "A lookup's link: changes need the link the shop sent", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Not a valid link", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Not possible now (a parcel is too far along, or one of the kind is open)", body = Problem, content_type = PROBLEM),
        (status = 410, description = "The link expired, or the shop withdrew it", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field is missing or not acceptable", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn create(
    State(state): State<Arc<ShopState>>,
    Path(token): Path<String>,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<(StatusCode, Json<RequestFace>), Problem> {
    let opened = open(&state, &token).await?;
    needs_link(&opened)?;
    let body: RequestBody = super::problem::from_object(body)?;
    let (shop, order) = (opened.claims.shop, opened.claims.order);
    let list = state.db.order_requests(shop, order).await?;
    if let Some((_, why)) = refusal(body.kind, &opened, &list) {
        return Err(not_now(why));
    }
    let made = state
        .db
        .create_request(
            shop,
            order,
            NewRequest {
                kind: body.kind,
                address: body.address,
                postcode: body.postcode,
                text: body.text,
            },
            Utc::now(),
        )
        .await
        .map_err(|e| match e {
            parceltrail_shop::Error::Conflict(_) => {
                not_now("a request of this kind is waiting for the shop")
            }
            e => e.into(),
        })?;
    tell_staff(&state, shop, "request.created", &made).await;
    Ok((StatusCode::CREATED, Json(request_face(made))))
}

/// Takes back a request the shop has not decided yet.
#[utoipa::path(post, operation_id = "tracking_page_withdraw_request", path = "/track/{token}/requests/{id}/withdraw", tag = "tracking",
    params(
        ("token" = String, Path, description = "The link's token"),
        ("id" = uuid::Uuid, Path, description = "The request's id"),
    ),
    responses(
        (status = 200, description = "Withdrawn", body = RequestFace),
        (status = 403, description = "A lookup's link", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Not a valid link, or no such request of this order", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The shop has decided it already", body = Problem, content_type = PROBLEM),
        (status = 410, description = "The link expired, or the shop withdrew it", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn withdraw(
    State(state): State<Arc<ShopState>>,
    Path((token, id)): Path<(String, String)>,
) -> Result<Json<RequestFace>, Problem> {
    let opened = open(&state, &token).await?;
    needs_link(&opened)?;
    let id: Uuid = id.parse().map_err(|_| Problem::not_found())?;
    let shop = opened.claims.shop;
    let request = state.db.request(shop, id).await?;
    if request.order_id != opened.claims.order {
        return Err(Problem::not_found());
    }
    let done = decide(&state, shop, id, RequestState::Withdrawn, "customer", None).await?;
    tell_staff(&state, shop, "request.updated", &done).await;
    Ok(Json(request_face(done)))
}

/// A rating of a delivered parcel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeedbackBody {
    /// 1 (poor) to 5 (excellent).
    #[schema(minimum = 1, maximum = 5)]
    rating: u8,
    #[schema(max_length = 1000)]
    comment: Option<String>,
}

/// Rates a delivered parcel (or changes the rating, for a week after it is first given).
#[utoipa::path(put, operation_id = "tracking_page_feedback", path = "/track/{token}/parcels/{id}/feedback", tag = "tracking",
    params(
        ("token" = String, Path, description = "The link's token"),
        ("id" = uuid::Uuid, Path, description = "The parcel's id, as the page has it"),
    ),
    request_body = FeedbackBody,
    responses(
        (status = 200, description = "Kept", body = FeedbackFace),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Not a valid link, or no such parcel of this order", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The parcel is not delivered yet", body = Problem, content_type = PROBLEM),
        (status = 410, description = "The link expired, or the shop withdrew it", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The rating is not 1 to 5, the comment too long, or the week to change it is over", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn feedback(
    State(state): State<Arc<ShopState>>,
    Path((token, id)): Path<(String, String)>,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<FeedbackFace>, Problem> {
    let opened = open(&state, &token).await?;
    let id: ShipmentId = id.parse().map_err(|_| Problem::not_found())?;
    let body: FeedbackBody = super::problem::from_object(body)?;
    let Some((i, shipment)) = opened
        .detail
        .shipments
        .iter()
        .enumerate()
        .find(|(_, s)| s.id == id)
    else {
        return Err(Problem::not_found());
    };
    if shipment.status != Status::Delivered {
        return Err(not_now("the parcel is not delivered yet"));
    }
    let delivered_at = opened.detail.timelines[i]
        .iter()
        .filter(|e| e.status == Status::Delivered)
        .map(|e| e.occurred_at.with_timezone(&Utc))
        .max();
    let shop = opened.claims.shop;
    let kept = state
        .db
        .set_feedback(
            shop,
            FeedbackInput {
                shipment_id: id,
                order_id: opened.claims.order,
                carrier: shipment.carrier.clone(),
                delivered_at,
                rating: body.rating,
                comment: body.comment,
            },
            Utc::now(),
        )
        .await?;
    let data = json!({
        "order_id": kept.order_id, "shipment_id": kept.shipment_id, "carrier": kept.carrier,
        "rating": kept.rating, "comment": kept.comment,
    });
    let event = format!(
        "feedback_{}_{}",
        kept.shipment_id,
        kept.updated_at.timestamp_millis()
    );
    if let Err(e) = state
        .outbound
        .enqueue(shop, &event, "feedback.given", &data)
        .await
    {
        tracing::warn!(shop = %shop, error = %e, "enqueueing the feedback webhook failed");
    }
    Ok(Json(feedback_face(&kept)))
}

// ----- staff -----

/// A step of a request's history, as staff see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct StepBody {
    #[schema(value_type = String)]
    state: RequestState,
    /// `customer`, or the staff member or API key that decided.
    by: String,
    note: Option<String>,
    at: DateTime<Utc>,
}

/// A customer's request, as staff see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RequestStaffBody {
    id: Uuid,
    #[schema(value_type = uuid::Uuid)]
    order_id: OrderId,
    /// `address`, `instructions`, `cancel`.
    #[schema(value_type = String)]
    kind: RequestKind,
    /// `open`, `approved`, `rejected`, `withdrawn`.
    #[schema(value_type = String)]
    state: RequestState,
    address: Option<String>,
    postcode: Option<String>,
    text: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    history: Vec<StepBody>,
}

pub(crate) fn staff_body(r: Request) -> RequestStaffBody {
    RequestStaffBody {
        id: r.id,
        order_id: r.order_id,
        kind: r.kind,
        state: r.state,
        address: r.address,
        postcode: r.postcode,
        text: r.text,
        created_at: r.created_at,
        updated_at: r.updated_at,
        history: r
            .history
            .into_iter()
            .map(|h| StepBody {
                state: h.state,
                by: h.by,
                note: h.note,
                at: h.at,
            })
            .collect(),
    }
}

/// A parcel's feedback, as staff see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct FeedbackBodyOut {
    #[schema(value_type = uuid::Uuid)]
    shipment_id: ShipmentId,
    #[schema(value_type = uuid::Uuid)]
    order_id: OrderId,
    carrier: String,
    delivered_at: Option<DateTime<Utc>>,
    rating: u8,
    comment: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub(crate) fn feedback_body(f: Feedback) -> FeedbackBodyOut {
    FeedbackBodyOut {
        shipment_id: f.shipment_id,
        order_id: f.order_id,
        carrier: f.carrier,
        delivered_at: f.delivered_at,
        rating: f.rating,
        comment: f.comment,
        created_at: f.created_at,
        updated_at: f.updated_at,
    }
}

/// Which requests to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RequestsQuery {
    /// `open` (the default: what waits for a decision), `approved`, `rejected`, `withdrawn`.
    state: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// A page of requests.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestsPage {
    requests: Vec<RequestStaffBody>,
}

/// The shop's customers' requests in one state, oldest first: by default those waiting.
#[utoipa::path(get, operation_id = "list_requests", path = "/requests", tag = "requests",
    security(("api_key" = []), ("session" = [])),
    params(RequestsQuery),
    responses(
        (status = 200, description = "OK", body = RequestsPage),
        (status = 400, description = "A query parameter is unreadable", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Not a state", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<RequestsQuery>, QueryRejection>,
) -> Result<Json<RequestsPage>, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(q) = query.map_err(bad_query)?;
    let wanted = match q.state.as_deref() {
        None => RequestState::Open,
        Some(s) => s.parse().map_err(|_| {
            unprocessable(format!(
                "state {s:?}: use open, approved, rejected or withdrawn"
            ))
        })?,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let found = state.db.requests_in(caller.shop_id, wanted, limit).await?;
    Ok(Json(RequestsPage {
        requests: found.into_iter().map(staff_body).collect(),
    }))
}

/// A decision on a request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    /// `approve` or `reject`.
    #[schema(example = "approve")]
    decision: String,
    /// Words for the customer (they see them on the page and in the email).
    #[schema(max_length = 1000, example = "Done: the courier has your new address")]
    note: Option<String>,
}

/// Approves or rejects a customer's request. An approved address change is written to the
/// order's customer; an approved cancellation cancels the order. The customer is told by
/// email and on the tracking page.
#[utoipa::path(post, operation_id = "decide_request", path = "/requests/{id}/decision", tag = "requests",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The request's id")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Decided", body = RequestStaffBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no request with this id", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Decided or withdrawn already", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Not approve or reject, or the note too long", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn decide_route(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<DecisionBody>,
) -> Result<Json<RequestStaffBody>, Problem> {
    caller.require(|s| s.write, "write")?;
    let id: Uuid = id.parse().map_err(|_| Problem::not_found())?;
    let to = match body.decision.as_str() {
        "approve" => RequestState::Approved,
        "reject" => RequestState::Rejected,
        other => {
            return Err(unprocessable(format!(
                "decision {other:?}: use approve or reject"
            )));
        }
    };
    let shop = caller.shop_id;
    let actor = caller.actor();
    let request = state.db.request(shop, id).await?;
    if request.state != RequestState::Open {
        return Err(
            Problem::new(StatusCode::CONFLICT, "decided", "Already decided")
                .detail(format!("the request is {} already", request.state.as_str())),
        );
    }
    let note = parceltrail_shop::requests::clean_text(
        "note",
        body.note.as_deref(),
        parceltrail_shop::requests::MAX_TEXT,
    )
    .map_err(unprocessable)?;
    // Decided first (the step that can lose a race with the customer's withdrawal), then
    // applied: a withdrawn request never changes the order.
    let done = decide(&state, shop, id, to, &actor, note.as_deref()).await?;
    if to == RequestState::Approved {
        apply(&state, shop, &request, &actor, note.as_deref()).await?;
    }
    tell_customer(&state, shop, &done).await;
    tell_staff(&state, shop, "request.updated", &done).await;
    Ok(Json(staff_body(done)))
}

/// The order's customers' requests, oldest first.
#[utoipa::path(get, operation_id = "order_requests", path = "/orders/{id}/requests", tag = "requests",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, description = "OK", body = RequestsPage),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no order with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn of_order(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RequestsPage>, Problem> {
    caller.require(|s| s.read, "read")?;
    let order: OrderId = id.parse().map_err(|_| Problem::not_found())?;
    // The order must be this shop's: another's answers 404 like a missing one.
    let store = super::orders::store_of(&state, &caller).await?;
    store.read(move |s| s.order(order)).await?;
    let found = state.db.order_requests(caller.shop_id, order).await?;
    Ok(Json(RequestsPage {
        requests: found.into_iter().map(staff_body).collect(),
    }))
}

/// Which feedback to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedbackQuery {
    /// Given or changed at or after this time (RFC 3339; default: 30 days ago).
    since: Option<DateTime<Utc>>,
}

/// A list of feedback.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FeedbackPage {
    feedback: Vec<FeedbackBodyOut>,
}

/// What customers said of their deliveries, oldest first (at most 1,000).
#[utoipa::path(get, operation_id = "list_feedback", path = "/feedback", tag = "requests",
    security(("api_key" = []), ("session" = [])),
    params(FeedbackQuery),
    responses(
        (status = 200, description = "OK", body = FeedbackPage),
        (status = 400, description = "`since` is not an RFC 3339 time", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn list_feedback(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    query: Result<Query<FeedbackQuery>, QueryRejection>,
) -> Result<Json<FeedbackPage>, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(q) = query.map_err(bad_query)?;
    let since = q
        .since
        .unwrap_or_else(|| Utc::now() - chrono::Duration::days(30));
    let found = state.db.feedback_since(caller.shop_id, since).await?;
    Ok(Json(FeedbackPage {
        feedback: found.into_iter().map(feedback_body).collect(),
    }))
}

// ----- doing it -----

async fn decide(
    state: &ShopState,
    shop: ShopId,
    id: Uuid,
    to: RequestState,
    by: &str,
    note: Option<&str>,
) -> Result<Request, Problem> {
    state
        .db
        .decide_request(shop, id, to, by, note, Utc::now())
        .await
        .map_err(|e| match e {
            parceltrail_shop::Error::Conflict(_) => {
                Problem::new(StatusCode::CONFLICT, "decided", "Already decided")
                    .detail("the request was decided or withdrawn meanwhile")
            }
            e => e.into(),
        })
}

/// What an approval changes on the order.
async fn apply(
    state: &ShopState,
    shop: ShopId,
    r: &Request,
    actor: &str,
    note: Option<&str>,
) -> Result<(), Problem> {
    let store = state.stores.get(shop).await?;
    let (order, actor, note) = (r.order_id, actor.to_owned(), note.map(str::to_owned));
    match r.kind {
        RequestKind::Address => {
            let patch = OrderPatch {
                customer_address: Some(r.address.clone()),
                customer_postcode: r.postcode.clone().map(Some),
                ..OrderPatch::default()
            };
            store
                .write(move |s| s.update_order(order, &patch, Utc::now()))
                .await?;
        }
        RequestKind::Cancel => {
            let note = note.unwrap_or_else(|| "cancelled at the customer's request".into());
            store
                .write(move |s| {
                    s.set_order_stage(
                        order,
                        OrderStage::Cancelled,
                        &actor,
                        Some(&note),
                        Utc::now(),
                    )
                })
                .await?;
        }
        // The shop passes them on; the request keeps them.
        RequestKind::Instructions => {}
    }
    Ok(())
}

/// The staff hear of it through the shop's webhooks (the open list shows it too).
async fn tell_staff(state: &ShopState, shop: ShopId, event_type: &str, r: &Request) {
    let data = json!({
        "request_id": r.id, "order_id": r.order_id, "kind": r.kind, "state": r.state,
        "address": r.address, "postcode": r.postcode, "text": r.text,
    });
    let event = format!("{}_{}", r.id, r.history.len());
    if let Err(e) = state
        .outbound
        .enqueue(shop, &event, event_type, &data)
        .await
    {
        tracing::warn!(shop = %shop, error = %e, "enqueueing the request webhook failed");
    }
}

/// The customer hears of a decision by email, through the shop's outbox (once, across
/// restarts and replicas), and on the page.
async fn tell_customer(state: &ShopState, shop: ShopId, r: &Request) {
    if state.channels.email.is_none() {
        return;
    }
    let draft = Draft {
        id: Uuid::now_v7(),
        // One message per step of the request's history.
        dedupe_key: Uuid::new_v5(&r.id, format!("decision {}", r.history.len()).as_bytes()),
        channel: Channel::Email,
        shipment_id: None,
        kind: None,
        title: format!("Your request was {}", r.state.as_str()),
        body: r
            .history
            .last()
            .and_then(|h| h.note.clone())
            .unwrap_or_default(),
        link: format!("{REQUEST_LINK}{}", r.id),
        urgency: parceltrail_core::notify::Urgency::Normal,
        initial: Initial::Pending,
    };
    let queued = match state.stores.get(shop).await {
        Ok(store) => {
            store
                .write(move |s| s.queue_notifications(&[draft], Utc::now()))
                .await
        }
        Err(e) => Err(parceltrail_core::Error::InvalidInput(e.to_string())),
    };
    match queued {
        Ok(()) => state.wake_pipeline(shop),
        Err(e) => {
            tracing::warn!(shop = %shop, error = %e, "queueing the request's decision email failed")
        }
    }
}
