//! The commands that talk to carriers: demo, watch, refresh, sim, and the carrier API tools.
//! They share one tokio runtime, built here and only for these commands.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use console::style;
use parceltrail_app::sources::{
    self, demo_adapter, demo_epoch, demo_sim, pipeline_config, real_adapters, sim_adapter,
};
use parceltrail_carriers::credentials::{CarrierKind, Credentials, open_store};
use parceltrail_carriers::{Dhl, Http, Secret};
use parceltrail_core::carrier::Carrier;
use parceltrail_core::pipeline::Pipeline;
use parceltrail_core::poller::{Poller, PollerConfig, SharedStore};
use parceltrail_core::store::{Change, SqliteStore, Store};
use parceltrail_sim::{Sim, SimConfig};
use serde::Serialize;

use crate::cli::CarrierSource;
use crate::output::{clean, status};

/// The runtime for carrier I/O: one, with a worker per core (2 here).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `parceltrail demo [--reset]`.
pub fn demo(db: &mut SqliteStore, dir: &Path, reset: bool) -> Result<()> {
    if reset {
        match sources::end_demo(db, dir)? {
            Some(removed) => println!("Removed {removed} demo parcels."),
            None => println!("There are no demo parcels."),
        }
        return Ok(());
    }
    if let Some(why) = sources::demo_refused(db, dir)? {
        bail!("{why}: try it with another data directory (--home)");
    }
    let e = demo_epoch(dir, None)?;
    let added = db.add_shipments(&parceltrail_sim::demo_shipments(&demo_sim(&e)), Utc::now())?;
    let new = added.iter().filter(|a| a.created).count();
    if new == 0 {
        println!("The demo parcels are already here.");
    } else {
        println!("Added {new} demo parcels. Bring them to life with: parceltrail watch --demo");
    }
    Ok(())
}

/// The adapters and pacing a `watch` or `refresh` runs with.
struct Setup {
    adapters: Vec<Arc<dyn Carrier>>,
    time_scale: f64,
    /// The demo's simulator runs (and its clock rules the poller).
    demo: bool,
    _sim: Option<tokio::task::JoinHandle<()>>,
}

async fn setup(src: &CarrierSource, db: &SharedStore, dir: &Path, use_file: bool) -> Result<Setup> {
    if src.demo {
        {
            let store = db.lock().map_err(|_| anyhow!("store lock poisoned"))?;
            if let Some(why) = sources::demo_refused(&*store, dir)? {
                bail!("{why}: try it with another data directory (--home)");
            }
        }
        let e = demo_epoch(dir, src.speed)?;
        if src.speed.is_some_and(|s| s != e.speed) {
            eprintln!(
                "The demo runs at {}× (set when it started); `parceltrail demo --reset` starts it afresh at another speed.",
                e.speed
            );
        }
        let sim = Arc::new(demo_sim(&e));
        {
            let mut store = db.lock().map_err(|_| anyhow!("store lock poisoned"))?;
            store.add_shipments(&parceltrail_sim::demo_shipments(&sim), Utc::now())?;
        }
        let (addr, task) = parceltrail_sim::serve(sim, "127.0.0.1:0".parse()?)
            .await
            .context("cannot start the simulator")?;
        return Ok(Setup {
            adapters: vec![demo_adapter(&format!("http://{addr}"), src.sim_rate)],
            time_scale: e.speed,
            demo: true,
            _sim: Some(task),
        });
    }
    if let Some(url) = &src.sim {
        return Ok(Setup {
            adapters: vec![sim_adapter(url, &src.sim_key, src.sim_rate)],
            time_scale: src.speed.unwrap_or(1.0),
            demo: false,
            _sim: None,
        });
    }
    let mut adapters = real_adapters(dir, use_file)?;
    if adapters.is_empty() {
        bail!(
            "no carrier account is set up: add one with `parceltrail carriers login <CARRIER>`, or try the demo with `--demo`"
        );
    }
    // Demo parcels left behind get a word of their own, never a real carrier's request.
    {
        let store = db.lock().map_err(|_| anyhow!("store lock poisoned"))?;
        adapters.extend(sources::demo_stand_in(&*store)?);
    }
    Ok(Setup {
        adapters,
        time_scale: 1.0,
        demo: false,
        _sim: None,
    })
}

