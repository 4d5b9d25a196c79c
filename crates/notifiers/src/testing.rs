//! A test harness that observes real desktop notifications (cargo feature `testing`; Linux
//! and the BSDs).
//!
//! [`NotificationBus::start`] starts, in a fresh temporary directory:
//!
//! 1. its own Xvfb, always, on a display number Xvfb picks itself (`-displayfd`), so dunst
//!    never draws on the developer's screen and a test never depends on a real session (an
//!    existing `DISPLAY` is ignored);
//! 2. a private session bus (`dbus-daemon` with a configuration written to the directory: no
//!    service activation, so nothing but the harness's own dunst can answer);
//! 3. `dbus-monitor`, recording every `org.freedesktop.Notifications.Notify` call on that bus;
//! 4. dunst, with a minimal `dunstrc` written to the directory (the user's configuration is
//!    never read) and `markup = full`, so it advertises `body-markup` as most desktops do.
//!
//! Give the code under test the bus with [`NotificationBus::envs`] (or
//! [`NotificationBus::command`], which builds a [`Command`] with them; run it with
//! [`run_with_timeout`]): a child process such as the `parceltrail` binary needs
//! `DBUS_SESSION_BUS_ADDRESS` (and `DISPLAY`, for a window).
//! In-process code reads `DBUS_SESSION_BUS_ADDRESS` from the environment, which a
//! multi-threaded test must not change (`std::env::set_var` is unsound beside other threads),
//! so run it in a child process with [`NotificationBus::run_test_in_child`]: it re-runs one
//! (ignored) test of the current test binary with the bus in its environment.
//!
//! Then [`NotificationBus::wait_for`] (or [`NotificationBus::notifications`], once the sender
//! is done) lists the notifications raised, as [`Observed`] values parsed from `dbus-monitor`.
//! Dropping the bus kills every process it started and removes the directory. Each step has a
//! deadline, so nothing here hangs; a missing program is an error naming the package to install
//! (`scripts/setup` installs them all).
//!
//! Start one bus per test; do not share one through a `static` (statics are never dropped, so
//! its processes would outlive the test binary).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long each start-up step (Xvfb, the bus, dbus-monitor, dunst) may take.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Set (to `1`) in the environment of a test run by [`run_test_in_child`].
pub const CHILD_TEST_ENV: &str = "PARCELTRAIL_NOTIFY_CHILD_TEST";

const NOTIFY_MATCH: &str =
    "type='method_call',interface='org.freedesktop.Notifications',member='Notify'";

/// Why the harness could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A program the harness runs is not installed.
    #[error("{program} is not installed: apt-get install -y {package} (scripts/setup installs it)")]
    MissingProgram {
        /// The program looked for on `PATH`.
        program: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A process did not start or did not become ready in time.
    #[error("{what} did not start: {detail}")]
    Start {
        /// Which process.
        what: &'static str,
        /// What happened, with the end of its log.
        detail: String,
    },
    /// Fewer notifications than expected arrived in time.
    #[error("expected {expected} notification(s) within {waited:?}, observed {}: {observed:#?}", observed.len())]
    Timeout {
        /// How many were waited for.
        expected: usize,
        /// How long the wait was.
        waited: Duration,
        /// What did arrive.
        observed: Vec<Observed>,
    },
    /// A test run in a child process failed, did not run, or did not finish in time.
    #[error("child test {test:?} {outcome}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")]
    ChildTest {
        /// The test's name.
        test: String,
        /// What went wrong.
        outcome: String,
        /// Its standard output.
        stdout: String,
        /// Its standard error.
        stderr: String,
    },
    /// A query to the bus failed.
    #[error("bus query failed: {0}")]
    Query(String),
    /// An I/O error (temporary directory, spawning).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One `Notify` call seen on the bus (the arguments of
/// `org.freedesktop.Notifications.Notify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The caller's unique bus name (`:1.7`).
    pub sender: String,
    /// The application name.
    pub app_name: String,
    /// The id of the notification this one replaces (0: none).
    pub replaces_id: u32,
    /// The icon name or path.
    pub icon: String,
    /// The summary (one line).
    pub summary: String,
    /// The body, exactly as sent (escaped or not).
    pub body: String,
    /// The actions: identifier, label, identifier, label, …
    pub actions: Vec<String>,
    /// The hints by name. String values are given without quotes; others as `dbus-monitor`
    /// prints them after the type (`urgency` → `"1"`, a boolean → `"true"`).
    pub hints: BTreeMap<String, String>,
    /// The expiry timeout in milliseconds (-1: the server's default).
    pub expire_timeout: i32,
}

