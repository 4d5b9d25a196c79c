//! Where carrier data comes from: the carriers' own APIs (credentials from the keyring), a
//! running `parceltrail sim`, or the demo (the simulator built in, its parcels added to the
//! store). The desktop app, `parceltrail watch` and `refresh` all pick their adapters here.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parceltrail_carriers::credentials::{CarrierKind, Credentials, open_store};
use parceltrail_carriers::fedex::Fedex;
use parceltrail_carriers::track17::Track17;
use parceltrail_carriers::ups::Ups;
use parceltrail_carriers::usps::Usps;
use parceltrail_carriers::{Dhl, Http, Secret};
use parceltrail_core::carrier::{Carrier, RateLimit};
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

/// The demo epoch, if a demo was started in this data directory.
pub fn demo_started(dir: &Path) -> Option<DemoEpoch> {
    let text = std::fs::read_to_string(dir.join(DEMO_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Why the demo cannot start here, if it cannot: it runs in an empty app only, since its
/// clock runs many times faster, upkeep included (expiry, archiving), and that clock must
/// never rule real parcels.
pub fn demo_refused(
    store: &dyn parceltrail_core::store::Store,
    dir: &Path,
) -> Result<Option<String>, Error> {
    if demo_started(dir).is_some() || store.count()? == 0 {
        return Ok(None);
    }
    Ok(Some(
        "the demo runs in an empty app, and this one tracks parcels already".to_owned(),
    ))
}

/// The demo epoch: the one started before, or a new one starting now.
pub fn demo_epoch(dir: &Path, speed: Option<f64>) -> Result<DemoEpoch, Error> {
    if let Some(e) = demo_started(dir) {
        return Ok(e);
    }
    let e = DemoEpoch {
        seed: 7,
        parcels: 12,
        speed: speed.unwrap_or(DEMO_SPEED),
        start: Utc::now(),
    };
    let path = dir.join(DEMO_FILE);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let text = serde_json::to_vec_pretty(&e).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))?;
    Ok(e)
}

/// End the demo: forget its parcels and its epoch. Returns how many parcels were removed, or
/// `None` when no demo was started.
pub fn end_demo(
    store: &mut dyn parceltrail_core::store::Store,
    dir: &Path,
) -> Result<Option<usize>, Error> {
    let Some(epoch) = demo_started(dir) else {
        return Ok(None);
    };
    let mut removed = 0;
    for p in demo_sim(&epoch).parcels() {
        if let Ok(s) = store.find(&p.number) {
            store.remove(s.id, Utc::now())?;
            removed += 1;
        }
    }
    let path = dir.join(DEMO_FILE);
    std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
    Ok(Some(removed))
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

/// The adapter for a carrier account.
pub fn adapter(kind: CarrierKind, creds: &Credentials) -> Result<Arc<dyn Carrier>, Error> {
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
