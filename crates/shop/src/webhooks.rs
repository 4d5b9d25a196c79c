//! Webhooks out: the URLs a shop subscribes to its changes, and the deliveries to them.
//!
//! Each event is enqueued once per enabled endpoint whose filter takes its type (again is
//! harmless: a delivery is unique per endpoint and event id). Senders — any number of server
//! replicas on one database — claim due deliveries with a lease ([`Db::claim_due`]), send
//! them, and record the outcome with the lease they were given
//! ([`Db::record_attempt`]): a claimer whose lease ran out, and whose delivery another
//! claimed since, is refused. A failure is retried on [`RETRY_SCHEDULE`], which spans more
//! than three days; after the last try the delivery is `failed`, until it is replayed.
//!
//! The signing secret is stored sealed (encrypted); this module keeps the sealed bytes and
//! never sees the secret.
//!
//! [`Db::claim_due`]: crate::Db::claim_due
//! [`Db::record_attempt`]: crate::Db::record_attempt

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result, ShopId};

id_type!(
    /// A webhook endpoint.
    EndpointId
);
id_type!(
    /// One event's delivery to one endpoint.
    DeliveryId
);

/// Every event type a shop can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "order.created",
    "order.updated",
    "order.stage_changed",
    "order.removed",
    "shipment.added",
    "shipment.status_changed",
    "shipment.events_added",
    "shipment.estimate_changed",
    "shipment.problem_opened",
    "shipment.problem_resolved",
    "request.created",
    "request.updated",
    "feedback.given",
    "webhook.test",
];

/// The wait before each retry: after the first failed attempt 5 s, after the second 5 min,
/// and so on (Standard Webhooks' and Svix's schedule, made longer). The first attempt is
/// immediate; after the last retry fails, the delivery is `failed`. The retries span
/// [`retry_span`]: more than three days.
pub const RETRY_SCHEDULE: &[Duration] = &[
    Duration::seconds(5),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
    Duration::hours(5),
    Duration::hours(10),
    Duration::hours(10),
    Duration::hours(14),
    Duration::hours(24),
    Duration::hours(24),
];

/// Attempts in one series: the first and each retry.
pub const MAX_ATTEMPTS: u32 = RETRY_SCHEDULE.len() as u32 + 1;

/// From the first attempt to the last, when every attempt fails at once.
pub fn retry_span() -> Duration {
    RETRY_SCHEDULE
        .iter()
        .fold(Duration::zero(), |sum, d| sum + *d)
}

/// The most endpoints one shop may have.
pub const MAX_ENDPOINTS: i64 = 50;
/// The largest payload enqueued.
pub const MAX_PAYLOAD: usize = 256 * 1024;
/// The longest endpoint URL.
pub const MAX_URL: usize = 2000;
/// The longest description.
pub const MAX_DESCRIPTION: usize = 500;
/// The longest error kept for an attempt (room for a 4 KiB excerpt of the answer).
pub const MAX_ERROR: usize = 4200;
/// Delivered and failed deliveries are kept this long after their last attempt.
pub const RETENTION: Duration = Duration::days(30);
/// The most deliveries one page lists.
pub const MAX_PAGE: usize = 100;
/// The most attempts listed with each delivery (the newest).
pub const MAX_ATTEMPTS_LISTED: usize = 50;

/// A webhook endpoint (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    /// Its id.
    pub id: EndpointId,
    /// The shop.
    pub shop_id: ShopId,
    /// Where deliveries are POSTed.
    pub url: String,
    /// What it is for, for people.
    pub description: String,
    /// The event types it receives; empty: every type.
    pub event_types: Vec<String>,
    /// Whether it receives deliveries.
    pub enabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// Whether it receives events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }
}