fn carrier_kind(id: &str) -> Result<CarrierKind> {
    Ok(sources::carrier_kind(id)?)
}

fn prompt(label: &str, secret: bool) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if secret && std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("{label}: ")).context("cannot read the answer");
    }
    eprint!("{label}: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the answer")?;
    Ok(line.trim().to_owned())
}

/// `parceltrail carriers login`.
pub fn login(dir: &Path, use_file: bool, carrier: &str) -> Result<()> {
    let kind = carrier_kind(carrier)?;
    let store = open_store(dir, use_file);
    let mut creds = Credentials::new(kind);
    for f in kind.fields() {
        let value = prompt(&format!("{} {}", kind.name(), f.label), f.secret)?;
        creds.set(f.name, Secret::new(value))?;
    }
    store.save(&creds)?;
    println!(
        "Saved the {} credentials in {}. Check them with: parceltrail carriers test {}",
        kind.name(),
        store.describe(),
        kind.id()
    );
    Ok(())
}

/// `parceltrail carriers logout`.
pub fn logout(dir: &Path, use_file: bool, carrier: &str) -> Result<()> {
    let kind = carrier_kind(carrier)?;
    let store = open_store(dir, use_file);
    store.delete(kind)?;
    println!(
        "Forgot the {} credentials in {}.",
        kind.name(),
        store.describe()
    );
    Ok(())
}

/// `parceltrail carriers test`: one real request with the stored credentials. A number the
/// carrier does not know still proves the credentials were accepted.
pub fn test_credentials(
    dir: &Path,
    use_file: bool,
    carrier: &str,
) -> Result<std::process::ExitCode> {
    let kind = carrier_kind(carrier)?;
    let store = open_store(dir, use_file);
    let creds = store.load(kind)?.ok_or_else(|| {
        anyhow!(
            "no {} credentials in {}; add them with `parceltrail carriers login {}`",
            kind.name(),
            store.describe(),
            kind.id()
        )
    })?;
    let check = runtime()?.block_on(parceltrail_app::api::check_credentials(kind, &creds));
    let verdict = if check.ok { Ok(()) } else { Err(check.message) };
    match verdict {
        Ok(()) => {
            println!("{} accepted the credentials.", kind.name());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(msg) => {
            eprintln!("{msg}");
            Ok(std::process::ExitCode::from(1))
        }
    }
}

fn poller_config(src: &CarrierSource, time_scale: f64) -> PollerConfig {
    sources::poller_config(src.archive_after, time_scale)
}

fn shared(db: SqliteStore) -> SharedStore {
    Arc::new(Mutex::new(db))
}

/// One line of `watch` output for a change worth showing: a status moving, a problem found
/// or resolved.
fn describe_change(db: &SharedStore, c: &Change) -> Option<String> {
    let (id, text) = match c {
        Change::StatusChanged {
            shipment_id,
            from,
            to,
        } => (*shipment_id, format!("{} → {}", status(*from), status(*to))),
        Change::ProblemOpened {
            shipment_id,
            problem,
        } => (*shipment_id, style(problem.label()).red().to_string()),
        Change::ProblemResolved {
            shipment_id,
            problem,
        } => (
            *shipment_id,
            style(format!("{} resolved", problem.label()))
                .green()
                .to_string(),
        ),
        _ => return None,
    };
    let store = db.lock().ok()?;
    let s = store.shipment(id).ok()?;
    let title = s.label.as_deref().map(clean).unwrap_or_default();
    Some(format!(
        "{}  {:<22} {}  {}",
        style(chrono::Local::now().format("%H:%M:%S")).dim(),
        style(title).bold(),
        text,
        style(&s.tracking_number).dim()
    ))
}

/// `parceltrail watch`.
pub fn watch(
    db: SqliteStore,
    dir: &Path,
    use_file: bool,
    src: CarrierSource,
    notify: bool,
) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let store = shared(db);
        if let Some(url) = parceltrail_app::sync::server(&store)? {
            bail!(
                "this device is signed in to {url}, which asks the carriers: run `parceltrail sync` to bring its news here (or `parceltrail sync logout` to ask them from this device again)"
            );
        }
        let setup = setup(&src, &store, dir, use_file).await?;
        let config = poller_config(&src, setup.time_scale);
        let poller = Poller::new(store.clone(), setup.adapters, config)?;
        // A first pass, then where everything stands, then each change as it happens.
        let stop_first = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        tokio::select! {
            r = poller.poll_due() => { r?; }
            _ = stop_first => return Ok(()),
        }
        let notifiers = if notify {
            crate::notifications::notifiers()
        } else {
            Vec::new()
        };
        let pipeline = Arc::new(Pipeline::new(
            store.clone(),
            pipeline_config(setup.time_scale),
            notifiers,
        )?);
        // Catch up (estimates, problems, notifications a previous run left unsent), so the
        // list shows where everything stands.
        pipeline.step(None).await?;
        {
            let db = store.lock().map_err(|_| anyhow!("store lock poisoned"))?;
            crate::commands::list(&*db, false, false)?;
            println!();
            println!("Watching {} parcels. Press Ctrl-C to stop.", db.count()?);
        }
        let mut derived = pipeline.subscribe();
        let pipeline_rx = poller.subscribe();
        let mut rx = poller.subscribe();
        let derived_printer = {
            let store = store.clone();
            tokio::spawn(async move {
                while let Ok(c) = derived.recv().await {
                    if let Some(line) = describe_change(&store, &c) {
                        println!("{line}");
                    }
                }
            })
        };
        let printer = {
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(c) => {
                            if let Some(line) = describe_change(&store, &c) {
                                println!("{line}");
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            println!("{}", style(format!("({n} changes not shown)")).dim());
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let demo_over = demo_over(setup.demo, store.clone(), dir.to_path_buf());
        let stopper = async move {
            tokio::select! {
                _ = async {
                    match src.duration {
                        Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs)).await,
                        None => {
                            let _ = tokio::signal::ctrl_c().await;
                        }
                    }
                } => {}
                why = demo_over => eprintln!("{why}"),
            }
            let _ = stop_tx.send(true);
        };
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        // Its own task: the pipeline's work never holds up the poller's.
        let notifier = tokio::spawn(pipeline.run(pipeline_rx, stopped(stop_rx.clone())));
        let (polled, ()) = tokio::join!(poller.run(stopped(stop_rx)), stopper);
        polled?;
        notifier
            .await
            .context("the notification pipeline stopped")??;
        drop(poller);
        printer.abort();
        derived_printer.abort();
        Ok(())
    })
}

