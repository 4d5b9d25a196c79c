//! What the operator sees: a request id on every request and answer (`x-request-id`), one log
//! line per request carrying it (and every line logged while handling it), and Prometheus
//! metrics at `/metrics`. Logs name the route's template, never the path itself: paths will
//! carry tokens (signed tracking links), and query strings may carry anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument;

use super::{Problem, ShopState};

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The webhook sender's metrics (handles into the server's registry).
#[derive(Clone)]
pub struct WebhookMetrics {
    deliveries: Family<OutcomeLabels, Counter>,
    pub(crate) queue_depth: Gauge,
}

impl WebhookMetrics {
    /// Counts one attempt's outcome: `delivered`, `retry`, `failed` (the last attempt),
    /// `stale` (its lease was taken) or `unrecorded`.
    pub(crate) fn inc(&self, outcome: &'static str) {
        self.deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }
}

fn latency() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    ingested: Family<SourceLabels, Counter>,
    webhooks: WebhookMetrics,
    polls: Family<OutcomeLabels, Counter>,
    carrier_requests: Counter,
    due_polls: Gauge,
    pending_notifications: Gauge,
}

impl Metrics {
    /// Counts events newly stored from `source`.
    pub fn ingested(&self, source: &str, events: usize) {
        self.ingested
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .inc_by(events as u64);
    }

    /// Every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("parceltrail");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency);
        let in_flight = Gauge::default();
        let ingested = Family::<SourceLabels, Counter>::default();
        registry.register(
            "ingested_events",
            "Carrier events stored for the first time, by where they came from (17track, aftership, standard, manual)",
            ingested.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by route",
            duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being answered now",
            in_flight.clone(),
        );
        let webhooks = WebhookMetrics {
            deliveries: Family::default(),
            queue_depth: Gauge::default(),
        };
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts sent by this server, by outcome: delivered, retry, failed (the last attempt), stale (its lease was taken), unrecorded",
            webhooks.deliveries.clone(),
        );
        registry.register(
            "webhook_queue_depth",
            "Webhook deliveries pending or being sent, of every shop and server on this database",
            webhooks.queue_depth.clone(),
        );
        // The background work (polls, ingest, what waits).
        let polls = Family::<OutcomeLabels, Counter>::default();
        let carrier_requests = Counter::default();
        let due_polls = Gauge::default();
        let pending_notifications = Gauge::default();
        registry.register(
            "polls",
            "Parcels asked about at their carriers, by outcome (ok, failed)",
            polls.clone(),
        );
        registry.register(
            "carrier_requests",
            "Requests sent to carrier APIs, retries included",
            carrier_requests.clone(),
        );
        registry.register(
            "polls_due",
            "Parcels whose poll is due now, in every shop (claimed ones included)",
            due_polls.clone(),
        );
        registry.register(
            "notifications_pending",
            "Notifications recorded and not yet sent, in every shop",
            pending_notifications.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            in_flight,
            ingested,
            webhooks,
            polls,
            carrier_requests,
            due_polls,
            pending_notifications,
        }
    }

    /// Handles for the webhook sender.
    pub fn webhooks(&self) -> WebhookMetrics {
        self.webhooks.clone()
    }

    /// Count a poll pass: parcels asked about, how many of those failed, requests sent.
    pub fn count_polls(&self, polled: usize, failed: usize, requests: usize) {
        let failed = failed.min(polled);
        for (outcome, n) in [("ok", polled - failed), ("failed", failed)] {
            if n > 0 {
                self.polls
                    .get_or_create(&OutcomeLabels { outcome })
                    .inc_by(n as u64);
            }
        }
        self.carrier_requests.inc_by(requests as u64);
    }

    /// Count carrier events stored.
    pub fn count_ingested(&self, events: usize) {
        self.ingested("poll", events);
    }

    /// What waits now, summed over the shops.
    pub fn set_backlog(&self, due_polls: u64, pending_notifications: u64) {
        self.due_polls
            .set(i64::try_from(due_polls).unwrap_or(i64::MAX));
        self.pending_notifications
            .set(i64::try_from(pending_notifications).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A caller's own request id is kept when it is short and plain (a proxy's, for following a
/// request across both logs); anything else is replaced by one of ours.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty()
                && b.len() <= 64
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
        })
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
                .unwrap_or(HeaderValue::from_static("-"))
        })
}

/// Gives the request its id, runs it inside a span carrying that id, counts and times it,
/// and logs one line when it is answered.
pub(crate) async fn observe(
    State(state): State<Arc<ShopState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let id = request_id(req.headers());
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or("-"),
        method = %method,
        route = %route
    );
    state.metrics.in_flight.inc();
    let mut res = next.run(req).instrument(span.clone()).await;
    state.metrics.in_flight.dec();
    let status = res.status().as_u16();
    let secs = start.elapsed().as_secs_f64();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status,
        })
        .inc();
    state
        .metrics
        .duration
        .get_or_create(&RouteLabels { route })
        .observe(secs);
    span.in_scope(|| tracing::info!(status, ms = secs * 1000.0, "answered"));
    res.headers_mut().insert(REQUEST_ID, id);
    res
}

/// Prometheus metrics, for this machine only: a client on loopback that did not come through
/// a proxy (no `Forwarded` or `X-Forwarded-For`). Scrape it locally, or through a proxy rule of
/// your own with its own access control.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String),
        (status = 404, description = "Not from this machine", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn metrics(
    State(state): State<Arc<ShopState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let proxied =
        headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for");
    if !peer.ip().to_canonical().is_loopback() || proxied {
        return Problem::not_found()
            .detail("metrics are served to this machine only")
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}
