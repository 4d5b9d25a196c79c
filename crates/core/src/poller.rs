//! The background poller: asks carriers about due shipments, never faster than each API's
//! budget, and hands every answer to [`Store::ingest`] (the same idempotent path webhooks
//! use). Committed changes are published on a broadcast channel for the ETA engine, the
//! notifier and the UI.
//!
//! - **Schedule in the store** (`next_poll_at`), so a restart resumes where it stopped.
//!   Intervals adapt: 30 minutes by default, 10 when out for delivery, 2 hours while only a
//!   label exists, 6 hours once news is 3 days old; polling stops at terminal states, after
//!   30 days without news (→ `expired`), and delivered parcels archive themselves after 14
//!   days. Every interval gets ±10 % jitter. `time_scale` compresses all of them (demo mode
//!   with a sped-up simulator).
//! - **Per carrier**: a token-bucket rate limiter at the API's documented budget, bounded
//!   concurrency, batching up to the API's maximum, retries (3, exponential backoff with
//!   jitter, honouring Retry-After; each retry passes the limiter again), and a circuit
//!   breaker. The limiter's back-off and the breaker persist in the store
//!   ([`CarrierState`]), so a restart never starts a 429 loop.
//! - **Failures are never silent**: each is recorded on the shipment (`last_error`) and on
//!   the carrier. A number the carrier does not know yet stays `pending` during a grace
//!   period (a label created today is not an invalid number).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngExt;
use tokio::sync::{Notify, Semaphore, broadcast};
use tokio::task::JoinSet;
// Tokio's clock, so tests can run the limiter on paused virtual time.
use tokio::time::Instant;

use crate::carrier::{Carrier, CarrierError, TrackResult};
use crate::domain::Status;
use crate::error::{Error, Result};
use crate::store::{Breaker, CarrierState, Change, IngestBatch, PollRecord, PollTarget, Store};

/// A store shared between the poller's tasks (and the app or CLI around it).
pub type SharedStore = Arc<Mutex<dyn Store + Send>>;

/// How the poller paces itself.
#[derive(Debug, Clone, PartialEq)]
pub struct PollerConfig {
    /// Default interval.
    pub interval: Duration,
    /// While out for delivery.
    pub out_for_delivery_interval: Duration,
    /// While only a label exists (or the carrier does not know the number yet).
    pub label_only_interval: Duration,
    /// Once the latest news is older than `stale_after`.
    pub stale_interval: Duration,
    /// When news counts as old.
    pub stale_after: Duration,
    /// How long "the carrier does not know this number" is normal.
    pub pending_grace: Duration,
    /// No news for this long: `expired`, polling stops.
    pub expire_after: Duration,
    /// Delivered parcels archive themselves after this long.
    pub archive_delivered_after: Duration,
    /// Relative jitter on every interval (0.1 = ±10 %).
    pub jitter: f64,
    /// Divides every interval above (demo mode with a sped-up simulator); 1 in real use.
    pub time_scale: f64,
    /// Requests in flight per carrier, at least (raised to keep up with a fast API's rate).
    pub concurrency: usize,
    /// Retries of a transient failure.
    pub retries: u32,
    /// First retry delay (doubles each time).
    pub retry_base: Duration,
    /// Consecutive failed calls that open a carrier's circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit stays open the first time (doubles, at most 30 minutes).
    pub breaker_cooldown: Duration,
    /// Most shipments taken per pass.
    pub batch_limit: usize,
}

impl Default for PollerConfig {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(60 * m);
        let day = |d: u64| Duration::from_secs(86_400 * d);
        Self {
            interval: min(30),
            out_for_delivery_interval: min(10),
            label_only_interval: min(120),
            stale_interval: min(360),
            stale_after: day(3),
            pending_grace: day(3),
            expire_after: day(30),
            archive_delivered_after: day(14),
            jitter: 0.1,
            time_scale: 1.0,
            concurrency: 4,
            retries: 3,
            retry_base: Duration::from_secs(1),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            batch_limit: 5000,
        }
    }
}

