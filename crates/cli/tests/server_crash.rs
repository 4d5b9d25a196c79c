//! The shop server killed with SIGKILL at random points under a webhook load, 20 times, on
//! SQLite and on a real PostgreSQL: every event a sender got a 2xx for (or a `409 replayed`
//! on a retry, which says its first delivery was stored) is there after the restart, none is
//! stored twice, nothing is stored that was never sent, and the server starts cleanly on the
//! database it was killed on (migrations, `/readyz`, the orders list).
//!
//! Several senders post distinct Standard Webhooks messages at once: one or more events for
//! one parcel, a batch for two, an acknowledged event again in a new message, an
//! acknowledged message again under its own id. What was in flight at the kill has an
//! unknown outcome; it is retried (same id, same body, as a sender would) in the next round.
//!
//! The rounds' delays and the messages' shapes come from a seed, printed at the start;
//! `PARCELTRAIL_CRASH_SEED=N` runs that seed again (the interleaving itself is the
//! machine's).

mod common;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use common::{ShopServer, server_at as bin};
use serde_json::{Value, json};

const ROUNDS: usize = 20;
const SENDERS: usize = 6;
const ORDERS: usize = 3;
const PARCELS_PER_ORDER: usize = 2;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The kill comes this long after the load started, at random.
const KILL_AFTER_MS: std::ops::Range<u64> = 50..600;

/// splitmix64: enough randomness for delays and shapes, and repeatable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, r: std::ops::Range<u64>) -> u64 {
        r.start + self.below(r.end - r.start)
    }

    /// True once in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// A valid UPS number of this test's own series.
fn ups(n: u32) -> String {
    common::ups_with(&format!("5R89391{n:08}"))
}

/// One carrier event as the test knows it: what makes it the same event when read back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Ev {
    number: String,
    /// Unix seconds.
    at: i64,
    status: &'static str,
    description: String,
}

impl Ev {
    fn json(&self) -> Value {
        // Some with an offset, so the instant, not the text, is what is compared.
        let offset = if self.at % 2 == 0 { 0 } else { 2 * 3600 };
        let t = FixedOffset::east_opt(offset)
            .unwrap()
            .timestamp_opt(self.at, 0)
            .unwrap();
        json!({
            "occurred_at": t.to_rfc3339(),
            "status": self.status,
            "description": self.description,
            "location": {"city": "Leipzig", "country": "DE"},
        })
    }
}

/// A webhook message: its id and signed body never change between attempts.
#[derive(Clone, Debug)]
struct Message {
    id: String,
    body: String,
    events: Vec<Ev>,
    /// Sent before under this id (a retry after an unknown outcome, or a deliberate repeat).
    attempted: bool,
    /// Answered 2xx before: its id was remembered before that answer, so it must be refused
    /// as a replay from then on, restarts or not.
    acknowledged: bool,
}

impl Message {
    fn new(id: String, pushes: &[(&str, Vec<Ev>)]) -> Message {
        let one = |(number, events): &(&str, Vec<Ev>)| {
            json!({"tracking_number": number, "carrier": "ups",
                   "events": events.iter().map(Ev::json).collect::<Vec<_>>()})
        };
        let body = if pushes.len() == 1 {
            one(&pushes[0])
        } else {
            Value::Array(pushes.iter().map(one).collect())
        };
        Message {
            id,
            body: body.to_string(),
            events: pushes.iter().flat_map(|(_, e)| e.clone()).collect(),
            attempted: false,
            acknowledged: false,
        }
    }
}

/// What the senders share.
#[derive(Default)]
struct Ledger {
    /// Every event ever put in a message.
    sent: HashSet<Ev>,
    /// Events confirmed stored: their request got a 2xx, or a retry got `409 replayed`.
    acked: Vec<Ev>,
    acked_set: HashSet<Ev>,
    /// Messages answered 2xx, for sending one again under its own id.
    acked_messages: Vec<Message>,
    /// In flight at a kill: outcome unknown, retried in the next round.
    unknown: Vec<Message>,
    /// Anything a live server should not have answered.
    failures: Vec<String>,
    requests: u64,
    ok: u64,
    replayed: u64,
    /// Retries whose first attempt had stored its events but not yet remembered its id.
    stored_not_remembered: u64,
    /// Requests a kill cut short (sent, no answer; not those refused a connection).
    in_flight_at_kills: u64,
}

