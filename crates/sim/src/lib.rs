//! `parceltrail sim`: a local carrier that speaks DHL's Shipment Tracking – Unified API
//! (`GET /track/shipments?trackingNumber=…` with a `DHL-API-Key` header, answers and
//! problem documents in DHL's schema), serving scripted journeys, so demo mode, end-to-end
//! tests and load tests run the real DHL adapter.
//!
//! - Parcels are generated from a seed: the same seed gives the same numbers (valid DHL
//!   Express numbers, mod 7), scenarios and routes.
//! - Journeys run `speed` times faster than real time; event timestamps are real times, so
//!   everything downstream sees a consistent clock. Parcels start staggered: some are
//!   mid-journey when the simulator starts, some have no label yet (404 until they do).
//! - Faults: `fail_rate` of requests answer 500 or 503 (with Retry-After); `latency` is added
//!   to every answer; beyond `max_rate` requests a second the answer is 429 with Retry-After.
//!
//! Beside the DHL endpoint, `GET /sim/parcels` lists the simulated parcels, `GET /sim/stats`
//! counts the answers given and `GET /sim/requests` how often each simulated number was asked
//! about, when first and last, and the shortest time between two asks (not part of DHL's
//! API: they serve demo mode, load tests and the shop server's replica test).
#![deny(missing_docs)]

pub mod scenario;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use parceltrail_core::domain::Status;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use scenario::Scenario;
use scenario::{CITIES, HUBS, Step};

/// How the simulator behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed for numbers, scenarios, routes and faults.
    pub seed: u64,
    /// How many parcels to simulate.
    pub parcels: usize,
    /// Journeys run this many times faster than real time.
    pub speed: f64,
    /// Share of requests (0..=1) that fail with 500 or 503.
    pub fail_rate: f64,
    /// Requests a second beyond which the answer is 429 (None: unlimited).
    pub max_rate: Option<f64>,
    /// Delay added to every answer.
    pub latency: Duration,
    /// The API key clients must send (`DHL-API-Key`).
    pub api_key: String,
    /// Share (0..=1) of a journey's length by which parcels may already be under way at start.
    pub stagger: f64,
}

/// The slowest a simulator runs: real time. Slower has no use, and at a tiny speed journeys
/// end in the far future, past any date the clock can hold.
pub const MIN_SPEED: f64 = 1.0;
/// The fastest: a two-day journey in about a fifth of a second.
pub const MAX_SPEED: f64 = 1_000_000.0;
/// The most parcels one simulator holds.
pub const MAX_PARCELS: usize = 100_000;

/// A [`SimConfig`] the simulator cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// `speed` is not a number in [`MIN_SPEED`]..=[`MAX_SPEED`].
    #[error("the speed must be a number from {MIN_SPEED} (real time) to {MAX_SPEED}, not {0}")]
    Speed(f64),
    /// More parcels than [`MAX_PARCELS`].
    #[error("at most {MAX_PARCELS} parcels can be simulated, not {0}")]
    Parcels(usize),
    /// A share (`fail_rate`, `stagger`) outside 0..=1.
    #[error("{0} must be between 0 and 1, not {1}")]
    Share(&'static str, f64),
    /// `max_rate` is not a positive number.
    #[error("the maximum rate must be a positive number of requests a second, not {0}")]
    MaxRate(f64),
}

/// Whether `speed` is one the simulator (and a clock matched to it) can run at.
pub fn check_speed(speed: f64) -> Result<f64, ConfigError> {
    if (MIN_SPEED..=MAX_SPEED).contains(&speed) {
        Ok(speed)
    } else {
        Err(ConfigError::Speed(speed))
    }
}

impl SimConfig {
    /// Refuses settings the simulator cannot run with (NaN included, which no range holds).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_speed(self.speed)?;
        if self.parcels > MAX_PARCELS {
            return Err(ConfigError::Parcels(self.parcels));
        }
        for (name, v) in [
            ("the fail rate", self.fail_rate),
            ("the stagger", self.stagger),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError::Share(name, v));
            }
        }
        if let Some(r) = self.max_rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(ConfigError::MaxRate(r));
        }
        Ok(())
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            parcels: 20,
            speed: 60.0,
            fail_rate: 0.0,
            max_rate: None,
            latency: Duration::ZERO,
            api_key: "demo".into(),
            stagger: 0.6,
        }
    }
}

