//! Core's `Store` on both backends: one suite, each test a function over `&mut dyn Store`,
//! run by `both!` on core's `SqliteStore` and on `PgStore` (a fresh PostgreSQL database from
//! `parceltrail_shop::testing`). The PostgreSQL-only tests at the end check what SQLite cannot
//! have: shops in schemas of one database, and several processes at once.

use std::cell::RefCell;
use std::sync::{Arc, Barrier};

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use parceltrail_core::Error;
use parceltrail_core::domain::{
    CarrierEta, Customer, NewEvent, Order, OrderId, OrderStage, Place, ShipmentId, Source,
    StageChange, Status, TrackingEvent,
};
use parceltrail_core::eta::{Estimate, EtaSource};
use parceltrail_core::notify::rules::{Draft, Initial, Kind, KindSet};
use parceltrail_core::notify::{Channel, Urgency, parcel_link};
use parceltrail_core::problems::{Problem, ProblemKind};
use parceltrail_core::store::{
    Assessment, Backlog, Breaker, CarrierState, Change, Edit, FeedEntry, Group, IngestBatch,
    IngestReport, JournalCursor, JournalEntry, ListQuery, NewOrder, NewShipment, OnExisting,
    OrderInfo, OrderPatch, OrderQuery, OutboxState, PollRecord, SavedOrder, SendOutcome,
    SqliteStore, Store,
};
use parceltrail_shop::PgStore;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use uuid::Uuid;

/// Each test as a function of a fresh store; `both!` runs it on each backend.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let mut store =
                        parceltrail_core::store::SqliteStore::open(dir.path().join("core.db"))
                            .unwrap();
                    super::$name(&mut store);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let pg = super::Pg::new();
                    let mut store = pg.store("shop_a");
                    super::$name(&mut store);
                }
            )*
        }
    };
}

both!(
    the_delivery_report_gives_the_figures_worked_out_by_hand,
    problems_are_counted_by_carrier_and_kind_once_per_parcel_in_the_span,
    service_figures_time_the_customers_messages_and_count_orders_placed,
    queued_notifications_are_kept_once_per_news,
    adding_a_number_twice_keeps_one_shipment,
    adding_many_is_all_or_none,
    shipments_of_one_order_number_share_the_order,
    find_by_number_tail_or_id,
    ingest_stores_each_event_once_and_derives_status,
    ingest_merges_what_the_carrier_says_about_the_parcel,
    event_times_keep_their_utc_offset,
    an_unmapped_code_never_hides_a_known_status,
    the_newest_carrier_estimate_wins,
    batches_of_one_parcel_in_one_call_mean_one_call_each,
    user_edits_are_last_writer_wins,
    removal_leaves_a_tombstone_and_a_readd_starts_fresh,
    list_groups_parcels_for_the_home_screen,
    facets_name_each_store_and_carrier_of_what_is_tracked_once,
    every_record_streams_with_its_history,
    polling_is_due_recorded_and_hurried,
    carrier_state_survives,
    stale_parcels_expire_and_old_deliveries_archive,
    estimates_and_problems_are_saved_with_what_changed,
    deliveries_and_active_parcels_feed_the_engine,
    the_journal_is_recorded_once_and_a_moved_cursor_is_refused,
    the_outbox_is_claimed_marked_held_and_released,
    settings_and_per_parcel_kinds_are_last_writer_wins,
    shipped_at_is_the_first_carried_event_in_any_order,
    any_permutation_or_duplication_gives_the_same_state,
    an_export_imports_back_adding_nothing_twice,
    save_order_refuses_or_merges_an_existing_number,
    save_order_is_all_or_nothing_when_a_number_is_taken,
    save_orders_leaves_out_a_refused_order_alone,
    a_removed_order_hides_and_its_number_revives_it,
    update_order_sets_clears_and_refuses_a_taken_number,
    an_order_stage_is_set_logged_and_a_repeat_is_nothing,
    orders_are_listed_newest_first_by_each_filter,
    orders_page_by_id_without_gaps_or_repeats,
    shipments_of_orders_come_grouped_in_the_order_asked,
    an_orders_page_and_a_list_page_read_what_their_parts_read,
    every_change_is_fed_in_order_and_old_entries_prune,
    text_with_nul_is_stored_with_the_replacement_character,
    the_backlog_counts_due_polls_and_unsent_notifications,
);

// ---- Fixtures ---------------------------------------------------------------------------

/// A scratch database on the test PostgreSQL, with the test's own tokio runtime: the store
/// is synchronous and is called from this (non-async) test thread.
struct Pg {
    rt: tokio::runtime::Runtime,
    pool: Pool,
}

impl Pg {
    fn new() -> Pg {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let url = rt.block_on(parceltrail_shop::testing::postgres().fresh_database());
        let config: tokio_postgres::Config = url.parse().unwrap();
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(8)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .unwrap();
        Pg { rt, pool }
    }

    fn open(&self, schema: &str) -> parceltrail_core::Result<PgStore> {
        PgStore::open(self.pool.clone(), self.rt.handle().clone(), schema)
    }

    fn store(&self, schema: &str) -> PgStore {
        self.open(schema).unwrap()
    }

    /// Run SQL on the database directly (to fake another build's schema).
    fn sql(&self, sql: &str) {
        self.rt.block_on(async {
            self.pool
                .get()
                .await
                .unwrap()
                .batch_execute(sql)
                .await
                .unwrap()
        })
    }
}

fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap() + Duration::hours(h)
}

fn ev(h: i64, status: Status, code: &str, desc: &str) -> NewEvent {
    NewEvent {
        occurred_at: t(h).with_timezone(&FixedOffset::east_opt(2 * 3600).unwrap()),
        status,
        raw_code: Some(code.into()),
        description: desc.into(),
        location: Place {
            city: Some("Leipzig".into()),
            country: Some("DE".into()),
            ..Place::default()
        },
        source: Source::Poll,
    }
}

fn journey() -> Vec<NewEvent> {
    vec![
        ev(1, Status::InfoReceived, "pre-transit", "Label created"),
        ev(5, Status::InTransit, "transit", "Picked up"),
        ev(9, Status::InTransit, "transit", "Arrived at hub"),
        ev(20, Status::OutForDelivery, "transit", "Out for delivery"),
        ev(
            23,
            Status::Delivered,
            "delivered",
            "Delivered to front door",
        ),
    ]
}

fn new(number: &str) -> NewShipment {
    NewShipment {
        tracking_number: number.into(),
        carrier: "dhl".into(),
        ..Default::default()
    }
}

fn add(s: &mut dyn Store, number: &str) -> ShipmentId {
    s.add_shipment(&new(number), t(0)).unwrap().shipment.id
}

fn draft(shipment: Option<ShipmentId>, title: &str, initial: Initial) -> Draft {
    Draft {
        id: Uuid::now_v7(),
        dedupe_key: Uuid::now_v7(),
        channel: Channel::Desktop,
        shipment_id: shipment,
        kind: shipment.map(|_| Kind::Shipped),
        title: title.into(),
        body: "body".into(),
        link: shipment.map(parcel_link).unwrap_or_default(),
        urgency: Urgency::Low,
        initial,
    }
}

fn estimate(h: i64) -> Estimate {
    Estimate {
        earliest: t(h),
        likely: t(h + 4),
        latest: t(h + 8),
        confidence: 0.8,
        source: EtaSource::History,
    }
}

fn query(now: DateTime<Utc>, all: bool) -> ListQuery {
    ListQuery {
        today_start: now - Duration::hours(12),
        today_end: now + Duration::hours(12),
        delivered_since: now - Duration::days(14),
        all,
    }
}

// ---- Both backends ----------------------------------------------------------------------

/// November 2026, UTC: day `d` at hour `h`.
fn nov(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
}

fn on(at: DateTime<Utc>, status: Status) -> NewEvent {
    NewEvent {
        occurred_at: at.fixed_offset(),
        status,
        raw_code: None,
        description: status.as_str().into(),
        location: Place::default(),
        source: Source::Poll,
    }
}

/// Messages about parcels' news, written at hour 1 and sent 30, 90 and 600 seconds later by
/// email and 60 by SMS: email's median 90, 90th percentile 90 + 0.8 × 510. A staff alert
/// (no kind), one never sent, and one written later are not counted.
fn service_figures_time_the_customers_messages_and_count_orders_placed(s: &mut dyn Store) {
    use parceltrail_core::store::report::{ChannelLatency, Spread};
    let id = add(s, "S1");
    let sent = |s: &mut dyn Store, channel, kind: bool, at: Option<i64>, written: i64| {
        let mut d = draft(Some(id), "news", Initial::Pending);
        d.channel = channel;
        if !kind {
            d.kind = None;
        }
        s.queue_notifications(std::slice::from_ref(&d), t(written))
            .unwrap();
        if let Some(secs) = at {
            s.mark_notification(
                d.id,
                &SendOutcome::Sent,
                t(written) + Duration::seconds(secs),
            )
            .unwrap();
        }
    };
    // The carrier's event, at hour 0 and known at once; another, at hour 1, known only at
    // hour 5 (after the messages were written).
    s.ingest(
        &[IngestBatch::events(
            id,
            vec![ev(0, Status::InTransit, "transit", "Picked up")],
        )],
        t(0),
    )
    .unwrap();
    for secs in [30, 600, 90] {
        sent(s, Channel::Email, true, Some(secs), 1);
    }
    sent(s, Channel::Sms, true, Some(60), 1);
    sent(s, Channel::Email, false, Some(5_000), 1);
    sent(s, Channel::Email, true, None, 1);
    sent(s, Channel::Email, true, Some(10), 3);
    {
        // A parcel gone quiet: no carrier event brought the news.
        let mut d = draft(Some(id), "quiet", Initial::Pending);
        d.channel = Channel::Email;
        d.kind = Some(Kind::Problem(ProblemKind::Stuck));
        s.queue_notifications(std::slice::from_ref(&d), t(1))
            .unwrap();
        s.mark_notification(d.id, &SendOutcome::Sent, t(1) + Duration::seconds(90))
            .unwrap();
    }
    s.ingest(
        &[IngestBatch::events(
            id,
            vec![ev(1, Status::InTransit, "transit", "Hub")],
        )],
        t(5),
    )
    .unwrap();
    let spread = |n, m, p| Spread {
        n,
        median: Some(m),
        p90: Some(p),
    };
    let got = s.notification_latency(t(0), t(2)).unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    let same = |a: &Spread, want: &Spread| {
        a.n == want.n
            && (a.median.unwrap() - want.median.unwrap()).abs() < 1e-6
            && (a.p90.unwrap() - want.p90.unwrap()).abs() < 1e-6
    };
    let close = |a: &ChannelLatency, channel: &str, want: Spread, from_event: Spread| {
        a.channel == channel && same(&a.seconds, &want) && same(&a.from_event, &from_event)
    };
    // From the message written: email 30, 90, 90, 600 s (the quiet parcel's among them);
    // median 90, 90th percentile 90 + 0.7 × 510. From the carrier's event (hour 0, an hour
    // before): 3630, 3690, 4200 (the quiet parcel's has none); 3690 + 0.8 × 510.
    assert!(
        close(
            &got[0],
            "email",
            spread(4, 90.0, 447.0),
            spread(3, 3690.0, 4098.0)
        ),
        "{got:?}"
    );
    assert!(
        close(
            &got[1],
            "sms",
            spread(1, 60.0, 60.0),
            spread(1, 3660.0, 3660.0)
        ),
        "{got:?}"
    );
    assert_eq!(s.notification_latency(t(4), t(9)).unwrap(), []);

    // Orders placed: one in the span, one after it, one with no time of ordering (S1's).
    for (number, h) in [("S2", 1), ("S3", 5)] {
        s.add_shipment(
            &NewShipment {
                order: OrderInfo {
                    placed_at: Some(t(h).fixed_offset()),
                    ..Default::default()
                },
                ..new(number)
            },
            t(0),
        )
        .unwrap();
    }
    assert_eq!(s.orders_placed(t(0), t(2)).unwrap(), 1);
    assert_eq!(s.orders_placed(t(0), t(9)).unwrap(), 2);
}

/// Problems that began in November: a parcel late twice counts once; one that began in
/// October, and a removed parcel's, do not count.
fn problems_are_counted_by_carrier_and_kind_once_per_parcel_in_the_span(s: &mut dyn Store) {
    use parceltrail_core::store::report::ProblemCount;
    let parcel = |s: &mut dyn Store, number: &str, carrier: &str| {
        s.add_shipment(
            &NewShipment {
                tracking_number: number.into(),
                carrier: carrier.into(),
                ..Default::default()
            },
            nov(1, 0),
        )
        .unwrap()
        .shipment
        .id
    };
    let (a, b, c, d) = (
        parcel(s, "P1", "dhl"),
        parcel(s, "P2", "dhl"),
        parcel(s, "P3", "ups"),
        parcel(s, "P4", "ups"),
    );
    let problem = |kind, day: u32| Problem {
        kind,
        since: if day == 0 {
            Utc.with_ymd_and_hms(2026, 10, 20, 0, 0, 0).unwrap()
        } else {
            nov(day, 0)
        },
        detail: "detail".into(),
    };
    let save = |s: &mut dyn Store, id, problems: Vec<Problem>, at| {
        s.save_derived(
            &[Assessment {
                id,
                previous: None,
                estimate: None,
                first_latest: None,
                problems,
            }],
            at,
        )
        .unwrap();
    };
    // A: late on the 10th, resolved, late again on the 20th; stuck from the 12th.
    save(s, a, vec![problem(ProblemKind::Late, 10)], nov(10, 1));
    save(s, a, vec![], nov(11, 1));
    save(
        s,
        a,
        vec![
            problem(ProblemKind::Late, 20),
            problem(ProblemKind::Stuck, 12),
        ],
        nov(20, 1),
    );
    save(s, b, vec![problem(ProblemKind::Late, 11)], nov(11, 1));
    // C: an exception in November, late since October.
    save(
        s,
        c,
        vec![
            problem(ProblemKind::Exception, 5),
            problem(ProblemKind::Late, 0),
        ],
        nov(5, 1),
    );
    // D: late in November, then removed.
    save(s, d, vec![problem(ProblemKind::Late, 10)], nov(10, 1));
    s.remove(d, nov(12, 0)).unwrap();

    let count = |carrier: &str, kind, parcels| ProblemCount {
        carrier: carrier.into(),
        kind,
        parcels,
    };
    assert_eq!(
        s.problem_counts(nov(1, 0), nov(30, 0) + Duration::days(1))
            .unwrap(),
        [
            count("dhl", ProblemKind::Late, 2),
            count("dhl", ProblemKind::Stuck, 1),
            count("ups", ProblemKind::Exception, 1),
        ]
    );
    // The first half of the month: A's first lateness and B's, not A's second.
    assert_eq!(
        s.problem_counts(nov(1, 0), nov(15, 0)).unwrap(),
        [
            count("dhl", ProblemKind::Late, 2),
            count("dhl", ProblemKind::Stuck, 1),
            count("ups", ProblemKind::Exception, 1),
        ]
    );
    assert_eq!(s.problem_counts(nov(21, 0), nov(30, 0)).unwrap(), []);
}