impl Observed {
    /// The `x-dunst-stack-tag` hint.
    pub fn stack_tag(&self) -> Option<&str> {
        self.hints.get("x-dunst-stack-tag").map(String::as_str)
    }

    /// The `urgency` hint: 0 low, 1 normal, 2 critical.
    pub fn urgency(&self) -> Option<u8> {
        self.hints.get("urgency").and_then(|u| u.parse().ok())
    }
}

/// Options for [`NotificationBus::builder`].
#[derive(Debug, Clone)]
pub struct NotificationBusBuilder {
    server: bool,
    body_markup: bool,
}

impl NotificationBusBuilder {
    /// Whether to run a notification server (Xvfb and dunst); default yes. Without one, the
    /// bus has no `org.freedesktop.Notifications` (the "no notification service" case).
    pub fn server(mut self, server: bool) -> Self {
        self.server = server;
        self
    }

    /// Whether dunst reads markup in bodies (`markup = full`, advertising the `body-markup`
    /// capability) or shows them as plain text (`markup = no`, not advertising it); default
    /// yes.
    pub fn body_markup(mut self, body_markup: bool) -> Self {
        self.body_markup = body_markup;
        self
    }

    /// Starts the processes (see the module docs).
    pub fn start(self) -> Result<NotificationBus, HarnessError> {
        NotificationBus::start_with(self)
    }
}

/// A private session bus with a notification server and a monitor (see the module docs).
#[derive(Debug)]
pub struct NotificationBus {
    // Declared first: dropped (so killed) before the directory is removed.
    processes: Processes,
    address: String,
    display: Option<String>,
    monitor: Arc<Monitor>,
    dir: tempfile::TempDir,
}

