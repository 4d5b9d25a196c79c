//! Problem detection: what about a parcel needs the user's attention. Problems are derived
//! from the shipment's state and the clock, stored (so they can be listed and notify once),
//! and resolved when the condition passes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{ShipmentId, Status};

/// The kinds of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// No new carrier event for longer than the status's threshold.
    Stuck,
    /// Past the promised window (carrier's, store's, or our first estimate) and not delivered.
    Late,
    /// The carrier tried and failed to deliver.
    FailedAttempt,
    /// The carrier reports an exception.
    Exception,
    /// Going back to the sender.
    Returned,
    /// Held by customs.
    CustomsHold,
    /// No news for so long that tracking stopped.
    Expired,
}

impl ProblemKind {
    /// Every kind.
    pub const ALL: [ProblemKind; 7] = [
        ProblemKind::Stuck,
        ProblemKind::Late,
        ProblemKind::FailedAttempt,
        ProblemKind::Exception,
        ProblemKind::Returned,
        ProblemKind::CustomsHold,
        ProblemKind::Expired,
    ];

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Stuck => "stuck",
            ProblemKind::Late => "late",
            ProblemKind::FailedAttempt => "failed_attempt",
            ProblemKind::Exception => "exception",
            ProblemKind::Returned => "returned",
            ProblemKind::CustomsHold => "customs_hold",
            ProblemKind::Expired => "expired",
        }
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::Stuck => "No movement",
            ProblemKind::Late => "Late",
            ProblemKind::FailedAttempt => "Delivery attempt failed",
            ProblemKind::Exception => "Carrier exception",
            ProblemKind::Returned => "Returned to sender",
            ProblemKind::CustomsHold => "Held in customs",
            ProblemKind::Expired => "Tracking expired",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProblemKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProblemKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown problem kind {s:?}"))
    }
}

/// A detected problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What.
    pub kind: ProblemKind,
    /// Since when the condition holds (its identity: the same kind since the same instant
    /// is the same problem, however often it is detected).
    pub since: DateTime<Utc>,
    /// A short explanation for people.
    pub detail: String,
}

impl Problem {
    /// Stable identity within its shipment (UUIDv5 of kind and start).
    pub fn key(&self) -> Uuid {
        let name = format!(
            "{}\u{1f}{}",
            self.kind.as_str(),
            self.since.timestamp_millis()
        );
        Uuid::new_v5(&PROBLEM_KEY_NAMESPACE, name.as_bytes())
    }
}

/// Never change it: stored problem keys depend on it.
const PROBLEM_KEY_NAMESPACE: Uuid = Uuid::from_u128(0x2d4c_9a61_07b3_4e55_8f0e_61c2_b7a9_d311);

/// A stored, still-open problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenProblem {
    /// Its shipment.
    pub shipment_id: ShipmentId,
    /// The problem.
    #[serde(flatten)]
    pub problem: Problem,
    /// When it was first detected.
    pub opened_at: DateTime<Utc>,
}

/// How long without news counts as stuck, per status. The default (72 hours in transit) is
/// the product's PB-07 rule; the others follow how long each stage normally stays silent.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemConfig {
    /// In transit (and unknown statuses).
    pub stuck_in_transit: Duration,
    /// Label created but not handed over: shops often print labels days ahead.
    pub stuck_info_received: Duration,
    /// Out for delivery: a day without a delivery scan is odd.
    pub stuck_out_for_delivery: Duration,
    /// Exception or failed attempt with no follow-up.
    pub stuck_after_problem: Duration,
    /// Waiting at a pickup point.
    pub stuck_at_pickup: Duration,
    /// Divides every threshold (demo mode runs the clock faster).
    pub time_scale: f64,
}

impl Default for ProblemConfig {
    fn default() -> Self {
        const H: u64 = 3600;
        Self {
            stuck_in_transit: Duration::from_secs(72 * H),
            stuck_info_received: Duration::from_secs(120 * H),
            stuck_out_for_delivery: Duration::from_secs(24 * H),
            stuck_after_problem: Duration::from_secs(72 * H),
            stuck_at_pickup: Duration::from_secs(120 * H),
            time_scale: 1.0,
        }
    }
}

/// Stuck thresholds chosen by the person or shop, in hours, each in place of the default
/// (`None`: the default). Kept in the store as [`StuckHours::SETTING`], so every process
/// sharing the store applies the same ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StuckHours {
    /// In transit (and unknown statuses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_transit: Option<u32>,
    /// Label created but not handed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_received: Option<u32>,
    /// Out for delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_for_delivery: Option<u32>,
    /// After an exception or a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_problem: Option<u32>,
    /// Waiting at a pickup point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_pickup: Option<u32>,
}

impl StuckHours {
    /// The setting they are kept in.
    pub const SETTING: &'static str = "problems.stuck_hours";
    /// The longest threshold accepted: 90 days.
    pub const MAX: u32 = 2_160;

