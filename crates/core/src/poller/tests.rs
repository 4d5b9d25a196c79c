use std::collections::VecDeque;

use chrono::TimeZone;

use super::*;
use crate::carrier::{BatchResult, BoxFuture, RateLimit};
use crate::domain::{NewEvent, Place, Source};
use crate::store::{NewShipment, SqliteStore};

type Answer = Box<dyn FnMut(&str) -> std::result::Result<TrackResult, CarrierError> + Send>;

/// A carrier that answers from a script and logs when it was called.
struct Fake {
    limit: RateLimit,
    batch: usize,
    script: Mutex<VecDeque<std::result::Result<(), CarrierError>>>,
    answer: Mutex<Answer>,
    calls: Mutex<Vec<(Instant, usize)>>,
}

impl Fake {
    fn new(per_sec: u32) -> Self {
        Self {
            limit: RateLimit {
                requests: per_sec,
                per: Duration::from_secs(1),
            },
            batch: 1,
            script: Mutex::new(VecDeque::new()),
            answer: Mutex::new(Box::new(|_| Ok(in_transit()))),
            calls: Mutex::new(Vec::new()),
        }
    }
    fn calls(&self) -> Vec<(Instant, usize)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Carrier for Fake {
    fn id(&self) -> &'static str {
        "fake"
    }
    fn serves(&self, carrier: &str) -> bool {
        carrier == "dhl"
    }
    fn max_batch(&self) -> usize {
        self.batch
    }
    fn rate_limit(&self) -> RateLimit {
        self.limit
    }
    fn track<'a>(&'a self, numbers: &'a [String]) -> BoxFuture<'a, BatchResult> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push((Instant::now(), numbers.len()));
            if let Some(Err(e)) = self.script.lock().unwrap().pop_front() {
                return Err(e);
            }
            let mut answer = self.answer.lock().unwrap();
            Ok(numbers.iter().map(|n| (n.clone(), answer(n))).collect())
        })
    }
    fn parse(&self, _body: &[u8]) -> BatchResult {
        Ok(Vec::new())
    }
}

/// One "now" for every scripted answer, so the same event is the same event on every poll.
static BASE: std::sync::LazyLock<DateTime<Utc>> = std::sync::LazyLock::new(Utc::now);

fn event(hours_ago: i64, status: Status, desc: &str) -> NewEvent {
    NewEvent {
        occurred_at: (*BASE - chrono::Duration::hours(hours_ago)).fixed_offset(),
        status,
        raw_code: Some(status.as_str().into()),
        description: desc.into(),
        location: Place {
            city: Some("Leipzig".into()),
            ..Place::default()
        },
        source: Source::Poll,
    }
}

fn in_transit() -> TrackResult {
    TrackResult {
        status: Some(Status::InTransit),
        events: vec![
            event(30, Status::InfoReceived, "Label"),
            event(20, Status::InTransit, "Picked up"),
        ],
        ..TrackResult::default()
    }
}

fn store_with(n: usize) -> (SharedStore, Vec<crate::domain::ShipmentId>) {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let new: Vec<NewShipment> = (0..n)
        .map(|i| NewShipment {
            tracking_number: format!("N{i:04}"),
            carrier: "dhl".into(),
            ..NewShipment::default()
        })
        .collect();
    let ids = s
        .add_shipments(&new, Utc::now() - chrono::Duration::minutes(1))
        .unwrap()
        .into_iter()
        .map(|a| a.shipment.id)
        .collect();
    (Arc::new(Mutex::new(s)), ids)
}

fn config() -> PollerConfig {
    PollerConfig {
        jitter: 0.0,
        retry_base: Duration::from_millis(100),
        ..PollerConfig::default()
    }
}

fn shipment(store: &SharedStore, id: crate::domain::ShipmentId) -> crate::domain::Shipment {
    store.lock().unwrap().shipment(id).unwrap()
}

#[test]
fn intervals_follow_the_parcel() {
    let c = config();
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let mins = |s, news: DateTime<Utc>| c.next_poll(s, news, now).map(|t| (t - now).num_minutes());
    assert_eq!(
        mins(Status::InTransit, now),
        Some(30),
        "the default: every 30 minutes"
    );
    assert_eq!(mins(Status::OutForDelivery, now), Some(10));
    assert_eq!(mins(Status::InfoReceived, now), Some(120));
    assert_eq!(
        mins(Status::InTransit, now - chrono::Duration::days(4)),
        Some(360),
        "stale"
    );
    assert_eq!(mins(Status::Delivered, now), None);
    assert_eq!(mins(Status::Returned, now), None);
    let fast = PollerConfig {
        time_scale: 60.0,
        ..config()
    };
    assert_eq!(
        fast.next_poll(Status::InTransit, now, now)
            .map(|t| (t - now).num_seconds()),
        Some(30)
    );
}

