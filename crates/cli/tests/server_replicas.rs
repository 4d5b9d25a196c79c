//! Three `parceltrail server` replicas on one PostgreSQL, polling a `parceltrail sim`'s
//! parcels, one of them killed (SIGKILL) mid-run: at the simulator, no number was asked
//! about twice within a poll interval (claims with a lease, taken over when a dead replica's
//! run out); through the API, every parcel's events are the simulator's journey, each once;
//! at a webhook receiver on loopback, every change on the shop's stream arrived as its
//! webhook event, signed, once.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{HookSink, ShopServer, client, server_cmd, standard_signature, start_sim};
use serde_json::{Value, json};

/// The simulator's journeys run this much faster than real time (a 60-hour journey in about
/// 8 seconds)...
const SIM_SPEED: &str = "28800";
/// ...and the servers poll as if it ran at this speed, so a parcel is asked about every 2 s
/// in transit (30 min / 900), every 0.67 s out for delivery, every 8 s before its label.
const POLL_SPEED: f64 = 900.0;
/// The shortest interval the servers may poll one parcel at: out for delivery (10 min),
/// scaled, less its 10 % jitter.
fn shortest_interval() -> Duration {
    Duration::from_secs(600).div_f64(POLL_SPEED).mul_f64(0.9)
}

const PARCELS: usize = 30;

fn replica(home: &Path, db: &str, sim: &str) -> ShopServer {
    let mut cmd = server_cmd(home);
    cmd.args(["--db", db, "--listen", "127.0.0.1:0", "--sim", sim])
        .args(["--speed", &POLL_SPEED.to_string()])
        // A dead replica's claims run out within the test.
        .args(["--poll-lease", "2", "--sim-rate", "50"])
        // The webhook receiver is on loopback.
        .arg("--allow-private-targets");
    ShopServer::start(cmd, false)
}

async fn json_of(r: reqwest::RequestBuilder) -> Value {
    let res = r.send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    res.json().await.unwrap()
}

/// `parceltrail_polls_total{outcome="ok"}` of one replica.
async fn polled(c: &reqwest::Client, base: &str) -> f64 {
    let text = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("parceltrail_polls_total{outcome=\"ok\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn instant(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .to_utc()
}

/// How long a sender's claim on a delivery lasts (the server's `outbound::LEASE`)...
const WEBHOOK_LEASE: chrono::Duration = chrono::Duration::seconds(60);
/// ...and how many deliveries a server sends at once (`--webhook-concurrency`'s default).
const WEBHOOK_CONCURRENCY: usize = 16;

/// The webhook event type a change on the stream becomes, if any (docs/server.md, "Webhooks
/// out"; `eta_changed`, `shipment_removed` have none).
fn webhook_type(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "order_created" => "order.created",
        "order_updated" => "order.updated",
        "order_stage_changed" => "order.stage_changed",
        "order_removed" => "order.removed",
        "shipment_added" => "shipment.added",
        "status_changed" => "shipment.status_changed",
        "events_added" => "shipment.events_added",
        "estimate_changed" => "shipment.estimate_changed",
        "problem_opened" => "shipment.problem_opened",
        "problem_resolved" => "shipment.problem_resolved",
        _ => return None,
    })
}

/// The shop's change stream from its oldest entry (`GET /api/v1/events?after=0`), each
/// entry's `data`: read until the entry `at_least` has come and then nothing for half a
/// second (the stream sends what is kept at once, then waits for news).
async fn stream_from_start(
    c: &reqwest::Client,
    base: &str,
    key: &str,
    at_least: i64,
) -> Vec<Value> {
    let mut res = c
        .get(format!("{base}/api/v1/events?after=0"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf: Vec<u8> = Vec::new();
    let mut entries: Vec<Value> = Vec::new();
    loop {
        let last = entries.last().map_or(0, |e| e["seq"].as_i64().unwrap());
        let quiet = if last >= at_least {
            Duration::from_millis(500)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        let Ok(chunk) = tokio::time::timeout(quiet, res.chunk()).await else {
            assert!(
                last >= at_least,
                "the stream stopped at {last}, before {at_least}"
            );
            return entries;
        };
        buf.extend_from_slice(&chunk.unwrap().expect("the stream ended"));
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buf.drain(..end + 2).collect();
            for line in String::from_utf8(block).unwrap().lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    entries.push(serde_json::from_str(data.trim()).unwrap());
                }
            }
        }
    }
}

