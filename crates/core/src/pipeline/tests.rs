use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};

use super::*;
use crate::domain::{NewEvent, Place, Source, Status};
use crate::notify::rules::{KindSet, QuietHours};
use crate::notify::{Channel, Message, Notifier, NotifyError};
use crate::store::{IngestBatch, NewShipment, OrderInfo, OutboxState, SqliteStore};

/// A channel that remembers what it was given and can be told to fail.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<Message>>,
    fail: Mutex<Option<NotifyError>>,
}

impl Notifier for Recorder {
    fn channel(&self) -> Channel {
        Channel::Desktop
    }
    fn send<'a>(
        &'a self,
        m: &'a Message,
    ) -> crate::carrier::BoxFuture<'a, std::result::Result<(), NotifyError>> {
        Box::pin(async move {
            if let Some(e) = self.fail.lock().unwrap().clone() {
                return Err(e);
            }
            self.sent.lock().unwrap().push(m.clone());
            Ok(())
        })
    }
}

impl Recorder {
    fn titles(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.title.clone())
            .collect()
    }
}

fn t0() -> DateTime<Utc> {
    // A Monday, 10:00 UTC.
    Utc.with_ymd_and_hms(2026, 5, 4, 10, 0, 0).unwrap()
}

fn ev(at: DateTime<Utc>, status: Status, text: &str) -> NewEvent {
    NewEvent {
        occurred_at: at.fixed_offset(),
        status,
        raw_code: None,
        description: text.into(),
        location: Place {
            city: Some("Leipzig".into()),
            country: Some("DE".into()),
            ..Place::default()
        },
        source: Source::Poll,
    }
}

struct Setup {
    store: SharedStore,
    recorder: Arc<Recorder>,
    pipeline: Pipeline,
}

fn utc_prefs(store: &SharedStore, edit: impl FnOnce(&mut Prefs)) {
    let mut s = store.lock().unwrap();
    let mut p = load_prefs(&*s).unwrap();
    p.tz = chrono_tz::Tz::UTC;
    edit(&mut p);
    save_prefs(&mut *s, &p, Utc::now()).unwrap();
}

fn setup_with(db: SqliteStore) -> Setup {
    let store: SharedStore = Arc::new(Mutex::new(db));
    utc_prefs(&store, |_| {});
    let recorder = Arc::new(Recorder::default());
    let pipeline = Pipeline::new(
        store.clone(),
        PipelineConfig::default(),
        vec![recorder.clone() as Arc<dyn Notifier>],
    )
    .unwrap();
    Setup {
        store,
        recorder,
        pipeline,
    }
}

fn setup() -> Setup {
    setup_with(SqliteStore::open_in_memory().unwrap())
}

fn add(s: &Setup, number: &str, label: Option<&str>) -> ShipmentId {
    s.store
        .lock()
        .unwrap()
        .add_shipment(
            &NewShipment {
                tracking_number: number.into(),
                carrier: "dhl".into(),
                label: label.map(Into::into),
                order: OrderInfo {
                    store: Some("Bookshop".into()),
                    ..OrderInfo::default()
                },
                ..NewShipment::default()
            },
            t0() - Duration::days(1),
        )
        .unwrap()
        .shipment
        .id
}

/// Six parcels labelled P1 to P6.
fn add_six(s: &Setup) -> Vec<ShipmentId> {
    (1..=6)
        .map(|i| {
            add(
                s,
                &format!("JJD00000000000000000{i}"),
                Some(&format!("P{i}")),
            )
        })
        .collect()
}

fn ingest(s: &Setup, id: ShipmentId, events: Vec<NewEvent>, now: DateTime<Utc>) {
    s.store
        .lock()
        .unwrap()
        .ingest(&[IngestBatch::events(id, events)], now)
        .unwrap();
}

/// What one poll pass followed by the pipeline does at `now`.
async fn pass(s: &Setup, ids: &[ShipmentId], now: DateTime<Utc>) -> Dispatched {
    s.pipeline.derive(Some(ids), now).unwrap();
    s.pipeline.record(now).unwrap();
    s.pipeline.release(now).unwrap();
    s.pipeline.dispatch(now).await.unwrap()
}

