//! Sync converges: a server and two devices add parcels, carrier events, labels, mutes,
//! archives and removals while apart, in random orders and with clashing times, sync in
//! random orders (each round as `parceltrail sync` makes it: push, the server's answer
//! merged back, pull), and once back together settle within a few rounds on the same
//! parcels, registers and events everywhere. Also: a device away while the server's feed was
//! pruned catches up by a walk, and a cursor reads back as it was written.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use parceltrail_core::domain::{NewEvent, Place, Source, Status};
use parceltrail_core::store::{Edit, IngestBatch, NewShipment, OrderInfo, SqliteStore, Store};
use parceltrail_core::sync::{self, Cursor, Record};
use proptest::prelude::*;

const NUMBERS: [&str; 4] = [
    "PT0000000001",
    "PT0000000002",
    "PT0000000003",
    "PT0000000004",
];

#[derive(Debug, Clone)]
enum Op {
    Add {
        at: usize,
        n: usize,
    },
    Label {
        at: usize,
        n: usize,
        label: Option<u8>,
    },
    Mute {
        at: usize,
        n: usize,
        on: bool,
    },
    Archive {
        at: usize,
        n: usize,
        on: bool,
    },
    Remove {
        at: usize,
        n: usize,
    },
    Event {
        at: usize,
        n: usize,
        k: u8,
    },
    /// Device 1 or 2 syncs with the server (0).
    Sync {
        device: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let at = 0..3usize;
    let n = 0..NUMBERS.len();
    prop_oneof![
        3 => (at.clone(), n.clone()).prop_map(|(at, n)| Op::Add { at, n }),
        2 => (at.clone(), n.clone(), proptest::option::of(0..3u8)).prop_map(|(at, n, label)| Op::Label { at, n, label }),
        1 => (at.clone(), n.clone(), any::<bool>()).prop_map(|(at, n, on)| Op::Mute { at, n, on }),
        1 => (at.clone(), n.clone(), any::<bool>()).prop_map(|(at, n, on)| Op::Archive { at, n, on }),
        1 => (at.clone(), n.clone()).prop_map(|(at, n)| Op::Remove { at, n }),
        2 => (at, n, 0..4u8).prop_map(|(at, n, k)| Op::Event { at, n, k }),
        2 => (1..3usize).prop_map(|device| Op::Sync { device }),
    ]
}

struct World {
    stores: Vec<SqliteStore>,
    /// Per device: where its push and its pull stand.
    push: [Cursor; 3],
    pull: [Cursor; 3],
}

fn event(k: u8) -> NewEvent {
    let base = FixedOffset::east_opt(3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, 20, 8, 0, 0)
        .unwrap();
    NewEvent {
        occurred_at: base + Duration::hours(i64::from(k)),
        status: if k == 3 {
            Status::Delivered
        } else {
            Status::InTransit
        },
        raw_code: None,
        description: format!("Scan {k}"),
        location: Place {
            city: Some("Leipzig".into()),
            ..Place::default()
        },
        source: Source::Poll,
    }
}

impl World {
    fn new() -> World {
        World {
            stores: (0..3)
                .map(|_| SqliteStore::open_in_memory().unwrap())
                .collect(),
            push: [Cursor::Feed(0); 3],
            pull: [Cursor::Feed(0); 3],
        }
    }

    fn live(&self, at: usize, n: usize) -> Option<parceltrail_core::domain::Shipment> {
        self.stores[at].find(NUMBERS[n]).ok()
    }

    fn apply(&mut self, op: &Op, now: DateTime<Utc>) {
        match *op {
            Op::Add { at, n } => {
                let new = NewShipment {
                    tracking_number: NUMBERS[n].into(),
                    carrier: "dhl".into(),
                    service: None,
                    label: None,
                    order: OrderInfo {
                        store: Some("Trailhead".into()),
                        ..OrderInfo::default()
                    },
                    events: Vec::new(),
                };
                self.stores[at].add_shipment(&new, now).unwrap();
            }
            Op::Label { at, n, label } => {
                if let Some(s) = self.live(at, n) {
                    let label = label.map(|l| format!("Box {l}"));
                    self.stores[at].edit(s.id, Edit::Label(label), now).unwrap();
                }
            }
            Op::Mute { at, n, on } => {
                if let Some(s) = self.live(at, n) {
                    self.stores[at].edit(s.id, Edit::Muted(on), now).unwrap();
                }
            }
            Op::Archive { at, n, on } => {
                if let Some(s) = self.live(at, n) {
                    self.stores[at].edit(s.id, Edit::Archived(on), now).unwrap();
                }
            }
            Op::Remove { at, n } => {
                if let Some(s) = self.live(at, n) {
                    self.stores[at].remove(s.id, now).unwrap();
                }
            }
            Op::Event { at, n, k } => {
                if let Some(s) = self.live(at, n) {
                    self.stores[at]
                        .ingest(&[IngestBatch::events(s.id, vec![event(k)])], now)
                        .unwrap();
                }
            }
            Op::Sync { device } => {
                self.sync(device, now);
            }
        }
    }

