//! Carrier credentials: the file store, redaction, and the OS keyring (for real when a Secret
//! Service answers: run under `scripts/with-keyring`, which sets PARCELTRAIL_EXPECT_KEYRING=1).

use std::path::Path;
use std::process::Command;

use parceltrail_carriers::Secret;
use parceltrail_carriers::credentials::{
    CarrierKind, CredentialError, CredentialStore, Credentials, FileStore, KeyringStore, open_store,
};

const UPS_SECRET: &str = "S3CRET-ups-value-7f3a";
const DHL_KEY: &str = "dhl-KEY-91c2-secret";

fn ups() -> Credentials {
    Credentials::new(CarrierKind::Ups)
        .with("client_id", "ups-client-id-42")
        .unwrap()
        .with("client_secret", UPS_SECRET)
        .unwrap()
}

fn dhl() -> Credentials {
    Credentials::new(CarrierKind::Dhl)
        .with("api_key", DHL_KEY)
        .unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Write `text` as the credentials file, private (0600) so only its content is on trial.
fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    set_mode(path, 0o600);
}

// ---------------------------------------------------------------------------------------------
// Carriers and credentials
// ---------------------------------------------------------------------------------------------

#[test]
fn carrier_ids_names_and_fields() {
    for c in CarrierKind::ALL {
        assert_eq!(CarrierKind::from_id(c.id()), Some(c));
        assert!(!c.fields().is_empty());
        assert!(
            c.fields().iter().any(|f| f.secret),
            "{c} has a secret field"
        );
    }
    let ids: Vec<_> = CarrierKind::ALL.iter().map(|c| c.id()).collect();
    assert_eq!(ids, ["ups", "fedex", "usps", "dhl", "17track"]);
    assert_eq!(CarrierKind::Track17.name(), "17TRACK");
    assert_eq!(CarrierKind::from_id("17TRACK"), Some(CarrierKind::Track17));
    assert_eq!(CarrierKind::from_id("nope"), None);

    let names = |c: CarrierKind| c.fields().iter().map(|f| f.name).collect::<Vec<_>>();
    assert_eq!(names(CarrierKind::Ups), ["client_id", "client_secret"]);
    assert_eq!(names(CarrierKind::Fedex), ["client_id", "client_secret"]);
    assert_eq!(names(CarrierKind::Usps), ["client_id", "client_secret"]);
    assert_eq!(names(CarrierKind::Dhl), ["api_key"]);
    assert_eq!(names(CarrierKind::Track17), ["api_key"]);
    assert!(!CarrierKind::Ups.field("client_id").unwrap().secret);
    assert!(CarrierKind::Ups.field("client_secret").unwrap().secret);
}

#[test]
fn credentials_debug_redacts_every_value() {
    let creds = ups();
    let dbg = format!("{creds:?}");
    let pretty = format!("{creds:#?}");
    for out in [&dbg, &pretty] {
        assert!(!out.contains(UPS_SECRET), "{out}");
        assert!(!out.contains("ups-client-id-42"), "{out}");
        assert!(out.contains("client_secret"), "names the fields: {out}");
    }
    assert_eq!(creds.get("client_secret").unwrap().expose(), UPS_SECRET);
    assert!(creds.get("api_key").is_none());
}

#[test]
fn credentials_refuse_unknown_and_empty_fields() {
    let err = Credentials::new(CarrierKind::Dhl)
        .with("client_secret", "x")
        .unwrap_err();
    assert!(matches!(err, CredentialError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("api_key"), "{err}");

    let err = Credentials::new(CarrierKind::Dhl)
        .with("api_key", "   ")
        .unwrap_err();
    assert!(matches!(err, CredentialError::Invalid(_)), "{err:?}");

    let mut c = Credentials::new(CarrierKind::Ups);
    c.set("client_id", Secret::new("  padded  ")).unwrap();
    assert_eq!(c.get("client_id").unwrap().expose(), "padded");
    assert_eq!(c.missing().len(), 1);
    assert!(
        c.check_complete()
            .unwrap_err()
            .to_string()
            .contains("client_secret")
    );
}

// ---------------------------------------------------------------------------------------------
// The file store
// ---------------------------------------------------------------------------------------------

#[test]
fn file_store_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("nested/credentials.json"));
    assert!(
        store.load(CarrierKind::Ups).unwrap().is_none(),
        "no file yet"
    );
    store.delete(CarrierKind::Ups).unwrap(); // nothing to delete is fine

    store.save(&ups()).unwrap();
    store.save(&dhl()).unwrap();
    assert_eq!(store.load(CarrierKind::Ups).unwrap(), Some(ups()));
    assert_eq!(store.load(CarrierKind::Dhl).unwrap(), Some(dhl()));
    assert!(store.load(CarrierKind::Fedex).unwrap().is_none());

    // Saving again replaces.
    let newer = Credentials::new(CarrierKind::Dhl)
        .with("api_key", "rotated")
        .unwrap();
    store.save(&newer).unwrap();
    assert_eq!(store.load(CarrierKind::Dhl).unwrap(), Some(newer));

    // A fresh store over the same file sees the same.
    let again = FileStore::new(store.path());
    assert_eq!(again.load(CarrierKind::Ups).unwrap(), Some(ups()));

    store.delete(CarrierKind::Ups).unwrap();
    assert!(store.load(CarrierKind::Ups).unwrap().is_none());
    assert!(
        store.load(CarrierKind::Dhl).unwrap().is_some(),
        "others stay"
    );
    store.delete(CarrierKind::Ups).unwrap();

    // Nothing but the file is left behind (no temporary files).
    let names: Vec<_> = std::fs::read_dir(dir.path().join("nested"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["credentials.json"]);
}

