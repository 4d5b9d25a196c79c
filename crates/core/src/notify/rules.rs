//! Notification rules: which news notifies on which channel, quiet hours, coalescing and
//! wording. Pure functions over plain data, shared by the app and the shop server, and fast
//! (see `benches/rules.rs`): the pipeline calls them for every journal entry.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Channel, LIST_LINK, Urgency, parcel_link};
use crate::domain::{ShipmentId, Status};
use crate::eta::Estimate;
use crate::problems::ProblemKind;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The carrier has the parcel.
    Shipped,
    /// On the delivery vehicle.
    OutForDelivery,
    /// Waiting at a pickup point.
    ReadyForPickup,
    /// Delivered.
    Delivered,
    /// A problem was detected.
    Problem(ProblemKind),
}

impl Kind {
    /// Every kind, in bit order.
    pub const ALL: [Kind; 11] = [
        Kind::Shipped,
        Kind::OutForDelivery,
        Kind::ReadyForPickup,
        Kind::Delivered,
        Kind::Problem(ProblemKind::Stuck),
        Kind::Problem(ProblemKind::Late),
        Kind::Problem(ProblemKind::FailedAttempt),
        Kind::Problem(ProblemKind::Exception),
        Kind::Problem(ProblemKind::Returned),
        Kind::Problem(ProblemKind::CustomsHold),
        Kind::Problem(ProblemKind::Expired),
    ];

    fn bit(self) -> u16 {
        let i = Kind::ALL.iter().position(|k| *k == self).unwrap_or(0);
        1 << i
    }

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Shipped => "shipped",
            Kind::OutForDelivery => "out_for_delivery",
            Kind::ReadyForPickup => "ready_for_pickup",
            Kind::Delivered => "delivered",
            Kind::Problem(p) => p.as_str(),
        }
    }

    /// The headline for people.
    pub fn headline(self) -> &'static str {
        match self {
            Kind::Shipped => "Shipped",
            Kind::OutForDelivery => "Out for delivery",
            Kind::ReadyForPickup => "Ready for pickup",
            Kind::Delivered => "Delivered",
            Kind::Problem(p) => p.label(),
        }
    }

    /// Which of several news about one parcel leads a coalesced notification.
    fn priority(self) -> u8 {
        match self {
            Kind::Shipped => 1,
            Kind::Problem(ProblemKind::Stuck | ProblemKind::Late) => 2,
            Kind::OutForDelivery => 3,
            Kind::ReadyForPickup => 4,
            Kind::Delivered => 5,
            Kind::Problem(_) => 6,
        }
    }

    /// How insistent.
    pub fn urgency(self) -> Urgency {
        match self {
            Kind::Shipped => Urgency::Low,
            Kind::OutForDelivery | Kind::ReadyForPickup | Kind::Delivered => Urgency::Normal,
            Kind::Problem(_) => Urgency::Critical,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown notification kind {s:?}"))
    }
}

/// A set of kinds, written as a comma list: kind names, `problems` (every problem), `all`,
/// `none`, or `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindSet(u16);

impl KindSet {
    /// Nothing.
    pub const NONE: KindSet = KindSet(0);

    /// Everything.
    pub fn all() -> Self {
        KindSet(Kind::ALL.iter().fold(0, |a, k| a | k.bit()))
    }

    /// Every problem.
    pub fn problems() -> Self {
        KindSet(
            Kind::ALL
                .iter()
                .filter(|k| matches!(k, Kind::Problem(_)))
                .fold(0, |a, k| a | k.bit()),
        )
    }

    /// The product's default: shipped, out for delivery, ready for pickup, delivered and
    /// every problem.
    pub fn default_kinds() -> Self {
        Self::all()
    }

    /// Whether `k` is in the set.
    pub fn contains(self, k: Kind) -> bool {
        self.0 & k.bit() != 0
    }

    /// The set with `k` added.
    pub fn with(self, k: Kind) -> Self {
        KindSet(self.0 | k.bit())
    }

    /// Both sets' kinds.
    pub fn intersect(self, other: KindSet) -> Self {
        KindSet(self.0 & other.0)
    }

