//! The shop server's background work: for every shop, core's poller asks the carriers about
//! the shop's parcels and core's pipeline derives estimates and problems after each burst of
//! news (as the app runs them, on the shop's own store); beside them, hourly housekeeping and
//! the gauges of what waits. The news is the shop's change feed, so a webhook's, a staff
//! member's or another replica's news is derived as soon as a poll's.
//!
//! - **Which shops**: every shop at start, and a shop made while the server runs (by
//!   `parceltrail server shop create` on the same database) at its first request here, or
//!   within [`TICK`] (its requests may go to another replica).
//! - **Which adapters** (chosen as `crates/app` does): the operator's carrier accounts
//!   (keyring or credentials file) and a `--sim` simulator for every shop, after the demo's
//!   stand-in when a shop holds demo numbers; the demo shop gets only the built-in
//!   simulator (and a server without `--demo` leaves it alone). So a demo number only ever
//!   reaches a simulator.
//! - **Replicas** (PostgreSQL): every replica runs every shop's work. Polls are claimed with
//!   a lease ([`parceltrail_shop::PgStore::with_poll_lease`]), so no parcel is polled by two
//!   replicas in one interval and a dead replica's claims are taken over when they run out.
//!   A pass claims no more than the slowest adapter can ask about in half the lease, so a
//!   claim does not run out before its poll. The pipeline's journal cursor and the outbox
//!   claim are already safe to share.
//! - **Notifications**: the customer channels (email, SMS) come later. Until a shop has
//!   settings of its own it gets none enabled, so recording news consumes the journal
//!   without filling the outbox for a desktop no server has.
//! - **Stopping**: [`Background::stop`] ends the loops; a pass cut short loses nothing (each
//!   batch's ingest and schedule is one transaction, and claimed parcels are due again when
//!   their lease ends).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use parceltrail_app::sources;
use parceltrail_core::carrier::Carrier;
use parceltrail_core::notify::rules::Prefs;
use parceltrail_core::pipeline::{Pipeline, PipelineConfig, save_prefs};
use parceltrail_core::poller::Poller;
use parceltrail_core::store::{Backlog, Change};
use parceltrail_shop::ShopId;
use parceltrail_shop::db::AccountsFingerprint;
use parceltrail_shop::stores::ShopStore;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::ShopState;

/// How often the shop list is read again (a shop made while the server runs) and the
/// gauges are refreshed.
pub const TICK: Duration = Duration::from_secs(10);
/// How often old change-feed entries, idempotency answers and webhook ids are deleted.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(3600);
/// How long the change feed is kept (a stream reconnecting later starts from the oldest).
pub const FEED_DAYS: i64 = 30;
/// The longest a poll loop sleeps when nothing is due: other replicas add parcels too, and
/// this process's own writes wake it at once.
const IDLE: Duration = Duration::from_secs(10);
/// After a failed pass (the database away), the wait before the next.
const AFTER_FAILURE: Duration = Duration::from_secs(5);
/// How long a woken poller lets further writes gather before it reads the schedule: a busy
/// shop's webhooks write hundreds of times a second, and one look covers them all.
pub const WAKE_SETTLE: Duration = Duration::from_millis(50);
/// How often the change feed is read for the pipeline when nothing here woke it (another
/// replica's writes).
const FEED_POLL: Duration = Duration::from_secs(1);
/// Feed entries read at a time for the pipeline.
const FEED_BATCH: usize = 500;
/// Changes that may wait for the pipeline (more, and it re-derives every parcel instead).
const NEWS_BUFFER: usize = 4096;
/// The setting in a demo shop's store that holds its simulator's epoch: it marks the shop as
/// a demo, which only a server started with `--demo` polls (another replica would have no
/// simulator to ask).
pub const DEMO_EPOCH_SETTING: &str = "demo_epoch";