/// Every delivery of a webhook endpoint, through the API's pages.
async fn all_deliveries(c: &reqwest::Client, base: &str, key: &str, webhook: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut before = String::new();
    loop {
        let page = json_of(
            c.get(format!(
                "{base}/api/v1/webhooks/{webhook}/deliveries?limit=100{before}"
            ))
            .bearer_auth(key),
        )
        .await;
        all.extend(page["deliveries"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => before = format!("&before={next}"),
            None => return all,
        }
    }
}

/// The change-stream `seq` in a shop change's webhook event id (`evt_{shop}_{seq}`).
fn seq_of(event_id: &str) -> i64 {
    event_id.rsplit('_').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_poll_each_parcel_once_per_interval_and_lose_nothing() {
    let begun = Instant::now();
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (_sim, sim) = start_sim(&[
        "--parcels",
        &PARCELS.to_string(),
        "--seed",
        "11",
        "--speed",
        SIM_SPEED,
    ]);
    let made = server_cmd(h)
        .args([
            "--db",
            &db,
            "shop",
            "create",
            "Replica Outfitters",
            "--admin-email",
            "owner@replica.example",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let made: Value = serde_json::from_slice(&made.stdout).unwrap();
    let key = made["api_key"].as_str().unwrap().to_owned();
    let shop = made["shop_id"].as_str().unwrap().to_owned();
    let c = client();
    let parcels = json_of(c.get(format!("{sim}/sim/parcels"))).await;
    let parcels = parcels.as_array().unwrap().clone();
    assert_eq!(parcels.len(), PARCELS);
    let journeys_end = parcels
        .iter()
        .map(|p| instant(&p["ends_at"]))
        .max()
        .unwrap();

    let mut replicas: Vec<Option<ShopServer>> =
        (0..3).map(|_| Some(replica(h, &db, &sim))).collect();
    let base = |r: &Option<ShopServer>| r.as_ref().unwrap().base.clone();
    let first = base(&replicas[0]);

    // The shop's webhook endpoint, taking every type, before it has any change.
    let (sink, sink_url) = HookSink::start().await;
    let made = json_of(
        c.post(format!("{first}/api/v1/webhooks"))
            .bearer_auth(&key)
            .json(&json!({"url": format!("{sink_url}/hooks")})),
    )
    .await;
    let secret = made["secret"].as_str().unwrap().to_owned();
    let webhook = made["webhook"]["id"].as_str().unwrap().to_owned();

    // The shop's orders, through one replica: two parcels to an order.
    let mut orders = Vec::new();
    for (i, pair) in parcels.chunks(2).enumerate() {
        let shipments: Vec<Value> = pair
            .iter()
            .map(|p| json!({"tracking_number": p["number"], "carrier": "dhl"}))
            .collect();
        let o = json_of(
            c.post(format!("{first}/api/v1/orders"))
                .bearer_auth(&key)
                .json(&json!({"order_number": format!("R-{i}"), "shipments": shipments})),
        )
        .await;
        orders.push(o["id"].as_str().unwrap().to_owned());
    }

    // Mid-run, one replica dies without a word.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut counts = vec![polled(&c, &base(&replicas[1])).await];
    let mut victim = replicas[1].take().unwrap();
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    let killed_at = Utc::now();
    drop(victim);

    // Until every journey has ended and a poll after it came in.
    let wait = (journeys_end - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_secs(3)).await;
    for r in [&replicas[0], &replicas[2]] {
        counts.push(polled(&c, &base(r)).await);
    }
    eprintln!("parcels polled per replica (the killed one first): {counts:?}");
    assert!(
        counts.iter().filter(|n| **n > 0.0).count() >= 2,
        "the replicas shared the work: {counts:?}"
    );

    // At the simulator: every parcel asked about, never twice within the shortest interval.
    let asked = json_of(c.get(format!("{sim}/sim/requests"))).await;
    let asked = asked["numbers"].as_object().unwrap().clone();
    let shortest = shortest_interval().as_millis() as i64;
    for p in &parcels {
        let n = p["number"].as_str().unwrap();
        let a = asked.get(n).unwrap_or_else(|| panic!("{n} never polled"));
        // (A journey over by the first poll is asked about once.)
        if let Some(gap) = a["min_gap_ms"].as_i64() {
            assert!(
                gap >= shortest,
                "{n} polled twice within {gap} ms (interval at least {shortest} ms): {a}"
            );
        }
    }

    // Through the API: each parcel's events are its whole journey at the simulator, each once.
    let mut journey: HashMap<String, Vec<(DateTime<Utc>, String)>> = HashMap::new();
    for p in &parcels {
        let n = p["number"].as_str().unwrap();
        let body = json_of(
            c.get(format!("{sim}/track/shipments?trackingNumber={n}"))
                .header("DHL-API-Key", "demo"),
        )
        .await;
        let mut events: Vec<(DateTime<Utc>, String)> = body["shipments"][0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    instant(&e["timestamp"]),
                    e["description"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        events.sort();
        assert_eq!(events.len(), p["events"].as_u64().unwrap() as usize, "{n}");
        journey.insert(n.to_owned(), events);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut differ = Vec::new();
        for id in &orders {
            let o = json_of(
                c.get(format!("{first}/api/v1/orders/{id}"))
                    .bearer_auth(&key),
            )
            .await;
            for sh in o["shipments"].as_array().unwrap() {
                let n = sh["tracking_number"].as_str().unwrap();
                let mut stored: Vec<(DateTime<Utc>, String)> = sh["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        (
                            instant(&e["occurred_at"]),
                            e["description"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                stored.sort();
                if stored != journey[n] {
                    differ.push(format!("{n}: stored {stored:?}, journey {:?}", journey[n]));
                }
            }
        }
        if differ.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events lost or doubled:\n{}",
            differ.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Webhooks out: every change on the stream that has a webhook type arrived at the
    // receiver as that event, once. The receiver answers 200 at once, so no attempt fails
    // and nothing is retried: an id that came twice was sent twice.
    //
    // One window would make a second sending legitimate: the killed replica sent a delivery
    // and died before recording the 200. Its claim then holds the delivery (`delivering`)
    // until the claim's lease ends, 60 s after it was taken, and only then does another
    // replica send it again. The test is over long before that, so here a duplicate is never
    // legitimate; a delivery held by the killed replica is allowed only to be still
    // `delivering`, having reached the receiver once or not yet (it is not lost: it is sent
    // again when the lease ends).
    let held_by_victim = |d: &Value| {
        d["state"] == "delivering"
            && d["next_attempt_at"].is_string()
            && instant(&d["next_attempt_at"]) - WEBHOOK_LEASE < killed_at
    };
    let shop_simple = shop.replace('-', "");
    // The shop goes on changing a little (a late parcel's problem, say): the checks cover the
    // stream up to where it was read, `upto`, and what was sent of it.
    let within = |id: &str, upto: i64| seq_of(id) <= upto;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (stream, upto, expected, listed) = loop {
        let newest = sink
            .got()
            .iter()
            .map(|r| seq_of(r.header("webhook-id")))
            .max()
            .unwrap_or(1);
        let stream = stream_from_start(&c, &first, &key, newest).await;
        let upto = stream.last().unwrap()["seq"].as_i64().unwrap();
        // Event id -> (type, data) of every change that makes one.
        let expected: BTreeMap<String, (&'static str, Value)> = stream
            .iter()
            .filter_map(|e| {
                let kind = webhook_type(e["change"]["kind"].as_str().unwrap())?;
                let mut data = e.clone();
                let seq = data.as_object_mut().unwrap().remove("seq").unwrap();
                Some((format!("evt_{shop_simple}_{seq}"), (kind, data)))
            })
            .collect();
        let listed: Vec<Value> = all_deliveries(&c, &first, &key, &webhook)
            .await
            .into_iter()
            .filter(|d| within(d["event_id"].as_str().unwrap(), upto))
            .collect();
        let got: Vec<common::Hooked> = sink
            .got()
            .into_iter()
            .filter(|r| within(r.header("webhook-id"), upto))
            .collect();
        let unsettled: Vec<&Value> = listed
            .iter()
            .filter(|d| d["state"] != "delivered" && !held_by_victim(d))
            .collect();
        let missing: Vec<&String> = expected
            .keys()
            .filter(|id| {
                !got.iter().any(|r| r.header("webhook-id") == id.as_str())
                    && !listed
                        .iter()
                        .any(|d| d["event_id"] == id.as_str() && held_by_victim(d))
            })
            .collect();
        if missing.is_empty() && unsettled.is_empty() && listed.len() == expected.len() {
            break (stream, upto, expected, listed);
        }
        assert!(
            Instant::now() < deadline,
            "webhooks not delivered: {} of {} changes missing ({missing:?}), {} deliveries listed, unsettled: {unsettled:?}",
            missing.len(),
            expected.len(),
            listed.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // A second sending would come at about the time of the first; give it a moment more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = sink.got();
    let later = got
        .iter()
        .filter(|r| !within(r.header("webhook-id"), upto))
        .count();
    let mut times: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
    for r in &got {
        let id = r.header("webhook-id");
        times.entry(id).or_default().push(r.at);
        assert_eq!(r.path, "/hooks");
        assert_eq!(r.header("content-type"), "application/json");
        let ts = r.header("webhook-timestamp");
        assert!(
            (Utc::now().timestamp() - ts.parse::<i64>().unwrap()).abs() < 60,
            "{ts}"
        );
        // Every replica signs with the key of the shared data directory.
        assert_eq!(
            r.header("webhook-signature"),
            standard_signature(&secret, id, ts, &r.body),
            "{id}"
        );
        if !within(id, upto) {
            continue;
        }
        let payload: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(payload["id"], id);
        assert_eq!(payload["shop_id"], shop.as_str());
        let (kind, data) = expected
            .get(id)
            .unwrap_or_else(|| panic!("{id} is no change on the stream: {payload}"));
        assert_eq!(payload["type"], *kind, "{id}");
        assert_eq!(&payload["data"], data, "{id}");
    }
    let twice: Vec<_> = times.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(twice.is_empty(), "webhooks sent more than once: {twice:?}");
    // The shop's own list: one delivery per change, delivered at the first attempt (or held
    // by the killed replica, as above).
    let mut listed_ids: Vec<&str> = listed
        .iter()
        .map(|d| d["event_id"].as_str().unwrap())
        .collect();
    listed_ids.sort();
    listed_ids.dedup();
    assert_eq!(listed_ids.len(), listed.len(), "an event enqueued twice");
    assert!(
        listed_ids
            .iter()
            .copied()
            .eq(expected.keys().map(String::as_str))
    );
    let held: Vec<&Value> = listed.iter().filter(|d| held_by_victim(d)).collect();
    assert!(
        held.len() <= WEBHOOK_CONCURRENCY,
        "more held than one replica sends at once: {held:?}"
    );
    for d in &listed {
        if !held_by_victim(d) {
            assert_eq!(d["attempts"], 1, "{d}");
        }
    }
    // Each type the run makes is among them.
    for t in [
        "order.created",
        "shipment.added",
        "shipment.events_added",
        "shipment.status_changed",
    ] {
        assert!(
            expected.values().any(|(k, _)| *k == t),
            "no {t} among {} events",
            expected.len()
        );
    }
    // Each parcel's status changes on the stream follow on from one another and end at its
    // status in the API; each is one of the webhook events above.
    for id in &orders {
        let o = json_of(
            c.get(format!("{first}/api/v1/orders/{id}"))
                .bearer_auth(&key),
        )
        .await;
        for sh in o["shipments"].as_array().unwrap() {
            let changes: Vec<&Value> = stream
                .iter()
                .filter(|e| e["change"]["kind"] == "status_changed" && e["shipment_id"] == sh["id"])
                .map(|e| &e["change"])
                .collect();
            let n = &sh["tracking_number"];
            assert!(!changes.is_empty(), "{n}: no status change");
            for pair in changes.windows(2) {
                assert_eq!(pair[0]["to"], pair[1]["from"], "{n}: {changes:?}");
            }
            assert_eq!(changes.last().unwrap()["to"], sh["status"], "{n}");
        }
    }
    let reached = held
        .iter()
        .filter(|d| times.contains_key(d["event_id"].as_str().unwrap()))
        .count();
    eprintln!(
        "webhooks: {} events up to change {upto}, {} arrived, {} held by the killed replica ({reached} of them sent before it died); {later} later ones",
        expected.len(),
        got.len() - later,
        held.len()
    );
    drop(replicas);
    eprintln!("replica test took {:?}", begun.elapsed());
}