    /// The kinds in bit order.
    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

impl Default for KindSet {
    fn default() -> Self {
        Self::default_kinds()
    }
}

impl fmt::Display for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == KindSet::all() {
            return f.write_str("all");
        }
        if *self == KindSet::NONE {
            return f.write_str("none");
        }
        // Every problem reads as `problems`, as it is written.
        let all_problems = self.intersect(KindSet::problems()) == KindSet::problems();
        let names: Vec<&str> = self
            .iter()
            .filter(|k| !(all_problems && matches!(k, Kind::Problem(_))))
            .map(Kind::as_str)
            .chain(all_problems.then_some("problems"))
            .collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for KindSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = KindSet::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            set = match part {
                "all" => KindSet::all(),
                "default" => KindSet(set.0 | KindSet::default_kinds().0),
                "none" => KindSet::NONE,
                "problems" => KindSet(set.0 | KindSet::problems().0),
                other => set.with(other.parse()?),
            };
        }
        Ok(set)
    }
}

impl Serialize for KindSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KindSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One channel's preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelPrefs {
    /// Which channel.
    pub channel: Channel,
    /// Off means nothing is recorded for it.
    pub enabled: bool,
    /// Which news it carries.
    pub kinds: KindSet,
}

/// A daily quiet period in the user's time zone (may cross midnight).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuietHours {
    /// Starts at (inclusive).
    pub start: NaiveTime,
    /// Ends at (exclusive).
    pub end: NaiveTime,
    /// Let "delivered" through anyway.
    pub allow_delivered: bool,
}

impl QuietHours {
    /// Whether the local time of day falls in the quiet period.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

/// Every notification preference (stored as one setting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prefs {
    /// Per channel.
    pub channels: Vec<ChannelPrefs>,
    /// Quiet hours, if any.
    pub quiet: Option<QuietHours>,
    /// The user's time zone (IANA name); quiet hours and "today" are read in it.
    #[serde(with = "tz_name")]
    pub tz: Tz,
}

mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            channels: vec![ChannelPrefs {
                channel: Channel::Desktop,
                enabled: true,
                kinds: KindSet::default_kinds(),
            }],
            quiet: None,
            tz: local_tz(),
        }
    }
}

/// The system's time zone, UTC when it cannot be told. A `TZ` holding a zone's name
/// (`Europe/Berlin`, `:Europe/Berlin`) wins, as it does for every other program on Unix.
pub fn local_tz() -> Tz {
    std::env::var("TZ")
        .ok()
        .and_then(|v| v.trim_start_matches(':').parse().ok())
        .or_else(|| iana_time_zone::get_timezone().ok()?.parse().ok())
        .unwrap_or(Tz::UTC)
}

impl Prefs {
    /// The settings key they are stored under.
    pub const SETTING: &'static str = "notifications";

    /// A channel's preferences (disabled when absent).
    pub fn channel(&self, c: Channel) -> Option<&ChannelPrefs> {
        self.channels.iter().find(|p| p.channel == c && p.enabled)
    }

    /// A channel's preferences, created (disabled, default kinds) when absent.
    pub fn channel_mut(&mut self, c: Channel) -> &mut ChannelPrefs {
        if let Some(i) = self.channels.iter().position(|p| p.channel == c) {
            return &mut self.channels[i];
        }
        self.channels.push(ChannelPrefs {
            channel: c,
            enabled: false,
            kinds: KindSet::default_kinds(),
        });
        self.channels.last_mut().expect("just pushed")
    }

    /// Whether `now` falls in quiet hours.
    pub fn is_quiet(&self, now: DateTime<Utc>) -> bool {
        self.quiet
            .is_some_and(|q| q.contains(self.tz.from_utc_datetime(&now.naive_utc()).time()))
    }
}

/// One piece of news from the store's journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct News {
    /// Which parcel.
    pub shipment_id: ShipmentId,
    /// What.
    pub kind: Kind,
    /// Its identity: the same news, however often seen, has the same key.
    pub key: Uuid,
    /// When it happened (the carrier event's time, or when the problem began).
    pub at: DateTime<Utc>,
    /// The carrier's words or the problem's explanation.
    pub detail: Option<String>,
}

/// What the wording needs to know about a parcel.
#[derive(Debug, Clone, PartialEq)]
pub struct Parcel<'a> {
    /// Which.
    pub id: ShipmentId,
    /// The user's name for it.
    pub label: Option<&'a str>,
    /// The store it comes from.
    pub store: Option<&'a str>,
    /// The carrier's display name.
    pub carrier: &'a str,
    /// The tracking number.
    pub number: &'a str,
    /// Its status now.
    pub status: Status,
    /// Its estimate now.
    pub estimate: Option<Estimate>,
    /// Muted by the user.
    pub muted: bool,
    /// The user's per-parcel choice of kinds (None: the channel's).
    pub kinds: Option<KindSet>,
}

