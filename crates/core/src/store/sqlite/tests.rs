use chrono::{Duration, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::domain::NewEvent;
use crate::store::OrderInfo;

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

fn store_with(number: &str) -> (SqliteStore, ShipmentId) {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let added = s
        .add_shipment(
            &NewShipment {
                tracking_number: number.into(),
                carrier: "dhl".into(),
                ..Default::default()
            },
            t(0),
        )
        .unwrap();
    (s, added.shipment.id)
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

#[test]
fn migrations_bring_a_new_database_to_the_newest_schema() {
    let s = SqliteStore::open_in_memory().unwrap();
    assert_eq!(user_version(&s.conn).unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_newer_database_is_refused_not_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, Error::NewerSchema { found: 99, .. }), "{err}");
}

#[test]
fn processes_opening_a_new_database_at_once_all_succeed() {
    // The app starting at login beside a command: each opener must either migrate or find
    // the migration done, never run it twice.
    for _ in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("p.db");
        let start = std::sync::Barrier::new(4);
        std::thread::scope(|scope| {
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        SqliteStore::open(&path).map(|s| s.count())
                    })
                })
                .collect();
            for o in openers {
                let opened = o.join().unwrap();
                assert!(matches!(opened, Ok(Ok(0))), "{opened:?}");
            }
        });
    }
}

#[test]
fn a_database_whose_version_does_not_match_its_tables_is_refused_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 1)
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Migration {
                found: 1,
                step: 2,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.len() < 500, "a short message, not the SQL: {text}");
    assert!(!text.contains("CREATE"), "{text}");
    assert!(
        text.contains("schema 1") && text.contains("Restore a backup"),
        "{text}"
    );
    // Refused, not changed.
    let version: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
}

#[test]
fn a_read_only_open_reads_and_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    {
        let mut s = SqliteStore::open(&path).unwrap();
        s.add_shipment(
            &NewShipment {
                tracking_number: "JJD000390007827106".into(),
                carrier: "dhl".into(),
                ..Default::default()
            },
            t(0),
        )
        .unwrap();
    }
    let mut s = SqliteStore::open_read_only(&path).unwrap();
    assert!(s.is_read_only());
    assert_eq!(s.count().unwrap(), 1);
    assert!(s.find("7106").is_ok());
    let write = s.add_shipment(
        &NewShipment {
            tracking_number: "JJD000390007827107".into(),
            carrier: "dhl".into(),
            ..Default::default()
        },
        t(1),
    );
    assert!(write.is_err());
    drop(s);
    assert_eq!(SqliteStore::open(&path).unwrap().count().unwrap(), 1);

    // A database that needs an upgrade cannot be read without writing: a clear refusal.
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 2)
        .unwrap();
    let err = SqliteStore::open_read_only(&path).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { found: 2, .. }), "{err}");
    assert!(
        err.to_string().contains("copy it somewhere writable"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let path = dir.join("p.db");
    let mut s = SqliteStore::open(&path).unwrap();
    s.add_shipment(
        &NewShipment {
            tracking_number: "JJD000390007827106".into(),
            carrier: "dhl".into(),
            ..Default::default()
        },
        t(0),
    )
    .unwrap();
    assert_eq!(mode(&dir), 0o700);
    for p in ["p.db", "p.db-wal", "p.db-shm"] {
        assert_eq!(mode(&dir.join(p)), 0o600, "{p}");
    }
    drop(s);

    // What an older build left readable by everyone is narrowed on the next open.
    let set = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    set(&dir, 0o755).unwrap();
    set(&path, 0o644).unwrap();
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&path), 0o600);
    for p in ["p.db-wal", "p.db-shm"] {
        assert_eq!(mode(&dir.join(p)), 0o600, "{p}");
    }
    drop(s);
}