    /// `base` with these thresholds in place of its own.
    pub fn apply(&self, base: &ProblemConfig) -> ProblemConfig {
        let h =
            |v: Option<u32>, d: Duration| v.map_or(d, |h| Duration::from_secs(u64::from(h) * 3600));
        ProblemConfig {
            stuck_in_transit: h(self.in_transit, base.stuck_in_transit),
            stuck_info_received: h(self.info_received, base.stuck_info_received),
            stuck_out_for_delivery: h(self.out_for_delivery, base.stuck_out_for_delivery),
            stuck_after_problem: h(self.after_problem, base.stuck_after_problem),
            stuck_at_pickup: h(self.at_pickup, base.stuck_at_pickup),
            time_scale: base.time_scale,
        }
    }

    /// The first threshold out of 1 to [`StuckHours::MAX`] hours, by name.
    pub fn invalid(&self) -> Option<(&'static str, u32)> {
        [
            ("in_transit", self.in_transit),
            ("info_received", self.info_received),
            ("out_for_delivery", self.out_for_delivery),
            ("after_problem", self.after_problem),
            ("at_pickup", self.at_pickup),
        ]
        .into_iter()
        .find_map(|(n, v)| v.filter(|h| !(1..=Self::MAX).contains(h)).map(|h| (n, h)))
    }

    /// The thresholds kept in `store` (none kept: the defaults).
    pub fn load(store: &dyn crate::store::Store) -> crate::Result<StuckHours> {
        match store.setting(Self::SETTING)? {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                crate::Error::InvalidInput(format!(
                    "the stored stuck thresholds are unreadable: {e}"
                ))
            }),
            None => Ok(StuckHours::default()),
        }
    }

    /// Keeps these thresholds in `store` (last writer wins by `at`).
    pub fn save(
        &self,
        store: &mut dyn crate::store::Store,
        at: DateTime<Utc>,
    ) -> crate::Result<()> {
        let json = serde_json::to_string(self)
            .map_err(|e| crate::Error::InvalidInput(format!("cannot encode thresholds: {e}")))?;
        store.set_setting(Self::SETTING, &json, at)?;
        Ok(())
    }
}

impl ProblemConfig {
    /// The stuck threshold for a status (None: never stuck).
    pub fn stuck_after(&self, status: Status) -> Option<Duration> {
        let base = match status {
            Status::InTransit | Status::Unknown => self.stuck_in_transit,
            Status::InfoReceived => self.stuck_info_received,
            Status::OutForDelivery => self.stuck_out_for_delivery,
            Status::FailedAttempt | Status::Exception => self.stuck_after_problem,
            Status::AvailableForPickup => self.stuck_at_pickup,
            Status::Pending | Status::Delivered | Status::Returned | Status::Expired => {
                return None;
            }
        };
        Some(base.div_f64(self.time_scale.max(1e-9)))
    }
}

/// What detection looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facts<'a> {
    /// Current status.
    pub status: Status,
    /// When the status was reached (the latest event's time when unsure).
    pub status_at: Option<DateTime<Utc>>,
    /// The latest event's description and code.
    pub detail: Option<&'a str>,
    /// When the latest event happened.
    pub last_event_at: Option<DateTime<Utc>>,
    /// The promise it is held to: the end of the day of the carrier's latest, else of the
    /// store's promised date, else of our first estimate's latest.
    pub promised_latest: Option<DateTime<Utc>>,
}

/// Words that mark a customs hold in carriers' descriptions.
fn customs_hold(text: &str) -> bool {
    let t = text.to_lowercase();
    (t.contains("customs") || t.contains("clearance") || t.contains("douane") || t.contains("zoll"))
        && !t.contains("completed")
        && !t.contains("released")
        && !t.contains("cleared")
}

fn held(text: &str) -> bool {
    let t = text.to_lowercase();
    t.contains("hold") || t.contains("held")
}

/// Every problem that holds now.
pub fn detect(f: &Facts, now: DateTime<Utc>, config: &ProblemConfig) -> Vec<Problem> {
    let mut out = Vec::new();
    let at = f.status_at.or(f.last_event_at).unwrap_or(now);
    let detail = f.detail.unwrap_or_default();
    let status_problem = match f.status {
        Status::FailedAttempt => Some(ProblemKind::FailedAttempt),
        Status::Exception if customs_hold(detail) => Some(ProblemKind::CustomsHold),
        Status::Exception => Some(ProblemKind::Exception),
        Status::Returned => Some(ProblemKind::Returned),
        Status::Expired => Some(ProblemKind::Expired),
        // Some carriers keep a customs hold "in transit"; the words give it away.
        Status::InTransit if customs_hold(detail) && held(detail) => Some(ProblemKind::CustomsHold),
        _ => None,
    };
    if let Some(kind) = status_problem {
        out.push(Problem {
            kind,
            since: at,
            detail: if detail.is_empty() {
                kind.label().to_owned()
            } else {
                detail.to_owned()
            },
        });
    }
    if let (Some(limit), Some(last)) = (config.stuck_after(f.status), f.last_event_at)
        && now
            .signed_duration_since(last)
            .to_std()
            .is_ok_and(|d| d >= limit)
    {
        out.push(Problem {
            kind: ProblemKind::Stuck,
            since: last,
            detail: format!(
                "No carrier update for {}",
                idle_for(now.signed_duration_since(last))
            ),
        });
    }
    // Late is about a parcel still on its way: not one waiting at a pickup point, and not
    // one whose exception already says what went wrong.
    if let Some(promise) = f.promised_latest
        && !f.status.is_terminal()
        && f.status != Status::AvailableForPickup
        && status_problem.is_none()
        && now > promise
    {
        out.push(Problem {
            kind: ProblemKind::Late,
            since: promise,
            detail: format!("Expected by {}", promise.format("%a %-d %b")),
        });
    }
    out
}

