//! `parceltrail server`: the shop server, and the commands that set it up (`shop create`,
//! `key create|list|revoke`, `migrate`), all against the database given by `--db`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use parceltrail_server::shop::outbound::{CONCURRENCY, MAX_CONCURRENCY};
use parceltrail_server::shop::{Limits, Outbound, OutboundConfig, ShopState};
use parceltrail_shop::secrets::SecretKey;
use parceltrail_shop::{Db, DbUrl, KeyId, Scopes, ShopId};
use serde_json::json;

use crate::cli::{KeyCommand, LogFormat, ServerArgs, ServerCommand, ShopCommand};

/// The settings a config file may hold (the flags' names, with `_` for `-`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    db: Option<String>,
    listen: Option<SocketAddr>,
    public_url: Option<String>,
    logins_per_minute: Option<u32>,
    key_failures_per_minute: Option<u32>,
    key_requests_per_second: Option<u32>,
    log_format: Option<LogFormat>,
    allow_private_targets: Option<bool>,
    webhook_concurrency: Option<u32>,
    secret_key_file: Option<std::path::PathBuf>,
    sim: Option<String>,
    sim_key: Option<String>,
    sim_rate: Option<u32>,
    speed: Option<f64>,
    poll_lease: Option<u64>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    twilio_url: Option<String>,
    twilio_sid: Option<String>,
    twilio_token: Option<String>,
    twilio_from: Option<String>,
    web_push: Option<bool>,
}

/// The customers' channels the settings configure (flags over the file).
fn channels(
    args: &ServerArgs,
    file: &FileSettings,
) -> Result<parceltrail_server::shop::notify::Channels> {
    use parceltrail_notifiers::{email::Mailer, sms};
    let pick = |a: &Option<String>, f: &Option<String>| a.clone().or_else(|| f.clone());
    let email = match (
        pick(&args.smtp_url, &file.smtp_url),
        pick(&args.mail_from, &file.mail_from),
    ) {
        (None, None) => None,
        (Some(url), Some(from)) => Some(Mailer::new(&url, &from).context("email to customers")?),
        (Some(_), None) => bail!(
            "--smtp-url needs --mail-from (PARCELTRAIL_SERVER_MAIL_FROM): the address customers' email comes from"
        ),
        (None, Some(_)) => bail!(
            "--mail-from needs --smtp-url (PARCELTRAIL_SERVER_SMTP_URL): the relay that sends customers' email"
        ),
    };
    let sid = pick(&args.twilio_sid, &file.twilio_sid);
    let token = pick(&args.twilio_token, &file.twilio_token);
    let from = pick(&args.twilio_from, &file.twilio_from);
    let sms = match (sid, token, from) {
        (None, None, None) => None,
        (Some(sid), Some(token), Some(from)) => {
            let base = pick(&args.twilio_url, &file.twilio_url)
                .unwrap_or_else(|| sms::TWILIO_API.to_owned());
            Some(
                sms::Twilio::new(&base, &sid, &token, &from)
                    .map_err(|e| anyhow::anyhow!("SMS to customers: {e}"))?,
            )
        }
        (sid, token, from) => bail!(
            "SMS needs all three of --twilio-sid, --twilio-token and --twilio-from; missing: {}",
            [
                ("--twilio-sid", sid.is_none()),
                ("--twilio-token", token.is_none()),
                ("--twilio-from", from.is_none())
            ]
            .iter()
            .filter(|(_, missing)| *missing)
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
        ),
    };
    let push = args.web_push.or(file.web_push).unwrap_or(false);
    Ok(parceltrail_server::shop::notify::Channels { email, sms, push })
}

/// The most a config file may be.
const CONFIG_MAX: u64 = 1 << 20;