#[test]
fn file_store_refuses_incomplete_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("credentials.json"));
    let half = Credentials::new(CarrierKind::Fedex)
        .with("client_id", "id")
        .unwrap();
    let err = store.save(&half).unwrap_err();
    assert!(matches!(err, CredentialError::Invalid(_)), "{err:?}");
    assert!(!dir.path().join("credentials.json").exists());
}

#[cfg(unix)]
#[test]
fn file_store_creates_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/credentials.json");
    let store = FileStore::new(&path);
    store.save(&ups()).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        mode(path.parent().unwrap()),
        0o700,
        "a directory it creates is private"
    );
    // Rewrites (atomic: a new file renamed over the old) stay private.
    store.save(&dhl()).unwrap();
    store.delete(CarrierKind::Dhl).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[cfg(unix)]
#[test]
fn file_store_refuses_a_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let store = FileStore::new(&path);
    store.save(&ups()).unwrap();
    set_mode(&path, 0o644);

    let err = store.load(CarrierKind::Ups).unwrap_err();
    match &err {
        CredentialError::InsecureFile { path: p, mode } => {
            assert_eq!(p, &path);
            assert_eq!(*mode, 0o644);
        }
        other => panic!("expected InsecureFile, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("0644") && msg.contains("chmod 600"), "{msg}");
    assert!(!msg.contains(UPS_SECRET));
    // Saving or deleting through it is refused too (both read it first).
    assert!(matches!(
        store.save(&dhl()),
        Err(CredentialError::InsecureFile { .. })
    ));
    assert!(matches!(
        store.delete(CarrierKind::Ups),
        Err(CredentialError::InsecureFile { .. })
    ));
    // Group-readable alone is enough to refuse.
    set_mode(&path, 0o640);
    assert!(matches!(
        store.load(CarrierKind::Ups),
        Err(CredentialError::InsecureFile { mode: 0o640, .. })
    ));
    set_mode(&path, 0o600);
    assert_eq!(store.load(CarrierKind::Ups).unwrap(), Some(ups()));
}

#[test]
fn file_content_never_shows_in_debug_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let store = FileStore::new(&path);
    store.save(&ups()).unwrap();
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(raw.contains(UPS_SECRET), "the file holds the secret");

    let loaded = store.load(CarrierKind::Ups).unwrap().unwrap();
    for out in [
        format!("{loaded:?}"),
        format!("{loaded:#?}"),
        format!("{store:?}"),
    ] {
        assert!(!out.contains(UPS_SECRET), "{out}");
        assert!(!out.contains(&raw), "{out}");
    }
}

