//! Carrier and aggregator webhooks in: who may push (signatures), what a push says
//! (parsing into one shape), and the secrets and message ids this needs (stored through
//! [`Db`]). The HTTP route lives in `parceltrail-server`; nothing here knows HTTP.
//!
//! A delivery is handled in this order, and the order matters:
//!
//! 1. **Verify before parsing.** [`verify`] checks the signature over the raw body bytes with
//!    the shop's secret for that source (and, for Standard Webhooks, that the signed
//!    timestamp is within [`TOLERANCE`] of now). Nothing of the body is read before that,
//!    so an unauthenticated sender cannot reach the parser.
//! 2. **Replay check, without burning the id.** On SQLite [`Db::message_seen`] says whether
//!    a message id ([`Verified::message_id`]) was already *committed*; a seen id is refused
//!    without ingesting. On PostgreSQL the group's transaction remembers the ids and learns
//!    which were there already (`INSERT … ON CONFLICT DO NOTHING RETURNING`): those
//!    deliveries are refused as replays, their events (the same as the first copy's, which
//!    the signature over id and body guarantees) having added nothing.
//! 3. **Parse and ingest.** [`parse`] turns the body into [`Push`]es; the route ingests them
//!    through core's `Store::ingest`, which is idempotent.
//! 4. **Remember the id** ([`remember`], i.e. [`Db::remember_message`]) only after the
//!    ingest committed. Remembering first would lose a delivery whose ingest then failed
//!    (the sender's retry would be refused as a replay). A crash between 3 and 4 lets one
//!    retry through, which is harmless: ingesting it again adds nothing. For the same
//!    reason two copies arriving at once may both be ingested; one `remember` wins. The
//!    server ingests deliveries in groups ([`crate::stores`]' group commit) and remembers a
//!    group's ids together: on PostgreSQL in the group's own transaction (never before its
//!    events, nor without them), on SQLite with [`Db::remember_messages`] after its commit.
//!
//! [`verify_for_shop`] does 1 and 2 with the shop's stored secret.
//!
//! Senders retry a failed delivery with the same message id and a fresh timestamp and
//! signature (Svix for hours, then days), so ids are kept for [`MESSAGE_RETENTION`]
//! ([`Db::forget_messages_before`] sweeps older ones). 17TRACK pushes carry no id, and
//! neither they nor AfterShip's sign a time; a replayed copy of one of those is ingested
//! again, which changes nothing.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use parceltrail_core::domain::{CarrierEta, NewEvent, Place, ShipmentId};
use parceltrail_core::store::IngestBatch;
use serde::{Deserialize, Serialize};

use crate::secrets::{SecretError, SecretKey};
use crate::{Db, ShopId};

mod aftership;
mod country;
mod json;
mod standard;
mod track17;
mod verify;

pub use verify::{new_standard_secret, sign_standard};

/// How far a Standard Webhooks timestamp may be from now, either way.
pub const TOLERANCE: Duration = Duration::minutes(5);
/// How long message ids are kept for the replay check: longer than senders keep retrying.
pub const MESSAGE_RETENTION: Duration = Duration::days(3);
/// The longest message id accepted (ids are stored).
pub const MAX_MESSAGE_ID: usize = 256;
/// The most events one push may carry.
pub const MAX_EVENTS: usize = 1_000;
/// The most pushes one body may carry (a Standard batch).
pub const MAX_PUSHES: usize = 1_000;
/// The most events one body may carry, over all its pushes.
pub const MAX_BODY_EVENTS: usize = 10_000;
/// The longest tracking number accepted (after normalising).
pub const MAX_NUMBER: usize = 64;
/// The longest webhook secret accepted.
pub const MAX_SECRET: usize = 1_024;

/// Who pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HookSource {
    /// 17TRACK's v2.2 push (`sign` header: SHA-256 of the body and the key).
    #[serde(rename = "17track")]
    Track17,
    /// AfterShip's tracking webhooks (`aftership-hmac-sha256` header).
    #[serde(rename = "aftership")]
    AfterShip,
    /// Standard Webhooks (as Svix sends them), with Parceltrail's own body.
    #[serde(rename = "standard")]
    Standard,
}