/// With the demo running: resolves (with the reason) once the demo has ended elsewhere
/// (`parceltrail add`, `import` or `carriers login`, or the app) or parcels of the person's
/// own are tracked, since its clock must not rule them. Without the demo: never.
async fn demo_over(demo: bool, store: SharedStore, dir: std::path::PathBuf) -> String {
    if !demo {
        return std::future::pending().await;
    }
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !sources::demo_present(&dir) {
            return "The demo has ended: stopping. `parceltrail watch` follows your own parcels."
                .into();
        }
        let own = store
            .lock()
            .ok()
            .and_then(|db| sources::own_parcels(&*db).ok());
        if own.is_some_and(|n| n > 0) {
            return "Parcels of your own are tracked now, and the demo's fast clock must not rule them: stopping. End the demo with `parceltrail demo --reset`, then `parceltrail watch` follows them.".into();
        }
    }
}

/// `parceltrail refresh`.
pub fn refresh(
    db: SqliteStore,
    dir: &Path,
    use_file: bool,
    key: Option<String>,
    src: CarrierSource,
) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let store = shared(db);
        let setup = setup(&src, &store, dir, use_file).await?;
        {
            let mut s = store.lock().map_err(|_| anyhow!("store lock poisoned"))?;
            let id = match &key {
                Some(k) => Some(s.find(k)?.id),
                None => None,
            };
            s.poll_now(id, Utc::now())?;
        }
        let config = poller_config(&src, setup.time_scale);
        let poller = Poller::new(store.clone(), setup.adapters, config)?;
        let mut rx = poller.subscribe();
        let report = poller.poll_due().await?;
        while let Ok(c) = rx.try_recv() {
            if let Some(line) = describe_change(&store, &c) {
                println!("{line}");
            }
        }
        println!(
            "Asked about {} parcels in {} requests: {} changes, {} failures.",
            report.polled, report.requests, report.changes, report.failed
        );
        // New estimates and problems, and the notifications the news deserves.
        let pipeline = Arc::new(Pipeline::new(
            store.clone(),
            pipeline_config(setup.time_scale),
            crate::notifications::notifiers(),
        )?);
        pipeline.step(None).await?;
        Ok(())
    })
}

