use chrono::{Duration, TimeZone};

use super::*;
use crate::domain::{NewEvent, Place, Source};
use crate::problems::Problem;
use crate::store::{Assessment, IngestBatch, NewShipment, OrderInfo, SqliteStore};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 10, 0, 0).unwrap()
}

fn ev(at: DateTime<Utc>, status: Status, text: &str, city: &str) -> NewEvent {
    NewEvent {
        occurred_at: at.fixed_offset(),
        status,
        raw_code: None,
        description: text.into(),
        location: Place {
            city: Some(city.into()),
            country: Some("DE".into()),
            ..Place::default()
        },
        source: Source::Poll,
    }
}

fn query() -> ListQuery {
    let start = Utc.with_ymd_and_hms(2026, 5, 4, 0, 0, 0).unwrap();
    ListQuery {
        today_start: start,
        today_end: start + Duration::days(1),
        delivered_since: start - Duration::days(14),
        all: false,
    }
}

fn add(
    db: &mut SqliteStore,
    number: &str,
    carrier: &str,
    label: Option<&str>,
    shop: &str,
) -> ShipmentId {
    db.add_shipment(
        &NewShipment {
            tracking_number: number.into(),
            carrier: carrier.into(),
            label: label.map(Into::into),
            order: OrderInfo {
                store: Some(shop.into()),
                ..OrderInfo::default()
            },
            ..NewShipment::default()
        },
        t0() - Duration::days(2),
    )
    .unwrap()
    .shipment
    .id
}

/// Three parcels: one out for delivery, one stuck in transit, one delivered.
fn fixture() -> (SqliteStore, [ShipmentId; 3]) {
    let mut db = SqliteStore::open_in_memory().unwrap();
    let ofd = add(
        &mut db,
        "1Z5R89390357567127",
        "ups",
        Some("Running shoes"),
        "Trailhead",
    );
    let stuck = add(&mut db, "JJD000390007827781", "dhl", None, "Bookshop");
    let done = add(
        &mut db,
        "9400111899223197428490",
        "usps",
        Some("Lamp"),
        "Lights & Co",
    );
    let h = |n| t0() - Duration::hours(n);
    db.ingest(
        &[
            IngestBatch::events(
                ofd,
                vec![
                    ev(h(30), Status::InTransit, "Picked up", "Leipzig"),
                    ev(h(2), Status::OutForDelivery, "<b>On the van</b>", "Berlin"),
                ],
            ),
            IngestBatch::events(
                stuck,
                vec![ev(h(100), Status::InTransit, "Arrived at hub", "Kassel")],
            ),
            IngestBatch::events(
                done,
                vec![ev(h(5), Status::Delivered, "Delivered", "Hamburg")],
            ),
        ],
        t0(),
    )
    .unwrap();
    let est = Estimate {
        earliest: t0(),
        likely: t0() + Duration::hours(4),
        latest: t0() + Duration::hours(8),
        confidence: 0.9,
        source: EtaSource::OutForDelivery,
    };
    db.save_derived(
        &[
            Assessment {
                id: ofd,
                previous: None,
                estimate: Some(est),
                first_latest: None,
                problems: vec![],
            },
            Assessment {
                id: stuck,
                previous: None,
                estimate: None,
                first_latest: None,
                problems: vec![Problem {
                    kind: ProblemKind::Stuck,
                    since: h(100),
                    detail: "No carrier update for 4 days".into(),
                }],
            },
        ],
        t0(),
    )
    .unwrap();
    (db, [ofd, stuck, done])
}

#[test]
fn home_groups_cards_with_badges_estimates_and_problems() {
    let (db, [ofd, stuck, done]) = fixture();
    let h = home(&db, &query(), &Filter::default(), t0(), Tz::UTC).unwrap();
    let titles: Vec<(&str, Vec<&str>)> = h
        .groups
        .iter()
        .map(|g| (g.title, g.cards.iter().map(|c| c.title.as_str()).collect()))
        .collect();
    assert_eq!(
        titles,
        [
            ("Arriving today", vec!["Running shoes"]),
            ("Needs attention", vec!["Bookshop"]),
            ("Delivered recently", vec!["Lamp"]),
        ]
    );
    assert_eq!((h.shown, h.arriving_today, h.needs_attention), (3, 1, 1));
    let shoes = &h.groups[0].cards[0];
    assert_eq!(shoes.id, ofd);
    assert_eq!(shoes.carrier.name, "UPS");
    assert!(shoes.carrier.color.starts_with('#'));
    assert!(
        shoes
            .carrier
            .tracking_url
            .as_deref()
            .unwrap()
            .contains("1Z5R89390357567127"),
        "{:?}",
        shoes.carrier
    );
    assert_eq!(
        shoes.eta_text.as_deref(),
        Some("today, likely by 14:00 (90%)")
    );
    assert_eq!(
        shoes.detail.as_deref(),
        Some("<b>On the van</b>"),
        "kept as text"
    );
    assert!(shoes.progress > 0.8);
    let book = &h.groups[1].cards[0];
    assert_eq!(
        (book.id, book.problems.as_slice()),
        (stuck, &["No movement"][..])
    );
    assert_eq!(h.groups[2].cards[0].id, done);
    assert_eq!(h.groups[2].cards[0].eta_text, None);
}

