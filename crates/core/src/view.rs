//! What people see: plain, serialisable read models of the home screen, a parcel's detail and
//! an "add" preview, built from the store. The app's commands and the shop server's pages
//! hand these to the one HTML UI, so neither has logic of its own. Carrier text in them is
//! untrusted and must be inserted as text, never as HTML.

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::detect::{self, Detection};
use crate::domain::{Order, ShipmentId, Stage, Status, StatusChange, stage_reached};
use crate::error::Result;
use crate::eta::{Estimate, EtaSource, describe, describe_likely};
use crate::notify::rules::KindSet;
use crate::problems::{OpenProblem, ProblemKind};
use crate::store::{Group, ListItem, ListQuery, Store};

/// A carrier as a badge: its name and colour (official logos are trademarks; the UI draws a
/// neutral badge in the carrier's colour), and the number's page on the carrier's site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CarrierBadge {
    /// Carrier id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Badge colour (`#rrggbb`).
    pub color: String,
    /// The carrier's tracking page for this number.
    pub tracking_url: Option<String>,
}

impl CarrierBadge {
    /// The badge for a carrier id and tracking number.
    pub fn new(carrier: &str, number: &str) -> Self {
        match detect::carrier(carrier) {
            Some(c) => CarrierBadge {
                id: c.id,
                name: c.name,
                color: c.color,
                tracking_url: c.tracking_url.map(|u| u.replace("%s", number)),
            },
            None => CarrierBadge {
                id: carrier.to_owned(),
                name: carrier.to_owned(),
                color: "#5f6b7a".to_owned(),
                tracking_url: None,
            },
        }
    }
}

/// One parcel on the home screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Card {
    /// Parcel id.
    pub id: ShipmentId,
    /// The group it is in.
    pub group: Group,
    /// What to call it: the user's label, else the store, else "<carrier> parcel".
    pub title: String,
    /// The user's own label, if any (what an edit form starts from).
    pub label: Option<String>,
    /// The store, when known.
    pub store: Option<String>,
    /// The carrier.
    pub carrier: CarrierBadge,
    /// Tracking number.
    pub tracking_number: String,
    /// Normalised status.
    pub status: Status,
    /// The status in words.
    pub status_label: &'static str,
    /// The carrier's latest words.
    pub detail: Option<String>,
    /// How far along the journey (0 to 1), for the progress bar.
    pub progress: f32,
    /// Our estimate.
    pub estimate: Option<Estimate>,
    /// The estimate in words ("today, likely by 14:00 (90%)").
    pub eta_text: Option<String>,
    /// Open problems, in words.
    pub problems: Vec<&'static str>,
    /// The last carrier error, if polling is failing.
    pub error: Option<String>,
    /// When the latest event happened.
    pub last_event_at: Option<DateTime<FixedOffset>>,
    /// Notifications silenced.
    pub muted: bool,
    /// Archived.
    pub archived: bool,
}

/// How far along a status usually is, for a card's progress bar (the detail view counts the
/// stages actually reached).
fn progress(status: Status) -> f32 {
    match status {
        Status::Pending | Status::Unknown => 0.05,
        Status::InfoReceived => 0.15,
        Status::InTransit | Status::Exception => 0.5,
        Status::OutForDelivery | Status::FailedAttempt | Status::AvailableForPickup => 0.85,
        Status::Delivered => 1.0,
        Status::Returned | Status::Expired => 0.5,
    }
}

fn title(label: Option<&str>, store: Option<&str>, carrier: &CarrierBadge) -> String {
    label
        .or(store)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{} parcel", carrier.name))
}

fn card(item: ListItem, now: DateTime<Utc>, tz: Tz) -> Card {
    let carrier = CarrierBadge::new(&item.carrier, &item.tracking_number);
    let eta_text = item
        .estimate
        .filter(|_| !item.status.is_terminal())
        .map(|e| describe(&e, now, tz));
    Card {
        id: item.id,
        group: item.group,
        title: title(item.label.as_deref(), item.store.as_deref(), &carrier),
        label: item.label,
        store: item.store,
        tracking_number: item.tracking_number,
        status: item.status,
        status_label: item.status.label(),
        detail: item.status_detail,
        progress: progress(item.status),
        estimate: item.estimate,
        eta_text,
        problems: item.problems.iter().map(|p| p.label()).collect(),
        // A journey that has ended needs no carrier: a failed last look is no news.
        error: item.last_error.filter(|_| !item.status.is_terminal()),
        last_event_at: item.last_event_at,
        muted: item.muted,
        archived: item.archived,
        carrier,
    }
}

/// A home-screen group with its parcels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HomeGroup {
    /// Which.
    pub group: Group,
    /// Its heading.
    pub title: &'static str,
    /// Its parcels, in display order.
    pub cards: Vec<Card>,
}

/// The home screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Home {
    /// Non-empty groups, in display order.
    pub groups: Vec<HomeGroup>,
    /// Parcels shown.
    pub shown: usize,
    /// Parcels arriving today (for the tray and the window title).
    pub arriving_today: usize,
    /// Parcels needing attention.
    pub needs_attention: usize,
}