/// What `parceltrail serve` runs with.
pub struct ServeOptions {
    pub app: parceltrail_app::Options,
    pub listen: std::net::SocketAddr,
    pub allow_remote: bool,
    pub ui: std::path::PathBuf,
    pub demo: bool,
    pub notify: bool,
    pub duration: Option<f64>,
}

/// `parceltrail serve`.
pub fn serve(o: ServeOptions) -> Result<()> {
    // Before anything starts (the demo included).
    parceltrail_server::check_listen(o.listen, o.allow_remote)?;
    let rt = runtime()?;
    rt.block_on(async {
        let notifiers = if o.notify {
            crate::notifications::notifiers()
        } else {
            Vec::new()
        };
        let app = parceltrail_app::App::open(o.app, notifiers)?;
        let refused = {
            let store = app
                .store()
                .lock()
                .map_err(|_| anyhow!("store lock poisoned"))?;
            sources::demo_refused(&*store, &app.options().dir)?
        };
        match refused {
            Some(why) if o.demo => {
                eprintln!("Not starting the demo: {why}.");
                app.start().await?;
            }
            None if o.demo => {
                app.start_demo().await?;
            }
            _ => app.start().await?,
        }
        let (addr, task) =
            parceltrail_server::serve(app.clone(), o.listen, o.ui, o.allow_remote).await?;
        if addr.ip().is_unspecified() {
            println!(
                "Parceltrail is at http://localhost:{}/ and at this machine's IP addresses, port {0} (Ctrl-C stops it).",
                addr.port()
            );
        } else {
            println!("Parceltrail is at http://{addr}/ (Ctrl-C stops it).");
        }
        if !addr.ip().to_canonical().is_loopback() {
            eprintln!(
                "Warning: listening beyond this machine. Anyone who can reach it on port {} can read and change your parcels and carrier accounts: the server has no accounts or passwords.",
                addr.port()
            );
        }
        let stop = async {
            match o.duration {
                Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs)).await,
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        tokio::select! {
            _ = stop => {}
            r = task => r.context("the server stopped")??,
        }
        app.shutdown().await;
        Ok(())
    })
}

/// `parceltrail sim`.
pub fn sim(config: SimConfig, listen: std::net::SocketAddr) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let sim = Arc::new(Sim::new(config, Utc::now()));
        let numbers: Vec<String> = sim.parcels().iter().map(|p| format!("{} ({:?})", p.number, p.scenario)).collect();
        let (addr, task) = parceltrail_sim::serve(sim.clone(), listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        println!("Simulating DHL Shipment Tracking – Unified at http://{addr}/track/shipments (API key: {})", sim.config().api_key);
        println!("Parcels ({}), also at http://{addr}/sim/parcels:", numbers.len());
        for n in numbers.iter().take(50) {
            println!("  {n}");
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            r = task => r.context("the simulator stopped")?,
        }
        Ok(())
    })
}

/// An adapter for `carriers parse`: the same normalisation code, no network needed.
fn parser_for(carrier: &str) -> Result<Arc<dyn Carrier>> {
    let http = Http::new();
    let none = || Secret::new("");
    Ok(match carrier.to_ascii_lowercase().as_str() {
        "dhl" => Arc::new(Dhl::new(
            http,
            parceltrail_carriers::dhl::PRODUCTION,
            none(),
        )),
        "ups" => Arc::new(parceltrail_carriers::ups::Ups::new(
            http,
            parceltrail_carriers::ups::PRODUCTION,
            "",
            none(),
        )),
        "fedex" => Arc::new(parceltrail_carriers::fedex::Fedex::new(
            http,
            parceltrail_carriers::fedex::PRODUCTION,
            "",
            none(),
        )),
        "usps" => Arc::new(parceltrail_carriers::usps::Usps::new(
            http,
            parceltrail_carriers::usps::PRODUCTION,
            "",
            none(),
        )),
        "17track" => Arc::new(parceltrail_carriers::track17::Track17::new(
            http,
            parceltrail_carriers::track17::PRODUCTION,
            none(),
        )),
        other => bail!("no parser for {other:?}: use ups, fedex, usps, dhl or 17track"),
    })
}