impl HookSource {
    /// Every source.
    pub const ALL: [HookSource; 3] = [
        HookSource::Track17,
        HookSource::AfterShip,
        HookSource::Standard,
    ];

    /// The stable wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            HookSource::Track17 => "17track",
            HookSource::AfterShip => "aftership",
            HookSource::Standard => "standard",
        }
    }
}

impl fmt::Display for HookSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A webhook source name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a webhook source: use 17track, aftership or standard")]
pub struct UnknownSource(pub String);

impl FromStr for HookSource {
    type Err = UnknownSource;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HookSource::ALL
            .into_iter()
            .find(|h| h.as_str() == s)
            .ok_or_else(|| UnknownSource(crate::db::clip(s, 40)))
    }
}

/// A request's headers, as [`verify`] reads them. Implemented for slices and vectors of
/// `(name, value)` pairs; the server adapts its `HeaderMap` with a one-line newtype.
pub trait Headers {
    /// The first value of the header `name` (given in lower case; names compare without
    /// regard to case), if present and text.
    fn header(&self, name: &str) -> Option<&str>;
}

impl<K: AsRef<str>, V: AsRef<str>> Headers for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Headers for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Headers for [(K, V); N] {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

impl<T: Headers + ?Sized> Headers for &T {
    fn header(&self, name: &str) -> Option<&str> {
        (**self).header(name)
    }
}

/// A delivery whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Who sent it.
    pub source: HookSource,
    /// The sender's id for this message, for the replay check: Standard Webhooks'
    /// `webhook-id`, AfterShip's `event_id` (read from the body once it is authenticated).
    /// 17TRACK gives none.
    pub message_id: Option<String>,
    /// When the sender signed it (Standard Webhooks' `webhook-timestamp`).
    pub signed_at: Option<DateTime<Utc>>,
}

/// Why a delivery was refused. [`is_auth_failure`](Self::is_auth_failure) (answer 401),
/// [`is_malformed`](Self::is_malformed) (422), [`is_replay`](Self::is_replay) (2xx: already
/// done) and [`is_server_error`](Self::is_server_error) (500) sort every variant.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// A header the signature needs is missing.
    #[error("the {header} header is missing")]
    MissingSignature {
        /// The header's name.
        header: &'static str,
    },
    /// The signature does not match the body and the shop's secret.
    #[error("the signature does not match")]
    BadSignature,
    /// A header the signature needs is present but unusable.
    #[error("the {header} header {reason}")]
    BadHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The signed timestamp is too far from now (an old message replayed, or a sender's
    /// clock far off).
    #[error(
        "the webhook-timestamp {timestamp} is {}s from now; at most {}s is accepted",
        (now - timestamp).abs(),
        TOLERANCE.num_seconds()
    )]
    Stale {
        /// The signed time, Unix seconds.
        timestamp: i64,
        /// Now, Unix seconds.
        now: i64,
    },
    /// The shop has no secret for this source: nothing from it can be authenticated.
    #[error("no webhook secret is set for {hook}")]
    NotConfigured {
        /// The source.
        hook: HookSource,
    },
    /// The message id was already handled (a retry or a replay): nothing more is stored, and
    /// the server answers 409.
    #[error("message {id:?} was already handled")]
    Replayed {
        /// The message id.
        id: String,
    },
    /// The body (signature already checked) is not what the source sends.
    #[error("{what}")]
    Malformed {
        /// What is wrong and where (a JSON path such as `events[3].occurred_at`).
        what: String,
    },
    /// A webhook secret (given, or stored) is unusable.
    #[error("the webhook secret {reason}")]
    BadSecret {
        /// What is wrong with it.
        reason: String,
    },
    /// A stored secret does not open with this server's key.
    #[error("{0}")]
    Sealed(#[from] SecretError),
    /// The shop store failed.
    #[error("{0}")]
    Store(#[from] crate::Error),
}

impl HookError {
    /// The sender could not be authenticated (answer 401).
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            HookError::MissingSignature { .. }
                | HookError::BadSignature
                | HookError::BadHeader { .. }
                | HookError::Stale { .. }
                | HookError::NotConfigured { .. }
        )
    }

    /// The authenticated body is not usable (answer 422).
    pub fn is_malformed(&self) -> bool {
        matches!(self, HookError::Malformed { .. })
    }

    /// Already handled (the server answers 409: nothing more is stored).
    pub fn is_replay(&self) -> bool {
        matches!(self, HookError::Replayed { .. })
    }

    /// The server's fault, not the sender's (answer 500): a stored secret that does not
    /// open or decode, or the store failing.
    pub fn is_server_error(&self) -> bool {
        matches!(
            self,
            HookError::BadSecret { .. } | HookError::Sealed(_) | HookError::Store(_)
        )
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        HookError::Malformed { what: what.into() }
    }

    pub(crate) fn bad_secret(reason: impl Into<String>) -> Self {
        HookError::BadSecret {
            reason: reason.into(),
        }
    }
}