#[cfg(unix)]
#[test]
fn a_database_in_a_shared_directory_leaves_the_directory_as_found() {
    // As /tmp: world-writable and sticky. The database is private; the directory is not the
    // store's to close.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let root = tempfile::tempdir().unwrap();
    let shared = root.path().join("tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let path = shared.join("p.db");
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(mode(&shared), 0o1777);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn a_file_that_is_not_a_database_is_reported_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn adding_a_number_twice_keeps_one_shipment() {
    let (mut s, id) = store_with("JJD000390007827106");
    let again = s
        .add_shipment(
            &NewShipment {
                tracking_number: "JJD000390007827106".into(),
                carrier: "dhl".into(),
                ..Default::default()
            },
            t(1),
        )
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.shipment.id, id);
    assert_eq!(s.count().unwrap(), 1);
}

#[test]
fn shipments_of_one_order_number_share_the_order() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let order = OrderInfo {
        store: Some("Acme".into()),
        order_number: Some("A-1".into()),
        ..Default::default()
    };
    let a = s
        .add_shipment(
            &NewShipment {
                tracking_number: "A1".into(),
                carrier: "ups".into(),
                order: order.clone(),
                ..Default::default()
            },
            t(0),
        )
        .unwrap();
    let b = s
        .add_shipment(
            &NewShipment {
                tracking_number: "B2".into(),
                carrier: "ups".into(),
                order,
                ..Default::default()
            },
            t(0),
        )
        .unwrap();
    let c = s
        .add_shipment(
            &NewShipment {
                tracking_number: "C3".into(),
                carrier: "ups".into(),
                ..Default::default()
            },
            t(0),
        )
        .unwrap();
    assert_eq!(a.shipment.order_id, b.shipment.order_id);
    assert_ne!(a.shipment.order_id, c.shipment.order_id);
}