/// One simulated parcel.
#[derive(Debug, Clone, Serialize)]
pub struct SimParcel {
    /// Its DHL Express number.
    pub number: String,
    /// Its journey.
    pub scenario: Scenario,
    /// The status it ends in.
    pub final_status: Status,
    /// How many events its journey has.
    pub events: usize,
    /// When its label is created (real time).
    pub starts_at: DateTime<Utc>,
    /// When its last event happens (real time).
    pub ends_at: DateTime<Utc>,
    /// A shop it could have come from (demo data).
    pub store: &'static str,
    /// What it could hold (demo data).
    pub items: &'static str,
    #[serde(skip)]
    steps: Vec<(DateTime<Utc>, Step)>,
    #[serde(skip)]
    eta: Option<(DateTime<Utc>, DateTime<Utc>)>,
    #[serde(skip)]
    from: scenario::City,
    #[serde(skip)]
    to: scenario::City,
}

/// Shops and contents for demo parcels.
const DEMO_ORDERS: [(&str, &str); 12] = [
    ("Fotohaus Berlin", "50 mm camera lens"),
    ("Trailhead Outfitters", "Trail running shoes"),
    ("Groove Records", "Two vinyl records"),
    ("Highland Tea Co.", "Tea sampler"),
    ("Lumen Studio", "Desk lamp"),
    ("Bücherstube Köln", "Three novels"),
    ("Velo Werk", "Bicycle lights"),
    ("Kaffeerösterei Hamburg", "Espresso beans"),
    ("Nordic Knits", "Wool sweater"),
    ("Pixel Parts", "USB-C dock"),
    ("Garden & Co.", "Seed collection"),
    ("Atelier Paris", "Watercolour set"),
];

/// A DHL Express number: nine digits and a mod 7 check digit.
fn dhl_number(rng: &mut StdRng) -> String {
    let serial: u64 = rng.random_range(100_000_000..1_000_000_000);
    format!("{serial}{}", serial % 7)
}

fn pick_scenario(rng: &mut StdRng) -> Scenario {
    let total: u32 = Scenario::WEIGHTS.iter().map(|w| w.1).sum();
    let mut x = rng.random_range(0..total);
    for (s, w) in Scenario::WEIGHTS {
        if x < w {
            return s;
        }
        x -= w;
    }
    Scenario::Delivered
}

/// The simulator's state.
#[derive(Debug)]
pub struct Sim {
    config: SimConfig,
    parcels: Vec<SimParcel>,
    faults: Mutex<StdRng>,
    /// Token bucket for `max_rate`: (tokens, last refill).
    bucket: Mutex<(f64, std::time::Instant)>,
    /// Requests answered: (2xx and 4xx, 429s, 5xx faults).
    served: Mutex<(u64, u64, u64)>,
    /// Asks per simulated number (index into `parcels`), whatever the answer.
    asked: Mutex<Vec<Asked>>,
}

/// How often one simulated number was asked about (`GET /sim/requests`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Asked {
    /// Requests naming it (answered, rate-limited or failed alike).
    pub requests: u64,
    /// The first.
    pub first_at: Option<DateTime<Utc>>,
    /// The latest.
    pub last_at: Option<DateTime<Utc>>,
    /// The shortest time between two requests for it, in milliseconds (None: fewer than two).
    pub min_gap_ms: Option<i64>,
}