/// Search and filters for the home screen; every field narrows, `None` means any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Words to find in the label, store, number, carrier or latest description (any case).
    pub text: Option<String>,
    /// Store, exactly (any case).
    pub store: Option<String>,
    /// Carrier id.
    pub carrier: Option<String>,
    /// Status.
    pub status: Option<Status>,
    /// Latest event on or after.
    pub since: Option<DateTime<Utc>>,
    /// Latest event before.
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    fn keeps(&self, c: &Card) -> bool {
        let eq = |a: &Option<String>, b: Option<&str>| {
            a.as_deref()
                .is_none_or(|a| b.is_some_and(|b| a.trim().eq_ignore_ascii_case(b.trim())))
        };
        let at = c.last_event_at.map(|t| t.with_timezone(&Utc));
        let text_ok = self.text.as_deref().is_none_or(|q| {
            let hay = [
                Some(c.title.as_str()),
                c.store.as_deref(),
                Some(c.tracking_number.as_str()),
                Some(c.carrier.name.as_str()),
                c.detail.as_deref(),
            ];
            q.split_whitespace().all(|w| {
                let w = w.to_lowercase();
                hay.iter().flatten().any(|h| h.to_lowercase().contains(&w))
            })
        });
        text_ok
            && eq(&self.store, c.store.as_deref())
            && eq(&self.carrier, Some(&c.carrier.id))
            && self.status.is_none_or(|s| s == c.status)
            && self.since.is_none_or(|s| at.is_some_and(|t| t >= s))
            && self.until.is_none_or(|u| at.is_some_and(|t| t < u))
    }
}

/// The home screen: grouped, ordered, filtered.
pub fn home(
    store: &dyn Store,
    query: &ListQuery,
    filter: &Filter,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<Home> {
    let mut groups: Vec<HomeGroup> = Vec::new();
    let mut shown = 0;
    store.list(query, &mut |item| {
        let c = card(item, now, tz);
        if !filter.keeps(&c) {
            return Ok(());
        }
        shown += 1;
        match groups.last_mut() {
            Some(g) if g.group == c.group => g.cards.push(c),
            _ => groups.push(HomeGroup {
                group: c.group,
                title: c.group.title(),
                cards: vec![c],
            }),
        }
        Ok(())
    })?;
    let count = |g: Group| {
        groups
            .iter()
            .find(|h| h.group == g)
            .map_or(0, |h| h.cards.len())
    };
    Ok(Home {
        arriving_today: count(Group::ArrivingToday),
        needs_attention: count(Group::NeedsAttention),
        shown,
        groups,
    })
}

/// One stage of the timeline's stage bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageStep {
    /// Which.
    pub stage: Stage,
    /// In words.
    pub label: &'static str,
    /// Reached.
    pub reached: bool,
}

/// One carrier event, for the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventView {
    /// When, with the carrier's UTC offset (the UI shows it in local time).
    pub occurred_at: DateTime<FixedOffset>,
    /// Normalised status.
    pub status: Status,
    /// In words.
    pub status_label: &'static str,
    /// The carrier's description.
    pub description: String,
    /// Where, in words ("Leipzig, DE"), empty when unknown.
    pub place: String,
    /// City, for the map.
    pub city: Option<String>,
    /// Country (ISO alpha-2), for the map.
    pub country: Option<String>,
}

/// Everything the detail view shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detail {
    /// The parcel as its card shows it.
    pub card: Card,
    /// Its order.
    pub order: Order,
    /// Service level.
    pub service: Option<String>,
    /// Ordered → Shipped → In transit → Out for delivery → Delivered.
    pub stages: Vec<StageStep>,
    /// The exception branch the journey took, in words ("Returned to sender"), if any.
    pub branch: Option<&'static str>,
    /// Where our estimate comes from, in words.
    pub estimate_source: Option<&'static str>,
    /// The likely delivery, as precise as the estimate's window ("today, by 14:15", "Fri 3 May").
    pub estimate_likely: Option<String>,
    /// Carrier events, newest first.
    pub events: Vec<EventView>,
    /// Open problems with their explanations.
    pub problems: Vec<OpenProblem>,
    /// Status changes, oldest first.
    pub status_log: Vec<StatusChange>,
    /// The parcel's own choice of notification kinds (None: the channels').
    pub notify_kinds: Option<KindSet>,
}

/// Where an estimate comes from, for people.
pub fn source_label(s: EtaSource) -> &'static str {
    match s {
        EtaSource::Carrier => "the carrier's estimate",
        EtaSource::History => "from your past deliveries",
        EtaSource::Prior => "from the carrier's service standard",
        EtaSource::OutForDelivery => "out for delivery",
    }
}