fn read_config(path: &Path) -> Result<FileSettings> {
    let bytes = crate::input::read_all(&path.display().to_string(), CONFIG_MAX, "server --config")?;
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("the config file {} is not UTF-8", path.display()))?;
    let settings: FileSettings = toml::from_str(text)
        .with_context(|| format!("the config file {} is not valid", path.display()))?;
    for (name, value, max) in [
        (
            "logins_per_minute",
            settings.logins_per_minute,
            Limits::MAX_LOGINS_PER_MINUTE,
        ),
        (
            "key_failures_per_minute",
            settings.key_failures_per_minute,
            Limits::MAX_KEY_RATE,
        ),
        (
            "key_requests_per_second",
            settings.key_requests_per_second,
            Limits::MAX_KEY_RATE,
        ),
        ("sim_rate", settings.sim_rate, 100_000),
        (
            "poll_lease",
            settings
                .poll_lease
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
            3600,
        ),
    ] {
        if let Some(v) = value
            && !(1..=max).contains(&v)
        {
            bail!(
                "the config file {}: {name} = {v} is out of range: use 1 to {max}",
                path.display()
            );
        }
    }
    if let Some(v) = settings.webhook_concurrency
        && v as usize > MAX_CONCURRENCY
    {
        bail!(
            "the config file {}: webhook_concurrency = {v} is out of range: use 0 to {MAX_CONCURRENCY}",
            path.display()
        );
    }
    if let Some(v) = settings.speed
        && let Err(e) = parceltrail_sim::check_speed(v)
    {
        bail!("the config file {}: speed = {v}: {e}", path.display());
    }
    Ok(settings)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,parceltrail_server=info,parceltrail_shop=info,parceltrail_cli=info",
        )
    });
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().with_current_span(true).init(),
        LogFormat::Text => b
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// `parceltrail server …`.
pub fn run(args: ServerArgs, home: Option<&Path>, credentials_file: bool) -> Result<ExitCode> {
    let file = match &args.config {
        Some(path) => read_config(path)?,
        None => FileSettings::default(),
    };
    let format = args.log_format.or(file.log_format).unwrap_or(
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            LogFormat::Text
        } else {
            LogFormat::Json
        },
    );
    init_logging(format);
    let url = match args.db.as_ref().or(file.db.as_ref()) {
        Some(s) => s.parse::<DbUrl>()?,
        None => DbUrl::Sqlite(super::commands::data_dir(home)?.join("server.db")),
    };
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8788)));
    let public_url = args
        .public_url
        .clone()
        .or(file.public_url.clone())
        .unwrap_or_else(|| format!("http://{listen}"));
    let limits = Limits::with(
        args.logins_per_minute
            .or(file.logins_per_minute)
            .unwrap_or(Limits::LOGINS_PER_MINUTE),
        args.key_failures_per_minute
            .or(file.key_failures_per_minute)
            .unwrap_or(Limits::KEY_FAILURES_PER_MINUTE),
        args.key_requests_per_second
            .or(file.key_requests_per_second)
            .unwrap_or(Limits::KEY_REQUESTS_PER_SECOND),
    );
    let outbound = OutboundConfig {
        allow_private_targets: args
            .allow_private_targets
            .or(file.allow_private_targets)
            .unwrap_or(false),
        concurrency: args
            .webhook_concurrency
            .or(file.webhook_concurrency)
            .map_or(CONCURRENCY, |n| n as usize),
    };
    let key_file = args
        .secret_key_file
        .clone()
        .or(file.secret_key_file.clone());
    let mut background = crate::server_background::Settings {
        demo: args.demo,
        sim: args.sim.clone().or(file.sim.clone()).map(|url| {
            let key = args.sim_key.clone().or(file.sim_key.clone());
            (url, key.unwrap_or_else(|| "demo".into()))
        }),
        sim_rate: args
            .sim_rate
            .or(file.sim_rate)
            .unwrap_or(crate::server_background::SIM_RATE),
        speed: args.speed.or(file.speed),
        poll_lease: std::time::Duration::from_secs(
            args.poll_lease
                .or(file.poll_lease)
                .unwrap_or(parceltrail_shop::tracking::POLL_LEASE.as_secs()),
        ),
        // Only serving reads carrier credentials: the data directory is found then.
        data_dir: None,
        credentials_file,
    };
    let links_given = args.public_url.is_some() || file.public_url.is_some();
    let rt = crate::live::runtime()?;
    rt.block_on(async move {
        let (db, migrated) = Db::open(&url)
            .await
            .with_context(|| format!("cannot open the shop database {url}"))?;
        let public_url = public_url_of(&public_url)?;
        match args.command {
            None => {
                background.check()?;
                background.data_dir = super::commands::data_dir(home)
                    .map_err(|e| tracing::warn!("no carrier accounts: {e:#}"))
                    .ok();
                let links = links_given.then(|| public_url.clone());
                let key = secret_key(key_file, home)?;
                let channels = channels(&args, &file)?;
                let serving = Serving {
                    listen,
                    public_url,
                    url,
                    limits,
                    secret_key: key,
                    outbound,
                    background,
                    links,
                    channels,
                };
                serve(db, serving).await
            }
            Some(ServerCommand::Migrate) => {
                if migrated.from == migrated.to {
                    println!("The database {url} is up to date (schema {}).", migrated.to);
                } else {
                    println!(
                        "Migrated {url} from schema {} to {}.",
                        migrated.from, migrated.to
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Some(ServerCommand::Shop {
                command:
                    ShopCommand::Create {
                        name,
                        admin_email,
                        json,
                    },
            }) => {
                let new = db.create_shop(&name, &admin_email, Utc::now()).await?;
                let setup_url = format!("{public_url}/setup#{}", new.setup_token);
                if json {
                    println!(
                        "{}",
                        json!({"shop_id": new.shop.id, "api_key": new.api_key, "setup_url": setup_url})
                    );
                } else {
                    println!("Shop {:?} created: {}", new.shop.name, new.shop.id);
                    println!("Owner: {}", new.owner.email);
                    println!("API key (read, write, ingest; shown once): {}", new.api_key);
                    println!(
                        "The owner sets a password at (valid {} days, once): {setup_url}",
                        parceltrail_shop::db::SETUP_LINK_DAYS
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Some(ServerCommand::Shop {
                command: ShopCommand::List { json },
            }) => {
                let shops = db.shops().await?;
                if json {
                    println!("{}", serde_json::to_string(&shops)?);
                } else if shops.is_empty() {
                    println!("No shops yet: parceltrail server shop create NAME --admin-email EMAIL");
                } else {
                    for s in shops {
                        println!("{}  {}", s.id, crate::output::clean(&s.name));
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Some(ServerCommand::Key { command }) => key(&db, command).await,
        }
    })
}

/// The public URL, checked: links in emails and set-up pages are built from it.
fn public_url_of(s: &str) -> Result<String> {
    let u = url::Url::parse(s).with_context(|| {
        format!("--public-url {s:?} is not a URL: use e.g. https://track.example.com")
    })?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        bail!(
            "--public-url {s:?} must be an http or https URL with a host, e.g. https://track.example.com"
        );
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        bail!("--public-url {s:?} must have no user, query or fragment");
    }
    Ok(u.as_str().trim_end_matches('/').to_owned())
}

fn shop_id(s: &str) -> Result<ShopId> {
    s.parse().with_context(|| {
        format!("--shop {s:?} is not a shop id (see `parceltrail server shop list`)")
    })
}

async fn key(db: &Db, command: KeyCommand) -> Result<ExitCode> {
    match command {
        KeyCommand::Create {
            shop,
            name,
            scopes,
            json,
        } => {
            let shop = shop_id(&shop)?;
            let scopes: Scopes = scopes.parse()?;
            let (rec, key) = db
                .create_key(shop, &name, scopes, Utc::now())
                .await
                .map_err(|e| not_found_as(e, "no shop has this id"))?;
            if json {
                println!(
                    "{}",
                    json!({"id": rec.id, "api_key": key, "scopes": rec.scopes.to_string(), "name": rec.name})
                );
            } else {
                println!("API key {:?} ({}; shown once): {key}", rec.name, rec.scopes);
                println!("Its id, to revoke it: {}", rec.id);
            }
        }
        KeyCommand::List { shop, json } => {
            let keys = db.keys(shop_id(&shop)?).await?;
            if json {
                println!("{}", serde_json::to_string(&keys)?);
            } else if keys.is_empty() {
                println!("No keys (is the shop id right? see `parceltrail server shop list`).");
            } else {
                for k in keys {
                    let state = match (k.revoked_at, k.last_used_at) {
                        (Some(t), _) => format!("revoked {}", t.format("%Y-%m-%d %H:%M UTC")),
                        (None, Some(t)) => format!("last used {}", t.format("%Y-%m-%d %H:%M UTC")),
                        (None, None) => "never used".to_owned(),
                    };
                    println!(
                        "{}  {}…  {:<18} {:<12} {state}",
                        k.id,
                        k.prefix,
                        crate::output::clean(&k.name),
                        k.scopes.to_string()
                    );
                }
            }
        }
        KeyCommand::Revoke { shop, id } => {
            let key_id: KeyId = id.parse().with_context(|| {
                format!("{id:?} is not a key id (see `parceltrail server key list`)")
            })?;
            let k = db
                .revoke_key(shop_id(&shop)?, key_id, Utc::now())
                .await
                .map_err(|e| not_found_as(e, "this shop has no key with this id"))?;
            println!(
                "Revoked {:?} ({}…): it no longer authenticates.",
                k.name, k.prefix
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn not_found_as(e: parceltrail_shop::Error, what: &str) -> anyhow::Error {
    match e {
        parceltrail_shop::Error::NotFound => anyhow::anyhow!("{what}"),
        e => e.into(),
    }
}

/// The key for sealed secrets: `PARCELTRAIL_SERVER_SECRET_KEY` (the key itself: 64 hex
/// characters or base64), else the key file (made with a new key when missing).
fn secret_key(file: Option<std::path::PathBuf>, home: Option<&Path>) -> Result<Arc<SecretKey>> {
    if let Ok(hex) = std::env::var("PARCELTRAIL_SERVER_SECRET_KEY")
        && !hex.is_empty()
    {
        let key = SecretKey::parse(&hex).map_err(|e| {
            anyhow::anyhow!(
                "PARCELTRAIL_SERVER_SECRET_KEY is not a key ({e}): use 64 hex characters, or the base64 of 32 bytes"
            )
        })?;
        return Ok(Arc::new(key));
    }
    let path = match file {
        Some(p) => p,
        None => super::commands::data_dir(home)?.join("server.key"),
    };
    let key = SecretKey::load_or_create(&path)
        .with_context(|| format!("cannot read or make the secret key file {}", path.display()))?;
    Ok(Arc::new(key))
}

/// Everything `serve` is started with, besides the database.
struct Serving {
    listen: SocketAddr,
    public_url: String,
    url: DbUrl,
    limits: Limits,
    secret_key: Arc<SecretKey>,
    outbound: OutboundConfig,
    background: crate::server_background::Settings,
    links: Option<String>,
    channels: parceltrail_server::shop::notify::Channels,
}

async fn serve(db: Db, serving: Serving) -> Result<ExitCode> {
    let Serving {
        listen,
        public_url,
        url,
        limits,
        secret_key,
        outbound,
        background,
        links,
        channels,
    } = serving;
    let stores = parceltrail_shop::stores::Stores::new(&db);
    let demo = if background.demo {
        Some(
            crate::server_demo::prepare(&db, &stores, background.speed, background.sim_rate)
                .await?,
        )
    } else {
        None
    };
    if demo.is_none() && db.shops().await?.is_empty() {
        eprintln!(
            "No shops yet: make one with `parceltrail server shop create NAME --admin-email EMAIL`."
        );
    }
    if outbound.allow_private_targets {
        eprintln!(
            "Webhooks may reach loopback and private addresses (--allow-private-targets): only for tests or a network you trust."
        );
    }
    let bound = parceltrail_server::shop::bind(listen).await?;
    // Without a public URL, links name the address bound (its real port, when asked for 0).
    let public_url = if links.is_some() {
        public_url
    } else {
        format!("http://{}", bound.1)
    };
    let metrics = parceltrail_server::shop::Metrics::new();
    let sender = Arc::new(Outbound::new(
        db.clone(),
        secret_key.clone(),
        outbound,
        metrics.webhooks(),
    ));
    let state = Arc::new(ShopState {
        stores,
        db,
        public_url,
        limits,
        metrics,
        secret_key,
        outbound: sender.clone(),
        channels,
        shop_cache: Default::default(),
        wakes: Default::default(),
        budgets: Default::default(),
    });
    // One signal stops both the HTTP server and the webhook sender.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = sender.spawn(async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|s| *s).await;
    });
    let pump = parceltrail_server::shop::pump::spawn(state.clone(), stop.subscribe());
    let shutdown = async move {
        shutdown_signal().await;
        eprintln!("Stopping: finishing the requests and webhook deliveries in flight.");
        let _ = stop.send(true);
    };
    let (addr, task) = parceltrail_server::shop::serve(state.clone(), bound, shutdown).await?;
    println!("The shop server is at http://{addr}/ on {url} (Ctrl-C stops it).");
    if let Some(d) = &demo {
        crate::server_demo::print(d, links.as_deref().unwrap_or(&format!("http://{addr}")));
    }
    let sources =
        crate::server_background::sources(&background, demo.as_ref().map(|d| d.source.clone()))
            .await;
    let work = parceltrail_server::shop::background::start(state, sources);
    let served = task.await;
    let _ = worker.await;
    let _ = pump.await;
    // The requests in flight have finished: now the polls.
    work.stop().await;
    drop(demo);
    match served {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) => bail!("the server stopped: {e}"),
        Err(e) => bail!("the server task failed: {e}"),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
