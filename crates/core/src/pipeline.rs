//! What happens after the store commits carrier news: the estimate is recomputed, problems
//! are detected, the journal becomes notifications in the outbox, and the outbox is sent.
//!
//! ```text
//! store::Change (doorbell) -> derive: eta::Model + problems::detect -> store::save_derived
//!   -> journal (status_log, problems; durable) -> notify::rules -> outbox (recorded)
//!   -> Notifier::send -> outbox (sent)
//! ```
//!
//! The broadcast channel only rings the bell: every step reads durable state, so a crash at
//! any point loses nothing (estimates and problems are re-derived, the journal cursor and
//! the outbox are committed with the notifications they produce).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::domain::{ShipmentId, Status};
use crate::error::{Error, Result};
use crate::eta::calendar::{end_of_day, local_date};
use crate::eta::{Delivery, Estimate, EtaInput, Model, ModelConfig};
use crate::notify::rules::{self, Draft, Held, Kind, News, Parcel, Prefs};
use crate::notify::{Message, Notifier, NotifyError};
use crate::poller::SharedStore;
use crate::problems::{self, Facts, ProblemConfig};
use crate::store::{Active, Assessment, Change, JournalEntry, OutboxEntry, SendOutcome, Store};

/// Derived rows saved a transaction at a time (each is idempotent on its own).
const SAVE_CHUNK: usize = 256;

/// Tuning.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Problem thresholds.
    pub problems: ProblemConfig,
    /// A status change caused by an event older than this (when it was recorded) is history,
    /// not news: adding an old parcel does not announce its past.
    pub stale_news: Duration,
    /// More notifications than this on one channel from one pass become one digest.
    pub digest_over: usize,
    /// Changes arriving closer together than this are one pass: a first sync polls parcel
    /// after parcel, and its news should arrive as one digest, not a burst of pop-ups.
    pub gather_quiet: Duration,
    /// The longest a pass waits for its changes to settle.
    pub gather_max: Duration,
    /// First retry delay; doubles per attempt.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Attempts before a notification is given up.
    pub max_attempts: u32,
    /// How long a send may take before it counts as failed (and the lease on it).
    pub send_timeout: Duration,
    /// How often every active parcel is re-derived (estimates move with the clock, parcels
    /// get stuck without any event).
    pub refresh_every: Duration,
    /// How often to look for due retries and the end of quiet hours.
    pub tick: Duration,
    /// Clock speed-up (demo mode): divides thresholds.
    pub time_scale: f64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            problems: ProblemConfig::default(),
            stale_news: Duration::from_secs(48 * 3600),
            digest_over: 4,
            gather_quiet: Duration::from_millis(300),
            gather_max: Duration::from_secs(2),
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            max_attempts: 8,
            send_timeout: Duration::from_secs(15),
            refresh_every: Duration::from_secs(600),
            tick: Duration::from_secs(20),
            time_scale: 1.0,
        }
    }
}

/// What a dispatch pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dispatched {
    /// Accepted by their channel.
    pub sent: usize,
    /// Failed, to be retried.
    pub retrying: usize,
    /// Given up.
    pub failed: usize,
}

/// The after-ingest pipeline (see the module docs).
pub struct Pipeline {
    store: SharedStore,
    model: Mutex<Model>,
    config: PipelineConfig,
    notifiers: Vec<Arc<dyn Notifier>>,
    changes: broadcast::Sender<Change>,
}

fn lock(store: &SharedStore) -> Result<std::sync::MutexGuard<'_, dyn Store + Send + 'static>> {
    store
        .lock()
        .map_err(|_| Error::InvalidInput("the store lock is poisoned".into()))
}

/// Run `f` on the store on a blocking thread.
async fn blocking<T: Send + 'static>(
    store: &SharedStore,
    f: impl FnOnce(&mut (dyn Store + Send)) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&mut *lock(&store)?))
        .await
        .map_err(|e| Error::InvalidInput(format!("the notification pipeline failed: {e}")))?
}