#[test]
fn ingest_stores_each_event_once_and_derives_status() {
    let (mut s, id) = store_with("X1");
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
    assert_eq!(s.timeline(id).unwrap().len(), 5);
    let added: usize = second
        .changes
        .iter()
        .map(|c| match c {
            Change::EventsAdded { events, .. } => events.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(added, 2);
    assert!(second.changes.contains(&Change::StatusChanged {
        shipment_id: id,
        from: Status::InTransit,
        to: Status::Delivered
    }));

    // A replay changes nothing and announces nothing.
    let third = s
        .ingest(&[IngestBatch::events(id, journey())], t(25))
        .unwrap();
    assert_eq!(third.inserted, 0);
    assert!(third.changes.is_empty());

    let log = s.status_log(id).unwrap();
    let steps: Vec<_> = log.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        steps,
        vec![
            (Status::Pending, Status::InTransit),
            (Status::InTransit, Status::Delivered)
        ]
    );
}

#[test]
fn event_times_keep_their_utc_offset() {
    let (mut s, id) = store_with("X1");
    s.ingest(&[IngestBatch::events(id, journey())], t(30))
        .unwrap();
    let tl = s.timeline(id).unwrap();
    assert_eq!(tl[0].occurred_at.offset().local_minus_utc(), 7200);
    assert_eq!(tl[0].occurred_at.to_rfc3339(), "2026-05-01T03:00:00+02:00");
}

#[test]
fn an_unmapped_code_never_hides_a_known_status() {
    let (mut s, id) = store_with("X1");
    let mut events = journey()[..2].to_vec();
    events.push(ev(7, Status::Unknown, "ZZ", "Mystery scan"));
    s.ingest(&[IngestBatch::events(id, events)], t(8)).unwrap();
    let sh = s.shipment(id).unwrap();
    assert_eq!(sh.status, Status::InTransit);
    assert_eq!(sh.status_detail.as_deref(), Some("Mystery scan"));
}

#[test]
fn the_newest_carrier_estimate_wins() {
    let (mut s, id) = store_with("X1");
    let at = |h| t(h).fixed_offset();
    let eta = |h, obs| CarrierEta {
        earliest: at(h),
        latest: at(h + 4),
        observed_at: t(obs),
    };
    let mut b = IngestBatch::events(id, vec![]);
    b.carrier_eta = Some(eta(48, 10));
    s.ingest(&[b.clone()], t(10)).unwrap();
    b.carrier_eta = Some(eta(72, 5)); // older statement arriving late
    let r = s.ingest(&[b.clone()], t(11)).unwrap();
    assert!(r.changes.is_empty());
    assert_eq!(
        s.shipment(id).unwrap().carrier_eta.unwrap().earliest,
        at(48)
    );
    b.carrier_eta = Some(eta(30, 12));
    s.ingest(&[b], t(12)).unwrap();
    assert_eq!(
        s.shipment(id).unwrap().carrier_eta.unwrap().earliest,
        at(30)
    );
}

#[test]
fn user_edits_are_last_writer_wins() {
    let (mut s, id) = store_with("X1");
    assert!(s.edit(id, Edit::Label(Some("Shoes".into())), t(5)).unwrap());
    // An edit made earlier (say on another device) that arrives later loses.
    assert!(!s.edit(id, Edit::Label(Some("Boots".into())), t(3)).unwrap());
    assert_eq!(s.shipment(id).unwrap().label.as_deref(), Some("Shoes"));
    assert!(s.edit(id, Edit::Muted(true), t(6)).unwrap());
    assert!(s.edit(id, Edit::Archived(true), t(6)).unwrap());
    let sh = s.shipment(id).unwrap();
    assert!(sh.muted && sh.archived);
    assert!(matches!(
        s.edit(ShipmentId::new(), Edit::Muted(true), t(7)),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn removal_drops_history_and_a_readd_starts_fresh() {
    let (mut s, id) = store_with("X1");
    s.ingest(&[IngestBatch::events(id, journey())], t(30))
        .unwrap();
    s.remove(id, t(31)).unwrap();
    assert!(matches!(s.shipment(id), Err(Error::NotFound(_))));
    assert_eq!(s.count().unwrap(), 0);
    // A late poll result for the removed parcel is dropped.
    let r = s
        .ingest(&[IngestBatch::events(id, journey())], t(32))
        .unwrap();
    assert_eq!(r.inserted, 0);
    let again = s
        .add_shipment(
            &NewShipment {
                tracking_number: "X1".into(),
                carrier: "dhl".into(),
                ..Default::default()
            },
            t(33),
        )
        .unwrap();
    assert!(again.created);
    assert_eq!(again.shipment.status, Status::Pending);
    assert_eq!(again.shipment.event_count, 0);
    assert!(s.timeline(id).unwrap().is_empty());
}

#[test]
fn find_by_number_tail_or_id() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    for n in [
        "1Z5R89390357567127",
        "1Z879E930346834440",
        "9400111899223197428490",
    ] {
        s.add_shipment(
            &NewShipment {
                tracking_number: n.into(),
                carrier: "ups".into(),
                ..Default::default()
            },
            t(0),
        )
        .unwrap();
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
    assert!(matches!(s.find("nope-nope"), Err(Error::NotFound(_))));
    s.add_shipment(
        &NewShipment {
            tracking_number: "ABC7127".into(),
            carrier: "ups".into(),
            ..Default::default()
        },
        t(0),
    )
    .unwrap();
    assert!(matches!(s.find("7127"), Err(Error::Ambiguous { .. })));
}

#[test]
fn list_groups_parcels_for_the_home_screen() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let mut add = |n: &str| {
        s.add_shipment(
            &NewShipment {
                tracking_number: n.into(),
                carrier: "dhl".into(),
                ..Default::default()
            },
            t(0),
        )
        .unwrap()
        .shipment
        .id
    };
    let (ofd, moving, problem, delivered, old, archived, pending) = (
        add("OFD"),
        add("MOVING"),
        add("PROBLEM"),
        add("DELIVERED"),
        add("OLD"),
        add("ARCHIVED"),
        add("PENDING"),
    );
    let now = t(24 * 30);
    let e = |h: i64, st| ev(h, st, st.as_str(), st.label());
    s.ingest(
        &[
            IngestBatch::events(ofd, vec![e(24 * 30 - 3, Status::OutForDelivery)]),
            IngestBatch::events(moving, vec![e(24 * 29, Status::InTransit)]),
            IngestBatch::events(problem, vec![e(24 * 29, Status::Exception)]),
            IngestBatch::events(delivered, vec![e(24 * 28, Status::Delivered)]),
            IngestBatch::events(old, vec![e(24, Status::Delivered)]),
            IngestBatch::events(archived, vec![e(24 * 29, Status::InTransit)]),
        ],
        now,
    )
    .unwrap();
    s.edit(archived, Edit::Archived(true), now).unwrap();
    let q = ListQuery {
        today_start: now - Duration::hours(12),
        today_end: now + Duration::hours(12),
        delivered_since: now - Duration::days(14),
        all: false,
    };
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
            expect(Group::ArrivingToday, "OFD"),
            expect(Group::OnTheWay, "MOVING"),
            expect(Group::OnTheWay, "PENDING"),
            expect(Group::NeedsAttention, "PROBLEM"),
            expect(Group::DeliveredRecently, "DELIVERED"),
        ]
    );
    let _ = pending;
    let mut all = 0;
    s.list(&ListQuery { all: true, ..q }, &mut |_| {
        all += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(all, 7);
}

type Snapshot = (
    Vec<(DateTime<FixedOffset>, Status, String)>,
    Status,
    Option<String>,
    u32,
);

/// The stored state that must not depend on arrival order: the events and the derived
/// shipment fields. (The audit trail is a history of arrivals, so it legitimately differs.)
fn snapshot(s: &SqliteStore, id: ShipmentId) -> Snapshot {
    let tl = s
        .timeline(id)
        .unwrap()
        .into_iter()
        .map(|e| (e.occurred_at, e.status, e.description))
        .collect();
    let sh = s.shipment(id).unwrap();
    (tl, sh.status, sh.status_detail, sh.event_count)
}

fn arb_event() -> impl Strategy<Value = NewEvent> {
    (0i64..40, prop::sample::select(Status::ALL.to_vec()), 0u8..4)
        .prop_map(|(h, st, d)| ev(h, st, st.as_str(), &format!("scan {d}")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_permutation_or_duplication_gives_the_same_state(
        events in prop::collection::vec(arb_event(), 1..12),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        dup_mask in prop::collection::vec(any::<bool>(), 12),
        split in 0usize..12,
    ) {
        let (mut a, ida) = store_with("P1");
        a.ingest(&[IngestBatch::events(ida, events.clone())], t(50)).unwrap();

        let mut shuffled: Vec<NewEvent> = events.clone();
        for (i, e) in events.iter().enumerate() {
            if dup_mask[i % dup_mask.len()] { shuffled.push(e.clone()); }
        }
        // Deterministic shuffle from the drawn seed.
        let mut seed = order;
        for i in (1..shuffled.len()).rev() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let cut = split.min(shuffled.len());
        let (mut b, idb) = store_with("P1");
        b.ingest(&[IngestBatch::events(idb, shuffled[..cut].to_vec())], t(50)).unwrap();
        b.ingest(&[IngestBatch::events(idb, shuffled[cut..].to_vec())], t(51)).unwrap();
        prop_assert_eq!(snapshot(&a, ida), snapshot(&b, idb));
    }
}

#[test]
fn upgrading_to_schema_3_does_not_announce_old_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // A database as the previous release left it, with some history.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO orders (id, archived_at, created_at, updated_at) VALUES (x'01', 0, 0, 0);
             INSERT INTO shipments (id, order_id, tracking_number, carrier, label_at, muted_at,
                archived_at, deleted_at, created_at, updated_at)
             VALUES (x'02', x'01', 'X1', 'dhl', 0, 0, 0, 0, 0, 0);
             INSERT INTO events (shipment_id, dedupe_key, occurred_at, occurred_offset, status,
                description, source, recorded_at)
             VALUES (x'02', x'03', 5000, 0, 'in_transit', 'Picked up', 'poll', 0);
             INSERT INTO status_log (shipment_id, from_status, to_status, changed_at, cause)
             VALUES (x'02', 'pending', 'in_transit', 0, 'poll'),
                    (x'02', 'in_transit', 'delivered', 0, 'poll');",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let cursor = s.journal_cursor().unwrap();
    assert_eq!(
        cursor.status_log, 2,
        "the journal starts after the old history"
    );
    assert!(s.journal(cursor, 10).unwrap().0.is_empty());
    let shipped: Option<i64> = s
        .conn
        .query_row(
            "SELECT shipped_at FROM shipments WHERE tracking_number = 'X1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        shipped,
        Some(5000),
        "shipped_at is filled in for existing parcels"
    );
}

#[test]
fn settings_and_per_parcel_kinds_are_last_writer_wins() {
    let (mut s, id) = store_with("JJD000000000000000001");
    assert!(s.set_setting("k", "new", t(2)).unwrap());
    assert!(!s.set_setting("k", "older", t(1)).unwrap());
    assert_eq!(s.setting("k").unwrap().as_deref(), Some("new"));
    let kinds: KindSet = "delivered,problems".parse().unwrap();
    assert!(s.edit(id, Edit::NotifyKinds(Some(kinds)), t(2)).unwrap());
    assert!(!s.edit(id, Edit::NotifyKinds(None), t(1)).unwrap());
    assert_eq!(s.shipment(id).unwrap().notify_kinds, Some(kinds));
    assert!(s.edit(id, Edit::NotifyKinds(None), t(3)).unwrap());
    assert_eq!(s.shipment(id).unwrap().notify_kinds, None);
}

#[test]
fn shipped_at_is_the_first_carried_event_in_any_order() {
    let (mut s, id) = store_with("JJD000000000000000001");
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

#[test]
fn a_checkpoint_empties_the_log_and_the_log_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let mut s = SqliteStore::open(&path).unwrap();
    let limit: i64 = s
        .conn
        .pragma_query_value(None, "journal_size_limit", |r| r.get(0))
        .unwrap();
    assert_eq!(limit, WAL_SIZE_LIMIT);
    s.add_shipment(
        &NewShipment {
            tracking_number: "JJD000390007827106".into(),
            carrier: "dhl".into(),
            events: journey(),
            ..Default::default()
        },
        t(0),
    )
    .unwrap();
    let wal = dir.path().join("p.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    s.checkpoint().unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    // Still open and usable, with everything in the database file.
    assert_eq!(s.count().unwrap(), 1);
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    assert_eq!(SqliteStore::open(&copy).unwrap().count().unwrap(), 1);
}

#[test]
fn facets_name_each_store_and_carrier_of_what_is_tracked_once() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let add = |s: &mut SqliteStore, number: &str, carrier: &str, store: Option<&str>| {
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
    add(&mut s, "1Z5R89390357567127", "ups", Some("Sportshop"));
    add(&mut s, "1Z5R89390357567128", "ups", Some("Sportshop"));
    add(&mut s, "9400111899223197428497", "usps", Some("  "));
    let gone = add(&mut s, "JJD000390007827106", "dhl", Some("Bookshop"));
    s.remove(gone, t(1)).unwrap();
    let mut f = s.facets().unwrap();
    f.stores.sort();
    f.carriers.sort();
    assert_eq!(f.stores, vec!["Sportshop".to_owned()]);
    assert_eq!(f.carriers, vec!["ups".to_owned(), "usps".to_owned()]);
}

#[test]
fn upgrading_to_schema_10_times_old_messages_from_the_event_known_when_they_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // Schema 9: a parcel with an event at 5,000 (recorded at 6,000) and a later one
        // (recorded at 9,000), and a message written at 7,000 between them.
        let conn = Connection::open(&path).unwrap();
        for m in &MIGRATIONS[..9] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", 9).unwrap();
        conn.execute_batch(
            "INSERT INTO orders (id, store, order_number, archived_at, created_at, updated_at)
             VALUES (x'00000000000000000000000000000001', 'Acme', 'A-1', 0, 1000, 1000);
             INSERT INTO shipments (id, order_id, tracking_number, carrier, label_at, muted_at,
                archived_at, deleted_at, created_at, updated_at)
             VALUES (x'00000000000000000000000000000002', x'00000000000000000000000000000001',
                'X1', 'dhl', 0, 0, 0, 0, 1000, 1000);
             INSERT INTO events (shipment_id, dedupe_key, occurred_at, occurred_offset, status,
                description, source, recorded_at)
             VALUES (x'00000000000000000000000000000002', x'0a', 5000, 0, 'in_transit', 'Hub', 'poll', 6000),
                    (x'00000000000000000000000000000002', x'0b', 8000, 0, 'delivered', 'Door', 'poll', 9000);
             INSERT INTO outbox (id, dedupe_key, channel, shipment_id, kind, title, body, link,
                urgency, state, created_at, sent_at)
             VALUES (x'03', x'04', 'email', x'00000000000000000000000000000002', 'shipped', 't', 'b',
                '', 'low', 'sent', 7000, 7500),
                    (x'05', x'06', 'email', NULL, NULL, 'digest', 'b', '', 'low', 'sent', 7000, 7500);",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let times: Vec<Option<i64>> = s
        .conn
        .prepare("SELECT event_at FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(times, [Some(5000), None]);
}

#[test]
fn upgrading_to_schema_4_gives_existing_orders_a_stage_and_keeps_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // A database as the previous release left it: an app order with a parcel.
        let conn = Connection::open(&path).unwrap();
        for m in &MIGRATIONS[..3] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute_batch(
            "INSERT INTO orders (id, store, order_number, archived_at, created_at, updated_at)
             VALUES (x'00000000000000000000000000000001', 'Acme', 'A-1', 7000, 7000, 8000);
             INSERT INTO shipments (id, order_id, tracking_number, carrier, label_at, muted_at,
                archived_at, deleted_at, created_at, updated_at)
             VALUES (x'00000000000000000000000000000002', x'00000000000000000000000000000001',
                'X1', 'dhl', 0, 0, 0, 0, 7000, 7000);",
        )
        .unwrap();
    }
    let mut s = SqliteStore::open(&path).unwrap();
    let id = OrderId(Uuid::from_u128(1));
    assert_eq!(s.find("X1").unwrap().order_id, id);
    let o = s.order(id).unwrap();
    assert_eq!(o.stage, crate::domain::OrderStage::Received);
    assert_eq!(
        (o.stage_at, o.created_at),
        (o.created_at, utc(7000).unwrap())
    );
    assert_eq!(o.updated_at, utc(8000).unwrap());
    assert_eq!(o.customer, crate::domain::Customer::default());
    let log = s.order_stages(id).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].from, log[0].to, log[0].actor.as_str()),
        (o.stage, o.stage, "system")
    );
    assert_eq!(log[0].changed_at, o.created_at);
    assert_eq!(s.feed_head().unwrap(), 0, "old history is not fed");
    let listed = s
        .orders(&OrderQuery {
            order_number: Some("A-1".into()),
            limit: 10,
            ..OrderQuery::default()
        })
        .unwrap();
    assert_eq!(listed, std::slice::from_ref(&o));
    // Its number is still taken in its store; a parcel added with it joins it.
    let again = crate::store::NewOrder {
        info: OrderInfo {
            store: Some("Acme".into()),
            order_number: Some("A-1".into()),
            ..OrderInfo::default()
        },
        ..crate::store::NewOrder::default()
    };
    assert!(matches!(
        s.save_order(&again, crate::store::OnExisting::Refuse, t(1)),
        Err(Error::OrderExists(found)) if found == id
    ));
    let joined = s
        .add_shipment(
            &NewShipment {
                tracking_number: "X2".into(),
                carrier: "dhl".into(),
                order: again.info.clone(),
                ..Default::default()
            },
            t(1),
        )
        .unwrap();
    assert_eq!(joined.shipment.order_id, id);
}

/// What SQLite plans for `orders()` with each filter: every one is read through an index
/// (the unfiltered list through the primary key, newest first), never a scan of every order
/// or parcel, so a page stays quick at 100,000 orders.
#[test]
fn the_order_list_is_served_by_an_index_for_each_filter() {
    let s = SqliteStore::open_in_memory().unwrap();
    let base = || OrderQuery {
        limit: 50,
        before: Some(OrderId::new()),
        ..OrderQuery::default()
    };
    let cases = [
        ("none", base()),
        (
            "email",
            OrderQuery {
                email: Some("a@b.example".into()),
                ..base()
            },
        ),
        (
            "order number",
            OrderQuery {
                order_number: Some("1001".into()),
                ..base()
            },
        ),
        (
            "status",
            OrderQuery {
                status: Some(Status::Exception),
                ..base()
            },
        ),
        (
            "carrier",
            OrderQuery {
                carrier: Some("ups".into()),
                ..base()
            },
        ),
        (
            "store",
            OrderQuery {
                store: Some("web".into()),
                ..base()
            },
        ),
        (
            "stage",
            OrderQuery {
                stage: Some(crate::domain::OrderStage::Shipped),
                ..base()
            },
        ),
        (
            "placed",
            OrderQuery {
                placed_from: Some(t(0)),
                placed_to: Some(t(24)),
                ..base()
            },
        ),
    ];
    for (what, q) in cases {
        let (sql, args) = orders::page_sql(&q);
        let mut stmt = s
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(
                rusqlite::params_from_iter(args.iter().map(|a| a.as_ref())),
                |r| r.get(3),
            )
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for step in &plan {
            let reads = step.starts_with("SCAN") || step.starts_with("SEARCH");
            assert!(
                !reads || step.contains("INDEX") || step.contains("PRIMARY KEY"),
                "{what}: {plan:?}"
            );
        }
        let expected = match what {
            "email" => "orders_by_email",
            "order number" => "orders_by_order_number",
            "status" => "shipments_by_status",
            "carrier" => "shipments_by_carrier",
            "store" => "orders_by_store",
            "stage" => "orders_by_stage",
            "placed" => "orders_by_placed",
            _ => "sqlite_autoindex_orders_1",
        };
        assert!(
            plan.iter().any(|p| p.contains(expected)),
            "{what}: {plan:?}"
        );
    }
}

/// The report's and the messages' timing's two SQLite forms (with SQLite's percentile
/// functions, and ranked for a build without them) give the same figures.
#[test]
fn the_delivery_report_is_the_same_with_or_without_sqlites_percentiles() {
    use crate::eta::calendar::BusinessCalendar;
    use crate::store::report::{Dialect, ReportBy, ReportSpan, sql};
    use rusqlite::types::Value;
    let mut s = SqliteStore::open_in_memory().unwrap();
    let mut first = None;
    for i in 0..40_i64 {
        let id = s
            .add_shipment(
                &NewShipment {
                    tracking_number: format!("R{i}"),
                    carrier: ["dhl", "ups", "fedex"][(i % 3) as usize].into(),
                    order: OrderInfo {
                        placed_at: (i % 4 != 0).then(|| t(i * 7).fixed_offset()),
                        promised_at: (i % 2 == 0).then(|| t(i * 7 + 72).fixed_offset()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                t(0),
            )
            .unwrap()
            .shipment
            .id;
        let mut b = IngestBatch::events(
            id,
            vec![
                ev(i * 7 + 3, Status::InTransit, "t", "Picked up"),
                ev(i * 7 + 20 + i * i % 90, Status::Delivered, "d", "Delivered"),
            ],
        );
        b.service = (i % 5 != 0).then(|| ["Express", "Ground"][(i % 2) as usize].into());
        s.ingest(&[b], t(2_000)).unwrap();
        first.get_or_insert(id);
    }
    let span = ReportSpan::new(
        t(0),
        t(2_000),
        chrono_tz::Europe::Berlin,
        &BusinessCalendar::for_country(Some("DE")),
        120,
    );
    // Messages about the first parcel, written after its events (hour 2001) and sent after
    // 7·i mod 50 seconds.
    let id = first.unwrap();
    for i in 0..25_i64 {
        let d = crate::notify::rules::Draft {
            id: uuid::Uuid::now_v7(),
            dedupe_key: uuid::Uuid::now_v7(),
            channel: [crate::notify::Channel::Email, crate::notify::Channel::Sms][(i % 2) as usize],
            shipment_id: Some(id),
            kind: Some(crate::notify::rules::Kind::Delivered),
            title: "news".into(),
            body: "body".into(),
            link: String::new(),
            urgency: crate::notify::Urgency::Low,
            initial: crate::notify::rules::Initial::Pending,
        };
        s.queue_notifications(std::slice::from_ref(&d), t(2_001))
            .unwrap();
        s.mark_notification(
            d.id,
            &SendOutcome::Sent,
            t(2_001) + Duration::seconds(7 * i % 50),
        )
        .unwrap();
    }
    let rows = |d: Dialect, by: ReportBy| -> Vec<Vec<Option<f64>>> {
        let mut stmt = s.conn.prepare(&sql(d, by, &span)).unwrap();
        let n = stmt.column_count();
        let mut out: Vec<(String, Vec<Option<f64>>)> = stmt
            .query_map(params![ms(span.from), ms(span.to)], |r| {
                let key = format!("{:?}", r.get::<_, Value>(0)?);
                let vals = (1..n)
                    .map(|i| {
                        Ok(match r.get::<_, Value>(i)? {
                            Value::Integer(v) => Some(v as f64),
                            Value::Real(v) => Some(v),
                            _ => None,
                        })
                    })
                    .collect::<rusqlite::Result<_>>()?;
                Ok((key, vals))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, v)| v).collect()
    };
    if crate::store::report::sqlite_dialect() == Dialect::SqliteRanked {
        return; // this build has no percentile functions to compare with
    }
    type Timing = (String, i64, f64, f64, i64, Option<f64>, Option<f64>);
    let latency = |d: Dialect| -> Vec<Timing> {
        let mut stmt = s
            .conn
            .prepare(crate::store::report::latency_sql(d))
            .unwrap();
        stmt.query_map(params![ms(t(2_000)), ms(t(2_002))], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    };
    let (a, b) = (latency(Dialect::Sqlite), latency(Dialect::SqliteRanked));
    assert_eq!(a.len(), 2, "{a:?}");
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (a, b) => a == b,
    };
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, x.1, x.4), (&y.0, y.1, y.4));
        assert!(
            (x.2 - y.2).abs() < 1e-9 && (x.3 - y.3).abs() < 1e-9,
            "{x:?} vs {y:?}"
        );
        // Every message is about the parcel's delivery, after its events were recorded.
        assert_eq!(x.4, x.1, "{x:?}");
        assert!(close(x.5, y.5) && close(x.6, y.6), "{x:?} vs {y:?}");
    }
    for by in [
        ReportBy::Carrier,
        ReportBy::Service,
        ReportBy::Region,
        ReportBy::Week,
    ] {
        let (a, b) = (rows(Dialect::Sqlite, by), rows(Dialect::SqliteRanked, by));
        assert!(!a.is_empty(), "{by:?}");
        assert_eq!(a.len(), b.len(), "{by:?}");
        for (x, y) in a.iter().zip(&b) {
            for (u, v) in x.iter().zip(y) {
                match (u, v) {
                    (Some(u), Some(v)) => assert!((u - v).abs() < 1e-9, "{by:?}: {x:?} vs {y:?}"),
                    (u, v) => assert_eq!(u, v, "{by:?}: {x:?} vs {y:?}"),
                }
            }
        }
    }
}
