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