impl Pipeline {
    /// Build it and train the ETA model on the store's delivered parcels.
    pub fn new(
        store: SharedStore,
        config: PipelineConfig,
        notifiers: Vec<Arc<dyn Notifier>>,
    ) -> Result<Self> {
        // Every period is divided by it: NaN, zero or a negative scale has no clock.
        if !(config.time_scale.is_finite() && config.time_scale > 0.0) {
            return Err(Error::InvalidInput(format!(
                "the pipeline's time scale must be a positive number, not {}",
                config.time_scale
            )));
        }
        let model = Self::train(&store)?;
        let (changes, _) = broadcast::channel(1024);
        Ok(Self {
            store,
            model: Mutex::new(model),
            config,
            notifiers,
            changes,
        })
    }

    fn train(store: &SharedStore) -> Result<Model> {
        let mut model = Model::new(ModelConfig::default());
        lock(store)?.deliveries(&mut |d| {
            model.learn(&d);
            Ok(())
        })?;
        Ok(model)
    }

    /// Estimates, problems and notifications as they change, for the UI.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// The notification preferences (stored, or the defaults).
    pub fn prefs(&self) -> Result<Prefs> {
        load_prefs(&*lock(&self.store)?)
    }

    fn scaled(&self, d: Duration) -> chrono::Duration {
        chrono::Duration::from_std(d.div_f64(self.config.time_scale.max(1e-9)))
            .unwrap_or(chrono::Duration::MAX)
    }

    /// Recompute estimates and problems for `ids` (None: every parcel on its way).
    pub fn derive(&self, ids: Option<&[ShipmentId]>, now: DateTime<Utc>) -> Result<Vec<Change>> {
        let prefs = self.prefs()?;
        let mut rows = Vec::new();
        let mut learnt = Vec::new();
        {
            let store = lock(&self.store)?;
            // The store's own thresholds (a shop's), read each pass so a change applies at once.
            let problem_config = problems::StuckHours::load(&*store)?.apply(&self.config.problems);
            let model = self
                .model
                .lock()
                .map_err(|_| Error::InvalidInput("the model lock is poisoned".into()))?;
            store.active(ids, &mut |a| {
                // A parcel still carrying an estimate has just been delivered (saving clears
                // it): learn from it once.
                if a.status == Status::Delivered
                    && a.estimate.is_some()
                    && let Some(at) = a.status_at
                {
                    learnt.push(delivery_of(&a, at));
                }
                let d = derive_one(&model, &a, &problem_config, prefs.tz, now);
                // Most parcels, most of the time: nothing new to write.
                let same_problems = d.problems.len() == a.problems.len()
                    && d.problems
                        .iter()
                        .all(|p| a.problems.iter().any(|q| q.key() == p.key()));
                let first_missing = a.first_latest.is_none() && d.first_latest.is_some();
                if !same_problems
                    || first_missing
                    || !crate::store::same_estimate(a.estimate.as_ref(), d.estimate.as_ref())
                {
                    rows.push(d);
                }
                Ok(())
            })?;
        }
        if !learnt.is_empty()
            && let Ok(mut model) = self.model.lock()
        {
            for d in &learnt {
                model.learn(d);
            }
        }
        // In short transactions, the store released between them: a busy shop's webhooks keep
        // writing to the same parcels meanwhile, and one transaction locking thousands of rows
        // held each of those writes until it committed (p99 1.6 s at 3,000 events/s).
        let mut changes = Vec::new();
        for chunk in rows.chunks(SAVE_CHUNK) {
            changes.extend(lock(&self.store)?.save_derived(chunk, now)?);
        }
        for c in &changes {
            let _ = self.changes.send(c.clone());
        }
        Ok(changes)
    }

