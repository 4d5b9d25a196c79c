//! Command-line arguments. Parsed here, then lifted into validated settings in `commands`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// The `parceltrail` command line.
#[derive(Debug, Parser)]
#[command(
    name = "parceltrail",
    version,
    about = "Track every parcel you are waiting for: where it is, when it arrives, what went wrong.",
    long_about = None,
    after_help = "Exit status: 0 on success; 1 when the command worked but found nothing valid (detect) or rejected some rows or numbers (import, add --from-text, carriers test); 2 on an error.\n\nData: parceltrail.db in --home or PARCELTRAIL_HOME, else the platform's data directory."
)]
pub struct Cli {
    /// Data directory (default: the platform's data directory for Parceltrail).
    #[arg(long, global = true, env = "PARCELTRAIL_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Keep carrier credentials in `credentials.json` in the data directory (readable only by
    /// you) instead of the system keyring, for machines without one.
    /// (`PARCELTRAIL_CREDENTIALS_FILE` takes 1 or 0, true or false, yes or no.)
    #[arg(
        long,
        global = true,
        env = "PARCELTRAIL_CREDENTIALS_FILE",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub credentials_file: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find tracking numbers (and their carriers) in a number, a tracking link or any text.
    Detect {
        /// The text; omit it or give `-` to read standard input (at most 4 MiB).
        text: Option<String>,
        /// One JSON array of {number, carrier, candidates, valid, reason}.
        #[arg(long)]
        json: bool,
    },
    /// Start tracking a number (or every number found in a text).
    Add {
        /// The tracking number or a carrier tracking link.
        #[arg(required_unless_present = "from_text", conflicts_with = "from_text")]
        number: Option<String>,
        /// Add every tracking number found in this file (`-` for standard input; at most 4 MiB).
        #[arg(long, value_name = "FILE")]
        from_text: Option<String>,
        /// Carrier id or name, when the number alone is ambiguous or wrongly guessed.
        #[arg(long)]
        carrier: Option<String>,
        /// The store's order number (parcels with the same store and number share an order).
        #[arg(long, value_name = "NO")]
        order: Option<String>,
        /// Store or merchant name.
        #[arg(long, value_name = "NAME")]
        store: Option<String>,
        /// Your name for the parcel.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
        /// What was ordered.
        #[arg(long, value_name = "TEXT")]
        items: Option<String>,
        /// The store's promised delivery date (YYYY-MM-DD or RFC 3339), from the order
        /// confirmation: it sharpens the estimate.
        #[arg(long, value_name = "DATE")]
        promised: Option<String>,
        /// Add even if the number fails the carrier's format check (needs --carrier).
        #[arg(long, requires = "carrier")]
        force: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Parcels grouped: Arriving today, On the way, Needs attention, Delivered recently.
    List {
        /// Include archived parcels and deliveries older than two weeks.
        #[arg(long)]
        all: bool,
        /// One JSON array of parcels, each with its group.
        #[arg(long)]
        json: bool,
    },
    /// A parcel's timeline.
    Show {
        /// Tracking number (or its last digits) or parcel id.
        key: String,
        /// The parcel, its order, events and status changes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hide parcels from the default list (`--undo` brings them back).
    Archive {
        /// Tracking numbers or ids.
        #[arg(required = true)]
        keys: Vec<String>,
        /// Unarchive instead.
        #[arg(long)]
        undo: bool,
    },
    /// Stop tracking parcels and delete their history.
    Remove {
        /// Tracking numbers or ids.
        #[arg(required = true)]
        keys: Vec<String>,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Name a parcel (an empty label clears it).
    Label {
        /// Tracking number or id.
        key: String,
        /// The new label.
        label: String,
    },
    /// Silence (or with `--off`, restore) a parcel's notifications.
    Mute {
        /// Tracking number or id.
        key: String,
        /// Unmute instead.
        #[arg(long)]
        off: bool,
    },
    /// Write the full history of every parcel.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Import parcels from a CSV file (a header row with at least `tracking_number`).
    Import {
        /// The CSV file (`-` for standard input; at most 64 MiB).
        file: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add the demo parcels: simulated DHL parcels that `watch --demo` moves along.
    Demo {
        /// Remove the demo parcels (and start their journeys afresh next time).
        #[arg(long)]
        reset: bool,
    },
    /// Follow every parcel at its carrier in the background until interrupted, printing what
    /// changes.
    Watch {
        #[command(flatten)]
        source: CarrierSource,
        /// Record notifications but do not show them (another process, or a later
        /// `parceltrail notifications send`, sends them).
        #[arg(long)]
        no_notify: bool,
    },
    /// The notification log and the queue held for quiet hours; with an action, change the
    /// notification settings or send what is due.
    Notifications {
        #[command(subcommand)]
        action: Option<NotificationsAction>,
        /// How many log entries to show (at most 100000).
        #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100_000))]
        limit: usize,
        /// As JSON: {settings, held, log}.
        #[arg(long)]
        json: bool,
    },
    /// Ask the carriers now about one parcel, or every active one (still within each API's
    /// rate limit).
    Refresh {
        /// Tracking number or id; omit for every active parcel.
        key: Option<String>,
        #[command(flatten)]
        source: CarrierSource,
    },
    /// Serve the app's UI and its API to a browser, tracking in the background as the app
    /// does (the demo's simulator included, once the demo was started).
    Serve {
        /// Address to listen on (loopback: the API has no accounts of its own).
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: std::net::SocketAddr,
        /// Allow a `--listen` address other than loopback. The API has no accounts or
        /// passwords: anyone who can reach that address can read and change your parcels and
        /// carrier accounts.
        #[arg(long)]
        allow_remote: bool,
        /// The UI folder to serve.
        #[arg(long, value_name = "DIR", env = "PARCELTRAIL_UI")]
        ui: Option<std::path::PathBuf>,
        /// Start the demo (its parcels and simulator) if it is not running yet.
        #[arg(long)]
        demo: bool,
        /// The demo's speed when it starts, or the speed of the simulator at `--sim` (1 to
        /// 1000000).
        #[arg(long, value_name = "N", value_parser = speed, allow_negative_numbers = true)]
        speed: Option<f64>,
        /// Also track DHL numbers at a running `parceltrail sim` at this URL.
        #[arg(long, value_name = "URL", conflicts_with = "demo")]
        sim: Option<String>,
        /// The simulator's API key.
        #[arg(long, default_value = "demo", value_name = "KEY")]
        sim_key: String,
        /// Record notifications but do not show them.
        #[arg(long)]
        no_notify: bool,
        /// Exit after this many seconds (for scripts and tests).
        #[arg(long, value_name = "SECS", value_parser = seconds, allow_negative_numbers = true)]
        duration: Option<f64>,
    },
    /// The shop server: a shop's orders, webhooks, tracking pages and staff (see
    /// docs/server.md). With no subcommand, serve; the subcommands set it up.
    Server(Box<ServerArgs>),
    /// Run the local carrier simulator (DHL Shipment Tracking – Unified API).
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:4010")]
        listen: std::net::SocketAddr,
        /// Seed for parcel numbers, journeys and faults.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many parcels to simulate (1 to 100000).
        #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=parceltrail_sim::MAX_PARCELS as u64))]
        parcels: usize,
        /// Journeys run this many times faster than real time (1 to 1000000).
        #[arg(long, default_value_t = 60.0, value_parser = speed, allow_negative_numbers = true)]
        speed: f64,
        /// Share of requests (0 to 1) that fail with 500 or 503.
        #[arg(long, default_value_t = 0.0, value_parser = share, allow_negative_numbers = true)]
        fail_rate: f64,
        /// Answer 429 (with Retry-After) beyond this many requests a second.
        #[arg(long, value_name = "N", value_parser = rate, allow_negative_numbers = true)]
        max_rate: Option<f64>,
        /// Milliseconds added to every answer (at most 600000, ten minutes).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=600_000))]
        latency_ms: u64,
        /// The API key clients must send.
        #[arg(long, default_value = "demo")]
        api_key: String,
        /// Share (0 to 1) of a journey by which parcels may already be under way at start
        /// (0: every journey starts after the simulator does).
        #[arg(long, default_value_t = 0.6, value_parser = share, allow_negative_numbers = true)]
        stagger: f64,
    },
    /// Supported carriers, their number formats and API state.
    Carriers {
        #[command(subcommand)]
        action: Option<CarriersAction>,
        /// As JSON (for the listing).
        #[arg(long)]
        json: bool,
    },
    /// Replay a CSV of past deliveries through the ETA model (rolling origin) and score it.
    EtaEval {
        /// CSV with a header: shipped_at, delivered_at, and optionally estimated_at, carrier,
        /// service, origin, destination, dest_country (`-` for standard input; at most 256 MiB).
        file: String,
        /// Read a role from another column, e.g. `--col shipped_at=order_approved_at`.
        #[arg(long = "col", value_name = "ROLE=HEADER")]
        col: Vec<String>,
        /// IANA zone for timestamps without an offset and for comparing dates.
        #[arg(long, default_value = "UTC", value_name = "ZONE")]
        tz: String,
        /// Destination country (ISO alpha-2) for holidays when the file has none.
        #[arg(long, value_name = "CC")]
        country: Option<String>,
        /// One JSON object of measures.
        #[arg(long)]
        json: bool,
    },
    /// Write synthetic deliveries from a known distribution (for eta-eval).
    EtaSynth {
        /// Data rows (at most 1000000).
        #[arg(long, default_value_t = 20_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=parceltrail_core::eta::synth::MAX_ROWS as u64))]
        rows: usize,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
        /// `mixed` (carriers and lanes) or `marketplace` (Olist-like, no carrier).
        #[arg(long, default_value = "mixed", value_parser = ["mixed", "marketplace"])]
        profile: String,
    },
    /// Keep this device in sync with a server (a shop's, or your own): one round both ways,
    /// or `login` / `logout`.
    Sync {
        #[command(subcommand)]
        action: Option<SyncAction>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where carrier answers come from.
#[derive(Debug, Clone, clap::Args)]
pub struct CarrierSource {
    /// Demo mode: run the carrier simulator inside this process and track its parcels.
    #[arg(long, conflicts_with = "sim")]
    pub demo: bool,
    /// Use a running `parceltrail sim` at this URL for DHL numbers.
    #[arg(long, value_name = "URL")]
    pub sim: Option<String>,
    /// The simulator's API key.
    #[arg(long, default_value = "demo", value_name = "KEY")]
    pub sim_key: String,
    /// Requests per second allowed against the simulator (1 to 100000).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub sim_rate: u32,
    /// How many times faster than real time the simulator runs (demo mode: its speed; 1 to
    /// 1000000); polling intervals shrink to match.
    #[arg(long, value_name = "N", value_parser = speed, allow_negative_numbers = true)]
    pub speed: Option<f64>,
    /// Delivered parcels archive themselves after this many days (0 to 3650).
    #[arg(
        long,
        default_value_t = 14,
        value_name = "DAYS",
        env = "PARCELTRAIL_ARCHIVE_AFTER_DAYS",
        value_parser = clap::value_parser!(u32).range(0..=3650)
    )]
    pub archive_after: u32,
    /// Exit after this many seconds (for scripts and tests).
    #[arg(long, value_name = "SECS", value_parser = seconds, allow_negative_numbers = true)]
    pub duration: Option<f64>,
}

#[derive(Debug, Subcommand)]
pub enum NotificationsAction {
    /// Show (with options: change) which news notifies, on which channel, and quiet hours.
    Settings {
        /// Quiet hours in your time zone, as HH:MM-HH:MM (e.g. 22:00-07:00), or `off`.
        #[arg(long, value_name = "RANGE")]
        quiet: Option<String>,
        /// Let "delivered" through during quiet hours.
        #[arg(long, value_name = "BOOL")]
        allow_delivered: Option<bool>,
        /// Your time zone (IANA name, e.g. Europe/Berlin).
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// The channel that --kinds, --enable and --disable change.
        #[arg(long, default_value = "desktop")]
        channel: String,
        /// Which news notifies on the channel: a comma list of shipped, out_for_delivery,
        /// ready_for_pickup, delivered, stuck, late, failed_attempt, exception, returned,
        /// customs_hold, expired, or `problems`, `all`, `none`, `default`.
        #[arg(long, value_name = "LIST")]
        kinds: Option<String>,
        /// Turn the channel on.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Turn the channel off.
        #[arg(long)]
        disable: bool,
    },
    /// Choose which news notifies for one parcel (`default` follows the channel settings).
    Parcel {
        /// Tracking number or id.
        key: String,
        /// A kind list as for `settings --kinds`, or `default`.
        kinds: String,
    },
    /// Send every notification that is due now (after a crash, or with `watch --no-notify`).
    Send,
}

#[derive(Debug, Subcommand)]
pub enum SyncAction {
    /// Sign in to a server with one of its API keys (checked there, then kept in the system
    /// keyring, or with --credentials-file in that file). While signed in, the server asks
    /// the carriers and this device does not.
    Login {
        /// The server's address, e.g. https://track.example.com (plain http only to this
        /// machine).
        url: String,
        /// The API key (`ptk_…`); asked for when left out, so it stays out of the shell's
        /// history.
        #[arg(long)]
        key: Option<String>,
        /// Send the parcels already on this device too (for your own server); without it,
        /// only what changes from now on goes up.
        #[arg(long)]
        upload: bool,
    },
    /// Forget the server and its key (the parcels stay; this device asks the carriers again).
    Logout,
}

#[derive(Debug, Subcommand)]
pub enum CarriersAction {
    /// Supported carriers and their number formats (the default).
    List,
    /// Each carrier API's state: rate-limit back-off, circuit breaker, requests, last success.
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Store a carrier account's credentials (prompted; secrets are not echoed). They go to
    /// the system keyring, or with --credentials-file to a file only you can read.
    Login {
        /// ups, fedex, usps, dhl or 17track.
        carrier: String,
    },
    /// Check the stored credentials against the carrier's API.
    Test {
        /// ups, fedex, usps, dhl or 17track.
        carrier: String,
    },
    /// Forget a carrier account's credentials.
    Logout {
        /// ups, fedex, usps, dhl or 17track.
        carrier: String,
    },
    /// Print the normalised result of a saved tracking response body as JSON.
    Parse {
        /// Which API's format: ups, fedex, usps, dhl or 17track.
        carrier: String,
        /// The saved response body (at most 4 MiB, as from a carrier).
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON document.
    Json,
    /// One row per event.
    Csv,
}

/// A simulator's speed (and the clock matched to it): a number from 1 (real time) to
/// 1000000. NaN, negative and tiny speeds have no clock to run at.
fn speed(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    parceltrail_sim::check_speed(v).map_err(|e| e.to_string())
}

/// A share, from 0 to 1.
fn share(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a share from 0 to 1"))
    }
}

/// Requests a second: more than 0, at most 1000000.
fn rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if v > 0.0 && v <= 1_000_000.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} is not a rate from above 0 to 1000000 a second"
        ))
    }
}