/// One parcel in full; `query` says what "today" and "recent" mean, as for [`home`].
pub fn detail(
    store: &dyn Store,
    id: ShipmentId,
    query: &ListQuery,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<Detail> {
    let s = store.shipment(id)?;
    let order = store.order(s.order_id)?;
    let events = store.timeline(id)?;
    let problems = store.open_problems(Some(id))?;
    let reached = stage_reached(s.status, events.iter().map(|e| e.status));
    // A journey that has ended has no estimate to explain.
    let live_estimate = s.estimate.filter(|_| !s.status.is_terminal());
    let mut kinds: Vec<ProblemKind> = problems.iter().map(|p| p.problem.kind).collect();
    kinds.sort();
    kinds.dedup();
    let item = ListItem {
        group: store.group(id, query)?,
        id,
        tracking_number: s.tracking_number.clone(),
        carrier: s.carrier.clone(),
        status: s.status,
        status_detail: s.status_detail.clone(),
        label: s.label.clone(),
        store: order.store.clone(),
        order_number: order.order_number.clone(),
        last_event_at: s.last_event_at,
        carrier_eta: s.carrier_eta,
        estimate: s.estimate,
        problems: kinds,
        last_error: s.last_error.clone(),
        muted: s.muted,
        archived: s.archived || order.archived,
    };
    let mut card = card(item, now, tz);
    card.progress = match reached {
        Stage::Ordered => 0.1,
        Stage::Shipped => 0.3,
        Stage::InTransit => 0.55,
        Stage::OutForDelivery => 0.85,
        Stage::Delivered => 1.0,
    };
    Ok(Detail {
        stages: Stage::ALL
            .iter()
            .map(|st| StageStep {
                stage: *st,
                label: st.label(),
                reached: *st <= reached,
            })
            .collect(),
        branch: matches!(
            s.status,
            Status::FailedAttempt | Status::Exception | Status::Returned | Status::Expired
        )
        .then(|| s.status.label()),
        estimate_source: live_estimate.map(|e| source_label(e.source)),
        estimate_likely: live_estimate.map(|e| describe_likely(&e, now, tz)),
        events: events
            .iter()
            .rev()
            .map(|e| EventView {
                occurred_at: e.occurred_at,
                status: e.status,
                status_label: e.status.label(),
                description: e.description.clone(),
                place: e.location.to_string(),
                city: e.location.city.clone(),
                country: e.location.country.clone(),
            })
            .collect(),
        problems,
        status_log: store.status_log(id)?,
        notify_kinds: s.notify_kinds,
        service: s.service.clone(),
        order,
        card,
    })
}

/// A number found in pasted text, before it is saved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    /// The number, normalised.
    pub number: String,
    /// Whether some carrier's format accepts it.
    pub valid: bool,
    /// Why not, when it is not.
    pub reason: Option<String>,
    /// The best guess.
    pub carrier: Option<CarrierBadge>,
    /// Every carrier whose format accepts it, best first (to pick from when ambiguous).
    pub candidates: Vec<CarrierBadge>,
    /// Whether the guess is uncertain (several candidates of similar confidence).
    pub ambiguous: bool,
    /// It came from a carrier's tracking link.
    pub from_link: bool,
    /// Already tracked: the parcel's id.
    pub tracked: Option<ShipmentId>,
}

/// Tracking numbers in pasted text: one number, a carrier tracking link, or a whole email.
/// One number (or link) typed as such gets `detect`, so an invalid one says why; anything
/// else, a one-line paste included, is read as text (each number in it, a mistyped one with
/// its reason), and when the text names no number the whole paste gets `detect`'s reason.
pub fn find_numbers(text: &str) -> Vec<Detection> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Vec::new();
    }
    // One token, or one short line that is one number as a whole ("1Z 5R8 939 ..."), is one
    // number, valid or not.
    let short_line = trimmed.len() <= 48 && !trimmed.contains('\n');
    if !trimmed.contains(char::is_whitespace) || short_line {
        let d = detect::detect(trimmed);
        let whole = d.number == detect::normalize(trimmed) || d.from_link;
        if whole || !trimmed.contains(char::is_whitespace) {
            return vec![d];
        }
        let found = detect::scan(trimmed);
        return if found.is_empty() { vec![d] } else { found };
    }
    detect::scan(trimmed)
}

/// What adding `text` would add, shown before saving.
pub fn preview(store: &dyn Store, text: &str) -> Vec<Found> {
    find_numbers(text)
        .into_iter()
        .map(|d| {
            let candidates: Vec<CarrierBadge> = d
                .candidates
                .iter()
                .map(|c| CarrierBadge::new(&c.carrier, &d.number))
                .collect();
            let ambiguous = d.candidates.len() > 1
                && d.candidates[1].confidence >= d.candidates[0].confidence - 0.15;
            Found {
                tracked: store
                    .find(&d.number)
                    .ok()
                    .filter(|s| s.tracking_number == d.number)
                    .map(|s| s.id),
                carrier: d
                    .carrier
                    .as_deref()
                    .map(|c| CarrierBadge::new(c, &d.number)),
                candidates,
                ambiguous,
                valid: d.valid,
                reason: d.reason,
                from_link: d.from_link,
                number: d.number,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
