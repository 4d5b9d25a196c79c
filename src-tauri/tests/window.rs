//! The real app window, driven through WebDriver (tauri-driver + WebKitWebDriver) under Xvfb,
//! on a private session bus with a real notification daemon (dunst) watched by dbus-monitor.
//! A person pastes an email, sees its numbers detected, tracks them, watches one travel
//! through the carrier simulator (the real DHL adapter, poller and pipeline inside the app)
//! to delivered, sees the notification, clicks it and lands on the parcel, and archives it;
//! then a second launch with a `parceltrail://parcel/<id>` link hands it to the running app.
//! A second test checks that the window comes back at the size it was left at and that
//! "Start at login" adds and removes the login item.
//!
//! Needs `tauri-driver` (`cargo install tauri-driver --locked`, done by `scripts/setup`) and
//! `WebKitWebDriver` (Debian's webkit2gtk-driver).

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Killed;
use parceltrail_notifiers::testing::NotificationBus;
use parceltrail_sim::scenario::Scenario;
use parceltrail_sim::{Sim, SimConfig};
use serde_json::{Value, json};

/// One simulated hour a second: a two-day journey takes about a minute, time enough to paste
/// the numbers before the parcels reach their last mile.
const SPEED: f64 = 3600.0;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tauri_driver() -> PathBuf {
    let in_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("tauri-driver"))
            .find(|f| f.is_file())
    });
    let in_cargo = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver"))
        .filter(|f| f.is_file());
    in_path.or(in_cargo).expect(
        "tauri-driver is needed for the window tests: cargo install tauri-driver --locked (scripts/setup does)",
    )
}

/// A W3C WebDriver session, over plain HTTP.
struct Driver {
    http: reqwest::Client,
    session: String,
    base: String,
}