/// Four DHL parcels delivered in November (UTC), worked out by hand below, and two that are
/// not in the span: one delivered on 1 December, one still on its way.
fn the_delivery_report_gives_the_figures_worked_out_by_hand(s: &mut dyn Store) {
    use parceltrail_core::eta::calendar::BusinessCalendar;
    use parceltrail_core::store::report::{DeliveryGroup, ReportBy, ReportSpan, Spread};
    let parcel = |s: &mut dyn Store,
                  number: &str,
                  carrier: &str,
                  placed: Option<DateTime<Utc>>,
                  promised: Option<u32>,
                  service: Option<&str>,
                  dest: Option<(&str, &str)>,
                  events: Vec<NewEvent>| {
        let id = s
            .add_shipment(
                &NewShipment {
                    tracking_number: number.into(),
                    carrier: carrier.into(),
                    order: OrderInfo {
                        placed_at: placed.map(|p| p.fixed_offset()),
                        promised_at: promised.map(|d| nov(d, 0).fixed_offset()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                nov(1, 0),
            )
            .unwrap()
            .shipment
            .id;
        let mut b = IngestBatch::events(id, events);
        b.service = service.map(Into::into);
        b.destination = dest.map(|(c, r)| Place {
            country: Some(c.into()),
            region: Some(r.into()),
            ..Place::default()
        });
        s.ingest(&[b], nov(30, 23)).unwrap();
        id
    };
    // 1: Express to New York, ordered Mon 2 Nov 09:00, first event 12:00, a failed attempt,
    // delivered Thu 5 Nov 12:00 on its promised day. Transit 3.0 days, 3 business days (3,
    // 4, 5 Nov); order 3.125 days, 3 business days. First estimate said the 4th: missed.
    let one = parcel(
        s,
        "R1",
        "dhl",
        Some(nov(2, 9)),
        Some(5),
        Some("Express"),
        Some(("us", "ny")),
        vec![
            on(nov(2, 12), Status::InfoReceived),
            on(nov(3, 8), Status::InTransit),
            on(nov(4, 15), Status::FailedAttempt),
            on(nov(5, 12), Status::Delivered),
        ],
    );
    // 2: Express to California, ordered Fri 6 Nov 10:00, first event 18:00, delivered Tue 10
    // Nov 06:00, two days early. Transit 3.5 days, 2 business days (9, 10 Nov); order 3 5/6
    // days, 2 business days. First estimate said the 10th: met.
    let two = parcel(
        s,
        "R2",
        "dhl",
        Some(nov(6, 10)),
        Some(12),
        Some("Express"),
        Some(("US", "CA")),
        vec![
            on(nov(6, 18), Status::InTransit),
            on(nov(10, 6), Status::Delivered),
        ],
    );
    // 3: Ground to California over Thanksgiving (Thu 26 Nov), ordered and first event Wed 25
    // Nov 12:00, delivered Mon 30 Nov 12:00, late against the 27th. Transit and order 5.0
    // days; business days 27 and 30 Nov: 2 (3 if holidays are not skipped).
    parcel(
        s,
        "R3",
        "dhl",
        Some(nov(25, 12)),
        Some(27),
        Some("Ground"),
        Some(("US", "CA")),
        vec![
            on(nov(25, 12), Status::InTransit),
            on(nov(30, 12), Status::Delivered),
        ],
    );
    // 4: no order time, promise, service or destination: Mon 16 Nov 00:00 to Tue 17 Nov
    // 12:00, 1.5 days, 1 business day.
    parcel(
        s,
        "R4",
        "dhl",
        None,
        None,
        None,
        None,
        vec![
            on(nov(16, 0), Status::InTransit),
            on(nov(17, 12), Status::Delivered),
        ],
    );
    // Outside: delivered on 1 December, and still on its way.
    parcel(
        s,
        "R5",
        "ups",
        None,
        Some(2),
        None,
        None,
        vec![
            on(nov(29, 0), Status::InTransit),
            on(
                nov(30, 0) + Duration::hours(24) + Duration::minutes(30),
                Status::Delivered,
            ),
        ],
    );
    parcel(
        s,
        "R6",
        "ups",
        None,
        None,
        None,
        None,
        vec![on(nov(20, 0), Status::InTransit)],
    );
    let first = |id, day| Assessment {
        id,
        previous: None,
        estimate: None,
        first_latest: Some(nov(day, 18)),
        problems: Vec::new(),
    };
    s.save_derived(&[first(one, 4), first(two, 10)], nov(30, 23))
        .unwrap();

    let us = BusinessCalendar::for_country(Some("US"));
    let span = ReportSpan::new(
        nov(1, 0),
        nov(30, 0) + Duration::days(1),
        chrono_tz::UTC,
        &us,
        120,
    );
    let spread = |n, median: f64, p90: f64| Spread {
        n,
        median: Some(median),
        p90: Some(p90),
    };
    let close = |a: &Spread, b: &Spread| {
        a.n == b.n
            && [(a.median, b.median), (a.p90, b.p90)]
                .iter()
                .all(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) => (x - y).abs() < 1e-9,
                    (x, y) => x == y,
                })
    };
    let same = |got: &DeliveryGroup, want: &DeliveryGroup| {
        assert!(
            close(&got.transit_days, &want.transit_days)
                && close(&got.transit_business_days, &want.transit_business_days)
                && close(&got.order_days, &want.order_days)
                && close(&got.order_business_days, &want.order_business_days),
            "{got:#?}\nwanted {want:#?}"
        );
        let counts = |g: &DeliveryGroup| {
            (
                g.key.clone(),
                g.delivered,
                g.early,
                g.on_day,
                g.late,
                g.estimate_met,
                g.estimate_missed,
                g.first_attempt,
            )
        };
        assert_eq!(counts(got), counts(want), "{got:#?}");
    };

    // By carrier: transits 1.5, 3.0, 3.5, 5.0: median 3.25, 90th at rank 2.7: 3.5 + 0.7 ×
    // 1.5. Business days 1, 2, 2, 3: 2.0 and 2.7. Orders 3.125, 3 5/6, 5.0: median 3 5/6, 90th
    // at rank 1.8: (23 + 0.8 × 7) / 6; business 2, 2, 3: 2.0 and 2.8.
    let by = s.delivery_report(&span, ReportBy::Carrier).unwrap();
    assert_eq!(by.len(), 1, "{by:#?}");
    same(
        &by[0],
        &DeliveryGroup {
            key: Some("dhl".into()),
            delivered: 4,
            transit_days: spread(4, 3.25, 4.55),
            transit_business_days: spread(4, 2.0, 2.7),
            order_days: spread(3, 23.0 / 6.0, 28.6 / 6.0),
            order_business_days: spread(3, 2.0, 2.8),
            early: 1,
            on_day: 1,
            late: 1,
            estimate_met: 1,
            estimate_missed: 1,
            first_attempt: 3,
        },
    );

    // Weekends only: Thanksgiving counts, parcel 3 takes 3 business days: 1, 2, 3, 3.
    let plain = ReportSpan::new(
        nov(1, 0),
        nov(30, 0) + Duration::days(1),
        chrono_tz::UTC,
        &BusinessCalendar::weekends_only(),
        120,
    );
    let by = s.delivery_report(&plain, ReportBy::Carrier).unwrap();
    assert!(
        close(&by[0].transit_business_days, &spread(4, 2.5, 3.0)),
        "{by:#?}"
    );

    // By service: Express (1, 2), Ground (3), then the unknown (4).
    let by = s.delivery_report(&span, ReportBy::Service).unwrap();
    let keys: Vec<_> = by.iter().map(|g| g.key.as_deref()).collect();
    assert_eq!(keys, [Some("Express"), Some("Ground"), None]);
    same(
        &by[0],
        &DeliveryGroup {
            key: Some("Express".into()),
            delivered: 2,
            transit_days: spread(2, 3.25, 3.45),
            transit_business_days: spread(2, 2.5, 2.9),
            order_days: spread(
                2,
                (3.125 + 23.0 / 6.0) / 2.0,
                3.125 + 0.9 * (23.0 / 6.0 - 3.125),
            ),
            order_business_days: spread(2, 2.5, 2.9),
            early: 1,
            on_day: 1,
            late: 0,
            estimate_met: 1,
            estimate_missed: 1,
            first_attempt: 1,
        },
    );
    same(
        &by[2],
        &DeliveryGroup {
            key: None,
            delivered: 1,
            transit_days: spread(1, 1.5, 1.5),
            transit_business_days: spread(1, 1.0, 1.0),
            order_days: Spread::default(),
            order_business_days: Spread::default(),
            first_attempt: 1,
            ..DeliveryGroup::default()
        },
    );

    // By region, upper-cased: California (2, 3), New York (1), the unknown (4).
    let by = s.delivery_report(&span, ReportBy::Region).unwrap();
    let keys: Vec<_> = by.iter().map(|g| (g.key.as_deref(), g.delivered)).collect();
    assert_eq!(keys, [(Some("US-CA"), 2), (Some("US-NY"), 1), (None, 1)]);
    same(
        &by[0],
        &DeliveryGroup {
            key: Some("US-CA".into()),
            delivered: 2,
            transit_days: spread(2, 4.25, 4.85),
            transit_business_days: spread(2, 2.0, 2.0),
            order_days: spread(
                2,
                (23.0 / 6.0 + 5.0) / 2.0,
                23.0 / 6.0 + 0.9 * (5.0 - 23.0 / 6.0),
            ),
            order_business_days: spread(2, 2.0, 2.0),
            early: 1,
            late: 1,
            estimate_met: 1,
            first_attempt: 2,
            ..DeliveryGroup::default()
        },
    );

    // By week, each by its Monday.
    let by = s.delivery_report(&span, ReportBy::Week).unwrap();
    let keys: Vec<_> = by.iter().map(|g| (g.key.as_deref(), g.delivered)).collect();
    assert_eq!(
        keys,
        [
            (Some("2026-11-02"), 1),
            (Some("2026-11-09"), 1),
            (Some("2026-11-16"), 1),
            (Some("2026-11-30"), 1)
        ]
    );

    // A span with no deliveries has no groups.
    let empty = ReportSpan::new(nov(18, 0), nov(25, 0), chrono_tz::UTC, &us, 120);
    assert_eq!(s.delivery_report(&empty, ReportBy::Week).unwrap(), []);
}

fn adding_a_number_twice_keeps_one_shipment(s: &mut dyn Store) {
    let id = add(s, "JJD000390007827106");
    let again = s.add_shipment(&new("JJD000390007827106"), t(1)).unwrap();
    assert!(!again.created);
    assert_eq!(again.shipment.id, id);
    assert_eq!(s.count().unwrap(), 1);
    // Events given with a known number are merged into its history.
    let merged = s
        .add_shipment(
            &NewShipment {
                events: journey()[..2].to_vec(),
                ..new("JJD000390007827106")
            },
            t(2),
        )
        .unwrap();
    assert_eq!((merged.created, merged.events_added), (false, 2));
    assert_eq!(merged.shipment.status, Status::InTransit);
    let log = s.status_log(id).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].cause, "import");
}

fn adding_many_is_all_or_none(s: &mut dyn Store) {
    let added = s
        .add_shipments(&[new("A1"), new("B2"), new("A1")], t(0))
        .unwrap();
    assert_eq!(
        added.iter().map(|a| a.created).collect::<Vec<_>>(),
        [true, true, false]
    );
    assert_eq!(added[0].shipment.id, added[2].shipment.id);
    let err = s
        .add_shipments(&[new("C3"), new(""), new("D4")], t(1))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert_eq!(s.count().unwrap(), 2, "nothing of the failed call stays");
    assert!(matches!(s.find("C3"), Err(Error::NotFound(_))));
}

fn shipments_of_one_order_number_share_the_order(s: &mut dyn Store) {
    let order = OrderInfo {
        store: Some("Acme".into()),
        order_number: Some("A-1".into()),
        ..Default::default()
    };
    let placed = t(-48).with_timezone(&FixedOffset::west_opt(5 * 3600).unwrap());
    let a = s
        .add_shipment(
            &NewShipment {
                order: order.clone(),
                ..new("A1")
            },
            t(0),
        )
        .unwrap();
    let b = s
        .add_shipment(
            &NewShipment {
                order: OrderInfo {
                    items: Some("Boots".into()),
                    placed_at: Some(placed),
                    ..order.clone()
                },
                ..new("B2")
            },
            t(0),
        )
        .unwrap();
    let c = s.add_shipment(&new("C3"), t(0)).unwrap();
    // The same number at another store is another order.
    let d = s
        .add_shipment(
            &NewShipment {
                order: OrderInfo {
                    store: Some("Other".into()),
                    ..order.clone()
                },
                ..new("D4")
            },
            t(0),
        )
        .unwrap();
    assert_eq!(a.shipment.order_id, b.shipment.order_id);
    assert_ne!(a.shipment.order_id, c.shipment.order_id);
    assert_ne!(a.shipment.order_id, d.shipment.order_id);
    // A later shipment fills in what the order did not know.
    let o = s.order(a.shipment.order_id).unwrap();
    assert_eq!(o.store.as_deref(), Some("Acme"));
    assert_eq!(o.items.as_deref(), Some("Boots"));
    assert_eq!(o.placed_at, Some(placed));
    assert_eq!(o.placed_at.unwrap().offset().local_minus_utc(), -5 * 3600);
    assert_eq!(o.created_at, t(0));
    assert!(matches!(
        s.order(parceltrail_core::domain::OrderId::new()),
        Err(Error::NotFound(_))
    ));
}

fn find_by_number_tail_or_id(s: &mut dyn Store) {
    for n in [
        "1Z5R89390357567127",
        "1Z879E930346834440",
        "9400111899223197428490",
    ] {
        add(s, n);
    }
    assert_eq!(
        s.find("1z5r 8939 0357 5671 27").unwrap().tracking_number,
        "1Z5R89390357567127"
    );
    assert_eq!(
        s.find("8490").unwrap().tracking_number,
        "9400111899223197428490"
    );
    let id = s.find("4440").unwrap().id;
    assert_eq!(s.find(&id.to_string()).unwrap().id, id);
    assert_eq!(s.find(&id.0.simple().to_string()).unwrap().id, id);
    assert_eq!(
        s.shipment(id).unwrap().tracking_number,
        "1Z879E930346834440"
    );
    assert!(matches!(s.find("nope-nope"), Err(Error::NotFound(_))));
    assert!(matches!(s.find("  "), Err(Error::NotFound(_))));
    add(s, "ABC7127");
    match s.find("7127") {
        Err(Error::Ambiguous { mut matches, .. }) => {
            matches.sort();
            assert_eq!(matches, ["1Z5R89390357567127", "ABC7127"]);
        }
        other => panic!("{other:?}"),
    }
    // A removed parcel is not found.
    s.remove(id, t(1)).unwrap();
    assert!(matches!(s.find("4440"), Err(Error::NotFound(_))));
    assert!(matches!(s.find(&id.to_string()), Err(Error::NotFound(_))));
}

fn ingest_stores_each_event_once_and_derives_status(s: &mut dyn Store) {
    let id = add(s, "X1");
    let first = s
        .ingest(&[IngestBatch::events(id, journey()[..3].to_vec())], t(10))
        .unwrap();
    assert_eq!((first.inserted, first.duplicates), (3, 0));
    assert_eq!(s.shipment(id).unwrap().status, Status::InTransit);

    // The whole history again, as the next poll returns it: only the two new events count.
    let second = s
        .ingest(&[IngestBatch::events(id, journey())], t(24))
        .unwrap();
    assert_eq!((second.inserted, second.duplicates), (2, 3));
    let sh = s.shipment(id).unwrap();
    assert_eq!(sh.status, Status::Delivered);
    assert_eq!(sh.event_count, 5);
    assert_eq!(sh.status_detail.as_deref(), Some("Delivered to front door"));
    assert_eq!(sh.last_event_at, Some(journey()[4].occurred_at));
    assert_eq!(sh.updated_at, t(24));
    assert_eq!(s.timeline(id).unwrap().len(), 5);
    let added: Vec<&str> = second
        .changes
        .iter()
        .flat_map(|c| match c {
            Change::EventsAdded { events, .. } => events.clone(),
            _ => vec![],
        })
        .map(|e| match e.description.as_str() {
            "Out for delivery" => "ofd",
            "Delivered to front door" => "delivered",
            _ => "other",
        })
        .collect();
    assert_eq!(
        added,
        ["ofd", "delivered"],
        "only the new ones, oldest first"
    );
    assert_eq!(
        second.changes.last(),
        Some(&Change::StatusChanged {
            shipment_id: id,
            from: Status::InTransit,
            to: Status::Delivered
        })
    );

    // A replay changes nothing and announces nothing.
    let third = s
        .ingest(&[IngestBatch::events(id, journey())], t(25))
        .unwrap();
    assert_eq!((third.inserted, third.duplicates), (0, 5));
    assert!(third.changes.is_empty());
    assert_eq!(s.shipment(id).unwrap().updated_at, t(24));

    // Duplicates within one call count once.
    let other = add(s, "X2");
    let mut twice = journey();
    twice.extend(journey());
    let r = s
        .ingest(&[IngestBatch::events(other, twice)], t(30))
        .unwrap();
    assert_eq!((r.inserted, r.duplicates), (5, 5));

    let log = s.status_log(id).unwrap();
    let steps: Vec<_> = log
        .iter()
        .map(|c| (c.from, c.to, c.cause.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (Status::Pending, Status::InTransit, "poll"),
            (Status::InTransit, Status::Delivered, "poll")
        ]
    );
    assert_eq!(log[1].changed_at, t(24));

    // A batch for a parcel that does not exist is dropped.
    let r = s
        .ingest(&[IngestBatch::events(ShipmentId::new(), journey())], t(31))
        .unwrap();
    assert_eq!(r.inserted, 0);
}

fn ingest_merges_what_the_carrier_says_about_the_parcel(s: &mut dyn Store) {
    let id = add(s, "X1");
    let mut b = IngestBatch::events(id, vec![]);
    b.service = Some("Express".into());
    b.origin = Some(Place {
        city: Some("Leipzig".into()),
        country: Some("DE".into()),
        ..Place::default()
    });
    b.destination = Some(Place {
        postal: Some("75001".into()),
        country: Some("FR".into()),
        ..Place::default()
    });
    let r = s.ingest(&[b], t(3)).unwrap();
    assert!(r.changes.is_empty(), "metadata alone announces nothing");
    let sh = s.shipment(id).unwrap();
    assert_eq!(sh.service.as_deref(), Some("Express"));
    assert_eq!(sh.origin.city.as_deref(), Some("Leipzig"));
    assert_eq!(sh.destination.postal.as_deref(), Some("75001"));
    assert_eq!(sh.updated_at, t(3));
    // Only what is said overwrites; the rest stays.
    let mut b = IngestBatch::events(id, vec![]);
    b.destination = Some(Place {
        city: Some("Paris".into()),
        ..Place::default()
    });
    s.ingest(&[b], t(4)).unwrap();
    let sh = s.shipment(id).unwrap();
    assert_eq!(sh.service.as_deref(), Some("Express"));
    assert_eq!(sh.destination.city.as_deref(), Some("Paris"));
    assert_eq!(sh.destination.country.as_deref(), Some("FR"));
    // Unknown codes only: the status is unknown.
    let other = add(s, "X2");
    s.ingest(
        &[IngestBatch::events(
            other,
            vec![ev(2, Status::Unknown, "ZZ", "Mystery")],
        )],
        t(5),
    )
    .unwrap();
    assert_eq!(s.shipment(other).unwrap().status, Status::Unknown);
}

fn event_times_keep_their_utc_offset(s: &mut dyn Store) {
    let id = add(s, "X1");
    s.ingest(&[IngestBatch::events(id, journey())], t(30))
        .unwrap();
    let tl = s.timeline(id).unwrap();
    assert_eq!(tl[0].occurred_at.offset().local_minus_utc(), 7200);
    assert_eq!(tl[0].occurred_at.to_rfc3339(), "2026-05-01T03:00:00+02:00");
    assert_eq!(tl[0].recorded_at, t(30));
    assert_eq!(tl[0].source, Source::Poll);
    assert_eq!(tl[0].raw_code.as_deref(), Some("pre-transit"));
    assert_eq!(tl[0].location.city.as_deref(), Some("Leipzig"));
    assert_eq!(tl[0].dedupe_key, journey()[0].dedupe_key());
}

fn an_unmapped_code_never_hides_a_known_status(s: &mut dyn Store) {
    let id = add(s, "X1");
    let mut events = journey()[..2].to_vec();
    events.push(ev(7, Status::Unknown, "ZZ", "Mystery scan"));
    s.ingest(&[IngestBatch::events(id, events)], t(8)).unwrap();
    let sh = s.shipment(id).unwrap();
    assert_eq!(sh.status, Status::InTransit);
    assert_eq!(sh.status_detail.as_deref(), Some("Mystery scan"));
}

fn the_newest_carrier_estimate_wins(s: &mut dyn Store) {
    let id = add(s, "X1");
    let at = |h| t(h).with_timezone(&FixedOffset::east_opt(3600).unwrap());
    let eta = |h, obs| CarrierEta {
        earliest: at(h),
        latest: at(h + 4),
        observed_at: t(obs),
    };
    let mut b = IngestBatch::events(id, vec![]);
    b.carrier_eta = Some(eta(48, 10));
    let r = s.ingest(std::slice::from_ref(&b), t(10)).unwrap();
    assert_eq!(
        r.changes,
        [Change::EtaChanged {
            shipment_id: id,
            eta: eta(48, 10)
        }]
    );
    b.carrier_eta = Some(eta(72, 5)); // older statement arriving late
    let r = s.ingest(std::slice::from_ref(&b), t(11)).unwrap();
    assert!(r.changes.is_empty());
    assert_eq!(s.shipment(id).unwrap().carrier_eta, Some(eta(48, 10)));
    b.carrier_eta = Some(eta(30, 12));
    s.ingest(&[b], t(12)).unwrap();
    let stored = s.shipment(id).unwrap().carrier_eta.unwrap();
    assert_eq!(stored, eta(30, 12));
    assert_eq!(stored.earliest.offset().local_minus_utc(), 3600);
}

