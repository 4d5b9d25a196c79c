//! Parceltrail running: the background work (carrier sources → poller → store → pipeline)
//! and the UI's commands over it. The desktop app, `parceltrail serve` and the CLI's live
//! commands share this crate, so each of them is a thin shell: the app maps its Tauri
//! commands onto [`App`]'s methods, the HTTP server its `/api/<command>` routes.
//!
//! Data flows one way: carrier (poll) → adapter → store → changes → pipeline (estimates,
//! problems, notifications) → [`Event::Changed`] → the UI re-reads what it shows.
#![deny(missing_docs)]

pub mod api;
pub mod sources;
pub mod sync;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use parceltrail_carriers::credentials::CredentialError;
use parceltrail_core::carrier::Carrier;
use parceltrail_core::domain::ShipmentId;
use parceltrail_core::notify::Notifier;
use parceltrail_core::pipeline::Pipeline;
use parceltrail_core::poller::{Poller, SharedStore};
use parceltrail_core::store::{Change, SqliteStore};
use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// What went wrong, in words for the person who asked, and which input was at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request was wrong: `field` says which part.
    #[error("{message}")]
    Invalid {
        /// The offending argument, when one is to blame.
        field: Option<String>,
        /// What was wrong.
        message: String,
    },
    /// No such parcel.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(parceltrail_core::Error),
    /// The keyring or credentials file failed.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `demo.json` cannot be read as the demo's settings.
    #[error(
        "the demo's settings in {} are damaged ({reason}): `parceltrail demo --reset` (or Settings → End the demo) removes the demo parcels, and the demo can start afresh",
        path.display()
    )]
    DemoDamaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Something that should not happen (a task panicked, a lock was poisoned).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A bad argument.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The argument at fault, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// Whether the caller's input was at fault (HTTP 4xx) rather than this side (5xx).
    pub fn is_caller_error(&self) -> bool {
        matches!(self, Error::Invalid { .. } | Error::NotFound(_))
    }
}

impl From<parceltrail_core::Error> for Error {
    fn from(e: parceltrail_core::Error) -> Self {
        match e {
            parceltrail_core::Error::NotFound(_) => Error::NotFound(e.to_string()),
            parceltrail_core::Error::InvalidInput(m) => Error::Invalid {
                field: None,
                message: m,
            },
            other => Error::Store(other),
        }
    }
}

/// The wire form of an error: `{ "error": "...", "field": "..." }`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    /// What was wrong.
    pub error: String,
    /// The offending argument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl From<&Error> for ErrorBody {
    fn from(e: &Error) -> Self {
        ErrorBody {
            error: e.to_string(),
            field: e.field().map(str::to_owned),
        }
    }
}

impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ErrorBody::from(self).serialize(s)
    }
}

/// What the UI is told without asking.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// These parcels changed (events, estimates, problems, edits): re-read what is shown.
    Changed {
        /// Which parcels.
        ids: Vec<ShipmentId>,
    },
    /// Open this parcel (a notification or a deep link was clicked).
    Open {
        /// Which parcel.
        id: ShipmentId,
    },
}

impl Event {
    /// The event's name on the wire (`changed`, `open`).
    pub fn name(&self) -> &'static str {
        match self {
            Event::Changed { .. } => "changed",
            Event::Open { .. } => "open",
        }
    }
}

/// How the app runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data directory (database, demo state, credentials file when opted in).
    pub dir: PathBuf,
    /// Keep carrier credentials in a 0600 file instead of the OS keyring.
    pub credentials_file: bool,
    /// Delivered parcels archive themselves after this many days.
    pub archive_after_days: u32,
    /// Requests per second against the demo simulator.
    pub sim_rate: u32,
    /// The demo's speed, when a new demo starts.
    pub demo_speed: Option<f64>,
    /// Also track DHL numbers at a running `parceltrail sim` (its URL and API key).
    pub sim: Option<(String, String)>,
    /// How many times faster than real time the simulator at `sim` runs.
    pub sim_speed: Option<f64>,
}

impl Options {
    /// The defaults for a data directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            credentials_file: false,
            archive_after_days: 14,
            sim_rate: 20,
            demo_speed: None,
            sim: None,
            sim_speed: None,
        }
    }
}

