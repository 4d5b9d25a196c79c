//! Where carrier data comes from: the carriers' own APIs (credentials from the keyring), a
//! running `parceltrail sim`, or the demo (the simulator built in, its parcels added to the
//! store). The desktop app, `parceltrail watch` and `refresh` all pick their adapters here.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use parceltrail_carriers::credentials::{CarrierKind, Credentials, open_store};
use parceltrail_carriers::fedex::Fedex;
use parceltrail_carriers::track17::Track17;
use parceltrail_carriers::ups::Ups;
use parceltrail_carriers::usps::Usps;
use parceltrail_carriers::{Dhl, Http, Secret};
use parceltrail_core::carrier::{BatchResult, BoxFuture, Carrier, CarrierError, RateLimit};
use parceltrail_core::pipeline::PipelineConfig;
use parceltrail_core::poller::PollerConfig;
use parceltrail_core::problems::ProblemConfig;
use parceltrail_sim::{Sim, SimConfig};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Demo mode's simulator settings, kept in the data directory so the simulated journeys keep
/// their timeline across runs (the same answers, so nothing is stored twice).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoEpoch {
    /// The simulator's seed.
    pub seed: u64,
    /// How many parcels it simulates.
    pub parcels: usize,
    /// How many times faster than real time.
    pub speed: f64,
    /// When the demo started.
    pub start: DateTime<Utc>,
}

/// The file in the data directory that holds the demo's [`DemoEpoch`].
pub const DEMO_FILE: &str = "demo.json";

/// The demo's default speed: a two-day journey takes about 25 minutes.
pub const DEMO_SPEED: f64 = 120.0;

/// The demo's seed and size. Every demo has the same parcels, so their numbers are known
/// even when `demo.json` is lost or damaged: they are removed by `end_demo` and never sent
/// to a real carrier.
pub const DEMO_SEED: u64 = 7;
/// How many parcels the demo has.
pub const DEMO_PARCELS: usize = 12;

/// The demo parcels' tracking numbers.
pub fn demo_numbers() -> &'static HashSet<String> {
    static NUMBERS: LazyLock<HashSet<String>> = LazyLock::new(|| {
        let sim = Sim::new(
            SimConfig {
                seed: DEMO_SEED,
                parcels: DEMO_PARCELS,
                ..SimConfig::default()
            },
            DateTime::UNIX_EPOCH,
        );
        sim.parcels().iter().map(|p| p.number.clone()).collect()
    });
    &NUMBERS
}

/// Whether a demo was started in this data directory (its `demo.json` exists, readable or
/// not: ending it is what a damaged one needs).
pub fn demo_present(dir: &Path) -> bool {
    dir.join(DEMO_FILE).exists()
}

/// The demo epoch, if a demo was started in this data directory and its file is sound.
/// A damaged file is logged and reads as no demo (see [`read_demo`]).
pub fn demo_started(dir: &Path) -> Option<DemoEpoch> {
    read_demo(dir).unwrap_or_else(|e| {
        tracing::warn!("{e}");
        None
    })
}

/// `demo.json` as written, where the speed may be anything.
#[derive(Deserialize)]
struct StoredEpoch {
    seed: u64,
    parcels: usize,
    #[serde(default)]
    speed: serde_json::Value,
    start: DateTime<Utc>,
}

/// The demo epoch of this data directory: `None` when no demo was started. A speed that is
/// not a usable number (`null`, which a NaN was written as, a negative one) is repaired to
/// [`DEMO_SPEED`], with a warning; anything else wrong is [`Error::DemoDamaged`], which
/// `end_demo` still clears.
pub fn read_demo(dir: &Path) -> Result<Option<DemoEpoch>, Error> {
    let path = dir.join(DEMO_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let damaged = |reason: String| Error::DemoDamaged {
        path: path.clone(),
        reason,
    };
    let stored: StoredEpoch = serde_json::from_str(&text).map_err(|e| damaged(e.to_string()))?;
    if (stored.seed, stored.parcels) != (DEMO_SEED, DEMO_PARCELS) {
        return Err(damaged(format!(
            "it describes {} parcels of seed {}, not the demo's {DEMO_PARCELS} of seed {DEMO_SEED}",
            stored.parcels, stored.seed
        )));
    }
    if !parceltrail_core::import::YEARS.contains(&stored.start.year()) {
        return Err(damaged(format!("its start {} is no date", stored.start)));
    }
    let speed = stored
        .speed
        .as_f64()
        .filter(|s| parceltrail_sim::check_speed(*s).is_ok());
    let epoch = DemoEpoch {
        seed: stored.seed,
        parcels: stored.parcels,
        speed: speed.unwrap_or(DEMO_SPEED),
        start: stored.start,
    };
    if speed.is_none() {
        let was = stored.speed.to_string();
        write_epoch(dir, &epoch)?;
        tracing::warn!(
            "the demo's speed in {} was {was}, not a number from {} to {}: it runs at {DEMO_SPEED}× again",
            path.display(),
            parceltrail_sim::MIN_SPEED,
            parceltrail_sim::MAX_SPEED
        );
    }
    Ok(Some(epoch))
}

fn write_epoch(dir: &Path, e: &DemoEpoch) -> Result<(), Error> {
    let path = dir.join(DEMO_FILE);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let text = serde_json::to_vec_pretty(e).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))
}

