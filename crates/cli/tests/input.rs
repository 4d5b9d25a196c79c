//! Input from outside as the command line meets it: endless, huge or hostile.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bin(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_parceltrail"));
    c.env("PARCELTRAIL_HOME", home)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC");
    c
}

fn run(home: &Path, args: &[&str], stdin: Stdio) -> Output {
    bin(home).args(args).stdin(stdin).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn zeros() -> Stdio {
    Stdio::from(std::fs::File::open("/dev/zero").unwrap())
}

#[cfg(unix)]
#[test]
fn endless_input_is_refused_at_a_stated_size() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for (args, stdin, says) in [
        (
            &["import", "/dev/zero"][..],
            Stdio::null(),
            "/dev/zero is larger than 64 MiB",
        ),
        (
            &["import", "-"][..],
            zeros(),
            "standard input is larger than 64 MiB",
        ),
        (
            &["detect"][..],
            zeros(),
            "standard input is larger than 4 MiB",
        ),
        (
            &["detect", "-"][..],
            zeros(),
            "standard input is larger than 4 MiB",
        ),
        (
            &["add", "--from-text", "/dev/zero"][..],
            Stdio::null(),
            "/dev/zero is larger than 4 MiB",
        ),
        (
            &["carriers", "parse", "dhl", "/dev/zero"][..],
            Stdio::null(),
            "/dev/zero is larger than 4 MiB",
        ),
        (&["eta-eval", "-"][..], zeros(), "larger than 256 MiB"),
    ] {
        let o = run(h, args, stdin);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_file_over_the_limit_is_refused_before_it_is_read() {
    let home = tempfile::tempdir().unwrap();
    let big = home.path().join("big.csv");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len((64 << 20) + 1).unwrap();
    let o = run(
        home.path(),
        &["import", big.to_str().unwrap()],
        Stdio::null(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is larger than 64 MiB, the most `import` reads"),
        "{}",
        stderr(&o)
    );
}

/// A header row that tries to retitle the terminal window and link text, and is long.
fn hostile_header() -> Vec<u8> {
    let mut csv =
        b"\x1b]0;pwned\x07,\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\,nul\0here,"
            .to_vec();
    csv.extend(std::iter::repeat_n(b'z', 1 << 20));
    csv.extend(b"\nx,y,z,w\n");
    csv
}

fn assert_clean_and_short(o: &Output, says: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    let err = stderr(o);
    assert!(err.contains(says), "{err}");
    assert!(err.len() < 1000, "{} bytes on stderr", err.len());
    let body = err.strip_suffix('\n').unwrap_or(&err);
    assert!(
        !body.chars().any(char::is_control),
        "control characters reached the terminal: {body:?}"
    );
}

#[test]
fn the_no_tracking_column_error_is_escaped_and_bounded() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("hostile.csv");
    std::fs::write(&file, hostile_header()).unwrap();
    let o = run(
        home.path(),
        &["import", file.to_str().unwrap()],
        Stdio::null(),
    );
    assert_clean_and_short(&o, "no tracking-number column");
    assert!(
        stderr(&o).contains(r"\u{1b}]0;pwned\u{7}"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_missing_column_error_of_eta_eval_is_escaped_and_bounded() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("hostile.csv");
    std::fs::write(&file, hostile_header()).unwrap();
    let o = run(
        home.path(),
        &["eta-eval", file.to_str().unwrap()],
        Stdio::null(),
    );
    assert_clean_and_short(&o, "the CSV has no column");
}