/// Whether a notification goes out now or waits for quiet hours to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Initial {
    /// Send now.
    Pending,
    /// Quiet hours: hold, then summarise.
    Held,
}

/// A notification to record in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    /// Born-here id (UUIDv7).
    pub id: Uuid,
    /// Identity of the news it carries (see [`super::Message::dedupe_key`]).
    pub dedupe_key: Uuid,
    /// Where it goes.
    pub channel: Channel,
    /// Which parcel (None for a summary).
    pub shipment_id: Option<ShipmentId>,
    /// The leading kind (None for a summary).
    pub kind: Option<Kind>,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Deep link.
    pub link: String,
    /// How insistent.
    pub urgency: Urgency,
    /// Send now or hold.
    pub initial: Initial,
}

const NEWS_KEY_NAMESPACE: Uuid = Uuid::from_u128(0x91c4_33f0_6a2e_4d8b_a5f1_0c7e_2b94_6d18);

/// Cut `s` to at most `max` characters, ending in "…" when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// Carrier text is untrusted and may carry control characters or runs of blanks.
fn tidy(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn parcel_name(p: &Parcel) -> String {
    let name = p
        .label
        .or(p.store)
        .map(tidy)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{} parcel", p.carrier));
    clip(&name, 40)
}

/// Decide and word the notifications for one parcel's news from one pass: at most one per
/// channel, led by the most important news, the others mentioned.
pub fn decide(prefs: &Prefs, parcel: &Parcel, news: &[News], now: DateTime<Utc>) -> Vec<Draft> {
    let mut out = Vec::new();
    if parcel.muted || news.is_empty() {
        return out;
    }
    let quiet = prefs.is_quiet(now);
    for ch in prefs.channels.iter().filter(|c| c.enabled) {
        let allowed = parcel.kinds.map_or(ch.kinds, |k| k.intersect(ch.kinds));
        let mut picked: Vec<&News> = news.iter().filter(|n| allowed.contains(n.kind)).collect();
        if picked.is_empty() {
            continue;
        }
        // Most important first; among equals, the newest.
        picked.sort_by(|a, b| {
            b.kind
                .priority()
                .cmp(&a.kind.priority())
                .then(b.at.cmp(&a.at))
        });
        let lead = picked[0];
        let dedupe_key = combined_key(b"", ch.channel, picked.iter().map(|n| n.key));
        let title = clip(
            &format!("{} · {}", parcel_name(parcel), lead.kind.headline()),
            60,
        );
        let body = body(
            parcel,
            lead,
            &picked[1..],
            prefs.tz,
            now,
            ch.channel.max_chars() - title.chars().count() - 3,
        );
        let delivered_through =
            quiet && prefs.quiet.is_some_and(|q| q.allow_delivered) && lead.kind == Kind::Delivered;
        out.push(Draft {
            id: Uuid::now_v7(),
            dedupe_key,
            channel: ch.channel,
            shipment_id: Some(parcel.id),
            kind: Some(lead.kind),
            title,
            body,
            link: parcel_link(parcel.id),
            urgency: lead.kind.urgency(),
            initial: if quiet && !delivered_through {
                Initial::Held
            } else {
                Initial::Pending
            },
        });
    }
    out
}

fn body(
    parcel: &Parcel,
    lead: &News,
    rest: &[&News],
    tz: Tz,
    now: DateTime<Utc>,
    max: usize,
) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(4);
    match lead.kind {
        Kind::Problem(_) | Kind::ReadyForPickup => {
            if let Some(d) = lead.detail.as_deref().map(tidy).filter(|d| !d.is_empty()) {
                parts.push(clip(&d, 70));
            }
        }
        _ => {}
    }
    if !matches!(lead.kind, Kind::Delivered)
        && !parcel.status.is_terminal()
        && let Some(est) = &parcel.estimate
    {
        parts.push(format!("Arrives {}", crate::eta::describe(est, now, tz)));
    }
    if !rest.is_empty() {
        let also: Vec<&str> = rest.iter().map(|n| n.kind.headline()).collect();
        parts.push(format!("Also: {}", also.join(", ").to_lowercase()));
    }
    parts.push(format!("{} {}", parcel.carrier, parcel.number));
    clip(&parts.join(" · "), max)
}

/// A held (or digested) notification, as the summary needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Held<'a> {
    /// Its title.
    pub title: &'a str,
    /// Its kind.
    pub kind: Option<Kind>,
    /// Its parcel.
    pub shipment_id: Option<ShipmentId>,
    /// Its dedupe key.
    pub dedupe_key: Uuid,
}