/// Where carrier answers come from.
#[derive(Clone)]
pub struct Sources {
    /// For every shop but the demo's, in order of preference: a `--sim` simulator, then the
    /// operator's carrier accounts (17TRACK last).
    pub adapters: Vec<Arc<dyn Carrier>>,
    /// Divides every polling interval (a sped-up `--sim`); 1 in real use.
    pub time_scale: f64,
    /// The demo shop, when the server runs with `--demo`.
    pub demo: Option<DemoSource>,
    /// How long a claimed poll is this replica's (PostgreSQL).
    pub poll_lease: Duration,
    /// Delivered parcels archive themselves after this many days.
    pub archive_after_days: u32,
}

/// The demo shop and the built-in simulator that moves its parcels.
#[derive(Clone)]
pub struct DemoSource {
    /// The demo shop.
    pub shop: ShopId,
    /// The adapter for the built-in simulator (it answers for demo numbers only).
    pub adapter: Arc<dyn Carrier>,
    /// The demo's speed: its polls run this much faster.
    pub time_scale: f64,
}

/// The running background work.
pub struct Background {
    stop: watch::Sender<bool>,
    supervisor: JoinHandle<()>,
}

/// Start the background work of every shop (see the module docs).
pub fn start(state: Arc<ShopState>, sources: Sources) -> Background {
    let (stop, stopped) = watch::channel(false);
    let supervisor = tokio::spawn(supervise(state, Arc::new(sources), stopped));
    Background { stop, supervisor }
}

impl Background {
    /// Stop every loop and wait (a few seconds at most) for them to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let mut supervisor = self.supervisor;
        if tokio::time::timeout(Duration::from_secs(10), &mut supervisor)
            .await
            .is_err()
        {
            supervisor.abort();
        }
    }
}

/// One shop's running work.
struct ShopWork {
    store: Arc<ShopStore>,
    tasks: Vec<JoinHandle<()>>,
    /// Stops this shop's loops alone (to start them again with other carrier accounts).
    stop: Arc<watch::Sender<bool>>,
    /// The shop's carrier accounts when it started: another means start again.
    accounts: Option<AccountsFingerprint>,
}