/// A group commit puts several deliveries' batches in one call, a parcel's among them more
/// than once: the call must leave the parcel, its log and its changes as one call a batch
/// would have.
fn batches_of_one_parcel_in_one_call_mean_one_call_each(s: &mut dyn Store) {
    let at = |h| t(h).with_timezone(&FixedOffset::east_opt(3600).unwrap());
    let eta = |h, obs| CarrierEta {
        earliest: at(h),
        latest: at(h + 4),
        observed_at: t(obs),
    };
    let batches = |id| {
        let j = journey();
        let mut a = IngestBatch::events(id, j[..2].to_vec());
        a.carrier_eta = Some(eta(48, 10));
        a.service = Some("Express".into());
        a.origin = Some(Place {
            city: Some("Leipzig".into()),
            country: Some("DE".into()),
            ..Place::default()
        });
        // Repeats the first batch's second event, adds two, and an older estimate.
        let mut b = IngestBatch::events(id, j[1..4].to_vec());
        b.carrier_eta = Some(eta(72, 5));
        b.origin = Some(Place {
            city: Some("Halle".into()),
            ..Place::default()
        });
        // Nothing new: changes nothing.
        let c = IngestBatch::events(id, j[..1].to_vec());
        let mut d = IngestBatch::events(id, j[4..].to_vec());
        d.carrier_eta = Some(eta(30, 12));
        d.service = Some("Express Plus".into());
        vec![a, b, c, d]
    };
    let together = add(s, "X1");
    let alone = add(s, "X2");
    let r = s.ingest(&batches(together), t(30)).unwrap();
    let mut one_by_one = IngestReport::default();
    for b in batches(alone) {
        let r = s.ingest(&[b], t(30)).unwrap();
        one_by_one.inserted += r.inserted;
        one_by_one.duplicates += r.duplicates;
        one_by_one.changes.extend(r.changes);
    }
    assert_eq!((r.inserted, r.duplicates), (5, 2));
    assert_eq!(
        (r.inserted, r.duplicates),
        (one_by_one.inserted, one_by_one.duplicates)
    );
    let renamed: Vec<Change> = one_by_one
        .changes
        .iter()
        .map(|c| {
            let mut c = c.clone();
            match &mut c {
                Change::EventsAdded {
                    shipment_id,
                    events,
                } => {
                    *shipment_id = together;
                    for e in events {
                        e.shipment_id = together;
                    }
                }
                Change::StatusChanged { shipment_id, .. }
                | Change::EtaChanged { shipment_id, .. } => *shipment_id = together,
                _ => {}
            }
            c
        })
        .collect();
    assert_eq!(r.changes, renamed, "the same changes, in the same order");
    let (x, y) = (s.shipment(together).unwrap(), s.shipment(alone).unwrap());
    assert_eq!(x.status, Status::Delivered);
    assert_eq!(x.event_count, 5);
    assert_eq!(x.carrier_eta, Some(eta(30, 12)));
    assert_eq!(x.service.as_deref(), Some("Express Plus"));
    assert_eq!(x.origin.city.as_deref(), Some("Halle"));
    assert_eq!(x.origin.country.as_deref(), Some("DE"));
    assert_eq!(x.status, y.status);
    assert_eq!(x.status_detail, y.status_detail);
    assert_eq!(x.last_event_at, y.last_event_at);
    assert_eq!(x.carrier_eta, y.carrier_eta);
    assert_eq!(x.origin, y.origin);
    assert_eq!(x.service, y.service);
    assert_eq!(x.event_count, y.event_count);
    let steps = |id| -> Vec<(Status, Status, String)> {
        s.status_log(id)
            .unwrap()
            .into_iter()
            .map(|c| (c.from, c.to, c.cause))
            .collect()
    };
    let log = steps(together);
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log, steps(alone));
}

fn user_edits_are_last_writer_wins(s: &mut dyn Store) {
    let id = add(s, "X1");
    assert!(s.edit(id, Edit::Label(Some("Shoes".into())), t(5)).unwrap());
    // An edit made earlier (say on another device) that arrives later loses.
    assert!(!s.edit(id, Edit::Label(Some("Boots".into())), t(3)).unwrap());
    // The same value again changes nothing.
    assert!(!s.edit(id, Edit::Label(Some("Shoes".into())), t(6)).unwrap());
    assert_eq!(s.shipment(id).unwrap().label.as_deref(), Some("Shoes"));
    assert!(s.edit(id, Edit::Muted(true), t(6)).unwrap());
    assert!(s.edit(id, Edit::Archived(true), t(6)).unwrap());
    assert!(!s.edit(id, Edit::Archived(false), t(5)).unwrap());
    let sh = s.shipment(id).unwrap();
    assert!(sh.muted && sh.archived);
    assert_eq!(
        (sh.label_at, sh.muted_at, sh.archived_at),
        (t(5), t(6), t(6))
    );
    assert_eq!(sh.updated_at, t(6));
    assert!(s.edit(id, Edit::Label(None), t(7)).unwrap());
    assert_eq!(s.shipment(id).unwrap().label, None);
    // An edit stamped before the last change keeps `updated_at` where it is.
    assert!(s.edit(id, Edit::Muted(false), t(6)).unwrap());
    assert_eq!(s.shipment(id).unwrap().updated_at, t(7));
    assert!(matches!(
        s.edit(ShipmentId::new(), Edit::Muted(true), t(7)),
        Err(Error::NotFound(_))
    ));
}

fn removal_leaves_a_tombstone_and_a_readd_starts_fresh(s: &mut dyn Store) {
    let id = add(s, "X1");
    s.ingest(&[IngestBatch::events(id, journey())], t(30))
        .unwrap();
    s.save_derived(
        &[Assessment {
            id,
            previous: None,
            estimate: Some(estimate(40)),
            first_latest: None,
            problems: vec![Problem {
                kind: ProblemKind::Late,
                since: t(30),
                detail: "late".into(),
            }],
        }],
        t(30),
    )
    .unwrap();
    s.remove(id, t(31)).unwrap();
    assert!(matches!(s.shipment(id), Err(Error::NotFound(_))));
    assert!(matches!(s.remove(id, t(31)), Err(Error::NotFound(_))));
    assert_eq!(s.count().unwrap(), 0);
    assert!(s.open_problems(None).unwrap().is_empty());
    assert!(matches!(
        s.edit(id, Edit::Muted(true), t(32)),
        Err(Error::NotFound(_))
    ));
    // A late poll result for the removed parcel is dropped.
    let r = s
        .ingest(&[IngestBatch::events(id, journey())], t(32))
        .unwrap();
    assert_eq!(r.inserted, 0);
    assert!(r.changes.is_empty());
    // Re-adding the number revives the tombstone: the same id, nothing of the old history.
    let again = s.add_shipment(&new("X1"), t(33)).unwrap();
    assert!(again.created);
    assert_eq!(again.shipment.id, id);
    assert_eq!(again.shipment.status, Status::Pending);
    assert_eq!(again.shipment.event_count, 0);
    assert_eq!(again.shipment.estimate, None);
    assert_eq!(again.shipment.next_poll_at, Some(t(33)));
    assert!(s.timeline(id).unwrap().is_empty());
    assert!(s.status_log(id).unwrap().is_empty());
    assert_eq!(s.count().unwrap(), 1);
}