impl<'a> From<&'a Draft> for Held<'a> {
    fn from(d: &'a Draft) -> Self {
        Held {
            title: &d.title,
            kind: d.kind,
            shipment_id: d.shipment_id,
            dedupe_key: d.dedupe_key,
        }
    }
}

/// One key for a notification carrying several pieces of news (order-independent).
fn combined_key(prefix: &[u8], channel: Channel, keys: impl Iterator<Item = Uuid>) -> Uuid {
    let mut keys: Vec<Uuid> = keys.collect();
    keys.sort();
    let mut name = Vec::with_capacity(16 * keys.len() + 16);
    name.extend_from_slice(prefix);
    name.extend_from_slice(channel.as_str().as_bytes());
    for k in &keys {
        name.extend_from_slice(k.as_bytes());
    }
    Uuid::new_v5(&NEWS_KEY_NAMESPACE, &name)
}

/// The one notification that replaces everything held during quiet hours on a channel.
pub fn summarize(channel: Channel, held: &[Held]) -> Draft {
    let parcels: std::collections::BTreeSet<_> =
        held.iter().filter_map(|h| h.shipment_id).collect();
    let title = match parcels.len() {
        1 => "While you were away: 1 parcel update".to_owned(),
        n => format!("While you were away: {n} parcel updates"),
    };
    let lines: Vec<&str> = held.iter().map(|h| h.title).collect();
    summary(channel, held, title, &lines.join("; "))
}

/// The one notification for many parcels' news from one pass (a first sync, a carrier
/// catching up). When the news is all of one kind, the title says which and the body names
/// the parcels: "5 parcels shipped" / "Three novels, Espresso beans, …".
pub fn digest(channel: Channel, items: &[Held]) -> Draft {
    let n = items.len();
    let kind = items
        .first()
        .and_then(|f| f.kind)
        .filter(|k| items.iter().all(|h| h.kind == Some(*k)));
    let (title, body) = match kind {
        Some(k) => {
            let what = match k {
                Kind::Problem(_) => format!("{n} parcels: {}", k.headline()),
                _ => format!("{n} parcels {}", k.headline().to_lowercase()),
            };
            let suffix = format!(" · {}", k.headline());
            let names: Vec<&str> = items
                .iter()
                .map(|h| h.title.strip_suffix(&suffix).unwrap_or(h.title))
                .collect();
            (what, names.join(", "))
        }
        None => {
            let lines: Vec<&str> = items.iter().map(|h| h.title).collect();
            (format!("{n} parcel updates"), lines.join("; "))
        }
    };
    summary(channel, items, title, &body)
}

fn summary(channel: Channel, items: &[Held], title: String, body: &str) -> Draft {
    let urgent = items
        .iter()
        .any(|h| matches!(h.kind, Some(Kind::Problem(_))));
    Draft {
        id: Uuid::now_v7(),
        dedupe_key: combined_key(b"summary", channel, items.iter().map(|h| h.dedupe_key)),
        channel,
        shipment_id: None,
        kind: None,
        body: clip(body, channel.max_chars() - title.chars().count() - 3),
        title,
        link: LIST_LINK.to_owned(),
        urgency: if urgent {
            Urgency::Critical
        } else {
            Urgency::Normal
        },
        initial: Initial::Pending,
    }
}

/// The journal key of a status transition's news: once per parcel for shipped and
/// delivered (a carrier correcting back and forth must not re-announce them), once per
/// carrier event otherwise (a second delivery day is news again).
pub fn status_news_key(shipment: ShipmentId, kind: Kind, event_key: Option<Uuid>) -> Uuid {
    let mut name = Vec::with_capacity(48);
    name.extend_from_slice(shipment.0.as_bytes());
    name.extend_from_slice(kind.as_str().as_bytes());
    if !matches!(kind, Kind::Shipped | Kind::Delivered)
        && let Some(k) = event_key
    {
        name.extend_from_slice(k.as_bytes());
    }
    Uuid::new_v5(&NEWS_KEY_NAMESPACE, &name)
}