impl Ledger {
    fn ack(&mut self, m: &Message) {
        for e in &m.events {
            if self.acked_set.insert(e.clone()) {
                self.acked.push(e.clone());
            }
        }
    }
}

/// `parceltrail server` on `db`, its log written to `log` (a pipe nobody reads would fill
/// and stall it under load); returns once it printed its address.
fn start(home: &Path, db: &str, log: &Path) -> ShopServer {
    let mut cmd = bin(home, db);
    cmd.args(["--listen", "127.0.0.1:0", "--log-format", "text"]);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(base) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the server did not start: {line:?}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    };
    ShopServer {
        base: base.trim_end_matches('/').to_owned(),
        child,
    }
}

/// Nothing went wrong that the server noticed: no error logged (a webhook that failed, an id
/// not remembered, background work that could not read what a kill left), no panic.
fn assert_clean_log(log: &Path, when: &str) {
    let text = std::fs::read_to_string(log).unwrap();
    let bad: Vec<_> = text
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains("panicked"))
        .collect();
    assert!(
        bad.is_empty(),
        "{when}: the server logged\n{}",
        bad.join("\n")
    );
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

struct Shop {
    key: String,
    id: String,
    /// Order ids, and each parcel's tracking number.
    orders: Vec<String>,
    numbers: Vec<String>,
}