fn list_groups_parcels_for_the_home_screen(s: &mut dyn Store) {
    let (ofd, moving, problem, delivered, old, archived, _pending, errored, estimated) = (
        add(s, "OFD"),
        add(s, "MOVING"),
        add(s, "PROBLEM"),
        add(s, "DELIVERED"),
        add(s, "OLD"),
        add(s, "ARCHIVED"),
        add(s, "PENDING"),
        add(s, "ERRORED"),
        add(s, "ESTIMATED"),
    );
    let now = t(24 * 30);
    let e = |h: i64, st: Status| ev(h, st, st.as_str(), st.label());
    s.ingest(
        &[
            IngestBatch::events(ofd, vec![e(24 * 30 - 3, Status::OutForDelivery)]),
            IngestBatch::events(moving, vec![e(24 * 29, Status::InTransit)]),
            IngestBatch::events(problem, vec![e(24 * 29, Status::Exception)]),
            IngestBatch::events(delivered, vec![e(24 * 28, Status::Delivered)]),
            IngestBatch::events(old, vec![e(24, Status::Delivered)]),
            IngestBatch::events(archived, vec![e(24 * 29, Status::InTransit)]),
            IngestBatch::events(errored, vec![e(24 * 29 + 1, Status::InTransit)]),
            IngestBatch::events(estimated, vec![e(24 * 29, Status::InTransit)]),
        ],
        now,
    )
    .unwrap();
    s.edit(archived, Edit::Archived(true), now).unwrap();
    s.record_polls(&[(
        errored,
        PollRecord {
            polled_at: now,
            next_poll_at: Some(now + Duration::hours(1)),
            error: Some("carrier said no".into()),
        },
    )])
    .unwrap();
    s.save_derived(
        &[Assessment {
            id: estimated,
            previous: None,
            estimate: Some(estimate(24 * 30 - 4)), // likely at now: today
            first_latest: None,
            problems: vec![],
        }],
        now,
    )
    .unwrap();
    let q = query(now, false);
    let mut seen = Vec::new();
    s.list(&q, &mut |item| {
        seen.push((item.group, item.tracking_number));
        Ok(())
    })
    .unwrap();
    let expect = |g, n: &str| (g, n.to_string());
    assert_eq!(
        seen,
        vec![
            // Soonest first: the estimate says now, out for delivery has no time.
            expect(Group::ArrivingToday, "ESTIMATED"),
            expect(Group::ArrivingToday, "OFD"),
            expect(Group::OnTheWay, "MOVING"),
            expect(Group::OnTheWay, "PENDING"),
            expect(Group::NeedsAttention, "ERRORED"),
            expect(Group::NeedsAttention, "PROBLEM"),
            expect(Group::DeliveredRecently, "DELIVERED"),
        ]
    );
    let mut all = Vec::new();
    s.list(&query(now, true), &mut |item| {
        all.push(item);
        Ok(())
    })
    .unwrap();
    assert_eq!(all.len(), 9);
    let last = &all[7..];
    assert!(last.iter().all(|i| i.group == Group::Archived));
    let arch = all.iter().find(|i| i.id == archived).unwrap();
    assert!(arch.archived);
    let err = all.iter().find(|i| i.id == errored).unwrap();
    assert_eq!(err.last_error.as_deref(), Some("carrier said no"));
    let est = all.iter().find(|i| i.id == estimated).unwrap();
    assert_eq!(est.estimate, Some(estimate(24 * 30 - 4)));
    assert_eq!(s.group(ofd, &q).unwrap(), Group::ArrivingToday);
    assert_eq!(s.group(old, &q).unwrap(), Group::Archived);
    assert_eq!(s.group(problem, &q).unwrap(), Group::NeedsAttention);
    assert!(matches!(
        s.group(ShipmentId::new(), &q),
        Err(Error::NotFound(_))
    ));
    // An open problem puts a parcel in "needs attention" and shows on its card.
    s.save_derived(
        &[Assessment {
            id: moving,
            previous: None,
            estimate: None,
            first_latest: None,
            problems: vec![
                Problem {
                    kind: ProblemKind::Stuck,
                    since: now,
                    detail: "no scan".into(),
                },
                Problem {
                    kind: ProblemKind::Late,
                    since: now,
                    detail: "late".into(),
                },
            ],
        }],
        now,
    )
    .unwrap();
    assert_eq!(s.group(moving, &q).unwrap(), Group::NeedsAttention);
    let mut problems = None;
    s.list(&q, &mut |item| {
        if item.id == moving {
            problems = Some(item.problems);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(problems, Some(vec![ProblemKind::Stuck, ProblemKind::Late]));
    // The callback's error ends the listing and is returned.
    let mut n = 0;
    let err = s
        .list(&q, &mut |_| {
            n += 1;
            Err(Error::InvalidInput("stop".into()))
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    assert_eq!(n, 1);
}

fn facets_name_each_store_and_carrier_of_what_is_tracked_once(s: &mut dyn Store) {
    let mut add = |number: &str, carrier: &str, store: Option<&str>| {
        s.add_shipment(
            &NewShipment {
                tracking_number: number.into(),
                carrier: carrier.into(),
                order: OrderInfo {
                    store: store.map(Into::into),
                    ..OrderInfo::default()
                },
                ..Default::default()
            },
            t(0),
        )
        .unwrap()
        .shipment
        .id
    };
    add("1Z5R89390357567127", "ups", Some("Sportshop"));
    add("1Z5R89390357567128", "ups", Some("Sportshop"));
    add("9400111899223197428497", "usps", Some("  "));
    let gone = add("JJD000390007827106", "dhl", Some("Bookshop"));
    s.remove(gone, t(1)).unwrap();
    let mut f = s.facets().unwrap();
    f.stores.sort();
    f.carriers.sort();
    assert_eq!(f.stores, vec!["Sportshop".to_owned()]);
    assert_eq!(f.carriers, vec!["ups".to_owned(), "usps".to_owned()]);
}

fn every_record_streams_with_its_history(s: &mut dyn Store) {
    let order = OrderInfo {
        store: Some("Acme".into()),
        order_number: Some("A-1".into()),
        ..Default::default()
    };
    let a = s
        .add_shipment(
            &NewShipment {
                order: order.clone(),
                events: journey(),
                ..new("A1")
            },
            t(0),
        )
        .unwrap()
        .shipment
        .id;
    let b = s
        .add_shipment(&NewShipment { order, ..new("B2") }, t(1))
        .unwrap()
        .shipment
        .id;
    let gone = add(s, "C3");
    s.remove(gone, t(2)).unwrap();
    let mut seen = Vec::new();
    s.for_each_record(&mut |r| {
        seen.push(r);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].shipment.id, a);
    assert_eq!(seen[1].shipment.id, b);
    assert_eq!(seen[0].order, seen[1].order);
    assert_eq!(seen[0].events, s.timeline(a).unwrap());
    assert_eq!(seen[0].events.len(), 5);
    assert_eq!(seen[0].status_log.len(), 1);
    assert!(seen[1].events.is_empty());
}

fn polling_is_due_recorded_and_hurried(s: &mut dyn Store) {
    let a = add(s, "A1");
    let b = s.add_shipment(&new("B2"), t(1)).unwrap().shipment.id;
    let c = s.add_shipment(&new("C3"), t(2)).unwrap().shipment.id;
    assert_eq!(s.next_due().unwrap(), Some(t(0)));
    // New parcels are due at once, soonest first. (PostgreSQL claims what `due` returns
    // for a lease of minutes, so each call here asks an hour later than the one before.)
    assert_eq!(s.due(t(1), 10).unwrap().len(), 2);
    let due: Vec<_> = s.due(t(5), 10).unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(due, [a, b, c]);
    assert_eq!(s.due(t(6), 2).unwrap().len(), 2);
    let due = s.due(t(7), 10).unwrap();
    assert_eq!(due.len(), 3);
    let target = due.iter().find(|p| p.id == a).unwrap();
    assert_eq!(target.tracking_number, "A1");
    assert_eq!(target.carrier, "dhl");
    assert_eq!(target.status, Status::Pending);
    assert_eq!(target.created_at, t(0));
    assert_eq!(target.last_event_at, None);

    let rec = |at: i64, next: Option<i64>, error: Option<&str>| PollRecord {
        polled_at: t(at),
        next_poll_at: next.map(t),
        error: error.map(Into::into),
    };
    s.record_polls(&[
        (a, rec(5, Some(10), None)),
        (b, rec(5, Some(8), Some("timeout"))),
        (c, rec(5, None, None)),
    ])
    .unwrap();
    assert_eq!(s.next_due().unwrap(), Some(t(8)));
    assert_eq!(s.due(t(9), 10).unwrap().len(), 1);
    let sb = s.shipment(b).unwrap();
    assert_eq!(sb.last_polled_at, Some(t(5)));
    assert_eq!(
        (sb.last_error.as_deref(), sb.last_error_at),
        (Some("timeout"), Some(t(5)))
    );
    // The same failure again keeps when it began; another restarts; none clears.
    s.record_polls(&[(b, rec(8, Some(12), Some("timeout")))])
        .unwrap();
    assert_eq!(s.shipment(b).unwrap().last_error_at, Some(t(5)));
    s.record_polls(&[(b, rec(12, Some(14), Some("refused")))])
        .unwrap();
    assert_eq!(s.shipment(b).unwrap().last_error_at, Some(t(12)));
    s.record_polls(&[(b, rec(14, Some(16), None))]).unwrap();
    let sb = s.shipment(b).unwrap();
    assert_eq!((sb.last_error, sb.last_error_at), (None, None));

    // Poll now: one, or every active one (not archived, not finished).
    assert_eq!(s.poll_now(Some(c), t(20)).unwrap(), 1);
    assert_eq!(s.shipment(c).unwrap().next_poll_at, Some(t(20)));
    assert_eq!(s.poll_now(Some(ShipmentId::new()), t(20)).unwrap(), 0);
    s.ingest(
        &[IngestBatch::events(
            c,
            vec![ev(3, Status::Delivered, "d", "Delivered")],
        )],
        t(20),
    )
    .unwrap();
    s.edit(b, Edit::Archived(true), t(20)).unwrap();
    assert_eq!(s.poll_now(None, t(21)).unwrap(), 1);
    assert_eq!(s.shipment(a).unwrap().next_poll_at, Some(t(21)));
    // Archived parcels are never due.
    let due: Vec<_> = s
        .due(t(30), 10)
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(due, [c, a]);
}

fn carrier_state_survives(s: &mut dyn Store) {
    assert!(s.carrier_states().unwrap().is_empty());
    let mut ups = CarrierState::new("ups");
    s.save_carrier_state(&ups, t(0)).unwrap();
    let dhl = CarrierState {
        carrier: "dhl".into(),
        breaker: Breaker::Open,
        breaker_until: Some(t(2)),
        breaker_trips: 3,
        failures: u32::MAX,
        backoff_until: Some(t(1)),
        requests: 250,
        requests_day: Some(t(0).date_naive()),
        last_success_at: Some(t(-1)),
        last_error: Some("429".into()),
        last_error_at: Some(t(0)),
    };
    s.save_carrier_state(&dhl, t(0)).unwrap();
    assert_eq!(s.carrier_states().unwrap(), vec![dhl.clone(), ups.clone()]);
    ups.breaker = Breaker::HalfOpen;
    ups.requests = 1;
    s.save_carrier_state(&ups, t(1)).unwrap();
    assert_eq!(s.carrier_states().unwrap(), vec![dhl, ups]);
}

fn stale_parcels_expire_and_old_deliveries_archive(s: &mut dyn Store) {
    let quiet = add(s, "QUIET");
    let fresh = add(s, "FRESH");
    let done = add(s, "DONE");
    let touched = add(s, "TOUCHED");
    s.ingest(
        &[
            IngestBatch::events(quiet, vec![ev(1, Status::InTransit, "t", "Picked up")]),
            IngestBatch::events(fresh, vec![ev(90, Status::InTransit, "t", "Picked up")]),
            IngestBatch::events(done, vec![ev(2, Status::Delivered, "d", "Delivered")]),
            IngestBatch::events(touched, vec![ev(2, Status::Delivered, "d", "Delivered")]),
        ],
        t(100),
    )
    .unwrap();
    // The user unarchived this one after its delivery: it stays out of the archive.
    s.edit(touched, Edit::Archived(true), t(50)).unwrap();
    s.edit(touched, Edit::Archived(false), t(51)).unwrap();
    let changes = s.expire_stale(t(48), t(100)).unwrap();
    assert_eq!(
        changes,
        [Change::StatusChanged {
            shipment_id: quiet,
            from: Status::InTransit,
            to: Status::Expired
        }]
    );
    let q = s.shipment(quiet).unwrap();
    assert_eq!((q.status, q.next_poll_at), (Status::Expired, None));
    let log = s.status_log(quiet).unwrap();
    assert_eq!(log.last().unwrap().cause, "no news");
    assert!(s.expire_stale(t(48), t(101)).unwrap().is_empty());
    let changes = s.archive_delivered(t(24), t(100)).unwrap();
    assert_eq!(changes, [Change::ShipmentEdited { shipment_id: done }]);
    let d = s.shipment(done).unwrap();
    assert!(d.archived);
    assert_eq!(d.archived_at, t(100));
    assert!(!s.shipment(touched).unwrap().archived);
    assert!(s.archive_delivered(t(24), t(101)).unwrap().is_empty());
}

fn estimates_and_problems_are_saved_with_what_changed(s: &mut dyn Store) {
    let id = add(s, "X1");
    s.ingest(&[IngestBatch::events(id, journey()[..2].to_vec())], t(6))
        .unwrap();
    let stuck = Problem {
        kind: ProblemKind::Stuck,
        since: t(5),
        detail: "no scan for 3 days".into(),
    };
    let first = Assessment {
        id,
        previous: None,
        estimate: Some(estimate(30)),
        first_latest: Some(t(38)),
        problems: vec![stuck.clone()],
    };
    let changes = s.save_derived(std::slice::from_ref(&first), t(10)).unwrap();
    assert_eq!(
        changes,
        [
            Change::EstimateChanged {
                shipment_id: id,
                estimate: Some(estimate(30))
            },
            Change::ProblemOpened {
                shipment_id: id,
                problem: ProblemKind::Stuck
            }
        ]
    );
    assert_eq!(s.shipment(id).unwrap().estimate, Some(estimate(30)));
    let open = s.open_problems(Some(id)).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].problem.clone(), open[0].opened_at),
        (stuck.clone(), t(10))
    );
    // The same conclusions again: nothing written, nothing announced.
    let again = Assessment {
        previous: Some(estimate(30)),
        first_latest: Some(t(50)),
        ..first.clone()
    };
    assert!(s.save_derived(&[again], t(11)).unwrap().is_empty());
    // A confidence within half a percent is the same estimate.
    let close = Assessment {
        previous: Some(estimate(30)),
        estimate: Some(Estimate {
            confidence: 0.803,
            ..estimate(30)
        }),
        ..first.clone()
    };
    assert!(s.save_derived(&[close], t(11)).unwrap().is_empty());
    // The first estimate's latest date is set once.
    let mut seen = None;
    s.active(Some(&[id]), &mut |a| {
        seen = Some(a);
        Ok(())
    })
    .unwrap();
    let a = seen.unwrap();
    assert_eq!(a.first_latest, Some(t(38)));
    assert_eq!(a.problems, vec![stuck.clone()]);
    assert_eq!(a.estimate, Some(estimate(30)));
    // The problem no longer holds, the estimate is gone.
    let cleared = Assessment {
        id,
        previous: Some(estimate(30)),
        estimate: None,
        first_latest: None,
        problems: vec![],
    };
    assert_eq!(
        s.save_derived(&[cleared], t(12)).unwrap(),
        [
            Change::EstimateChanged {
                shipment_id: id,
                estimate: None
            },
            Change::ProblemResolved {
                shipment_id: id,
                problem: ProblemKind::Stuck
            }
        ]
    );
    assert!(s.open_problems(None).unwrap().is_empty());
    assert_eq!(s.shipment(id).unwrap().estimate, None);
    // The same occurrence again reopens its row (one journal entry for it, ever).
    let reopened = Assessment {
        id,
        previous: None,
        estimate: None,
        first_latest: None,
        problems: vec![stuck.clone()],
    };
    assert_eq!(
        s.save_derived(&[reopened], t(13)).unwrap(),
        [Change::ProblemOpened {
            shipment_id: id,
            problem: ProblemKind::Stuck
        }]
    );
    let (entries, _) = s.journal(JournalCursor::default(), 100).unwrap();
    let problems = entries
        .iter()
        .filter(|e| matches!(e, JournalEntry::Problem { .. }))
        .count();
    assert_eq!(problems, 1);
    // A removed parcel's assessment is dropped.
    s.remove(id, t(14)).unwrap();
    let late = Assessment {
        id,
        previous: None,
        estimate: Some(estimate(30)),
        first_latest: None,
        problems: vec![],
    };
    assert!(s.save_derived(&[late], t(15)).unwrap().is_empty());
}

fn deliveries_and_active_parcels_feed_the_engine(s: &mut dyn Store) {
    let done = s
        .add_shipment(
            &NewShipment {
                order: OrderInfo {
                    promised_at: Some(t(30).fixed_offset()),
                    ..Default::default()
                },
                ..new("DONE")
            },
            t(0),
        )
        .unwrap()
        .shipment
        .id;
    let moving = add(s, "MOVING");
    let archived = add(s, "ARCHIVED");
    let mut b = IngestBatch::events(done, journey());
    b.origin = Some(Place {
        country: Some("de".into()),
        region: Some("SN".into()),
        ..Place::default()
    });
    b.destination = Some(Place {
        country: Some("fr".into()),
        ..Place::default()
    });
    b.service = Some("Paket".into());
    s.ingest(
        &[
            b,
            IngestBatch::events(moving, journey()[..3].to_vec()),
            IngestBatch::events(archived, journey()[..3].to_vec()),
        ],
        t(24),
    )
    .unwrap();
    s.edit(archived, Edit::Archived(true), t(25)).unwrap();
    let mut deliveries = Vec::new();
    s.deliveries(&mut |d| {
        deliveries.push(d);
        Ok(())
    })
    .unwrap();
    assert_eq!(deliveries.len(), 1);
    let d = &deliveries[0];
    assert_eq!(d.carrier.as_deref(), Some("dhl"));
    assert_eq!(d.service.as_deref(), Some("Paket"));
    assert_eq!(d.dest_country.as_deref(), Some("FR"));
    assert_eq!(d.started_at, t(5), "from the first carried event");
    assert_eq!(d.delivered_at, t(23));
    assert_eq!(d.promised_at, Some(t(30)));
    let mut active = Vec::new();
    s.active(None, &mut |a| {
        active.push(a);
        Ok(())
    })
    .unwrap();
    assert_eq!(active.len(), 1, "neither delivered nor archived");
    let a = &active[0];
    assert_eq!(a.id, moving);
    assert_eq!(a.status, Status::InTransit);
    assert_eq!(a.status_at, Some(t(9)));
    assert_eq!(a.detail.as_deref(), Some("Arrived at hub"));
    assert_eq!(a.shipped_at, Some(t(5)));
    assert_eq!(a.last_event_at, Some(t(9)));
    assert_eq!(a.created_at, t(0));
    // By id: any status, in the order asked, unknown ids skipped.
    let mut ids = Vec::new();
    s.active(Some(&[done, ShipmentId::new(), archived]), &mut |a| {
        ids.push(a.id);
        Ok(())
    })
    .unwrap();
    assert_eq!(ids, [done, archived]);
}

fn the_journal_is_recorded_once_and_a_moved_cursor_is_refused(s: &mut dyn Store) {
    let id = add(s, "X1");
    let start = s.journal_cursor().unwrap();
    assert_eq!(start, JournalCursor::default());
    s.ingest(&[IngestBatch::events(id, journey()[..2].to_vec())], t(6))
        .unwrap();
    s.ingest(&[IngestBatch::events(id, journey())], t(24))
        .unwrap();
    s.save_derived(
        &[Assessment {
            id,
            previous: None,
            estimate: None,
            first_latest: None,
            problems: vec![Problem {
                kind: ProblemKind::Late,
                since: t(20),
                detail: "late".into(),
            }],
        }],
        t(24),
    )
    .unwrap();
    let (entries, to) = s.journal(start, 100).unwrap();
    assert_eq!(entries.len(), 3);
    match &entries[0] {
        JournalEntry::Status {
            shipment_id,
            from,
            to,
            cause,
            event_key,
            event_at,
            detail,
            changed_at,
        } => {
            assert_eq!(*shipment_id, id);
            assert_eq!((*from, *to), (Status::Pending, Status::InTransit));
            assert_eq!(cause, "poll");
            assert_eq!(*event_key, Some(journey()[1].dedupe_key()));
            assert_eq!(*event_at, Some(t(5)));
            assert_eq!(detail.as_deref(), Some("Picked up"));
            assert_eq!(*changed_at, t(6));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &entries[1],
        JournalEntry::Status {
            to: Status::Delivered,
            ..
        }
    ));
    assert!(matches!(
        &entries[2],
        JournalEntry::Problem { problem, .. } if problem.kind == ProblemKind::Late
    ));
    // A limit applies to each kind.
    let (some, part) = s.journal(start, 1).unwrap();
    assert_eq!(some.len(), 2);
    assert_eq!(s.journal(part, 100).unwrap().0.len(), 1);

    let news = Uuid::now_v7();
    let d = draft(Some(id), "X1 · Shipped", Initial::Pending);
    assert!(
        s.record_notifications(start, to, &[news], std::slice::from_ref(&d), t(25))
            .unwrap()
    );
    assert_eq!(s.journal_cursor().unwrap(), to);
    assert!(s.journal(to, 100).unwrap().0.is_empty());
    assert_eq!(s.notified(&[news, Uuid::now_v7()]).unwrap(), [news]);
    // Another process read the same stretch: refused, and nothing written.
    let late = draft(Some(id), "again", Initial::Pending);
    assert!(
        !s.record_notifications(start, to, &[Uuid::now_v7()], &[late], t(26))
            .unwrap()
    );
    let log = s.notifications(10).unwrap();
    assert_eq!(log.len(), 1);
    let n = &log[0];
    assert_eq!(
        (n.id, n.dedupe_key, n.title.as_str()),
        (d.id, d.dedupe_key, "X1 · Shipped")
    );
    assert_eq!(n.state, OutboxState::Pending);
    assert_eq!((n.kind, n.shipment_id), (Some(Kind::Shipped), Some(id)));
    assert_eq!((n.channel, n.urgency), (Channel::Desktop, Urgency::Low));
    assert_eq!((n.created_at, n.next_attempt_at), (t(25), Some(t(25))));
    assert_eq!(n.link, parcel_link(id));
    // Recording the same news key again is no error.
    assert!(s.record_notifications(to, to, &[news], &[], t(27)).unwrap());
}

fn the_outbox_is_claimed_marked_held_and_released(s: &mut dyn Store) {
    let id = add(s, "X1");
    let cursor = s.journal_cursor().unwrap();
    let a = draft(Some(id), "A", Initial::Pending);
    let b = draft(Some(id), "B", Initial::Pending);
    let held1 = draft(Some(id), "H1", Initial::Held);
    let held2 = draft(Some(id), "H2", Initial::Held);
    // The same news on the same channel is recorded once.
    let dup = Draft {
        id: Uuid::now_v7(),
        ..a.clone()
    };
    assert!(
        s.record_notifications(
            cursor,
            cursor,
            &[],
            &[a.clone(), b.clone(), held1.clone(), held2.clone(), dup],
            t(1)
        )
        .unwrap()
    );
    assert_eq!(s.notifications(10).unwrap().len(), 4);
    let due: Vec<Uuid> = s
        .due_notifications(t(1), 10)
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(due, [a.id, b.id]);
    assert_eq!(s.due_notifications(t(1), 1).unwrap().len(), 1);
    assert!(s.due_notifications(t(0), 10).unwrap().is_empty());
    assert_eq!(s.next_notification_due().unwrap(), Some(t(1)));

    // A claim leases the row: nobody else takes it until the lease ends.
    let lease = t(1) + Duration::seconds(60);
    assert!(s.claim_notification(a.id, lease, t(1)).unwrap());
    assert!(!s.claim_notification(a.id, lease, t(1)).unwrap());
    assert!(!s.claim_notification(held1.id, lease, t(1)).unwrap());
    assert!(!s.claim_notification(Uuid::now_v7(), lease, t(1)).unwrap());
    assert_eq!(s.due_notifications(t(1), 10).unwrap().len(), 1);
    assert!(
        s.claim_notification(a.id, lease + Duration::seconds(60), lease)
            .unwrap()
    );

    // Outcomes.
    s.mark_notification(
        a.id,
        &SendOutcome::Retry {
            error: "no daemon".into(),
            at: t(2),
        },
        t(1),
    )
    .unwrap();
    let find = |s: &dyn Store, id: Uuid| {
        s.notifications(10)
            .unwrap()
            .into_iter()
            .find(|n| n.id == id)
            .unwrap()
    };
    let n = find(s, a.id);
    assert_eq!((n.state, n.attempts), (OutboxState::Pending, 1));
    assert_eq!(
        (n.next_attempt_at, n.last_error.as_deref()),
        (Some(t(2)), Some("no daemon"))
    );
    s.mark_notification(a.id, &SendOutcome::Sent, t(2)).unwrap();
    let n = find(s, a.id);
    assert_eq!(
        (n.state, n.attempts, n.sent_at),
        (OutboxState::Sent, 2, Some(t(2)))
    );
    assert_eq!((n.next_attempt_at, n.last_error), (None, None));
    // Marks of a row no longer pending change nothing.
    s.mark_notification(a.id, &SendOutcome::Failed { error: "x".into() }, t(3))
        .unwrap();
    assert_eq!(find(s, a.id).state, OutboxState::Sent);
    // Deferred (the recipient's quiet hours): later, and no attempt counted.
    s.mark_notification(
        b.id,
        &SendOutcome::Deferred {
            reason: "quiet hours".into(),
            at: t(5),
        },
        t(2),
    )
    .unwrap();
    let n = find(s, b.id);
    assert_eq!((n.state, n.attempts), (OutboxState::Pending, 0));
    assert_eq!(
        (n.next_attempt_at, n.last_error.as_deref()),
        (Some(t(5)), Some("quiet hours"))
    );
    s.mark_notification(
        b.id,
        &SendOutcome::Failed {
            error: "refused".into(),
        },
        t(3),
    )
    .unwrap();
    let n = find(s, b.id);
    assert_eq!(
        (n.state, n.attempts, n.last_error.as_deref()),
        (OutboxState::Failed, 1, Some("refused"))
    );
    assert_eq!(s.next_notification_due().unwrap(), None);

    // Held until quiet hours end, then replaced by one summary ...
    let held: Vec<Uuid> = s
        .held_notifications()
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(held, [held1.id, held2.id]);
    let summary = draft(None, "2 parcels shipped", Initial::Pending);
    s.release_held(&held[..1], Some(&summary), t(8)).unwrap();
    assert_eq!(find(s, held1.id).state, OutboxState::Summarized);
    assert_eq!(find(s, held1.id).next_attempt_at, None);
    let sum = find(s, summary.id);
    assert_eq!(
        (sum.state, sum.next_attempt_at, sum.kind),
        (OutboxState::Pending, Some(t(8)), None)
    );
    // ... or sent as they are.
    s.release_held(&held[1..], None, t(9)).unwrap();
    let n = find(s, held2.id);
    assert_eq!(
        (n.state, n.next_attempt_at),
        (OutboxState::Pending, Some(t(9)))
    );
    assert!(s.held_notifications().unwrap().is_empty());
    // The log is newest first.
    let log: Vec<Uuid> = s.notifications(2).unwrap().iter().map(|n| n.id).collect();
    assert_eq!(log, [summary.id, held2.id]);
}

fn settings_and_per_parcel_kinds_are_last_writer_wins(s: &mut dyn Store) {
    let id = add(s, "JJD000000000000000001");
    assert_eq!(s.setting("k").unwrap(), None);
    assert!(s.set_setting("k", "new", t(2)).unwrap());
    assert!(!s.set_setting("k", "older", t(1)).unwrap());
    assert_eq!(s.setting("k").unwrap().as_deref(), Some("new"));
    assert!(s.set_setting("k", "same time", t(2)).unwrap());
    assert_eq!(s.setting("k").unwrap().as_deref(), Some("same time"));
    let kinds: KindSet = "delivered,problems".parse().unwrap();
    assert!(s.edit(id, Edit::NotifyKinds(Some(kinds)), t(2)).unwrap());
    assert!(!s.edit(id, Edit::NotifyKinds(None), t(1)).unwrap());
    assert_eq!(s.shipment(id).unwrap().notify_kinds, Some(kinds));
    assert!(s.edit(id, Edit::NotifyKinds(None), t(3)).unwrap());
    assert_eq!(s.shipment(id).unwrap().notify_kinds, None);
}

fn shipped_at_is_the_first_carried_event_in_any_order(s: &mut dyn Store) {
    let id = add(s, "JJD000000000000000001");
    let mut events = journey();
    events.reverse();
    s.ingest(&[IngestBatch::events(id, events)], t(50)).unwrap();
    let mut seen = None;
    s.active(Some(&[id]), &mut |a| {
        seen = a.shipped_at;
        Ok(())
    })
    .unwrap();
    let first_carried = journey()
        .into_iter()
        .filter(|e| {
            !matches!(
                e.status,
                Status::Pending | Status::InfoReceived | Status::Unknown
            )
        })
        .map(|e| e.occurred_at.with_timezone(&Utc))
        .min();
    assert_eq!(seen, first_carried);
}

type Snapshot = (
    Vec<(DateTime<FixedOffset>, Status, String)>,
    Status,
    Option<String>,
    u32,
    Option<DateTime<FixedOffset>>,
);

/// The stored state that must not depend on arrival order: the events and the derived
/// shipment fields. (The audit trail is a history of arrivals, so it legitimately differs.)
fn snapshot(s: &dyn Store, id: ShipmentId) -> Snapshot {
    let tl = s
        .timeline(id)
        .unwrap()
        .into_iter()
        .map(|e| (e.occurred_at, e.status, e.description))
        .collect();
    let sh = s.shipment(id).unwrap();
    (
        tl,
        sh.status,
        sh.status_detail,
        sh.event_count,
        sh.last_event_at,
    )
}

fn arb_event() -> impl Strategy<Value = NewEvent> {
    (0i64..40, prop::sample::select(Status::ALL.to_vec()), 0u8..4)
        .prop_map(|(h, st, d)| ev(h, st, st.as_str(), &format!("scan {d}")))
}

/// Core's property test of ingest, on one store: each case tracks two new numbers, one fed
/// the history at once, the other a shuffled, partly duplicated copy in two calls.
fn any_permutation_or_duplication_gives_the_same_state(s: &mut dyn Store) {
    let s = RefCell::new(s);
    let case = std::cell::Cell::new(0u32);
    let strategy = (
        prop::collection::vec(arb_event(), 1..12),
        any::<u64>(),
        prop::collection::vec(any::<bool>(), 12),
        0usize..12,
    );
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(events, order, dup_mask, split)| {
            let mut s = s.borrow_mut();
            let n = case.get();
            case.set(n + 1);
            let ida = add(&mut **s, &format!("PA{n}"));
            let idb = add(&mut **s, &format!("PB{n}"));
            s.ingest(&[IngestBatch::events(ida, events.clone())], t(50))
                .unwrap();
            let mut shuffled: Vec<NewEvent> = events.clone();
            for (i, e) in events.iter().enumerate() {
                if dup_mask[i % dup_mask.len()] {
                    shuffled.push(e.clone());
                }
            }
            // Deterministic shuffle from the drawn seed.
            let mut seed = order;
            for i in (1..shuffled.len()).rev() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                shuffled.swap(i, (seed >> 33) as usize % (i + 1));
            }
            let cut = split.min(shuffled.len());
            s.ingest(&[IngestBatch::events(idb, shuffled[..cut].to_vec())], t(50))
                .unwrap();
            s.ingest(&[IngestBatch::events(idb, shuffled[cut..].to_vec())], t(51))
                .unwrap();
            prop_assert_eq!(snapshot(&**s, ida), snapshot(&**s, idb));
            Ok(())
        })
        .unwrap();
}

