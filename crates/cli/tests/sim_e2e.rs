//! End to end: `parceltrail sim` (the DHL Unified simulator) and `parceltrail watch` (the
//! poller with the real DHL adapter) take 200 parcels from label to their final state; every
//! event is stored once, also when the simulator fails 30 % of requests.

mod common;

use common::{Server, bin};

use std::path::Path;
use std::process::Stdio;

use chrono::Utc;
use parceltrail_core::store::{SqliteStore, Store};
use parceltrail_sim::{Sim, SimConfig};

const SPEED: f64 = 36_000.0; // one simulated hour every 0.1 s

fn start_sim(seed: u64, parcels: usize, fail_rate: f64) -> (Server, String) {
    let (seed, parcels, speed) = (seed.to_string(), parcels.to_string(), SPEED.to_string());
    let fail_rate = fail_rate.to_string();
    common::start_sim(&[
        "--seed",
        &seed,
        "--parcels",
        &parcels,
        "--speed",
        &speed,
        "--fail-rate",
        &fail_rate,
    ])
}

fn run(home: &Path, args: &[&str]) -> String {
    let out = bin().arg("--home").arg(home).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn journey(seed: u64, fail_rate: f64) {
    let config = SimConfig {
        seed,
        parcels: 200,
        speed: SPEED,
        ..SimConfig::default()
    };
    // Numbers, scenarios and event counts depend on the seed only, not on the start time.
    let expected = Sim::new(config, Utc::now());
    let (_sim, url) = start_sim(seed, 200, fail_rate);
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("parcels.csv");
    let mut text = String::from("tracking_number,store\n");
    for p in expected.parcels() {
        text += &format!("{},{}\n", p.number, p.store);
    }
    std::fs::write(&csv, text).unwrap();
    assert!(run(home.path(), &["import", csv.to_str().unwrap()]).contains("200 parcels added"));

    // The longest journey takes about 15 simulated days of hours: ~12 s here.
    let last_end = expected
        .parcels()
        .iter()
        .map(|p| p.ends_at - p.starts_at)
        .max()
        .unwrap();
    let secs = (last_end.num_milliseconds() as f64 / 1000.0) * 1.25 + 12.0;
    run(
        home.path(),
        &[
            "watch",
            "--sim",
            &url,
            "--speed",
            &SPEED.to_string(),
            "--sim-rate",
            "400",
            "--duration",
            &format!("{secs:.1}"),
            // Notifications have their own end-to-end test (notify_e2e).
            "--no-notify",
        ],
    );

    let store = SqliteStore::open(home.path().join("parceltrail.db")).unwrap();
    let mut wrong = Vec::new();
    for p in expected.parcels() {
        let s = store.find(&p.number).unwrap();
        let events = store.timeline(s.id).unwrap();
        let mut keys: Vec<_> = events.iter().map(|e| e.dedupe_key).collect();
        keys.dedup();
        if s.status != p.final_status || events.len() != p.events || keys.len() != events.len() {
            wrong.push(format!(
                "{} {:?}: {} with {} events (expected {} with {}), last error {:?}",
                p.number,
                p.scenario,
                s.status,
                events.len(),
                p.final_status,
                p.events,
                s.last_error
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of 200 parcels are off:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let status = run(home.path(), &["carriers", "status", "--json"]);
    let states: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(states[0]["carrier"], "dhl");
}

#[test]
fn two_hundred_parcels_reach_their_final_state() {
    journey(11, 0.0);
}

#[test]
fn with_thirty_percent_failures_nothing_is_lost_or_duplicated() {
    journey(12, 0.3);
}

/// `carriers login` (file store), `carriers test` against the simulator's DHL API, and
/// `refresh` with the stored account.
#[test]
fn credentials_are_stored_checked_and_used() {
    let (_sim, url) = start_sim(21, 5, 0.0);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let with_input = |args: &[&str], input: &str| {
        use std::io::Write;
        let mut child = bin()
            .arg("--home")
            .arg(h)
            .args(args)
            .env("PARCELTRAIL_DHL_URL", &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let o = with_input(
        &["--credentials-file", "carriers", "login", "dhl"],
        "wrong-key\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file = h.join("credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let o = with_input(&["--credentials-file", "carriers", "test", "dhl"], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("refused"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    with_input(
        &["--credentials-file", "carriers", "login", "dhl"],
        "demo\n",
    );
    let o = with_input(&["--credentials-file", "carriers", "test", "dhl"], "");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The stored account polls for real; the key never reaches the database.
    let parcel = Sim::new(
        SimConfig {
            seed: 21,
            parcels: 5,
            ..SimConfig::default()
        },
        Utc::now(),
    )
    .parcels()[0]
        .number
        .clone();
    assert!(with_input(&["add", &parcel], "").status.success());
    let o = with_input(&["--credentials-file", "refresh"], "");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Asked about 1 parcels"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in ["parceltrail.db", "parceltrail.db-wal"] {
        let bytes = std::fs::read(h.join(f)).unwrap_or_default();
        assert!(
            !bytes.windows(4).any(|w| w == b"demo"),
            "the API key is not in {f}"
        );
    }

    with_input(&["--credentials-file", "carriers", "logout", "dhl"], "");
    let o = with_input(&["--credentials-file", "refresh"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no carrier account is set up"));
}