/// The demo parcels tracked in the store (by exact number: a tail of one is someone else's).
pub fn demo_parcels(
    store: &dyn parceltrail_core::store::Store,
) -> Result<Vec<parceltrail_core::domain::Shipment>, Error> {
    let mut out = Vec::new();
    for n in demo_numbers() {
        match store.find(n) {
            Ok(s) if &s.tracking_number == n => out.push(s),
            Ok(_) | Err(parceltrail_core::Error::NotFound(_)) => {}
            Err(parceltrail_core::Error::Ambiguous { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// How many parcels of the person's own (not the demo's) are tracked.
pub fn own_parcels(store: &dyn parceltrail_core::store::Store) -> Result<u64, Error> {
    let demo = demo_parcels(store)?.len() as u64;
    Ok(store.count()?.saturating_sub(demo))
}

/// Why the demo cannot run here, if it cannot: it runs in an app with no parcels of its
/// own, since its clock runs many times faster, upkeep included (expiry, archiving), and
/// that clock must never rule real parcels.
pub fn demo_refused(
    store: &dyn parceltrail_core::store::Store,
    dir: &Path,
) -> Result<Option<String>, Error> {
    if own_parcels(store)? == 0 {
        return Ok(None);
    }
    Ok(Some(if demo_present(dir) {
        "this app tracks parcels of its own beside the demo's, and the demo's fast clock must not rule them: end the demo with `parceltrail demo --reset`".to_owned()
    } else {
        "the demo runs in an empty app, and this one tracks parcels already".to_owned()
    }))
}

/// The demo epoch: the one started before, or a new one starting now at `speed` (from
/// [`parceltrail_sim::MIN_SPEED`] to [`parceltrail_sim::MAX_SPEED`]).
pub fn demo_epoch(dir: &Path, speed: Option<f64>) -> Result<DemoEpoch, Error> {
    if let Some(speed) = speed {
        parceltrail_sim::check_speed(speed).map_err(|e| Error::invalid("speed", e.to_string()))?;
    }
    if let Some(e) = read_demo(dir)? {
        return Ok(e);
    }
    let e = DemoEpoch {
        seed: DEMO_SEED,
        parcels: DEMO_PARCELS,
        speed: speed.unwrap_or(DEMO_SPEED),
        start: Utc::now(),
    };
    write_epoch(dir, &e)?;
    Ok(e)
}

/// End the demo: forget its parcels and its epoch (a damaged `demo.json` too). Returns how
/// many parcels were removed, or `None` when there was no demo.
pub fn end_demo(
    store: &mut dyn parceltrail_core::store::Store,
    dir: &Path,
) -> Result<Option<usize>, Error> {
    let parcels = demo_parcels(store)?;
    let present = demo_present(dir);
    if !present && parcels.is_empty() {
        return Ok(None);
    }
    for s in &parcels {
        store.remove(s.id, Utc::now())?;
    }
    if present {
        let path = dir.join(DEMO_FILE);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &path, e)),
        }
    }
    Ok(Some(parcels.len()))
}

/// The simulator a demo epoch describes.
pub fn demo_sim(e: &DemoEpoch) -> Sim {
    Sim::new(
        SimConfig {
            seed: e.seed,
            parcels: e.parcels,
            speed: e.speed,
            ..SimConfig::default()
        },
        e.start,
    )
}

/// The adapter for the demo's own simulator: it answers for the demo parcels and nothing
/// else, so a parcel of the person's own is never tracked on the demo's clock or data.
pub fn demo_adapter(url: &str, rate: u32) -> Arc<dyn Carrier> {
    Arc::new(DemoOnly {
        inner: sim_adapter(url, "demo", rate),
    })
}

/// Stands in for the demo's simulator while it does not run (the demo was not started here,
/// or its settings are damaged): the demo parcels get a clear word instead of a request.
/// `None` when no demo parcel is tracked.
pub fn demo_stand_in(
    store: &dyn parceltrail_core::store::Store,
) -> Result<Option<Arc<dyn Carrier>>, Error> {
    Ok((!demo_parcels(store)?.is_empty()).then(|| Arc::new(DemoIdle) as Arc<dyn Carrier>))
}

/// A real carrier's adapter: demo numbers are never routed to it, and never sent if asked.
struct RealCarrier(Arc<dyn Carrier>);

fn not_for_real_carriers() -> CarrierError {
    CarrierError::Unsupported(
        "a simulated demo parcel, which only the demo's simulator answers for: run `parceltrail watch --demo`, or remove the demo parcels with `parceltrail demo --reset`".into(),
    )
}

impl Carrier for RealCarrier {
    fn id(&self) -> &'static str {
        self.0.id()
    }
    fn serves(&self, carrier: &str) -> bool {
        self.0.serves(carrier)
    }
    fn serves_number(&self, carrier: &str, number: &str) -> bool {
        !demo_numbers().contains(number) && self.0.serves_number(carrier, number)
    }
    fn max_batch(&self) -> usize {
        self.0.max_batch()
    }
    fn rate_limit(&self) -> RateLimit {
        self.0.rate_limit()
    }
    fn track<'a>(&'a self, numbers: &'a [String]) -> BoxFuture<'a, BatchResult> {
        Box::pin(async move {
            let (demo, real): (Vec<String>, Vec<String>) = numbers
                .iter()
                .cloned()
                .partition(|n| demo_numbers().contains(&n.to_ascii_uppercase()));
            let mut out = if real.is_empty() {
                Vec::new()
            } else {
                self.0.track(&real).await?
            };
            out.extend(demo.into_iter().map(|n| (n, Err(not_for_real_carriers()))));
            Ok(out)
        })
    }
    fn parse(&self, body: &[u8]) -> BatchResult {
        self.0.parse(body)
    }
}

/// The demo's simulator, answering for the demo parcels only.
struct DemoOnly {
    inner: Arc<dyn Carrier>,
}

impl Carrier for DemoOnly {
    fn id(&self) -> &'static str {
        self.inner.id()
    }
    fn serves(&self, carrier: &str) -> bool {
        self.inner.serves(carrier)
    }
    fn serves_number(&self, carrier: &str, number: &str) -> bool {
        demo_numbers().contains(number) && self.inner.serves_number(carrier, number)
    }
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }
    fn rate_limit(&self) -> RateLimit {
        self.inner.rate_limit()
    }
    fn track<'a>(&'a self, numbers: &'a [String]) -> BoxFuture<'a, BatchResult> {
        self.inner.track(numbers)
    }
    fn parse(&self, body: &[u8]) -> BatchResult {
        self.inner.parse(body)
    }
}