impl PollerConfig {
    /// Refuses a time scale no clock can run at (NaN, zero, negative, infinite): every
    /// interval is divided by it.
    fn check(&self) -> Result<()> {
        if self.time_scale.is_finite() && self.time_scale > 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidInput(format!(
                "the poller's time scale must be a positive number, not {}",
                self.time_scale
            )))
        }
    }

    fn scaled(&self, d: Duration) -> Duration {
        d.div_f64(self.time_scale.max(1e-9))
    }

    fn jittered(&self, d: Duration) -> chrono::Duration {
        let j = self.jitter.clamp(0.0, 0.9);
        let f = if j > 0.0 {
            rand::rng().random_range(1.0 - j..=1.0 + j)
        } else {
            1.0
        };
        chrono::Duration::from_std(self.scaled(d).mul_f64(f)).unwrap_or(chrono::Duration::MAX)
    }

    /// When to ask next about a shipment now in `status` whose latest news is from
    /// `last_news`; None stops polling.
    pub fn next_poll(
        &self,
        status: Status,
        last_news: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if status.is_terminal() {
            return None;
        }
        let stale = now
            .signed_duration_since(last_news)
            .to_std()
            .unwrap_or_default()
            > self.scaled(self.stale_after);
        let base = match status {
            Status::OutForDelivery => self.out_for_delivery_interval,
            Status::Pending | Status::InfoReceived => self.label_only_interval,
            _ if stale => self.stale_interval,
            _ => self.interval,
        };
        Some(later(now, self.jittered(base)))
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Shipments asked about.
    pub polled: usize,
    /// Requests sent (retries included).
    pub requests: usize,
    /// Shipments whose poll failed.
    pub failed: usize,
    /// Changes committed and published.
    pub changes: usize,
}

/// Requests in flight per carrier: at least the configured number, and enough to keep the
/// rate limiter, not latency, the bound (a quarter second of requests at the API's rate, for
/// answers that take up to that long), but never more than 64.
fn in_flight(configured: usize, rate: f64) -> usize {
    ((rate * 0.25).ceil() as usize).clamp(configured.max(1), 64.max(configured))
}

/// A token bucket: `rate` requests a second, bursts of at most `capacity`, starting empty so
/// a restart cannot burst.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> Option<Duration> {
        if let Some(p) = self.paused_until {
            if now < p {
                return Some(p - now);
            }
            self.paused_until = None;
            self.last = now;
        }
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate)
            .min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Everything per carrier API: limiter, breaker, concurrency, saved state.
struct Gate {
    adapter: Arc<dyn Carrier>,
    bucket: Mutex<Bucket>,
    state: Mutex<CarrierState>,
    in_flight: Semaphore,
}

impl Gate {
    async fn acquire(&self) {
        loop {
            let wait = self
                .bucket
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(Instant::now());
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    fn pause(&self, d: Duration) {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + d;
        b.paused_until = Some(b.paused_until.map_or(until, |p| p.max(until)));
        b.tokens = 0.0;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let at = Utc::now() + chrono::Duration::from_std(d).unwrap_or_default();
        st.backoff_until = Some(st.backoff_until.map_or(at, |p| p.max(at)));
    }

    /// Whether a call may go out now; when the circuit is open, until when it stays open.
    fn allow(&self, now: DateTime<Utc>) -> std::result::Result<(), DateTime<Utc>> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match (st.breaker, st.breaker_until) {
            (Breaker::Open, Some(until)) if now < until => Err(until),
            (Breaker::Open, _) => {
                st.breaker = Breaker::HalfOpen;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn count_request(&self, now: DateTime<Utc>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let today = now.date_naive();
        if st.requests_day != Some(today) {
            st.requests_day = Some(today);
            st.requests = 0;
        }
        st.requests += 1;
    }

    fn succeeded(&self, now: DateTime<Utc>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.failures = 0;
        st.breaker = Breaker::Closed;
        st.breaker_until = None;
        st.breaker_trips = 0;
        st.last_success_at = Some(now);
    }

    fn failed(&self, e: &CarrierError, now: DateTime<Utc>, cfg: &PollerConfig) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.failures += 1;
        st.last_error = Some(e.to_string());
        st.last_error_at = Some(now);
        if st.breaker == Breaker::HalfOpen || st.failures >= cfg.breaker_threshold {
            st.breaker = Breaker::Open;
            st.breaker_trips += 1;
            let cool = cfg
                .breaker_cooldown
                .saturating_mul(1 << st.breaker_trips.saturating_sub(1).min(10))
                .min(Duration::from_secs(1800));
            st.breaker_until = Some(now + chrono::Duration::from_std(cool).unwrap_or_default());
            tracing::warn!(
                carrier = st.carrier,
                "circuit opened after {} failures: {e}",
                st.failures
            );
        }
    }

    fn snapshot(&self) -> CarrierState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

struct Inner {
    store: SharedStore,
    gates: Vec<Arc<Gate>>,
    config: PollerConfig,
    changes: broadcast::Sender<Change>,
    wake: Notify,
}

/// The background poller (cheap to clone).
#[derive(Clone)]
pub struct Poller {
    inner: Arc<Inner>,
}

enum Outcome {
    Answered(Vec<(String, std::result::Result<TrackResult, CarrierError>)>),
    Failed(CarrierError),
    Held(DateTime<Utc>),
}

impl Poller {
    /// A poller over `store` with these adapters, in order of preference (a direct adapter
    /// before the 17TRACK fallback). Saved carrier state is restored.
    pub fn new(
        store: SharedStore,
        adapters: Vec<Arc<dyn Carrier>>,
        config: PollerConfig,
    ) -> Result<Self> {
        config.check()?;
        let saved: HashMap<String, CarrierState> = lock(&store)?
            .carrier_states()?
            .into_iter()
            .map(|s| (s.carrier.clone(), s))
            .collect();
        let now = Utc::now();
        let gates = adapters
            .into_iter()
            .map(|adapter| {
                let limit = adapter.rate_limit();
                let rate = f64::from(limit.requests.max(1)) / limit.per.as_secs_f64().max(1e-3);
                let state = saved
                    .get(adapter.id())
                    .cloned()
                    .unwrap_or_else(|| CarrierState::new(adapter.id()));
                // A back-off the carrier asked for survives the restart.
                let paused_until = state
                    .backoff_until
                    .filter(|b| *b > now)
                    .and_then(|b| (b - now).to_std().ok())
                    .map(|d| Instant::now() + d);
                Arc::new(Gate {
                    bucket: Mutex::new(Bucket {
                        rate,
                        capacity: rate.max(1.0),
                        tokens: 0.0,
                        last: Instant::now(),
                        paused_until,
                    }),
                    state: Mutex::new(state),
                    in_flight: Semaphore::new(in_flight(config.concurrency, rate)),
                    adapter,
                })
            })
            .collect();
        let (changes, _) = broadcast::channel(4096);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                gates,
                config,
                changes,
                wake: Notify::new(),
            }),
        })
    }