/// A new endpoint.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    /// Where deliveries are POSTed (absolute `http` or `https`, no user or password).
    pub url: String,
    /// What it is for.
    pub description: String,
    /// The event types it receives (from [`EVENT_TYPES`]); empty: every type.
    pub event_types: Vec<String>,
    /// Whether it receives deliveries from the start.
    pub enabled: bool,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    /// A new URL.
    pub url: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new filter (empty: every type).
    pub event_types: Option<Vec<String>>,
    /// Enabled or disabled.
    pub enabled: Option<bool>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a sender, being sent.
    Delivering,
    /// Answered with a 2xx.
    Delivered,
    /// Every attempt of its series failed.
    Failed,
}

impl DeliveryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivering => "delivering",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => DeliveryState::Pending,
            "delivering" => DeliveryState::Delivering,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            other => {
                return Err(Error::invalid(
                    "state",
                    format!("{other:?} is not a delivery state"),
                ));
            }
        })
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attempt at sending a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// What went wrong; `None` when it was delivered.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// One event's delivery to one endpoint, with its newest attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// Its id.
    pub id: DeliveryId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// The event's id (the `webhook-id` header).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The body sent.
    pub payload: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts in the current series.
    pub attempts: u32,
    /// When it is tried next (while pending or delivering).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// The last attempt's HTTP status.
    pub last_status: Option<u16>,
    /// When it was last tried.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Its attempts, newest first (at most [`MAX_ATTEMPTS_LISTED`]), replays' included.
    pub attempt_log: Vec<Attempt>,
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPage {
    /// The deliveries.
    pub deliveries: Vec<Delivery>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_cursor: Option<DeliveryId>,
}

/// The right to record one attempt's outcome: the claim's token, which a later claim of the
/// same delivery replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The delivery.
    pub delivery_id: DeliveryId,
    /// This claim's token.
    pub token: uuid::Uuid,
    /// The attempt this claim makes, in its series (1 is the first).
    pub attempt: u32,
}

/// A delivery claimed for sending, with what the sender needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The claim (pass it to [`Db::record_attempt`](crate::Db::record_attempt)).
    pub lease: Lease,
    /// The shop.
    pub shop_id: ShopId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Where to POST.
    pub url: String,
    /// The endpoint's signing secret, sealed.
    pub secret_sealed: Vec<u8>,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The body.
    pub payload: String,
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// A 2xx answer: delivered.
    pub delivered: bool,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// What went wrong (kept to [`MAX_ERROR`] characters).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Delivered: done.
    Delivered,
    /// Failed; tried again at this time.
    Retry(DateTime<Utc>),
    /// The series' last attempt failed: no more tries until a replay.
    Failed,
    /// Refused: the lease is no longer this claimer's (it ran out and the delivery was
    /// claimed again, replayed, or deleted). Nothing was written.
    Stale,
}

/// What an endpoint's sealed secret is bound to: its shop and id, so a sealed secret copied
/// to another row (or another shop's) does not open.
pub fn secret_aad(shop: ShopId, endpoint: EndpointId) -> Vec<u8> {
    format!("parceltrail webhook endpoint secret {shop} {endpoint}").into_bytes()
}

/// When to try again after the `attempt`th attempt (1-based) of a series failed at `now`;
/// `None` after the last.
pub fn next_attempt(attempt: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let i = usize::try_from(attempt.checked_sub(1)?).ok()?;
    RETRY_SCHEDULE.get(i).map(|d| now + *d)
}