/// A valid UPU S10 number (weights 8,6,4,2,3,5,9,7; mod 11), as import checks them.
fn s10(serial: u32, country: &str) -> String {
    let digits: Vec<u32> = format!("{serial:08}")
        .bytes()
        .map(|b| u32::from(b - b'0'))
        .collect();
    let sum: u32 = digits
        .iter()
        .zip([8, 6, 4, 2, 3, 5, 9, 7])
        .map(|(d, w)| d * w)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c,
    };
    format!("RB{serial:08}{check}{country}")
}

/// Three parcels with one, two and three events (the third delivered), as core's
/// import/export tests seed them.
fn seed(s: &mut dyn Store) -> Vec<String> {
    (0..3u32)
        .map(|i| {
            let number = s10(i, "DE");
            let added = s
                .add_shipment(
                    &NewShipment {
                        tracking_number: number.clone(),
                        carrier: "deutsche-post".into(),
                        label: Some(format!("Parcel {i}")),
                        ..NewShipment::default()
                    },
                    t(0),
                )
                .unwrap();
            let off = FixedOffset::east_opt(3600).unwrap();
            let events = (0..i + 1)
                .map(|h| NewEvent {
                    occurred_at: off.with_ymd_and_hms(2026, 5, 20, 8 + h, 0, 0).unwrap(),
                    status: if h == 2 {
                        Status::Delivered
                    } else {
                        Status::InTransit
                    },
                    raw_code: Some(format!("C{h}")),
                    description: format!("-Scan {h}, \"quoted\""),
                    location: Place {
                        city: Some("Köln".into()),
                        country: Some("DE".into()),
                        ..Place::default()
                    },
                    source: Source::Poll,
                })
                .collect();
            s.ingest(&[IngestBatch::events(added.shipment.id, events)], t(1))
                .unwrap();
            number
        })
        .collect()
}

fn an_export_imports_back_adding_nothing_twice(s: &mut dyn Store) {
    seed(s);
    let mut csv = Vec::new();
    assert_eq!(
        parceltrail_core::export::write_csv(&*s, &mut csv).unwrap(),
        6
    );
    let report = parceltrail_core::import::import_csv(s, &csv[..], t(2), &mut |_, _| {}).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!((report.added, report.events_added), (0, 0));
    assert_eq!(s.count().unwrap(), 3);
    let mut json = Vec::new();
    assert_eq!(
        parceltrail_core::export::write_json(&*s, &mut json, t(2)).unwrap(),
        3
    );
}

// ---- Orders and the feed ----------------------------------------------------------------

fn customer(name: &str, email: &str) -> Customer {
    Customer {
        name: Some(name.into()),
        email: Some(email.into()),
        ..Customer::default()
    }
}

/// A new order in the web shop with the given number and parcels.
fn order(number: &str, shipments: &[&str]) -> NewOrder {
    NewOrder {
        id: OrderId::new(),
        info: OrderInfo {
            store: Some("web".into()),
            order_number: Some(number.into()),
            ..OrderInfo::default()
        },
        customer: Customer::default(),
        stage: OrderStage::Received,
        actor: "key:shopify".into(),
        shipments: shipments.iter().map(|n| new(n)).collect(),
    }
}

fn save(s: &mut dyn Store, new: &NewOrder) -> SavedOrder {
    s.save_order(new, OnExisting::Refuse, t(0)).unwrap()
}

fn kinds(entries: &[FeedEntry]) -> Vec<&'static str> {
    entries
        .iter()
        .map(|e| match &e.change {
            Change::EventsAdded { .. } => "events_added",
            Change::StatusChanged { .. } => "status_changed",
            Change::EtaChanged { .. } => "eta_changed",
            Change::ShipmentEdited { .. } => "shipment_edited",
            Change::EstimateChanged { .. } => "estimate_changed",
            Change::ProblemOpened { .. } => "problem_opened",
            Change::ProblemResolved { .. } => "problem_resolved",
            Change::NotificationsChanged => "notifications_changed",
            Change::OrderCreated { .. } => "order_created",
            Change::OrderUpdated { .. } => "order_updated",
            Change::OrderStageChanged { .. } => "order_stage_changed",
            Change::OrderRemoved { .. } => "order_removed",
            Change::ShipmentAdded { .. } => "shipment_added",
            Change::ShipmentRemoved { .. } => "shipment_removed",
        })
        .collect()
}

/// The feed after `after`, all of it.
fn fed(s: &dyn Store, after: i64) -> Vec<FeedEntry> {
    s.feed(after, 10_000).unwrap()
}

fn ids(orders: &[Order]) -> Vec<OrderId> {
    orders.iter().map(|o| o.id).collect()
}

fn listed(s: &dyn Store, q: OrderQuery) -> Vec<OrderId> {
    ids(&s.orders(&OrderQuery { limit: 100, ..q }).unwrap())
}

fn save_order_refuses_or_merges_an_existing_number(s: &mut dyn Store) {
    let mut first = order("1001", &["A1", "B2"]);
    first.customer = Customer {
        name: Some("Ann Smith".into()),
        ..Customer::default()
    };
    first.info.items = Some("Boots".into());
    first.shipments[1].events = journey()[..2].to_vec();
    let saved = save(s, &first);
    assert!(saved.created);
    let o = &saved.order;
    assert_eq!(o.id, first.id, "the caller's id");
    assert_eq!(
        (o.store.as_deref(), o.order_number.as_deref()),
        (Some("web"), Some("1001"))
    );
    assert_eq!(o.customer.name.as_deref(), Some("Ann Smith"));
    assert_eq!(
        (o.stage, o.stage_at, o.created_at, o.updated_at),
        (OrderStage::Received, t(0), t(0), t(0))
    );
    assert_eq!(
        saved
            .shipments
            .iter()
            .map(|a| (
                a.shipment.tracking_number.as_str(),
                a.created,
                a.events_added,
                a.shipment.order_id
            ))
            .collect::<Vec<_>>(),
        [("A1", true, 0, o.id), ("B2", true, 2, o.id)]
    );
    assert_eq!(saved.shipments[1].shipment.status, Status::InTransit);
    assert_eq!(
        s.order_stages(o.id).unwrap(),
        [StageChange {
            from: OrderStage::Received,
            to: OrderStage::Received,
            actor: "key:shopify".into(),
            note: None,
            changed_at: t(0),
        }]
    );
    assert_eq!(s.order(o.id).unwrap(), *o);

    // Refused: nothing written, not even the new parcel.
    let head = s.feed_head().unwrap();
    let again = NewOrder {
        shipments: vec![new("C3")],
        ..order("1001", &[])
    };
    let err = s.save_order(&again, OnExisting::Refuse, t(1)).unwrap_err();
    assert!(matches!(err, Error::OrderExists(id) if id == o.id), "{err}");
    assert!(err.to_string().contains(&o.id.to_string()), "{err}");
    assert!(matches!(s.find("C3"), Err(Error::NotFound(_))));
    assert!(matches!(s.order(again.id), Err(Error::NotFound(_))));
    assert_eq!(s.feed_head().unwrap(), head);

    // Merged: what the order lacks is filled in, nothing overwritten; parcels added.
    let mut more = order("1001", &["B2", "C3"]);
    more.info.items = Some("Sandals".into());
    more.info.notes = Some("Gift".into());
    more.customer = customer("Bob", "ann@example.com");
    more.shipments[0].events = journey()[..3].to_vec();
    let merged = s.save_order(&more, OnExisting::Merge, t(1)).unwrap();
    assert!(!merged.created);
    let m = &merged.order;
    assert_eq!(m.id, o.id);
    assert_eq!(m.items.as_deref(), Some("Boots"), "never overwritten");
    assert_eq!(m.notes.as_deref(), Some("Gift"), "filled in");
    assert_eq!(m.customer.name.as_deref(), Some("Ann Smith"));
    assert_eq!(m.customer.email.as_deref(), Some("ann@example.com"));
    assert_eq!((m.created_at, m.updated_at), (t(0), t(1)));
    assert_eq!(
        merged
            .shipments
            .iter()
            .map(|a| (
                a.shipment.tracking_number.as_str(),
                a.created,
                a.events_added
            ))
            .collect::<Vec<_>>(),
        [("B2", false, 1), ("C3", true, 0)],
        "a number already in the order has its events merged"
    );
    assert_eq!(s.order_shipments(o.id).unwrap().len(), 3);
    assert_eq!(
        s.order_stages(o.id).unwrap().len(),
        1,
        "a merge is no new stage"
    );

    // Merged again: idempotent.
    let head = s.feed_head().unwrap();
    let twice = s.save_order(&more, OnExisting::Merge, t(2)).unwrap();
    assert!(!twice.created);
    assert!(
        twice
            .shipments
            .iter()
            .all(|a| !a.created && a.events_added == 0)
    );
    assert_eq!(twice.order, *m, "nothing changed, not even updated_at");
    assert_eq!(s.feed_head().unwrap(), head, "nothing fed");

    // The same number in another store is another order; so is a number-less order.
    let mut other = order("1001", &[]);
    other.info.store = Some("pos".into());
    assert!(save(s, &other).created);
    let mut bare = order("", &["D4"]);
    bare.info.order_number = None;
    let b = save(s, &bare);
    assert!(b.created);
    // A retried save of a number-less order (same id) is that order.
    let retried = s.save_order(&bare, OnExisting::Merge, t(3)).unwrap();
    assert_eq!((retried.order.id, retried.created), (b.order.id, false));
    assert!(matches!(
        s.save_order(&bare, OnExisting::Refuse, t(3)),
        Err(Error::OrderExists(id)) if id == b.order.id
    ));
}

fn save_order_is_all_or_nothing_when_a_number_is_taken(s: &mut dyn Store) {
    let a = save(s, &order("1", &["X1"])).order;
    let head = s.feed_head().unwrap();
    let b = order("2", &["Y1", "X1"]);
    let err = s.save_order(&b, OnExisting::Refuse, t(1)).unwrap_err();
    assert!(
        matches!(&err, Error::NumberTaken { tracking_number, order_id } if tracking_number == "X1" && *order_id == a.id),
        "{err}"
    );
    assert!(err.to_string().contains("X1"), "{err}");
    assert!(matches!(s.order(b.id), Err(Error::NotFound(_))));
    assert!(matches!(s.find("Y1"), Err(Error::NotFound(_))));
    assert_eq!(s.count().unwrap(), 1);
    assert_eq!(listed(s, OrderQuery::default()), [a.id]);
    assert_eq!(s.feed_head().unwrap(), head, "nothing fed");
    // Merging into an existing order checks the same way.
    let mut c = order("3", &[]);
    save(s, &c);
    c.shipments = vec![new("X1")];
    assert!(matches!(
        s.save_order(&c, OnExisting::Merge, t(2)),
        Err(Error::NumberTaken { .. })
    ));
    // A parcel added on its own (the app's way) into the order that has it is no conflict.
    assert!(!s.add_shipment(&new("X1"), t(2)).unwrap().created);
}

fn save_orders_leaves_out_a_refused_order_alone(s: &mut dyn Store) {
    let a = save(s, &order("1", &["X1"])).order;
    let head = s.feed_head().unwrap();
    // The second order's number is the first's: it alone is left out, wholly.
    let batch = [
        order("2", &["Y1"]),
        order("3", &["Z1", "X1"]),
        order("1", &["X2"]),
        order("4", &[]),
    ];
    let out = s.save_orders(&batch, OnExisting::Merge, t(1)).unwrap();
    assert_eq!(out.len(), 4);
    let two = out[0].as_ref().unwrap();
    assert!(two.created);
    assert_eq!(two.order.id, batch[0].id);
    assert_eq!(two.shipments[0].shipment.tracking_number, "Y1");
    assert!(two.shipments[0].created);
    assert!(
        matches!(&out[1], Err(Error::NumberTaken { tracking_number, order_id }) if tracking_number == "X1" && *order_id == a.id),
        "{:?}",
        out[1]
    );
    assert!(matches!(s.order(batch[1].id), Err(Error::NotFound(_))));
    assert!(
        matches!(s.find("Z1"), Err(Error::NotFound(_))),
        "undone with its order"
    );
    let merged = out[2].as_ref().unwrap();
    assert!(!merged.created);
    assert_eq!(merged.order.id, a.id);
    assert!(merged.shipments[0].created);
    assert!(out[3].as_ref().unwrap().created);
    assert_eq!(
        listed(s, OrderQuery::default()),
        [batch[3].id, batch[0].id, a.id]
    );
    // The feed has what was saved, and nothing of the refused order.
    let changes = fed(s, head);
    assert!(!changes.is_empty());
    assert!(
        changes.iter().all(|e| e.order_id != Some(batch[1].id)),
        "{changes:?}"
    );
    assert!(
        changes.iter().any(
            |e| matches!(e.change, Change::OrderCreated { order_id } if order_id == batch[3].id)
        )
    );
    // Again: nothing new, the same refusal.
    let again = s.save_orders(&batch, OnExisting::Merge, t(2)).unwrap();
    assert!(
        again[0]
            .as_ref()
            .is_ok_and(|o| !o.created && !o.shipments[0].created)
    );
    assert!(matches!(again[1], Err(Error::NumberTaken { .. })));
    assert_eq!(s.count().unwrap(), 3);
    // Refuse is per order too: an existing number is that order's error alone.
    let out = s
        .save_orders(
            &[order("4", &[]), order("5", &[])],
            OnExisting::Refuse,
            t(3),
        )
        .unwrap();
    assert!(matches!(out[0], Err(Error::OrderExists(id)) if id == batch[3].id));
    assert!(out[1].as_ref().unwrap().created);
}

fn a_removed_order_hides_and_its_number_revives_it(s: &mut dyn Store) {
    let mut first = order("1001", &["A1", "B2"]);
    first.customer = customer("Ann Smith", "ann@example.com");
    first.info.items = Some("Boots".into());
    first.shipments[0].events = journey()[..2].to_vec();
    let o = save(s, &first).order;
    let a1 = s.find("A1").unwrap().id;
    s.set_order_stage(o.id, OrderStage::Shipped, "staff:x@example.com", None, t(1))
        .unwrap();
    s.remove_order(o.id, t(2)).unwrap();
    assert!(matches!(s.order(o.id), Err(Error::NotFound(_))));
    assert!(matches!(s.order_shipments(o.id), Err(Error::NotFound(_))));
    assert!(matches!(s.order_stages(o.id), Err(Error::NotFound(_))));
    assert!(matches!(s.shipment(a1), Err(Error::NotFound(_))));
    assert!(matches!(s.find("B2"), Err(Error::NotFound(_))));
    assert!(s.timeline(a1).unwrap().is_empty(), "history dropped");
    assert_eq!(s.count().unwrap(), 0);
    assert!(listed(s, OrderQuery::default()).is_empty());
    assert!(
        listed(
            s,
            OrderQuery {
                email: Some("ann@example.com".into()),
                ..OrderQuery::default()
            }
        )
        .is_empty()
    );
    assert!(s.shipments_of_orders(&[o.id]).unwrap().is_empty());
    for err in [
        s.remove_order(o.id, t(3)).unwrap_err(),
        s.update_order(o.id, &OrderPatch::default(), t(3))
            .unwrap_err(),
        s.set_order_stage(o.id, OrderStage::Cancelled, "x", None, t(3))
            .unwrap_err(),
        s.remove_order(OrderId::new(), t(3)).unwrap_err(),
    ] {
        assert!(matches!(err, Error::NotFound(_)), "{err}");
    }

    // Saved again under its number: the same record, with only what is given now.
    let mut again = order("1001", &["A1"]);
    again.stage = OrderStage::InPreparation;
    again.actor = "staff:x@example.com".into();
    let revived = s.save_order(&again, OnExisting::Refuse, t(4)).unwrap();
    assert!(revived.created);
    let r = &revived.order;
    assert_eq!(r.id, o.id, "revived, not a new record");
    assert_eq!(
        (r.items.as_deref(), &r.customer),
        (None, &Customer::default())
    );
    assert_eq!(
        (r.stage, r.stage_at, r.created_at),
        (OrderStage::InPreparation, t(4), t(4))
    );
    let a = &revived.shipments[0];
    assert_eq!(
        (a.shipment.id, a.created, a.shipment.event_count),
        (a1, true, 0)
    );
    assert_eq!(
        s.order_stages(o.id)
            .unwrap()
            .iter()
            .map(|c| (c.from, c.to, c.actor.as_str()))
            .collect::<Vec<_>>(),
        [(
            OrderStage::InPreparation,
            OrderStage::InPreparation,
            "staff:x@example.com"
        )]
    );
    assert!(
        matches!(s.find("B2"), Err(Error::NotFound(_))),
        "only what was given"
    );
    assert_eq!(listed(s, OrderQuery::default()), [o.id]);
}

