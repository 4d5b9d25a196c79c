//! The `parceltrail` binary as a user and a script see it.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use parceltrail_core::store::{SqliteStore, Store};

fn bin(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_parceltrail"));
    c.env("PARCELTRAIL_HOME", home)
        .env_remove("NO_COLOR")
        .env("TZ", "UTC");
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    bin(home).args(args).stdin(Stdio::null()).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn run_ok(home: &Path, args: &[&str]) -> String {
    let o = run(home, args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

/// A valid UPU S10 number.
fn s10(serial: u32, country: &str) -> String {
    let digits: Vec<u32> = format!("{serial:08}")
        .bytes()
        .map(|b| u32::from(b - b'0'))
        .collect();
    let sum: u32 = digits
        .iter()
        .zip([8, 6, 4, 2, 3, 5, 9, 7])
        .map(|(d, w)| d * w)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c,
    };
    format!("RB{serial:08}{check}{country}")
}

const UPS: &str = "1Z5R89390357567127";
const UPS_TYPO: &str = "1Z5R89390357567128";

#[test]
fn detect_json_is_a_stable_contract() {
    let home = tempfile::tempdir().unwrap();
    let text = format!(
        "Your order shipped! UPS tracking: {UPS}. Questions? Call 1-800-555-0199. Order #4471-2291, total $129.99."
    );
    let out = run_ok(home.path(), &["detect", "--json", &text]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 1, "{out}");
    assert_eq!(arr[0]["number"], UPS);
    assert_eq!(arr[0]["carrier"], "ups");
    assert_eq!(arr[0]["valid"], true);
    assert!(arr[0]["reason"].is_null());
    assert_eq!(arr[0]["candidates"][0]["carrier"], "ups");

    let o = run(home.path(), &["detect", "--json", UPS_TYPO]);
    assert_eq!(o.status.code(), Some(1), "nothing valid found is exit 1");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["valid"], false);
    assert!(v[0]["carrier"].is_null());
    let reason = v[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("UPS") && reason.contains("check digit"),
        "{reason}"
    );
}

#[test]
fn detect_reads_standard_input() {
    let home = tempfile::tempdir().unwrap();
    let mut child = bin(home.path())
        .args(["detect", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("Sendungsnummer: {}\n", s10(4711, "DE")).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains(&s10(4711, "DE")));
}

#[test]
fn a_parcel_from_add_to_removal() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = run_ok(
        h,
        &[
            "add",
            "1z5r 8939 0357 5671 27",
            "--store",
            "Acme",
            "--order",
            "A-17",
            "--label",
            "Running shoes",
        ],
    );
    assert!(
        out.contains("Tracking 1Z5R89390357567127 with UPS"),
        "{out}"
    );
    assert!(
        h.join("parceltrail.db").exists(),
        "the database lives in PARCELTRAIL_HOME"
    );
    let again = run_ok(h, &["add", UPS]);
    assert!(again.contains("Already tracking"), "{again}");

    let o = run(h, &["add", UPS_TYPO]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("check digit"));

    let list = run_ok(h, &["list"]);
    assert!(
        list.contains("On the way") && list.contains("Running shoes") && list.contains(UPS),
        "{list}"
    );
    assert!(
        !list.contains('\u{1b}'),
        "no colour codes when piped: {list:?}"
    );

    let show = run_ok(h, &["show", "7127"]);
    assert!(show.contains("Order Acme #A-17"), "{show}");
    assert!(show.contains("not scanned by the carrier yet"), "{show}");
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(h, &["show", UPS, "--json"])).unwrap();
    assert_eq!(json["shipment"]["tracking_number"], UPS);
    assert_eq!(json["shipment"]["status"], "pending");
    assert_eq!(json["order"]["order_number"], "A-17");

    run_ok(h, &["mute", UPS]);
    run_ok(h, &["archive", UPS]);
    assert!(run_ok(h, &["list"]).contains("No parcels yet"));
    let all: serde_json::Value =
        serde_json::from_str(&run_ok(h, &["list", "--all", "--json"])).unwrap();
    assert_eq!(all[0]["group"], "archived");
    assert_eq!(all[0]["muted"], true);
    run_ok(h, &["archive", "--undo", UPS]);

    let o = run(h, &["remove", UPS]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "removal asks for --yes off a terminal"
    );
    run_ok(h, &["remove", "--yes", UPS]);
    let o = run(h, &["show", UPS]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no parcel matches"));
}

#[test]
fn home_flag_overrides_the_environment() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let o = bin(a.path())
        .args(["--home", b.path().to_str().unwrap(), "add", UPS])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(b.path().join("parceltrail.db").exists());
    assert!(!a.path().join("parceltrail.db").exists());
}