/// The processes, killed in reverse start order on drop.
#[derive(Debug, Default)]
struct Processes(Vec<(&'static str, Child)>);

impl Drop for Processes {
    fn drop(&mut self) {
        for (name, child) in self.0.iter_mut().rev() {
            if let Err(e) = child.kill() {
                tracing::debug!(name, error = %e, "could not kill");
            }
            let _ = child.wait();
        }
    }
}

/// `dbus-monitor`'s output so far.
#[derive(Debug, Default)]
struct Monitor {
    output: Mutex<Vec<u8>>,
    grew: Condvar,
}

impl Monitor {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Waits until `done` holds for the output or `deadline` passes; the last output.
    fn wait_until(&self, deadline: Instant, done: impl Fn(&str) -> bool) -> (bool, String) {
        let mut output = self.output.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let text = String::from_utf8_lossy(&output).into_owned();
            if done(&text) {
                return (true, text);
            }
            let now = Instant::now();
            if now >= deadline {
                return (false, text);
            }
            output = self
                .grew
                .wait_timeout(output, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl NotificationBus {
    /// Starts a bus with dunst reading markup (see the module docs).
    pub fn start() -> Result<Self, HarnessError> {
        Self::builder().start()
    }

    /// Options: without a notification server, or with dunst not reading markup.
    pub fn builder() -> NotificationBusBuilder {
        NotificationBusBuilder {
            server: true,
            body_markup: true,
        }
    }

    fn start_with(options: NotificationBusBuilder) -> Result<Self, HarnessError> {
        require("dbus-daemon", "dbus")?;
        require("dbus-monitor", "dbus")?;
        require("dbus-send", "dbus")?;
        if options.server {
            require("Xvfb", "xvfb")?;
            require("dunst", "dunst")?;
        }
        let dir = temp_dir()?;
        let mut processes = Processes::default();

        let display = if options.server {
            let (child, display) = start_xvfb(dir.path())?;
            processes.0.push(("Xvfb", child));
            Some(display)
        } else {
            None
        };

        let (child, address) = start_bus(dir.path())?;
        processes.0.push(("dbus-daemon", child));

        let monitor = Arc::new(Monitor::default());
        let child = start_monitor(dir.path(), &address, &monitor)?;
        processes.0.push(("dbus-monitor", child));

        if let Some(display) = &display {
            let child = start_dunst(dir.path(), &address, display, options.body_markup)?;
            processes.0.push(("dunst", child));
            let (_, dunst) = processes.0.last_mut().expect("just pushed");
            wait_for_name(dir.path(), &address, dunst)?;
        }
        // (tracing's macros shadow a variable named `display`.)
        let x_display = display.as_deref().unwrap_or("none");
        tracing::debug!(
            %address,
            display = x_display,
            dir = %dir.path().display(),
            "notification bus ready"
        );
        Ok(Self {
            processes,
            address,
            display,
            monitor,
            dir,
        })
    }

    /// The bus's address: the value of `DBUS_SESSION_BUS_ADDRESS` for code that should use it.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The X display dunst runs on (`:3`), the value of `DISPLAY` for a program that opens a
    /// window; `None` without a notification server.
    pub fn display(&self) -> Option<&str> {
        self.display.as_deref()
    }

    /// The temporary directory the processes' configuration and logs are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment a child process needs to use this bus: `DBUS_SESSION_BUS_ADDRESS` and,
    /// with a server, `DISPLAY`.
    pub fn envs(&self) -> Vec<(&'static str, String)> {
        let mut envs = vec![("DBUS_SESSION_BUS_ADDRESS", self.address.clone())];
        if let Some(display) = &self.display {
            envs.push(("DISPLAY", display.clone()));
        }
        envs
    }

    /// A [`Command`] for `program` with [`NotificationBus::envs`] set (and `WAYLAND_DISPLAY`
    /// removed, so a GUI program uses the X display) and stdin closed.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .envs(self.envs())
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null());
        command
    }

    /// Runs the test `test` of the current test binary in a child process on this bus (see
    /// [`run_test_in_child`]).
    pub fn run_test_in_child(&self, test: &str, timeout: Duration) -> Result<String, HarnessError> {
        let envs = self.envs();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_test_in_child(test, &envs, timeout)
    }

    /// Every `Notify` call observed so far, in order. Once the sender has finished (a child
    /// process exited, a `send` returned), this is the exact list: each call is observed before
    /// its reply reaches the caller; allow the monitor's pipe a moment with
    /// [`NotificationBus::wait_for`] first.
    pub fn notifications(&self) -> Vec<Observed> {
        parse_monitor_output(&self.monitor.text())
    }

    /// Waits until at least `n` notifications have been observed, for at most `timeout`; all
    /// those observed (possibly more than `n`), or [`HarnessError::Timeout`] with what came.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<Observed>, HarnessError> {
        let (done, text) = self.monitor.wait_until(Instant::now() + timeout, |text| {
            parse_monitor_output(text).len() >= n
        });
        let observed = parse_monitor_output(&text);
        if done {
            Ok(observed)
        } else {
            Err(HarnessError::Timeout {
                expected: n,
                waited: timeout,
                observed,
            })
        }
    }

    /// How many notifications dunst holds now, shown or waiting to be shown (dunst's
    /// `displayedLength` + `waitingLength`): a notification that replaced another with the same
    /// stack tag does not add to it.
    pub fn shown_count(&self) -> Result<u32, HarnessError> {
        if self.display.is_none() {
            return Err(HarnessError::Query(
                "no notification server on this bus".into(),
            ));
        }
        Ok(self.dunst_property("displayedLength")? + self.dunst_property("waitingLength")?)
    }

    /// Stops the notification server (`SIGSTOP`): it keeps its name on the bus but answers
    /// nothing, as a hung daemon does. It stays stopped until the bus is dropped.
    pub fn stall_server(&self) -> Result<(), HarnessError> {
        let Some((_, dunst)) = self.processes.0.iter().find(|(name, _)| *name == "dunst") else {
            return Err(HarnessError::Query(
                "no notification server on this bus".into(),
            ));
        };
        let status = Command::new("sh")
            .args(["-c", "kill -STOP \"$1\"", "sh", &dunst.id().to_string()])
            .stdin(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(HarnessError::Query(format!("kill -STOP dunst: {status}")))
        }
    }

    fn dunst_property(&self, name: &str) -> Result<u32, HarnessError> {
        let reply = dbus_send(
            self.dir.path(),
            &self.address,
            &[
                "--dest=org.freedesktop.Notifications",
                "/org/freedesktop/Notifications",
                "org.freedesktop.DBus.Properties.Get",
                "string:org.dunstproject.cmd0",
                &format!("string:{name}"),
            ],
        )?;
        // `variant       uint32 2`
        reply
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| HarnessError::Query(format!("unexpected reply for {name}: {reply}")))
    }
}

/// Whether this process is a test run by [`run_test_in_child`].
pub fn in_child_test() -> bool {
    std::env::var_os(CHILD_TEST_ENV).is_some_and(|v| v == "1")
}

/// Runs the test named `test` (its path within the test binary, e.g. `sends_three`) of the
/// running test binary in a child process, with `envs` and [`CHILD_TEST_ENV`]`=1` added to
/// its environment, and waits at most `timeout` for it (then kills it). Ok with the child's
/// output if the test ran and passed; otherwise [`HarnessError::ChildTest`] with its output.
///
/// The child test is typically `#[ignore]`d (it runs here with `--include-ignored`), so the
/// normal run lists it as ignored, and starts with `if !in_child_test() { return; }`.
/// This is how a test changes the environment for in-process code without
/// `std::env::set_var` (unsound while other threads run).
pub fn run_test_in_child(
    test: &str,
    envs: &[(&str, &str)],
    timeout: Duration,
) -> Result<String, HarnessError> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args([test, "--exact", "--include-ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .envs(envs.iter().copied())
        .env(CHILD_TEST_ENV, "1");
    let Finished {
        status,
        stdout,
        stderr,
    } = run_with_timeout(&mut command, timeout)?;
    let outcome = match status {
        None => format!("did not finish within {timeout:?} (killed)"),
        Some(status) if !status.success() => format!("failed ({status})"),
        Some(_) if !stdout.contains("test result: ok. 1 passed") => {
            "did not run (no test by that exact name?)".to_string()
        }
        Some(_) => return Ok(stdout),
    };
    Err(HarnessError::ChildTest {
        test: test.to_string(),
        outcome,
        stdout,
        stderr,
    })
}

/// What a process run by [`run_with_timeout`] did.
#[derive(Debug, Clone)]
pub struct Finished {
    /// How it exited; `None` if it was still running at the deadline (it was then killed).
    pub status: Option<ExitStatus>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `command` with stdin closed and its output captured, for at most `timeout` (then kills
/// it), so a test of a child process (the `parceltrail` binary from
/// [`NotificationBus::command`], say) cannot hang.
pub fn run_with_timeout(
    command: &mut Command,
    timeout: Duration,
) -> Result<Finished, HarnessError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = read_all_in_background(child.stdout.take());
    let stderr = read_all_in_background(child.stderr.take());
    let status = wait_with_deadline(&mut child, Instant::now() + timeout)?;
    let collect =
        |rx: mpsc::Receiver<String>| rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    Ok(Finished {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

fn read_all_in_background<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// Waits for `child` until `deadline`; `None` if it was still running (it is then killed).
fn wait_with_deadline(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Fails with the package to install if `program` is not on `PATH`.
fn require(program: &'static str, package: &'static str) -> Result<(), HarnessError> {
    use std::os::unix::fs::PermissionsExt;
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    if found {
        Ok(())
    } else {
        Err(HarnessError::MissingProgram { program, package })
    }
}

/// A temporary directory short enough to hold the bus socket (unix socket paths are limited
/// to about 100 bytes): under `TMPDIR`, or `/tmp` if that is too long.
fn temp_dir() -> io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("parceltrail-notify.")
        .tempdir()?;
    if dir.path().join("bus").as_os_str().len() <= 100 {
        return Ok(dir);
    }
    tempfile::Builder::new()
        .prefix("parceltrail-notify.")
        .tempdir_in("/tmp")
}

/// A log file in `dir` for a process's stderr.
fn log_file(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let path = dir.join(name);
    let file = File::create(&path)?;
    Ok((path, file))
}

/// The end of a log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(2000);
    let start = (start..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    format!("log {}: {}", path.display(), text[start..].trim())
}

/// Reads `stdout` line by line on a thread (to its end, so the process never writes to a
/// closed pipe); the lines come through the channel.
fn lines_in_background(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Nobody listens any more: keep draining.
                continue;
            }
        }
    });
    rx
}

/// Starts Xvfb on a free display it picks itself; the child and the display (`:N`).
fn start_xvfb(dir: &Path) -> Result<(Child, String), HarnessError> {
    let (log, stderr) = log_file(dir, "xvfb.log")?;
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "640x480x24",
            "-nolisten",
            "tcp",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()?;
    let lines = lines_in_background(child.stdout.take().expect("piped"));
    match lines.recv_timeout(STARTUP_TIMEOUT) {
        Ok(n) if n.trim().parse::<u32>().is_ok() => Ok((child, format!(":{}", n.trim()))),
        other => {
            let _ = child.kill();
            let _ = child.wait();
            Err(HarnessError::Start {
                what: "Xvfb",
                detail: format!("no display number ({other:?}); {}", log_tail(&log)),
            })
        }
    }
}

/// Starts a private session bus with no service activation; the child and its address.
fn start_bus(dir: &Path) -> Result<(Child, String), HarnessError> {
    let config = dir.join("bus.conf");
    let socket = dir.join("bus");
    fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            socket.display()
        ),
    )?;
    let (log, stderr) = log_file(dir, "bus.log")?;
    let mut child = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--print-address=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()?;
    let lines = lines_in_background(child.stdout.take().expect("piped"));
    match lines.recv_timeout(STARTUP_TIMEOUT) {
        Ok(address) if address.starts_with("unix:") => Ok((child, address.trim().to_string())),
        other => {
            let _ = child.kill();
            let _ = child.wait();
            Err(HarnessError::Start {
                what: "dbus-daemon",
                detail: format!("no address ({other:?}); {}", log_tail(&log)),
            })
        }
    }
}