fn update_order_sets_clears_and_refuses_a_taken_number(s: &mut dyn Store) {
    let mut first = order("1001", &["A1"]);
    first.info.notes = Some("Leave at door".into());
    first.info.items = Some("Boots".into());
    first.customer = customer("Ann Smith", "Ann@Example.com");
    let o = save(s, &first).order;
    let other = save(s, &order("1002", &[])).order;
    let placed = t(-24).with_timezone(&FixedOffset::east_opt(3600).unwrap());
    let patch = OrderPatch {
        items: Some(Some("Sandals".into())),
        notes: Some(None),
        placed_at: Some(Some(placed)),
        customer_email: Some(Some("ann@new.example".into())),
        customer_phone: Some(Some("+49 30 1234".into())),
        ..OrderPatch::default()
    };
    let u = s.update_order(o.id, &patch, t(1)).unwrap();
    assert_eq!(u.items.as_deref(), Some("Sandals"));
    assert_eq!(u.notes, None, "cleared");
    assert_eq!(u.placed_at, Some(placed));
    assert_eq!(u.placed_at.unwrap().offset().local_minus_utc(), 3600);
    assert_eq!(u.customer.name.as_deref(), Some("Ann Smith"), "left");
    assert_eq!(u.customer.email.as_deref(), Some("ann@new.example"));
    assert_eq!(u.customer.phone.as_deref(), Some("+49 30 1234"));
    assert_eq!(
        (u.order_number.as_deref(), u.stage),
        (Some("1001"), OrderStage::Received)
    );
    assert_eq!((u.created_at, u.updated_at), (t(0), t(1)));
    assert_eq!(s.order(o.id).unwrap(), u);
    // The search follows the new address; the old one finds nothing.
    let by = |s: &dyn Store, e: &str| {
        listed(
            s,
            OrderQuery {
                email: Some(e.into()),
                ..OrderQuery::default()
            },
        )
    };
    assert_eq!(by(s, "ANN@new.example"), [o.id]);
    assert!(by(s, "ann@example.com").is_empty());
    // Nothing to change: nothing written.
    let head = s.feed_head().unwrap();
    assert_eq!(s.update_order(o.id, &patch, t(2)).unwrap(), u);
    assert_eq!(
        s.update_order(o.id, &OrderPatch::default(), t(2)).unwrap(),
        u
    );
    assert_eq!(s.feed_head().unwrap(), head);
    // Another live order's number is refused; a removed one's is free.
    let taken = OrderPatch {
        order_number: Some(Some("1002".into())),
        items: Some(None),
        ..OrderPatch::default()
    };
    let err = s.update_order(o.id, &taken, t(3)).unwrap_err();
    assert!(
        matches!(err, Error::OrderExists(id) if id == other.id),
        "{err}"
    );
    assert_eq!(s.order(o.id).unwrap(), u, "unchanged");
    // In another store it is no conflict.
    let moved = s
        .update_order(
            o.id,
            &OrderPatch {
                store: Some(Some("pos".into())),
                ..taken.clone()
            },
            t(3),
        )
        .unwrap();
    assert_eq!(
        (
            moved.store.as_deref(),
            moved.order_number.as_deref(),
            moved.items
        ),
        (Some("pos"), Some("1002"), None)
    );
    s.remove_order(other.id, t(4)).unwrap();
    let back = s
        .update_order(
            o.id,
            &OrderPatch {
                store: Some(Some("web".into())),
                ..OrderPatch::default()
            },
            t(5),
        )
        .unwrap();
    assert_eq!(
        (back.store.as_deref(), back.order_number.as_deref()),
        (Some("web"), Some("1002"))
    );
    // Clearing the number, and every customer part.
    let cleared = s
        .update_order(
            o.id,
            &OrderPatch {
                order_number: Some(None),
                customer_name: Some(None),
                customer_email: Some(None),
                customer_phone: Some(None),
                customer_postcode: Some(None),
                customer_address: Some(None),
                ..OrderPatch::default()
            },
            t(6),
        )
        .unwrap();
    assert_eq!(
        (cleared.order_number, cleared.customer),
        (None, Customer::default())
    );
    assert!(matches!(
        s.update_order(OrderId::new(), &patch, t(7)),
        Err(Error::NotFound(_))
    ));
}

fn an_order_stage_is_set_logged_and_a_repeat_is_nothing(s: &mut dyn Store) {
    let o = save(s, &order("1001", &["A1"])).order;
    let a = s
        .set_order_stage(
            o.id,
            OrderStage::InPreparation,
            "staff:bo@example.com",
            Some("picking"),
            t(2),
        )
        .unwrap();
    assert_eq!(
        (a.stage, a.stage_at, a.updated_at, a.created_at),
        (OrderStage::InPreparation, t(2), t(2), t(0))
    );
    assert_eq!(s.order(o.id).unwrap(), a);
    let head = s.feed_head().unwrap();
    let same = s
        .set_order_stage(
            o.id,
            OrderStage::InPreparation,
            "staff:other@example.com",
            Some("again"),
            t(3),
        )
        .unwrap();
    assert_eq!(same, a, "the current stage again changes nothing");
    assert_eq!(s.feed_head().unwrap(), head, "and feeds nothing");
    s.set_order_stage(o.id, OrderStage::Shipped, "key:erp", None, t(4))
        .unwrap();
    let log = s.order_stages(o.id).unwrap();
    assert_eq!(
        log.iter()
            .map(|c| (
                c.from,
                c.to,
                c.actor.as_str(),
                c.note.as_deref(),
                c.changed_at
            ))
            .collect::<Vec<_>>(),
        [
            (
                OrderStage::Received,
                OrderStage::Received,
                "key:shopify",
                None,
                t(0)
            ),
            (
                OrderStage::Received,
                OrderStage::InPreparation,
                "staff:bo@example.com",
                Some("picking"),
                t(2)
            ),
            (
                OrderStage::InPreparation,
                OrderStage::Shipped,
                "key:erp",
                None,
                t(4)
            ),
        ]
    );
    // The parcels' statuses are their own.
    assert_eq!(s.find("A1").unwrap().status, Status::Pending);
    assert!(matches!(
        s.order_stages(OrderId::new()),
        Err(Error::NotFound(_))
    ));
}

type Spec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    &'static [&'static str],
);

/// Seven orders spread over what `orders()` filters by; returns their ids, oldest first.
fn spread(s: &mut dyn Store) -> Vec<OrderId> {
    let berlin = FixedOffset::east_opt(7200).unwrap();
    // Store, number, customer's name and e-mail, placed (hours), parcels.
    let specs: [Spec; 7] = [
        (
            "web",
            "1001",
            "Ann Smith",
            "ann@example.com",
            0,
            &["1Z999AA10123456784"],
        ),
        (
            "web",
            "1002",
            "Bob Jones",
            "BOB@example.com",
            24,
            &["JJD000390007827106"],
        ),
        ("web", "1010", "Zoë Ånström", "zoe@example.com", 48, &[]),
        (
            "pos",
            "1001",
            "Ann Smith",
            "ann@example.com",
            72,
            &["X1", "X2"],
        ),
        ("pos", "2001", "Carl Ann", "carl@example.com", 96, &["Y1"]),
        ("web", "3001", "", "", 120, &["Z1"]),
        ("web", "3002", "Dora", "dora@example.com", 144, &["W1"]),
    ];
    let mut out = Vec::new();
    for (store, number, name, email, placed, parcels) in specs {
        let mut o = order(number, parcels);
        o.info.store = Some(store.into());
        o.info.placed_at = Some(t(placed).with_timezone(&berlin));
        if !name.is_empty() {
            o.customer = customer(name, email);
        }
        if number == "1002" {
            o.shipments[0].carrier = "ups".into();
        }
        out.push(save(s, &o).order.id);
    }
    // Statuses: Bob's parcel delivered, one of the pos 1001 parcels in transit.
    let bob = s.find("JJD000390007827106").unwrap().id;
    let x2 = s.find("X2").unwrap().id;
    s.ingest(
        &[
            IngestBatch::events(bob, journey()),
            IngestBatch::events(x2, journey()[..2].to_vec()),
        ],
        t(30),
    )
    .unwrap();
    s.set_order_stage(out[1], OrderStage::Shipped, "key:erp", None, t(30))
        .unwrap();
    s.set_order_stage(out[3], OrderStage::Shipped, "key:erp", None, t(30))
        .unwrap();
    // A removed order is never listed.
    let gone = save(s, &order("1001-removed", &["V1"])).order.id;
    s.remove_order(gone, t(31)).unwrap();
    out
}

fn orders_are_listed_newest_first_by_each_filter(s: &mut dyn Store) {
    let o = spread(s);
    let q = OrderQuery::default;
    let rev = |idx: &[usize]| idx.iter().rev().map(|i| o[*i]).collect::<Vec<_>>();
    assert_eq!(listed(s, q()), rev(&[0, 1, 2, 3, 4, 5, 6]), "newest first");
    assert!(
        s.orders(&OrderQuery { limit: 0, ..q() })
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.orders(&OrderQuery { limit: 2, ..q() }).unwrap().len(), 2);
    let cases: Vec<(OrderQuery, Vec<usize>)> = vec![
        (
            OrderQuery {
                order_number: Some("1001".into()),
                ..q()
            },
            vec![0, 3],
        ),
        (
            OrderQuery {
                order_number: Some("100".into()),
                ..q()
            },
            vec![],
        ),
        (
            OrderQuery {
                email: Some(" Ann@EXAMPLE.com".into()),
                ..q()
            },
            vec![0, 3],
        ),
        (
            OrderQuery {
                email: Some("bob@example.com".into()),
                ..q()
            },
            vec![1],
        ),
        (
            OrderQuery {
                email: Some("example.com".into()),
                ..q()
            },
            vec![],
        ),
        (
            OrderQuery {
                store: Some("pos".into()),
                ..q()
            },
            vec![3, 4],
        ),
        (
            OrderQuery {
                stage: Some(OrderStage::Shipped),
                ..q()
            },
            vec![1, 3],
        ),
        (
            OrderQuery {
                stage: Some(OrderStage::Cancelled),
                ..q()
            },
            vec![],
        ),
        (
            OrderQuery {
                status: Some(Status::Delivered),
                ..q()
            },
            vec![1],
        ),
        (
            OrderQuery {
                status: Some(Status::InTransit),
                ..q()
            },
            vec![3],
        ),
        (
            OrderQuery {
                status: Some(Status::Pending),
                ..q()
            },
            vec![0, 3, 4, 5, 6],
        ),
        (
            OrderQuery {
                carrier: Some("ups".into()),
                ..q()
            },
            vec![1],
        ),
        (
            OrderQuery {
                carrier: Some("dhl".into()),
                ..q()
            },
            vec![0, 3, 4, 5, 6],
        ),
        (
            OrderQuery {
                placed_from: Some(t(24)),
                placed_to: Some(t(96)),
                ..q()
            },
            vec![1, 2, 3],
        ),
        (
            OrderQuery {
                placed_from: Some(t(100)),
                ..q()
            },
            vec![5, 6],
        ),
        (
            OrderQuery {
                placed_to: Some(t(24)),
                ..q()
            },
            vec![0],
        ),
        (
            OrderQuery {
                store: Some("web".into()),
                stage: Some(OrderStage::Shipped),
                ..q()
            },
            vec![1],
        ),
        (
            OrderQuery {
                email: Some("ann@example.com".into()),
                store: Some("web".into()),
                ..q()
            },
            vec![0],
        ),
        // The free search: a number prefix, an e-mail, part of a name, a tracking number.
        (
            OrderQuery {
                q: Some("10".into()),
                ..q()
            },
            vec![0, 1, 2, 3],
        ),
        (
            OrderQuery {
                q: Some(" 100 ".into()),
                ..q()
            },
            vec![0, 1, 3],
        ),
        (
            OrderQuery {
                q: Some("BOB@Example.com".into()),
                ..q()
            },
            vec![1],
        ),
        (
            OrderQuery {
                q: Some("ann".into()),
                ..q()
            },
            vec![0, 3, 4],
        ),
        (
            OrderQuery {
                q: Some("ÅNSTR".into()),
                ..q()
            },
            vec![2],
        ),
        (
            OrderQuery {
                q: Some("1z 999-aa1 0123456784".into()),
                ..q()
            },
            vec![0],
        ),
        (
            OrderQuery {
                q: Some("x2".into()),
                ..q()
            },
            vec![3],
        ),
        (
            OrderQuery {
                q: Some("V1".into()),
                ..q()
            },
            vec![],
        ),
        (
            OrderQuery {
                q: Some("%".into()),
                ..q()
            },
            vec![],
        ),
        (
            OrderQuery {
                q: Some("  ".into()),
                ..q()
            },
            vec![0, 1, 2, 3, 4, 5, 6],
        ),
        (
            OrderQuery {
                q: Some("ann".into()),
                store: Some("pos".into()),
                ..q()
            },
            vec![3, 4],
        ),
        // Part of a name too short for the trigram index, and with a parcel filter.
        (
            OrderQuery {
                q: Some("nn".into()),
                ..q()
            },
            vec![0, 3, 4],
        ),
        (
            OrderQuery {
                q: Some("ann".into()),
                status: Some(Status::InTransit),
                ..q()
            },
            vec![3],
        ),
        (
            OrderQuery {
                q: Some("ann".into()),
                carrier: Some("dhl".into()),
                ..q()
            },
            vec![0, 3, 4],
        ),
        // What would be pattern or query syntax is taken literally.
        (
            OrderQuery {
                q: Some("1*".into()),
                ..q()
            },
            vec![],
        ),
        (
            OrderQuery {
                q: Some("n_s".into()),
                ..q()
            },
            vec![],
        ),
        (
            OrderQuery {
                q: Some("\"ann\"".into()),
                ..q()
            },
            vec![],
        ),
        (
            OrderQuery {
                q: Some("a* OR b".into()),
                ..q()
            },
            vec![],
        ),
    ];
    for (query, want) in cases {
        assert_eq!(listed(s, query.clone()), rev(&want), "{query:?}");
    }
    // A renamed customer is found by the new name only; a removed name by neither.
    let text = |t: &str| OrderQuery {
        q: Some(t.into()),
        ..q()
    };
    s.update_order(
        o[6],
        &OrderPatch {
            customer_name: Some(Some("Dorothea Quux".into())),
            ..OrderPatch::default()
        },
        t(200),
    )
    .unwrap();
    assert_eq!(listed(s, text("quux")), vec![o[6]]);
    assert_eq!(listed(s, text("dorot")), vec![o[6]]);
    assert_eq!(listed(s, text("dora")), vec![]);
    s.update_order(
        o[6],
        &OrderPatch {
            customer_name: Some(None),
            ..OrderPatch::default()
        },
        t(201),
    )
    .unwrap();
    assert_eq!(listed(s, text("quux")), vec![]);
}

fn orders_page_by_id_without_gaps_or_repeats(s: &mut dyn Store) {
    let mut all = Vec::new();
    for i in 0..23 {
        // Every other order with two parcels of one carrier and status: still once a page.
        let parcels = [format!("P{i}A"), format!("P{i}B")];
        let parcels: Vec<&str> = parcels.iter().map(String::as_str).collect();
        let mut o = order(&format!("{i:04}"), if i % 2 == 0 { &parcels } else { &[] });
        if i % 3 == 0 {
            o.info.store = Some("pos".into());
        }
        all.push(save(s, &o).order.id);
    }
    all.reverse();
    let with_parcels: Vec<OrderId> = all
        .iter()
        .copied()
        .filter(|id| !s.order_shipments(*id).unwrap().is_empty())
        .collect();
    assert_eq!(with_parcels.len(), 12);
    for (filter, want) in [
        (OrderQuery::default(), all.clone()),
        (
            OrderQuery {
                store: Some("pos".into()),
                ..OrderQuery::default()
            },
            all.iter()
                .copied()
                .filter(|id| s.order(*id).unwrap().store.as_deref() == Some("pos"))
                .collect(),
        ),
        // Read from the parcels' indexes, alone and with the order's own filters.
        (
            OrderQuery {
                carrier: Some("dhl".into()),
                ..OrderQuery::default()
            },
            with_parcels.clone(),
        ),
        (
            OrderQuery {
                status: Some(Status::Pending),
                store: Some("pos".into()),
                ..OrderQuery::default()
            },
            with_parcels
                .iter()
                .copied()
                .filter(|id| s.order(*id).unwrap().store.as_deref() == Some("pos"))
                .collect(),
        ),
        (
            OrderQuery {
                status: Some(Status::Pending),
                carrier: Some("dhl".into()),
                ..OrderQuery::default()
            },
            with_parcels.clone(),
        ),
        // Free text: paged on its matches' ids alone, and with an order's filter.
        (
            OrderQuery {
                q: Some("001".into()),
                ..OrderQuery::default()
            },
            all[3..13].to_vec(),
        ),
        (
            OrderQuery {
                q: Some("001".into()),
                store: Some("pos".into()),
                ..OrderQuery::default()
            },
            all[3..13]
                .iter()
                .copied()
                .filter(|id| s.order(*id).unwrap().store.as_deref() == Some("pos"))
                .collect(),
        ),
    ] {
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = s
                .orders(&OrderQuery {
                    before,
                    limit: 5,
                    ..filter.clone()
                })
                .unwrap();
            assert!(page.len() <= 5);
            if page.is_empty() {
                break;
            }
            before = page.last().map(|o| o.id);
            seen.extend(ids(&page));
            assert!(seen.len() <= all.len(), "pages repeat: {filter:?}");
        }
        assert_eq!(seen, want, "every order once, newest first");
    }
    // An order made after the first page was read does not shift the pages after it.
    let first = s
        .orders(&OrderQuery {
            limit: 5,
            ..OrderQuery::default()
        })
        .unwrap();
    save(s, &order("new", &[]));
    let next = s
        .orders(&OrderQuery {
            before: Some(first[4].id),
            limit: 5,
            ..OrderQuery::default()
        })
        .unwrap();
    assert_eq!(ids(&next), all[5..10]);
    // A removed order keeps its number, and is not found by it.
    s.remove_order(all[7], t(50)).unwrap();
    let found = s
        .orders(&OrderQuery {
            q: Some("001".into()),
            limit: 5,
            ..OrderQuery::default()
        })
        .unwrap();
    assert_eq!(ids(&found), [&all[3..7], &all[8..9]].concat());
}

