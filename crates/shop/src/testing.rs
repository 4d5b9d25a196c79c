//! A real PostgreSQL for tests: `PARCELTRAIL_TEST_POSTGRES` (a server's URL, e.g.
//! `postgres://postgres@127.0.0.1:55432`) when set, else a scratch cluster that this process
//! starts from the machine's PostgreSQL binaries (`scripts/setup` installs them) and that
//! stops when the process ends. Each test gets a database of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A PostgreSQL server for tests.
#[derive(Debug)]
pub struct Postgres {
    /// `postgres://USER@HOST:PORT`, without a database.
    pub base_url: String,
}

/// The server, started at first use.
pub fn postgres() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| match std::env::var("PARCELTRAIL_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Postgres {
            base_url: url.trim_end_matches('/').to_owned(),
        },
        _ => start_scratch_cluster(),
    })
}

impl Postgres {
    /// A new, empty database; its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::now_v7().simple());
        let (client, conn) = tokio_postgres::connect(
            &format!("{}/postgres", self.base_url),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {}: {e}", self.base_url));
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
        drop(client);
        let _ = task.await;
        format!("{}/{name}", self.base_url)
    }
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    // The newest major version installed.
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().unwrap_or_else(|| {
        panic!("no PostgreSQL server binaries under /usr/lib/postgresql: run scripts/setup (it installs Debian's postgresql), or set PARCELTRAIL_TEST_POSTGRES to a running server's URL")
    })
}

fn is_root() -> bool {
    // initdb refuses to run as root: then the cluster runs as the `postgres` account.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn as_server_user(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn run(mut c: Command, what: &str) {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_scratch_cluster() -> Postgres {
    let bin = bin_dir();
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("parceltrail-pg-")
        .tempdir()
        .expect("a scratch folder")
        .keep();
    if root {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres:").arg(&dir);
                c
            },
            "chown the scratch cluster's folder",
        );
    }
    let data = dir.join("data");
    let mut init = as_server_user(root, &bin.join("initdb"));
    init.arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
    run(init, "initdb");
    let port = free_port();
    let mut start = as_server_user(root, &bin.join("pg_ctl"));
    start
        .arg("-D")
        .arg(&data)
        .arg("-w")
        .arg("-l")
        .arg(dir.join("log"))
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.display()
        ));
    start.arg("start");
    run(start, "pg_ctl start");
    // Stop the cluster when this process ends, however it ends.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runuser}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        runuser = if root { "runuser -u postgres -- " } else { "" },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    // Left running on purpose: it outlives this process to stop the cluster after it.
    #[allow(clippy::zombie_processes)]
    let _watchdog = Command::new("sh")
        .args(["-c", &stop])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the cluster's watchdog");
    Postgres {
        base_url: format!("postgres://postgres@127.0.0.1:{port}"),
    }
}