#[test]
fn filters_narrow_the_home_screen() {
    let (db, _) = fixture();
    let titles = |f: Filter| -> Vec<String> {
        home(&db, &query(), &f, t0(), Tz::UTC)
            .unwrap()
            .groups
            .into_iter()
            .flat_map(|g| g.cards.into_iter().map(|c| c.title))
            .collect()
    };
    let f = |text: &str| Filter {
        text: Some(text.into()),
        ..Filter::default()
    };
    assert_eq!(titles(f("shoes")), ["Running shoes"]);
    assert_eq!(titles(f("7127")), ["Running shoes"], "by number");
    assert_eq!(titles(f("hub")), ["Bookshop"], "by the carrier's words");
    assert_eq!(
        titles(f("lights co")),
        ["Lamp"],
        "every word, any order, any case"
    );
    assert!(titles(f("nothing like it")).is_empty());
    let by_store = Filter {
        store: Some("bookshop".into()),
        ..Filter::default()
    };
    assert_eq!(titles(by_store), ["Bookshop"]);
    let by_carrier = Filter {
        carrier: Some("usps".into()),
        ..Filter::default()
    };
    assert_eq!(titles(by_carrier), ["Lamp"]);
    let by_status = Filter {
        status: Some(Status::OutForDelivery),
        ..Filter::default()
    };
    assert_eq!(titles(by_status), ["Running shoes"]);
    let recent = Filter {
        since: Some(t0() - Duration::hours(24)),
        ..Filter::default()
    };
    assert_eq!(titles(recent), ["Running shoes", "Lamp"]);
    let older = Filter {
        until: Some(t0() - Duration::hours(24)),
        ..Filter::default()
    };
    assert_eq!(titles(older), ["Bookshop"]);
}

#[test]
fn detail_has_the_stages_events_and_reasons() {
    let (db, [ofd, stuck, done]) = fixture();
    let d = detail(&db, ofd, &query(), t0(), Tz::UTC).unwrap();
    let reached: Vec<bool> = d.stages.iter().map(|s| s.reached).collect();
    assert_eq!(reached, [true, true, true, true, false]);
    assert_eq!(d.branch, None);
    assert_eq!(d.estimate_source, Some("out for delivery"));
    assert_eq!(d.estimate_likely.as_deref(), Some("today, by 14:00"));
    let descriptions: Vec<&str> = d.events.iter().map(|e| e.description.as_str()).collect();
    assert_eq!(
        descriptions,
        ["<b>On the van</b>", "Picked up"],
        "newest first"
    );
    assert_eq!(d.events[0].place, "Berlin, DE");
    assert_eq!(d.card.group, Group::ArrivingToday);
    assert_eq!(d.order.store.as_deref(), Some("Trailhead"));

    let s = detail(&db, stuck, &query(), t0(), Tz::UTC).unwrap();
    assert_eq!(s.card.group, Group::NeedsAttention);
    assert_eq!(s.problems[0].problem.detail, "No carrier update for 4 days");
    assert_eq!(s.card.title, "Bookshop");

    let l = detail(&db, done, &query(), t0(), Tz::UTC).unwrap();
    assert_eq!(l.card.group, Group::DeliveredRecently);
    assert!(l.stages.iter().all(|s| s.reached));
    assert_eq!(l.card.progress, 1.0);
    assert!(detail(&db, ShipmentId::new(), &query(), t0(), Tz::UTC).is_err());
}

#[test]
fn pasted_text_is_previewed_with_carriers_reasons_and_what_is_tracked() {
    let (db, [ofd, ..]) = fixture();
    let email = "Thanks for your order!\n\
        Your shoes ship with UPS: 1Z5R89390357567127.\n\
        Track the lamp at https://www.ups.com/track?tracknum=1Z879E930346834440 today.";
    let found = preview(&db, email);
    let numbers: Vec<&str> = found.iter().map(|f| f.number.as_str()).collect();
    assert_eq!(numbers, ["1Z5R89390357567127", "1Z879E930346834440"]);
    assert_eq!(found[0].tracked, Some(ofd));
    assert_eq!(found[1].tracked, None);
    assert!(found[1].from_link);
    assert!(
        found
            .iter()
            .all(|f| f.valid && f.carrier.as_ref().unwrap().id == "ups")
    );

    assert!(found.iter().all(|f| !f.ambiguous));

    // A PostNL / DHL eCommerce number: both formats fit equally, so the user picks.
    let both = preview(&db, "3SQZVP123456789");
    let ids: Vec<&str> = both[0].candidates.iter().map(|c| c.id.as_str()).collect();
    assert!(both[0].ambiguous, "{:?}", both[0]);
    assert!(
        ids.contains(&"postnl") && ids.contains(&"dhl-ecommerce"),
        "{ids:?}"
    );

    let bad = preview(&db, "1Z5R89390357567128");
    assert_eq!(bad.len(), 1);
    assert!(!bad[0].valid);
    assert!(bad[0].reason.is_some(), "says why: {:?}", bad[0]);
    assert!(preview(&db, "   ").is_empty());
}

#[test]
fn a_one_line_paste_is_read_as_text() {
    // A mistyped number in a line: the number and its failed check, not the line upper-cased.
    let found = find_numbers("Tracking: 9407 9979 4285 3811 3836 18");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].number, "9407997942853811383618");
    assert!(!found[0].valid);
    assert!(
        found[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("check digit should be"),
        "{found:?}"
    );
    // Two numbers on one line: both.
    let found = find_numbers("1Z5R89390357567127 RB876543216GB");
    let numbers: Vec<&str> = found.iter().map(|d| d.number.as_str()).collect();
    assert_eq!(numbers, ["1Z5R89390357567127", "RB876543216GB"]);
    // One number as a whole, spaced: one detection.
    let found = find_numbers("1Z 5R8 939 0357 5671 27");
    assert_eq!(found.len(), 1);
    assert!(found[0].valid);
    // Not a number at all: the reason for the whole paste.
    let found = find_numbers("hello world");
    assert_eq!(found.len(), 1);
    assert!(!found[0].valid && found[0].reason.is_some());
}
