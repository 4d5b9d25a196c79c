//! What the end-to-end tests share: the binary, `parceltrail sim` as a child process, and
//! the shop server with an HTTP client.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `parceltrail` binary, not reading the developer's `PARCELTRAIL_HOME`.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_parceltrail"));
    c.env_remove("PARCELTRAIL_HOME");
    c
}

/// `parceltrail sim` with `args` on a free port; returns it and its URL once it answers.
pub fn start_sim(args: &[&str]) -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = bin()
        .args(["sim", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the simulator did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, format!("http://127.0.0.1:{port}"))
}

/// `parceltrail server` on the data directory `home`, none of the operator's settings taken
/// from the environment.
pub fn server_cmd(home: &Path) -> Command {
    let mut c = bin();
    c.env("PARCELTRAIL_HOME", home)
        .env_remove("RUST_LOG")
        .arg("server")
        .stdin(Stdio::null());
    for name in [
        "DB",
        "LISTEN",
        "PUBLIC_URL",
        "CONFIG",
        "LOGINS_PER_MINUTE",
        "KEY_FAILURES_PER_MINUTE",
        "KEY_REQUESTS_PER_SECOND",
        "LOG_FORMAT",
        "ALLOW_PRIVATE_TARGETS",
        "WEBHOOK_CONCURRENCY",
        "SECRET_KEY",
        "SECRET_KEY_FILE",
        "SIM",
        "SIM_KEY",
        "SIM_RATE",
        "SPEED",
        "POLL_LEASE",
    ] {
        c.env_remove(format!("PARCELTRAIL_SERVER_{name}"));
    }
    c
}

/// A running `parceltrail server`, killed when dropped.
pub struct ShopServer {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl ShopServer {
    /// Starts `cmd` (which should listen on port 0) and waits for the address it prints.
    /// With `keep_log`, its standard error is kept for [`ShopServer::stop`].
    pub fn start(mut cmd: Command, keep_log: bool) -> ShopServer {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(if keep_log {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim_end_matches('/')
            .to_owned();
        ShopServer { child, base }
    }

    /// Like [`ShopServer::start`], but every line it prints after the address comes through
    /// the returned channel (the demo prints its key and links there).
    pub fn start_reading(mut cmd: Command) -> (ShopServer, std::sync::mpsc::Receiver<String>) {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server printed no address");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim_end_matches('/')
            .to_owned();
        (ShopServer { child, base }, rx)
    }

    /// Stops it with SIGTERM; its exit status and everything it logged.
    pub fn stop(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        let mut log = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut log).unwrap();
        }
        (status, log)
    }
}

impl Drop for ShopServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client (rustls needs its crypto provider chosen once).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// One request a [`HookSink`] was sent.
#[derive(Clone, Debug)]
pub struct Hooked {
    /// When it arrived (after its whole body).
    pub at: chrono::DateTime<chrono::Utc>,
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Hooked {
    /// A header as text ("" when missing).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A webhook receiver on 127.0.0.1 that records every request and answers each `200` at
/// once, so a sender never has a reason to send one again.
#[derive(Clone, Default)]
pub struct HookSink {
    got: std::sync::Arc<std::sync::Mutex<Vec<Hooked>>>,
}

impl HookSink {
    /// Starts it on the current runtime; it and its `http://127.0.0.1:PORT`.
    pub async fn start() -> (HookSink, String) {
        async fn hook(
            axum::extract::State(sink): axum::extract::State<HookSink>,
            uri: axum::http::Uri,
            headers: axum::http::HeaderMap,
            body: String,
        ) -> &'static str {
            sink.got.lock().unwrap().push(Hooked {
                at: chrono::Utc::now(),
                path: uri.path().to_owned(),
                headers,
                body,
            });
            "thanks"
        }
        let sink = HookSink::default();
        let app = axum::Router::new().fallback(hook).with_state(sink.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (sink, format!("http://127.0.0.1:{port}"))
    }

    /// Everything received so far, in order of arrival.
    pub fn got(&self) -> Vec<Hooked> {
        self.got.lock().unwrap().clone()
    }
}

/// The Standard Webhooks signature (`v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` with the key inside a `whsec_` secret), computed here
/// independently of the server.
pub fn standard_signature(secret: &str, id: &str, timestamp: &str, body: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{KeyInit, Mac};
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// `parceltrail server` with its data directory in `home`, on the database `db`.
pub fn server_at(home: &Path, db: &str) -> Command {
    let mut c = server_cmd(home);
    c.args(["--db", db]);
    c
}

/// A valid UPS number from a 15-character body (`1Z` + body + its check digit).
pub fn ups_with(body: &str) -> String {
    let sum: u32 = body
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let v = c.to_digit(10).unwrap_or_else(|| (c as u32 - 63) % 10);
            if i % 2 == 1 { v * 2 } else { v }
        })
        .sum();
    format!("1Z{body}{}", (10 - sum % 10) % 10)
}

/// The `n`th valid UPS number of the tests' series.
pub fn ups(n: u32) -> String {
    ups_with(&format!("5R89390{n:08}"))
}