/// `order_detail` and `order_page` (one transaction on PostgreSQL) answer what the reads
/// they stand for answer one by one.
fn an_orders_page_and_a_list_page_read_what_their_parts_read(s: &mut dyn Store) {
    let a = save(s, &order("1", &["A1", "A2", "A3"])).order.id;
    let b = save(s, &order("2", &["B1"])).order.id;
    let empty = save(s, &order("3", &[])).order.id;
    let (a1, a3) = (s.find("A1").unwrap().id, s.find("A3").unwrap().id);
    s.ingest(&[IngestBatch::events(a1, journey())], t(30))
        .unwrap();
    s.ingest(&[IngestBatch::events(a3, journey()[..2].to_vec())], t(30))
        .unwrap();
    s.remove(s.find("A2").unwrap().id, t(31)).unwrap();
    s.set_order_stage(a, OrderStage::Shipped, "staff:bo@example.com", None, t(32))
        .unwrap();

    let d = s.order_detail(a).unwrap();
    assert_eq!(d.order, s.order(a).unwrap());
    assert_eq!(d.shipments, s.order_shipments(a).unwrap());
    let numbers: Vec<&str> = d
        .shipments
        .iter()
        .map(|x| x.tracking_number.as_str())
        .collect();
    assert_eq!(numbers, ["A1", "A3"], "the removed parcel is not shown");
    let timelines: Vec<Vec<TrackingEvent>> = d
        .shipments
        .iter()
        .map(|x| s.timeline(x.id).unwrap())
        .collect();
    assert_eq!(d.timelines, timelines);
    assert_eq!(
        d.timelines.iter().map(Vec::len).collect::<Vec<_>>(),
        [5, 2],
        "each parcel's own events, in the order of the parcels"
    );
    assert_eq!(d.stages, s.order_stages(a).unwrap());
    assert_eq!(d.stages.len(), 2);
    let none = s.order_detail(empty).unwrap();
    assert!(none.shipments.is_empty() && none.timelines.is_empty());
    assert!(matches!(
        s.order_detail(OrderId::new()),
        Err(Error::NotFound(_))
    ));

    let q = OrderQuery {
        limit: 10,
        ..OrderQuery::default()
    };
    let (orders, shipments) = s.order_page(&q).unwrap();
    assert_eq!(orders, s.orders(&q).unwrap());
    let ids: Vec<OrderId> = orders.iter().map(|o| o.id).collect();
    assert_eq!(ids, [empty, b, a]);
    assert_eq!(shipments, s.shipments_of_orders(&ids).unwrap());
    assert_eq!(shipments.len(), 3);
}

fn shipments_of_orders_come_grouped_in_the_order_asked(s: &mut dyn Store) {
    let a = save(s, &order("1", &["A1", "A2"])).order.id;
    let b = save(s, &order("2", &["B1"])).order.id;
    let c = save(s, &order("3", &[])).order.id;
    let a2 = s.find("A2").unwrap().id;
    s.remove(a2, t(1)).unwrap();
    let got: Vec<(OrderId, String)> = s
        .shipments_of_orders(&[b, c, OrderId::new(), a, b])
        .unwrap()
        .into_iter()
        .map(|sh| (sh.order_id, sh.tracking_number))
        .collect();
    assert_eq!(got, [(b, "B1".to_owned()), (a, "A1".to_owned())]);
    assert!(s.shipments_of_orders(&[]).unwrap().is_empty());
    let both: Vec<String> = s
        .order_shipments(a)
        .unwrap()
        .into_iter()
        .map(|sh| sh.tracking_number)
        .collect();
    assert_eq!(both, ["A1"]);
    assert!(s.order_shipments(c).unwrap().is_empty());
    assert!(matches!(
        s.order_shipments(OrderId::new()),
        Err(Error::NotFound(_))
    ));
}

/// The feed after `seen` holds `want` (and, if given, exactly the changes a call returned),
/// in strictly increasing `seq`s, each parcel's change filed under its order.
fn step(s: &dyn Store, seen: &mut i64, what: &str, want: &[&str], returned: Vec<Change>) {
    let entries = fed(s, *seen);
    assert_eq!(kinds(&entries), want, "{what}");
    if !returned.is_empty() {
        let changes: Vec<Change> = entries.iter().map(|e| e.change.clone()).collect();
        assert_eq!(
            changes, returned,
            "{what}: the feed holds what the call returned"
        );
    }
    let everything = fed(s, 0);
    for e in &entries {
        assert!(e.seq > *seen, "{what}: seq strictly increasing");
        *seen = e.seq;
        if let Some(sid) = e.shipment_id {
            let owner = everything.iter().find_map(|x| match x.change {
                Change::ShipmentAdded {
                    shipment_id,
                    order_id,
                } if shipment_id == sid => Some(order_id),
                _ => None,
            });
            assert_eq!(e.order_id, owner, "{what}: filed under the parcel's order");
        }
    }
    assert_eq!(s.feed_head().unwrap(), *seen, "{what}");
}

fn every_change_is_fed_in_order_and_old_entries_prune(s: &mut dyn Store) {
    assert_eq!(s.feed_head().unwrap(), 0);
    assert!(fed(s, 0).is_empty());
    // An order with a parcel and its history.
    let mut o = order("1001", &["A1"]);
    o.shipments[0].events = journey()[..2].to_vec();
    let saved = save(s, &o);
    let oid = saved.order.id;
    let a1 = saved.shipments[0].shipment.id;
    let entries = fed(s, 0);
    assert_eq!(
        kinds(&entries),
        [
            "order_created",
            "shipment_added",
            "events_added",
            "status_changed"
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e.order_id == Some(oid) && e.at == t(0))
    );
    assert_eq!(entries[0].shipment_id, None);
    assert!(entries[1..].iter().all(|e| e.shipment_id == Some(a1)));
    assert_eq!(
        entries[1].change,
        Change::ShipmentAdded {
            shipment_id: a1,
            order_id: oid
        }
    );
    let mut seen = entries.last().unwrap().seq;
    assert_eq!(s.feed_head().unwrap(), seen);

    // Each further operation, with what it feeds.
    let side = OrderInfo {
        order_number: Some("side".into()),
        ..OrderInfo::default()
    };
    s.add_shipment(
        &NewShipment {
            order: side.clone(),
            ..new("B2")
        },
        t(1),
    )
    .unwrap();
    step(
        s,
        &mut seen,
        "add (an order on the side)",
        &["order_created", "shipment_added"],
        vec![],
    );
    let hat = OrderInfo {
        items: Some("Hat".into()),
        ..side.clone()
    };
    s.add_shipments(
        &[NewShipment {
            order: hat,
            ..new("B3")
        }],
        t(1),
    )
    .unwrap();
    step(
        s,
        &mut seen,
        "add to it (order filled in)",
        &["order_updated", "shipment_added"],
        vec![],
    );
    s.add_shipment(&new("B2"), t(1)).unwrap();
    step(s, &mut seen, "add again", &[], vec![]);
    let eta = CarrierEta {
        earliest: t(40).fixed_offset(),
        latest: t(44).fixed_offset(),
        observed_at: t(6),
    };
    let batch = IngestBatch {
        carrier_eta: Some(eta),
        ..IngestBatch::events(a1, journey()[2..4].to_vec())
    };
    let c = s.ingest(&[batch], t(6)).unwrap().changes;
    step(
        s,
        &mut seen,
        "ingest",
        &["events_added", "status_changed", "eta_changed"],
        c,
    );
    let c = s
        .ingest(&[IngestBatch::events(a1, journey()[2..4].to_vec())], t(7))
        .unwrap()
        .changes;
    assert!(c.is_empty());
    step(s, &mut seen, "ingest again", &[], c);
    assert!(s.edit(a1, Edit::Label(Some("Boots".into())), t(8)).unwrap());
    let c = vec![Change::ShipmentEdited { shipment_id: a1 }];
    step(s, &mut seen, "edit", &["shipment_edited"], c);
    assert!(!s.edit(a1, Edit::Label(Some("Boots".into())), t(9)).unwrap());
    step(s, &mut seen, "edit, no change", &[], vec![]);
    let notes = OrderPatch {
        notes: Some(Some("n".into())),
        ..OrderPatch::default()
    };
    s.update_order(oid, &notes, t(9)).unwrap();
    let c = vec![Change::OrderUpdated { order_id: oid }];
    step(s, &mut seen, "update_order", &["order_updated"], c);
    s.set_order_stage(oid, OrderStage::Shipped, "key:erp", Some("all out"), t(9))
        .unwrap();
    let c = vec![Change::OrderStageChanged {
        order_id: oid,
        from: OrderStage::Received,
        to: OrderStage::Shipped,
        actor: "key:erp".into(),
    }];
    step(s, &mut seen, "set_order_stage", &["order_stage_changed"], c);
    let stuck = Problem {
        kind: ProblemKind::Stuck,
        since: t(5),
        detail: "stuck".into(),
    };
    let assessed = Assessment {
        id: a1,
        previous: None,
        estimate: Some(estimate(30)),
        first_latest: None,
        problems: vec![stuck],
    };
    let c = s.save_derived(&[assessed], t(10)).unwrap();
    step(
        s,
        &mut seen,
        "save_derived",
        &["estimate_changed", "problem_opened"],
        c,
    );
    let cursor = s.journal_cursor().unwrap();
    let (_, to) = s.journal(cursor, 100).unwrap();
    let note = draft(Some(a1), "N", Initial::Pending);
    assert!(
        s.record_notifications(cursor, to, &[], &[note], t(10))
            .unwrap()
    );
    s.poll_now(None, t(10)).unwrap();
    s.set_setting("tz", "Europe/Berlin", t(10)).unwrap();
    step(
        s,
        &mut seen,
        "notifications, polls and settings are not fed",
        &[],
        vec![],
    );
    // B2 and B3 have had no news since they were added.
    let c = s.expire_stale(t(10), t(200)).unwrap();
    assert_eq!(c.len(), 2);
    step(
        s,
        &mut seen,
        "expire_stale",
        &["status_changed", "status_changed"],
        c,
    );
    let b3 = s.find("B3").unwrap().id;
    let mut c = s
        .ingest(&[IngestBatch::events(b3, journey())], t(200))
        .unwrap()
        .changes;
    c.extend(s.archive_delivered(t(300), t(300)).unwrap());
    let want = ["events_added", "status_changed", "shipment_edited"];
    step(s, &mut seen, "archive_delivered", &want, c);
    s.remove(b3, t(301)).unwrap();
    let c = vec![Change::ShipmentRemoved { shipment_id: b3 }];
    step(s, &mut seen, "remove", &["shipment_removed"], c);
    let b2 = s.find("B2").unwrap();
    s.remove_order(b2.order_id, t(302)).unwrap();
    let c = vec![
        Change::OrderRemoved {
            order_id: b2.order_id,
        },
        Change::ShipmentRemoved { shipment_id: b2.id },
    ];
    step(
        s,
        &mut seen,
        "remove_order",
        &["order_removed", "shipment_removed"],
        c,
    );
    assert!(
        fed(s, 0)
            .iter()
            .all(|e| !matches!(e.change, Change::NotificationsChanged))
    );

    // Paged reads; prune drops what is older, and numbering goes on.
    let all = fed(s, 0);
    let page = s.feed(all[2].seq, 3).unwrap();
    assert_eq!(page, all[3..6]);
    // The heads are the same entries, each with its parcel and its change's kind.
    let heads = s.feed_heads(all[2].seq, 3).unwrap();
    let want: Vec<_> = page
        .iter()
        .map(|e| {
            let kind = serde_json::to_value(&e.change).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned();
            (e.seq, e.shipment_id, kind)
        })
        .collect();
    let got: Vec<_> = heads
        .iter()
        .map(|h| (h.seq, h.shipment_id, h.kind.clone()))
        .collect();
    assert_eq!(got, want);
    assert!(got.iter().all(|(_, _, k)| !k.is_empty()));
    assert!(s.feed(seen, 10).unwrap().is_empty());
    let older = all.iter().filter(|e| e.at < t(9)).count();
    assert_eq!(s.prune_feed(t(9)).unwrap(), older);
    assert_eq!(fed(s, 0), all[older..]);
    assert_eq!(s.prune_feed(t(9)).unwrap(), 0);
    assert_eq!(s.prune_feed(t(1000)).unwrap(), all.len() - older);
    assert!(fed(s, 0).is_empty());
    save(s, &order("after", &[]));
    let next = fed(s, 0);
    assert_eq!(next.len(), 1);
    assert!(next[0].seq > seen, "seq never goes back");
    // The entry serialises as the server streams it.
    let json = serde_json::to_value(&next[0]).unwrap();
    assert_eq!(json["change"]["kind"], "order_created");
    assert_eq!(json["order_id"], next[0].order_id.unwrap().to_string());
}

fn text_with_nul_is_stored_with_the_replacement_character(s: &mut dyn Store) {
    let mut o = order("10\u{0}01", &["A1"]);
    o.customer = customer("Ann\u{0}Smith", "ann@example.com");
    o.actor = "key:\u{0}".into();
    o.shipments[0].label = Some("Boo\u{0}ts".into());
    o.shipments[0].events = vec![NewEvent {
        location: Place {
            city: Some("Lei\u{0}pzig".into()),
            ..Place::default()
        },
        ..ev(1, Status::InTransit, "t\u{0}", "Picked\u{0}up")
    }];
    let saved = save(s, &o);
    let r = "\u{FFFD}";
    assert_eq!(saved.order.order_number, Some(format!("10{r}01")));
    assert_eq!(saved.order.customer.name, Some(format!("Ann{r}Smith")));
    let sh = &saved.shipments[0].shipment;
    assert_eq!(sh.label, Some(format!("Boo{r}ts")));
    assert_eq!(sh.status_detail, Some(format!("Picked{r}up")));
    let e = &s.timeline(sh.id).unwrap()[0];
    assert_eq!(e.description, format!("Picked{r}up"));
    assert_eq!(e.raw_code, Some(format!("t{r}")));
    assert_eq!(e.location.city, Some(format!("Lei{r}pzig")));
    // The key names what is stored: the cleaned event again is the same event.
    let cleaned = NewEvent {
        description: format!("Picked{r}up"),
        raw_code: Some(format!("t{r}")),
        location: Place {
            city: Some(format!("Lei{r}pzig")),
            ..Place::default()
        },
        ..ev(1, Status::InTransit, "", "")
    };
    assert_eq!(e.dedupe_key, cleaned.dedupe_key());
    assert_eq!(
        s.ingest(&[IngestBatch::events(sh.id, vec![cleaned])], t(2))
            .unwrap()
            .inserted,
        0
    );
    assert_eq!(
        s.order_stages(saved.order.id).unwrap()[0].actor,
        format!("key:{r}")
    );
    // Edits, stage notes, patches and searches alike.
    assert!(
        s.edit(sh.id, Edit::Label(Some("\u{0}".into())), t(3))
            .unwrap()
    );
    assert_eq!(s.shipment(sh.id).unwrap().label.as_deref(), Some(r));
    s.set_order_stage(
        saved.order.id,
        OrderStage::Shipped,
        "staff",
        Some("n\u{0}"),
        t(3),
    )
    .unwrap();
    assert_eq!(
        s.order_stages(saved.order.id).unwrap()[1].note,
        Some(format!("n{r}"))
    );
    let u = s
        .update_order(
            saved.order.id,
            &OrderPatch {
                customer_address: Some(Some("Main St\u{0}1".into())),
                ..OrderPatch::default()
            },
            t(4),
        )
        .unwrap();
    assert_eq!(u.customer.address, Some(format!("Main St{r}1")));
    assert_eq!(
        listed(
            s,
            OrderQuery {
                q: Some("ann\u{0}".into()),
                ..OrderQuery::default()
            }
        ),
        [saved.order.id]
    );
    s.record_polls(&[(
        sh.id,
        PollRecord {
            polled_at: t(5),
            next_poll_at: None,
            error: Some("bad\u{0}".into()),
        },
    )])
    .unwrap();
    assert_eq!(
        s.shipment(sh.id).unwrap().last_error,
        Some(format!("bad{r}"))
    );
}

fn the_backlog_counts_due_polls_and_unsent_notifications(s: &mut dyn Store) {
    assert_eq!(s.backlog(t(0)).unwrap(), Backlog::default());
    let a = add(s, "A1");
    let b = s.add_shipment(&new("B2"), t(1)).unwrap().shipment.id;
    let gone = s.add_shipment(&new("C3"), t(1)).unwrap().shipment.id;
    s.remove(gone, t(1)).unwrap();
    assert_eq!(s.backlog(t(0)).unwrap().due_polls, 1);
    assert_eq!(s.backlog(t(1)).unwrap().due_polls, 2);
    let next = PollRecord {
        polled_at: t(1),
        next_poll_at: Some(t(10)),
        error: None,
    };
    s.record_polls(&[(a, next)]).unwrap();
    s.edit(b, Edit::Archived(true), t(2)).unwrap();
    assert_eq!(
        s.backlog(t(5)).unwrap().due_polls,
        0,
        "archived and later ones wait"
    );
    assert_eq!(s.backlog(t(10)).unwrap().due_polls, 1);

    let drafts = [
        draft(Some(a), "Shipped", Initial::Pending),
        draft(Some(a), "Delivered", Initial::Pending),
        draft(Some(a), "Held", Initial::Held),
    ];
    let c = s.journal_cursor().unwrap();
    assert!(s.record_notifications(c, c, &[], &drafts, t(3)).unwrap());
    assert_eq!(s.backlog(t(3)).unwrap().pending_notifications, 2);
    s.mark_notification(drafts[0].id, &SendOutcome::Sent, t(4))
        .unwrap();
    assert_eq!(
        s.backlog(t(4)).unwrap(),
        Backlog {
            due_polls: 0,
            pending_notifications: 1
        }
    );
}

// ---- PostgreSQL only --------------------------------------------------------------------

#[test]
fn postgres_a_store_can_be_shared_like_a_sqlite_one() {
    // The poller and the pipeline hold their store as `Arc<Mutex<dyn Store + Send>>`.
    fn shared<T: Store + Send + 'static>() {}
    shared::<PgStore>();
}

#[test]
fn postgres_an_unreachable_server_is_an_error_not_a_panic() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config: tokio_postgres::Config = format!("postgres://postgres@127.0.0.1:{port}/x")
        .parse()
        .unwrap();
    let pool = Pool::builder(Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig::default(),
    ))
    .runtime(deadpool_postgres::Runtime::Tokio1)
    .build()
    .unwrap();
    let err = PgStore::open(pool, rt.handle().clone(), "shop_a").unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err}");
}