/// An endpoint URL, checked for shape: absolute `http` or `https` with a host, no user or
/// password, at most [`MAX_URL`] characters. (Whether its address may be reached is the
/// sender's rule, not the store's.)
pub fn check_url(url: &str) -> Result<String> {
    let url = url.trim();
    if url.len() > MAX_URL {
        return Err(Error::invalid(
            "url",
            format!("use at most {MAX_URL} characters"),
        ));
    }
    let parsed = url::Url::parse(url).map_err(|e| {
        Error::invalid(
            "url",
            format!(
                "{:?} is not an absolute URL ({e}): use e.g. https://shop.example/hooks",
                crate::db::clip(url, 80)
            ),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::invalid("url", "use an http or https URL"));
    }
    if parsed.host().is_none() {
        return Err(Error::invalid("url", "the URL needs a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid(
            "url",
            "a URL with a user or password is not accepted: deliveries are signed instead",
        ));
    }
    if parsed.fragment().is_some() {
        return Err(Error::invalid(
            "url",
            "a URL with a #fragment is not accepted",
        ));
    }
    // Written as the parser writes it (which may add a `/`), within a bound of its own.
    let normal = parsed.to_string();
    if normal.len() > 2 * MAX_URL {
        return Err(Error::invalid(
            "url",
            format!("use at most {MAX_URL} characters"),
        ));
    }
    Ok(normal)
}

/// A filter, checked: known types, each once, in the order of [`EVENT_TYPES`].
pub fn check_types(types: &[String]) -> Result<Vec<String>> {
    for t in types {
        check_type(t)?;
    }
    Ok(EVENT_TYPES
        .iter()
        .filter(|known| types.iter().any(|t| t == *known))
        .map(|t| (*t).to_owned())
        .collect())
}

/// An event type, checked.
pub fn check_type(t: &str) -> Result<()> {
    if EVENT_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(Error::invalid(
            "event_types",
            format!(
                "{:?} is not an event type: use any of {}",
                crate::db::clip(t, 60),
                EVENT_TYPES.join(", ")
            ),
        ))
    }
}

/// A description, checked: at most [`MAX_DESCRIPTION`] characters, no control characters
/// but line breaks and tabs.
pub fn check_description(d: &str) -> Result<String> {
    let d = d.trim();
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(Error::invalid(
            "description",
            format!("use at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if d.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(Error::invalid(
            "description",
            "must not hold control characters",
        ));
    }
    Ok(d.to_owned())
}

/// An event id (the `webhook-id` header): 1 to 200 printable ASCII characters.
pub fn check_event_id(id: &str) -> Result<()> {
    if !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "event_id",
            "use 1 to 200 printable ASCII characters",
        ))
    }
}

/// An error cut to [`MAX_ERROR`] characters.
pub(crate) fn clip_error(e: Option<String>) -> Option<String> {
    e.map(|e| crate::db::clip(&e, MAX_ERROR))
}

pub(crate) fn join_types(types: &[String]) -> String {
    types.join(",")
}

pub(crate) fn split_types(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spans_more_than_three_days() {
        assert!(retry_span() >= Duration::days(3), "{}", retry_span());
        assert_eq!(MAX_ATTEMPTS, 11);
        let t = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(next_attempt(1, t), Some(t + Duration::seconds(5)));
        assert_eq!(
            next_attempt(MAX_ATTEMPTS - 1, t),
            Some(t + Duration::hours(24))
        );
        assert_eq!(next_attempt(MAX_ATTEMPTS, t), None);
        assert_eq!(next_attempt(0, t), None);
    }

    #[test]
    fn urls_and_types() {
        assert_eq!(
            check_url(" https://Shop.Example/hooks?x=1 ").unwrap(),
            "https://shop.example/hooks?x=1"
        );
        for bad in [
            "",
            "shop.example/hooks",
            "ftp://shop.example/",
            "https://user:pw@shop.example/",
            "https://user@shop.example/",
            "https://shop.example/#x",
            "file:///etc/passwd",
            "data:text/plain,x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://x.example/{}", "a".repeat(MAX_URL))).is_err());
        let t = check_types(&[
            "webhook.test".into(),
            "order.created".into(),
            "order.created".into(),
        ])
        .unwrap();
        assert_eq!(t, ["order.created", "webhook.test"]);
        assert!(check_types(&["order.*".into()]).is_err());
        assert!(check_event_id("evt_1").is_ok());
        assert!(check_event_id("a b").is_err() && check_event_id("").is_err());
    }
}