/// The news a status transition is, if any. Problems (failed attempt, exception, returned,
/// ...) come from problem detection instead, so they are not announced twice.
pub fn status_news(from: Status, to: Status) -> Option<Kind> {
    match to {
        Status::InTransit
            if matches!(
                from,
                Status::Pending | Status::InfoReceived | Status::Unknown
            ) =>
        {
            Some(Kind::Shipped)
        }
        Status::OutForDelivery => Some(Kind::OutForDelivery),
        Status::AvailableForPickup => Some(Kind::ReadyForPickup),
        Status::Delivered => Some(Kind::Delivered),
        _ => None,
    }
}

/// The news key of a problem.
pub fn problem_news_key(shipment: ShipmentId, problem_key: Uuid) -> Uuid {
    let mut name = Vec::with_capacity(40);
    name.extend_from_slice(shipment.0.as_bytes());
    name.extend_from_slice(b"problem");
    name.extend_from_slice(problem_key.as_bytes());
    Uuid::new_v5(&NEWS_KEY_NAMESPACE, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_sets_read_and_write_as_people_type_them() {
        let set: KindSet = "delivered, problems".parse().unwrap();
        assert!(set.contains(Kind::Delivered));
        assert!(set.contains(Kind::Problem(ProblemKind::CustomsHold)));
        assert!(!set.contains(Kind::Shipped));
        assert_eq!(set.to_string(), "delivered,problems");
        assert_eq!("all".parse::<KindSet>().unwrap().to_string(), "all");
        assert_eq!("none".parse::<KindSet>().unwrap().to_string(), "none");
        let some: KindSet = "shipped,stuck".parse().unwrap();
        assert_eq!(some.to_string(), "shipped,stuck");
        assert_eq!(some.to_string().parse::<KindSet>().unwrap(), some);
        assert!("shipped,teleported".parse::<KindSet>().is_err());
    }

    #[test]
    fn quiet_hours_may_cross_midnight() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let night = QuietHours {
            start: t(22, 0),
            end: t(7, 0),
            allow_delivered: false,
        };
        assert!(night.contains(t(23, 30)) && night.contains(t(0, 0)) && night.contains(t(6, 59)));
        assert!(!night.contains(t(7, 0)) && !night.contains(t(21, 59)));
        let siesta = QuietHours {
            start: t(13, 0),
            end: t(15, 0),
            allow_delivered: false,
        };
        assert!(siesta.contains(t(14, 0)) && !siesta.contains(t(15, 0)));
    }

    #[test]
    fn a_digest_says_what_its_news_share() {
        let held = |title: &'static str, kind: Kind, i: u128| Held {
            title,
            kind: Some(kind),
            shipment_id: Some(ShipmentId(Uuid::from_u128(i))),
            dedupe_key: Uuid::from_u128(i),
        };
        let shipped = [
            held("Three novels · Shipped", Kind::Shipped, 1),
            held("Espresso beans · Shipped", Kind::Shipped, 2),
            held("Bookshop parcel · Shipped", Kind::Shipped, 3),
        ];
        let d = digest(Channel::Desktop, &shipped);
        assert_eq!(d.title, "3 parcels shipped");
        assert_eq!(d.body, "Three novels, Espresso beans, Bookshop parcel");
        assert_eq!(
            (d.urgency, d.shipment_id, d.link.as_str()),
            (Urgency::Normal, None, LIST_LINK)
        );

        let stuck = [
            held("Lamp · No movement", Kind::Problem(ProblemKind::Stuck), 4),
            held("Boots · No movement", Kind::Problem(ProblemKind::Stuck), 5),
        ];
        let d = digest(Channel::Desktop, &stuck);
        assert_eq!(
            (d.title.as_str(), d.body.as_str()),
            ("2 parcels: No movement", "Lamp, Boots")
        );
        assert_eq!(d.urgency, Urgency::Critical);

        let mixed = [
            held("Lamp · Delivered", Kind::Delivered, 6),
            held("Boots · Out for delivery", Kind::OutForDelivery, 7),
        ];
        let d = digest(Channel::Desktop, &mixed);
        assert_eq!(d.title, "2 parcel updates");
        assert_eq!(d.body, "Lamp · Delivered; Boots · Out for delivery");
        // The same news digests to the same key, whatever the order (sent once).
        let swapped = [mixed[1].clone(), mixed[0].clone()];
        assert_eq!(digest(Channel::Desktop, &swapped).dedupe_key, d.dedupe_key);
    }

    #[test]
    fn clipping_keeps_whole_characters() {
        assert_eq!(clip("Zürich Hbf", 20), "Zürich Hbf");
        assert_eq!(clip("Zürich Hauptbahnhof", 8), "Zürich…");
        assert_eq!(clip("a    b", 3), "a…");
    }
}