impl ShopWork {
    /// Ends the shop's loops and waits (a few seconds at most) for them.
    async fn end(self) {
        let _ = self.stop.send(true);
        for mut t in self.tasks {
            if tokio::time::timeout(Duration::from_secs(5), &mut t)
                .await
                .is_err()
            {
                t.abort();
            }
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // A dropped sender means the server is gone: stop too.
    let _ = stop.wait_for(|s| *s).await;
}

async fn supervise(state: Arc<ShopState>, sources: Arc<Sources>, mut stop: watch::Receiver<bool>) {
    let mut running: HashMap<ShopId, ShopWork> = HashMap::new();
    let mut housekeeping = tokio::time::Instant::now();
    loop {
        // A shop whose own carrier accounts changed (here or on another replica) starts
        // again with them.
        let fingerprints = match state.db.carrier_account_fingerprints().await {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the carrier accounts");
                None
            }
        };
        if let Some(f) = &fingerprints {
            let changed: Vec<ShopId> = running
                .iter()
                .filter(|(id, w)| !w.tasks.is_empty() && f.get(id).copied() != w.accounts)
                .map(|(id, _)| *id)
                .collect();
            for id in changed {
                if let Some(work) = running.remove(&id) {
                    tracing::info!(shop = %id, "carrier accounts changed: the shop's poller starts again");
                    let store = work.store.clone();
                    work.end().await;
                    // Parcels that waited for an account (or failed with the old one) are
                    // asked about now, not at their next try hours away.
                    if let Err(e) = store.write(|s| s.poll_now(None, Utc::now())).await {
                        tracing::warn!(shop = %id, error = %e, "cannot make the parcels due");
                    }
                }
            }
        }
        match state.db.shops().await {
            Ok(shops) => {
                for shop in shops {
                    if running.contains_key(&shop.id) {
                        continue;
                    }
                    let accounts = fingerprints.as_ref().and_then(|f| f.get(&shop.id).copied());
                    match start_shop(&state, &sources, shop.id, accounts, &stop).await {
                        Ok(work) => {
                            running.insert(shop.id, work);
                        }
                        // Tried again at the next tick.
                        Err(e) => tracing::warn!(shop = %shop.id, error = %e,
                            "the shop's background work did not start"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the shops"),
        }
        gauges(&state, &running).await;
        for work in running.values() {
            super::alerts::queue(&state, work.store.shop(), &work.store).await;
        }
        if tokio::time::Instant::now() >= housekeeping {
            housekeep(&state, &running).await;
            housekeeping = tokio::time::Instant::now() + HOUSEKEEPING_EVERY;
        }
        tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = tokio::time::sleep(TICK) => {}
            _ = state.stores.newly_opened() => {}
        }
    }
    for work in running.into_values() {
        work.end().await;
    }
}

/// The shops' backlog, summed, into the gauges.
async fn gauges(state: &ShopState, running: &HashMap<ShopId, ShopWork>) {
    let mut total = Backlog::default();
    for work in running.values() {
        match work.store.view(|s| s.backlog(Utc::now())).await {
            Ok(b) => {
                total.due_polls += b.due_polls;
                total.pending_notifications += b.pending_notifications;
            }
            Err(e) => tracing::debug!(shop = %work.store.shop(), error = %e, "backlog unread"),
        }
    }
    state
        .metrics
        .set_backlog(total.due_polls, total.pending_notifications);
}

/// Forget what is kept only for a while: change-feed entries after [`FEED_DAYS`], answers
/// kept for `Idempotency-Key` retries, remembered webhook ids, and the throttles' counts of
/// callers not seen lately. Every replica may run it: each is a plain delete of old rows.
async fn housekeep(state: &ShopState, running: &HashMap<ShopId, ShopWork>) {
    let now = Utc::now();
    state.limits.sweep();
    for work in running.values() {
        let before = now - chrono::Duration::days(FEED_DAYS);
        if let Err(e) = work.store.write(move |s| s.prune_feed(before)).await {
            tracing::warn!(shop = %work.store.shop(), error = %e, "pruning the change feed failed");
        }
    }
    if let Err(e) = state.db.prune_idempotent(now).await {
        tracing::warn!(error = %e, "pruning idempotency answers failed");
    }
    let cutoff = now - parceltrail_shop::hooks::MESSAGE_RETENTION;
    if let Err(e) = state.db.forget_messages_before(cutoff).await {
        tracing::warn!(error = %e, "forgetting old webhook ids failed");
    }
}

/// The most parcels one pass claims on a shared database: what the slowest adapter can ask
/// about in half the lease (its rate times its batch), so each claim outlives its poll.
fn claim_limit(adapters: &[Arc<dyn Carrier>], lease: Duration, most: usize) -> usize {
    let half = lease.as_secs_f64() / 2.0;
    let slowest = adapters
        .iter()
        .map(|a| {
            let l = a.rate_limit();
            let rate = f64::from(l.requests.max(1)) / l.per.as_secs_f64().max(1e-3);
            rate * a.max_batch().max(1) as f64 * half
        })
        .fold(f64::INFINITY, f64::min);
    if slowest.is_finite() {
        (slowest.floor() as usize).clamp(1, most)
    } else {
        most
    }
}

async fn start_shop(
    state: &Arc<ShopState>,
    sources: &Arc<Sources>,
    shop: ShopId,
    accounts: Option<AccountsFingerprint>,
    all_stop: &watch::Receiver<bool>,
) -> Result<ShopWork, parceltrail_app::Error> {
    let store = state.stores.get(shop).await?;
    // The shop's loops stop with the server, or alone.
    let (shop_stop, stop) = watch::channel(false);
    let shop_stop = Arc::new(shop_stop);
    let forward = {
        let (shop_stop, mut all_stop) = (shop_stop.clone(), all_stop.clone());
        tokio::spawn(async move {
            stopped(&mut all_stop).await;
            let _ = shop_stop.send(true);
        })
    };
    let stop = &stop;
    let own = own_adapters(state, shop).await;
    let demo = sources.demo.clone().filter(|d| d.shop == shop);
    let time_scale = demo.as_ref().map_or(sources.time_scale, |d| d.time_scale);
    let mut poller_config = sources::poller_config(sources.archive_after_days, time_scale);
    let shared = store.is_shared();
    // The poller and the pipeline read the store synchronously as they are built (saved
    // carrier state, the deliveries the ETA model learns from).
    let built = {
        let (store, sources) = (store.clone(), sources.clone());
        let channels = state.channels.clone();
        let notifiers = super::notify::notifiers(state, &store);
        tokio::task::spawn_blocking(move || -> Result<_, parceltrail_app::Error> {
            if demo.is_none() && store.with(|s| s.setting(DEMO_EPOCH_SETTING))?.is_some() {
                return Ok(None);
            }
            let adapters = store.with(|s| {
                // The operator's channels, on for every shop (each customer's choice is
                // applied as a message is sent).
                let stored = match s.setting(Prefs::SETTING)? {
                    Some(_) => Some(parceltrail_core::pipeline::load_prefs(s)?),
                    None => None,
                };
                let prefs = super::notify::shop_prefs(&channels);
                if stored.as_ref() != Some(&prefs) {
                    save_prefs(s, &prefs, Utc::now())?;
                }
                let mut adapters: Vec<Arc<dyn Carrier>> = Vec::new();
                match &demo {
                    Some(d) => adapters.push(d.adapter.clone()),
                    None => {
                        if let Ok(Some(idle)) = sources::demo_stand_in(s) {
                            adapters.push(idle);
                        }
                        adapters.extend(with_own(own, &sources.adapters));
                    }
                }
                Ok(adapters)
            })?;
            if shared {
                poller_config.batch_limit =
                    claim_limit(&adapters, sources.poll_lease, poller_config.batch_limit);
            }
            let batch_limit = poller_config.batch_limit;
            let budgets = adapters
                .iter()
                .map(|a| (a.id().to_owned(), a.rate_limit()))
                .collect::<Vec<_>>();
            let poller = Poller::new(store.shared(sources.poll_lease), adapters, poller_config)?;
            let pipeline = Pipeline::new(
                store.shared(sources.poll_lease),
                PipelineConfig {
                    // Each message goes to one parcel's customer: never a digest of several.
                    digest_over: usize::MAX,
                    ..sources::pipeline_config(time_scale)
                },
                notifiers,
            )?;
            Ok(Some((poller, Arc::new(pipeline), batch_limit, budgets)))
        })
        .await
        .map_err(|e| parceltrail_app::Error::Internal(e.to_string()))??
    };
    let Some((poller, pipeline, batch_limit, budgets)) = built else {
        tracing::info!(shop = %shop, "a demo shop: polled by a server started with --demo");
        forward.abort();
        return Ok(ShopWork {
            store,
            tasks: Vec::new(),
            stop: shop_stop,
            accounts,
        });
    };
    state.budgets.set(shop, budgets);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(count_events(
        state.clone(),
        poller.subscribe(),
        stop.clone(),
    )));
    {
        // The pipeline hears of news from the shop's change feed, not from the poller alone:
        // webhooks, staff's status updates and other replicas' writes reach it there too.
        let (news, changes) = broadcast::channel(NEWS_BUFFER);
        state.wakes.register(shop, news.clone());
        let head = store.view(|s| s.feed_head()).await?;
        tasks.push(tokio::spawn(follow_feed(
            store.clone(),
            head,
            poller.subscribe(),
            news,
            stop.clone(),
        )));
        let (pipeline, mut stop) = (pipeline.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            // Catch up first: what a previous run left underived or unrecorded.
            if let Err(e) = pipeline.step(None).await {
                tracing::warn!(shop = %shop, error = %e, "the pipeline's catch-up failed");
            }
            let stop = async move { stopped(&mut stop).await };
            if let Err(e) = pipeline.run(changes, stop).await {
                tracing::error!(shop = %shop, error = %e, "the pipeline stopped");
            }
        }));
    }
    tasks.push(tokio::spawn(poll_loop(
        state.clone(),
        poller,
        batch_limit,
        store.clone(),
        stop.clone(),
    )));
    tracing::info!(shop = %shop, demo = sources.demo.as_ref().is_some_and(|d| d.shop == shop),
        "background work started");
    tasks.push(forward);
    Ok(ShopWork {
        store,
        tasks,
        stop: shop_stop,
        accounts,
    })
}

/// The shop's own carrier accounts as adapters. One that does not open (another server
/// key) is left out with a warning: the operator's account, if any, serves instead.
async fn own_adapters(state: &ShopState, shop: ShopId) -> Vec<Arc<dyn Carrier>> {
    let stored = match state.db.carrier_accounts(shop).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(shop = %shop, error = %e, "cannot read the shop's carrier accounts");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for a in stored {
        let built = parceltrail_shop::accounts::carrier(&a.carrier)
            .and_then(|kind| {
                parceltrail_shop::accounts::open(&state.secret_key, shop, kind, &a.sealed)
            })
            .map_err(|e| e.to_string())
            .and_then(|creds| sources::adapter(creds.carrier, &creds).map_err(|e| e.to_string()));
        match built {
            Ok(adapter) => out.push(adapter),
            Err(e) => {
                tracing::warn!(shop = %shop, carrier = %a.carrier, error = %e,
                    "the shop's carrier account is not used");
            }
        }
    }
    out
}

/// The shop's own adapters in place of the operator's for the same carriers, direct carriers
/// before 17TRACK (the poller asks the first that serves a carrier).
fn with_own(own: Vec<Arc<dyn Carrier>>, operator: &[Arc<dyn Carrier>]) -> Vec<Arc<dyn Carrier>> {
    let mut all = own;
    let taken: Vec<String> = all.iter().map(|a| a.id().to_owned()).collect();
    all.extend(
        operator
            .iter()
            .filter(|a| !taken.iter().any(|t| t == a.id()))
            .cloned(),
    );
    // Stable: each group keeps its order.
    all.sort_by_key(|a| a.id() == parceltrail_carriers::credentials::CarrierKind::Track17.id());
    all
}

/// Poll whatever is due, sleeping until the next is (or a write here adds parcels).
async fn poll_loop(
    state: Arc<ShopState>,
    poller: Poller,
    batch_limit: usize,
    store: Arc<ShopStore>,
    mut stop: watch::Receiver<bool>,
) {
    let shop = store.shop();
    let mut woken = store.subscribe();
    loop {
        // Cancelled mid-pass when stopping: each batch's ingest and schedule is one store
        // call, done or not, and claimed parcels are due again when their lease ends.
        let report = tokio::select! {
            _ = stopped(&mut stop) => return,
            r = poller.poll_due() => r,
        };
        let wait = match report {
            Ok(r) => {
                state.metrics.count_polls(r.polled, r.failed, r.requests);
                tracing::debug!(shop = %shop, ?r, "poll pass");
                if r.polled > 0 && r.polled >= batch_limit {
                    Duration::ZERO
                } else {
                    match store.read(|s| s.next_due()).await {
                        Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or_default().min(IDLE),
                        Ok(None) => IDLE,
                        Err(e) => {
                            tracing::warn!(shop = %shop, error = %e, "reading the schedule failed");
                            AFTER_FAILURE
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(shop = %shop, error = %e, "a poll pass failed");
                AFTER_FAILURE
            }
        };
        let mut until = tokio::time::Instant::now() + wait.max(Duration::from_millis(20));
        loop {
            tokio::select! {
                _ = stopped(&mut stop) => return,
                r = woken.changed() => if r.is_err() {
                    tokio::time::sleep_until(until).await;
                    break;
                },
                _ = tokio::time::sleep_until(until) => break,
            }
            tokio::select! {
                _ = stopped(&mut stop) => return,
                _ = tokio::time::sleep(WAKE_SETTLE) => {}
            }
            woken.borrow_and_update();
            // A write here: new parcels through this process's API are due at once, so
            // poll now if something is due. Most writes (a webhook's events) make nothing
            // due, and a pass is not free (its housekeeping reads every parcel), so those
            // keep the time already set.
            match store.read(|s| s.next_due()).await {
                Ok(Some(at)) => match (at - Utc::now()).to_std() {
                    Ok(d) if !d.is_zero() => until = until.min(tokio::time::Instant::now() + d),
                    _ => break,
                },
                Ok(None) => {}
                Err(_) => break,
            }
        }
    }
}

/// Pass the shop's committed changes after `after` to the pipeline (`news`), read from its
/// change feed when this process writes to the store or its poller reports news, and at
/// least every [`FEED_POLL`] (another process's writes). The pipeline's own changes
/// (estimates, problems) are not passed back to it.
async fn follow_feed(
    store: Arc<ShopStore>,
    mut after: i64,
    mut polled: broadcast::Receiver<Change>,
    news: broadcast::Sender<Change>,
    mut stop: watch::Receiver<bool>,
) {
    let mut woken = store.subscribe();
    loop {
        loop {
            let from = after;
            // Heads only: the pipeline needs to know which parcels changed, not how (a busy
            // feed is mostly the details of new events).
            let batch = match store.view(move |s| s.feed_heads(from, FEED_BATCH)).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the change feed for the pipeline failed");
                    break;
                }
            };
            let Some(last) = batch.last() else { break };
            after = last.seq;
            let full = batch.len() == FEED_BATCH;
            for head in batch {
                // Not passed back: the pipeline's own output.
                let own = matches!(
                    head.kind.as_str(),
                    "estimate_changed"
                        | "problem_opened"
                        | "problem_resolved"
                        | "notifications_changed"
                );
                // The pipeline reads only which parcel a change touched; the rest it reads
                // from the store.
                if let (false, Some(shipment_id)) = (own, head.shipment_id)
                    && news.send(Change::ShipmentEdited { shipment_id }).is_err()
                {
                    return;
                }
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = woken.changed() => {}
            r = polled.recv() => if matches!(r, Err(broadcast::error::RecvError::Closed)) {
                return;
            },
            _ = tokio::time::sleep(FEED_POLL) => {}
        }
        // Let a burst of writes land before reading.
        tokio::time::sleep(WAKE_SETTLE).await;
    }
}

/// Count the carrier events the poller stored.
async fn count_events(
    state: Arc<ShopState>,
    mut changes: broadcast::Receiver<Change>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let change = tokio::select! {
            _ = stopped(&mut stop) => return,
            c = changes.recv() => c,
        };
        match change {
            Ok(Change::EventsAdded { events, .. }) => state.metrics.count_ingested(events.len()),
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parceltrail_core::carrier::{BatchResult, BoxFuture, RateLimit};

    struct Api(u32, Duration, usize);

    impl Carrier for Api {
        fn id(&self) -> &'static str {
            "test"
        }
        fn serves(&self, _: &str) -> bool {
            true
        }
        fn max_batch(&self) -> usize {
            self.2
        }
        fn rate_limit(&self) -> RateLimit {
            RateLimit {
                requests: self.0,
                per: self.1,
            }
        }
        fn track<'a>(&'a self, _: &'a [String]) -> BoxFuture<'a, BatchResult> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn parse(&self, _: &[u8]) -> BatchResult {
            Ok(Vec::new())
        }
    }

    #[test]
    fn a_pass_claims_what_the_slowest_adapter_asks_about_in_half_the_lease() {
        let lease = Duration::from_secs(120);
        let fast: Arc<dyn Carrier> = Arc::new(Api(10, Duration::from_secs(1), 1));
        let slow: Arc<dyn Carrier> = Arc::new(Api(60, Duration::from_secs(3600), 35));
        assert_eq!(claim_limit(std::slice::from_ref(&fast), lease, 5000), 600);
        assert_eq!(claim_limit(&[fast, slow.clone()], lease, 5000), 35);
        assert_eq!(claim_limit(&[], lease, 5000), 5000, "no adapter: no bound");
        let glacial: Arc<dyn Carrier> = Arc::new(Api(1, Duration::from_secs(86_400), 1));
        assert_eq!(claim_limit(&[glacial], lease, 5000), 1, "at least one");
    }
}