    /// Turn new journal entries into recorded notifications; returns how many were recorded.
    pub fn record(&self, now: DateTime<Utc>) -> Result<usize> {
        let prefs = self.prefs()?;
        let stale = self.scaled(self.config.stale_news);
        let mut recorded = 0;
        loop {
            let mut store = lock(&self.store)?;
            let from = store.journal_cursor()?;
            let (entries, to) = store.journal(from, 500)?;
            if entries.is_empty() {
                return Ok(recorded);
            }
            let mut by_parcel: BTreeMap<ShipmentId, Vec<News>> = BTreeMap::new();
            for e in entries {
                if let Some(n) = news_of(e, now, stale) {
                    by_parcel.entry(n.shipment_id).or_default().push(n);
                }
            }
            let keys: Vec<Uuid> = by_parcel.values().flatten().map(|n| n.key).collect();
            let done: HashSet<Uuid> = store.notified(&keys)?.into_iter().collect();
            let mut drafts = Vec::new();
            for news in by_parcel.values_mut() {
                news.retain(|n| !done.contains(&n.key));
            }
            by_parcel.retain(|_, news| !news.is_empty());
            let ids: Vec<ShipmentId> = by_parcel.keys().copied().collect();
            for (s, shop) in store.shipments_with_store(&ids)? {
                let (id, Some(news)) = (s.id, by_parcel.get(&s.id)) else {
                    continue;
                };
                let carrier = crate::detect::carrier(&s.carrier)
                    .map(|c| c.name)
                    .unwrap_or_else(|| s.carrier.clone());
                let parcel = Parcel {
                    id,
                    label: s.label.as_deref(),
                    store: shop.as_deref(),
                    carrier: &carrier,
                    number: &s.tracking_number,
                    status: s.status,
                    estimate: s.estimate,
                    muted: s.muted,
                    kinds: s.notify_kinds,
                };
                drafts.extend(rules::decide(&prefs, &parcel, news, now));
            }
            let drafts = digest(drafts, self.config.digest_over);
            let n = drafts.len();
            if store.record_notifications(from, to, &keys, &drafts, now)? {
                recorded += n;
                if n > 0 {
                    let _ = self.changes.send(Change::NotificationsChanged);
                }
            }
        }
    }

    /// After quiet hours, replace what was held by one summary per channel.
    pub fn release(&self, now: DateTime<Utc>) -> Result<usize> {
        let prefs = self.prefs()?;
        if prefs.is_quiet(now) {
            return Ok(0);
        }
        let mut store = lock(&self.store)?;
        let held = store.held_notifications()?;
        if held.is_empty() {
            return Ok(0);
        }
        let mut by_channel: BTreeMap<_, Vec<&OutboxEntry>> = BTreeMap::new();
        for h in &held {
            by_channel.entry(h.channel).or_default().push(h);
        }
        for (channel, entries) in by_channel {
            let ids: Vec<Uuid> = entries.iter().map(|e| e.id).collect();
            if entries.len() == 1 {
                store.release_held(&ids, None, now)?;
                continue;
            }
            let items: Vec<Held> = entries.iter().map(|e| Held::from(*e)).collect();
            let summary = rules::summarize(channel, &items);
            store.release_held(&ids, Some(&summary), now)?;
        }
        let _ = self.changes.send(Change::NotificationsChanged);
        Ok(held.len())
    }