#[test]
fn adding_from_a_confirmation_email() {
    let home = tempfile::tempdir().unwrap();
    let email = home.path().join("email.txt");
    let post = s10(12345678, "GB");
    std::fs::write(
        &email,
        format!(
            "Hi Sam,\n\nGood news: your order #30012 from Rivertown Books has shipped in two parcels.\n\
             Parcel 1: UPS {UPS}\nParcel 2: Royal Mail {post}\n\
             Track: https://www.ups.com/track?tracknum={UPS}\n\
             Typo we made: {UPS_TYPO}\nCall us on +44 20 7946 0958.\n"
        ),
    )
    .unwrap();
    let o = run(
        home.path(),
        &[
            "add",
            "--from-text",
            email.to_str().unwrap(),
            "--store",
            "Rivertown Books",
        ],
    );
    let out = stdout(&o);
    assert!(
        out.contains(&format!("Tracking {UPS}")) && out.contains(&format!("Tracking {post}")),
        "{out}"
    );
    assert!(out.contains(&format!("Skipped {UPS_TYPO}")), "{out}");
    assert_eq!(
        o.status.code(),
        Some(1),
        "a skipped number is reported in the exit status"
    );
    let list: serde_json::Value =
        serde_json::from_str(&run_ok(home.path(), &["list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["store"], "Rivertown Books");
}

#[test]
fn untrusted_text_cannot_drive_the_terminal() {
    let home = tempfile::tempdir().unwrap();
    run_ok(
        home.path(),
        &["add", UPS, "--label", "evil\u{1b}[2J\u{1b}[31mred\u{7}"],
    );
    let list = run_ok(home.path(), &["list"]);
    assert!(
        !list.contains('\u{1b}') && !list.contains('\u{7}'),
        "{list:?}"
    );
    assert!(list.contains("evil\u{fffd}[2J"), "{list:?}");
}

#[test]
fn export_and_import_through_the_cli() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for i in 0..5 {
        run_ok(
            h,
            &[
                "add",
                &s10(i, "NL"),
                "--label",
                &format!("=cmd|' /C calc'!A{i}"),
            ],
        );
    }
    let file = h.join("out.csv");
    let o = bin(h)
        .args(["export", "--format", "csv", "-o", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let csv = std::fs::read_to_string(&file).unwrap();
    assert_eq!(csv.lines().count(), 6);
    assert!(csv.contains("'=cmd"), "formulas are neutralised: {csv}");

    let other = tempfile::tempdir().unwrap();
    let out = run_ok(other.path(), &["import", file.to_str().unwrap()]);
    assert!(out.contains("5 parcels added"), "{out}");
    let out = run_ok(other.path(), &["import", file.to_str().unwrap()]);
    assert!(out.contains("0 parcels added, 5 already tracked"), "{out}");
    let show: serde_json::Value =
        serde_json::from_str(&run_ok(other.path(), &["show", &s10(3, "NL"), "--json"])).unwrap();
    assert_eq!(show["shipment"]["label"], "=cmd|' /C calc'!A3");

    let json = run_ok(h, &["export"]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["shipments"].as_array().unwrap().len(), 5);
}

#[test]
fn carriers_lists_formats() {
    let home = tempfile::tempdir().unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&run_ok(home.path(), &["carriers", "--json"])).unwrap();
    let ups = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "ups")
        .unwrap();
    assert!(!ups["formats"].as_array().unwrap().is_empty());
    assert!(run_ok(home.path(), &["carriers"]).contains("UPS"));
}

/// Kill the CLI with SIGKILL at random points of a large import, 50 times. After each kill
/// the database is intact, holds only whole batches, and a re-run completes the import
/// without adding anything twice.
#[test]
fn a_killed_import_loses_nothing_and_duplicates_nothing() {
    const ROWS: u32 = 6_000;
    let work = tempfile::tempdir().unwrap();
    let csv_path = work.path().join("big.csv");
    let mut csv = String::from("tracking_number,store,order_number,label\n");
    for i in 0..ROWS {
        csv += &format!("{},Store {},O-{},Parcel {i}\n", s10(i, "GB"), i % 17, i / 2);
    }
    std::fs::write(&csv_path, csv).unwrap();
    let csv_arg = csv_path.to_str().unwrap();

    // How long a whole import takes here, to spread the kills over it.
    let probe = work.path().join("probe");
    let started = Instant::now();
    run_ok(&probe, &["import", csv_arg]);
    let full = started.elapsed();

    let mut seed: u64 = 0x5eed;
    let mut mid_import_kills = 0;
    for round in 0..50 {
        let home = work.path().join(format!("r{round}"));
        std::fs::create_dir_all(&home).unwrap();
        // Open once so the kill lands in the import, not in schema creation.
        drop(SqliteStore::open(home.join("parceltrail.db")).unwrap());
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = full.mul_f64((seed >> 11) as f64 / (1u64 << 53) as f64);
        let mut child = bin(&home)
            .args(["import", csv_arg])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let store = SqliteStore::open(home.join("parceltrail.db")).unwrap();
        store.integrity_check().unwrap();
        let n = store.count().unwrap() as u32;
        assert_eq!(
            n % 500,
            0,
            "round {round}: {n} rows is not a whole number of batches"
        );
        if n > 0 && n < ROWS {
            mid_import_kills += 1;
            assert!(store.find(&s10(n - 1, "GB")).is_ok());
            assert!(store.find(&s10(n, "GB")).is_err());
        }
        drop(store);

        let out = run_ok(&home, &["import", csv_arg]);
        assert!(
            out.contains(&format!(
                "{} parcels added, {} already tracked",
                ROWS - n,
                n
            )),
            "round {round}: {out}"
        );
        let store = SqliteStore::open(home.join("parceltrail.db")).unwrap();
        assert_eq!(store.count().unwrap(), u64::from(ROWS));
        let _ = Duration::ZERO;
    }
    assert!(
        mid_import_kills >= 10,
        "only {mid_import_kills} kills landed mid-import"
    );
}

#[test]
fn carriers_parse_normalises_a_saved_response() {
    let home = tempfile::tempdir().unwrap();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../carriers/tests/fixtures/dhl/in_transit.json"
    );
    let out = run_ok(home.path(), &["carriers", "parse", "dhl", fixture]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["number"], "3318810025");
    assert_eq!(v[0]["status"], "in_transit");
    assert_eq!(v[0]["eta"]["earliest"], "2026-03-14T12:00:00+01:00");
    let events = v[0]["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["occurred_at"], "2026-03-13T21:40:00+01:00");
    assert_eq!(events[0]["location"]["city"], "Leipzig");
    let o = run(
        home.path(),
        &[
            "carriers",
            "parse",
            "dhl",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not JSON"));
}

/// A parcel with no news for five days is stuck: `notifications send` (like `watch` and
/// `refresh`) derives estimates and problems; `list` puts it under Needs attention and `show`
/// explains it. With the desktop channel off, nothing is recorded to send.
#[test]
fn a_silent_parcel_needs_attention_with_the_reason() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let stuck = s10(12345678, "GB");
    let moving = s10(23456789, "GB");
    let old = (chrono::Utc::now() - chrono::Duration::days(5)).to_rfc3339();
    let fresh = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let csv = h.join("parcels.csv");
    std::fs::write(
        &csv,
        format!(
            "tracking_number,label,promised_at,event_time,event_status,event_description\n\
             {stuck},Lamp,,{old},in_transit,Arrived at hub\n\
             {moving},Boots,2099-01-01,{fresh},in_transit,Departed hub\n"
        ),
    )
    .unwrap();
    run_ok(h, &["import", csv.to_str().unwrap()]);
    run_ok(h, &["notifications", "settings", "--disable"]);
    assert!(run_ok(h, &["notifications", "send"]).starts_with("Sent 0, 0 to retry, 0 failed"));
    let list = run_ok(h, &["list"]);
    let attention = list
        .split("Needs attention")
        .nth(1)
        .expect("a Needs attention group");
    assert!(
        attention.contains("Lamp") && attention.contains("No movement"),
        "{list}"
    );
    assert!(!attention.contains("Boots"), "{list}");
    assert!(list.contains("arrives"), "estimates are shown: {list}");
    let shown: serde_json::Value =
        serde_json::from_str(&run_ok(h, &["show", &stuck, "--json"])).unwrap();
    assert_eq!(shown["problems"][0]["kind"], "stuck");
    assert_eq!(
        shown["problems"][0]["detail"],
        "No carrier update for 5 days"
    );
    let boots: serde_json::Value =
        serde_json::from_str(&run_ok(h, &["show", &moving, "--json"])).unwrap();
    assert_eq!(boots["order"]["promised_at"], "2099-01-01T00:00:00Z");
    assert!(boots["shipment"]["estimate"]["likely"].is_string());
    let log: serde_json::Value =
        serde_json::from_str(&run_ok(h, &["notifications", "--json"])).unwrap();
    assert_eq!(log["log"].as_array().unwrap().len(), 0);
}