#[test]
fn corrupt_file_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let store = FileStore::new(&path);

    let cases = [
        // Not JSON at all.
        format!(
            "{{ \"version\": 1, \"carriers\": {{ \"ups\": {{ \"client_secret\": \"{UPS_SECRET}\""
        ),
        // JSON of the wrong shape, where serde_json would quote the offending string.
        format!("{{\"version\": 1, \"carriers\": {{\"ups\": \"{UPS_SECRET}\"}}}}"),
        format!("\"{UPS_SECRET}\""),
        // Not text.
        String::from_utf8_lossy(&[0xff, 0xfe, 0x00]).into_owned(),
    ];
    for text in &cases {
        write_private(&path, text);
        let err = store.load(CarrierKind::Ups).unwrap_err();
        assert!(
            matches!(err, CredentialError::Unreadable { .. }),
            "{text}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("credentials.json"), "names the file: {msg}");
        assert!(!msg.contains(UPS_SECRET), "never quotes the content: {msg}");
        assert!(!format!("{err:?}").contains(UPS_SECRET));
    }
    // Raw invalid UTF-8.
    std::fs::write(&path, [b'{', 0xff, 0xfe, b'}']).unwrap();
    #[cfg(unix)]
    set_mode(&path, 0o600);
    let err = store.load(CarrierKind::Ups).unwrap_err();
    assert!(matches!(err, CredentialError::Unreadable { .. }), "{err:?}");

    // A file from a newer Parceltrail is refused, not misread.
    write_private(&path, r#"{"version": 2, "carriers": {}}"#);
    let err = store.load(CarrierKind::Ups).unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");

    // An empty file is an empty store.
    write_private(&path, "");
    assert!(store.load(CarrierKind::Ups).unwrap().is_none());
}

#[test]
fn open_store_picks_the_file_only_when_opted_in() {
    let dir = tempfile::tempdir().unwrap();
    let file = open_store(dir.path(), true);
    let described = file.describe();
    assert!(
        described.contains(&dir.path().join("credentials.json").display().to_string())
            && described.contains("0600"),
        "{described}"
    );
    file.save(&dhl()).unwrap();
    assert!(dir.path().join("credentials.json").exists());

    let keyring = open_store(dir.path(), false);
    assert!(
        !keyring.describe().contains("credentials.json"),
        "{}",
        keyring.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// The OS keyring
// ---------------------------------------------------------------------------------------------

/// A service name of this test run's own, so the user's `parceltrail` entries are never touched.
fn test_service() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("parceltrail-test-{}-{nanos}", std::process::id())
}

/// Whether a Secret Service answers on the session bus, asked independently of the code under
/// test (`dbus-send`). `None` when that cannot be asked.
fn secret_service_on_bus() -> Option<bool> {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return Some(false);
    }
    let ask = |method: &str, arg: &[&str]| {
        Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
            ])
            .arg(format!("org.freedesktop.DBus.{method}"))
            .args(arg)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let owned = ask("NameHasOwner", &["string:org.freedesktop.secrets"])?;
    if owned.contains("boolean true") {
        return Some(true);
    }
    let activatable = ask("ListActivatableNames", &[])?;
    Some(activatable.contains("\"org.freedesktop.secrets\""))
}

/// The "no keyring" answer, as the user sees it.
fn assert_no_keyring(err: CredentialError, file_store: &Path) {
    let msg = err.to_string();
    assert!(matches!(err, CredentialError::NoKeyring(_)), "{err:?}");
    assert!(msg.contains("no system keyring is available"), "{msg}");
    assert!(msg.contains("--credentials-file"), "{msg}");
    assert!(msg.contains(&file_store.display().to_string()), "{msg}");
    assert!(!msg.contains(UPS_SECRET), "{msg}");
}

/// Save, read back (through a fresh store and through `secret-tool` when present), delete.
fn keyring_round_trip(service: &str) {
    let store = KeyringStore::with_service(service, "/unused/credentials.json");
    assert!(store.describe().contains("keyring"), "{}", store.describe());
    assert!(
        store.load(CarrierKind::Ups).unwrap().is_none(),
        "fresh service"
    );
    store.delete(CarrierKind::Ups).unwrap(); // nothing to delete is fine

    store.save(&ups()).unwrap();
    store.save(&dhl()).unwrap();

    let fresh = KeyringStore::with_service(service, "/unused/credentials.json");
    assert_eq!(fresh.load(CarrierKind::Ups).unwrap(), Some(ups()));
    assert_eq!(fresh.load(CarrierKind::Dhl).unwrap(), Some(dhl()));
    assert!(fresh.load(CarrierKind::Fedex).unwrap().is_none());

    // What another Secret Service client sees: one entry per carrier, a JSON object of fields.
    let lookup = |user: &str| {
        Command::new("secret-tool")
            .args(["lookup", "service", service, "username", user])
            .output()
            .ok()
    };
    if let Some(out) = lookup("ups") {
        assert!(out.status.success(), "secret-tool finds the entry");
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(value["client_secret"], UPS_SECRET);
        assert_eq!(value["client_id"], "ups-client-id-42");
    } else {
        eprintln!("secret-tool is not installed: checked through a fresh KeyringStore only");
    }

    // Saving again replaces (one entry, not two).
    let rotated = Credentials::new(CarrierKind::Dhl)
        .with("api_key", "rotated-key")
        .unwrap();
    store.save(&rotated).unwrap();
    assert_eq!(fresh.load(CarrierKind::Dhl).unwrap(), Some(rotated));

    store.delete(CarrierKind::Ups).unwrap();
    store.delete(CarrierKind::Dhl).unwrap();
    assert!(fresh.load(CarrierKind::Ups).unwrap().is_none());
    assert!(fresh.load(CarrierKind::Dhl).unwrap().is_none());
    if let Some(out) = lookup("ups") {
        assert!(!out.status.success(), "secret-tool no longer finds it");
    }
}

