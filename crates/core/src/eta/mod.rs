//! The ETA engine: when will a parcel arrive? Pure computation, no database.
//!
//! [`Model`] learns from completed deliveries ([`Model::learn`]) and estimates a window for a
//! parcel on its way ([`Model::estimate`]); [`describe`] words an [`Estimate`] for people.
//!
//! # Where an estimate comes from, in order of preference
//!
//! 1. **Out for delivery** (or ready for pickup): today, by the time of day deliveries usually
//!    arrive ([`EtaSource::OutForDelivery`]).
//! 2. **The carrier's own estimate**, when it has one that is not already past
//!    ([`EtaSource::Carrier`]).
//! 3. **History**: transit-time distributions learned from delivered parcels per key
//!    (carrier, service, origin → destination), backing off to coarser keys when a key has few
//!    deliveries, and conditioned on the time already spent ([`EtaSource::History`]). When the
//!    store promised a date, the model also learns how that promise relates to reality and
//!    uses it (see below).
//! 4. **Priors** from carriers' published service standards for a cold start
//!    ([`EtaSource::Prior`]; see the `priors` module for sources).
//!
//! # The history model
//!
//! - **Business days.** Transit is measured on a *business clock* (see [`calendar`]): it
//!   advances over weekdays that are not public holidays of the destination country and stands
//!   still otherwise, with a day's fraction growing over its 24 local hours. A parcel shipped on
//!   Friday evening before a holiday Monday has the same transit as one shipped on Monday
//!   evening, which is what carriers' standards mean.
//! - **Distributions, not averages.** Each key keeps a weighted histogram of transit (1.5 h
//!   bins up to 128 business days), so any quantile is available.
//! - **Recency.** Deliveries are weighted by `2^(delivered_at / half-life)` (default 120 days):
//!   carriers' speed drifts with seasons and volume. Weighting by delivery time (not shipping
//!   time) keeps the distribution unbiased when volume is steady: the parcels delivered in any
//!   period have the transit distribution of the parcels shipped, whereas weighting recent
//!   *shipments* would over-count the fast ones, the slow ones not being delivered yet.
//! - **Back-off by shrinkage.** A key's distribution is a mixture of its own histogram and its
//!   parent's (already shrunk) distribution, with weight `n / (n + shrinkage)` for the key's
//!   `n` recent deliveries: prior → (all deliveries, when the carrier has no published
//!   standard) → carrier → carrier + service → carrier + service + origin → destination.
//! - **Elapsed time.** For a parcel already `e` business days on its way, quantiles come from
//!   the distribution truncated at `e`: `P(T ≤ t | T > e)`. Parcels not yet handed to the
//!   carrier (pending, label created) start their transit now instead.
//! - **The store's promise.** A promised date (`promised_at`) gives a lead time `L` in business
//!   days. The model learns the distribution of `ln((T + 1) / (L + 1))`, overall, per lead-time
//!   band and per carrier, and so predicts transit as a function of the promise. Which of the
//!   history model, the promise model, or the average of their quantiles (a blend) is used is
//!   decided per carrier by their recent mean absolute error in days, measured on every
//!   delivery as it is learned (with the model as it was before learning it).
//! - **Windows.** `likely` is the conditional median (it minimises the absolute error in days).
//!   `earliest` and `latest` are the starts and ends of the local days holding the 15th and
//!   95th percentiles: an asymmetric 80 % window whose end is late only about 5 % of the time.
//!   Where a store promised a date, the end is held to that store's own reliability instead:
//!   it is calibrated to be late 15 % less often than the store's promises are (between 1 and
//!   10 % of deliveries): about as reliable as the store's promise, and usually sooner.
//!   Because deliveries are compared as whole days, the quantile levels are then calibrated
//!   online per carrier and source (adaptive conformal inference: each learned delivery nudges
//!   a level towards the target miss rate), so the achieved day-level coverage tracks the
//!   nominal one.
//! - **Confidence** is the coverage achieved recently for that carrier and source, once there
//!   are enough deliveries to tell; the nominal coverage before that.
//!
//! The engine is replay-tested by `eval` (rolling-origin evaluation of a CSV of deliveries) and
//! `synth` (a generator of deliveries from a known distribution).

pub mod calendar;
pub mod eval;
mod format;
mod hist;
mod model;
mod priors;
pub mod synth;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use calendar::BusinessCalendar;
/// Time zones (the IANA database), re-exported for callers of this module.
pub use chrono_tz::Tz;
pub use format::{describe, describe_likely, likely_clock};
pub use model::{Model, ModelConfig};

use crate::domain::{CarrierEta, Status};

/// Where an estimate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EtaSource {
    /// The carrier's own estimate.
    Carrier,
    /// Learned from delivered parcels (and the store's promises).
    History,
    /// A carrier's published service standard (no history yet).
    Prior,
    /// The parcel is out for delivery (or ready for pickup): today.
    OutForDelivery,
}

impl EtaSource {
    /// Every source.
    pub const ALL: [EtaSource; 4] = [
        EtaSource::Carrier,
        EtaSource::History,
        EtaSource::Prior,
        EtaSource::OutForDelivery,
    ];

    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EtaSource::Carrier => "carrier",
            EtaSource::History => "history",
            EtaSource::Prior => "prior",
            EtaSource::OutForDelivery => "out_for_delivery",
        }
    }
}

impl fmt::Display for EtaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an unknown source name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ETA source {0:?}")]
pub struct UnknownEtaSource(pub String);

impl FromStr for EtaSource {
    type Err = UnknownEtaSource;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EtaSource::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownEtaSource(s.to_owned()))
    }
}

