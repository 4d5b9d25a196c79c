//! The `parceltrail` binary as a user and a script see it.

use std::io::Write;
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and expects the usage or input error (exit status 2); its standard error.
fn refused(home: &Path, args: &[&str]) -> String {
    let o = run(home, args);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{args:?}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stderr(&o)
}

#[test]
fn numeric_flags_out_of_range_are_refused_with_the_flag_named() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for speed in ["NaN", "-1", "1e-7", "0", "inf", "1e9"] {
        let err = refused(h, &["watch", "--demo", "--speed", speed, "--duration", "5"]);
        assert!(
            err.contains("--speed") && err.contains("speed must be a number from 1"),
            "{err}"
        );
        let err = refused(h, &["serve", "--demo", "--speed", speed, "--duration", "5"]);
        assert!(err.contains("--speed"), "{err}");
        let err = refused(h, &["sim", "--speed", speed]);
        assert!(err.contains("--speed"), "{err}");
    }
    assert!(
        !h.join("demo.json").exists(),
        "nothing was started with a bad speed"
    );
    for (args, flag) in [
        (&["watch", "--demo", "--duration", "NaN"][..], "--duration"),
        (&["watch", "--demo", "--duration", "-1"], "--duration"),
        (&["refresh", "--duration", "1e300"], "--duration"),
        (&["watch", "--demo", "--sim-rate", "0"], "--sim-rate"),
        (
            &["watch", "--archive-after", "4000000000"],
            "--archive-after",
        ),
        (&["sim", "--parcels", "99999999999"], "--parcels"),
        (&["sim", "--fail-rate", "NaN"], "--fail-rate"),
        (&["sim", "--stagger", "-0.5"], "--stagger"),
        (&["sim", "--max-rate", "NaN"], "--max-rate"),
        (&["sim", "--latency-ms", "99999999999"], "--latency-ms"),
        (&["notifications", "--limit", "99999999999"], "--limit"),
    ] {
        let err = refused(h, args);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}