impl Sim {
    /// Generate the parcels; journeys are timed from `start`.
    pub fn new(config: SimConfig, start: DateTime<Utc>) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let speed = config.speed.max(1e-6);
        let real =
            |hours: f64| chrono::Duration::milliseconds((hours * 3_600_000.0 / speed) as i64);
        let mut seen = std::collections::HashSet::new();
        let mut parcels = Vec::with_capacity(config.parcels);
        while parcels.len() < config.parcels {
            let number = dhl_number(&mut rng);
            if !seen.insert(number.clone()) {
                continue;
            }
            let scenario = pick_scenario(&mut rng);
            let from = CITIES[rng.random_range(0..CITIES.len())];
            let mut to = CITIES[rng.random_range(0..CITIES.len())];
            if to == from {
                to = CITIES
                    [(CITIES.iter().position(|c| *c == from).unwrap_or(0) + 1) % CITIES.len()];
            }
            // Distinct hubs: a parcel does not pass the same sorting centre twice.
            let mut hubs: Vec<_> = HUBS.to_vec();
            for k in (1..hubs.len()).rev() {
                hubs.swap(k, rng.random_range(0..=k));
            }
            hubs.truncate(rng.random_range(1..=3));
            let script = scenario::steps(scenario, from, &hubs, to);
            let total_hours = script.last().map_or(0.0, |s| s.hours);
            // Some parcels are already under way, some have no label yet.
            let shift = rng.random_range(-config.stagger..0.25) * total_hours;
            let label_at = start + real(shift);
            let steps: Vec<_> = script
                .into_iter()
                .map(|s| (label_at + real(s.hours), s))
                .collect();
            let planned = steps
                .iter()
                .find(|(_, s)| s.code == "delivered" || s.expect == Status::AvailableForPickup)
                .map(|(t, _)| *t)
                .unwrap_or(label_at + real(total_hours + 24.0));
            let eta = Some((planned - real(3.0), planned + real(2.0)));
            let (store, items) = DEMO_ORDERS[parcels.len() % DEMO_ORDERS.len()];
            parcels.push(SimParcel {
                number,
                scenario,
                final_status: scenario.final_status(),
                events: steps.len(),
                starts_at: label_at,
                ends_at: steps.last().map_or(label_at, |s| s.0),
                store,
                items,
                steps,
                eta,
                from,
                to,
            });
        }
        let faults = Mutex::new(StdRng::seed_from_u64(
            config.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ));
        let bucket = Mutex::new((config.max_rate.unwrap_or(0.0), std::time::Instant::now()));
        let asked = Mutex::new(vec![Asked::default(); parcels.len()]);
        Self {
            config,
            parcels,
            faults,
            bucket,
            served: Mutex::new((0, 0, 0)),
            asked,
        }
    }

    /// The simulated parcels.
    pub fn parcels(&self) -> &[SimParcel] {
        &self.parcels
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The DHL answer for a number at `now`, or `None` when DHL would not know it (yet).
    pub fn shipment_json(&self, number: &str, now: DateTime<Utc>) -> Option<Value> {
        let p = self.parcels.iter().find(|p| p.number == number)?;
        let seen: Vec<&(DateTime<Utc>, Step)> = p.steps.iter().filter(|(t, _)| *t <= now).collect();
        let (last_at, last) = seen.last()?;
        let event = |(t, s): &(DateTime<Utc>, Step)| {
            json!({
                "timestamp": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                "statusCode": s.code,
                "status": s.status,
                "description": s.description,
                "location": {"address": {"addressLocality": s.city.name, "countryCode": s.city.country, "postalCode": s.city.postal}},
            })
        };
        let mut shipment = json!({
            "id": p.number,
            "service": "express",
            "origin": {"address": {"countryCode": p.from.country, "postalCode": p.from.postal, "addressLocality": p.from.name}},
            "destination": {"address": {"countryCode": p.to.country, "postalCode": p.to.postal, "addressLocality": p.to.name}},
            "status": event(&(*last_at, last.clone())),
            "details": {"product": {"productName": "DHL EXPRESS WORLDWIDE"}, "totalNumberOfPieces": 1},
            "events": seen.iter().rev().map(|e| event(e)).collect::<Vec<_>>(),
        });
        let finished = seen.len() == p.steps.len() && last.expect.is_terminal();
        if let (Some((from, to)), false) = (p.eta, finished) {
            shipment["estimatedTimeOfDelivery"] =
                json!(to.to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
            shipment["estimatedDeliveryTimeFrame"] = json!({
                "estimatedFrom": from.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                "estimatedThrough": to.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            });
        }
        Some(json!({ "shipments": [shipment] }))
    }

    /// Requests answered so far: (2xx and 4xx, 429s, 5xx faults).
    pub fn served(&self) -> (u64, u64, u64) {
        *self.served.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How often each simulated number was asked about, in the order of [`Sim::parcels`].
    pub fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Count a request naming `number` at `now` (only simulated numbers: memory stays
    /// bounded whatever clients send).
    fn ask(&self, number: &str, now: DateTime<Utc>) {
        let Some(i) = self.parcels.iter().position(|p| p.number == number) else {
            return;
        };
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        let a = &mut asked[i];
        a.requests += 1;
        if let Some(last) = a.last_at {
            let gap = (now - last).num_milliseconds();
            a.min_gap_ms = Some(a.min_gap_ms.map_or(gap, |g| g.min(gap)));
        }
        a.first_at.get_or_insert(now);
        a.last_at = Some(now);
    }

    /// Whether a client going faster than `max_rate` gets a 429 now; then how long to wait.
    fn over_rate(&self) -> Option<u64> {
        let rate = self.config.max_rate?;
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(rate.max(1.0));
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            None
        } else {
            Some(((1.0 - b.0) / rate).ceil().max(1.0) as u64)
        }
    }

    fn count(&self, status: StatusCode) {
        let mut s = self.served.lock().unwrap_or_else(|e| e.into_inner());
        match status.as_u16() {
            429 => s.1 += 1,
            500..=599 => s.2 += 1,
            _ => s.0 += 1,
        }
    }

    /// Draw whether this request fails, and how.
    fn fault(&self) -> Option<Response> {
        if self.config.fail_rate <= 0.0 {
            return None;
        }
        let mut rng = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        if rng.random::<f64>() >= self.config.fail_rate {
            return None;
        }
        // Server-side failures only: a 429 answers a client going too fast, which is what
        // `max_rate` simulates; a random one would be a lie about the client.
        let unavailable = rng.random_bool(0.5);
        drop(rng);
        Some(if unavailable {
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "Temporarily unavailable",
                Some(1),
            )
        } else {
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "Unexpected error",
                None,
            )
        })
    }
}