/// See [`demo_stand_in`].
struct DemoIdle;

impl Carrier for DemoIdle {
    fn id(&self) -> &'static str {
        "demo"
    }
    fn serves(&self, carrier: &str) -> bool {
        carrier == "dhl"
    }
    fn serves_number(&self, carrier: &str, number: &str) -> bool {
        self.serves(carrier) && demo_numbers().contains(number)
    }
    fn max_batch(&self) -> usize {
        DEMO_PARCELS
    }
    fn rate_limit(&self) -> RateLimit {
        // Nothing is sent: no budget to keep.
        RateLimit {
            requests: 1000,
            per: Duration::from_secs(1),
        }
    }
    fn track<'a>(&'a self, numbers: &'a [String]) -> BoxFuture<'a, BatchResult> {
        Box::pin(async move {
            Ok(numbers
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        Err(CarrierError::Unsupported(
                            "a demo parcel, and the demo is not running here: run `parceltrail watch --demo`, or remove the demo parcels with `parceltrail demo --reset`".into(),
                        )),
                    )
                })
                .collect())
        })
    }
    fn parse(&self, _body: &[u8]) -> BatchResult {
        Ok(Vec::new())
    }
}

/// The DHL adapter, pointed at a simulator.
pub fn sim_adapter(url: &str, key: &str, rate: u32) -> Arc<dyn Carrier> {
    Arc::new(
        Dhl::new(Http::new(), url, Secret::new(key))
            .with_rate_limit(RateLimit {
                requests: rate.max(1),
                per: Duration::from_secs(1),
            })
            .simulated(),
    )
}