    /// Send every due notification through its channel. The store is called on blocking
    /// threads (a server's store blocks on the runtime for each call).
    pub async fn dispatch(&self, now: DateTime<Utc>) -> Result<Dispatched> {
        let mut report = Dispatched::default();
        let due = blocking(&self.store, move |s| s.due_notifications(now, 100)).await?;
        for n in due {
            let Some(notifier) = self.notifiers.iter().find(|x| x.channel() == n.channel) else {
                continue; // another process (the shop server) serves this channel
            };
            let lease =
                now + chrono::Duration::from_std(self.config.send_timeout * 4).unwrap_or_default();
            let id = n.id;
            if !blocking(&self.store, move |s| s.claim_notification(id, lease, now)).await? {
                continue;
            }
            let message = Message {
                id: n.id,
                dedupe_key: n.dedupe_key,
                shipment_id: n.shipment_id,
                kind: n.kind,
                title: n.title.clone(),
                body: n.body.clone(),
                link: n.link.clone(),
                urgency: n.urgency,
            };
            let result = tokio::time::timeout(self.config.send_timeout, notifier.send(&message))
                .await
                .unwrap_or_else(|_| Err(NotifyError::Unavailable("timed out".into())));
            let outcome = match result {
                Ok(()) => {
                    report.sent += 1;
                    SendOutcome::Sent
                }
                Err(NotifyError::Rejected(e)) => {
                    report.failed += 1;
                    SendOutcome::Failed { error: e }
                }
                Err(NotifyError::NotWanted(e)) => {
                    // Recorded with its reason; no failure to warn of.
                    blocking(&self.store, move |s| {
                        s.mark_notification(id, &SendOutcome::Failed { error: e }, Utc::now())
                    })
                    .await?;
                    continue;
                }
                Err(NotifyError::Later { until, reason }) => {
                    blocking(&self.store, move |s| {
                        s.mark_notification(
                            id,
                            &SendOutcome::Deferred { reason, at: until },
                            Utc::now(),
                        )
                    })
                    .await?;
                    continue;
                }
                Err(NotifyError::Unavailable(e)) if n.attempts + 1 >= self.config.max_attempts => {
                    report.failed += 1;
                    SendOutcome::Failed { error: e }
                }
                Err(NotifyError::Unavailable(e)) => {
                    report.retrying += 1;
                    let delay = self
                        .config
                        .retry_base
                        .saturating_mul(1 << n.attempts.min(16))
                        .min(self.config.retry_max);
                    SendOutcome::Retry {
                        error: e,
                        at: Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default(),
                    }
                }
            };
            match &outcome {
                SendOutcome::Sent | SendOutcome::Deferred { .. } => {}
                SendOutcome::Retry { error, at } => tracing::warn!(
                    "{} notification not shown ({error}); trying again at {}",
                    n.channel,
                    at.with_timezone(&chrono::Local).format("%H:%M:%S")
                ),
                SendOutcome::Failed { error } => tracing::warn!(
                    "{} notification given up ({error}); it stays in `parceltrail notifications`",
                    n.channel
                ),
            }
            blocking(&self.store, move |s| {
                s.mark_notification(id, &outcome, Utc::now())
            })
            .await?;
        }
        if report != Dispatched::default() {
            let _ = self.changes.send(Change::NotificationsChanged);
        }
        Ok(report)
    }