#[test]
fn postgres_two_shops_in_one_database_do_not_see_each_other() {
    let pg = Pg::new();
    let mut a = pg.store("shop_a");
    let mut b = pg.store("shop_b");
    let ida = add(&mut a, "JJD000390007827106");
    a.ingest(&[IngestBatch::events(ida, journey())], t(30))
        .unwrap();
    a.set_setting("tz", "Europe/Berlin", t(30)).unwrap();
    // The other shop sees none of it, not even by id.
    assert_eq!(b.count().unwrap(), 0);
    assert!(matches!(b.shipment(ida), Err(Error::NotFound(_))));
    assert!(matches!(
        b.find("JJD000390007827106"),
        Err(Error::NotFound(_))
    ));
    assert!(b.timeline(ida).unwrap().is_empty());
    assert!(
        b.journal(JournalCursor::default(), 10)
            .unwrap()
            .0
            .is_empty()
    );
    assert_eq!(b.setting("tz").unwrap(), None);
    // The same number may be tracked by both, independently.
    let idb = add(&mut b, "JJD000390007827106");
    assert_ne!(ida, idb);
    assert_eq!(b.shipment(idb).unwrap().status, Status::Pending);
    assert_eq!(a.shipment(ida).unwrap().status, Status::Delivered);
    assert!(matches!(
        a.edit(idb, Edit::Muted(true), t(31)),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(b.remove(ida, t(31)), Err(Error::NotFound(_))));
    assert_eq!(a.count().unwrap(), 1);
}

#[test]
fn postgres_migrations_run_once_and_a_newer_schema_is_refused() {
    let pg = Pg::new();
    let mut s = pg.store("shop_a");
    assert_eq!(
        s.schema_version().unwrap(),
        parceltrail_shop::tracking::SCHEMA_VERSION
    );
    add(&mut s, "X1");
    drop(s);
    // Reopened: the data stays, nothing is migrated twice.
    let s = pg.store("shop_a");
    assert_eq!(s.count().unwrap(), 1);
    assert_eq!(
        s.schema_version().unwrap(),
        parceltrail_shop::tracking::SCHEMA_VERSION
    );
    drop(s);
    pg.sql("UPDATE shop_a.schema_version SET version = 99");
    let err = pg.open("shop_a").unwrap_err();
    assert!(
        matches!(
            err,
            Error::NewerSchema {
                found: 99,
                known,
                ..
            } if known as i64 == parceltrail_shop::tracking::SCHEMA_VERSION
        ),
        "{err}"
    );
    pg.sql(&format!(
        "UPDATE shop_a.schema_version SET version = {}",
        parceltrail_shop::tracking::SCHEMA_VERSION
    ));
    assert_eq!(pg.store("shop_a").count().unwrap(), 1, "left untouched");
}

#[test]
fn postgres_schema_names_are_checked() {
    let pg = Pg::new();
    for bad in [
        "",
        "Shop",
        "shop-a",
        "shop a",
        "pg_shop",
        "public",
        "a\"b",
        &"x".repeat(64),
    ] {
        let err = pg.open(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{bad:?}: {err}");
    }
    let name = format!("shop_{}", Uuid::now_v7().simple());
    assert_eq!(pg.store(&name).schema(), name);
    pg.store("0123456789_");
}

#[test]
fn postgres_replicas_opening_at_once_take_turns() {
    let pg = Arc::new(Pg::new());
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (pg, barrier) = (pg.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                pg.store("shop_new").schema_version().unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(
            h.join().unwrap(),
            parceltrail_shop::tracking::SCHEMA_VERSION
        );
    }
}

#[test]
fn postgres_two_claimers_never_claim_the_same_row() {
    let pg = Arc::new(Pg::new());
    let mut s = pg.store("shop_a");
    let id = add(&mut s, "X1");
    let drafts: Vec<Draft> = (0..40)
        .map(|i| draft(Some(id), &format!("N{i}"), Initial::Pending))
        .collect();
    let c = s.journal_cursor().unwrap();
    assert!(s.record_notifications(c, c, &[], &drafts, t(1)).unwrap());
    let ids: Arc<Vec<Uuid>> = Arc::new(drafts.iter().map(|d| d.id).collect());
    let barrier = Arc::new(Barrier::new(2));
    let claimers: Vec<_> = (0..2)
        .map(|_| {
            let (pg, ids, barrier) = (pg.clone(), ids.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut s = pg.store("shop_a");
                barrier.wait();
                ids.iter()
                    .filter(|id| {
                        s.claim_notification(**id, t(1) + Duration::seconds(60), t(1))
                            .unwrap()
                    })
                    .copied()
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let won: Vec<Vec<Uuid>> = claimers.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(won[0].len() + won[1].len(), 40, "every row claimed once");
    assert!(won[0].iter().all(|id| !won[1].contains(id)), "never twice");
}

#[test]
fn postgres_replicas_asking_what_is_due_at_once_never_get_the_same_parcel() {
    let pg = Arc::new(Pg::new());
    let mut s = pg.store("shop_a");
    let lease = std::time::Duration::from_secs(120);
    let all: Vec<ShipmentId> = (0..60)
        .map(|i| {
            s.add_shipment(&new(&format!("N{i:03}")), t(0))
                .unwrap()
                .shipment
                .id
        })
        .collect();
    let barrier = Arc::new(Barrier::new(3));
    let replicas: Vec<_> = (0..3)
        .map(|_| {
            let (pg, barrier) = (pg.clone(), barrier.clone());
            std::thread::spawn(move || {
                let s = pg.store("shop_a").with_poll_lease(lease);
                barrier.wait();
                // Small batches, so the three interleave.
                let mut got = Vec::new();
                loop {
                    let batch = s.due(t(1), 7).unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(batch.into_iter().map(|p| p.id));
                }
            })
        })
        .collect();
    let got: Vec<Vec<ShipmentId>> = replicas.into_iter().map(|h| h.join().unwrap()).collect();
    let mut union: Vec<ShipmentId> = got.iter().flatten().copied().collect();
    union.sort();
    let mut want = all.clone();
    want.sort();
    assert_eq!(
        union, want,
        "each due parcel claimed by exactly one replica"
    );

    // Claimed until the lease ends: nobody gets them meanwhile; then they are due again
    // (a replica died mid-poll), but not those whose poll was recorded.
    let s = pg.store("shop_a").with_poll_lease(lease);
    let lease_end = t(1) + Duration::seconds(120);
    assert_eq!(s.next_due().unwrap(), Some(lease_end));
    assert!(
        s.due(lease_end - Duration::milliseconds(1), 100)
            .unwrap()
            .is_empty()
    );
    let mut s2 = pg.store("shop_a");
    let polled = PollRecord {
        polled_at: t(1),
        next_poll_at: Some(t(5)),
        error: None,
    };
    s2.record_polls(&[(all[0], polled.clone()), (all[1], polled)])
        .unwrap();
    let again = s.due(lease_end, 100).unwrap();
    assert_eq!(again.len(), 58);
    assert!(again.iter().all(|p| p.id != all[0] && p.id != all[1]));
    let later: Vec<ShipmentId> = s.due(t(5), 100).unwrap().iter().map(|p| p.id).collect();
    assert!(
        later.contains(&all[0]) && later.contains(&all[1]),
        "then at the recorded time"
    );
}

#[test]
fn postgres_concurrent_ingests_store_each_event_once_and_journal_in_order() {
    let pg = Arc::new(Pg::new());
    let mut s = pg.store("shop_a");
    let ids: Vec<ShipmentId> = (0..4).map(|i| add(&mut s, &format!("X{i}"))).collect();
    let ids = Arc::new(ids);
    let barrier = Arc::new(Barrier::new(3));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (pg, ids, barrier) = (pg.clone(), ids.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut s = pg.store("shop_a");
                barrier.wait();
                let mut inserted = 0;
                for round in 0..5 {
                    // Every worker sends the same histories, in its own order of parcels.
                    let mut order: Vec<ShipmentId> = ids.to_vec();
                    order.rotate_left((w + round) % ids.len());
                    let batches: Vec<IngestBatch> = order
                        .iter()
                        .map(|id| IngestBatch::events(*id, journey()[..round + 1].to_vec()))
                        .collect();
                    inserted += s.ingest(&batches, t(30)).unwrap().inserted;
                }
                inserted
            })
        })
        .collect();
    let inserted: usize = workers.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(inserted, 4 * 5, "each event stored once across the workers");
    for id in ids.iter() {
        let sh = s.shipment(*id).unwrap();
        assert_eq!((sh.status, sh.event_count), (Status::Delivered, 5));
        // Each status change logged once, in order.
        let steps: Vec<Status> = s.status_log(*id).unwrap().iter().map(|c| c.to).collect();
        let mut dedup = steps.clone();
        dedup.dedup();
        assert_eq!(steps, dedup);
        assert_eq!(steps.last(), Some(&Status::Delivered));
    }
    // The journal reads back whole from the start.
    let (entries, _) = s.journal(JournalCursor::default(), 1000).unwrap();
    let logged: usize = ids.iter().map(|id| s.status_log(*id).unwrap().len()).sum();
    assert_eq!(entries.len(), logged);
}

#[test]
fn postgres_a_cursor_moves_for_one_recorder_only() {
    let pg = Arc::new(Pg::new());
    let mut s = pg.store("shop_a");
    let id = add(&mut s, "X1");
    s.ingest(&[IngestBatch::events(id, journey())], t(30))
        .unwrap();
    let from = s.journal_cursor().unwrap();
    let (_, to) = s.journal(from, 100).unwrap();
    let barrier = Arc::new(Barrier::new(4));
    let recorders: Vec<_> = (0..4)
        .map(|i| {
            let (pg, barrier) = (pg.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut s = pg.store("shop_a");
                let d = draft(Some(id), &format!("R{i}"), Initial::Pending);
                barrier.wait();
                s.record_notifications(from, to, &[], &[d], t(31)).unwrap()
            })
        })
        .collect();
    let won = recorders
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(won, 1);
    assert_eq!(s.notifications(10).unwrap().len(), 1);
}

#[test]
fn postgres_takes_a_sqlite_export_with_its_history() {
    let mut local = SqliteStore::open_in_memory().unwrap();
    let numbers = seed(&mut local);
    let mut csv = Vec::new();
    parceltrail_core::export::write_csv(&local, &mut csv).unwrap();
    let pg = Pg::new();
    let mut shop = pg.store("shop_a");
    let report =
        parceltrail_core::import::import_csv(&mut shop, &csv[..], t(2), &mut |_, _| {}).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!((report.added, report.events_added), (3, 6));
    for n in &numbers {
        let (a, b) = (local.find(n).unwrap(), shop.find(n).unwrap());
        assert_eq!(
            (a.status, &a.label, a.event_count),
            (b.status, &b.label, b.event_count)
        );
        let strip = |evs: Vec<parceltrail_core::domain::TrackingEvent>| {
            evs.into_iter()
                .map(|e| {
                    (
                        e.occurred_at,
                        e.status,
                        e.description,
                        e.location,
                        e.dedupe_key,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            strip(local.timeline(a.id).unwrap()),
            strip(shop.timeline(b.id).unwrap())
        );
    }
}

#[test]
fn postgres_a_reader_polling_the_feed_while_two_replicas_write_misses_nothing() {
    let pg = Arc::new(Pg::new());
    let mut s = pg.store("shop_a");
    let parcels: Arc<Vec<ShipmentId>> =
        Arc::new((0..4).map(|i| add(&mut s, &format!("P{i}"))).collect());
    let start = s.feed_head().unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(3));
    // One replica saves orders and moves their stages; the other ingests and edits: each
    // transaction does its work, then appends to the feed, so commits interleave.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (pg, parcels, barrier) = (pg.clone(), parcels.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut s = pg.store("shop_a");
                barrier.wait();
                for i in 0..60i64 {
                    if w == 0 {
                        let mut o = order(&format!("{i}"), &[&format!("W{i}A"), &format!("W{i}B")]);
                        o.shipments[0].events = journey()[..2].to_vec();
                        let id = save(&mut s, &o).order.id;
                        s.set_order_stage(id, OrderStage::Shipped, "key:erp", None, t(i))
                            .unwrap();
                    } else {
                        let id = parcels[i as usize % parcels.len()];
                        let e = ev(i, Status::InTransit, "scan", &format!("Scan {i}"));
                        s.ingest(&[IngestBatch::events(id, vec![e])], t(i)).unwrap();
                        s.edit(id, Edit::Label(Some(format!("L{i}"))), t(i))
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    let reader = {
        let (pg, done, barrier) = (pg.clone(), done.clone(), barrier.clone());
        std::thread::spawn(move || {
            let s = pg.store("shop_a");
            barrier.wait();
            let (mut last, mut seen) = (start, Vec::new());
            loop {
                // Read whether the writers are done before reading the feed: a read that
                // started after they finished sees all they committed.
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = s.feed(last, 7).unwrap();
                for e in &page {
                    assert!(e.seq > last);
                    last = e.seq;
                    seen.push(e.seq);
                }
                if finished && page.is_empty() {
                    return seen;
                }
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.join().unwrap();
    let all: Vec<i64> = s
        .feed(start, 100_000)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    // Per saved order: created, two parcels added, events, status, stage; per ingest: events,
    // status (first only) or nothing new of status, and an edit.
    assert!(all.len() >= 60 * 6 + 60 * 2, "{}", all.len());
    assert_eq!(seen, all, "the reader saw every entry, once, in order");
}

#[test]
fn postgres_replicas_saving_one_order_take_turns() {
    let pg = Arc::new(Pg::new());
    let barrier = Arc::new(Barrier::new(4));
    let savers: Vec<_> = (0..4)
        .map(|i| {
            let (pg, barrier) = (pg.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut s = pg.store("shop_a");
                // The same order from each, with one parcel in common and one of its own.
                let mut o = order("1001", &["COMMON", &format!("OWN{i}")]);
                o.shipments[0].events = journey()[..i + 1].to_vec();
                barrier.wait();
                s.save_order(&o, OnExisting::Merge, t(0)).unwrap()
            })
        })
        .collect();
    let saved: Vec<SavedOrder> = savers.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(saved.iter().filter(|s| s.created).count(), 1);
    let id = saved[0].order.id;
    assert!(saved.iter().all(|s| s.order.id == id));
    let s = pg.store("shop_a");
    assert_eq!(s.order_shipments(id).unwrap().len(), 5);
    assert_eq!(s.find("COMMON").unwrap().event_count, 4);
    assert_eq!(
        s.orders(&OrderQuery {
            limit: 10,
            ..OrderQuery::default()
        })
        .unwrap()
        .len(),
        1
    );
    let created = s
        .feed(0, 1000)
        .unwrap()
        .iter()
        .filter(|e| matches!(e.change, Change::OrderCreated { .. }))
        .count();
    assert_eq!(created, 1);
}

/// The same calls on both backends give the same answers (ids and clocks aside, which the
/// stores make themselves).
#[test]
fn postgres_answers_as_sqlite_does() {
    let pg = Pg::new();
    let mut p = pg.store("shop_a");
    let mut q = SqliteStore::open_in_memory().unwrap();
    let stores: [&mut dyn Store; 2] = [&mut p, &mut q];
    let mut lists = Vec::new();
    for s in stores {
        let ids: Vec<ShipmentId> = ["A1", "B2", "C3", "D4"].iter().map(|n| add(s, n)).collect();
        let e = |h: i64, st: Status| ev(h, st, st.as_str(), st.label());
        s.ingest(
            &[
                IngestBatch::events(ids[0], journey()),
                IngestBatch::events(ids[1], journey()[..3].to_vec()),
                IngestBatch::events(ids[2], vec![e(10, Status::Exception)]),
                IngestBatch::events(
                    ids[3],
                    vec![e(11, Status::FailedAttempt), e(11, Status::InTransit)],
                ),
            ],
            t(24),
        )
        .unwrap();
        let mut rows = Vec::new();
        s.list(&query(t(24), true), &mut |mut item| {
            item.id = ShipmentId(Uuid::nil());
            rows.push(item);
            Ok(())
        })
        .unwrap();
        let shipments: Vec<_> = ids
            .iter()
            .map(|id| {
                let mut sh = s.shipment(*id).unwrap();
                sh.id = ShipmentId(Uuid::nil());
                sh.order_id = parceltrail_core::domain::OrderId(Uuid::nil());
                sh
            })
            .collect();
        lists.push((rows, shipments));
    }
    assert_eq!(lists[0], lists[1]);
}

fn queued_notifications_are_kept_once_per_news(s: &mut dyn Store) {
    // A reply that no journal entry leads to (no parcel): queued, retried, kept once.
    let d = draft(None, "Your request was approved", Initial::Pending);
    s.queue_notifications(std::slice::from_ref(&d), t(1))
        .unwrap();
    let again = Draft {
        id: Uuid::now_v7(),
        ..d.clone()
    };
    s.queue_notifications(&[again], t(1)).unwrap();
    let due = s.due_notifications(t(2), 10).unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(
        (due[0].id, due[0].title.as_str()),
        (d.id, "Your request was approved")
    );
    assert_eq!(due[0].shipment_id, None);
    // Held ones wait for the end of quiet hours.
    s.queue_notifications(&[draft(None, "later", Initial::Held)], t(1))
        .unwrap();
    assert_eq!(s.due_notifications(t(2), 10).unwrap().len(), 1);
    assert_eq!(s.held_notifications().unwrap().len(), 1);
}

#[test]
fn postgres_derived_state_skips_rows_a_webhook_holds_then_saves_them_after() {
    // The pipeline's save never queues behind a webhook group: the rows free now are saved
    // at once, and the held one once its holder commits.
    let pg = Arc::new(Pg::new());
    let mut s = pg.store("shop_a");
    let (held, free) = (add(&mut s, "X1"), add(&mut s, "X2"));
    let stuck = Problem {
        kind: ProblemKind::Stuck,
        since: t(5),
        detail: "no scan for 3 days".into(),
    };
    let assess = |id| Assessment {
        id,
        previous: None,
        estimate: Some(estimate(30)),
        first_latest: Some(t(38)),
        problems: vec![stuck.clone()],
    };
    let rows = vec![assess(held), assess(free)];
    let locker = pg.rt.block_on(pg.pool.get()).unwrap();
    pg.rt
        .block_on(locker.batch_execute(&format!(
            "BEGIN; SELECT 1 FROM shop_a.shipments WHERE id = '{}' FOR UPDATE",
            held.0
        )))
        .unwrap();
    let saver = {
        let pg = pg.clone();
        std::thread::spawn(move || pg.store("shop_a").save_derived(&rows, t(10)).unwrap())
    };
    // The free parcel's problem is committed while the other row is still held.
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = s.open_problems(None).unwrap();
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        seen.iter().map(|p| p.shipment_id).collect::<Vec<_>>(),
        [free],
        "saved at once, the held one left for later"
    );
    assert!(
        !saver.is_finished(),
        "the held row is waited for, not dropped"
    );
    pg.rt.block_on(locker.batch_execute("COMMIT")).unwrap();
    let changes = saver.join().unwrap();
    for id in [held, free] {
        assert!(
            changes.contains(&Change::ProblemOpened {
                shipment_id: id,
                problem: ProblemKind::Stuck
            }),
            "{changes:?}"
        );
        assert_eq!(s.shipment(id).unwrap().estimate, Some(estimate(30)));
    }
    assert_eq!(s.open_problems(None).unwrap().len(), 2);
}