async fn api(c: &reqwest::Client, base: &str, key: &str, path: &str) -> Value {
    let res = c
        .get(format!("{base}/api/v1{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The restarted server is ready (its migrations ran: `/readyz` checks the schema version).
async fn ready(c: &reqwest::Client, base: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = c.get(format!("{base}/readyz")).send().await {
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if status == 200 {
                assert_eq!(body["status"], "ready", "{body}");
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not ready after a restart:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads every parcel's events through the API and checks them against the ledger: every
/// acknowledged event there, none twice, none that was never sent, and of each message the
/// last kill cut short, all its new events or none (one delivery, one transaction). Returns
/// how many are stored.
async fn verify(
    c: &reqwest::Client,
    base: &str,
    shop: &Shop,
    ledger: &Mutex<Ledger>,
    when: &str,
) -> usize {
    let (sent, acked, cut_short) = {
        let l = ledger.lock().unwrap();
        let cut_short: Vec<(String, Vec<Ev>)> = l
            .unknown
            .iter()
            .map(|m| {
                let new = m.events.iter().filter(|e| !l.acked_set.contains(e));
                (m.id.clone(), new.cloned().collect())
            })
            .collect();
        (l.sent.clone(), l.acked.clone(), cut_short)
    };
    let list = api(c, base, &shop.key, "/orders?limit=200").await;
    assert_eq!(
        list["orders"].as_array().map(Vec::len),
        Some(ORDERS),
        "{when}: the orders list: {list}"
    );
    let mut stored: HashMap<Ev, usize> = HashMap::new();
    for id in &shop.orders {
        let order = api(c, base, &shop.key, &format!("/orders/{id}")).await;
        for s in order["shipments"].as_array().unwrap() {
            let number = s["tracking_number"].as_str().unwrap();
            for e in s["events"].as_array().unwrap() {
                let at = DateTime::parse_from_rfc3339(e["occurred_at"].as_str().unwrap())
                    .unwrap()
                    .timestamp();
                let status = e["status"].as_str().unwrap();
                let ev = Ev {
                    number: number.to_owned(),
                    at,
                    status: ["in_transit", "out_for_delivery"]
                        .into_iter()
                        .find(|s| *s == status)
                        .unwrap_or_else(|| panic!("{when}: a status never sent: {e}")),
                    description: e["description"].as_str().unwrap().to_owned(),
                };
                *stored.entry(ev).or_default() += 1;
            }
        }
    }
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{when}: stored more than once: {twice:?}");
    let invented: Vec<_> = stored.keys().filter(|e| !sent.contains(e)).collect();
    assert!(invented.is_empty(), "{when}: never sent: {invented:?}");
    let mut lost: Vec<_> = acked.iter().filter(|e| !stored.contains_key(e)).collect();
    lost.sort();
    assert!(
        lost.is_empty(),
        "{when}: {} acknowledged events lost (of {}): {lost:?}",
        lost.len(),
        acked.len()
    );
    for (id, new) in cut_short {
        let there = new.iter().filter(|e| stored.contains_key(e)).count();
        assert!(
            there == 0 || there == new.len(),
            "{when}: {there} of the {} new events of {id}, cut short by the kill, are stored: {new:?}",
            new.len()
        );
    }
    stored.len()
}

/// Sends `m` once; returns false when the server is gone (or going).
async fn send(
    c: &reqwest::Client,
    url: &str,
    ledger: &Mutex<Ledger>,
    killing: &AtomicBool,
    mut m: Message,
) -> bool {
    let ts = Utc::now().timestamp();
    let sig = parceltrail_shop::hooks::sign_standard(SECRET, &m.id, ts, m.body.as_bytes()).unwrap();
    let res = c
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &m.id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(m.body.clone())
        .send()
        .await;
    // A status without its whole body is no answer either: read both before deciding.
    let answer = match res {
        Ok(r) => {
            let status = r.status().as_u16();
            r.text().await.map(|t| (status, t))
        }
        Err(e) => Err(e),
    };
    let mut l = ledger.lock().unwrap();
    l.requests += 1;
    let (status, text) = match answer {
        Ok(a) => a,
        Err(e) => {
            if !killing.load(Ordering::SeqCst) {
                l.failures
                    .push(format!("{}: no answer from a live server: {e}", m.id));
            }
            if !e.is_connect() {
                l.in_flight_at_kills += 1;
            }
            m.attempted = true;
            l.unknown.push(m);
            return false;
        }
    };
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let n = m.events.len() as u64;
    // Events of it not yet known stored. No other message in flight carries one of these
    // (a message reuses acknowledged events only), so none can have been stored meanwhile.
    let new = m.events.iter().filter(|e| !l.acked_set.contains(e)).count() as u64;
    match status {
        200..=299 if m.acknowledged => l.failures.push(format!(
            "{}: an acknowledged message's id taken again: {status} {text}",
            m.id
        )),
        200..=299 => {
            let stored = body["stored"].as_u64();
            let duplicates = body["duplicates"].as_u64();
            let unknown = body["unknown"].as_array().map(Vec::len);
            if unknown != Some(0) || stored.zip(duplicates).map(|(s, d)| s + d) != Some(n) {
                l.failures
                    .push(format!("{}: {status} {text} for {n} events", m.id));
            } else if stored != Some(new) && !(m.attempted && stored == Some(0)) {
                // A first attempt stores exactly its new events; a retry those or none (the
                // first attempt may have stored them, all in one transaction, before the kill).
                l.failures.push(format!(
                    "{}: {text} for {new} new events (attempted before: {})",
                    m.id, m.attempted
                ));
            }
            if m.attempted && new > 0 && stored == Some(0) {
                l.stored_not_remembered += 1;
            }
            l.ok += 1;
            l.ack(&m);
            m.acknowledged = true;
            l.acked_messages.push(m);
        }
        // Only a message sent before may be a replay; its first delivery was stored.
        409 if m.attempted && body["type"] == "urn:parceltrail:problem:replayed" => {
            l.replayed += 1;
            l.ack(&m);
        }
        _ => l.failures.push(format!(
            "{}: {status} {text} (attempted before: {})",
            m.id, m.attempted
        )),
    }
    true
}

/// One sender: messages of every shape until the server is killed.
#[allow(clippy::too_many_arguments)]
async fn sender(
    mut rng: Rng,
    url: String,
    numbers: Arc<Vec<String>>,
    ledger: Arc<Mutex<Ledger>>,
    retries: Arc<Mutex<Vec<Message>>>,
    next: Arc<AtomicU64>,
    killing: Arc<AtomicBool>,
    tag: String,
) {
    let c = http();
    let new_event = |rng: &mut Rng, number: &str| {
        let n = next.fetch_add(1, Ordering::SeqCst) as i64;
        Ev {
            number: number.to_owned(),
            // Distinct instants (the dedupe key has seconds), in the past.
            at: 1_748_736_000 + n * 7,
            status: if rng.one_in(3) {
                "out_for_delivery"
            } else {
                "in_transit"
            },
            description: format!("Scan {n} at hub {}", rng.below(50)),
        }
    };
    let mut k = 0;
    while !killing.load(Ordering::SeqCst) {
        k += 1;
        let id = format!("msg_{tag}_{k}");
        let retry = retries.lock().unwrap().pop();
        let m = if let Some(m) = retry {
            m
        } else {
            let pick = |rng: &mut Rng| numbers[rng.below(numbers.len() as u64) as usize].clone();
            let (old, old_message) = {
                let l = ledger.lock().unwrap();
                let old = (!l.acked.is_empty())
                    .then(|| l.acked[rng.below(l.acked.len() as u64) as usize].clone());
                let msg = (!l.acked_messages.is_empty()).then(|| {
                    l.acked_messages[rng.below(l.acked_messages.len() as u64) as usize].clone()
                });
                (old, msg)
            };
            let m = match (rng.below(10), old_message, old) {
                // An acknowledged message again, under its own id: a replay.
                (0, Some(mut m), _) => {
                    m.attempted = true;
                    m
                }
                // An acknowledged event again, with a new one, in a new message.
                (1 | 2, _, Some(old)) => {
                    let number = old.number.clone();
                    let new = new_event(&mut rng, &number);
                    Message::new(id, &[(&number, vec![old, new])])
                }
                // A batch: two parcels in one body.
                (3, _, _) => {
                    let (a, b) = (pick(&mut rng), pick(&mut rng));
                    let ea = vec![new_event(&mut rng, &a), new_event(&mut rng, &a)];
                    let eb = vec![new_event(&mut rng, &b)];
                    Message::new(id, &[(&a, ea), (&b, eb)])
                }
                // One parcel, one to four events.
                _ => {
                    let number = pick(&mut rng);
                    let count = 1 + rng.below(4) as usize;
                    let events: Vec<_> = (0..count).map(|_| new_event(&mut rng, &number)).collect();
                    Message::new(id, &[(&number, events)])
                }
            };
            ledger.lock().unwrap().sent.extend(m.events.iter().cloned());
            m
        };
        if !send(&c, &url, &ledger, &killing, m).await {
            break;
        }
    }
}

async fn setup(home: &Path, db: &str) -> Shop {
    let o = bin(home, db)
        .args([
            "shop",
            "create",
            "Crash Test Dummies",
            "--admin-email",
            "owner@crash.example",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    let key = made["api_key"].as_str().unwrap().to_owned();
    let id = made["shop_id"].as_str().unwrap().to_owned();
    let log = home.join("setup.log");
    let server = start(home, db, &log);
    let c = http();
    let base = &server.base;
    ready(&c, base, &log).await;
    let res = c
        .put(format!("{base}/api/v1/hooks/standard"))
        .bearer_auth(&key)
        .json(&json!({"secret": SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut orders = Vec::new();
    let mut numbers = Vec::new();
    for o in 0..ORDERS {
        let mine: Vec<String> = (0..PARCELS_PER_ORDER)
            .map(|p| ups((o * PARCELS_PER_ORDER + p) as u32 + 1))
            .collect();
        let res = c
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&key)
            .json(&json!({
                "order_number": format!("C-{o}"),
                "shipments": mine.iter().map(|n| json!({"tracking_number": n, "carrier": "ups"})).collect::<Vec<_>>(),
            }))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        orders.push(body["id"].as_str().unwrap().to_owned());
        numbers.extend(mine);
    }
    let (status, _) = server.stop();
    assert!(
        status.success(),
        "{status}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_clean_log(&log, "setting up");
    Shop {
        key,
        id,
        orders,
        numbers,
    }
}

async fn crash_under_webhook_load(db: String) {
    let begun = Instant::now();
    let seed = std::env::var("PARCELTRAIL_CRASH_SEED")
        .ok()
        .map(|s| s.parse::<u64>().expect("PARCELTRAIL_CRASH_SEED: a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let backend = db.split(':').next().unwrap_or_default().to_owned();
    eprintln!("{backend}: seed {seed} (PARCELTRAIL_CRASH_SEED={seed} runs it again)");
    let mut rng = Rng(seed);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let shop = setup(h, &db).await;
    let numbers = Arc::new(shop.numbers.clone());
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let next = Arc::new(AtomicU64::new(0));
    let c = http();

    for round in 0..ROUNDS {
        let log = h.join(format!("round-{round}.log"));
        let mut server = start(h, &db, &log);
        let base = server.base.clone();
        ready(&c, &base, &log).await;
        {
            let stored = verify(&c, &base, &shop, &ledger, &format!("after restart {round}")).await;
            let l = ledger.lock().unwrap();
            eprintln!(
                "round {round}: {stored} events stored, {} acknowledged, {} to retry",
                l.acked.len(),
                l.unknown.len()
            );
        }
        // What was in flight at the last kill goes again first, as its sender would retry it.
        let retries = Arc::new(Mutex::new(std::mem::take(
            &mut ledger.lock().unwrap().unknown,
        )));
        let killing = Arc::new(AtomicBool::new(false));
        let url = format!("{base}/hooks/{}/standard", shop.id);
        let tasks: Vec<_> = (0..SENDERS)
            .map(|i| {
                tokio::spawn(sender(
                    Rng(rng.next()),
                    url.clone(),
                    numbers.clone(),
                    ledger.clone(),
                    retries.clone(),
                    next.clone(),
                    killing.clone(),
                    format!("{round}_{i}"),
                ))
            })
            .collect();
        let delay = rng.range(KILL_AFTER_MS);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        // Set first: from here on a request without an answer is the kill's doing.
        killing.store(true, Ordering::SeqCst);
        // std's kill is SIGKILL on Unix: no handler runs, nothing is flushed or finished.
        server.child.kill().unwrap();
        let status = server.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{status}"
        );
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .expect("a sender hung after the kill")
                .unwrap();
        }
        // Left untried this round: still to go.
        let left = std::mem::take(&mut *retries.lock().unwrap());
        let mut l = ledger.lock().unwrap();
        l.unknown.extend(left);
        assert!(l.failures.is_empty(), "round {round}: {:#?}", l.failures);
        assert_clean_log(&log, &format!("round {round}"));
        eprintln!("  killed after {delay} ms");
    }

    // A last restart: every unknown outcome retried to an answer, then all of it checked.
    let log = h.join("last.log");
    let server = start(h, &db, &log);
    ready(&c, &server.base, &log).await;
    let url = format!("{}/hooks/{}/standard", server.base, shop.id);
    let never = AtomicBool::new(false);
    let unknown = std::mem::take(&mut ledger.lock().unwrap().unknown);
    let retried = unknown.len();
    for m in unknown {
        assert!(send(&c, &url, &ledger, &never, m).await);
    }
    let failures = ledger.lock().unwrap().failures.clone();
    assert!(failures.is_empty(), "{failures:#?}");
    let stored = verify(&c, &server.base, &shop, &ledger, "at the end").await;
    let l = ledger.lock().unwrap();
    // Every event sent was acknowledged at last, so the store holds exactly what was sent.
    assert_eq!(l.acked_set, l.sent);
    assert_eq!(stored, l.sent.len());
    // A load that proves something: many acknowledged, and requests cut short by kills.
    assert!(
        l.acked.len() >= 100,
        "only {} events acknowledged",
        l.acked.len()
    );
    assert!(
        l.in_flight_at_kills > 0,
        "no kill caught a request in flight"
    );
    eprintln!(
        "{backend}, seed {seed}: {ROUNDS} kills, {} requests ({} 2xx, {} refused as replays), {} cut short \
         by a kill ({} of whose retries found the events stored but the id not remembered; \
         {retried} still unanswered at the end, retried), {stored} events stored, in {:?}",
        l.requests,
        l.ok,
        l.replayed,
        l.in_flight_at_kills,
        l.stored_not_remembered,
        begun.elapsed()
    );
    drop(l);
    let (status, _) = server.stop();
    assert!(
        status.success(),
        "{status}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_clean_log(&log, "the last run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_webhooks_survive_kill_9_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    crash_under_webhook_load(format!("sqlite:{}", dir.path().join("server.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_webhooks_survive_kill_9_on_postgres() {
    let db = parceltrail_shop::testing::postgres().fresh_database().await;
    crash_under_webhook_load(db).await;
}