#[tokio::test]
async fn a_pass_ingests_publishes_and_schedules() {
    let (store, ids) = store_with(3);
    let fake = Arc::new(Fake::new(100));
    let poller = Poller::new(store.clone(), vec![fake.clone()], config()).unwrap();
    let mut rx = poller.subscribe();
    let r = poller.poll_due().await.unwrap();
    assert_eq!((r.polled, r.requests, r.failed), (3, 3, 0));
    let s = shipment(&store, ids[0]);
    assert_eq!(s.status, Status::InTransit);
    assert_eq!(s.event_count, 2);
    let next = s.next_poll_at.unwrap() - s.last_polled_at.unwrap();
    assert_eq!(next.num_minutes(), 30);
    let mut status_changes = 0;
    while let Ok(c) = rx.try_recv() {
        if matches!(
            c,
            Change::StatusChanged {
                to: Status::InTransit,
                ..
            }
        ) {
            status_changes += 1;
        }
    }
    assert_eq!(status_changes, 3);
    // Nothing is due now: a second pass asks nobody.
    assert_eq!(poller.poll_due().await.unwrap().polled, 0);
    // A refresh polls again; the same answer stores nothing twice and announces nothing.
    store.lock().unwrap().poll_now(None, Utc::now()).unwrap();
    let r = poller.poll_due().await.unwrap();
    assert_eq!((r.polled, r.changes), (3, 0));
    assert_eq!(shipment(&store, ids[0]).event_count, 2);
}

#[tokio::test]
async fn delivered_parcels_stop_polling() {
    let (store, ids) = store_with(1);
    let fake = Arc::new(Fake::new(100));
    *fake.answer.lock().unwrap() = Box::new(|_| {
        Ok(TrackResult {
            events: vec![event(2, Status::Delivered, "Delivered")],
            ..TrackResult::default()
        })
    });
    let poller = Poller::new(store.clone(), vec![fake], config()).unwrap();
    poller.poll_due().await.unwrap();
    let s = shipment(&store, ids[0]);
    assert_eq!(s.status, Status::Delivered);
    assert_eq!(s.next_poll_at, None);
}