impl Options {
    /// Refuses settings nothing can run with: a speed that is not a number from
    /// [`parceltrail_sim::MIN_SPEED`] to [`parceltrail_sim::MAX_SPEED`], a zero rate.
    pub fn validate(&self) -> Result<(), Error> {
        for (field, speed) in [("speed", self.demo_speed), ("sim_speed", self.sim_speed)] {
            if let Some(s) = speed {
                parceltrail_sim::check_speed(s)
                    .map_err(|e| Error::invalid(field, e.to_string()))?;
            }
        }
        if self.sim_rate == 0 {
            return Err(Error::invalid(
                "sim_rate",
                "the simulator's rate must be at least one request a second",
            ));
        }
        Ok(())
    }
}

/// Reads a yes/no setting from the environment as people write it: `1`, `true`, `yes`,
/// `on` or `0`, `false`, `no`, `off` (any case); empty or unset is `None`.
pub fn parse_flag(name: &str, value: &str) -> Result<Option<bool>, Error> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "1" | "true" | "yes" | "on" | "y" => Ok(Some(true)),
        "0" | "false" | "no" | "off" | "n" => Ok(Some(false)),
        _ => Err(Error::invalid(
            name,
            format!("{name}={value:?} is neither yes nor no: use 1 or 0 (true/false, yes/no)"),
        )),
    }
}

/// The platform's data directory for Parceltrail (`~/.local/share/parceltrail` on Linux).
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "parceltrail").map(|d| d.data_dir().to_path_buf())
}

/// The database file in a data directory.
pub fn database_path(dir: &Path) -> PathBuf {
    dir.join("parceltrail.db")
}

/// The background work while it runs.
struct Running {
    stop: watch::Sender<bool>,
    poller: Arc<Poller>,
    pipeline: Arc<Pipeline>,
    tasks: Vec<JoinHandle<()>>,
}

/// Parceltrail, open on one data directory: the store, the background work, the UI's
/// commands (in [`api`]) and the events the UI follows.
pub struct App {
    opts: Options,
    store: SharedStore,
    notifiers: Vec<Arc<dyn Notifier>>,
    events: broadcast::Sender<Event>,
    running: tokio::sync::Mutex<Option<Running>>,
    accounts: std::sync::atomic::AtomicUsize,
}