#[tokio::test]
async fn a_journey_notifies_each_step_once_and_coalesces_one_poll() {
    let s = setup();
    let id = add(&s, "JJD000000000000000001", Some("Novel"));
    ingest(&s, id, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
    pass(&s, &[id], t0()).await;
    assert_eq!(s.recorder.titles(), ["Novel · Shipped"]);
    let first = s.recorder.sent.lock().unwrap()[0].clone();
    assert_eq!(first.link, format!("parceltrail://parcel/{id}"));
    assert!(
        first.body.contains("JJD000000000000000001"),
        "{}",
        first.body
    );
    assert!(
        first.body.contains("Arrives"),
        "the ETA is in the text: {}",
        first.body
    );

    // Nothing new: nothing sent, however often the pipeline runs.
    pass(&s, &[id], t0()).await;
    pass(&s, &[], t0() + Duration::minutes(5)).await;
    assert_eq!(s.recorder.titles().len(), 1);

    // Out for delivery and delivered arrive in the same poll: one notification.
    let t1 = t0() + Duration::days(1);
    ingest(
        &s,
        id,
        vec![
            ev(t1, Status::OutForDelivery, "Out for delivery"),
            ev(t1 + Duration::hours(3), Status::Delivered, "Delivered"),
        ],
        t1 + Duration::hours(3),
    );
    pass(&s, &[id], t1 + Duration::hours(3)).await;
    let titles = s.recorder.titles();
    assert_eq!(titles, ["Novel · Shipped", "Novel · Delivered"]);
    let last = s.recorder.sent.lock().unwrap()[1].clone();
    assert!(
        !last.body.contains("Arrives"),
        "no estimate once delivered: {}",
        last.body
    );
    assert!(last.title.chars().count() + last.body.chars().count() + 3 <= 160);

    let log = s.store.lock().unwrap().notifications(10).unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|n| n.state == OutboxState::Sent));
}

/// Quiet hours 22:00–07:00 (UTC); at 23:30 one parcel ships and another is delivered.
async fn night_with_two_parcels(allow_delivered: bool) -> Setup {
    let s = setup();
    utc_prefs(&s.store, |p| {
        p.quiet = Some(QuietHours {
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            allow_delivered,
        })
    });
    let night = Utc.with_ymd_and_hms(2026, 5, 4, 23, 30, 0).unwrap();
    let a = add(&s, "JJD000000000000000001", Some("Lamp"));
    let b = add(&s, "JJD000000000000000002", Some("Boots"));
    ingest(
        &s,
        a,
        vec![ev(night, Status::InTransit, "Picked up")],
        night,
    );
    ingest(
        &s,
        b,
        vec![ev(night, Status::Delivered, "Delivered")],
        night,
    );
    pass(&s, &[a, b], night).await;
    s
}

#[tokio::test]
async fn quiet_hours_hold_then_one_summary() {
    let s = night_with_two_parcels(false).await;
    assert!(s.recorder.titles().is_empty(), "nothing during quiet hours");
    assert_eq!(
        s.store.lock().unwrap().held_notifications().unwrap().len(),
        2
    );

    // Still quiet at 6:59; at 7:00 one summary goes out.
    let early = Utc.with_ymd_and_hms(2026, 5, 5, 6, 59, 0).unwrap();
    pass(&s, &[], early).await;
    assert!(s.recorder.titles().is_empty());
    let morning = Utc.with_ymd_and_hms(2026, 5, 5, 7, 0, 0).unwrap();
    pass(&s, &[], morning).await;
    let sent = s.recorder.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].title, "While you were away: 2 parcel updates");
    assert!(sent[0].body.contains("Lamp · Shipped") && sent[0].body.contains("Boots · Delivered"));
    assert_eq!(sent[0].link, "parceltrail://parcels");
    let states: Vec<OutboxState> = {
        let store = s.store.lock().unwrap();
        assert!(store.held_notifications().unwrap().is_empty());
        store
            .notifications(10)
            .unwrap()
            .iter()
            .map(|n| n.state)
            .collect()
    };
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == OutboxState::Summarized)
            .count(),
        2
    );
    pass(&s, &[], morning + Duration::hours(1)).await;
    assert_eq!(s.recorder.titles().len(), 1, "the summary is sent once");
}

#[tokio::test]
async fn delivered_may_come_through_quiet_hours() {
    let s = night_with_two_parcels(true).await;
    assert_eq!(s.recorder.titles(), ["Boots · Delivered"]);
}

