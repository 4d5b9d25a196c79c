//! The tray icon as a Linux panel sees it: the app, started in the tray (as at login) with its
//! demo under Xvfb on a private session bus, registers a StatusNotifierItem with the panel's
//! watcher (played here by the test), shows how many parcels arrive today beside the icon and
//! in its menu (read over com.canonical.dbusmenu, as the panel reads it); its Open item shows
//! the window and its Quit item ends the app. Needs `xwininfo` (x11-utils).

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Killed;
use parceltrail_notifiers::testing::NotificationBus;
use zbus::message::Header;
use zbus::names::InterfaceName;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::{Connection, interface};

/// The panel's `org.kde.StatusNotifierWatcher`: passes each registration on.
struct Watcher(tokio::sync::mpsc::UnboundedSender<(String, String)>);

#[interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: Header<'_>,
    ) {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let _ = self.0.send((sender, service.to_owned()));
    }

    async fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    async fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    async fn registered_status_notifier_items(&self) -> Vec<String> {
        Vec::new()
    }

    #[zbus(property)]
    async fn protocol_version(&self) -> i32 {
        0
    }
}

/// A dbusmenu layout: `(u(ia{sv}av))`, the revision and the root item.
type Layout = (u32, (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>));

/// One menu item `(ia{sv}av)`, as its (id, label); mnemonic underscores removed.
fn menu_item(item: &Value<'_>) -> Option<(i32, String)> {
    let Value::Structure(s) = item else {
        return match item {
            Value::Value(inner) => menu_item(inner),
            _ => None,
        };
    };
    let (Some(Value::I32(id)), Some(Value::Dict(props))) = (s.fields().first(), s.fields().get(1))
    else {
        return None;
    };
    let label: String = props.get(&"label").ok().flatten()?;
    Some((*id, label.replace('_', "")))
}

/// Whether the X display shows a window titled "Parceltrail".
fn window_shown(display: &str) -> bool {
    let out = std::process::Command::new("xwininfo")
        .args(["-display", display, "-name", "Parceltrail"])
        .output()
        .expect("xwininfo runs (x11-utils)");
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("IsViewable")
}

/// Sends a click on menu item `id`, as a panel does.
async fn click(conn: &Connection, dest: &str, menu: &str, id: i32) {
    conn.call_method(
        Some(dest),
        menu,
        Some("com.canonical.dbusmenu"),
        "Event",
        &(id, "clicked", Value::from(0i32), 0u32),
    )
    .await
    .expect("the click is delivered");
}

/// The menu's items, top level, as (id, label).
async fn menu(conn: &Connection, dest: &str, path: &str) -> Vec<(i32, String)> {
    let reply = conn
        .call_method(
            Some(dest),
            path,
            Some("com.canonical.dbusmenu"),
            "GetLayout",
            &(0i32, -1i32, Vec::<&str>::new()),
        )
        .await
        .expect("the menu's layout");
    let (_, (_, _, children)): Layout = reply.body().deserialize().expect("a dbusmenu layout");
    children.iter().filter_map(|c| menu_item(c)).collect()
}

/// A zone where it is about noon now. The demo's parcels arrive within hours of the start,
/// so late in the evening none of them arrives "today"; at noon some always do.
fn midday_zone() -> String {
    use chrono::Timelike;
    let offset = 12 - chrono::Utc::now().hour() as i32;
    // Etc/GMT names count the other way round: Etc/GMT-3 is three hours ahead of UTC.
    match offset {
        0 => "Etc/UTC".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_counts_todays_parcels_opens_the_window_and_quits() {
    let bus = NotificationBus::start().expect("the notification bus");
    let (tx, mut registered) = tokio::sync::mpsc::unbounded_channel();
    let conn = zbus::connection::Builder::address(bus.address())
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .serve_at("/StatusNotifierWatcher", Watcher(tx))
        .unwrap()
        .build()
        .await
        .expect("the watcher on the bus");

    // The demo: parcels that the built-in simulator moves along, some arriving today.
    let home = tempfile::tempdir().unwrap();
    let mut app = Killed(
        bus.command(env!("CARGO_BIN_EXE_parceltrail-app"))
            .args(["--demo", "--minimized"])
            .env("PARCELTRAIL_HOME", home.path())
            .env("PARCELTRAIL_CREDENTIALS_FILE", "1")
            .env("TZ", midday_zone())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the app starts"),
    );

    let (sender, service) = tokio::time::timeout(Duration::from_secs(30), registered.recv())
        .await
        .expect("the app registers its tray icon with the panel")
        .unwrap();
    // Ayatana registers an object path; other implementations a bus name.
    let (dest, path) = if service.starts_with('/') {
        (sender, service)
    } else {
        (service, "/StatusNotifierItem".to_owned())
    };
    let props = zbus::fdo::PropertiesProxy::builder(&conn)
        .destination(dest.as_str())
        .unwrap()
        .path(path.as_str())
        .unwrap()
        .build()
        .await
        .unwrap();
    let item = InterfaceName::from_static_str("org.kde.StatusNotifierItem").unwrap();

    // The count arrives once the demo's parcels are in: beside the icon and as the
    // menu's first line.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (label, items, menu_path) = loop {
        let all = props
            .get_all(item.clone())
            .await
            .expect("the item's properties");
        let label = all
            .get("XAyatanaLabel")
            .and_then(|v| String::try_from(v.clone()).ok())
            .unwrap_or_default();
        let menu_path = all
            .get("Menu")
            .and_then(|v| OwnedObjectPath::try_from(v.clone()).ok())
            .expect("the item has a menu");
        let items = menu(&conn, &dest, menu_path.as_str()).await;
        let counted = items
            .first()
            .is_some_and(|(_, l)| l.contains("arrive today") && !l.starts_with("Nothing"));
        if counted && !label.is_empty() {
            assert_eq!(
                all.get("Status")
                    .and_then(|v| String::try_from(v.clone()).ok())
                    .as_deref(),
                Some("Active")
            );
            break (label, items, menu_path);
        }
        assert!(
            Instant::now() < deadline,
            "the tray never counted today's parcels: label {label:?}, menu {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let n: usize = label.parse().expect("the label beside the icon is a count");
    let first = &items[0].1;
    let expected = if n == 1 {
        "1 parcel arrives today".to_owned()
    } else {
        format!("{n} parcels arrive today")
    };
    assert!(
        first.starts_with(&expected),
        "menu says {first:?}, the icon {n}"
    );
    let names: Vec<&str> = items.iter().map(|(_, l)| l.as_str()).collect();
    for wanted in ["Refresh all", "Open Parceltrail", "Quit"] {
        assert!(names.contains(&wanted), "{wanted:?} in the menu {names:?}");
    }

    let id_of = |name: &str| items.iter().find(|(_, l)| l == name).unwrap().0;

    // Started in the tray: no window until Open.
    let display = bus.display().expect("an X display").to_owned();
    assert!(!window_shown(&display), "a window at a start in the tray");
    click(&conn, &dest, menu_path.as_str(), id_of("Open Parceltrail")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !window_shown(&display) {
        assert!(Instant::now() < deadline, "Open did not show the window");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Quit, as a click in the panel's menu sends it, ends the app.
    click(&conn, &dest, menu_path.as_str(), id_of("Quit")).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = app.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "Quit did not end the app");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "the app ended cleanly: {status}");
}