/// The longest `--duration`: a year, in seconds.
const MAX_SECONDS: f64 = 365.0 * 86_400.0;

/// Seconds: more than 0, at most a year.
fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if v > 0.0 && v <= MAX_SECONDS {
        Ok(v)
    } else {
        Err(format!(
            "{v} is not a number of seconds from above 0 to {MAX_SECONDS} (a year)"
        ))
    }
}

/// `parceltrail server`. Each setting comes from its flag, else its `PARCELTRAIL_SERVER_*`
/// variable, else the config file, else its default.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = false)]
pub struct ServerArgs {
    /// A TOML file with any of the settings below (`db`, `listen`, `public_url`, …).
    #[arg(
        long,
        global = true,
        env = "PARCELTRAIL_SERVER_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<std::path::PathBuf>,
    /// The shop database: `sqlite:PATH` (default: server.db in the data directory) or
    /// `postgres://USER@HOST/DB`.
    #[arg(long, global = true, env = "PARCELTRAIL_SERVER_DB", value_name = "URL")]
    pub db: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8788] (behind a TLS reverse proxy for
    /// anything but this machine).
    #[arg(long, env = "PARCELTRAIL_SERVER_LISTEN", value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// The address people reach the server at, for links (default: http://LISTEN).
    #[arg(
        long,
        global = true,
        env = "PARCELTRAIL_SERVER_PUBLIC_URL",
        value_name = "URL"
    )]
    pub public_url: Option<String>,
    /// Sign-in attempts allowed per client address and minute [default: 20].
    #[arg(long, env = "PARCELTRAIL_SERVER_LOGINS_PER_MINUTE", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(parceltrail_server::shop::Limits::MAX_LOGINS_PER_MINUTE)))]
    pub logins_per_minute: Option<u32>,
    /// Wrong API keys allowed per client address and minute, after which the address is
    /// refused for the rest of it [default: 30].
    #[arg(long, env = "PARCELTRAIL_SERVER_KEY_FAILURES_PER_MINUTE", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(parceltrail_server::shop::Limits::MAX_KEY_RATE)))]
    pub key_failures_per_minute: Option<u32>,
    /// Requests a second one API key may make (twice that in a burst) [default: 200].
    #[arg(long, env = "PARCELTRAIL_SERVER_KEY_REQUESTS_PER_SECOND", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(parceltrail_server::shop::Limits::MAX_KEY_RATE)))]
    pub key_requests_per_second: Option<u32>,
    /// Let webhooks reach loopback, private and other non-public addresses (tests, or a
    /// private network you trust): `--allow-private-targets` or `=true`/`=false` [default:
    /// false].
    #[arg(
        long,
        env = "PARCELTRAIL_SERVER_ALLOW_PRIVATE_TARGETS",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_private_targets: Option<bool>,
    /// Webhook deliveries this server sends at once; 0: none (other replicas send them)
    /// [default: 16].
    #[arg(long, env = "PARCELTRAIL_SERVER_WEBHOOK_CONCURRENCY", value_name = "N", value_parser = clap::value_parser!(u32).range(0..=parceltrail_server::shop::outbound::MAX_CONCURRENCY as i64))]
    pub webhook_concurrency: Option<u32>,
    /// The file with the server's key for sealed secrets (webhook signing secrets), made on
    /// first start; every replica needs the same key [default: server.key in the data
    /// directory]. PARCELTRAIL_SERVER_SECRET_KEY, when set, is the key itself (64 hex
    /// characters, or base64) and no file is read.
    #[arg(long, env = "PARCELTRAIL_SERVER_SECRET_KEY_FILE", value_name = "FILE")]
    pub secret_key_file: Option<std::path::PathBuf>,
    /// Log lines as `json` (one object a line, with the request id) or `text` [default:
    /// json, or text on a terminal].
    #[arg(long, env = "PARCELTRAIL_SERVER_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Start with a demo shop whose orders the built-in carrier simulator moves along (made
    /// on the first start, the same shop after); prints its API key and examples.
    #[arg(long, conflicts_with = "sim")]
    pub demo: bool,
    /// Track DHL numbers at a running `parceltrail sim` at this URL, for every shop (tests,
    /// load runs).
    #[arg(long, env = "PARCELTRAIL_SERVER_SIM", value_name = "URL")]
    pub sim: Option<String>,
    /// The simulator's API key [default: demo].
    #[arg(long, env = "PARCELTRAIL_SERVER_SIM_KEY", value_name = "KEY")]
    pub sim_key: Option<String>,
    /// Requests a second allowed against a simulator, `--sim`'s or the demo's (1 to 100000)
    /// [default: 20].
    #[arg(long, env = "PARCELTRAIL_SERVER_SIM_RATE", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub sim_rate: Option<u32>,
    /// How many times faster than real time the simulator runs: `--sim`'s, or the demo's
    /// when its shop is made (1 to 1000000). Polling intervals shrink to match.
    #[arg(long, env = "PARCELTRAIL_SERVER_SPEED", value_name = "N", value_parser = speed, allow_negative_numbers = true)]
    pub speed: Option<f64>,
    /// Seconds a replica's claim on a due poll lasts (PostgreSQL): another replica takes the
    /// parcel over when it runs out (1 to 3600) [default: 120].
    #[arg(long, env = "PARCELTRAIL_SERVER_POLL_LEASE", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub poll_lease: Option<u64>,
    /// Email customers through this SMTP relay: `smtp://HOST:PORT` (no TLS, loopback),
    /// `smtp://HOST:PORT?tls=required` (STARTTLS) or `smtps://USER:PASSWORD@HOST:PORT` (TLS).
    /// On for every shop when set.
    #[arg(
        long,
        env = "PARCELTRAIL_SERVER_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,
    /// The address customers' email comes from (`track@shop.example`); each shop's name is
    /// its display name.
    #[arg(long, env = "PARCELTRAIL_SERVER_MAIL_FROM", value_name = "ADDRESS")]
    pub mail_from: Option<String>,
    /// Twilio's API, or a Twilio-compatible provider's [default: https://api.twilio.com].
    #[arg(long, env = "PARCELTRAIL_SERVER_TWILIO_URL", value_name = "URL")]
    pub twilio_url: Option<String>,
    /// The Twilio account SID (AC…): with the token and the From number, SMS is on for every
    /// shop.
    #[arg(long, env = "PARCELTRAIL_SERVER_TWILIO_SID", value_name = "SID")]
    pub twilio_sid: Option<String>,
    /// The Twilio auth token (never printed).
    #[arg(
        long,
        env = "PARCELTRAIL_SERVER_TWILIO_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub twilio_token: Option<String>,
    /// The number (E.164) or sender SMS come from.
    #[arg(long, env = "PARCELTRAIL_SERVER_TWILIO_FROM", value_name = "NUMBER")]
    pub twilio_from: Option<String>,
    /// Offer "notify me in this browser" (Web Push) on the tracking page, for every shop.
    /// Browsers allow it only on a page served over HTTPS (a `--public-url` of https://), or
    /// from localhost: `--web-push` or `=true`/`=false` [default: false].
    #[arg(
        long,
        env = "PARCELTRAIL_SERVER_WEB_PUSH",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub web_push: Option<bool>,
    #[command(subcommand)]
    pub command: Option<ServerCommand>,
}