/// The simulated parcels as shipments to track (demo mode).
pub fn demo_shipments(sim: &Sim) -> Vec<parceltrail_core::store::NewShipment> {
    sim.parcels()
        .iter()
        .map(|p| parceltrail_core::store::NewShipment {
            tracking_number: p.number.clone(),
            carrier: "dhl".into(),
            service: None,
            label: Some(p.items.to_owned()),
            order: parceltrail_core::store::OrderInfo {
                store: Some(p.store.to_owned()),
                order_number: None,
                items: Some(p.items.to_owned()),
                placed_at: Some(p.starts_at.fixed_offset()),
                notes: Some("Demo parcel, moved along by the carrier simulator".into()),
                promised_at: None,
            },
            events: Vec::new(),
        })
        .collect()
}

/// An `application/problem+json` answer, as DHL sends them.
fn problem(status: StatusCode, title: &str, detail: &str, retry_after: Option<u64>) -> Response {
    let body = json!({
        "type": format!("https://api-eu.dhl.com/probs/{}", status.as_u16()),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

#[derive(Deserialize)]
struct TrackQuery {
    #[serde(rename = "trackingNumber")]
    tracking_number: Option<String>,
}

async fn track(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Query(q): Query<TrackQuery>,
) -> Response {
    if !sim.config.latency.is_zero() {
        tokio::time::sleep(sim.config.latency).await;
    }
    let key = headers
        .get("DHL-API-Key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if key != sim.config.api_key {
        return problem(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Invalid or missing API key",
            None,
        );
    }
    if let Some(n) = &q.tracking_number {
        sim.ask(n.trim(), Utc::now());
    }
    let resp = answer(&sim, q);
    sim.count(resp.status());
    resp
}

fn answer(sim: &Sim, q: TrackQuery) -> Response {
    if let Some(wait) = sim.over_rate() {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "Rate limit exceeded",
            Some(wait),
        );
    }
    if let Some(fault) = sim.fault() {
        return fault;
    }
    let Some(number) = q.tracking_number.filter(|n| !n.trim().is_empty()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "The query parameter trackingNumber is required",
            None,
        );
    };
    match sim.shipment_json(number.trim(), Utc::now()) {
        Some(body) => (StatusCode::OK, Json(body)).into_response(),
        None => problem(
            StatusCode::NOT_FOUND,
            "No result found",
            "No shipment with given tracking number found.",
            None,
        ),
    }
}

async fn list(State(sim): State<Arc<Sim>>) -> Json<Vec<SimParcel>> {
    Json(sim.parcels.clone())
}

async fn stats(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let (answered, rate_limited, faults) = sim.served();
    Json(json!({ "answered": answered, "rate_limited": rate_limited, "faults": faults }))
}

async fn requests(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let numbers: serde_json::Map<String, Value> = sim
        .parcels
        .iter()
        .zip(sim.asked())
        .filter(|(_, a)| a.requests > 0)
        .map(|(p, a)| (p.number.clone(), json!(a)))
        .collect();
    Json(json!({ "numbers": numbers }))
}

/// The simulator's routes.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/track/shipments", get(track))
        .route("/sim/parcels", get(list))
        .route("/sim/stats", get(stats))
        .route("/sim/requests", get(requests))
        .with_state(sim)
}

