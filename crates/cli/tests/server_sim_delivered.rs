//! The seeds' test end to end: the simulator (speaking DHL's API, polled by the shop server)
//! takes a parcel to "Delivered", and its customer gets one email and one SMS saying so, to a
//! real SMTP server and a local server speaking Twilio's API; the server is restarted in the
//! middle of the journey, and with two replicas on PostgreSQL nothing is sent twice.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    ShopServer, Smtp, TWILIO_SID, TWILIO_TOKEN, TwilioSink, client, server_cmd, start_sim,
};
use serde_json::{Value, json};

fn replica(home: &Path, db: &str, sim: &str, smtp: &Smtp, twilio: &str) -> ShopServer {
    let mut c = server_cmd(home);
    c.args(["--db", db, "--listen", "127.0.0.1:0", "--sim", sim])
        .args(["--speed", "900", "--poll-lease", "2"])
        .env("PARCELTRAIL_SERVER_SMTP_URL", &smtp.url)
        .env("PARCELTRAIL_SERVER_MAIL_FROM", "track@trailhead.example")
        .env("PARCELTRAIL_SERVER_TWILIO_URL", twilio)
        .env("PARCELTRAIL_SERVER_TWILIO_SID", TWILIO_SID)
        .env("PARCELTRAIL_SERVER_TWILIO_TOKEN", TWILIO_TOKEN)
        .env("PARCELTRAIL_SERVER_TWILIO_FROM", "+15005550006");
    ShopServer::start(c, false)
}

fn subject(raw: &str) -> String {
    raw.replace("\r\n", "\n")
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .replace("\n ", " ")
        .lines()
        .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
        .unwrap_or_default()
}

async fn delivered_once(db: String, replicas: usize) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let smtp = Smtp::start();
    let (twilio, twilio_url) = TwilioSink::start().await;
    // Every journey starts after the simulator does, and takes about a minute.
    let (_sim, sim) = start_sim(&[
        "--parcels",
        "6",
        "--seed",
        "3",
        "--speed",
        "3600",
        "--stagger",
        "0",
    ]);
    let mut cmd = server_cmd(h);
    cmd.args(["--db", &db]);
    let key = common::make_shop(cmd, "Trailhead", "o@trailhead.example")["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = client();
    let parcels: Value = c
        .get(format!("{sim}/sim/parcels"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parcel = parcels
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["final_status"] == "delivered")
        .expect("a journey that ends delivered")
        .clone();
    let number = parcel["number"].as_str().unwrap().to_owned();

    let mut servers: Vec<ShopServer> = (0..replicas)
        .map(|_| replica(h, &db, &sim, &smtp, &twilio_url))
        .collect();
    let (s, order) = common::api(
        &c,
        &servers[0].base,
        Some(&key),
        "POST",
        "/orders",
        Some(json!({"order_number": "S-1",
                    "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+447700900123"},
                    "shipments": [{"tracking_number": number, "carrier": "dhl"}]})),
    )
    .await;
    assert_eq!(s, 201, "{order}");

    // The first news reaches the customer; then every server stops and starts again while
    // the parcel is still on its way.
    let first = tokio::time::timeout(Duration::from_secs(60), async {
        while smtp.messages().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(first.is_ok(), "no news of the parcel within 60 s");
    let delivered = |m: &String| subject(m).ends_with("has been delivered");
    assert!(
        !smtp.messages().iter().any(delivered),
        "delivered before the restart: the journey is too quick for the test"
    );
    let stopped = servers.remove(0);
    stopped.stop();
    servers.push(replica(h, &db, &sim, &smtp, &twilio_url));

    let done = tokio::time::timeout(Duration::from_secs(120), async {
        while !(smtp.messages().iter().any(delivered)
            && twilio.got().iter().any(|t| t.body.contains(" delivered.")))
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "no delivered email and SMS: {:#?}",
        smtp.messages()
            .iter()
            .map(|m| subject(m))
            .collect::<Vec<_>>()
    );
    // Time for a second copy, were there one to come (another replica, a retry).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mail: Vec<String> = smtp.messages().iter().map(|m| subject(m)).collect();
    let texts: Vec<String> = twilio.got().into_iter().map(|t| t.body).collect();
    assert_eq!(
        mail.iter()
            .filter(|s| s.ends_with("has been delivered"))
            .count(),
        1,
        "{mail:#?}"
    );
    assert_eq!(
        texts.iter().filter(|t| t.contains(" delivered.")).count(),
        1,
        "{texts:#?}"
    );
    // Each piece of news once, on each channel.
    let mut unique = mail.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), mail.len(), "{mail:#?}");
    assert_eq!(mail.len(), texts.len(), "{mail:#?} {texts:#?}");
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_delivers_and_the_customer_gets_one_email_and_one_sms_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    delivered_once(
        format!("sqlite:{}", dir.path().join("server.db").display()),
        1,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_delivers_once_with_two_replicas_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    delivered_once(db, 2).await;
}