#[tokio::test]
async fn an_unknown_number_is_pending_before_it_is_a_problem() {
    let (store, ids) = store_with(1);
    let fake = Arc::new(Fake::new(100));
    *fake.answer.lock().unwrap() =
        Box::new(|_| Err(CarrierError::NotFound("No shipment found".into())));
    let poller = Poller::new(store.clone(), vec![fake.clone()], config()).unwrap();
    poller.poll_due().await.unwrap();
    let s = shipment(&store, ids[0]);
    assert_eq!(
        (s.status, s.last_error.clone()),
        (Status::Pending, None),
        "a label created today is not a problem"
    );
    // After the grace period it is: scaled so 3 days (grace) pass in the minute since the
    // parcel was added, but 30 days (expiry) do not.
    let late = PollerConfig {
        time_scale: 10_000.0,
        ..config()
    };
    let poller = Poller::new(store.clone(), vec![fake], late).unwrap();
    store.lock().unwrap().poll_now(None, Utc::now()).unwrap();
    poller.poll_due().await.unwrap();
    let s = shipment(&store, ids[0]);
    assert!(
        s.last_error.unwrap().contains("no record"),
        "after the grace period it needs attention"
    );
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_backoff() {
    let (store, ids) = store_with(1);
    let fake = Arc::new(Fake::new(100));
    fake.script.lock().unwrap().extend([
        Err(CarrierError::Transient {
            message: "HTTP 503".into(),
            retry_after: None,
        }),
        Err(CarrierError::Transient {
            message: "reset".into(),
            retry_after: None,
        }),
    ]);
    let poller = Poller::new(store.clone(), vec![fake.clone()], config()).unwrap();
    let r = poller.poll_due().await.unwrap();
    assert_eq!((r.requests, r.failed), (3, 0));
    assert_eq!(shipment(&store, ids[0]).status, Status::InTransit);
    let calls = fake.calls();
    let gap = |i: usize| calls[i].0 - calls[i - 1].0;
    assert!(
        gap(1) >= Duration::from_millis(80) && gap(2) >= Duration::from_millis(160),
        "exponential backoff: {:?}",
        (gap(1), gap(2))
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_survives_a_restart() {
    let (store, _) = store_with(2);
    let fake = Arc::new(Fake::new(100));
    fake.script
        .lock()
        .unwrap()
        .push_back(Err(CarrierError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        }));
    let poller = Poller::new(store.clone(), vec![fake.clone()], config()).unwrap();
    poller.poll_due().await.unwrap();
    let calls = fake.calls();
    assert!(
        calls[1].0 - calls[0].0 >= Duration::from_secs(7),
        "waited for Retry-After"
    );

    // A 429 with a long back-off, then a restart: the new poller waits it out.
    let fake = Arc::new(Fake::new(100));
    fake.script.lock().unwrap().extend((0..4).map(|_| {
        Err(CarrierError::RateLimited {
            retry_after: Some(Duration::from_secs(3600)),
        })
    }));
    let poller = Poller::new(
        store.clone(),
        vec![fake.clone()],
        PollerConfig {
            retries: 0,
            ..config()
        },
    )
    .unwrap();
    store.lock().unwrap().poll_now(None, Utc::now()).unwrap();
    poller.poll_due().await.unwrap();
    let saved = store.lock().unwrap().carrier_states().unwrap();
    assert!(saved[0].backoff_until.unwrap() > Utc::now() + chrono::Duration::minutes(50));
    let started = Instant::now();
    let fresh = Arc::new(Fake::new(100));
    let poller = Poller::new(store.clone(), vec![fresh.clone()], config()).unwrap();
    store.lock().unwrap().poll_now(None, Utc::now()).unwrap();
    poller.poll_due().await.unwrap();
    assert!(
        fresh.calls()[0].0 - started >= Duration::from_secs(3500),
        "no request before the saved back-off ends"
    );
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_holds() {
    let (store, _) = store_with(50);
    let fake = Arc::new(Fake::new(10));
    let poller = Poller::new(
        store,
        vec![fake.clone()],
        PollerConfig {
            concurrency: 8,
            ..config()
        },
    )
    .unwrap();
    let started = Instant::now();
    poller.poll_due().await.unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 50);
    // 50 requests at 10 a second, starting from an empty bucket: 5 seconds.
    let took = calls.last().unwrap().0 - started;
    assert!(
        took >= Duration::from_millis(4900) && took <= Duration::from_millis(5200),
        "{took:?}"
    );
    // No one-second window holds more than 10 (+1 for the window edge).
    for (i, c) in calls.iter().enumerate() {
        let in_window = calls[i..]
            .iter()
            .take_while(|d| d.0 - c.0 < Duration::from_secs(1))
            .count();
        assert!(in_window <= 11, "{in_window} requests within one second");
    }
}

#[tokio::test(start_paused = true)]
async fn the_circuit_breaker_opens_and_closes() {
    let (store, ids) = store_with(6);
    let fake = Arc::new(Fake::new(4));
    fake.script.lock().unwrap().extend((0..5).map(|_| {
        Err(CarrierError::Transient {
            message: "HTTP 500".into(),
            retry_after: None,
        })
    }));
    let cfg = PollerConfig {
        retries: 0,
        concurrency: 1,
        breaker_threshold: 5,
        breaker_cooldown: Duration::from_secs(30),
        ..config()
    };
    let poller = Poller::new(store.clone(), vec![fake.clone()], cfg).unwrap();
    let r = poller.poll_due().await.unwrap();
    // Five failures open the circuit; the sixth parcel is held, not sent.
    assert_eq!(fake.calls().len(), 5);
    assert_eq!(r.failed, 5);
    let st = &poller.carrier_states()[0];
    assert_eq!(st.breaker, Breaker::Open);
    let held = ids
        .iter()
        .map(|id| shipment(&store, *id))
        .find(|s| {
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("paused"))
        })
        .unwrap();
    assert!(held.next_poll_at.unwrap() > Utc::now());
    assert_eq!(
        store.lock().unwrap().carrier_states().unwrap()[0].breaker,
        Breaker::Open,
        "persisted"
    );

    // After the cool-down one probe goes out; it succeeds and the circuit closes.
    tokio::time::advance(Duration::from_secs(31)).await;
    let st = poller.inner.gates[0].clone();
    {
        let mut s = st.state.lock().unwrap();
        s.breaker_until = Some(Utc::now() - chrono::Duration::seconds(1));
    }
    store.lock().unwrap().poll_now(None, Utc::now()).unwrap();
    let r = poller.poll_due().await.unwrap();
    assert_eq!(r.failed, 0);
    assert_eq!(poller.carrier_states()[0].breaker, Breaker::Closed);
    assert!(
        ids.iter()
            .all(|id| shipment(&store, *id).last_error.is_none())
    );
}

#[test]
fn a_time_scale_without_a_clock_is_refused() {
    for scale in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
        let (store, _) = store_with(1);
        let cfg = PollerConfig {
            time_scale: scale,
            ..config()
        };
        let err = Poller::new(store, vec![Arc::new(Fake::new(10))], cfg)
            .err()
            .unwrap_or_else(|| panic!("time scale {scale} was accepted"));
        assert!(err.to_string().contains("time scale"), "{err}");
    }
}