/// How the server writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object a line.
    Json,
    /// Lines for people.
    Text,
}

/// `parceltrail server <command>`.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Shops: make one (with its owner and first API key), list them.
    Shop {
        #[command(subcommand)]
        command: ShopCommand,
    },
    /// A shop's API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Bring the database's schema up to date (the server also does this when it starts).
    Migrate,
}

/// `parceltrail server shop <command>`.
#[derive(Debug, Subcommand)]
pub enum ShopCommand {
    /// Make a shop, its owner and an API key (read, write, ingest); prints the key and the
    /// owner's one-time link to set a password, once.
    Create {
        /// The shop's name, as its customers know it.
        name: String,
        /// The owner's email address (their login).
        #[arg(long, value_name = "EMAIL")]
        admin_email: String,
        /// Print {"shop_id", "api_key", "setup_url"}.
        #[arg(long)]
        json: bool,
    },
    /// Every shop on this server.
    List {
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// `parceltrail server key <command>`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make an API key; prints it once.
    Create {
        /// The shop's id.
        #[arg(long, value_name = "ID")]
        shop: String,
        /// A name to tell keys apart ("warehouse", "shop platform").
        #[arg(long, default_value = "api key")]
        name: String,
        /// What it may do: any of read, write, ingest, comma-separated.
        #[arg(long, default_value = "read,write,ingest")]
        scopes: String,
        /// Print {"id", "api_key", "scopes", "name"}.
        #[arg(long)]
        json: bool,
    },
    /// The shop's keys (prefix, scopes, last use; never the keys).
    List {
        /// The shop's id.
        #[arg(long, value_name = "ID")]
        shop: String,
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it authenticates nothing from now on.
    Revoke {
        /// The shop's id.
        #[arg(long, value_name = "ID")]
        shop: String,
        /// The key's id (from `key list`).
        id: String,
    },
}
