//! Bulk import of orders: a CSV file (the app's import columns plus order and customer
//! columns) or JSON (an array of orders or of `{orderId, trackingNumber, carrier}` rows).
//!
//! Rows of one order number (in one channel) become one order with several parcels. Each
//! row is checked as the orders API checks its fields; a bad row is reported with its line
//! (or JSON Pointer) and reason and the rows around it are kept. Orders are saved with
//! [`OnExisting::Merge`], many to a transaction, so a re-run (after a timeout, say) adds
//! nothing twice and reports every row as `unchanged`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::Utc;
use parceltrail_core::domain::{OrderId, ShipmentId};
use parceltrail_core::import::{self, CsvFile, Fields, OrderRow};
use parceltrail_core::store::{NewOrder, NewShipment, OnExisting, OrderQuery};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::orders::{MAX_SHIPMENTS, store_of};
use super::problem::PROBLEM;
use super::{Problem, ShopState};
use parceltrail_shop::db::ContactChoice;

/// The largest import body (a CSV of some 100,000 rows); larger files are split.
pub const MAX_BODY: usize = 16 << 20;

/// The route, for the body limit.
pub(crate) const PATH: &str = "/api/v1/orders/import";

/// Orders saved in one transaction.
const ORDERS_PER_COMMIT: usize = 250;

/// An import as JSON: a list of rows, or an object holding the list under `orders`. Each row
/// is read on its own: one that is not an order is refused in the report, with its reason,
/// and the rows around it are kept.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only described: the handler reads the body with `import::json_rows`.
enum ImportJson {
    /// Orders, or `{orderId, trackingNumber, carrier}` rows.
    Rows(Vec<serde_json::Value>),
    /// The same list under `orders`.
    Wrapped { orders: Vec<serde_json::Value> },
}

/// What became of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// A new order (its first row), or a new parcel of an order made by this import.
    Created,
    /// A new parcel for an order that was already there.
    Added,
    /// Already there: nothing new (a re-run).
    Unchanged,
    /// Not imported: see `reason`.
    Refused,
}

/// One row's result.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RowResult {
    /// The CSV line the row starts on.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    /// Where the row is in a JSON document (RFC 6901), e.g. `/orders/3/shipments/1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<String>,
    outcome: Outcome,
    order_number: Option<String>,
    /// As stored (normalised); as given on a refused row.
    tracking_number: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>)]
    order_id: Option<OrderId>,
    #[schema(value_type = Option<uuid::Uuid>)]
    shipment_id: Option<ShipmentId>,
    /// Why the row was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ImportReport {
    /// Data rows read.
    rows: usize,
    /// Orders made.
    orders_created: usize,
    /// Parcels newly tracked.
    shipments_added: usize,
    /// Rows with nothing new.
    unchanged: usize,
    /// Rows not imported.
    refused: usize,
    /// Every row, in the file's order.
    results: Vec<RowResult>,
}

/// Where a row is.
enum At {
    Line(u64),
    Pointer(String),
}

/// A row read from the body: where it is, and its values or why they cannot be read.
type Row = (At, Result<Fields, String>);

/// What saving came to: the orders saved, and the rows refused with their reasons.
type Outcomes = (Vec<(Group, Saved)>, Vec<(usize, String)>);

/// One order of the file and the rows that make it.
struct Group {
    new: NewOrder,
    /// The customer's language and zone, from the first row to give them.
    contact: Option<ContactChoice>,
    /// Indexes into the results, with the row's tracking number.
    rows: Vec<(usize, Option<String>)>,
}

