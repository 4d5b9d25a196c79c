//! Notifications: which changes deserve one (rules), when they may go out (quiet hours),
//! the outbox that makes each go out once, and the [`Notifier`] interface the channels
//! implement (desktop now; mobile, email and SMS later).
//!
//! Flow: the store's journal (status changes and problems, both durable) → [`rules`] decide
//! and word the notification → the outbox row is committed (with a dedupe key, so each event
//! notifies at most once, across restarts) → the dispatcher sends it through a [`Notifier`]
//! and marks it sent; failures retry with backoff.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod rules;

use crate::carrier::BoxFuture;
use crate::domain::ShipmentId;

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The operating system's notification centre (notify-rust).
    Desktop,
    /// A phone's notification centre (the app's notification plugin).
    Mobile,
    /// Email (shop server).
    Email,
    /// SMS (shop server): at most 160 characters.
    Sms,
    /// Web Push to a customer's browser (shop server).
    Push,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 5] = [
        Channel::Desktop,
        Channel::Mobile,
        Channel::Email,
        Channel::Sms,
        Channel::Push,
    ];

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Desktop => "desktop",
            Channel::Mobile => "mobile",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }

    /// The longest body this channel takes (SMS-like channels: 160 characters).
    pub fn max_chars(self) -> usize {
        match self {
            Channel::Sms | Channel::Mobile | Channel::Desktop | Channel::Push => 160,
            Channel::Email => 2000,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!("unknown channel {s:?}: use desktop, mobile, email, sms or push")
            })
    }
}

/// How insistent a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Good news that can wait (shipped).
    Low,
    /// Worth a look (out for delivery, delivered).
    Normal,
    /// Something went wrong.
    Critical,
}

/// One notification as a channel sends it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// The outbox row's id.
    pub id: Uuid,
    /// The same for every copy of the same news: receivers that can replace or drop
    /// duplicates (a desktop daemon's stack tag, an SMS gateway's idempotency key) use it.
    pub dedupe_key: Uuid,
    /// Which shipment, when it is about one.
    pub shipment_id: Option<ShipmentId>,
    /// The news it leads with (None for a summary): a channel that words messages itself
    /// (the shop server's, in the customer's words) says this, not what happened since.
    pub kind: Option<rules::Kind>,
    /// One line: the parcel and what happened.
    pub title: String,
    /// The rest, concise.
    pub body: String,
    /// Opens the parcel in the app (`parceltrail://parcel/<id>`), or the list.
    pub link: String,
    /// How insistent.
    pub urgency: Urgency,
}

/// Why a channel could not deliver a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotifyError {
    /// A passing failure (no notification daemon yet, network down): retry with backoff.
    #[error("notification channel unavailable: {0}")]
    Unavailable(String),
    /// The channel refused this message for good: do not retry.
    #[error("notification refused: {0}")]
    Rejected(String),
    /// Nobody asked for this message on this channel (no browser subscribed to the order):
    /// kept with the reason, like a refusal, but nothing went wrong.
    #[error("not asked for: {0}")]
    NotWanted(String),
    /// Not now (the recipient's quiet hours): send at `until`, no attempt counted.
    #[error("held until {until}: {reason}")]
    Later {
        /// When to send.
        until: chrono::DateTime<chrono::Utc>,
        /// Why it waits.
        reason: String,
    },
}

/// A notification channel (see the module docs).
pub trait Notifier: Send + Sync {
    /// Which channel this is.
    fn channel(&self) -> Channel;
    /// Show or send one message; `Ok` means the channel accepted it.
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>>;
}

/// The deep link that opens one parcel in the app.
pub fn parcel_link(id: ShipmentId) -> String {
    format!("parceltrail://parcel/{id}")
}

/// The deep link that opens the parcel list.
pub const LIST_LINK: &str = "parceltrail://parcels";