/// Starts `dbus-monitor` for `Notify` calls, its output going to `monitor`, and waits until
/// it monitors (it prints `NameLost` once it has become a monitor).
fn start_monitor(dir: &Path, address: &str, monitor: &Arc<Monitor>) -> Result<Child, HarnessError> {
    let (log, stderr) = log_file(dir, "monitor.log")?;
    let mut child = Command::new("dbus-monitor")
        .args(["--address", address, NOTIFY_MATCH])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()?;
    let mut stdout = child.stdout.take().expect("piped");
    let sink = Arc::clone(monitor);
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    sink.output
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]);
                    sink.grew.notify_all();
                }
            }
        }
    });
    let (ready, text) = monitor.wait_until(Instant::now() + STARTUP_TIMEOUT, |text| {
        text.contains("member=NameLost")
    });
    if ready {
        Ok(child)
    } else {
        let _ = child.kill();
        let _ = child.wait();
        Err(HarnessError::Start {
            what: "dbus-monitor",
            detail: format!(
                "did not become a monitor (output {text:?}); {}",
                log_tail(&log)
            ),
        })
    }
}

/// Starts dunst on `display` and `address` with a minimal configuration of its own.
fn start_dunst(
    dir: &Path,
    address: &str,
    display: &str,
    body_markup: bool,
) -> Result<Child, HarnessError> {
    let home = dir.join("home");
    fs::create_dir_all(home.join(".config"))?;
    let config = dir.join("dunstrc");
    let markup = if body_markup { "full" } else { "no" };
    fs::write(
        &config,
        format!("[global]\n    markup = {markup}\n    monitor = 0\n    follow = none\n"),
    )?;
    let (_, stderr) = log_file(dir, "dunst.log")?;
    let child = Command::new("dunst")
        .arg("-config")
        .arg(&config)
        .env("DISPLAY", display)
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()?;
    Ok(child)
}

