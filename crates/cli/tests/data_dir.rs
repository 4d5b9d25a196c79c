//! The data directory as other processes, other users and read-only media meet it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const UPS: &str = "1Z5R89390357567127";

fn bin(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_parceltrail"));
    c.env("PARCELTRAIL_HOME", home)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    bin(home).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run_ok(home: &Path, args: &[&str]) -> String {
    let o = run(home, args);
    assert!(o.status.success(), "{args:?} failed: {}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// `PRAGMA user_version` lives in the database header (offset 60, big-endian); written
/// directly, as another program might, with the database closed.
fn set_user_version(db: &Path, v: u32) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    f.seek(SeekFrom::Start(60)).unwrap();
    f.write_all(&v.to_be_bytes()).unwrap();
}

#[test]
fn processes_opening_a_new_data_directory_at_once_all_succeed() {
    for round in 0..10 {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let children: Vec<_> = (0..3)
            .map(|_| {
                bin(&home)
                    .arg("list")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}: {}", text(&o));
            assert!(o.stderr.is_empty(), "round {round}: {}", text(&o));
        }
    }
}

#[test]
fn a_database_with_an_inconsistent_version_is_refused_in_a_sentence() {
    let home = tempfile::tempdir().unwrap();
    run_ok(home.path(), &["add", UPS]);
    let db = home.path().join("parceltrail.db");
    set_user_version(&db, 1);
    let o = run(home.path(), &["list"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.len() < 600, "a short message: {err}");
    assert!(
        !err.contains("CREATE") && !err.contains("--"),
        "no SQL: {err}"
    );
    assert!(err.contains("schema 1"), "{err}");
    assert!(err.contains("Restore a backup"), "{err}");
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn chmod(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn the_data_directory_is_readable_only_by_its_owner() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("data");
        run_ok(&home, &["add", UPS, "--store", "Trailhead Outfitters"]);
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&home.join("parceltrail.db")), 0o600);

        // An existing directory and database open to everyone are narrowed.
        chmod(&home, 0o755);
        chmod(&home.join("parceltrail.db"), 0o644);
        run_ok(&home, &["list"]);
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&home.join("parceltrail.db")), 0o600);
    }

    /// Run the binary as someone the file permissions bind: as root, without the
    /// capabilities that override them.
    fn unprivileged(home: &Path, args: &[&str]) -> Option<Output> {
        let probe = home.join(".probe");
        if std::fs::write(&probe, b"").is_err() {
            return Some(run(home, args));
        }
        let _ = std::fs::remove_file(&probe);
        let mut c = Command::new("setpriv");
        c.arg("--bounding-set=-dac_override,-dac_read_search,-fowner,-linux_immutable")
            .arg(env!("CARGO_BIN_EXE_parceltrail"))
            .args(args)
            .env("PARCELTRAIL_HOME", home)
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .stdin(Stdio::null());
        match c.output() {
            Ok(o) => Some(o),
            Err(e) => {
                eprintln!("skipped: running as root and setpriv is unavailable ({e})");
                None
            }
        }
    }

    #[test]
    fn a_read_only_data_directory_still_lists_shows_and_exports() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("data");
        run_ok(&home, &["add", UPS, "--label", "Running shoes"]);
        let db = home.join("parceltrail.db");
        let before = std::fs::read(&db).unwrap();
        chmod(&db, 0o400);
        chmod(&home, 0o500);

        let Some(o) = unprivileged(&home, &["list"]) else {
            return;
        };
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("Running shoes"), "{}", text(&o));
        let o = unprivileged(&home, &["show", "7127"]).unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains(UPS), "{}", text(&o));
        let o = unprivileged(&home, &["export", "--format", "csv"]).unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains(UPS), "{}", text(&o));

        // A change is refused in words, once.
        let o = unprivileged(&home, &["label", "7127", "Trail shoes"]).unwrap();
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("can only be read"), "{err}");
        assert_eq!(err.matches("read-only").count(), 1, "{err}");

        assert_eq!(std::fs::read(&db).unwrap(), before, "nothing was written");
        chmod(&home, 0o700);
    }

    #[test]
    fn a_read_only_database_that_needs_an_upgrade_says_so() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("data");
        run_ok(&home, &["add", UPS]);
        let db = home.join("parceltrail.db");
        set_user_version(&db, 2);
        chmod(&db, 0o400);
        chmod(&home, 0o500);
        let Some(o) = unprivileged(&home, &["list"]) else {
            return;
        };
        chmod(&home, 0o700);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("is read-only and has schema 2"), "{err}");
        assert!(err.contains("copy it somewhere writable"), "{err}");
    }
}
