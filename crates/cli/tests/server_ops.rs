//! Running the shop server as its operator does: a config file beside flags and variables,
//! request ids, JSON logs that carry them and no secrets, metrics, per-key limits, and a clean
//! stop on SIGTERM.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ShopServer, client, server_cmd};
use serde_json::{Value, json};

fn bin(home: &Path) -> Command {
    server_cmd(home)
}

fn shop(home: &Path, db: &str) -> Value {
    let o = bin(home)
        .args([
            "--db",
            db,
            "shop",
            "create",
            "Ops",
            "--admin-email",
            "ops@example.com",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_json_logs_metrics_and_a_clean_stop() {
    let home = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", home.path().join("s.db").display());
    let created = shop(home.path(), &db);
    let key = created["api_key"].as_str().unwrap();
    let mut cmd = bin(home.path());
    cmd.args([
        "--db",
        &db,
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ]);
    let server = ShopServer::start(cmd, true);
    let c = client();

    // Every answer has an id; a proxy's plain id is kept, anything else replaced.
    let res = c
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let res = c
        .get(format!("{}/healthz", server.base))
        .header("x-request-id", "proxy-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "proxy-42");
    let res = c
        .get(format!("{}/healthz", server.base))
        .header("x-request-id", "bad id\twith tab")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id\twith tab");

    // Requests whose paths and bodies hold things no log may keep.
    let secret_path = "01a2aaaa-0000-7000-8000-00000000beef";
    c.delete(format!("{}/api/v1/keys/{secret_path}", server.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    c.post(format!("{}/api/v1/login", server.base))
        .json(&json!({"email": "ops@example.com", "password": "hunter2 is my password"}))
        .send()
        .await
        .unwrap();

    // Metrics, from this machine only.
    let metrics = c
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"parceltrail_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/v1/keys/{id}""#),
        "{metrics}"
    );
    assert!(metrics.contains("parceltrail_http_request_duration_seconds_bucket"));
    let res = c
        .get(format!("{}/metrics", server.base))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "no JSON log lines: {log}");
    let answered: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "answered")
        .collect();
    assert!(
        answered
            .iter()
            .any(|l| l["span"]["request_id"] == id.as_str() && l["span"]["route"] == "/healthz"),
        "{log}"
    );
    assert!(
        answered
            .iter()
            .any(|l| l["span"]["request_id"] == "proxy-42")
    );
    assert!(!log.contains(secret_path), "a path was logged: {log}");
    assert!(!log.contains(key), "an API key was logged");
    assert!(!log.contains("hunter2"), "a password was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_sets_what_flags_and_variables_do_not() {
    let home = tempfile::tempdir().unwrap();
    let db_file = format!("sqlite:{}", home.path().join("from-file.db").display());
    let created = shop(home.path(), &db_file);
    let key = created["api_key"].as_str().unwrap();
    let config = home.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "db = {db_file:?}\nlisten = \"127.0.0.1:0\"\nkey_requests_per_second = 1\nlog_format = \"text\"\n"
        ),
    )
    .unwrap();
    // The variable wins over the file's 1 a second; the flag wins over the variable.
    let mut cmd = bin(home.path());
    cmd.env("PARCELTRAIL_SERVER_KEY_REQUESTS_PER_SECOND", "1000")
        .args([
            "--config",
            config.to_str().unwrap(),
            "--key-requests-per-second",
            "2",
        ]);
    let server = ShopServer::start(cmd, true);
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let res = c
            .get(format!("{}/api/v1/shop", server.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    // The database came from the file (the key is that shop's); 2 a second, 4 in a burst.
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "{statuses:?}"
    );
    assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");
    let (_, log) = server.stop();
    assert!(log.contains("Stopping"), "{log}");

    // A mistake in the file names it, the setting and what is expected.
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nlogin_per_minute = 5\n").unwrap();
    let o = bin(home.path())
        .args(["--config", config.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("server.toml") && err.contains("login_per_minute"),
        "{err}"
    );
    std::fs::write(&config, "key_failures_per_minute = 0\n").unwrap();
    let o = bin(home.path())
        .args(["--config", config.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("out of range"));
}