/// Serve on `addr` (port 0 picks a free port) until the returned task is dropped or aborted;
/// returns the bound address.
pub async fn serve(
    sim: Arc<Sim>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(sim)).await {
            tracing::error!("simulator stopped: {e}");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_it_cannot_run_with_are_refused() {
        let with = |f: fn(&mut SimConfig)| {
            let mut c = SimConfig::default();
            f(&mut c);
            c.validate()
        };
        assert_eq!(with(|_| {}), Ok(()));
        for speed in [f64::NAN, -1.0, 0.0, 1e-7, f64::INFINITY, 1e7] {
            let err = SimConfig {
                speed,
                ..SimConfig::default()
            }
            .validate()
            .unwrap_err();
            assert!(err.to_string().contains("speed"), "{speed}: {err}");
        }
        assert!(with(|c| c.parcels = usize::MAX).is_err());
        assert!(with(|c| c.fail_rate = f64::NAN).is_err());
        assert!(with(|c| c.stagger = 2.0).is_err());
        assert!(with(|c| c.max_rate = Some(f64::NAN)).is_err());
        assert!(with(|c| c.max_rate = Some(0.0)).is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_parcels() {
        let now = Utc::now();
        let a = Sim::new(
            SimConfig {
                parcels: 50,
                ..SimConfig::default()
            },
            now,
        );
        let b = Sim::new(
            SimConfig {
                parcels: 50,
                ..SimConfig::default()
            },
            now,
        );
        let c = Sim::new(
            SimConfig {
                parcels: 50,
                seed: 2,
                ..SimConfig::default()
            },
            now,
        );
        let nums = |s: &Sim| {
            s.parcels()
                .iter()
                .map(|p| (p.number.clone(), p.scenario))
                .collect::<Vec<_>>()
        };
        assert_eq!(nums(&a), nums(&b));
        assert_ne!(nums(&a), nums(&c));
    }

    #[test]
    fn numbers_are_valid_dhl_express_numbers() {
        let sim = Sim::new(
            SimConfig {
                parcels: 100,
                ..SimConfig::default()
            },
            Utc::now(),
        );
        for p in sim.parcels() {
            let d = parceltrail_core::detect::detect_as(&p.number, "dhl");
            assert!(d.valid, "{}: {:?}", p.number, d.reason);
        }
    }

    #[test]
    fn every_scenario_appears_and_ends_as_scripted() {
        let sim = Sim::new(
            SimConfig {
                parcels: 300,
                ..SimConfig::default()
            },
            Utc::now(),
        );
        for (s, _) in Scenario::WEIGHTS {
            let p = sim
                .parcels()
                .iter()
                .find(|p| p.scenario == s)
                .unwrap_or_else(|| panic!("{s:?} missing"));
            assert_eq!(p.steps.last().unwrap().1.expect, p.final_status, "{s:?}");
            let end = sim.shipment_json(&p.number, p.ends_at).unwrap();
            assert_eq!(
                end["shipments"][0]["events"].as_array().unwrap().len(),
                p.events
            );
        }
    }

    #[test]
    fn asks_are_counted_per_number_with_the_shortest_gap() {
        let now = Utc::now();
        let sim = Sim::new(
            SimConfig {
                parcels: 3,
                ..SimConfig::default()
            },
            now,
        );
        let n = sim.parcels()[1].number.clone();
        sim.ask(&n, now);
        sim.ask(&n, now + chrono::Duration::milliseconds(900));
        sim.ask(&n, now + chrono::Duration::milliseconds(1200));
        sim.ask("not simulated", now);
        let asked = sim.asked();
        assert_eq!(asked[0], Asked::default());
        assert_eq!(asked[1].requests, 3);
        assert_eq!(asked[1].min_gap_ms, Some(300));
        assert_eq!(asked[1].first_at, Some(now));
        assert_eq!(
            asked[1].last_at,
            Some(now + chrono::Duration::milliseconds(1200))
        );
    }

    #[test]
    fn a_parcel_is_unknown_before_its_label() {
        let now = Utc::now();
        let sim = Sim::new(
            SimConfig {
                parcels: 10,
                ..SimConfig::default()
            },
            now,
        );
        let p = &sim.parcels()[0];
        assert!(
            sim.shipment_json(&p.number, p.starts_at - chrono::Duration::seconds(1))
                .is_none()
        );
        assert!(sim.shipment_json(&p.number, p.starts_at).is_some());
        assert!(sim.shipment_json("0000000000", now).is_none());
    }
}
