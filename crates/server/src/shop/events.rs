//! `GET /api/v1/events`: the shop's changes as Server-Sent Events, from the store's durable
//! change feed. Each event's id is its place in the feed, so a client that reconnects with
//! `Last-Event-ID` (browsers do it by themselves) misses nothing and sees nothing twice.
//! Writes through this process wake the stream at once; other replicas' writes are picked up
//! within a second.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use parceltrail_core::store::FeedEntry;
use parceltrail_shop::stores::ShopStore;
use serde::Deserialize;
use tokio::sync::watch;
use utoipa::IntoParams;

use super::auth::Caller;
use super::orders::store_of;
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// Entries read from the feed at a time.
const BATCH: usize = 200;
/// How often the feed is read when nothing woke the stream (other replicas' writes).
const POLL: Duration = Duration::from_secs(1);

/// Where to start.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventParams {
    /// Start after this event id (as `Last-Event-ID` does; the header wins). `0`: from the
    /// oldest kept. Without either: only what happens from now on.
    #[param(minimum = 0)]
    after: Option<i64>,
}

/// The shop's changes as they happen: `text/event-stream`, one event per change, its `event`
/// the change's kind (`order_created`, `status_changed`, `events_added`, ...), its `data` a
/// JSON object `{seq, at, order_id, shipment_id, change}`, its `id` the `seq` to resume from.
#[utoipa::path(get, operation_id = "events", path = "/events", tag = "orders",
    security(("api_key" = []), ("session" = [])),
    params(EventParams,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received: the stream resumes after it")),
    responses(
        (status = 200, description = "An endless event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "A query parameter is unreadable", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Last-Event-ID is not an event id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn stream(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<EventParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    caller.require(|s| s.read, "read")?;
    let Query(params) = query.map_err(|e| {
        Problem::new(StatusCode::BAD_REQUEST, "bad-query", "Unreadable query").detail(e.body_text())
    })?;
    let last = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid",
                        "Invalid request",
                    )
                    .detail("Last-Event-ID must be an event id this stream gave")
                })?,
        ),
        None => params.after.filter(|n| *n >= 0),
    };
    let store = store_of(&state, &caller).await?;
    // Subscribed before the first read, so a write between the read and the wait still wakes.
    let woken = store.subscribe();
    let after = match last {
        Some(n) => n,
        None => store.view(|s| s.feed_head()).await?,
    };
    let state = Feed {
        store,
        woken,
        after,
        pending: Vec::new().into_iter(),
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(entry) = st.pending.next() {
                st.after = entry.seq;
                return Some((Ok(event(&entry)), st));
            }
            let after = st.after;
            match st.store.view(move |s| s.feed(after, BATCH)).await {
                Ok(batch) if !batch.is_empty() => {
                    st.pending = batch.into_iter();
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the change feed failed"),
            }
            // Nothing new: wait for a write here, or poll for other replicas'.
            let _ = tokio::time::timeout(POLL, st.woken.changed()).await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct Feed {
    store: Arc<ShopStore>,
    woken: watch::Receiver<u64>,
    after: i64,
    pending: std::vec::IntoIter<FeedEntry>,
}

fn event(entry: &FeedEntry) -> Event {
    let data = serde_json::to_value(entry).unwrap_or_default();
    let kind = data
        .get("change")
        .and_then(|c| c.get("kind"))
        .and_then(|k| k.as_str())
        .unwrap_or("change")
        .to_owned();
    Event::default()
        .id(entry.seq.to_string())
        .event(kind)
        .data(data.to_string())
}