/// The demo's numbers, as `demo` adds them.
fn demo_numbers(h: &Path) -> Vec<String> {
    let list: serde_json::Value =
        serde_json::from_str(&run_ok(h, &["list", "--all", "--json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["tracking_number"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_damaged_demo_file_is_repaired_or_refused_and_reset_still_clears_the_demo() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    assert!(run_ok(h, &["demo"]).contains("Added 12 demo parcels"));
    let file = h.join("demo.json");
    // A speed written as null (what a NaN became) is repaired, and said so.
    let mut epoch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    epoch["speed"] = serde_json::Value::Null;
    std::fs::write(&file, epoch.to_string()).unwrap();
    let o = run(h, &["demo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("was null") && stderr(&o).contains("120× again"),
        "{}",
        stderr(&o)
    );
    let repaired: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(repaired["speed"], 120.0);
    assert_eq!(repaired["start"], epoch["start"], "its timeline is kept");
    // A file that is no demo settings at all is refused, pointing at the way out...
    std::fs::write(&file, "{ not json").unwrap();
    let err = refused(h, &["watch", "--demo", "--duration", "5"]);
    assert!(
        err.contains("damaged") && err.contains("demo --reset"),
        "{err}"
    );
    // ...which removes the demo parcels all the same.
    assert!(run_ok(h, &["demo", "--reset"]).contains("Removed 12 demo parcels"));
    assert!(!file.exists());
    assert!(demo_numbers(h).is_empty());
    assert!(
        run_ok(h, &["demo"]).contains("Added 12 demo parcels"),
        "the demo starts afresh"
    );
}

#[test]
fn adding_importing_or_logging_in_ends_the_demo_and_a_refused_file_does_not() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    run_ok(h, &["demo"]);
    let o = run(h, &["add", UPS, "--label", "Shoes"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("The demo has ended (12 demo parcels removed)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(demo_numbers(h), [UPS]);
    assert!(!h.join("demo.json").exists());

    let csv = h.join("own.csv");
    let bad = h.join("bad.csv");
    std::fs::write(&csv, format!("tracking_number\n{}\n", s10(5, "GB"))).unwrap();
    std::fs::write(&bad, "order,store\nA-1,Acme\n").unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let f = fresh.path();
    run_ok(f, &["demo"]);
    refused(f, &["import", bad.to_str().unwrap()]);
    assert_eq!(
        demo_numbers(f).len(),
        12,
        "a refused file leaves the demo as it was"
    );
    let o = run(f, &["import", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("The demo has ended"), "{}", stderr(&o));
    assert_eq!(demo_numbers(f), [s10(5, "GB")]);

    let third = tempfile::tempdir().unwrap();
    let t = third.path();
    run_ok(t, &["demo"]);
    let mut login = bin(t)
        .args(["carriers", "login", "dhl"])
        // As the README writes it.
        .env("PARCELTRAIL_CREDENTIALS_FILE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(b"key-123\n").unwrap();
    let o = login.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        t.join("credentials.json").exists(),
        "PARCELTRAIL_CREDENTIALS_FILE=1 means the file"
    );
    assert!(stderr(&o).contains("The demo has ended"), "{}", stderr(&o));
    assert!(demo_numbers(t).is_empty());
}

#[test]
fn the_credentials_file_setting_reads_as_people_write_it() {
    let home = tempfile::tempdir().unwrap();
    for v in ["1", "0", "true", "false", "yes", "no"] {
        let o = bin(home.path())
            .args(["list"])
            .env("PARCELTRAIL_CREDENTIALS_FILE", v)
            .output()
            .unwrap();
        assert!(o.status.success(), "{v}: {}", stderr(&o));
    }
    let o = bin(home.path())
        .args(["list"])
        .env("PARCELTRAIL_CREDENTIALS_FILE", "perhaps")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--credentials-file"), "{}", stderr(&o));
}

#[test]
fn demo_numbers_are_never_sent_to_a_real_carrier() {
    // A "DHL API" that counts who calls it.
    let api = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", api.local_addr().unwrap());
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let calls = calls.clone();
        std::thread::spawn(move || {
            for conn in api.incoming() {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(conn);
            }
        });
    }
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cmd = |args: &[&str]| {
        let mut c = bin(h);
        c.args(args)
            .env("PARCELTRAIL_CREDENTIALS_FILE", "1")
            .env("PARCELTRAIL_DHL_URL", &url);
        c
    };
    let mut login = cmd(&["carriers", "login", "dhl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(b"real-key\n")
        .unwrap();
    assert!(login.wait().unwrap().success());
    // The demo beside a DHL account (started after it): its numbers stay with it.
    run_ok(h, &["demo"]);
    let o = cmd(&["refresh"]).stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a simulated number reached the real DHL API"
    );
    let number = &demo_numbers(h)[0];
    let shown = run_ok(h, &["show", number]);
    assert!(
        shown.contains("a demo parcel, and the demo is not running here"),
        "{shown}"
    );
}

#[test]
fn watch_demo_refuses_to_run_own_parcels_on_its_clock() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    run_ok(h, &["demo"]);
    // An own parcel beside the demo (stored by an older version, say).
    {
        let mut db = SqliteStore::open(h.join("parceltrail.db")).unwrap();
        db.add_shipment(
            &parceltrail_core::store::NewShipment {
                tracking_number: UPS.into(),
                carrier: "ups".into(),
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .unwrap();
    }
    let err = refused(h, &["watch", "--demo", "--duration", "30"]);
    assert!(
        err.contains("parcels of its own beside the demo's") && err.contains("demo --reset"),
        "{err}"
    );
}

#[test]
fn a_running_watch_demo_stops_when_an_own_parcel_ends_the_demo() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let mut watch = bin(h)
        .args(["watch", "--demo", "--no-notify", "--duration", "300"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once it watches, add a parcel of one's own from another process.
    let mut out = std::io::BufReader::new(watch.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("Watching") {
        line.clear();
        assert_ne!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap(),
            0,
            "watch ended"
        );
    }
    run_ok(h, &["add", UPS]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = watch.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "watch --demo kept running");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut watch.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("The demo has ended: stopping"), "{err}");
}

#[test]
fn add_text_fields_are_bounded_and_dates_plausible() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let long = "x".repeat(2001);
    for flag in ["--label", "--store", "--order", "--items"] {
        let err = refused(h, &["add", UPS, flag, &long]);
        assert!(
            err.contains(&format!("{flag} is 2001 characters long; at most 2000")),
            "{err}"
        );
    }
    for date in ["0000-01-01", "9999-12-31"] {
        let err = refused(h, &["add", UPS, "--promised", date]);
        assert!(err.contains("not between 1970 and 2100"), "{err}");
    }
    assert!(run_ok(h, &["list"]).contains("No parcels yet"));
    run_ok(
        h,
        &[
            "add",
            UPS,
            "--label",
            &"x".repeat(2000),
            "--promised",
            "2026-05-14",
        ],
    );
}

#[test]
fn adding_a_tracked_number_again_applies_the_label_and_says_what_was_kept() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    run_ok(h, &["add", UPS, "--store", "Acme"]);
    let out = run_ok(
        h,
        &["add", UPS, "--label", "Shoes", "--store", "Other shop"],
    );
    assert!(out.contains("Already tracking"), "{out}");
    assert!(out.contains("Its label is now “Shoes”"), "{out}");
    assert!(out.contains("Not applied: --store"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(h, &["show", UPS, "--json"])).unwrap();
    assert_eq!(json["shipment"]["label"], "Shoes");
    assert_eq!(json["order"]["store"], "Acme");
    let again: serde_json::Value =
        serde_json::from_str(&run_ok(h, &["add", UPS, "--store", "Other", "--json"])).unwrap();
    assert_eq!(again["unchanged"], serde_json::json!(["--store"]));
}