impl Driver {
    /// tauri-driver (with `envs` for the app) and a WebDriver session on the app's window.
    async fn start(bus: &NotificationBus, envs: &[(&str, String)]) -> (Killed, Driver) {
        let port = free_port();
        let native = free_port();
        let mut cmd = bus.command(tauri_driver());
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let driver = Killed(cmd.spawn().expect("tauri-driver starts"));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tauri-driver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {
            "application": env!("CARGO_BIN_EXE_parceltrail-app")
        }}}});
        // tauri-driver listens before WebKitWebDriver behind it is ready: retry a little.
        let created: Value = loop {
            match http
                .post(format!("{base}/session"))
                .json(&caps)
                .send()
                .await
            {
                Ok(r) => break r.json().await.unwrap(),
                Err(e) => {
                    assert!(Instant::now() < deadline, "no WebDriver session: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        };
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        (
            driver,
            Driver {
                http,
                session,
                base,
            },
        )
    }

    /// End the session: the app is closed.
    async fn end(self, driver: Killed) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        drop(driver);
    }
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    /// Run a script in the page (`arguments` are `args`).
    async fn js(&self, script: &str, args: Value) -> Value {
        self.send(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .send(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.send(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Type as a person would (a line break is the Enter key).
    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        let text = text.replace('\n', "\u{E007}");
        self.send(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Wait until `script` returns something truthy; returns it.
    async fn wait_for(&self, what: &str, script: &str, args: Value, timeout: Duration) -> Value {
        Box::pin(self.wait_for_inner(what, script, args, timeout)).await
    }

    async fn wait_for_inner(
        &self,
        what: &str,
        script: &str,
        args: Value,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(script, args.clone()).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(_) => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let page = self
                    .js(
                        "return location.hash + '\\n' + document.body.innerText",
                        json!([]),
                    )
                    .await;
                panic!(
                    "timed out waiting for {what}; the window shows:\n{}",
                    page.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Waits until `path` exists or, with `present` false, is gone.
async fn wait_for_path(path: &Path, present: bool, within: Duration) {
    let deadline = Instant::now() + within;
    while path.exists() != present {
        let what = if present { "never appeared" } else { "stayed" };
        assert!(Instant::now() < deadline, "{} {what}", path.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paste_track_watch_deliver_notify_open_archive() {
    let bus = NotificationBus::start().expect("the notification bus");
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The carrier: the simulator, three parcels starting their journeys now.
    let sim = Arc::new(Sim::new(
        SimConfig {
            seed: 11,
            parcels: 6,
            speed: SPEED,
            stagger: 0.0,
            ..SimConfig::default()
        },
        chrono::Utc::now(),
    ));
    let parcels = sim.parcels().to_vec();
    let delivered = parcels
        .iter()
        .find(|p| p.scenario == Scenario::Delivered)
        .expect("a journey that ends delivered")
        .number
        .clone();
    let other = parcels
        .iter()
        .find(|p| p.number != delivered)
        .unwrap()
        .number
        .clone();
    let (addr, _sim) = parceltrail_sim::serve(sim, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    let home = tempfile::tempdir().unwrap();
    let (driver, d) = Driver::start(
        &bus,
        &[
            ("PARCELTRAIL_HOME", home.path().display().to_string()),
            ("PARCELTRAIL_CREDENTIALS_FILE", "1".into()),
            ("PARCELTRAIL_SIM_URL", format!("http://{addr}")),
            ("PARCELTRAIL_SPEED", SPEED.to_string()),
        ],
    )
    .await;
    let long = Duration::from_secs(30);

    // First run: an empty app that offers the demo.
    d.wait_for(
        "the first screen",
        "return document.body.dataset.ready === '1' && !!document.querySelector('[data-testid=welcome]')",
        json!([]),
        long,
    )
    .await;

    // Paste an email: two numbers and a mistyped one.
    d.click("[data-testid=add-link]").await;
    let email = format!(
        "Hello,\n\nyour order 4711 has shipped with DHL Express: {delivered}.\n\
         The second box follows: https://www.dhl.com/en/express/tracking.html?AWB={other}\n\
         (and a typo: 1Z5R89390357567128)\n\nThanks for shopping with us!"
    );
    d.type_into("[data-testid=paste]", &email).await;
    let found = d
        .wait_for(
            "three numbers found",
            "const rows = [...document.querySelectorAll('[data-testid=found]')];
             return rows.length === 3 ? rows.map(r => [r.dataset.number, r.textContent]) : null",
            json!([]),
            long,
        )
        .await;
    let rows = found.as_array().unwrap();
    let row = |n: &str| {
        rows.iter()
            .find(|r| r[0] == n)
            .map(|r| r[1].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{n} not found in {found}"))
    };
    assert!(row(&delivered).contains("DHL"), "{}", row(&delivered));
    assert!(row(&other).contains("DHL"), "{}", row(&other));
    assert!(
        row("1Z5R89390357567128").contains("check digit"),
        "the typo says why: {}",
        row("1Z5R89390357567128")
    );
    d.type_into("[data-testid=add-store]", "Bücherstube").await;
    d.click("[data-testid=track]").await;
    // Tracked: the app opens the first new parcel (the first number in the email).
    let first = d
        .wait_for(
            "the new parcel",
            "return location.hash.startsWith('#/parcel/') ? location.hash.slice(9) : null",
            json!([]),
            long,
        )
        .await;

    // Home: the two parcels.
    d.js("location.hash = '#/'", json!([])).await;
    let ids = d
        .wait_for(
            "two cards",
            "const c = [...document.querySelectorAll('[data-testid=card]')].map(c => c.dataset.id);
             return c.length === 2 ? c : null",
            json!([]),
            long,
        )
        .await;
    let second = ids
        .as_array()
        .unwrap()
        .iter()
        .find(|i| **i != first)
        .unwrap()
        .clone();
    // Mute the second, so the newest notification (clicked below) is the first parcel's.
    d.js(
        "location.hash = '#/parcel/' + arguments[0]",
        json!([second]),
    )
    .await;
    d.wait_for(
        "the second parcel",
        "return location.hash === '#/parcel/' + arguments[0] && !!document.querySelector('[data-testid=mute]')",
        json!([second]),
        long,
    )
    .await;
    d.click("[data-testid=mute]").await;
    d.wait_for(
        "muted",
        "const b = document.querySelector('[data-testid=mute]'); return b && /Unmute/.test(b.textContent)",
        json!([]),
        long,
    )
    .await;

    // The first travels to delivered, pushed to the window.
    d.js("location.hash = '#/'", json!([])).await;
    let id = d
        .wait_for(
            "a delivered card",
            "const c = document.querySelector('[data-testid=group][data-group=delivered_recently] [data-testid=card]');
             return c ? c.dataset.id : null",
            json!([]),
            Duration::from_secs(150),
        )
        .await;
    let id = id.as_str().unwrap().to_owned();
    assert_eq!(
        Value::String(id.clone()),
        first,
        "the first parcel was delivered"
    );

    // The notification, observed on D-Bus: once, naming the parcel.
    let deadline = Instant::now() + long;
    let shown = loop {
        let seen: Vec<_> = bus
            .notifications()
            .into_iter()
            .filter(|n| n.summary.contains("Delivered") || n.body.contains("Delivered"))
            .collect();
        if !seen.is_empty() || Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(shown.len(), 1, "one delivered notification: {shown:?}");
    assert!(
        format!("{} {}", shown[0].summary, shown[0].body).contains(&delivered),
        "{:?}",
        shown[0]
    );

    assert!(shown[0].actions.iter().any(|a| a == "default"));

    // Clicking it opens that parcel in the window.
    let status = bus
        .command("dunstctl")
        .args(["action", "0"])
        .status()
        .unwrap();
    assert!(status.success(), "dunstctl action");
    d.wait_for(
        "the parcel opened by the click",
        "return location.hash === '#/parcel/' + arguments[0] && !!document.querySelector('[data-testid=event]')",
        json!([id]),
        long,
    )
    .await;
    let events = d
        .js(
            "return [...document.querySelectorAll('[data-testid=event]')].map(e => e.dataset.status)",
            json!([]),
        )
        .await;
    assert_eq!(events[0], "delivered", "newest first: {events}");

    // Archive it: it leaves the home screen.
    d.click("[data-testid=archive]").await;
    d.wait_for(
        "archived",
        "const b = document.querySelector('[data-testid=archive]'); return b && /Unarchive/.test(b.textContent)",
        json!([]),
        long,
    )
    .await;
    d.js("location.hash = '#/'", json!([])).await;
    d.wait_for(
        "the archived card gone",
        "return document.body.dataset.ready === '1' && document.querySelectorAll('[data-testid=card]').length === 1 && !document.querySelector('[data-testid=card][data-id=\"' + arguments[0] + '\"]')",
        json!([id]),
        long,
    )
    .await;

    // A second launch with a parcel link goes to the running app, which opens it; the
    // second process exits.
    let mut again = Killed(
        bus.command(env!("CARGO_BIN_EXE_parceltrail-app"))
            .arg(format!("parceltrail://parcel/{}", second.as_str().unwrap()))
            .env("PARCELTRAIL_HOME", home.path())
            .env("PARCELTRAIL_CREDENTIALS_FILE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + long;
    let status = loop {
        if let Some(status) = again.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the second instance did not exit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}");
    d.wait_for(
        "the parcel the link names",
        "return location.hash === '#/parcel/' + arguments[0] && document.body.dataset.ready === '1'",
        json!([second]),
        long,
    )
    .await;

    d.end(driver).await;
}

/// The window comes back at the size it was left at, and "Start at login" adds and removes
/// the login item (an XDG autostart entry that starts the app in the tray).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_size_and_login_item_are_kept() {
    let bus = NotificationBus::start().expect("the notification bus");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let home = tempfile::tempdir().unwrap();
    // A home of its own: the login item goes to ~/.config/autostart (the autostart plugin
    // does not read XDG_CONFIG_HOME), the window's place to the app's config folder.
    let user = tempfile::tempdir().unwrap();
    let envs = [
        ("PARCELTRAIL_HOME", home.path().display().to_string()),
        ("PARCELTRAIL_CREDENTIALS_FILE", "1".into()),
        ("HOME", user.path().display().to_string()),
        (
            "XDG_CONFIG_HOME",
            user.path().join(".config").display().to_string(),
        ),
    ];
    let long = Duration::from_secs(30);
    let ready = "return document.body.dataset.ready === '1'";

    let (driver, d) = Driver::start(&bus, &envs).await;
    d.wait_for("the first screen", ready, json!([]), long).await;
    // The start-up path: boot.js asked for the list before the modules loaded and the
    // home screen took that answer over; fontconfig picks the fonts here.
    let boot = d
        .js(
            "const e = window.__parceltrailEarly; \
             return [!!e && !('home' in e), document.documentElement.dataset.fonts || null]",
            json!([]),
        )
        .await;
    assert_eq!(boot, json!([true, "fontconfig"]), "{boot}");
    d.send(
        reqwest::Method::POST,
        "/window/rect",
        Some(json!({"width": 900, "height": 640})),
    )
    .await;
    let size = |r: &Value| (r["width"].as_i64(), r["height"].as_i64());
    let rect = d.send(reqwest::Method::GET, "/window/rect", None).await;
    assert_eq!(size(&rect), (Some(900), Some(640)), "{rect}");

    // Start at login: on, the entry starts the app minimized to the tray; off, it is gone.
    let entry = user.path().join(".config/autostart/Parceltrail.desktop");
    assert!(!entry.exists());
    d.js("location.hash = '#/settings'", json!([])).await;
    d.wait_for(
        "the settings",
        "return !!document.querySelector('[data-testid=autostart]')",
        json!([]),
        long,
    )
    .await;
    d.click("[data-testid=autostart]").await;
    wait_for_path(&entry, true, long).await;
    let text = std::fs::read_to_string(&entry).unwrap();
    let exec = text
        .lines()
        .find(|l| l.starts_with("Exec="))
        .unwrap_or_else(|| panic!("no Exec line: {text}"));
    assert!(exec.contains("parceltrail-app"), "{exec}");
    assert!(exec.contains("--minimized"), "{exec}");
    d.wait_for(
        "the box ticked",
        "const b = document.querySelector('[data-testid=autostart]'); return b && b.checked && !b.disabled",
        json!([]),
        long,
    )
    .await;
    d.click("[data-testid=autostart]").await;
    wait_for_path(&entry, false, long).await;
    // Let the window's place settle and be saved, then close the app.
    tokio::time::sleep(Duration::from_secs(1)).await;
    d.end(driver).await;

    // The next launch opens the window at the size it was left at.
    let (driver, d) = Driver::start(&bus, &envs).await;
    d.wait_for("the first screen again", ready, json!([]), long)
        .await;
    let rect = d.send(reqwest::Method::GET, "/window/rect", None).await;
    assert_eq!(size(&rect), (Some(900), Some(640)), "{rect}");
    d.end(driver).await;
}
