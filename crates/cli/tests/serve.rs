//! `parceltrail serve` as a user starts it.

use std::process::{Command, Output, Stdio};

fn serve(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parceltrail"))
        .env("PARCELTRAIL_HOME", home)
        .args([
            "--credentials-file",
            "serve",
            "--no-notify",
            "--duration",
            "0.01",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn listening_beyond_loopback_needs_allow_remote() {
    let home = tempfile::tempdir().unwrap();
    let o = serve(home.path(), &["--listen", "0.0.0.0:0", "--demo"]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    for words in [
        "0.0.0.0:0",
        "not a loopback address",
        "no accounts",
        "--allow-remote",
    ] {
        assert!(stderr.contains(words), "{words:?} in {stderr}");
    }
    // Refused before anything started: no demo, no database.
    assert!(std::fs::read_dir(home.path()).unwrap().next().is_none());

    let o = serve(home.path(), &["--listen", "0.0.0.0:0", "--allow-remote"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("Parceltrail is at http://localhost:"),
        "{stdout}"
    );
    assert!(
        stderr.contains("Warning") && stderr.contains("no accounts"),
        "{stderr}"
    );

    let o = serve(home.path(), &["--listen", "[::1]:0"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    // A machine without IPv6 cannot bind it; it must not be refused as remote.
    assert!(!stderr.contains("--allow-remote"), "{stderr}");
}