    /// Subscribe to committed changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// Wake the running loop now (after `Store::poll_now`, say).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Every carrier's current API state.
    pub fn carrier_states(&self) -> Vec<CarrierState> {
        self.inner.gates.iter().map(|g| g.snapshot()).collect()
    }

    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut (dyn Store + Send)) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = lock(&store)?;
            f(&mut *guard)
        })
        .await
        .map_err(|e| Error::InvalidInput(format!("store task failed: {e}")))?
    }

    fn publish(&self, changes: Vec<Change>) -> usize {
        let n = changes.len();
        for c in changes {
            let _ = self.inner.changes.send(c);
        }
        n
    }

    /// Run until `shutdown` resolves: a pass whenever something is due, sleeping in between.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        loop {
            // A pass can take minutes at a slow API's rate: stopping must not wait for it.
            // Cancelling is safe: each batch's ingest and schedule update is one store call,
            // done or not, and unpolled parcels stay due.
            let report = tokio::select! {
                r = self.poll_due() => r?,
                _ = &mut shutdown => return Ok(()),
            };
            tracing::debug!(?report, "poll pass");
            let next = self.db(|s| s.next_due()).await?;
            let now = Utc::now();
            // Wake for the next due poll, and at least every minute for housekeeping.
            let wait = next
                .map(|n| (n - now).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60));
            let wait = if report.polled >= self.inner.config.batch_limit {
                Duration::ZERO
            } else {
                wait
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(wait.max(Duration::from_millis(20))) => {}
            }
        }
    }

    /// One pass: housekeeping, then every shipment due now.
    pub async fn poll_due(&self) -> Result<PassReport> {
        let cfg = self.inner.config.clone();
        let now = Utc::now();
        let mut report = PassReport::default();
        // Saturating: a long period at a slow clock reaches back before any date there is.
        let earlier = |d: Duration| {
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        };
        let expire_cut = earlier(cfg.scaled(cfg.expire_after));
        let archive_cut = earlier(cfg.scaled(cfg.archive_delivered_after));
        let house = self
            .db(move |s| {
                let mut c = s.expire_stale(expire_cut, now)?;
                c.extend(s.archive_delivered(archive_cut, now)?);
                Ok(c)
            })
            .await?;
        report.changes += self.publish(house);

        let limit = cfg.batch_limit;
        let due = self.db(move |s| s.due(now, limit)).await?;
        report.polled = due.len();
        let mut by_gate: HashMap<usize, Vec<PollTarget>> = HashMap::new();
        let mut orphans = Vec::new();
        for t in due {
            match self
                .inner
                .gates
                .iter()
                .position(|g| g.adapter.serves_number(&t.carrier, &t.tracking_number))
            {
                Some(i) => by_gate.entry(i).or_default().push(t),
                None => orphans.push(t),
            }
        }
        if !orphans.is_empty() {
            report.failed += orphans.len();
            let records: Vec<_> = orphans
                .iter()
                .map(|t| {
                    let name = crate::detect::carrier(&t.carrier)
                        .map(|c| c.name)
                        .unwrap_or_else(|| t.carrier.clone());
                    let error = format!(
                        "no {name} account is set up: add one in Settings → Carriers (or with `parceltrail carriers login`)"
                    );
                    (
                        t.id,
                        PollRecord {
                            polled_at: now,
                            next_poll_at: Some(later(now, cfg.jittered(cfg.stale_interval))),
                            error: Some(error),
                        },
                    )
                })
                .collect();
            self.db(move |s| s.record_polls(&records)).await?;
        }

        let mut tasks = JoinSet::new();
        for (i, targets) in by_gate {
            let gate = self.inner.gates[i].clone();
            let size = gate.adapter.max_batch().max(1);
            let mut rest = targets;
            while !rest.is_empty() {
                let batch: Vec<PollTarget> = rest.drain(..size.min(rest.len())).collect();
                let me = self.clone();
                let gate = gate.clone();
                tasks.spawn(async move { me.poll_batch(gate, batch).await });
            }
        }
        while let Some(done) = tasks.join_next().await {
            let r = done.map_err(|e| Error::InvalidInput(format!("poll task failed: {e}")))??;
            report.requests += r.requests;
            report.failed += r.failed;
            report.changes += r.changes;
        }
        let states: Vec<CarrierState> = self.inner.gates.iter().map(|g| g.snapshot()).collect();
        self.db(move |s| {
            for st in &states {
                s.save_carrier_state(st, now)?;
            }
            Ok(())
        })
        .await?;
        Ok(report)
    }

    async fn call(&self, gate: &Gate, numbers: &[String]) -> (Outcome, usize) {
        let cfg = &self.inner.config;
        let _slot = gate.in_flight.acquire().await;
        let mut requests = 0;
        let mut attempt = 0;
        loop {
            if let Err(until) = gate.allow(Utc::now()) {
                return (Outcome::Held(until), requests);
            }
            gate.acquire().await;
            gate.count_request(Utc::now());
            requests += 1;
            match gate.adapter.track(numbers).await {
                Ok(answers) => {
                    gate.succeeded(Utc::now());
                    return (Outcome::Answered(answers), requests);
                }
                Err(e) if e.is_retryable() && attempt < cfg.retries => {
                    let backoff = cfg
                        .retry_base
                        .saturating_mul(1 << attempt)
                        .mul_f64(rand::rng().random_range(0.8..1.2));
                    let wait = e.retry_after().map_or(backoff, |ra| ra.max(backoff));
                    if matches!(e, CarrierError::RateLimited { .. }) {
                        // The whole carrier waits, not just this batch.
                        gate.pause(e.retry_after().unwrap_or(Duration::from_secs(30)));
                    }
                    attempt += 1;
                    tracing::debug!(carrier = gate.adapter.id(), attempt, "retrying after {e}");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    if let CarrierError::RateLimited { retry_after } = &e {
                        gate.pause(retry_after.unwrap_or(Duration::from_secs(30)));
                    }
                    gate.failed(&e, Utc::now(), cfg);
                    return (Outcome::Failed(e), requests);
                }
            }
        }
    }

    async fn poll_batch(&self, gate: Arc<Gate>, targets: Vec<PollTarget>) -> Result<PassReport> {
        let cfg = self.inner.config.clone();
        let numbers: Vec<String> = targets.iter().map(|t| t.tracking_number.clone()).collect();
        let (outcome, requests) = self.call(&gate, &numbers).await;
        let now = Utc::now();
        let mut report = PassReport {
            requests,
            ..PassReport::default()
        };
        let mut batches = Vec::new();
        let mut records = Vec::with_capacity(targets.len());
        match outcome {
            Outcome::Answered(answers) => {
                let mut by_number: HashMap<String, std::result::Result<TrackResult, CarrierError>> =
                    answers
                        .into_iter()
                        .map(|(n, r)| (n.to_ascii_uppercase(), r))
                        .collect();
                for t in &targets {
                    let answer = by_number.remove(&t.tracking_number).unwrap_or_else(|| {
                        Err(CarrierError::Malformed(
                            "the carrier's answer left this number out".into(),
                        ))
                    });
                    match answer {
                        Ok(result) => {
                            let (status, news) = outlook(t, &result);
                            let mut batch = IngestBatch::events(t.id, result.events);
                            // When we heard it is what orders the carrier's statements.
                            batch.carrier_eta = result.eta.map(|mut e| {
                                e.observed_at = now;
                                e
                            });
                            batch.service = result.service;
                            batch.origin = result.origin;
                            batch.destination = result.destination;
                            batches.push(batch);
                            records.push((
                                t.id,
                                PollRecord {
                                    polled_at: now,
                                    next_poll_at: cfg.next_poll(status, news, now),
                                    error: None,
                                },
                            ));
                        }
                        Err(CarrierError::NotFound(msg)) => {
                            let age = (now - t.created_at).to_std().unwrap_or_default();
                            let error = (age > cfg.scaled(cfg.pending_grace) && t.last_event_at.is_none()).then(|| {
                                format!("the carrier still has no record of this number ({msg}); check it")
                            });
                            if error.is_some() {
                                report.failed += 1;
                            }
                            records.push((
                                t.id,
                                PollRecord {
                                    polled_at: now,
                                    next_poll_at: Some(later(
                                        now,
                                        cfg.jittered(cfg.label_only_interval),
                                    )),
                                    error,
                                },
                            ));
                        }
                        Err(e) => {
                            report.failed += 1;
                            records.push((
                                t.id,
                                PollRecord {
                                    polled_at: now,
                                    next_poll_at: Some(later(now, cfg.jittered(cfg.interval))),
                                    error: Some(e.to_string()),
                                },
                            ));
                        }
                    }
                }
            }
            Outcome::Failed(e) => {
                report.failed += targets.len();
                let retry = e
                    .retry_after()
                    .map(|d| chrono::Duration::from_std(d).unwrap_or_default());
                for t in &targets {
                    let next = later(now, retry.unwrap_or_else(|| cfg.jittered(cfg.interval)));
                    records.push((
                        t.id,
                        PollRecord {
                            polled_at: now,
                            next_poll_at: Some(next),
                            error: Some(e.to_string()),
                        },
                    ));
                }
            }
            Outcome::Held(until) => {
                for t in &targets {
                    let msg = format!(
                        "{} is paused after repeated failures; trying again at {}",
                        gate.adapter.id(),
                        until.format("%H:%M UTC")
                    );
                    records.push((
                        t.id,
                        PollRecord {
                            polled_at: now,
                            next_poll_at: Some(until),
                            error: Some(msg),
                        },
                    ));
                }
            }
        }
        let changes = self
            .db(move |s| {
                let r = if batches.is_empty() {
                    Vec::new()
                } else {
                    s.ingest(&batches, now)?.changes
                };
                s.record_polls(&records)?;
                Ok(r)
            })
            .await?;
        report.changes += self.publish(changes);
        Ok(report)
    }
}

/// The status a poll result leaves the shipment in (for scheduling) and when its latest news
/// is from.
fn outlook(t: &PollTarget, r: &TrackResult) -> (Status, DateTime<Utc>) {
    let latest = r
        .events
        .iter()
        .filter(|e| e.status != Status::Unknown)
        .max_by_key(|e| (e.occurred_at, e.status.progress_rank()));
    let status = latest.map(|e| e.status).or(r.status).unwrap_or(t.status);
    let news = r
        .events
        .iter()
        .map(|e| e.occurred_at.to_utc())
        .max()
        .or(t.last_event_at)
        .unwrap_or(t.created_at);
    (status, news)
}

/// `now + d`, saturating at the last representable time (an interval at a slow clock).
fn later(now: DateTime<Utc>, d: chrono::Duration) -> DateTime<Utc> {
    now.checked_add_signed(d)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn lock(store: &SharedStore) -> Result<std::sync::MutexGuard<'_, dyn Store + Send + 'static>> {
    store
        .lock()
        .map_err(|_| Error::InvalidInput("the store lock was poisoned by a panic".into()))
}

#[cfg(test)]
mod tests;