#[derive(Serialize)]
struct Parsed {
    number: String,
    #[serde(flatten)]
    result: Option<parceltrail_core::carrier::TrackResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `parceltrail carriers parse`.
pub fn parse(carrier: &str, file: &Path) -> Result<()> {
    let body = crate::input::read_file(file, crate::input::PARSE_MAX, "carriers parse")?;
    let adapter = parser_for(carrier)?;
    let results = adapter
        .parse(&body)
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let out: Vec<Parsed> = results
        .into_iter()
        .map(|(number, r)| match r {
            Ok(t) => Parsed {
                number,
                result: Some(t),
                error: None,
            },
            Err(e) => Parsed {
                number,
                result: None,
                error: Some(e.to_string()),
            },
        })
        .collect();
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &out)?;
    std::io::Write::write_all(&mut stdout, b"\n")?;
    Ok(())
}

/// `parceltrail carriers status`.
pub fn carrier_status(db: &SqliteStore, json: bool) -> Result<()> {
    let states = db.carrier_states()?;
    if json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &states)?;
        std::io::Write::write_all(&mut stdout, b"\n")?;
        return Ok(());
    }
    if states.is_empty() {
        println!("No carrier has been asked yet.");
    }
    let when = |t: Option<DateTime<Utc>>| {
        t.map(|t| crate::output::when(t.fixed_offset()))
            .unwrap_or_else(|| "never".into())
    };
    for s in states {
        println!("{}", style(&s.carrier).bold());
        let breaker = match s.breaker {
            parceltrail_core::store::Breaker::Closed => {
                style("closed (requests flow)".to_string()).green()
            }
            parceltrail_core::store::Breaker::HalfOpen => {
                style("half-open (probing)".to_string()).yellow()
            }
            parceltrail_core::store::Breaker::Open => {
                style(format!("open until {}", when(s.breaker_until))).red()
            }
        };
        println!("  circuit: {breaker}");
        if let Some(b) = s.backoff_until.filter(|b| *b > Utc::now()) {
            println!(
                "  backing off until {} (the carrier asked us to wait)",
                when(Some(b))
            );
        }
        println!(
            "  requests today: {}",
            if s.requests_day == Some(Utc::now().date_naive()) {
                s.requests
            } else {
                0
            }
        );
        println!("  last success: {}", when(s.last_success_at));
        if let Some(e) = s.last_error {
            println!("  last error: {} ({})", clean(&e), when(s.last_error_at));
        }
    }
    Ok(())
}

/// `parceltrail sync [login URL --key KEY | logout]`.
pub fn sync(
    dir: &Path,
    db: SqliteStore,
    use_file: bool,
    action: Option<crate::cli::SyncAction>,
    json: bool,
) -> Result<std::process::ExitCode> {
    use parceltrail_app::sync as s;
    let store = shared(db);
    let creds = open_store(dir, use_file);
    match action {
        Some(crate::cli::SyncAction::Login { url, key, upload }) => {
            let key = match key {
                Some(k) => k,
                None => prompt("API key", true)?,
            };
            let shop = runtime()?.block_on(s::login(
                &store,
                creds.as_ref(),
                &url,
                parceltrail_carriers::Secret::new(key),
                upload,
            ))?;
            println!(
                "Signed in to {} at {}; the key is in {}. Run `parceltrail sync` to sync now.",
                clean(&shop.name),
                url.trim_end_matches('/'),
                creds.describe()
            );
        }
        Some(crate::cli::SyncAction::Logout) => {
            s::logout(&store, creds.as_ref())?;
            println!(
                "Signed out: this device keeps its parcels and asks the carriers itself again."
            );
        }
        None => {
            let client = s::client(&store, creds.as_ref())?;
            let round = runtime()?.block_on(s::round(&store, &client))?;
            if json {
                println!("{}", serde_json::to_string(&round)?);
            } else {
                println!(
                    "Synced with {}: {} sent ({} new there), {} received, {} changed here.",
                    client.url(),
                    round.sent,
                    round.changed_there,
                    round.received,
                    round.changed_here
                );
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