/// Imports orders with their customers and parcels from CSV or JSON; every row's result.
#[utoipa::path(post, operation_id = "import_orders", path = "/orders/import", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry safely: a repeat with the same key returns the first answer")),
    request_body(
        description = "CSV (`text/csv`) with a header row: `order_number` (or `order`, `order_id`), `tracking_number`, `carrier`, `channel`, `placed_at`, `promised_at`, `items`, `notes`, `stage`, `customer_name`, `customer_email` (or `email`), `customer_phone` (`phone`), `customer_postcode` (`postcode`, `zip`), `customer_address` (`address`), `customer_language` (`language`: a tag such as `de-AT`), `customer_time_zone` (`time_zone`: an IANA name), and the app's import columns. Or JSON (`application/json`): an array of orders shaped as for POST /orders, or of rows such as `{\"orderId\", \"trackingNumber\", \"carrier\"}`, or `{\"orders\": [...]}`. At most 16 MiB.",
        content(
            (String = "text/csv"),
            (ImportJson = "application/json"),
        )),
    responses(
        (status = 200, description = "The file was read: each row's result (refused rows with their reason)", body = ImportReport),
        (status = 400, description = "An unusable Idempotency-Key", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 413, description = "The body is larger than 16 MiB", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is neither text/csv nor application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The file cannot be read at all (`detail` says why)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn import(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ImportReport>, Problem> {
    caller.require(|s| s.write, "write")?;
    let body = body.map_err(|e| {
        Problem::new(e.status(), "bad-body", "Unreadable request body").detail(e.body_text())
    })?;
    let rows = rows_of(&headers, &body)?;
    let mut results = Vec::with_capacity(rows.len());
    let mut groups: Vec<Group> = Vec::new();
    let mut by_number: HashMap<(Option<String>, String), usize> = HashMap::new();
    for (at, fields) in rows {
        let (line, pointer) = match at {
            At::Line(l) => (Some(l), None),
            At::Pointer(p) => (None, Some(p)),
        };
        // As given, until the row is read: a refused row still says which it is.
        let given = |f: Option<&str>| f.map(|v| v.chars().take(200).collect::<String>());
        let (order_number, tracking_number) = match &fields {
            Ok(f) => (given(f.order_number()), given(f.tracking_number())),
            Err(_) => (None, None),
        };
        let parsed = fields.and_then(|f| import::order_row(&f));
        let row = results.len();
        results.push(RowResult {
            line,
            pointer,
            outcome: Outcome::Refused,
            order_number,
            tracking_number,
            order_id: None,
            shipment_id: None,
            reason: None,
        });
        match parsed {
            Err(reason) => results[row].reason = Some(reason),
            Ok(r) => {
                results[row].order_number = r.info.order_number.clone();
                let contact = match super::orders::contact_of(
                    r.language.as_deref(),
                    r.time_zone.as_deref(),
                    ("customer_language", "customer_time_zone"),
                ) {
                    Ok(c) => c,
                    Err(e) => {
                        results[row].reason = e.detail;
                        continue;
                    }
                };
                results[row].tracking_number =
                    r.shipment.as_ref().map(|s| s.tracking_number.clone());
                let key = (
                    r.info.store.clone(),
                    r.info.order_number.clone().unwrap_or_default(),
                );
                let g = *by_number.entry(key).or_insert_with(|| {
                    groups.push(Group {
                        new: NewOrder {
                            id: OrderId::new(),
                            actor: caller.actor(),
                            ..NewOrder::default()
                        },
                        rows: Vec::new(),
                        contact: None,
                    });
                    groups.len() - 1
                });
                if let Err(reason) = join(&mut groups[g], row, r) {
                    results[row].reason = Some(reason);
                } else if groups[g].contact.is_none() {
                    groups[g].contact = contact;
                }
            }
        }
    }

    let store = store_of(&state, &caller).await?;
    let mut queue = groups;
    while !queue.is_empty() {
        let rest = queue.split_off(queue.len().min(ORDERS_PER_COMMIT));
        let chunk = std::mem::replace(&mut queue, rest);
        let (done, refused) = store.write(move |s| save(s, chunk)).await?;
        for (g, saved) in done {
            if let Some(c) = g.contact {
                state
                    .db
                    .set_contact_choice(caller.shop_id, saved.order, c, chrono::Utc::now())
                    .await?;
            }
            for (row, number) in &g.rows {
                let r = &mut results[*row];
                r.order_id = Some(saved.order);
                match number.as_ref().and_then(|n| saved.shipments.get(n)) {
                    Some((id, created)) => {
                        r.shipment_id = Some(*id);
                        r.outcome = match (*created, saved.created) {
                            (true, true) => Outcome::Created,
                            (true, false) => Outcome::Added,
                            (false, _) => Outcome::Unchanged,
                        };
                    }
                    None => {
                        r.outcome = if saved.created {
                            Outcome::Created
                        } else {
                            Outcome::Unchanged
                        };
                    }
                }
            }
        }
        for (row, reason) in refused {
            results[row].reason = Some(reason);
        }
    }
    // A new order or parcel is counted on its first row; its other rows add nothing.
    let mut orders = std::collections::HashSet::new();
    let mut parcels = std::collections::HashSet::new();
    for r in &mut results {
        if matches!(r.outcome, Outcome::Created | Outcome::Added) {
            let first = match r.shipment_id {
                Some(id) => parcels.insert(id),
                None => !orders.contains(&r.order_id),
            };
            if !first {
                r.outcome = Outcome::Unchanged;
            }
        }
        if r.outcome == Outcome::Created {
            orders.insert(r.order_id);
        }
    }
    let count = |o| results.iter().filter(|r| r.outcome == o).count();
    let report = ImportReport {
        rows: results.len(),
        orders_created: orders.len(),
        shipments_added: results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Created | Outcome::Added))
            .filter(|r| r.shipment_id.is_some())
            .count(),
        unchanged: count(Outcome::Unchanged),
        refused: count(Outcome::Refused),
        results,
    };
    Ok(Json(report))
}

/// The body's rows, by its content type.
fn rows_of(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Row>, Problem> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let unreadable = |detail: String| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-file",
            "The file cannot be imported",
        )
        .detail(detail)
    };
    match kind.as_str() {
        "text/csv" | "application/csv" => {
            let file = CsvFile::read(body).map_err(|e| unreadable(e.to_string()))?;
            if !file.has_order_numbers() {
                return Err(unreadable(format!(
                    "no order-number column: name one of the columns \"order_number\" (found: {})",
                    file.header_names()
                )));
            }
            let mut out = Vec::new();
            file.rows(&mut |row| {
                out.push((At::Line(row.line), row.fields));
                Ok(())
            })
            .map_err(|e| unreadable(e.to_string()))?;
            Ok(out)
        }
        "application/json" => {
            let doc: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| unreadable(format!("the body is not JSON: {e}")))?;
            let rows = import::json_rows(&doc).map_err(unreadable)?;
            Ok(rows
                .into_iter()
                .map(|r| (At::Pointer(r.pointer), r.fields))
                .collect())
        }
        _ => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "media-type",
            "Unsupported media type",
        )
        .detail("send the file as text/csv or application/json")),
    }
}

