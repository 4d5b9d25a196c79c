//! What the end-to-end tests share: the binary, and `parceltrail sim` as a child process.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
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