/// Checks a delivery's signature with the shop's secret for `source`, before anything of
/// the body is read. `now` is the receiving time (Standard Webhooks' timestamp must be within
/// [`TOLERANCE`] of it).
pub fn verify<H: Headers + ?Sized>(
    source: HookSource,
    secret: &str,
    headers: &H,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Verified, HookError> {
    match source {
        HookSource::Track17 => verify::track17(secret, headers, body),
        HookSource::AfterShip => verify::aftership(secret, headers, body),
        HookSource::Standard => verify::standard(secret, headers, body, now),
    }
}

/// What one push says about one tracking number, whoever sent it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Push {
    /// Normalised like core's shipments: upper case, no spaces, dashes or dots.
    pub tracking_number: String,
    /// The Parceltrail carrier id (`ups`, `fedex`, `usps`, `dhl`, …) when the sender's
    /// carrier code maps to one.
    pub carrier: Option<String>,
    /// The sender's own carrier code (17TRACK's number, AfterShip's slug, the Standard
    /// body's `carrier`), kept as given.
    pub carrier_hint: Option<String>,
    /// The carrier's events, `source` = webhook. For 17TRACK exactly what the polling
    /// adapter makes of the same scan, so both routes store one event.
    pub events: Vec<NewEvent>,
    /// The carrier's delivery estimate.
    pub carrier_eta: Option<CarrierEta>,
    /// Service level, when said.
    pub service: Option<String>,
    /// Origin, when said.
    pub origin: Option<Place>,
    /// Destination, when said.
    pub destination: Option<Place>,
    /// The sender stopped tracking the number (17TRACK's `TRACKING_STOPPED`): no further
    /// pushes will come for it.
    pub stopped: bool,
}

impl Push {
    /// What core's `Store::ingest` takes for this push, once the route has found (or added)
    /// the shipment.
    pub fn into_batch(self, shipment_id: ShipmentId) -> IngestBatch {
        IngestBatch {
            shipment_id,
            events: self.events,
            carrier_eta: self.carrier_eta,
            service: self.service,
            origin: self.origin,
            destination: self.destination,
        }
    }
}

/// Reads a verified body into pushes. Never panics, whatever the bytes; everything is
/// bounded ([`MAX_EVENTS`], [`MAX_PUSHES`], [`MAX_BODY_EVENTS`], core's 2,000-character
/// fields). A body of a kind this build does not read (an event type it does not know)
/// yields no pushes, so the route answers 2xx and the sender does not retry it; a body that
/// is not what the source sends is [`HookError::Malformed`], naming the JSON path.
pub fn parse(source: HookSource, body: &[u8]) -> Result<Vec<Push>, HookError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| HookError::malformed(format!("the body is not JSON: {e}")))?;
    let pushes = match source {
        HookSource::Track17 => track17::parse(&v)?,
        HookSource::AfterShip => aftership::parse(&v)?,
        HookSource::Standard => standard::parse(&v)?,
    };
    let total: usize = pushes.iter().map(|p| p.events.len()).sum();
    if total > MAX_BODY_EVENTS {
        return Err(HookError::malformed(format!(
            "the body carries {total} events; at most {MAX_BODY_EVENTS} are read at once"
        )));
    }
    Ok(pushes)
}

