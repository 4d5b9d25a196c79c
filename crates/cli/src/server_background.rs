//! What `parceltrail server` runs beside its routes (`parceltrail_server::shop::background`):
//! its settings (`--sim`, `--sim-key`, `--sim-rate`, `--speed`, `--poll-lease`, `--demo`)
//! and the adapters it polls with, chosen as the app chooses them (`parceltrail_app::sources`):
//! a running simulator first, then the operator's carrier accounts (keyring, or the
//! credentials file with `--credentials-file`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use parceltrail_app::sources;
use parceltrail_core::carrier::Carrier;
use parceltrail_server::shop::background::{DemoSource, Sources};

/// Requests a second against a simulator when none is given.
pub const SIM_RATE: u32 = 20;
/// Delivered parcels archive themselves after this many days.
const ARCHIVE_AFTER_DAYS: u32 = 14;

/// The background work's settings, from flags, variables and the config file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Run the demo shop.
    pub demo: bool,
    /// A running simulator: its URL and API key.
    pub sim: Option<(String, String)>,
    /// Requests a second against a simulator.
    pub sim_rate: u32,
    /// The simulator's speed (`--sim`), or the demo's when it is made.
    pub speed: Option<f64>,
    /// How long a claimed poll stays this replica's.
    pub poll_lease: Duration,
    /// Where carrier credentials are (the data directory; none found: no accounts).
    pub data_dir: Option<PathBuf>,
    /// Credentials from the 0600 file instead of the keyring.
    pub credentials_file: bool,
}

impl Settings {
    /// Refuses a speed with nothing to speed up.
    pub fn check(&self) -> Result<()> {
        if self.speed.is_some() && self.sim.is_none() && !self.demo {
            bail!(
                "--speed is the speed of a simulator: give it with --sim URL or --demo (real carriers run in real time)"
            );
        }
        Ok(())
    }
}

/// The adapters and clocks for every shop (and the demo shop's, when it runs).
pub async fn sources(settings: &Settings, demo: Option<DemoSource>) -> Sources {
    let mut adapters: Vec<Arc<dyn Carrier>> = Vec::new();
    let mut time_scale = 1.0;
    if let Some((url, key)) = &settings.sim {
        adapters.push(sources::sim_adapter(url, key, settings.sim_rate));
        time_scale = settings.speed.unwrap_or(1.0);
    }
    if let Some(dir) = settings.data_dir.clone() {
        adapters.extend(accounts(dir, settings.credentials_file).await);
    }
    Sources {
        adapters,
        time_scale,
        demo,
        poll_lease: settings.poll_lease,
        archive_after_days: ARCHIVE_AFTER_DAYS,
    }
}

/// The operator's carrier accounts (the keyring blocks, so on a blocking thread).
async fn accounts(dir: PathBuf, use_file: bool) -> Vec<Arc<dyn Carrier>> {
    match tokio::task::spawn_blocking(move || sources::real_adapters(&dir, use_file)).await {
        Ok(Ok(accounts)) => {
            if !accounts.is_empty() {
                tracing::info!(accounts = accounts.len(), "carrier accounts in use");
            }
            accounts
        }
        // No keyring (a bare server): parcels wait with a word saying which account is
        // missing, and the demo and a simulator still work.
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "carrier accounts unavailable");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %e, "carrier accounts unavailable");
            Vec::new()
        }
    }
}