impl App {
    /// Open (creating if need be) the store in the data directory. Nothing runs until
    /// [`App::start`].
    pub fn open(opts: Options, notifiers: Vec<Arc<dyn Notifier>>) -> Result<Arc<App>, Error> {
        opts.validate()?;
        std::fs::create_dir_all(&opts.dir).map_err(|e| Error::io("create", &opts.dir, e))?;
        let db = SqliteStore::open(database_path(&opts.dir))?;
        let (events, _) = broadcast::channel(256);
        Ok(Arc::new(App {
            opts,
            store: Arc::new(Mutex::new(db)),
            notifiers,
            events,
            running: tokio::sync::Mutex::new(None),
            accounts: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// The options it runs with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The store.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Follow what changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Tell every follower.
    pub fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn changed(&self, ids: Vec<ShipmentId>) {
        self.emit(Event::Changed { ids });
    }

    /// Start (or restart, after the sources changed) the background work: the demo's
    /// simulator if a demo was started, the poller over every carrier source, and the
    /// pipeline after it. Catches up first (estimates, problems, notifications left unsent).
    pub async fn start(self: &Arc<Self>) -> Result<(), Error> {
        let mut running = self.running.lock().await;
        if let Some(r) = running.take() {
            stop(r).await;
        }
        let mut adapters: Vec<Arc<dyn Carrier>> = Vec::new();
        let mut tasks = Vec::new();
        let mut time_scale = 1.0;
        let demo = self.demo_to_run()?;
        if let Some(epoch) = &demo {
            let sim = Arc::new(sources::demo_sim(epoch));
            let (addr, task) = parceltrail_sim::serve(sim, ([127, 0, 0, 1], 0).into())
                .await
                .map_err(|e| Error::Internal(format!("cannot start the simulator: {e}")))?;
            tasks.push(task);
            adapters.push(sources::demo_adapter(
                &format!("http://{addr}"),
                self.opts.sim_rate,
            ));
            time_scale = epoch.speed;
        } else if let Some(idle) = sources::demo_stand_in(&*self.lock()?)? {
            adapters.push(idle);
        }
        if let Some((url, key)) = &self.opts.sim {
            adapters.push(sources::sim_adapter(url, key, self.opts.sim_rate));
            time_scale = self.opts.sim_speed.unwrap_or(time_scale);
        }
        let (dir, file) = (self.opts.dir.clone(), self.opts.credentials_file);
        let accounts = tokio::task::spawn_blocking(move || sources::real_adapters(&dir, file))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let accounts = match accounts {
            Ok(a) => a,
            Err(e) => {
                // No keyring (a bare server, a locked session): the demo and manual parcels
                // still work; Settings says what is wrong.
                tracing::warn!(error = %e, "carrier accounts unavailable");
                Vec::new()
            }
        };
        let n_accounts = accounts.len();
        self.accounts
            .store(n_accounts, std::sync::atomic::Ordering::Relaxed);
        adapters.extend(accounts);
        let poller = Arc::new(Poller::new(
            self.store.clone(),
            adapters,
            sources::poller_config(self.opts.archive_after_days, time_scale),
        )?);
        let pipeline = Arc::new(Pipeline::new(
            self.store.clone(),
            sources::pipeline_config(time_scale),
            self.notifiers.clone(),
        )?);
        pipeline.step(None).await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tasks.push(tokio::spawn(forward(
            self.clone(),
            vec![poller.subscribe(), pipeline.subscribe()],
            stop_rx.clone(),
        )));
        {
            let pipeline = pipeline.clone();
            let changes = poller.subscribe();
            let stop = stopped(stop_rx.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = pipeline.run(changes, stop).await {
                    tracing::error!(error = %e, "the pipeline stopped");
                }
            }));
        }
        // Signed in to a server: it asks the carriers, and this device syncs with it instead.
        if sync::server(&self.store).ok().flatten().is_some() {
            tasks.push(tokio::spawn(sync_loop(
                self.clone(),
                pipeline.clone(),
                stop_rx.clone(),
            )));
        } else {
            let poller = poller.clone();
            let stop = stopped(stop_rx.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = poller.run(stop).await {
                    tracing::error!(error = %e, "the poller stopped");
                }
            }));
        }
        if demo.is_some() {
            tasks.push(tokio::spawn(demo_guard(self.clone(), stop_rx)));
        }
        *running = Some(Running {
            stop: stop_tx,
            poller,
            pipeline,
            tasks,
        });
        drop(running);
        self.changed(Vec::new());
        Ok(())
    }