/// Waits until dunst owns `org.freedesktop.Notifications` on the bus.
fn wait_for_name(dir: &Path, address: &str, dunst: &mut Child) -> Result<(), HarnessError> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let reply = dbus_send(
            dir,
            address,
            &[
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.Notifications",
            ],
        );
        if reply.is_ok_and(|r| r.contains("boolean true")) {
            return Ok(());
        }
        let log = dir.join("dunst.log");
        if let Some(status) = dunst.try_wait()? {
            return Err(HarnessError::Start {
                what: "dunst",
                detail: format!("exited ({status}); {}", log_tail(&log)),
            });
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::Start {
                what: "dunst",
                detail: format!(
                    "did not own org.freedesktop.Notifications within {STARTUP_TIMEOUT:?}; {}",
                    log_tail(&log)
                ),
            });
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// One `dbus-send --print-reply` call on the bus at `address`; its output.
fn dbus_send(dir: &Path, address: &str, args: &[&str]) -> Result<String, HarnessError> {
    let finished = run_with_timeout(
        Command::new("dbus-send")
            .arg(format!("--bus={address}"))
            .args(["--print-reply", "--reply-timeout=2000"])
            .args(args)
            .current_dir(dir),
        Duration::from_secs(5),
    )?;
    match finished.status {
        Some(s) if s.success() => Ok(finished.stdout),
        status => Err(HarnessError::Query(format!(
            "dbus-send {}: {status:?} {}",
            args.join(" "),
            finished.stderr.trim()
        ))),
    }
}