#[tokio::test]
async fn a_very_slow_clock_saturates_instead_of_overflowing() {
    let (store, ids) = store_with(1);
    let cfg = PollerConfig {
        time_scale: 1e-9,
        archive_delivered_after: Duration::from_secs(86_400 * 3650),
        ..config()
    };
    let poller = Poller::new(store.clone(), vec![Arc::new(Fake::new(100))], cfg).unwrap();
    let r = poller.poll_due().await.unwrap();
    assert_eq!(r.polled, 1);
    let next = shipment(&store, ids[0]).next_poll_at.unwrap();
    assert!(
        next > Utc::now() + chrono::Duration::days(365 * 10_000),
        "{next}"
    );
}

/// Serves the carrier but declines some numbers, as a real carrier declines the demo's.
struct Declines(Arc<Fake>, &'static str);

impl Carrier for Declines {
    fn id(&self) -> &'static str {
        "declines"
    }
    fn serves(&self, carrier: &str) -> bool {
        self.0.serves(carrier)
    }
    fn serves_number(&self, carrier: &str, number: &str) -> bool {
        self.serves(carrier) && number != self.1
    }
    fn max_batch(&self) -> usize {
        self.0.max_batch()
    }
    fn rate_limit(&self) -> RateLimit {
        self.0.rate_limit()
    }
    fn track<'a>(&'a self, numbers: &'a [String]) -> BoxFuture<'a, BatchResult> {
        self.0.track(numbers)
    }
    fn parse(&self, body: &[u8]) -> BatchResult {
        self.0.parse(body)
    }
}

#[tokio::test]
async fn a_declined_number_goes_to_the_next_adapter_only() {
    let (store, _) = store_with(2);
    let first = Arc::new(Fake::new(100));
    let second = Arc::new(Fake::new(100));
    let poller = Poller::new(
        store,
        vec![Arc::new(Declines(first.clone(), "N0000")), second.clone()],
        config(),
    )
    .unwrap();
    let r = poller.poll_due().await.unwrap();
    assert_eq!((r.polled, r.failed), (2, 0));
    assert_eq!(first.calls().len(), 1, "the first adapter saw only N0001");
    assert_eq!(
        second.calls().len(),
        1,
        "the declined N0000 went to the second"
    );
}

#[tokio::test]
async fn a_carrier_without_an_adapter_is_reported_on_the_parcel() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let a = s
        .add_shipment(
            &NewShipment {
                tracking_number: "1Z".into(),
                carrier: "ups".into(),
                ..NewShipment::default()
            },
            Utc::now(),
        )
        .unwrap();
    let store: SharedStore = Arc::new(Mutex::new(s));
    let poller = Poller::new(store.clone(), vec![Arc::new(Fake::new(10))], config()).unwrap();
    let r = poller.poll_due().await.unwrap();
    assert_eq!(r.failed, 1);
    let sh = shipment(&store, a.shipment.id);
    assert!(sh.last_error.unwrap().contains("no UPS account is set up"));
    assert!(sh.next_poll_at.unwrap() > Utc::now() + chrono::Duration::hours(5));
}

#[tokio::test]
async fn stale_parcels_expire_and_old_deliveries_archive() {
    let (store, ids) = store_with(2);
    let fake = Arc::new(Fake::new(100));
    *fake.answer.lock().unwrap() = Box::new(|n| {
        Ok(TrackResult {
            events: vec![if n == "N0000" {
                event(24 * 40, Status::InTransit, "Hub")
            } else {
                event(24 * 20, Status::Delivered, "Delivered")
            }],
            ..TrackResult::default()
        })
    });
    let poller = Poller::new(store.clone(), vec![fake], config()).unwrap();
    poller.poll_due().await.unwrap();
    poller.poll_due().await.unwrap(); // housekeeping sees the stored events
    let stale = shipment(&store, ids[0]);
    assert_eq!((stale.status, stale.next_poll_at), (Status::Expired, None));
    assert!(shipment(&store, ids[1]).archived);
}