    /// One round, as the CLI makes it: push (small pages), merging the server's answer (its
    /// record of each pushed parcel) back; then pull.
    /// Returns how many records changed something on either side.
    fn sync(&mut self, d: usize, now: DateTime<Utc>) -> usize {
        let mut changed = 0;
        let (server, rest) = self.stores.split_at_mut(1);
        let server = &mut server[0];
        let device = &mut rest[d - 1];
        loop {
            let page = sync::changes(device, self.push[d], 2).unwrap();
            changed += sync::merge(server, &page.records, now).unwrap().changed;
            let answer = answer(server, &page.records);
            let (merged, sent) = sync::merge_received(device, &answer, now, page.next).unwrap();
            changed += merged.changed;
            self.push[d] = sent;
            if !page.more {
                break;
            }
        }
        loop {
            let page = sync::changes(server, self.pull[d], 2).unwrap();
            let (merged, sent) =
                sync::merge_received(device, &page.records, now, self.push[d]).unwrap();
            changed += merged.changed;
            self.push[d] = sent;
            self.pull[d] = page.next;
            if !page.more {
                break;
            }
        }
        changed
    }
}

/// The server's records of the pushed parcels, as its answer to a push carries them.
fn answer(server: &SqliteStore, pushed: &[Record]) -> Vec<Record> {
    pushed
        .iter()
        .filter_map(|r| server.presence_of_number(&r.tracking_number).unwrap())
        .map(|p| sync::record(server, &p).unwrap())
        .collect()
}

/// What a person would see of a store: each tracked parcel's label, mute, archive and
/// events.
type View = BTreeMap<String, (Option<String>, bool, bool, BTreeSet<String>)>;

fn view(store: &SqliteStore) -> View {
    NUMBERS
        .iter()
        .filter_map(|n| store.find(n).ok())
        .map(|s| {
            let events = store
                .timeline(s.id)
                .unwrap()
                .into_iter()
                .map(|e| format!("{} {}", e.occurred_at.to_rfc3339(), e.description))
                .collect();
            (s.tracking_number, (s.label, s.muted, s.archived, events))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn two_devices_and_a_server_converge(ops in proptest::collection::vec(op(), 1..60)) {
        let mut w = World::new();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        for (i, op) in ops.iter().enumerate() {
            // Two operations share each millisecond: stamps clash.
            w.apply(op, t0 + Duration::milliseconds((i / 2) as i64));
        }
        // Back together: rounds until one of both devices changes nothing anywhere. What one
        // learns in a round can reach the other only in the next, so a few rounds are
        // needed; more than six would mean the exchange does not settle.
        let end = t0 + Duration::seconds(10);
        let mut rounds = 0;
        loop {
            rounds += 1;
            let changed = w.sync(1, end) + w.sync(2, end);
            if changed == 0 {
                break;
            }
            prop_assert!(rounds < 6, "still changing after {} rounds", rounds);
        }
        let server = view(&w.stores[0]);
        prop_assert_eq!(&view(&w.stores[1]), &server);
        prop_assert_eq!(&view(&w.stores[2]), &server);
    }
}

#[test]
fn a_device_away_past_the_feeds_pruning_catches_up_by_a_walk() {
    let mut w = World::new();
    let t0 = Utc.with_ymd_and_hms(2026, 10, 1, 9, 0, 0).unwrap();
    w.apply(&Op::Add { at: 1, n: 0 }, t0);
    w.sync(1, t0);
    w.sync(2, t0);
    // Weeks later: the server's parcels moved on, one was removed, and the feed was pruned.
    let later = t0 + Duration::days(30);
    w.apply(&Op::Add { at: 0, n: 1 }, later);
    w.apply(&Op::Event { at: 0, n: 1, k: 2 }, later);
    w.apply(&Op::Remove { at: 0, n: 0 }, later);
    w.stores[0].prune_feed(later + Duration::days(1)).unwrap();
    let Cursor::Feed(seq) = w.pull[2] else {
        panic!("a finished pull ends in the feed")
    };
    let page = sync::changes(&w.stores[0], Cursor::Feed(seq), 100).unwrap();
    assert!(
        page.records
            .iter()
            .any(|r| r.tracking_number == NUMBERS[0] && r.removed.value),
        "the walk carries the tombstone: {page:?}"
    );
    w.sync(2, later);
    assert_eq!(w.sync(2, later), 0, "caught up in one round");
    assert_eq!(view(&w.stores[2]), view(&w.stores[0]));
    assert!(
        w.stores[2].find(NUMBERS[0]).is_err(),
        "removed on the device too"
    );
    assert_eq!(w.stores[2].find(NUMBERS[1]).unwrap().event_count, 1);
}

#[test]
fn cursors_read_back_as_written() {
    for c in [
        Cursor::Feed(0),
        Cursor::Feed(42),
        Cursor::Walk {
            then: 7,
            after: None,
        },
        Cursor::Walk {
            then: 7,
            after: Some(parceltrail_core::domain::ShipmentId::new()),
        },
    ] {
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
    }
    for bad in ["", "x1", "f", "fabc", "w1", "w1.nope"] {
        assert!(Cursor::decode(bad).is_err(), "{bad:?}");
    }
}