/// The `Notify` calls in `dbus-monitor`'s (default, "pretty") output, in order.
///
/// `dbus-monitor` prints strings between quotes without escaping them, so a string is read up
/// to the quote that is followed by what the `Notify` signature puts next (a summary ending in
/// `"` + newline + `   string "` would be cut there: tests choose their texts). A call not yet
/// complete in the output is left for the next read.
pub fn parse_monitor_output(text: &str) -> Vec<Observed> {
    let mut observed = Vec::new();
    let mut rest = text;
    while let Some((line, after)) = rest.split_once('\n') {
        if line.starts_with("method call ") && line.contains("member=Notify") {
            match parse_notify(line, after) {
                Some((call, remaining)) => {
                    observed.push(call);
                    rest = remaining;
                }
                None => break,
            }
        } else {
            rest = after;
        }
    }
    observed
}

fn parse_notify<'a>(header: &str, s: &'a str) -> Option<(Observed, &'a str)> {
    let sender = header
        .split_whitespace()
        .find_map(|field| field.strip_prefix("sender="))
        .unwrap_or_default()
        .to_string();
    let s = s.strip_prefix("   string \"")?;
    let (app_name, s) = s.split_once("\"\n   uint32 ")?;
    let (replaces_id, s) = s.split_once('\n')?;
    let s = s.strip_prefix("   string \"")?;
    let (icon, s) = s.split_once("\"\n   string \"")?;
    let (summary, s) = s.split_once("\"\n   string \"")?;
    let (body, s) = s.split_once("\"\n   array [\n")?;
    let (mut actions_text, s) = s.split_once("   ]\n   array [\n")?;
    let (mut hints_text, s) = s.split_once("   ]\n   int32 ")?;
    let (expire_timeout, s) = s.split_once('\n')?;

    let mut actions = Vec::new();
    while let Some(after) = actions_text.strip_prefix("      string \"") {
        let (action, rest) = after.split_once("\"\n")?;
        actions.push(action.to_string());
        actions_text = rest;
    }
    let mut hints = BTreeMap::new();
    while let Some(after) = hints_text.strip_prefix("      dict entry(\n         string \"") {
        let (name, rest) = after.split_once("\"\n         variant")?;
        let (value, rest) = rest.split_once("\n      )\n")?;
        let value = value.trim();
        let value = match value.split_once(' ') {
            Some(("string", quoted)) => quoted
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(quoted),
            Some((_, plain)) => plain,
            None => value,
        };
        hints.insert(name.to_string(), value.to_string());
        hints_text = rest;
    }
    let call = Observed {
        sender,
        app_name: app_name.to_string(),
        replaces_id: replaces_id.trim().parse().ok()?,
        icon: icon.to_string(),
        summary: summary.to_string(),
        body: body.to_string(),
        actions,
        hints,
        expire_timeout: expire_timeout.trim().parse().ok()?,
    };
    Some((call, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"signal time=1.1 sender=org.freedesktop.DBus -> destination=:1.0 serial=2 path=/org/freedesktop/DBus; interface=org.freedesktop.DBus; member=NameAcquired
   string ":1.0"
signal time=1.2 sender=org.freedesktop.DBus -> destination=:1.0 serial=4 path=/org/freedesktop/DBus; interface=org.freedesktop.DBus; member=NameLost
   string ":1.0"
method call time=1.3 sender=:1.3 -> destination=:1.1 serial=9 path=/org/freedesktop/Notifications; interface=org.freedesktop.Notifications; member=Notify
   string "Parceltrail"
   uint32 0
   string "package-x-generic"
   string "Sum "q""
   string "body <b>x</b>
line2 "q"
   string "evil"
   array [
      string "default"
      string "Open"
   ]
   array [
      dict entry(
         string "x-dunst-stack-tag"
         variant             string "abc"
      )
      dict entry(
         string "urgency"
         variant             byte 2
      )
   ]
   int32 -1
method call time=1.4 sender=:1.4 -> destination=:1.1 serial=9 path=/org/freedesktop/Notifications; interface=org.freedesktop.Notifications; member=Notify
   string "notify-send"
   uint32 7
   string ""
   string "Second"
   string ""
   array [
   ]
   array [
   ]
   int32 5000
method call time=1.5 sender=:1.5 -> destination=:1.1 serial=9 path=/org/freedesktop/Notifications; interface=org.freedesktop.Notifications; member=Notify
   string "partial"
   uint32 0
"#;

    #[test]
    fn parses_complete_notify_calls() {
        let observed = parse_monitor_output(SAMPLE);
        assert_eq!(observed.len(), 2, "{observed:#?}");
        let first = &observed[0];
        assert_eq!(first.sender, ":1.3");
        assert_eq!(first.app_name, "Parceltrail");
        assert_eq!(first.icon, "package-x-generic");
        assert_eq!(first.summary, r#"Sum "q""#);
        assert_eq!(first.body, "body <b>x</b>\nline2 \"q\"\n   string \"evil");
        assert_eq!(first.actions, ["default", "Open"]);
        assert_eq!(first.stack_tag(), Some("abc"));
        assert_eq!(first.urgency(), Some(2));
        assert_eq!(first.expire_timeout, -1);
        let second = &observed[1];
        assert_eq!((second.replaces_id, second.expire_timeout), (7, 5000));
        assert_eq!(
            (second.summary.as_str(), second.body.as_str()),
            ("Second", "")
        );
        assert!(second.actions.is_empty() && second.hints.is_empty());
    }

    #[test]
    fn missing_program_names_the_package() {
        let e = require("parceltrail-no-such-program", "some-package").unwrap_err();
        assert_eq!(
            e.to_string(),
            "parceltrail-no-such-program is not installed: apt-get install -y some-package \
             (scripts/setup installs it)"
        );
    }
}