    /// One whole step: derive `ids` (None: all), record, release, dispatch. The database
    /// work runs on the blocking pool, so the poller keeps its pace meanwhile.
    pub async fn step(self: &Arc<Self>, ids: Option<Vec<ShipmentId>>) -> Result<Dispatched> {
        let now = Utc::now();
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || -> Result<()> {
            me.derive(ids.as_deref(), now)?;
            me.record(now)?;
            me.release(now)?;
            Ok(())
        })
        .await
        .map_err(|e| Error::InvalidInput(format!("the notification pipeline failed: {e}")))??;
        self.dispatch(now).await
    }

    /// Follow the poller's changes until `shutdown`: each burst of changes is one step for
    /// the parcels it touched (so one poll's updates coalesce); every `refresh_every` all
    /// parcels are re-derived; every `tick` retries and quiet hours are looked at. Callers
    /// catch up first with `step(None)` (whatever a previous run left recorded but unsent
    /// goes then).
    pub async fn run(
        self: Arc<Self>,
        mut changes: broadcast::Receiver<Change>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        let refresh_every = self.config.refresh_every;
        let mut last_full = tokio::time::Instant::now();
        loop {
            let touched = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                first = changes.recv() => {
                    let mut ids = HashSet::new();
                    let mut lagged = false;
                    let mut push = |r: std::result::Result<Change, broadcast::error::RecvError>| match r {
                        Ok(c) => { if let Some(id) = c.shipment_id() { ids.insert(id); } true }
                        Err(broadcast::error::RecvError::Lagged(_)) => { lagged = true; true }
                        Err(broadcast::error::RecvError::Closed) => false,
                    };
                    if !push(first) {
                        return Ok(());
                    }
                    // Gather the burst: until changes pause for `gather_quiet`, at most
                    // `gather_max` (so a steady stream still gets its steps).
                    let until = tokio::time::Instant::now() + self.config.gather_max;
                    loop {
                        let pause = tokio::time::Instant::now() + self.config.gather_quiet;
                        match tokio::time::timeout_at(pause.min(until), changes.recv()).await {
                            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
                            Ok(r) => { push(r); }
                        }
                    }
                    if lagged { None } else { Some(ids.into_iter().collect::<Vec<_>>()) }
                }
                _ = tokio::time::sleep(self.config.tick) => Some(Vec::new()),
            };
            let full = last_full.elapsed() >= refresh_every;
            let result = match (touched, full) {
                (None, _) | (_, true) => {
                    last_full = tokio::time::Instant::now();
                    self.step(None).await
                }
                (Some(ids), false) => self.step(Some(ids)).await,
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "notification pipeline step failed");
            }
        }
    }
}

/// The stored preferences, or the defaults.
pub fn load_prefs(store: &dyn Store) -> Result<Prefs> {
    match store.setting(Prefs::SETTING)? {
        Some(json) => serde_json::from_str(&json).map_err(|e| {
            Error::InvalidInput(format!(
                "the stored notification settings are unreadable: {e}"
            ))
        }),
        None => Ok(Prefs::default()),
    }
}

/// Store the preferences.
pub fn save_prefs(store: &mut dyn Store, prefs: &Prefs, at: DateTime<Utc>) -> Result<()> {
    let json = serde_json::to_string(prefs)
        .map_err(|e| Error::InvalidInput(format!("cannot encode settings: {e}")))?;
    store.set_setting(Prefs::SETTING, &json, at)?;
    Ok(())
}

fn delivery_of(a: &Active, delivered_at: DateTime<Utc>) -> Delivery {
    Delivery {
        carrier: Some(a.carrier.clone()),
        service: a.service.clone(),
        origin: a.origin.region_key(),
        destination: a.destination.region_key(),
        dest_country: a.destination.country.as_ref().map(|c| c.to_uppercase()),
        started_at: a.shipped_at.unwrap_or(a.created_at),
        delivered_at,
        promised_at: a.promised_at,
    }
}

/// How far a recomputed `likely` may move before the stored estimate is rewritten.
const LIKELY_DRIFT: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Whether `new` differs from the stored `old` only as time passing moves it: a window that
/// has begun starts "now" each time it is computed, and a parcel not yet with the carrier
/// starts its transit now, so its `likely` moves with the clock. Keeping the stored estimate
/// then saves rewriting (and announcing) every such parcel on each refresh.
fn only_the_clock_moved(old: &Estimate, new: &Estimate, now: DateTime<Utc>) -> bool {
    let earliest = old.earliest == new.earliest || (new.earliest == now && old.earliest <= now);
    earliest
        && old.latest == new.latest
        && old.source == new.source
        && (old.confidence - new.confidence).abs() < 0.005
        && old.likely >= now
        && (new.likely - old.likely).abs() < LIKELY_DRIFT
}