#[tokio::test]
async fn muted_parcels_and_per_parcel_kinds() {
    let s = setup();
    let a = add(&s, "JJD000000000000000001", Some("Muted"));
    let b = add(&s, "JJD000000000000000002", Some("Picky"));
    {
        let mut store = s.store.lock().unwrap();
        store
            .edit(a, crate::store::Edit::Muted(true), t0())
            .unwrap();
        store
            .edit(
                b,
                crate::store::Edit::NotifyKinds(Some("delivered".parse().unwrap())),
                t0(),
            )
            .unwrap();
    }
    for id in [a, b] {
        ingest(&s, id, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
    }
    pass(&s, &[a, b], t0()).await;
    assert!(s.recorder.titles().is_empty());
    let t1 = t0() + Duration::hours(5);
    for id in [a, b] {
        ingest(&s, id, vec![ev(t1, Status::Delivered, "Delivered")], t1);
    }
    pass(&s, &[a, b], t1).await;
    assert_eq!(s.recorder.titles(), ["Picky · Delivered"]);
}

#[tokio::test]
async fn channel_kinds_filter_and_imported_history_is_not_news() {
    let s = setup();
    utc_prefs(&s.store, |p| {
        p.channel_mut(Channel::Desktop).kinds = "delivered,problems".parse::<KindSet>().unwrap()
    });
    // Imported with its history: nothing to announce.
    let imported = s
        .store
        .lock()
        .unwrap()
        .add_shipment(
            &NewShipment {
                tracking_number: "JJD000000000000000009".into(),
                carrier: "dhl".into(),
                events: vec![ev(t0(), Status::Delivered, "Delivered")],
                ..NewShipment::default()
            },
            t0(),
        )
        .unwrap()
        .shipment
        .id;
    let a = add(&s, "JJD000000000000000001", Some("Lamp"));
    ingest(&s, a, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
    pass(&s, &[a, imported], t0()).await;
    assert!(s.recorder.titles().is_empty(), "{:?}", s.recorder.titles());
    // A first poll that finds a delivery from last week is history too.
    let b = add(&s, "JJD000000000000000002", Some("Old"));
    ingest(
        &s,
        b,
        vec![ev(t0() - Duration::days(7), Status::Delivered, "Delivered")],
        t0(),
    );
    pass(&s, &[b], t0()).await;
    assert!(s.recorder.titles().is_empty());
}

#[tokio::test]
async fn stuck_parcels_open_a_problem_that_notifies_once_and_resolves() {
    let s = setup();
    let a = add(&s, "JJD000000000000000001", Some("Chair"));
    ingest(&s, a, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
    pass(&s, &[a], t0()).await;
    let later = t0() + Duration::hours(73);
    s.pipeline.derive(None, later).unwrap();
    s.pipeline.record(later).unwrap();
    s.pipeline.dispatch(later).await.unwrap();
    assert_eq!(
        s.recorder.titles(),
        ["Chair · Shipped", "Chair · No movement"]
    );
    let open = s.store.lock().unwrap().open_problems(Some(a)).unwrap();
    assert_eq!(open.len(), 1);
    // Seen again later: the same problem, no second notification.
    pass(&s, &[a], later + Duration::hours(5)).await;
    assert_eq!(s.recorder.titles().len(), 2);
    // News resolves it.
    let t2 = later + Duration::hours(6);
    ingest(&s, a, vec![ev(t2, Status::InTransit, "Arrived at hub")], t2);
    pass(&s, &[a], t2).await;
    assert!(
        s.store
            .lock()
            .unwrap()
            .open_problems(Some(a))
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.recorder.titles().len(), 2);
}

#[tokio::test]
async fn exceptions_notify_as_problems_with_the_carriers_words() {
    let s = setup();
    let a = add(&s, "JJD000000000000000001", None);
    ingest(
        &s,
        a,
        vec![
            ev(t0(), Status::InTransit, "Picked up"),
            ev(
                t0() + Duration::hours(2),
                Status::Exception,
                "Customs clearance: on hold pending duties",
            ),
        ],
        t0() + Duration::hours(2),
    );
    pass(&s, &[a], t0() + Duration::hours(2)).await;
    let sent = s.recorder.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].title, "Bookshop · Held in customs");
    assert!(
        sent[0]
            .body
            .starts_with("Customs clearance: on hold pending duties")
    );
    assert_eq!(sent[0].urgency, crate::notify::Urgency::Critical);
}

#[tokio::test]
async fn many_parcels_in_one_pass_become_one_digest() {
    let s = setup();
    let ids = add_six(&s);
    for id in &ids {
        ingest(
            &s,
            *id,
            vec![ev(t0(), Status::Delivered, "Delivered")],
            t0(),
        );
    }
    pass(&s, &ids, t0()).await;
    let sent = s.recorder.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].title, "6 parcels delivered");
    assert_eq!(sent[0].body, "P1, P2, P3, P4, P5, P6");
}