/// A delivery window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Start of the window (never before the moment of estimating).
    pub earliest: DateTime<Utc>,
    /// The most likely delivery time (the conditional median).
    pub likely: DateTime<Utc>,
    /// End of the window.
    pub latest: DateTime<Utc>,
    /// Probability that the delivery falls inside `[earliest, latest]`, 0..=1.
    pub confidence: f32,
    /// Where the estimate came from.
    pub source: EtaSource,
}

/// One completed delivery to learn from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Carrier id (as in `parceltrail-detect`, e.g. `ups`).
    pub carrier: Option<String>,
    /// Service name or code (e.g. `Ground`).
    pub service: Option<String>,
    /// Origin region key, e.g. `DE` or `SP`.
    pub origin: Option<String>,
    /// Destination region key.
    pub destination: Option<String>,
    /// Destination country, ISO 3166-1 alpha-2, for the holiday calendar.
    pub dest_country: Option<String>,
    /// When the parcel started its journey (shipped, or handed to the carrier).
    pub started_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: DateTime<Utc>,
    /// The store's promised delivery date, if any.
    pub promised_at: Option<DateTime<Utc>>,
}

/// What is known about a parcel still on its way.
#[derive(Debug, Clone, Copy)]
pub struct EtaInput<'a> {
    /// Carrier id.
    pub carrier: Option<&'a str>,
    /// Service name or code.
    pub service: Option<&'a str>,
    /// Origin region key.
    pub origin: Option<&'a str>,
    /// Destination region key.
    pub destination: Option<&'a str>,
    /// Destination country (ISO alpha-2), for holidays.
    pub dest_country: Option<&'a str>,
    /// When the journey started.
    pub started_at: DateTime<Utc>,
    /// The current status.
    pub status: Status,
    /// Time of the latest carrier event (not used by the current model, which conditions on
    /// the status and the time since `started_at`).
    pub last_event_at: Option<DateTime<Utc>>,
    /// The carrier's own latest estimate.
    pub carrier_eta: Option<CarrierEta>,
    /// The store's promised delivery date.
    pub promised_at: Option<DateTime<Utc>>,
    /// The moment of estimating.
    pub now: DateTime<Utc>,
    /// The zone whose local days count ("today", day boundaries): the destination's or user's.
    pub tz: Tz,
}

/// An order's delivery estimated from the moment it was placed, before any parcel moves:
/// what the shop's own orders took from placing to their last delivery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderEstimate {
    /// The window's start (the 10th percentile of the lead times).
    pub earliest: DateTime<Utc>,
    /// The median.
    pub likely: DateTime<Utc>,
    /// The window's end (the 90th percentile).
    pub latest: DateTime<Utc>,
    /// The share of the orders learnt from whose lead time fell in the window.
    pub confidence: f64,
    /// How many orders it was learnt from.
    pub orders: usize,
}

/// Orders a shop must have delivered before its lead times make an estimate.
pub const MIN_ORDERS_FOR_ESTIMATE: usize = 10;

/// The estimate for an order placed at `placed_at`, from the shop's past orders' (placed,
/// delivered) times; none with fewer than [`MIN_ORDERS_FOR_ESTIMATE`], or once the window
/// has passed at `now` (the order is late: the estimate would only mislead).
pub fn from_orders(
    placed_at: DateTime<Utc>,
    past: &[(DateTime<Utc>, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Option<OrderEstimate> {
    let mut hours: Vec<f64> = past
        .iter()
        .map(|(p, d)| (*d - *p).num_seconds() as f64 / 3600.0)
        .filter(|h| h.is_finite() && *h >= 0.0)
        .collect();
    if hours.len() < MIN_ORDERS_FOR_ESTIMATE {
        return None;
    }
    hours.sort_by(f64::total_cmp);
    // Nearest rank, on the sorted lead times.
    let q = |p: f64| hours[((p * hours.len() as f64).ceil() as usize).clamp(1, hours.len()) - 1];
    let (lo, mid, hi) = (q(0.1), q(0.5), q(0.9));
    let at = |h: f64| placed_at + chrono::Duration::seconds((h * 3600.0).round() as i64);
    let latest = at(hi);
    if latest < now {
        return None;
    }
    let inside = hours.iter().filter(|h| **h >= lo && **h <= hi).count();
    Some(OrderEstimate {
        earliest: at(lo).max(placed_at),
        likely: at(mid),
        latest,
        confidence: inside as f64 / hours.len() as f64,
        orders: hours.len(),
    })
}

#[cfg(test)]
mod order_estimate_tests {
    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        "2026-11-02T09:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::hours(h)
    }

    #[test]
    fn an_order_is_expected_when_the_shops_orders_came() {
        // Twenty orders, delivered 48 to 67 hours after they were placed.
        let past: Vec<_> = (0..20)
            .map(|i| (t(-500 + i), t(-500 + i + 48 + i)))
            .collect();
        let e = from_orders(t(0), &past, t(1)).unwrap();
        assert_eq!(e.orders, 20);
        assert_eq!((e.earliest, e.likely, e.latest), (t(49), t(57), t(65)));
        assert!((e.confidence - 0.85).abs() < 1e-9, "{}", e.confidence);
    }

    #[test]
    fn too_few_orders_or_a_window_passed_make_no_estimate() {
        let past: Vec<_> = (0..9).map(|i| (t(-100 + i), t(-50 + i))).collect();
        assert_eq!(from_orders(t(0), &past, t(0)), None);
        let past: Vec<_> = (0..10).map(|i| (t(-100 + i), t(-52 + i))).collect();
        assert!(from_orders(t(0), &past, t(1)).is_some());
        assert_eq!(from_orders(t(0), &past, t(100)), None);
    }
}