/// A carrier account by its id (`ups`, `fedex`, `usps`, `dhl`, `17track`).
pub fn carrier_kind(id: &str) -> Result<CarrierKind, Error> {
    CarrierKind::from_id(id).ok_or_else(|| {
        Error::invalid(
            "carrier",
            format!("unknown carrier account {id:?}: use ups, fedex, usps, dhl or 17track"),
        )
    })
}

/// The API base for a carrier: production, or `PARCELTRAIL_<CARRIER>_URL` (a sandbox, a
/// mock, the simulator).
fn base_url(kind: CarrierKind, production: &str) -> String {
    let var = format!("PARCELTRAIL_{}_URL", kind.id().to_ascii_uppercase());
    std::env::var(var).unwrap_or_else(|_| production.to_owned())
}

/// The adapter for a carrier account. It never sends a demo number (see [`demo_numbers`]).
pub fn adapter(kind: CarrierKind, creds: &Credentials) -> Result<Arc<dyn Carrier>, Error> {
    Ok(Arc::new(RealCarrier(account_adapter(kind, creds)?)))
}

fn account_adapter(kind: CarrierKind, creds: &Credentials) -> Result<Arc<dyn Carrier>, Error> {
    let field = |name: &str| {
        creds.get(name).cloned().ok_or_else(|| {
            Error::invalid(
                "credentials",
                format!(
                    "the stored {} credentials lack {name}; enter them again",
                    kind.name()
                ),
            )
        })
    };
    let http = Http::new();
    Ok(match kind {
        CarrierKind::Ups => Arc::new(Ups::new(
            http,
            base_url(kind, parceltrail_carriers::ups::PRODUCTION),
            field("client_id")?.expose(),
            field("client_secret")?,
        )),
        CarrierKind::Fedex => Arc::new(Fedex::new(
            http,
            base_url(kind, parceltrail_carriers::fedex::PRODUCTION),
            field("client_id")?.expose(),
            field("client_secret")?,
        )),
        CarrierKind::Usps => Arc::new(Usps::new(
            http,
            base_url(kind, parceltrail_carriers::usps::PRODUCTION),
            field("client_id")?.expose(),
            field("client_secret")?,
        )),
        CarrierKind::Dhl => Arc::new(Dhl::new(
            http,
            base_url(kind, parceltrail_carriers::dhl::PRODUCTION),
            field("api_key")?,
        )),
        CarrierKind::Track17 => Arc::new(Track17::new(
            http,
            base_url(kind, parceltrail_carriers::track17::PRODUCTION),
            field("api_key")?,
        )),
    })
}

/// Adapters for every carrier with stored credentials, direct carriers first and the 17TRACK
/// fallback last (the poller uses the first adapter that serves a carrier). Blocks (keyring).
pub fn real_adapters(dir: &Path, use_file: bool) -> Result<Vec<Arc<dyn Carrier>>, Error> {
    let store = open_store(dir, use_file);
    let mut out = Vec::new();
    for kind in CarrierKind::ALL {
        if let Some(creds) = store.load(kind)? {
            out.push(adapter(kind, &creds)?);
        }
    }
    Ok(out)
}

/// The poller's settings at a time scale (the demo's clock runs faster).
pub fn poller_config(archive_after_days: u32, time_scale: f64) -> PollerConfig {
    PollerConfig {
        time_scale,
        archive_delivered_after: Duration::from_secs(86_400 * u64::from(archive_after_days)),
        ..PollerConfig::default()
    }
}

/// The pipeline's settings at a time scale.
pub fn pipeline_config(time_scale: f64) -> PipelineConfig {
    let base = PipelineConfig::default();
    PipelineConfig {
        time_scale,
        problems: ProblemConfig {
            time_scale,
            ..ProblemConfig::default()
        },
        // A faster clock needs a closer look: stuck parcels show within minutes in the demo.
        refresh_every: base
            .refresh_every
            .div_f64(time_scale)
            .max(Duration::from_secs(5)),
        tick: base.tick.div_f64(time_scale).max(Duration::from_secs(2)),
        ..base
    }
}