/// Add a row to its order: order fields it lacks are filled in (the first row to give one
/// wins), its parcel added, or merged with the same number's earlier row (its events).
fn join(g: &mut Group, row: usize, r: OrderRow) -> Result<(), String> {
    let OrderRow {
        info,
        customer,
        stage,
        shipment,
        ..
    } = r;
    let number = shipment.as_ref().map(|s| s.tracking_number.clone());
    if let Some(s) = shipment {
        let parcels = g.new.shipments.len();
        match g
            .new
            .shipments
            .iter_mut()
            .find(|o| o.tracking_number == s.tracking_number)
        {
            Some(same) => same.events.extend(s.events),
            None if parcels >= MAX_SHIPMENTS => {
                return Err(format!(
                    "order {} has more than {MAX_SHIPMENTS} parcels; an order has at most {MAX_SHIPMENTS}",
                    info.order_number.unwrap_or_default()
                ));
            }
            None => g.new.shipments.push(NewShipment {
                order: Default::default(),
                ..s
            }),
        }
    }
    let o = &mut g.new.info;
    fill(&mut o.store, info.store);
    fill(&mut o.order_number, info.order_number);
    fill(&mut o.items, info.items);
    fill(&mut o.placed_at, info.placed_at);
    fill(&mut o.notes, info.notes);
    fill(&mut o.promised_at, info.promised_at);
    let c = &mut g.new.customer;
    fill(&mut c.name, customer.name);
    fill(&mut c.email, customer.email);
    fill(&mut c.phone, customer.phone);
    fill(&mut c.postcode, customer.postcode);
    fill(&mut c.address, customer.address);
    if let Some(stage) = stage
        && g.rows.is_empty()
    {
        g.new.stage = stage;
    }
    g.rows.push((row, number));
    Ok(())
}