#[tokio::test]
async fn a_digest_leaves_a_problem_its_own_notification() {
    // Which parcels (by index) are held in customs -> what is shown.
    let cases: [(&[usize], &[&str]); 2] = [
        (&[2], &["5 parcels shipped", "P3 · Held in customs"]),
        // Four problems or more: a pop-up each would be the burst again; one digest.
        (&[0, 1, 2, 3, 4], &["6 parcel updates"]),
    ];
    for (held, expected) in cases {
        let s = setup();
        let ids = add_six(&s);
        for (i, id) in ids.iter().enumerate() {
            let mut events = vec![ev(t0(), Status::InTransit, "Picked up")];
            if held.contains(&i) {
                events.push(ev(
                    t0() + Duration::minutes(5),
                    Status::Exception,
                    "Customs clearance: on hold pending duties",
                ));
            }
            ingest(&s, *id, events, t0() + Duration::minutes(5));
        }
        pass(&s, &ids, t0() + Duration::minutes(5)).await;
        let mut titles = s.recorder.titles();
        titles.sort();
        assert_eq!(titles, expected, "{held:?}");
    }
}

/// A first sync polls parcel after parcel; the pipeline waits for the changes to pause, so
/// their news arrives as one digest instead of a pop-up per parcel.
#[tokio::test]
async fn news_polled_parcel_after_parcel_arrives_as_one_digest() {
    let s = setup();
    let ids = add_six(&s);
    let Setup {
        store,
        recorder,
        pipeline,
    } = s;
    let (tx, rx) = broadcast::channel(64);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(Arc::new(pipeline).run(rx, async {
        let _ = stop_rx.await;
    }));
    for id in &ids {
        // Picked up a minute ago: news, not history.
        let now = Utc::now();
        let events = vec![ev(
            now - Duration::minutes(1),
            Status::InTransit,
            "Picked up",
        )];
        store
            .lock()
            .unwrap()
            .ingest(&[IngestBatch::events(*id, events)], now)
            .unwrap();
        tx.send(Change::ShipmentEdited { shipment_id: *id })
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while recorder.titles().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Anything still to come would follow within the gathering window.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(recorder.titles(), ["6 parcels shipped"]);
    stop_tx.send(()).unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn failures_retry_with_backoff_and_rejections_stop() {
    let s = setup();
    let a = add(&s, "JJD000000000000000001", Some("Lamp"));
    ingest(&s, a, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
    *s.recorder.fail.lock().unwrap() = Some(NotifyError::Unavailable("no daemon".into()));
    let r = pass(&s, &[a], t0()).await;
    assert_eq!(r.retrying, 1);
    let n = s.store.lock().unwrap().notifications(1).unwrap().remove(0);
    assert_eq!((n.state, n.attempts), (OutboxState::Pending, 1));
    assert_eq!(n.last_error.as_deref(), Some("no daemon"));
    let retry_at = n.next_attempt_at.unwrap();
    assert!(retry_at > Utc::now() + Duration::seconds(20), "backs off");
    // Not yet due: nothing happens.
    *s.recorder.fail.lock().unwrap() = None;
    assert_eq!(s.pipeline.dispatch(Utc::now()).await.unwrap().sent, 0);
    // Due: sent once.
    assert_eq!(s.pipeline.dispatch(retry_at).await.unwrap().sent, 1);
    assert_eq!(
        s.pipeline
            .dispatch(retry_at + Duration::hours(2))
            .await
            .unwrap()
            .sent,
        0
    );
    assert_eq!(s.recorder.titles(), ["Lamp · Shipped"]);

    let b = add(&s, "JJD000000000000000002", Some("Boots"));
    ingest(&s, b, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
    *s.recorder.fail.lock().unwrap() = Some(NotifyError::Rejected("bad".into()));
    let r = pass(&s, &[b], t0()).await;
    assert_eq!(r.failed, 1);
    assert_eq!(
        s.store.lock().unwrap().notifications(1).unwrap()[0].state,
        OutboxState::Failed
    );
}

#[tokio::test]
async fn a_message_held_for_later_waits_without_counting_an_attempt() {
    let s = setup();
    let a = add(&s, "JJD000000000000000003", Some("Lamp"));
    ingest(&s, a, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
    let until = Utc::now() + Duration::hours(3);
    *s.recorder.fail.lock().unwrap() = Some(NotifyError::Later {
        until,
        reason: "the customer's quiet hours".into(),
    });
    let r = pass(&s, &[a], t0()).await;
    assert_eq!((r.sent, r.failed, r.retrying), (0, 0, 0));
    let n = s.store.lock().unwrap().notifications(1).unwrap().remove(0);
    assert_eq!((n.state, n.attempts), (OutboxState::Pending, 0));
    assert_eq!(
        n.next_attempt_at.map(|t| t.timestamp_millis()),
        Some(until.timestamp_millis())
    );
    assert_eq!(n.last_error.as_deref(), Some("the customer's quiet hours"));
    // Before its time nothing goes; at it, the message does, once.
    *s.recorder.fail.lock().unwrap() = None;
    assert_eq!(
        s.pipeline
            .dispatch(until - Duration::minutes(1))
            .await
            .unwrap()
            .sent,
        0
    );
    assert_eq!(s.pipeline.dispatch(until).await.unwrap().sent, 1);
    assert_eq!(s.recorder.titles(), ["Lamp · Shipped"]);
}

#[tokio::test]
async fn a_crash_between_recorded_and_sent_sends_exactly_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parceltrail.db");
    let id;
    {
        // First run: the notification is recorded (committed), then the process dies before
        // the dispatcher runs: dropping everything here leaves exactly the state a crash
        // leaves, since only committed rows survive either way.
        let s = setup_with(SqliteStore::open(&path).unwrap());
        id = add(&s, "JJD000000000000000001", Some("Lamp"));
        ingest(&s, id, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
        s.pipeline.derive(Some(&[id]), t0()).unwrap();
        assert_eq!(s.pipeline.record(t0()).unwrap(), 1);
        assert!(s.recorder.titles().is_empty());
    }
    for _restart in 0..3 {
        let s = setup_with(SqliteStore::open(&path).unwrap());
        pass(&s, &[], t0() + Duration::minutes(1)).await;
        pass(&s, &[id], t0() + Duration::minutes(2)).await;
        let sent = s.recorder.titles();
        if _restart == 0 {
            assert_eq!(sent, ["Lamp · Shipped"], "sent after the restart");
        } else {
            assert!(sent.is_empty(), "and never again: {sent:?}");
        }
    }
}

#[tokio::test]
async fn a_crash_mid_send_is_retried_after_the_lease() {
    let s = setup();
    let a = add(&s, "JJD000000000000000001", Some("Lamp"));
    ingest(&s, a, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
    s.pipeline.derive(Some(&[a]), t0()).unwrap();
    s.pipeline.record(t0()).unwrap();
    // Another dispatcher claimed it and died before sending.
    let n = s.store.lock().unwrap().notifications(1).unwrap().remove(0);
    let now = Utc::now();
    assert!(
        s.store
            .lock()
            .unwrap()
            .claim_notification(n.id, now + Duration::seconds(60), now)
            .unwrap()
    );
    assert_eq!(
        s.pipeline.dispatch(now).await.unwrap().sent,
        0,
        "leased to the other"
    );
    assert_eq!(
        s.pipeline
            .dispatch(now + Duration::seconds(61))
            .await
            .unwrap()
            .sent,
        1
    );
}

#[tokio::test]
async fn news_from_one_pass_coalesce_behind_the_most_important() {
    let s = setup();
    let id = s
        .store
        .lock()
        .unwrap()
        .add_shipment(
            &NewShipment {
                tracking_number: "JJD000000000000000001".into(),
                carrier: "dhl".into(),
                label: Some("Desk".into()),
                order: OrderInfo {
                    // The shop promised Saturday; it is Monday.
                    promised_at: Some((t0() - Duration::days(2)).fixed_offset()),
                    ..OrderInfo::default()
                },
                ..NewShipment::default()
            },
            t0() - Duration::days(5),
        )
        .unwrap()
        .shipment
        .id;
    ingest(
        &s,
        id,
        vec![ev(t0(), Status::OutForDelivery, "Out for delivery")],
        t0(),
    );
    pass(&s, &[id], t0()).await;
    let sent = s.recorder.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].title, "Desk · Out for delivery");
    assert!(sent[0].body.contains("Also: late"), "{}", sent[0].body);
}

#[tokio::test]
async fn a_journey_stretch_is_recorded_by_one_process_only() {
    let s = setup();
    let a = add(&s, "JJD000000000000000001", Some("Lamp"));
    ingest(&s, a, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
    s.pipeline.derive(Some(&[a]), t0()).unwrap();
    // Another process read the same stretch of the journal and recorded it first.
    let mut store = s.store.lock().unwrap();
    let from = store.journal_cursor().unwrap();
    let (_, to) = store.journal(from, 100).unwrap();
    assert!(
        store
            .record_notifications(from, to, &[], &[], t0())
            .unwrap()
    );
    let draft = rules::Draft {
        id: uuid::Uuid::now_v7(),
        dedupe_key: uuid::Uuid::now_v7(),
        channel: Channel::Desktop,
        shipment_id: Some(a),
        kind: Some(Kind::Shipped),
        title: "Lamp · Shipped".into(),
        body: String::new(),
        link: crate::notify::parcel_link(a),
        urgency: crate::notify::Urgency::Low,
        initial: rules::Initial::Pending,
    };
    assert!(
        !store
            .record_notifications(from, to, &[], &[draft], t0())
            .unwrap(),
        "a stale cursor is refused"
    );
    assert!(
        store.notifications(10).unwrap().is_empty(),
        "and nothing is written"
    );
    drop(store);
    assert_eq!(
        s.pipeline.record(t0()).unwrap(),
        0,
        "nothing left to record"
    );
}

#[tokio::test]
async fn an_estimate_that_only_moves_with_the_clock_is_not_rewritten_each_refresh() {
    // Not yet with the carrier: its transit starts "now" each time it is estimated.
    let s = setup();
    let id = add(&s, "JJD000390007827106", Some("Lamp"));
    ingest(
        &s,
        id,
        vec![ev(
            t0() - Duration::hours(1),
            Status::InfoReceived,
            "Label created",
        )],
        t0(),
    );
    let estimated = |changes: &[Change]| {
        changes
            .iter()
            .any(|c| matches!(c, Change::EstimateChanged { shipment_id, .. } if *shipment_id == id))
    };
    let stored = || {
        s.store
            .lock()
            .unwrap()
            .shipment(id)
            .unwrap()
            .estimate
            .unwrap()
    };
    assert!(estimated(&s.pipeline.derive(None, t0()).unwrap()));
    let first = stored();

    // Ten minutes on: the same estimate, nothing written or announced.
    let later = t0() + Duration::minutes(10);
    assert!(!estimated(&s.pipeline.derive(None, later).unwrap()));
    assert_eq!(stored(), first);

    // Two hours on, the estimate has moved enough to be worth saying.
    let much_later = t0() + Duration::hours(2);
    assert!(estimated(&s.pipeline.derive(None, much_later).unwrap()));
    let moved = stored();
    assert!(moved.likely > first.likely, "{moved:?} after {first:?}");
}

#[tokio::test]
async fn the_stores_own_stuck_thresholds_apply_at_the_next_pass() {
    let s = setup();
    let a = add(&s, "JJD000000000000000001", Some("Chair"));
    ingest(&s, a, vec![ev(t0(), Status::InTransit, "Picked up")], t0());
    pass(&s, &[a], t0()).await;
    let later = t0() + Duration::hours(30);
    // 30 hours in transit: not stuck by the default 72.
    s.pipeline.derive(None, later).unwrap();
    assert!(
        s.store
            .lock()
            .unwrap()
            .open_problems(Some(a))
            .unwrap()
            .is_empty()
    );
    let own = crate::problems::StuckHours {
        in_transit: Some(24),
        ..Default::default()
    };
    assert_eq!(own.invalid(), None);
    own.save(&mut *s.store.lock().unwrap(), later).unwrap();
    s.pipeline.derive(None, later).unwrap();
    let open = s.store.lock().unwrap().open_problems(Some(a)).unwrap();
    assert_eq!(open.len(), 1, "stuck after 24 hours now");
    assert_eq!(open[0].problem.kind, crate::problems::ProblemKind::Stuck);
    // Out of range: named.
    let bad = crate::problems::StuckHours {
        at_pickup: Some(0),
        ..Default::default()
    };
    assert_eq!(bad.invalid(), Some(("at_pickup", 0)));
}