/// How long a parcel has been silent, in the unit people would use. Minutes only show
/// under a sped-up clock (the demo), whose thresholds are minutes long.
fn idle_for(d: chrono::Duration) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match d.num_hours() {
        h if h >= 48 => plural(h / 24, "day"),
        0 => plural(d.num_minutes(), "minute"),
        h => plural(h, "hour"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 4, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn facts(status: Status, last: i64) -> Facts<'static> {
        Facts {
            status,
            status_at: Some(t(last)),
            detail: None,
            last_event_at: Some(t(last)),
            promised_latest: None,
        }
    }

    #[test]
    fn stuck_after_72_hours_in_transit_not_before() {
        let c = ProblemConfig::default();
        assert!(detect(&facts(Status::InTransit, 0), t(71), &c).is_empty());
        let p = detect(&facts(Status::InTransit, 0), t(72), &c);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].kind, ProblemKind::Stuck);
        assert_eq!(p[0].since, t(0));
        assert_eq!(p[0].detail, "No carrier update for 3 days");
        // The same stall seen later is the same problem.
        assert_eq!(
            detect(&facts(Status::InTransit, 0), t(100), &c)[0].key(),
            p[0].key()
        );
        // Out for delivery has a shorter fuse; delivered never sticks.
        assert_eq!(
            detect(&facts(Status::OutForDelivery, 0), t(25), &c)[0].kind,
            ProblemKind::Stuck
        );
        assert!(detect(&facts(Status::Delivered, 0), t(1000), &c).is_empty());
    }

    #[test]
    fn time_scale_shortens_thresholds() {
        let c = ProblemConfig {
            time_scale: 72.0,
            ..ProblemConfig::default()
        };
        let p = detect(&facts(Status::InTransit, 0), t(1), &c);
        assert_eq!(p[0].kind, ProblemKind::Stuck);
        // Worded in the real time the timeline shows, not "0 hours".
        assert_eq!(p[0].detail, "No carrier update for 1 hour");
        let c = ProblemConfig {
            time_scale: 120.0,
            ..ProblemConfig::default()
        };
        let p = detect(
            &facts(Status::InTransit, 0),
            t(0) + chrono::Duration::minutes(37),
            &c,
        );
        assert_eq!(p[0].detail, "No carrier update for 37 minutes");
        let p = detect(
            &facts(Status::OutForDelivery, 0),
            t(30),
            &ProblemConfig::default(),
        );
        assert_eq!(p[0].detail, "No carrier update for 30 hours");
    }

    #[test]
    fn status_problems_and_customs() {
        let c = ProblemConfig::default();
        let mut f = facts(Status::Exception, 0);
        f.detail = Some("Customs clearance: the shipment is on hold pending duties");
        assert_eq!(detect(&f, t(1), &c)[0].kind, ProblemKind::CustomsHold);
        f.detail = Some("Damaged in transit");
        assert_eq!(detect(&f, t(1), &c)[0].kind, ProblemKind::Exception);
        f.detail = Some("Customs clearance completed, the shipment is on its way");
        f.status = Status::InTransit;
        assert!(detect(&f, t(1), &c).is_empty());
        for (s, k) in [
            (Status::FailedAttempt, ProblemKind::FailedAttempt),
            (Status::Returned, ProblemKind::Returned),
            (Status::Expired, ProblemKind::Expired),
        ] {
            assert_eq!(detect(&facts(s, 0), t(1), &c)[0].kind, k);
        }
    }

    #[test]
    fn late_only_after_the_promise_and_not_once_delivered() {
        let c = ProblemConfig::default();
        let mut f = facts(Status::InTransit, 0);
        f.promised_latest = Some(t(10));
        assert!(detect(&f, t(9), &c).is_empty());
        assert_eq!(detect(&f, t(11), &c)[0].kind, ProblemKind::Late);
        f.status = Status::Delivered;
        assert!(detect(&f, t(11), &c).is_empty());
    }
}