/// Estimate and problems for one parcel.
pub fn derive_one(
    model: &Model,
    a: &Active,
    config: &ProblemConfig,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Assessment {
    let origin = a.origin.region_key();
    let destination = a.destination.region_key();
    let dest_country = a.destination.country.as_ref().map(|c| c.to_uppercase());
    let estimate = if a.status.is_terminal() {
        None
    } else {
        model.estimate(&EtaInput {
            carrier: Some(&a.carrier),
            service: a.service.as_deref(),
            origin: origin.as_deref(),
            destination: destination.as_deref(),
            dest_country: dest_country.as_deref(),
            started_at: a.shipped_at.unwrap_or(now),
            status: a.status,
            last_event_at: a.last_event_at,
            carrier_eta: a.carrier_eta,
            promised_at: a.promised_at,
            now,
            tz,
        })
    };
    let estimate = match (a.estimate, estimate) {
        (Some(old), Some(new)) if only_the_clock_moved(&old, &new, now) => Some(old),
        (_, new) => new,
    };
    let first_latest = estimate
        .filter(|_| a.shipped_at.is_some())
        .map(|e| e.latest);
    // Late means the promised day went by: a window missed by minutes is not worth an alarm.
    let promised_latest = a
        .carrier_eta
        .map(|e| e.latest.with_timezone(&Utc))
        .or(a.promised_at)
        .or(a.first_latest)
        .map(|p| end_of_day(local_date(p, tz), tz));
    let problems = problems::detect(
        &Facts {
            status: a.status,
            status_at: a.status_at,
            detail: a.detail.as_deref(),
            last_event_at: a.last_event_at,
            promised_latest,
        },
        now,
        config,
    );
    Assessment {
        id: a.id,
        previous: a.estimate,
        estimate,
        first_latest,
        problems,
    }
}

/// The news a journal entry is, if any.
fn news_of(e: JournalEntry, now: DateTime<Utc>, stale: chrono::Duration) -> Option<News> {
    match e {
        JournalEntry::Status {
            shipment_id,
            from,
            to,
            cause,
            event_key,
            event_at,
            detail,
            changed_at,
        } => {
            let kind = rules::status_news(from, to)?;
            // Imported history and old events found on a first poll are not news.
            if cause == "import" || event_at.is_some_and(|at| changed_at - at > stale) {
                return None;
            }
            Some(News {
                shipment_id,
                kind,
                key: rules::status_news_key(shipment_id, kind, event_key),
                at: event_at.unwrap_or(now),
                detail,
            })
        }
        JournalEntry::Problem {
            shipment_id,
            problem,
        } => Some(News {
            shipment_id,
            kind: Kind::Problem(problem.kind),
            key: rules::problem_news_key(shipment_id, problem.key()),
            at: problem.since,
            detail: Some(problem.detail),
        }),
    }
}

/// Many parcels changing in one pass (a first sync, a carrier catching up) become one
/// notification per channel instead of a burst. Problems keep their own notification (each
/// needs the user's attention, and a digest would hide which parcel it is) as long as there
/// are few enough of them; the routine news is digested. What quiet hours hold stays as it
/// is: their end sums it all up anyway.
fn digest(drafts: Vec<Draft>, over: usize) -> Vec<Draft> {
    let mut per_channel: BTreeMap<_, Vec<Draft>> = BTreeMap::new();
    let mut out = Vec::new();
    for d in drafts {
        if d.initial == rules::Initial::Held {
            out.push(d);
        } else {
            per_channel.entry(d.channel).or_default().push(d);
        }
    }
    for (channel, list) in per_channel {
        if list.len() <= over {
            out.extend(list);
            continue;
        }
        let (alone, rest): (Vec<Draft>, Vec<Draft>) = list
            .into_iter()
            .partition(|d| matches!(d.kind, Some(Kind::Problem(_))));
        let (alone, rest) = if alone.len() < over {
            (alone, rest)
        } else {
            (Vec::new(), alone.into_iter().chain(rest).collect())
        };
        out.extend(alone);
        if rest.len() == 1 {
            out.extend(rest);
            continue;
        }
        let items: Vec<Held> = rest.iter().map(Held::from).collect();
        out.push(rules::digest(channel, &items));
    }
    out
}

#[cfg(test)]
mod tests;
