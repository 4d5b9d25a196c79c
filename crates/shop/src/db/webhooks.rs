//! Webhooks out on both backends: endpoints, deliveries and their attempts
//! (`crate::webhooks` has the records and the rules).
//!
//! Claiming is one statement under the database's write lock: SQLite's `BEGIN IMMEDIATE`,
//! PostgreSQL's row locks with `FOR UPDATE SKIP LOCKED`, so two claimers never get the same
//! delivery and neither waits for the other. A claim sets the delivery's `next_attempt_at` to
//! the end of its lease: work whose claimer died falls due again then, by the same rule as
//! any due delivery.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params, params_from_iter};
use uuid::Uuid;

use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Backend, Db, trunc};
use crate::webhooks::{
    self, Attempt, Claimed, Delivery, DeliveryId, DeliveryPage, DeliveryState, Endpoint,
    EndpointId, EndpointPatch, Lease, NewEndpoint, Outcome, Recorded,
};
use crate::{Error, Result, ShopId};

use crate::webhooks::{MAX_ENDPOINTS, MAX_PAYLOAD};

const DISABLED_BY_CALLER: &str = "disabled through the API";

/// An endpoint's row, whatever the backend.
struct EndpointRow {
    id: EndpointId,
    shop_id: ShopId,
    url: String,
    description: String,
    event_types: String,
    enabled: bool,
    disabled_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EndpointRow> for Endpoint {
    fn from(r: EndpointRow) -> Self {
        Endpoint {
            id: r.id,
            shop_id: r.shop_id,
            url: r.url,
            description: r.description,
            event_types: webhooks::split_types(&r.event_types),
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// An endpoint with a patch applied, checked.
struct Patched {
    url: String,
    description: String,
    event_types: String,
    enabled: bool,
    disabled_reason: Option<String>,
}

fn apply(current: &Endpoint, p: &EndpointPatch) -> Patched {
    let enabled = p.enabled.unwrap_or(current.enabled);
    Patched {
        url: p.url.clone().unwrap_or_else(|| current.url.clone()),
        description: p
            .description
            .clone()
            .unwrap_or_else(|| current.description.clone()),
        event_types: webhooks::join_types(p.event_types.as_ref().unwrap_or(&current.event_types)),
        enabled,
        disabled_reason: match (current.enabled, enabled) {
            (_, true) => None,
            (true, false) => Some(DISABLED_BY_CALLER.to_owned()),
            (false, false) => current.disabled_reason.clone(),
        },
    }
}

/// The outcome's new state and next attempt.
fn next_state(lease: &Lease, o: &Outcome, now: DateTime<Utc>) -> (DeliveryState, Recorded) {
    if o.delivered {
        return (DeliveryState::Delivered, Recorded::Delivered);
    }
    match webhooks::next_attempt(lease.attempt, now) {
        Some(at) => (DeliveryState::Pending, Recorded::Retry(trunc(at))),
        None => (DeliveryState::Failed, Recorded::Failed),
    }
}

/// Keeps each delivery's newest attempts (given newest first).
fn attach(deliveries: &mut [Delivery], attempts: Vec<(DeliveryId, Attempt)>) {
    for (id, a) in attempts {
        if let Some(d) = deliveries.iter_mut().find(|d| d.id == id)
            && d.attempt_log.len() < webhooks::MAX_ATTEMPTS_LISTED
        {
            d.attempt_log.push(a);
        }
    }
}

impl Db {
    /// Makes an endpoint. `id` is the caller's (it seals the secret for that id before);
    /// the URL's shape, the description and the filter are checked here.
    pub async fn create_endpoint(
        &self,
        shop: ShopId,
        id: EndpointId,
        new: NewEndpoint,
        secret_sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Endpoint> {
        let row = EndpointRow {
            id,
            shop_id: shop,
            url: webhooks::check_url(&new.url)?,
            description: webhooks::check_description(&new.description)?,
            event_types: webhooks::join_types(&webhooks::check_types(&new.event_types)?),
            enabled: new.enabled,
            disabled_reason: (!new.enabled).then(|| DISABLED_BY_CALLER.to_owned()),
            created_at: trunc(now),
            updated_at: trunc(now),
        };
        each!(self, db => db.create_endpoint(row, secret_sealed).await)
    }

    /// The shop's endpoints, oldest first.
    pub async fn endpoints(&self, shop: ShopId) -> Result<Vec<Endpoint>> {
        each!(self, db => db.endpoints(shop).await)
    }

    /// One of the shop's endpoints.
    pub async fn endpoint(&self, shop: ShopId, id: EndpointId) -> Result<Endpoint> {
        each!(self, db => db.endpoint(shop, id).await)?.ok_or(Error::NotFound)
    }

    /// Changes an endpoint. Disabling it records why; its pending deliveries wait, and are
    /// sent if it is enabled again while they are due.
    pub async fn update_endpoint(
        &self,
        shop: ShopId,
        id: EndpointId,
        mut patch: EndpointPatch,
        now: DateTime<Utc>,
    ) -> Result<Endpoint> {
        if let Some(u) = &patch.url {
            patch.url = Some(webhooks::check_url(u)?);
        }
        if let Some(d) = &patch.description {
            patch.description = Some(webhooks::check_description(d)?);
        }
        if let Some(t) = &patch.event_types {
            patch.event_types = Some(webhooks::check_types(t)?);
        }
        each!(self, db => db.update_endpoint(shop, id, patch, trunc(now)).await)
    }

    /// Replaces an endpoint's sealed secret (a rotation).
    pub async fn rotate_endpoint_secret(
        &self,
        shop: ShopId,
        id: EndpointId,
        secret_sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Endpoint> {
        each!(self, db => db.rotate_endpoint_secret(shop, id, secret_sealed, trunc(now)).await)
    }

    /// Deletes an endpoint with its deliveries and their attempts.
    pub async fn delete_endpoint(&self, shop: ShopId, id: EndpointId) -> Result<()> {
        each!(self, db => db.delete_endpoint(shop, id).await)
    }

    /// Enqueues an event for each of the shop's enabled endpoints whose filter takes its
    /// type, due now; how many deliveries are new. The same event again (from another
    /// replica, or a retried pump) adds nothing.
    pub async fn enqueue(
        &self,
        shop: ShopId,
        event_id: &str,
        event_type: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let e = check_event(event_id, event_type, payload)?;
        Ok(each!(self, db => db.enqueue(shop, None, e, trunc(now)).await)?.len())
    }

    /// Enqueues an event for one endpoint of the shop, whatever its filter (a test event);
    /// the new delivery, or `None` when it already has this event. A disabled endpoint is
    /// refused.
    pub async fn enqueue_to(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        event_id: &str,
        event_type: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DeliveryId>> {
        let e = check_event(event_id, event_type, payload)?;
        Ok(each!(self, db => db.enqueue(shop, Some(endpoint), e, trunc(now)).await)?.pop())
    }

    /// Claims up to `limit` due deliveries of any shop until `lease_until` (oldest due
    /// first). A delivery is due while pending and its time has come, or while delivering
    /// and its lease has run out. No two claims get the same delivery.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Claimed>> {
        let limit = limit.clamp(1, 1000) as i64;
        each!(self, db => db.claim_due(trunc(now), trunc(lease_until), limit).await)
    }

    /// Records how a claimed attempt went: delivered, retried on the schedule, or failed
    /// after the last. Refused (`Recorded::Stale`, nothing written) when the lease is no
    /// longer the claimer's.
    pub async fn record_attempt(
        &self,
        lease: Lease,
        mut outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<Recorded> {
        outcome.error = webhooks::clip_error(outcome.error);
        each!(self, db => db.record_attempt(lease, outcome, trunc(now)).await)
    }

    /// An endpoint's deliveries, newest first, with their newest attempts: up to `limit`
    /// (at most [`webhooks::MAX_PAGE`]) older than `before`.
    pub async fn deliveries(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<DeliveryPage> {
        let limit = limit.clamp(1, webhooks::MAX_PAGE);
        each!(self, db => db.deliveries(shop, endpoint, before, limit).await)
    }

    /// One delivery of one of the shop's endpoints.
    pub async fn delivery(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        id: DeliveryId,
    ) -> Result<Delivery> {
        each!(self, db => db.delivery(shop, endpoint, id).await)?.ok_or(Error::NotFound)
    }

    /// Sends a delivery again: pending now, a new series of attempts (its attempt log keeps
    /// the old ones). A claimer still sending it will have its outcome refused.
    pub async fn replay(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Delivery> {
        each!(self, db => db.replay(shop, endpoint, id, trunc(now)).await)?;
        self.delivery(shop, endpoint, id).await
    }

    /// When the next delivery falls due (of enabled endpoints), if any is waiting.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        each!(self, db => db.next_due().await)
    }

    /// Deliveries pending or being sent, of every shop.
    pub async fn queue_depth(&self) -> Result<u64> {
        each!(self, db => db.queue_depth().await)
    }

    /// Deletes delivered and failed deliveries whose last attempt is older than
    /// [`webhooks::RETENTION`]; how many.
    pub async fn prune_deliveries(&self, now: DateTime<Utc>) -> Result<u64> {
        each!(self, db => db.prune_deliveries(trunc(now - webhooks::RETENTION)).await)
    }
}

/// An event to enqueue, checked.
struct NewEvent {
    id: String,
    event_type: String,
    payload: String,
}

fn check_event(id: &str, event_type: &str, payload: &str) -> Result<NewEvent> {
    webhooks::check_event_id(id)?;
    webhooks::check_type(event_type)?;
    if payload.len() > MAX_PAYLOAD {
        return Err(Error::invalid(
            "payload",
            format!("use at most {MAX_PAYLOAD} bytes"),
        ));
    }
    Ok(NewEvent {
        id: id.to_owned(),
        event_type: event_type.to_owned(),
        payload: payload.to_owned(),
    })
}

// ---- SQLite -------------------------------------------------------------------------------

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

const ENDPOINT: &str = "SELECT id, shop_id, url, description, event_types, enabled, disabled_reason, created_at, updated_at FROM webhook_endpoints";

fn sq_endpoint(r: &Row<'_>) -> rusqlite::Result<Endpoint> {
    Ok(EndpointRow {
        id: EndpointId(r.get(0)?),
        shop_id: ShopId(r.get(1)?),
        url: r.get(2)?,
        description: r.get(3)?,
        event_types: r.get(4)?,
        enabled: r.get(5)?,
        disabled_reason: r.get(6)?,
        created_at: time(r.get(7)?),
        updated_at: time(r.get(8)?),
    }
    .into())
}

const DELIVERY: &str = "SELECT id, endpoint_id, event_id, event_type, payload, state, attempts, next_attempt_at, last_error, last_status, last_attempt_at, created_at, delivered_at FROM webhook_deliveries";

fn sq_delivery(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: DeliveryId(r.get(0)?),
        endpoint_id: EndpointId(r.get(1)?),
        event_id: r.get(2)?,
        event_type: r.get(3)?,
        payload: r.get(4)?,
        state: r
            .get::<_, String>(5)?
            .parse()
            .unwrap_or(DeliveryState::Failed),
        attempts: r.get(6)?,
        next_attempt_at: r.get::<_, Option<i64>>(7)?.map(time),
        last_error: r.get(8)?,
        last_status: r.get(9)?,
        last_attempt_at: r.get::<_, Option<i64>>(10)?.map(time),
        created_at: time(r.get(11)?),
        delivered_at: r.get::<_, Option<i64>>(12)?.map(time),
        attempt_log: Vec::new(),
    })
}

fn sq_attempts(c: &rusqlite::Connection, deliveries: &mut [Delivery]) -> Result<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; deliveries.len()].join(", ");
    let mut st = c.prepare(&format!(
        "SELECT delivery_id, at, status, error, duration_ms FROM webhook_attempts WHERE delivery_id IN ({marks}) ORDER BY id DESC"
    ))?;
    let rows = st
        .query_map(params_from_iter(deliveries.iter().map(|d| d.id.0)), |r| {
            Ok((
                DeliveryId(r.get(0)?),
                Attempt {
                    at: time(r.get(1)?),
                    status: r.get(2)?,
                    error: r.get(3)?,
                    duration_ms: r.get(4)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    attach(deliveries, rows);
    Ok(())
}

fn sq_endpoint_exists(c: &rusqlite::Connection, shop: ShopId, id: EndpointId) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ?1 AND shop_id = ?2)",
        params![id.0, shop.0],
        |r| r.get(0),
    )?)
}

impl SqliteDb {
    async fn create_endpoint(&self, e: EndpointRow, sealed: Vec<u8>) -> Result<Endpoint> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM shops WHERE id = ?1)",
                [e.shop_id.0],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(Error::NotFound);
            }
            let n: i64 = tx.query_row(
                "SELECT count(*) FROM webhook_endpoints WHERE shop_id = ?1",
                [e.shop_id.0],
                |r| r.get(0),
            )?;
            if n >= MAX_ENDPOINTS {
                return Err(too_many_endpoints());
            }
            tx.execute(
                "INSERT INTO webhook_endpoints (id, shop_id, url, description, event_types, enabled, secret_sealed, created_at, updated_at, disabled_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
                params![e.id.0, e.shop_id.0, e.url, e.description, e.event_types, e.enabled, sealed, ms(e.created_at), e.disabled_reason],
            )?;
            let out = tx.query_row(&format!("{ENDPOINT} WHERE id = ?1"), [e.id.0], sq_endpoint)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn endpoints(&self, shop: ShopId) -> Result<Vec<Endpoint>> {
        self.run(move |c| {
            let mut st = c.prepare(&format!("{ENDPOINT} WHERE shop_id = ?1 ORDER BY id"))?;
            let rows = st
                .query_map([shop.0], sq_endpoint)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn endpoint(&self, shop: ShopId, id: EndpointId) -> Result<Option<Endpoint>> {
        self.run(move |c| {
            Ok(c.query_row(
                &format!("{ENDPOINT} WHERE id = ?1 AND shop_id = ?2"),
                params![id.0, shop.0],
                sq_endpoint,
            )
            .optional()?)
        })
        .await
    }

    async fn update_endpoint(
        &self,
        shop: ShopId,
        id: EndpointId,
        patch: EndpointPatch,
        now: DateTime<Utc>,
    ) -> Result<Endpoint> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current = tx
                .query_row(
                    &format!("{ENDPOINT} WHERE id = ?1 AND shop_id = ?2"),
                    params![id.0, shop.0],
                    sq_endpoint,
                )
                .optional()?
                .ok_or(Error::NotFound)?;
            let p = apply(&current, &patch);
            tx.execute(
                "UPDATE webhook_endpoints SET url = ?3, description = ?4, event_types = ?5, enabled = ?6, disabled_reason = ?7, updated_at = ?8 WHERE id = ?1 AND shop_id = ?2",
                params![id.0, shop.0, p.url, p.description, p.event_types, p.enabled, p.disabled_reason, ms(now)],
            )?;
            let out = tx.query_row(&format!("{ENDPOINT} WHERE id = ?1"), [id.0], sq_endpoint)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn rotate_endpoint_secret(
        &self,
        shop: ShopId,
        id: EndpointId,
        sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Endpoint> {
        self.run(move |c| {
            c.execute(
                "UPDATE webhook_endpoints SET secret_sealed = ?3, updated_at = ?4 WHERE id = ?1 AND shop_id = ?2",
                params![id.0, shop.0, sealed, ms(now)],
            )?;
            c.query_row(
                &format!("{ENDPOINT} WHERE id = ?1 AND shop_id = ?2"),
                params![id.0, shop.0],
                sq_endpoint,
            )
            .optional()?
            .ok_or(Error::NotFound)
        })
        .await
    }

    async fn delete_endpoint(&self, shop: ShopId, id: EndpointId) -> Result<()> {
        self.run(move |c| {
            let n = c.execute(
                "DELETE FROM webhook_endpoints WHERE id = ?1 AND shop_id = ?2",
                params![id.0, shop.0],
            )?;
            if n == 0 {
                return Err(Error::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn enqueue(
        &self,
        shop: ShopId,
        only: Option<EndpointId>,
        e: NewEvent,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryId>> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let targets: Vec<EndpointId> = match only {
                Some(id) => {
                    let ep = tx
                        .query_row(
                            &format!("{ENDPOINT} WHERE id = ?1 AND shop_id = ?2"),
                            params![id.0, shop.0],
                            sq_endpoint,
                        )
                        .optional()?
                        .ok_or(Error::NotFound)?;
                    if !ep.enabled {
                        return Err(disabled());
                    }
                    vec![ep.id]
                }
                None => {
                    let mut st = tx.prepare(&format!(
                        "{ENDPOINT} WHERE shop_id = ?1 AND enabled ORDER BY id"
                    ))?;
                    st.query_map([shop.0], sq_endpoint)?
                        .collect::<rusqlite::Result<Vec<_>>>()?
                        .into_iter()
                        .filter(|ep| ep.wants(&e.event_type))
                        .map(|ep| ep.id)
                        .collect()
                }
            };
            let mut added = Vec::new();
            for endpoint in targets {
                let id = DeliveryId::new();
                let n = tx.execute(
                    "INSERT INTO webhook_deliveries (id, shop_id, endpoint_id, event_id, event_type, payload, state, attempts, next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7) ON CONFLICT (endpoint_id, event_id) DO NOTHING",
                    params![id.0, shop.0, endpoint.0, e.id, e.event_type, e.payload, ms(now)],
                )?;
                if n == 1 {
                    added.push(id);
                }
            }
            tx.commit()?;
            Ok(added)
        })
        .await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Claimed>> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let token = Uuid::now_v7();
            let rows = {
                let mut st = tx.prepare(
                    "UPDATE webhook_deliveries SET state = 'delivering', attempts = attempts + 1, lease_token = ?1, lease_until = ?2, next_attempt_at = ?2
                     WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                                  WHERE d.state IN ('pending', 'delivering') AND d.next_attempt_at <= ?3 AND e.enabled
                                  ORDER BY d.next_attempt_at, d.id LIMIT ?4)
                     RETURNING id, shop_id, endpoint_id, event_id, event_type, payload, attempts",
                )?;
                st.query_map(params![token, ms(lease_until), ms(now), limit], |r| {
                    Ok(Claimed {
                        lease: Lease {
                            delivery_id: DeliveryId(r.get(0)?),
                            token,
                            attempt: r.get(6)?,
                        },
                        shop_id: ShopId(r.get(1)?),
                        endpoint_id: EndpointId(r.get(2)?),
                        url: String::new(),
                        secret_sealed: Vec::new(),
                        event_id: r.get(3)?,
                        event_type: r.get(4)?,
                        payload: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?
            };
            let mut out = Vec::with_capacity(rows.len());
            {
                let mut st = tx.prepare(
                    "SELECT url, secret_sealed FROM webhook_endpoints WHERE id = ?1",
                )?;
                for mut claimed in rows {
                    let (url, secret) = st.query_row([claimed.endpoint_id.0], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                    claimed.url = url;
                    claimed.secret_sealed = secret;
                    out.push(claimed);
                }
            }
            out.sort_by_key(|c| c.lease.delivery_id);
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn record_attempt(
        &self,
        lease: Lease,
        o: Outcome,
        now: DateTime<Utc>,
    ) -> Result<Recorded> {
        let (state, recorded) = next_state(&lease, &o, now);
        let next = match recorded {
            Recorded::Retry(at) => Some(ms(at)),
            _ => None,
        };
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE webhook_deliveries SET state = ?3, next_attempt_at = ?4, lease_until = NULL, lease_token = NULL, last_error = ?5, last_status = ?6, last_attempt_at = ?7, delivered_at = CASE WHEN ?3 = 'delivered' THEN ?7 ELSE delivered_at END
                 WHERE id = ?1 AND lease_token = ?2 AND state = 'delivering'",
                params![lease.delivery_id.0, lease.token, state.as_str(), next, o.error, o.status, ms(now)],
            )?;
            if n == 0 {
                return Ok(Recorded::Stale);
            }
            tx.execute(
                "INSERT INTO webhook_attempts (delivery_id, at, status, error, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![lease.delivery_id.0, ms(now), o.status, o.error, o.duration_ms],
            )?;
            tx.commit()?;
            Ok(recorded)
        })
        .await
    }

    async fn deliveries(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<DeliveryPage> {
        self.run(move |c| {
            let tx = c.transaction()?;
            if !sq_endpoint_exists(&tx, shop, endpoint)? {
                return Err(Error::NotFound);
            }
            let mut rows = {
                let mut st = tx.prepare(&format!(
                    "{DELIVERY} WHERE endpoint_id = ?1 AND shop_id = ?2 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
                ))?;
                st.query_map(
                    params![endpoint.0, shop.0, before.map(|b| b.0), limit as i64 + 1],
                    sq_delivery,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?
            };
            let next_cursor = if rows.len() > limit {
                rows.truncate(limit);
                rows.last().map(|d| d.id)
            } else {
                None
            };
            sq_attempts(&tx, &mut rows)?;
            Ok(DeliveryPage {
                deliveries: rows,
                next_cursor,
            })
        })
        .await
    }

    async fn delivery(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        id: DeliveryId,
    ) -> Result<Option<Delivery>> {
        self.run(move |c| {
            let tx = c.transaction()?;
            let Some(d) = tx
                .query_row(
                    &format!("{DELIVERY} WHERE id = ?1 AND endpoint_id = ?2 AND shop_id = ?3"),
                    params![id.0, endpoint.0, shop.0],
                    sq_delivery,
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut one = [d];
            sq_attempts(&tx, &mut one)?;
            let [d] = one;
            Ok(Some(d))
        })
        .await
    }

    async fn replay(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            let n = c.execute(
                "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?4, lease_until = NULL, lease_token = NULL
                 WHERE id = ?1 AND endpoint_id = ?2 AND shop_id = ?3",
                params![id.0, endpoint.0, shop.0, ms(now)],
            )?;
            if n == 0 {
                return Err(Error::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        self.run(|c| {
            let t: Option<i64> = c.query_row(
                "SELECT min(d.next_attempt_at) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.state IN ('pending', 'delivering') AND e.enabled",
                [],
                |r| r.get(0),
            )?;
            Ok(t.map(time))
        })
        .await
    }

    async fn queue_depth(&self) -> Result<u64> {
        self.run(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM webhook_deliveries WHERE state IN ('pending', 'delivering')",
                [],
                |r| r.get(0),
            )?;
            Ok(n.max(0) as u64)
        })
        .await
    }

    async fn prune_deliveries(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        self.run(move |c| {
            let n = c.execute(
                "DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'failed') AND last_attempt_at < ?1",
                [ms(cutoff)],
            )?;
            Ok(n as u64)
        })
        .await
    }
}

fn too_many_endpoints() -> Error {
    Error::invalid(
        "url",
        format!("a shop may have at most {MAX_ENDPOINTS} webhook endpoints: delete one first"),
    )
}

fn disabled() -> Error {
    Error::invalid(
        "enabled",
        "the endpoint is disabled: enable it first (PATCH {\"enabled\": true})",
    )
}

// ---- PostgreSQL ---------------------------------------------------------------------------

fn pg_endpoint(r: &tokio_postgres::Row) -> Endpoint {
    EndpointRow {
        id: EndpointId(r.get(0)),
        shop_id: ShopId(r.get(1)),
        url: r.get(2),
        description: r.get(3),
        event_types: r.get(4),
        enabled: r.get(5),
        disabled_reason: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
    }
    .into()
}

fn pg_delivery(r: &tokio_postgres::Row) -> Delivery {
    Delivery {
        id: DeliveryId(r.get(0)),
        endpoint_id: EndpointId(r.get(1)),
        event_id: r.get(2),
        event_type: r.get(3),
        payload: r.get(4),
        state: r
            .get::<_, String>(5)
            .parse()
            .unwrap_or(DeliveryState::Failed),
        attempts: r.get::<_, i32>(6).max(0) as u32,
        next_attempt_at: r.get(7),
        last_error: r.get(8),
        last_status: r.get::<_, Option<i32>>(9).map(|s| s.clamp(0, 999) as u16),
        last_attempt_at: r.get(10),
        created_at: r.get(11),
        delivered_at: r.get(12),
        attempt_log: Vec::new(),
    }
}

async fn pg_attempts(
    c: &impl deadpool_postgres::GenericClient,
    deliveries: &mut [Delivery],
) -> Result<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id.0).collect();
    let rows = c
        .query(
            "SELECT delivery_id, at, status, error, duration_ms FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY id DESC",
            &[&ids],
        )
        .await?;
    attach(
        deliveries,
        rows.iter()
            .map(|r| {
                (
                    DeliveryId(r.get(0)),
                    Attempt {
                        at: r.get(1),
                        status: r.get::<_, Option<i32>>(2).map(|s| s.clamp(0, 999) as u16),
                        error: r.get(3),
                        duration_ms: r.get(4),
                    },
                )
            })
            .collect(),
    );
    Ok(())
}

impl PgDb {
    async fn create_endpoint(&self, e: EndpointRow, sealed: Vec<u8>) -> Result<Endpoint> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // The shop's row, locked: endpoints made at once for one shop are counted in turn.
        if tx
            .query_opt(
                &tx.prepare_cached("SELECT 1 FROM shops WHERE id = $1 FOR UPDATE")
                    .await?,
                &[&e.shop_id.0],
            )
            .await?
            .is_none()
        {
            return Err(Error::NotFound);
        }
        let n: i64 = tx
            .query_one(
                &tx.prepare_cached("SELECT count(*) FROM webhook_endpoints WHERE shop_id = $1")
                    .await?,
                &[&e.shop_id.0],
            )
            .await?
            .get(0);
        if n >= MAX_ENDPOINTS {
            return Err(too_many_endpoints());
        }
        let row = tx
            .query_one(&tx.prepare_cached("INSERT INTO webhook_endpoints (id, shop_id, url, description, event_types, enabled, secret_sealed, created_at, updated_at, disabled_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
                 RETURNING id, shop_id, url, description, event_types, enabled, disabled_reason, created_at, updated_at").await?,
                &[&e.id.0, &e.shop_id.0, &e.url, &e.description, &e.event_types, &e.enabled, &sealed, &e.created_at, &e.disabled_reason],
            )
            .await?;
        tx.commit().await?;
        Ok(pg_endpoint(&row))
    }

    async fn endpoints(&self, shop: ShopId) -> Result<Vec<Endpoint>> {
        let c = self.pool.get().await?;
        Ok(c.query(
            &c.prepare_cached(&format!("{ENDPOINT} WHERE shop_id = $1 ORDER BY id"))
                .await?,
            &[&shop.0],
        )
        .await?
        .iter()
        .map(pg_endpoint)
        .collect())
    }

    async fn endpoint(&self, shop: ShopId, id: EndpointId) -> Result<Option<Endpoint>> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(
            &c.prepare_cached(&format!("{ENDPOINT} WHERE id = $1 AND shop_id = $2"))
                .await?,
            &[&id.0, &shop.0],
        )
        .await?
        .map(|r| pg_endpoint(&r)))
    }

    async fn update_endpoint(
        &self,
        shop: ShopId,
        id: EndpointId,
        patch: EndpointPatch,
        now: DateTime<Utc>,
    ) -> Result<Endpoint> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let current = tx
            .query_opt(
                &tx.prepare_cached(&format!(
                    "{ENDPOINT} WHERE id = $1 AND shop_id = $2 FOR UPDATE"
                ))
                .await?,
                &[&id.0, &shop.0],
            )
            .await?
            .map(|r| pg_endpoint(&r))
            .ok_or(Error::NotFound)?;
        let p = apply(&current, &patch);
        let row = tx
            .query_one(&tx.prepare_cached("UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, enabled = $6, disabled_reason = $7, updated_at = $8 WHERE id = $1 AND shop_id = $2
                 RETURNING id, shop_id, url, description, event_types, enabled, disabled_reason, created_at, updated_at").await?,
                &[&id.0, &shop.0, &p.url, &p.description, &p.event_types, &p.enabled, &p.disabled_reason, &now],
            )
            .await?;
        tx.commit().await?;
        Ok(pg_endpoint(&row))
    }

    async fn rotate_endpoint_secret(
        &self,
        shop: ShopId,
        id: EndpointId,
        sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Endpoint> {
        let c = self.pool.get().await?;
        c.query_opt(&c.prepare_cached("UPDATE webhook_endpoints SET secret_sealed = $3, updated_at = $4 WHERE id = $1 AND shop_id = $2
             RETURNING id, shop_id, url, description, event_types, enabled, disabled_reason, created_at, updated_at").await?,
            &[&id.0, &shop.0, &sealed, &now],
        )
        .await?
        .map(|r| pg_endpoint(&r))
        .ok_or(Error::NotFound)
    }

    async fn delete_endpoint(&self, shop: ShopId, id: EndpointId) -> Result<()> {
        let c = self.pool.get().await?;
        let n = c
            .execute(
                &c.prepare_cached("DELETE FROM webhook_endpoints WHERE id = $1 AND shop_id = $2")
                    .await?,
                &[&id.0, &shop.0],
            )
            .await?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    async fn enqueue(
        &self,
        shop: ShopId,
        only: Option<EndpointId>,
        e: NewEvent,
        now: DateTime<Utc>,
    ) -> Result<Vec<DeliveryId>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let targets: Vec<EndpointId> = match only {
            Some(id) => {
                let ep = tx
                    .query_opt(
                        &tx.prepare_cached(&format!("{ENDPOINT} WHERE id = $1 AND shop_id = $2"))
                            .await?,
                        &[&id.0, &shop.0],
                    )
                    .await?
                    .map(|r| pg_endpoint(&r))
                    .ok_or(Error::NotFound)?;
                if !ep.enabled {
                    return Err(disabled());
                }
                vec![ep.id]
            }
            None => tx
                .query(
                    &tx.prepare_cached(&format!(
                        "{ENDPOINT} WHERE shop_id = $1 AND enabled ORDER BY id"
                    ))
                    .await?,
                    &[&shop.0],
                )
                .await?
                .iter()
                .map(pg_endpoint)
                .filter(|ep| ep.wants(&e.event_type))
                .map(|ep| ep.id)
                .collect(),
        };
        let mut added = Vec::new();
        for endpoint in targets {
            let id = DeliveryId::new();
            // An endpoint deleted meanwhile takes nothing (no foreign-key error).
            let n = tx
                .execute(&tx.prepare_cached("INSERT INTO webhook_deliveries (id, shop_id, endpoint_id, event_id, event_type, payload, state, attempts, next_attempt_at, created_at)
                     SELECT $1, $2, id, $4, $5, $6, 'pending', 0, $7, $7 FROM webhook_endpoints WHERE id = $3
                     ON CONFLICT (endpoint_id, event_id) DO NOTHING").await?,
                    &[&id.0, &shop.0, &endpoint.0, &e.id, &e.event_type, &e.payload, &now],
                )
                .await?;
            if n == 1 {
                added.push(id);
            }
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Claimed>> {
        let c = self.pool.get().await?;
        let token = Uuid::now_v7();
        // One statement: the due rows are locked as they are picked, and rows another
        // claimer holds are skipped, not waited for.
        let rows = c
            .query(&c.prepare_cached("UPDATE webhook_deliveries d SET state = 'delivering', attempts = d.attempts + 1, lease_token = $1, lease_until = $2, next_attempt_at = $2
                 FROM webhook_endpoints e
                 WHERE e.id = d.endpoint_id AND d.id IN (
                     SELECT d2.id FROM webhook_deliveries d2 JOIN webhook_endpoints e2 ON e2.id = d2.endpoint_id
                     WHERE d2.state IN ('pending', 'delivering') AND d2.next_attempt_at <= $3 AND e2.enabled
                     ORDER BY d2.next_attempt_at, d2.id LIMIT $4
                     FOR UPDATE OF d2 SKIP LOCKED)
                 RETURNING d.id, d.shop_id, d.endpoint_id, d.event_id, d.event_type, d.payload, d.attempts, e.url, e.secret_sealed").await?,
                &[&token, &lease_until, &now, &limit],
            )
            .await?;
        let mut out: Vec<Claimed> = rows
            .iter()
            .map(|r| Claimed {
                lease: Lease {
                    delivery_id: DeliveryId(r.get(0)),
                    token,
                    attempt: r.get::<_, i32>(6).max(0) as u32,
                },
                shop_id: ShopId(r.get(1)),
                endpoint_id: EndpointId(r.get(2)),
                event_id: r.get(3),
                event_type: r.get(4),
                payload: r.get(5),
                url: r.get(7),
                secret_sealed: r.get(8),
            })
            .collect();
        out.sort_by_key(|c| c.lease.delivery_id);
        Ok(out)
    }

    async fn record_attempt(
        &self,
        lease: Lease,
        o: Outcome,
        now: DateTime<Utc>,
    ) -> Result<Recorded> {
        let (state, recorded) = next_state(&lease, &o, now);
        let next = match recorded {
            Recorded::Retry(at) => Some(at),
            _ => None,
        };
        let status = o.status.map(i32::from);
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(&tx.prepare_cached("UPDATE webhook_deliveries SET state = $3, next_attempt_at = $4, lease_until = NULL, lease_token = NULL, last_error = $5, last_status = $6, last_attempt_at = $7, delivered_at = CASE WHEN $3 = 'delivered' THEN $7 ELSE delivered_at END
                 WHERE id = $1 AND lease_token = $2 AND state = 'delivering'").await?,
                &[&lease.delivery_id.0, &lease.token, &state.as_str(), &next, &o.error, &status, &now],
            )
            .await?;
        if n == 0 {
            return Ok(Recorded::Stale);
        }
        tx.execute(&tx.prepare_cached("INSERT INTO webhook_attempts (delivery_id, at, status, error, duration_ms) VALUES ($1, $2, $3, $4, $5)").await?,
            &[&lease.delivery_id.0, &now, &status, &o.error, &o.duration_ms],
        )
        .await?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn deliveries(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<DeliveryPage> {
        let mut c = self.pool.get().await?;
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        if tx
            .query_opt(
                &tx.prepare_cached(
                    "SELECT 1 FROM webhook_endpoints WHERE id = $1 AND shop_id = $2",
                )
                .await?,
                &[&endpoint.0, &shop.0],
            )
            .await?
            .is_none()
        {
            return Err(Error::NotFound);
        }
        let before = before.map(|b| b.0);
        let mut rows: Vec<Delivery> = tx
            .query(&tx.prepare_cached(&format!(
                    "{DELIVERY} WHERE endpoint_id = $1 AND shop_id = $2 AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
                )).await?,
                &[&endpoint.0, &shop.0, &before, &(limit as i64 + 1)],
            )
            .await?
            .iter()
            .map(pg_delivery)
            .collect();
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|d| d.id)
        } else {
            None
        };
        pg_attempts(&tx, &mut rows).await?;
        tx.commit().await?;
        Ok(DeliveryPage {
            deliveries: rows,
            next_cursor,
        })
    }

    async fn delivery(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        id: DeliveryId,
    ) -> Result<Option<Delivery>> {
        let c = self.pool.get().await?;
        let Some(row) = c
            .query_opt(
                &c.prepare_cached(&format!(
                    "{DELIVERY} WHERE id = $1 AND endpoint_id = $2 AND shop_id = $3"
                ))
                .await?,
                &[&id.0, &endpoint.0, &shop.0],
            )
            .await?
        else {
            return Ok(None);
        };
        let mut one = [pg_delivery(&row)];
        pg_attempts(&c, &mut one).await?;
        let [d] = one;
        Ok(Some(d))
    }

    async fn replay(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        let n = c
            .execute(&c.prepare_cached("UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $4, lease_until = NULL, lease_token = NULL
                 WHERE id = $1 AND endpoint_id = $2 AND shop_id = $3").await?,
                &[&id.0, &endpoint.0, &shop.0, &now],
            )
            .await?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let c = self.pool.get().await?;
        Ok(c.query_one(&c.prepare_cached("SELECT min(d.next_attempt_at) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.state IN ('pending', 'delivering') AND e.enabled").await?,
            &[],
        )
        .await?
        .get(0))
    }

    async fn queue_depth(&self) -> Result<u64> {
        let c = self.pool.get().await?;
        let n: i64 = c
            .query_one(&c.prepare_cached("SELECT count(*) FROM webhook_deliveries WHERE state IN ('pending', 'delivering')").await?,
                &[],
            )
            .await?
            .get(0);
        Ok(n.max(0) as u64)
    }

    async fn prune_deliveries(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute(&c.prepare_cached("DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'failed') AND last_attempt_at < $1").await?,
            &[&cutoff],
        )
        .await?)
    }
}