    /// The demo to run, if any. Parcels of the person's own beside it end it (added by
    /// another process, or before the demo ended by itself), since its clock must not rule
    /// them; damaged demo settings run no demo (its parcels get the stand-in's word).
    fn demo_to_run(&self) -> Result<Option<sources::DemoEpoch>, Error> {
        let epoch = match sources::read_demo(&self.opts.dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("{e}");
                return Ok(None);
            }
        };
        if epoch.is_some() {
            let mut db = self.lock()?;
            if sources::own_parcels(&*db)? > 0 {
                let removed = sources::end_demo(&mut *db, &self.opts.dir)?.unwrap_or(0);
                tracing::warn!(
                    "the demo ended ({removed} demo parcels removed): parcels of your own are tracked, and the demo's fast clock must not rule them"
                );
                return Ok(None);
            }
        }
        Ok(epoch)
    }

    /// Stop the background work (what was stored stays stored; unsent notifications go at
    /// the next start).
    pub async fn shutdown(&self) {
        if let Some(r) = self.running.lock().await.take() {
            stop(r).await;
        }
        // The process may end without closing the database (a GUI exits from its event
        // loop): leave no write-ahead log for the next start to read.
        match self.lock() {
            Ok(mut db) => {
                if let Err(e) = db.checkpoint() {
                    tracing::warn!(error = %e, "the database log was not checkpointed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the database log was not checkpointed"),
        }
    }

    /// Ask the carriers now about one parcel, or every parcel still moving.
    pub async fn poll_now(&self, id: Option<ShipmentId>) -> Result<usize, Error> {
        let n = {
            let mut db = self.lock()?;
            db.poll_now(id, Utc::now())?
        };
        if let Some(r) = self.running.lock().await.as_ref() {
            r.poller.wake();
        }
        Ok(n)
    }

    /// Carrier accounts in use.
    pub fn accounts(&self) -> usize {
        self.accounts.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn pipeline(&self) -> Option<Arc<Pipeline>> {
        self.running
            .lock()
            .await
            .as_ref()
            .map(|r| r.pipeline.clone())
    }

    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, dyn parceltrail_core::store::Store + Send + 'static>, Error>
    {
        self.store
            .lock()
            .map_err(|_| Error::Internal("the store lock is poisoned".into()))
    }
}

async fn stop(r: Running) {
    let _ = r.stop.send(true);
    for t in r.tasks {
        t.abort();
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
}

/// While the demo runs: when it ends elsewhere (`parceltrail add`, `import` or `carriers
/// login` in another process) or parcels of the person's own arrive, restart without it, so
/// its clock does not rule them.
/// (A boxed future: it restarts the app, whose `start` spawns it; an opaque type would be
/// its own cause.)
fn demo_guard(
    app: Arc<App>,
    mut stop: watch::Receiver<bool>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let over = !sources::demo_present(&app.opts.dir)
                || app
                    .lock()
                    .ok()
                    .and_then(|db| sources::own_parcels(&*db).ok())
                    .is_some_and(|n| n > 0);
            if over {
                // Not awaited here: restarting stops this task.
                tokio::spawn(async move {
                    if let Err(e) = app.start().await {
                        tracing::error!(error = %e, "could not restart after the demo ended");
                    }
                });
                return;
            }
        }
    })
}

/// Turn the poller's and the pipeline's changes into [`Event::Changed`], one per burst.
/// How often a device signed in to a server syncs with it.
const SYNC_EVERY: Duration = Duration::from_secs(60);

/// While signed in to a server: a sync round now and every [`SYNC_EVERY`], the pipeline
/// (estimates, problems, notifications) after each round that brought something.
async fn sync_loop(app: Arc<App>, pipeline: Arc<Pipeline>, mut stop: watch::Receiver<bool>) {
    loop {
        let (dir, file) = (app.opts.dir.clone(), app.opts.credentials_file);
        let store = app.store.clone();
        // The keyring blocks: off the runtime's threads.
        let client = tokio::task::spawn_blocking(move || {
            let creds = parceltrail_carriers::credentials::open_store(&dir, file);
            sync::client(&store, creds.as_ref())
        })
        .await;
        match client {
            Ok(Ok(client)) => match sync::round(&app.store, &client).await {
                Ok(r) if r.changed_here > 0 => {
                    if let Err(e) = pipeline.step(None).await {
                        tracing::warn!(error = %e, "after a sync round, the pipeline failed");
                    }
                    app.changed(Vec::new());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the sync round failed; trying again later"),
            },
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot sync"),
            Err(e) => tracing::warn!(error = %e, "cannot sync"),
        }
        tokio::select! {
            _ = tokio::time::sleep(SYNC_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn forward(
    app: Arc<App>,
    sources: Vec<broadcast::Receiver<Change>>,
    mut stop: watch::Receiver<bool>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<ShipmentId>>();
    for mut source in sources {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match source.recv().await {
                    Ok(c) => {
                        if tx.send(c.shipment_id()).is_err() {
                            break;
                        }
                    }
                    // Lost track: say "everything" (an empty list).
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if tx.send(None).is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }
    drop(tx);
    loop {
        let first = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            first = rx.recv() => first,
        };
        let Some(first) = first else { return };
        // A poll pass and the pipeline's step after it arrive as bursts: one event each.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut ids: Vec<ShipmentId> = first.into_iter().collect();
        let mut all = ids.is_empty();
        while let Ok(next) = rx.try_recv() {
            match next {
                Some(id) => ids.push(id),
                None => all = true,
            }
        }
        ids.sort();
        ids.dedup();
        app.changed(if all { Vec::new() } else { ids });
    }
}
