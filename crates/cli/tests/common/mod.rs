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

/// A call to the shop server's API (`path` after `/api/v1`), with a key or without (the
/// public tracking API): the status and the JSON answer (null when there is none).
#[allow(dead_code)] // Not every test file calls the API this way.
pub async fn api(
    c: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut r = c.request(method.parse().unwrap(), format!("{base}/api/v1{path}"));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(serde_json::Value::Null))
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

/// A loopback port nothing listens on (now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real SMTP server on loopback: aiosmtpd (PyPI, installed by `scripts/setup`) writing each
/// message it receives to a Maildir. Stopped when dropped.
pub struct Smtp {
    child: Child,
    /// `smtp://127.0.0.1:PORT`.
    pub url: String,
    dir: tempfile::TempDir,
}

impl Smtp {
    pub fn start() -> Smtp {
        Smtp::start_on(free_port())
    }

    /// On `port` (one a server was told of before anything listened there).
    pub fn start_on(port: u16) -> Smtp {
        let python = std::path::PathBuf::from(std::env::var("HOME").unwrap())
            .join(".cache/parceltrail/smtp/bin/python");
        assert!(
            python.exists(),
            "aiosmtpd is not installed at {}: run scripts/setup",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        // aiosmtpd's Mailbox, refusing for good (550) any recipient at `refused.example`.
        std::fs::write(
            dir.path().join("picky.py"),
            concat!(
                "from aiosmtpd.handlers import Mailbox\n",
                "class Picky(Mailbox):\n",
                "    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):\n",
                "        if address.lower().endswith('@refused.example'):\n",
                "            return '550 5.1.1 No such mailbox here'\n",
                "        envelope.rcpt_tos.append(address)\n",
                "        return '250 OK'\n",
            ),
        )
        .unwrap();
        let mut child = Command::new(python)
            .env("PYTHONPATH", dir.path())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "picky.Picky"])
            .arg(dir.path().join("mail"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Smtp {
                    child,
                    url: format!("smtp://127.0.0.1:{port}"),
                    dir,
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start on port {port}");
    }

    /// Every message received so far, as sent (headers and body), oldest first.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("mail/new");
        let mut files: Vec<_> = std::fs::read_dir(&new)
            .map(|d| d.filter_map(|e| e.ok()).collect())
            .unwrap_or_default();
        files.sort_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message a [`TwilioSink`] was asked to send.
#[derive(Clone, Debug)]
pub struct Texted {
    pub to: String,
    pub from: String,
    pub body: String,
    pub status_callback: Option<String>,
    /// The SID it was answered with.
    pub sid: String,
}

/// A local server speaking Twilio's Messages API (`POST
/// /2010-04-01/Accounts/{Sid}/Messages.json` with basic auth and a form body, answered `201`
/// with the message's JSON), recording what it was asked to send.
#[derive(Clone, Default)]
pub struct TwilioSink {
    got: std::sync::Arc<std::sync::Mutex<Vec<Texted>>>,
}

pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_TOKEN: &str = "twilio-auth-token";

impl TwilioSink {
    pub async fn start() -> (TwilioSink, String) {
        use axum::http::StatusCode;
        async fn create(
            axum::extract::State(sink): axum::extract::State<TwilioSink>,
            axum::extract::Path(sid): axum::extract::Path<String>,
            headers: axum::http::HeaderMap,
            body: String,
        ) -> (StatusCode, String) {
            use base64::Engine;
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"))
            );
            if sid != TWILIO_SID
                || headers.get("authorization").map(|v| v.as_bytes()) != Some(want.as_bytes())
            {
                return (
                    StatusCode::UNAUTHORIZED,
                    r#"{"code":20003,"message":"Authenticate"}"#.into(),
                );
            }
            let form: std::collections::HashMap<String, String> = url_form(&body);
            let mut got = sink.got.lock().unwrap();
            let n = got.len() + 1;
            let t = Texted {
                sid: format!("SM{n:032}"),
                to: form.get("To").cloned().unwrap_or_default(),
                from: form.get("From").cloned().unwrap_or_default(),
                body: form.get("Body").cloned().unwrap_or_default(),
                status_callback: form.get("StatusCallback").cloned(),
            };
            got.push(t.clone());
            (
                StatusCode::CREATED,
                serde_json::json!({"sid": t.sid, "status": "queued", "to": t.to, "from": t.from, "body": t.body}).to_string(),
            )
        }
        let sink = TwilioSink::default();
        let app = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                axum::routing::post(create),
            )
            .with_state(sink.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (sink, format!("http://127.0.0.1:{port}"))
    }

    pub fn got(&self) -> Vec<Texted> {
        self.got.lock().unwrap().clone()
    }
}

/// An `application/x-www-form-urlencoded` body, decoded.
pub fn url_form(body: &str) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

/// Quoted-printable text decoded (soft line breaks joined, `=XX` as its byte): enough to read
/// an email's words.
pub fn qp(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `shop create NAME --json` run with `cmd` (the server's command for its database): the
/// shop's id, API key and set-up link.
pub fn make_shop(mut cmd: Command, name: &str, admin: &str) -> serde_json::Value {
    let o = cmd
        .args(["shop", "create", name, "--admin-email", admin, "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}