fn fill<T>(slot: &mut Option<T>, v: Option<T>) {
    if slot.is_none() {
        *slot = v;
    }
}

/// A saved order, as the rows need it.
struct Saved {
    order: OrderId,
    created: bool,
    /// By tracking number: the parcel's id and whether it is new.
    shipments: HashMap<String, (ShipmentId, bool)>,
}

/// Save orders, many to a transaction. An order refused because one of its numbers is
/// another order's is saved again without that row; one refused otherwise is refused with
/// all its rows.
fn save(
    s: &mut dyn parceltrail_core::store::Store,
    mut pending: Vec<Group>,
) -> parceltrail_core::Result<Outcomes> {
    // A row that names no channel belongs to the one order with its number, if there is
    // one (`[{orderId, trackingNumber}]` rows name none).
    for g in &mut pending {
        if g.new.info.store.is_none()
            && let Some(number) = &g.new.info.order_number
        {
            let found = s.orders(&OrderQuery {
                order_number: Some(number.clone()),
                limit: 2,
                ..OrderQuery::default()
            })?;
            if let [one] = found.as_slice() {
                g.new.info.store = one.store.clone();
            }
        }
    }
    let mut done = Vec::with_capacity(pending.len());
    let mut refused = Vec::new();
    while !pending.is_empty() {
        let orders: Vec<NewOrder> = pending.iter().map(|g| g.new.clone()).collect();
        let outcomes = s.save_orders(&orders, OnExisting::Merge, Utc::now())?;
        let mut again = Vec::new();
        for (mut g, outcome) in pending.into_iter().zip(outcomes) {
            match outcome {
                Ok(saved) => {
                    let shipments = saved
                        .shipments
                        .iter()
                        .map(|a| {
                            (
                                a.shipment.tracking_number.clone(),
                                (a.shipment.id, a.created),
                            )
                        })
                        .collect();
                    done.push((
                        g,
                        Saved {
                            order: saved.order.id,
                            created: saved.created,
                            shipments,
                        },
                    ));
                }
                Err(e) => {
                    // A number another order has: that row is refused, the rest saved again.
                    let taken = match &e {
                        parceltrail_core::Error::NumberTaken {
                            tracking_number, ..
                        } => Some(tracking_number.clone()),
                        _ => None,
                    };
                    let (out, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut g.rows)
                        .into_iter()
                        .partition(|(_, n)| taken.is_none() || *n == taken);
                    let all = keep.is_empty() || out.is_empty();
                    for (row, _) in out
                        .into_iter()
                        .chain(if all { keep.clone() } else { vec![] })
                    {
                        refused.push((row, e.to_string()));
                    }
                    if !all {
                        g.new
                            .shipments
                            .retain(|sh| Some(&sh.tracking_number) != taken.as_ref());
                        g.rows = keep;
                        again.push(g);
                    }
                }
            }
        }
        pending = again;
    }
    Ok((done, refused))
}
