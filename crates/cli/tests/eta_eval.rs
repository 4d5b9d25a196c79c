//! `parceltrail eta-eval` and `parceltrail eta-synth` as a user and a script see them.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bin(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_parceltrail"));
    c.env("PARCELTRAIL_HOME", home)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC");
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    bin(home).args(args).stdin(Stdio::null()).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

const FIELDS: [&str; 11] = [
    "rows",
    "evaluated",
    "skipped",
    "mae_days",
    "window_coverage",
    "mean_window_days",
    "late_share",
    "latest_late_share",
    "merchant_mae_days",
    "merchant_late_share",
    "baseline_mae_days",
];

#[test]
fn synth_output_piped_into_eval_gives_the_json_measures() {
    let home = tempfile::tempdir().unwrap();
    let mut synth = bin(home.path())
        .args(["eta-synth", "--rows", "3000", "--seed", "5"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let eval = bin(home.path())
        .args(["eta-eval", "-", "--json"])
        .stdin(synth.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(synth.wait().unwrap().success());
    let out = ok(&eval);
    assert_eq!(out.lines().count(), 1, "one JSON object: {out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for f in FIELDS {
        assert!(v[f].is_number(), "{f} missing in {out}");
    }
    assert_eq!(v["rows"], 3000);
    assert_eq!(v["evaluated"], 3000);
    let cov = v["window_coverage"].as_f64().unwrap();
    assert!((0.7..=0.9).contains(&cov), "{out}");
    assert!(v["mae_days"].as_f64().unwrap() < v["merchant_mae_days"].as_f64().unwrap());

    // The same file through --out, as a readable table.
    let file = home.path().join("synth.csv");
    ok(&run(
        home.path(),
        &[
            "eta-synth",
            "--rows",
            "500",
            "--seed",
            "5",
            "--out",
            file.to_str().unwrap(),
        ],
    ));
    let table = ok(&run(home.path(), &["eta-eval", file.to_str().unwrap()]));
    assert!(
        table.contains("500 rows read, 500 evaluated, 0 skipped"),
        "{table}"
    );
    for f in [
        "mae_days",
        "window_coverage",
        "baseline_mae_days",
        "merchant_late_share",
    ] {
        assert!(table.contains(f), "{table}");
    }
}

/// An Olist-shaped orders file: its own column names, local timestamps, canceled orders with
/// empty dates, and one malformed timestamp.
fn olist_file(dir: &Path) -> std::path::PathBuf {
    let mut s = String::from(
        "\u{feff}order_id,customer_id,order_status,order_purchase_timestamp,order_approved_at,order_delivered_carrier_date,order_delivered_customer_date,order_estimated_delivery_date\r\n",
    );
    for i in 0..36u32 {
        let day = 1 + i % 27;
        let (approved, delivered) = (
            format!("2017-10-{day:02} 10:{:02}:33", i % 60),
            format!("2017-11-{:02} 15:20:00", 1 + (day + i % 5) % 28),
        );
        let estimated = format!("2017-11-{:02} 00:00:00", (1 + (day + 8) % 28).min(28));
        s.push_str(&format!(
            "o{i},c{i},delivered,{approved},{approved},2017-10-{day:02} 18:00:00,{delivered},{estimated}\r\n"
        ));
    }
    // Canceled orders: no delivery dates.
    s.push_str("x1,c,canceled,2017-10-03 09:00:00,2017-10-03 09:10:00,,,2017-10-25 00:00:00\r\n");
    s.push_str("x2,c,canceled,2017-10-04 09:00:00,,,,2017-10-26 00:00:00\r\n");
    // A malformed timestamp (line 40).
    s.push_str("x3,c,delivered,2017-10-05 09:00:00,05/10/2017 09:10,,2017-10-20 10:00:00,2017-10-30 00:00:00\r\n");
    let path = dir.join("olist_orders_dataset.csv");
    std::fs::write(&path, s).unwrap();
    path
}

#[test]
fn olist_columns_are_mapped_and_bad_rows_reported_by_line() {
    let home = tempfile::tempdir().unwrap();
    let file = olist_file(home.path());
    let o = run(
        home.path(),
        &[
            "eta-eval",
            file.to_str().unwrap(),
            "--col",
            "shipped_at=order_approved_at",
            "--col",
            "delivered_at=order_delivered_customer_date",
            "--col",
            "estimated_at=order_estimated_delivery_date",
            "--tz",
            "America/Sao_Paulo",
            "--country",
            "BR",
            "--json",
        ],
    );
    let out = ok(&o);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rows"], 39);
    assert_eq!(v["evaluated"], 36);
    assert_eq!(v["skipped"], 3);
    assert!(v["merchant_mae_days"].is_number());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("line 38: skipped: not delivered"), "{err}");
    assert!(
        err.contains("line 39: skipped: no order_approved_at"),
        "{err}"
    );
    assert!(
        err.contains("line 40: skipped: order_approved_at \"05/10/2017 09:10\" is not a timestamp"),
        "{err}"
    );
}

#[test]
fn a_missing_column_is_an_error_that_lists_the_headers() {
    let home = tempfile::tempdir().unwrap();
    let file = olist_file(home.path());
    let o = run(home.path(), &["eta-eval", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("no column \"shipped_at\""), "{err}");
    assert!(
        err.contains("order_approved_at"),
        "the headers found are listed: {err}"
    );
    let o = run(
        home.path(),
        &["eta-eval", file.to_str().unwrap(), "--col", "shipped=x"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown column role"));
}

#[test]
fn dates_are_compared_in_the_given_zone() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("tz.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "shipped_at,delivered_at,estimated_at").unwrap();
    // Delivered at 01:00 UTC on 2 May, promised for 2 May: on time in UTC, but in New York
    // the delivery was on the evening of 1 May, a day before the promise.
    writeln!(f, "2024-04-29T12:00:00Z,2024-05-02T01:00:00Z,2024-05-02").unwrap();
    drop(f);
    let measure = |tz: &str| -> serde_json::Value {
        let out = ok(&run(
            home.path(),
            &["eta-eval", path.to_str().unwrap(), "--tz", tz, "--json"],
        ));
        serde_json::from_str(&out).unwrap()
    };
    assert_eq!(measure("UTC")["merchant_mae_days"], 0.0);
    assert_eq!(measure("America/New_York")["merchant_mae_days"], 1.0);
    let o = run(
        home.path(),
        &["eta-eval", path.to_str().unwrap(), "--tz", "Mars/Base"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown time zone"));
}

#[test]
fn rows_with_dates_outside_1970_to_2100_and_an_unclosed_quote_are_skipped_with_reasons() {
    let home = tempfile::tempdir().unwrap();
    let csv = home.path().join("d.csv");
    std::fs::write(
        &csv,
        "shipped_at,delivered_at,estimated_at,carrier\n\
         2024-05-01,2024-05-03,,ups\n\
         2024-05-02,2024-05-04,9999-12-31,ups\n\
         0000-01-01,2024-05-04,,ups\n\
         2024-05-03,2024-05-05,,\"ups\n\
         2024-05-04,2024-05-06,,ups\n",
    )
    .unwrap();
    let o = run(home.path(), &["eta-eval", csv.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(
        (v["rows"].as_u64(), v["skipped"].as_u64()),
        (Some(4), Some(3))
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 3: skipped: estimated_at \"9999-12-31\" is not between 1970 and 2100"),
        "{err}"
    );
    assert!(
        err.contains("line 4: skipped: shipped_at \"0000-01-01\""),
        "{err}"
    );
    assert!(
        err.contains("line 5: skipped: the quote (\") opened on line 5 is never closed"),
        "{err}"
    );
}

#[test]
fn synth_refuses_more_rows_than_it_can_hold() {
    let home = tempfile::tempdir().unwrap();
    let o = run(home.path(), &["eta-synth", "--rows", "99999999999999"]);
    assert_eq!(o.status.code(), Some(2), "a usage error, not an abort");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--rows") && err.contains("1000000"), "{err}");
}
