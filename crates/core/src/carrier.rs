//! The carrier interface: what every adapter (UPS, FedEx, USPS, DHL, 17TRACK, the simulator's
//! DHL) gives the poller. Adapters live in the `parceltrail-carriers` crate; they only fetch
//! and normalise: they never write to the store (the poller hands their results to
//! [`crate::store::Store::ingest`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use crate::domain::{CarrierEta, NewEvent, Place, Status};

/// What a carrier says about one tracking number, normalised.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrackResult {
    /// The carrier's current status for the number (also derivable from the events; kept
    /// because some carriers report a status newer than any event they list).
    pub status: Option<Status>,
    /// Every event the carrier lists, in any order.
    pub events: Vec<NewEvent>,
    /// The carrier's delivery estimate, as a window.
    pub eta: Option<CarrierEta>,
    /// Service or product name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Where it was sent from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Place>,
    /// Where it goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<Place>,
    /// Who signed for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// How many pieces the shipment has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pieces: Option<u32>,
}

/// Why talking to a carrier failed. Each variant says what the caller does next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CarrierError {
    /// Credentials are missing, wrong or revoked: stop polling this carrier until they change.
    #[error("the carrier refused our credentials: {0}")]
    Auth(String),
    /// The carrier does not know this number (yet).
    #[error("the carrier does not know this number: {0}")]
    NotFound(String),
    /// Too many requests: wait (at least `retry_after` when the carrier said).
    #[error("rate limited by the carrier{}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The carrier's Retry-After, when it gave one.
        retry_after: Option<Duration>,
    },
    /// A passing failure (timeout, connection reset, 5xx): retry with backoff.
    #[error("temporary carrier failure: {message}")]
    Transient {
        /// What happened.
        message: String,
        /// The carrier's Retry-After, when it gave one (503s may).
        retry_after: Option<Duration>,
    },
    /// The carrier answered something we cannot read: keep the raw code paths safe, report.
    #[error("unreadable carrier response: {0}")]
    Malformed(String),
    /// This adapter cannot do that (wrong carrier, missing configuration).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl CarrierError {
    /// A failure worth retrying after a pause.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CarrierError::RateLimited { .. } | CarrierError::Transient { .. }
        )
    }

    /// How long the carrier asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CarrierError::RateLimited { retry_after }
            | CarrierError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The answer for one number in a batch.
pub type NumberResult = Result<TrackResult, CarrierError>;

/// The answer for a whole batch: per number (in the order asked), or one error for the call.
pub type BatchResult = Result<Vec<(String, NumberResult)>, CarrierError>;

/// A documented request budget: `requests` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// Requests allowed…
    pub requests: u32,
    /// …per this period.
    #[serde(with = "secs")]
    pub per: Duration,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// A boxed future, so the trait stays object-safe (`Arc<dyn Carrier>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A carrier API adapter.
pub trait Carrier: Send + Sync {
    /// Stable id of the adapter ("ups", "fedex", "usps", "dhl", "17track").
    fn id(&self) -> &'static str;
    /// Whether this adapter tracks numbers of the given carrier id (see `detect::carriers`).
    fn serves(&self, carrier: &str) -> bool;
    /// Whether this adapter tracks this number of that carrier. The poller routes by this;
    /// by default it is [`Carrier::serves`]. An adapter that must never see some numbers
    /// (a real carrier and the demo's simulated ones) says no here, so they are never sent.
    fn serves_number(&self, carrier: &str, number: &str) -> bool {
        let _ = number;
        self.serves(carrier)
    }
    /// Most numbers one request may carry (1 where the API takes one number).
    fn max_batch(&self) -> usize;
    /// The API's documented request budget.
    fn rate_limit(&self) -> RateLimit;
    /// Track numbers (at most [`Carrier::max_batch`]): one tracking request, plus an OAuth
    /// token request when the cached token is missing or expired. No retries inside: the
    /// poller retries, so every attempt passes its rate limiter.
    fn track<'a>(&'a self, numbers: &'a [String]) -> BoxFuture<'a, BatchResult>;
    /// Normalise a saved response body of the tracking endpoint (`parceltrail carriers
    /// parse`); the same code path [`Carrier::track`] uses.
    fn parse(&self, body: &[u8]) -> BatchResult;
}
