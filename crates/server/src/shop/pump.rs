//! The shops' change feeds into webhooks out: each committed change of a shop becomes an
//! event for its subscribed endpoints (`order.created`, `shipment.status_changed`, ...).
//!
//! Nothing is lost and nothing sent twice: the feed is durable and ordered, the event id is
//! the shop and the feed's `seq` (so enqueuing the same change again, after a crash or from
//! another replica, adds no delivery), and the position reached is kept in the shop's store
//! after the events are enqueued: at most once a second (a commit each), and when the pump
//! stops. A crash re-reads at most that second's changes, which enqueue nothing new.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use parceltrail_core::store::{Change, FeedEntry};
use parceltrail_shop::ShopId;
use parceltrail_shop::stores::ShopStore;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::ShopState;

/// The shop store setting that holds how far the feed has been turned into events.
const CURSOR: &str = "webhooks_out.feed_cursor";
/// Feed entries read at a time.
const BATCH: usize = 200;
/// How often a shop's feed is read when nothing woke its pump (other replicas' writes).
const POLL: Duration = Duration::from_secs(1);
/// How often the shop list is read for shops made since the start.
const SHOPS: Duration = Duration::from_secs(10);
/// How long a woken pump lets further writes gather before it reads the feed.
const SETTLE: Duration = Duration::from_millis(50);
/// The most often the position reached is written to the shop's store.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// The event a change becomes, if any: its type and its `data`.
pub fn event_of(entry: &FeedEntry) -> Option<(&'static str, Value)> {
    let kind = match &entry.change {
        Change::OrderCreated { .. } => "order.created",
        Change::OrderUpdated { .. } => "order.updated",
        Change::OrderStageChanged { .. } => "order.stage_changed",
        Change::OrderRemoved { .. } => "order.removed",
        Change::ShipmentAdded { .. } => "shipment.added",
        Change::StatusChanged { .. } => "shipment.status_changed",
        Change::EventsAdded { .. } => "shipment.events_added",
        Change::EstimateChanged { .. } => "shipment.estimate_changed",
        Change::ProblemOpened { .. } => "shipment.problem_opened",
        Change::ProblemResolved { .. } => "shipment.problem_resolved",
        _ => return None,
    };
    let data = json!({
        "order_id": entry.order_id,
        "shipment_id": entry.shipment_id,
        "at": entry.at,
        "change": entry.change,
    });
    Some((kind, data))
}

/// The event id of a shop's feed entry: the same on every replica and after any restart.
pub fn event_id(shop: ShopId, seq: i64) -> String {
    format!("evt_{}_{seq}", shop.0.simple())
}

/// Runs every shop's pump until `stop` turns true.
pub fn spawn(state: Arc<ShopState>, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut running: HashSet<ShopId> = HashSet::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut stop_all = stop.clone();
        loop {
            match state.db.shops().await {
                Ok(shops) => {
                    for shop in shops {
                        if running.insert(shop.id) {
                            tasks.spawn(pump(state.clone(), shop.id, stop.clone()));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhooks out: cannot list the shops"),
            }
            tokio::select! {
                _ = stop_all.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(SHOPS) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    })
}

async fn pump(state: Arc<ShopState>, shop: ShopId, mut stop: watch::Receiver<bool>) {
    let store = loop {
        match state.stores.get(shop).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(%shop, error = %e, "webhooks out: cannot open the shop's store");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(SHOPS) => {}
                }
            }
        }
    };
    let mut woken = store.subscribe();
    let mut cursor = None;
    loop {
        match turn(&state, &store, shop, &mut cursor).await {
            // More may be waiting: go on at once.
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%shop, error = %e, "webhooks out: the feed's events were not enqueued")
            }
        }
        let was_woken = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = woken.changed() => true,
            _ = tokio::time::sleep(POLL) => false,
        };
        if was_woken {
            // Let a busy shop's writes gather: one turn covers them all.
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(SETTLE) => {}
            }
            woken.borrow_and_update();
        }
    }
    if let Some(c) = cursor.as_mut()
        && let Err(e) = c.save(&store, Duration::ZERO).await
    {
        tracing::warn!(%shop, error = %e, "webhooks out: the feed's position was not kept");
    }
}

/// How far this pump has turned the feed into events, and how far the store knows it has.
struct Cursor {
    at: i64,
    saved: i64,
    saved_when: Instant,
}

impl Cursor {
    /// Keeps the position in the shop's store if it moved and the last save is `every` old.
    async fn save(&mut self, store: &Arc<ShopStore>, every: Duration) -> Result<(), PumpError> {
        if self.at == self.saved || self.saved_when.elapsed() < every {
            return Ok(());
        }
        let at = self.at;
        // `read`: a setting is not news for the stream.
        store
            .read(move |s| {
                s.set_setting(CURSOR, &at.to_string(), Utc::now())
                    .map(|_| ())
            })
            .await?;
        self.saved = at;
        self.saved_when = Instant::now();
        Ok(())
    }
}

/// One batch of the feed enqueued; whether a full batch was read.
async fn turn(
    state: &ShopState,
    store: &Arc<ShopStore>,
    shop: ShopId,
    cursor: &mut Option<Cursor>,
) -> Result<bool, PumpError> {
    let c = match cursor {
        Some(c) => c,
        None => {
            let at = store
                .read(|s| {
                    Ok(match s.setting(CURSOR)? {
                        Some(v) => v.parse().unwrap_or(0),
                        None => {
                            // The first start: events from now on, not the shop's history.
                            let head = s.feed_head()?;
                            s.set_setting(CURSOR, &head.to_string(), Utc::now())?;
                            head
                        }
                    })
                })
                .await?;
            cursor.insert(Cursor {
                at,
                saved: at,
                saved_when: Instant::now(),
            })
        }
    };
    let after = c.at;
    // A shop with no endpoint enabled has nowhere to send its changes: the cursor moves to
    // the feed's head unread (under webhook load the feed grows by thousands of entries a
    // second, each read and decoded for nothing). An endpoint enabled after this look gets
    // the changes that come after it, as it would had the look come a moment sooner (the
    // head is read first, so a change committed before the endpoint was enabled and after
    // the head is still sent).
    let head = store.view(|s| s.feed_head()).await?;
    if !state.db.endpoints(shop).await?.iter().any(|e| e.enabled) {
        c.at = c.at.max(head);
        c.save(store, SAVE_EVERY).await?;
        return Ok(false);
    }
    let batch = store.view(move |s| s.feed(after, BATCH)).await?;
    let Some(last) = batch.last().map(|e| e.seq) else {
        c.save(store, SAVE_EVERY).await?;
        return Ok(false);
    };
    debug_assert!(last > after);
    for entry in &batch {
        if let Some((kind, data)) = event_of(entry) {
            state
                .outbound
                .enqueue(shop, &event_id(shop, entry.seq), kind, &data)
                .await?;
        }
    }
    // Moved on only once every event of the batch is enqueued, and kept in the store at
    // most every SAVE_EVERY (each save is a commit): a crash before a save enqueues those
    // events again, which adds no delivery.
    c.at = last;
    c.save(store, SAVE_EVERY).await?;
    Ok(batch.len() == BATCH)
}

/// What a turn can fail with.
#[derive(Debug, thiserror::Error)]
enum PumpError {
    #[error("{0}")]
    Tracking(#[from] parceltrail_core::Error),
    #[error("{0}")]
    Shop(#[from] parceltrail_shop::Error),
}