/// Whether a Secret Service must answer here: `scripts/with-keyring` says so, else ask the bus.
fn secret_service_expected() -> Option<bool> {
    if std::env::var("PARCELTRAIL_EXPECT_KEYRING").as_deref() == Ok("1") {
        return Some(true);
    }
    secret_service_on_bus()
}

#[test]
fn keyring_store_round_trip_or_no_keyring() {
    let service = test_service();
    let available = match secret_service_expected() {
        Some(answer) => answer,
        None => {
            // dbus-send is missing: let the store tell, and check whichever it says.
            let probe = KeyringStore::with_service(&service, "/x/credentials.json");
            match probe.load(CarrierKind::Ups) {
                Ok(_) => true,
                Err(err) => {
                    assert_no_keyring(err, Path::new("/x/credentials.json"));
                    eprintln!("no Secret Service here: checked the NoKeyring answer");
                    return;
                }
            }
        }
    };
    if available {
        eprintln!("a Secret Service answers: running the real round trip");
        keyring_round_trip(&service);
    } else {
        eprintln!("no Secret Service here: checking the NoKeyring answer");
        let file = Path::new("/home/someone/.local/share/parceltrail/credentials.json");
        let store = KeyringStore::with_service(&service, file);
        assert_no_keyring(store.load(CarrierKind::Ups).unwrap_err(), file);
        assert_no_keyring(store.save(&ups()).unwrap_err(), file);
        assert_no_keyring(store.delete(CarrierKind::Ups).unwrap_err(), file);
    }
}

/// Run by `keyring_without_a_session_bus` in a child process whose session bus address leads
/// nowhere.
#[test]
#[ignore = "run by keyring_without_a_session_bus in a child process"]
fn child_keyring_with_a_dead_bus() {
    let file = Path::new("/srv/parceltrail/credentials.json");
    let store = KeyringStore::with_service(test_service(), file);
    assert_no_keyring(store.load(CarrierKind::Ups).unwrap_err(), file);
    assert_no_keyring(store.save(&ups()).unwrap_err(), file);
    // Through open_store, as the CLI does: the message names data_dir/credentials.json.
    let store = open_store(Path::new("/srv/parceltrail"), false);
    assert_no_keyring(store.load(CarrierKind::Dhl).unwrap_err(), file);
}

/// The "no keyring" answer is checked on every machine, even inside `scripts/with-keyring`:
/// this test binary runs `child_keyring_with_a_dead_bus` again with a session bus address
/// that leads nowhere.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
#[test]
fn keyring_without_a_session_bus() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("unix:path={}", dir.path().join("no-bus").display());
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_keyring_with_a_dead_bus",
            "--nocapture",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", nowhere)
        .env("XDG_RUNTIME_DIR", dir.path())
        .env_remove("PARCELTRAIL_EXPECT_KEYRING")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran the check: {stdout}"
    );
}

/// A caller on a Tokio runtime thread (the CLI is async) gets an answer, not a panic: the
/// Secret Service client starts a runtime of its own, which Tokio forbids inside another.
#[tokio::test]
async fn keyring_store_answers_on_a_runtime_thread() {
    let file = Path::new("/x/credentials.json");
    let store = KeyringStore::with_service(test_service(), file);
    match secret_service_expected() {
        Some(true) => {
            store.save(&dhl()).unwrap();
            assert_eq!(store.load(CarrierKind::Dhl).unwrap(), Some(dhl()));
            store.delete(CarrierKind::Dhl).unwrap();
            assert!(store.load(CarrierKind::Dhl).unwrap().is_none());
        }
        Some(false) => assert_no_keyring(store.load(CarrierKind::Dhl).unwrap_err(), file),
        None => match store.load(CarrierKind::Dhl) {
            Ok(found) => assert!(found.is_none(), "a fresh service holds nothing"),
            Err(err) => assert_no_keyring(err, file),
        },
    }
}