/// The tracking number at `path`, normalised and bounded.
pub(crate) fn tracking_number(raw: Option<&str>, path: &str) -> Result<String, HookError> {
    let raw = raw.ok_or_else(|| HookError::malformed(format!("{path}: missing")))?;
    let n = parceltrail_core::detect::normalize(raw);
    if n.is_empty() {
        return Err(HookError::malformed(format!("{path}: empty")));
    }
    if n.chars().count() > MAX_NUMBER || n.contains('\0') {
        return Err(HookError::malformed(format!(
            "{path}: not a tracking number (at most {MAX_NUMBER} characters)"
        )));
    }
    Ok(n)
}

/// The associated data that binds a sealed webhook secret to its shop and source.
pub fn secret_aad(shop: ShopId, source: HookSource) -> Vec<u8> {
    let mut aad = b"parceltrail hook secret\0".to_vec();
    aad.extend_from_slice(shop.0.as_bytes());
    aad.push(0);
    aad.extend_from_slice(source.as_str().as_bytes());
    aad
}

/// Whether `secret` can be a secret for `source`: not empty, not too long, and for Standard
/// Webhooks `whsec_` and base64 (of 24 to 64 bytes, as the specification says).
pub fn check_secret(source: HookSource, secret: &str) -> Result<(), HookError> {
    if secret.trim().is_empty() {
        return Err(HookError::bad_secret("is empty"));
    }
    if secret.len() > MAX_SECRET || secret.contains('\0') {
        return Err(HookError::bad_secret(format!(
            "is not a secret (at most {MAX_SECRET} bytes)"
        )));
    }
    if source == HookSource::Standard {
        let key = verify::standard_key(secret)?;
        if !(24..=64).contains(&key.len()) {
            return Err(HookError::bad_secret(format!(
                "is {} bytes long; Standard Webhooks secrets are 24 to 64 bytes",
                key.len()
            )));
        }
    }
    Ok(())
}

/// `secret` checked and sealed for storing as the shop's secret for `source`
/// ([`Db::set_hook_secret`]).
pub fn seal_secret(
    key: &SecretKey,
    shop: ShopId,
    source: HookSource,
    secret: &str,
) -> Result<Vec<u8>, HookError> {
    check_secret(source, secret)?;
    Ok(key.seal(secret.as_bytes(), &secret_aad(shop, source)))
}

/// A stored secret, opened.
pub fn open_secret(
    key: &SecretKey,
    shop: ShopId,
    source: HookSource,
    sealed: &[u8],
) -> Result<zeroize::Zeroizing<String>, HookError> {
    let plain = key.open(sealed, &secret_aad(shop, source))?;
    std::str::from_utf8(&plain)
        .map(|s| zeroize::Zeroizing::new(s.to_owned()))
        .map_err(|_| HookError::bad_secret("stored is not text"))
}

/// Steps 1 and 2 of the order in the module docs: the shop's secret for `source` loaded and
/// opened, the signature verified, and on SQLite a message id already committed refused as
/// [`HookError::Replayed`] (on PostgreSQL the group commit's transaction makes that check:
/// [`crate::stores::Delivered::replayed`]). The id is *not* remembered: call [`remember`]
/// once the ingest has committed.
pub async fn verify_for_shop<H: Headers + ?Sized>(
    db: &Db,
    key: &SecretKey,
    shop: ShopId,
    source: HookSource,
    headers: &H,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Verified, HookError> {
    let sealed = db
        .hook_secret(shop, source)
        .await?
        .ok_or(HookError::NotConfigured { hook: source })?;
    let secret = open_secret(key, shop, source, &sealed)?;
    let verified = verify(source, &secret, headers, body, now)?;
    // On PostgreSQL the group's transaction checks (`stores`' group commit): one query a
    // delivery fewer, and two copies at once no longer both pass.
    if let Some(id) = &verified.message_id
        && db.messages_in_tx().is_none()
        && db.message_seen(shop, source, id).await?
    {
        return Err(HookError::Replayed { id: id.clone() });
    }
    Ok(verified)
}

/// Step 4: the delivery's message id remembered, after its ingest committed. True the first
/// time (and when there is no id); false if another copy got there first.
pub async fn remember(
    db: &Db,
    shop: ShopId,
    verified: &Verified,
    now: DateTime<Utc>,
) -> crate::Result<bool> {
    match &verified.message_id {
        Some(id) => db.remember_message(shop, verified.source, id, now).await,
        None => Ok(true),
    }
}

#[cfg(test)]
mod tests;
