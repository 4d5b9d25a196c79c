//! CSV import of untrusted files, and export round trips.

use chrono::{DateTime, TimeZone, Utc};
use parceltrail_core::domain::{NewEvent, Place, Source, Status};
use parceltrail_core::import::import_csv;
use parceltrail_core::store::{IngestBatch, NewShipment, SqliteStore, Store};
use parceltrail_core::{Error, export};

/// A valid UPU S10 number (weights 8,6,4,2,3,5,9,7; mod 11).
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

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn import(
    store: &mut SqliteStore,
    bytes: &[u8],
) -> parceltrail_core::Result<parceltrail_core::import::ImportReport> {
    import_csv(store, bytes, now(), &mut |_, _| {})
}

#[test]
fn bad_rows_are_reported_by_line_and_good_rows_kept() {
    let good = s10(12345678, "GB");
    let mut bad_check = s10(22222222, "GB");
    // Break the check digit.
    let d = bad_check.as_bytes()[10] - b'0';
    bad_check.replace_range(10..11, &((d + 1) % 10).to_string());
    let mut csv: Vec<u8> = Vec::new();
    csv.extend_from_slice(
        "\u{feff}Tracking Number,Carrier,Store,Order,Label,Order date\n".as_bytes(),
    ); // line 1
    csv.extend_from_slice(format!("{good},,Acme,A-1,Shoes,2026-05-30\n").as_bytes()); // 2
    csv.extend_from_slice(format!("{bad_check},,Acme,A-2,,\n").as_bytes()); // 3
    csv.extend_from_slice(b",,Acme,A-3,no number,\n"); // 4
    csv.extend_from_slice(format!("{},,Caf", s10(33333333, "GB")).as_bytes()); // 5
    csv.extend_from_slice(&[0xE9]);
    csv.extend_from_slice(b",A-4,latin1,\n");
    csv.extend_from_slice(
        format!(
            "{},,\"=HYPERLINK(\"\"http://x\"\")\",A-5,\"'; DROP TABLE shipments; --\",\n",
            s10(44444444, "GB")
        )
        .as_bytes(),
    ); // 6
    csv.extend_from_slice(format!("{},Pony Express,Acme,A-6,,\n", s10(55555555, "GB")).as_bytes()); // 7
    csv.extend_from_slice(format!("{},,Acme,A-7,,yesterday\n", s10(66666666, "GB")).as_bytes()); // 8
    csv.extend_from_slice(
        format!(
            "{},,\"Multi\nline store\",A-8,<img src=x onerror=alert(1)>,\n",
            s10(77777777, "GB")
        )
        .as_bytes(),
    ); // 9-10
    csv.extend_from_slice(
        format!("{},,Acme,A-9,{},\n", s10(88888888, "GB"), "x".repeat(3000)).as_bytes(),
    ); // 11
    csv.extend_from_slice(b"not-a-number,,Acme,A-10,,\n"); // 12
    csv.extend_from_slice(
        format!("{},,Acme,A-11,extra,,field,here\n", s10(99999999, "GB")).as_bytes(),
    ); // 13

    let mut store = SqliteStore::open_in_memory().unwrap();
    let report = import(&mut store, &csv).unwrap();
    assert_eq!(report.rows, 11);
    assert_eq!(report.added, 4, "{report:#?}");
    let errors: Vec<(u64, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    let lines: Vec<u64> = errors.iter().map(|e| e.0).collect();
    assert_eq!(lines, vec![3, 4, 5, 7, 8, 11, 12], "{errors:#?}");
    assert!(errors[0].1.contains("check digit"), "{}", errors[0].1);
    assert!(errors[1].1.contains("no tracking number"));
    assert!(errors[2].1.contains("UTF-8"));
    assert!(errors[3].1.contains("unknown carrier \"Pony Express\""));
    assert!(errors[4].1.contains("\"yesterday\" is not a date"));
    assert!(errors[5].1.contains("longer than"));

    // Hostile text is stored as the plain text it is.
    let hostile = store.find(&s10(44444444, "GB")).unwrap();
    assert_eq!(
        hostile.label.as_deref(),
        Some("'; DROP TABLE shipments; --")
    );
    assert_eq!(
        store.order(hostile.order_id).unwrap().store.as_deref(),
        Some("=HYPERLINK(\"http://x\")")
    );
    let xss = store.find(&s10(77777777, "GB")).unwrap();
    assert_eq!(xss.label.as_deref(), Some("<img src=x onerror=alert(1)>"));
    let shoes = store.find(&good).unwrap();
    let order = store.order(shoes.order_id).unwrap();
    assert_eq!(
        order.placed_at.unwrap().to_rfc3339(),
        "2026-05-30T00:00:00+00:00"
    );

    // A spreadsheet opening the export does not run the formula.
    let mut out = Vec::new();
    export::write_csv(&store, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("'=HYPERLINK"), "{text}");
    assert!(!text.contains(",=HYPERLINK"));
}

#[test]
fn an_endless_input_is_refused_past_the_stated_size() {
    use std::io::Read;
    let mut store = SqliteStore::open_in_memory().unwrap();
    let endless = b"tracking_number\n".chain(std::io::repeat(b'1'));
    let err = import_csv(&mut store, endless, now(), &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("larger than 64 MiB"), "{err}");
    assert_eq!(store.count().unwrap(), 0);
}

#[test]
fn a_file_without_a_tracking_column_is_refused_with_what_it_has() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let err = import(&mut store, b"order,store\nA-1,Acme\n").unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    let msg = err.to_string();
    assert!(
        msg.contains("tracking_number") && msg.contains(r#"found: "order", "store""#),
        "{msg}"
    );
    assert!(
        import(&mut store, b"")
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    assert_eq!(store.count().unwrap(), 0);
}

#[test]
fn an_unclosed_quote_is_reported_where_it_opened_and_swallows_nothing_silently() {
    let (a, b, c) = (s10(1, "GB"), s10(2, "GB"), s10(3, "GB"));
    let csv = format!("tracking_number,label\n{a},Shoes\n{b},\"Lamp\n{c},Tea\n");
    let mut store = SqliteStore::open_in_memory().unwrap();
    let report = import(&mut store, csv.as_bytes()).unwrap();
    assert_eq!(report.added, 1, "{report:?}");
    assert_eq!(report.errors.len(), 1, "{report:?}");
    let e = &report.errors[0];
    assert_eq!(e.line, 3);
    assert!(
        e.reason.contains("opened on line 3 is never closed"),
        "{}",
        e.reason
    );
    // The row that swallowed the rest is not stored with the next row in its label.
    assert!(store.find(&b).is_err());
    // A closed multi-line field is fine.
    let csv = format!("tracking_number,label\n{b},\"Lamp\nand shade\"\n{c},Tea\n");
    let report = import(&mut store, csv.as_bytes()).unwrap();
    assert_eq!((report.added, report.errors.len()), (2, 0), "{report:?}");
    // In the header, the whole file is refused.
    let err = import(&mut store, b"tracking_number,\"label\nx,y\n").unwrap_err();
    assert!(err.to_string().contains("never closed"), "{err}");
}

#[test]
fn dates_outside_1970_to_2100_are_refused_with_the_reason() {
    let csv = format!(
        "tracking_number,promised_at,order_date,event_time,event_status\n\
         {},0000-01-01,,,\n\
         {},9999-12-31,,,\n\
         {},,1969-12-31,,\n\
         {},,,2101-01-01T00:00:00Z,in_transit\n\
         {},2026-06-03,2026-05-30,2026-05-31T10:00:00Z,in_transit\n",
        s10(11, "GB"),
        s10(12, "GB"),
        s10(13, "GB"),
        s10(14, "GB"),
        s10(15, "GB"),
    );
    let mut store = SqliteStore::open_in_memory().unwrap();
    let report = import(&mut store, csv.as_bytes()).unwrap();
    assert_eq!(report.added, 1, "{report:?}");
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
    for e in &report.errors {
        assert!(
            e.reason.contains("not between 1970 and 2100"),
            "{}",
            e.reason
        );
    }
    assert!(
        report.errors[0]
            .reason
            .starts_with("promised date \"0000-01-01\"")
    );
}

#[test]
fn utf16_files_import() {
    let text = format!("tracking_number,store\n{},Café\n", s10(1, "NL"));
    let mut bytes = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    let mut store = SqliteStore::open_in_memory().unwrap();
    let report = import(&mut store, &bytes).unwrap();
    assert_eq!((report.added, report.errors.len()), (1, 0));
    let s = store.find(&s10(1, "NL")).unwrap();
    assert_eq!(
        store.order(s.order_id).unwrap().store.as_deref(),
        Some("Café")
    );
}

#[test]
fn a_rerun_adds_nothing_twice() {
    let mut csv = String::from("tracking_number,order,store\n");
    for i in 0..1200 {
        csv += &format!("{},O-{},Acme\n", s10(i, "GB"), i / 3);
    }
    let mut store = SqliteStore::open_in_memory().unwrap();
    let first = import(&mut store, csv.as_bytes()).unwrap();
    assert_eq!((first.added, first.already_tracked), (1200, 0));
    let second = import(&mut store, csv.as_bytes()).unwrap();
    assert_eq!((second.added, second.already_tracked), (0, 1200));
    assert_eq!(store.count().unwrap(), 1200);
    // Three parcels per order number share one order.
    let a = store.find(&s10(0, "GB")).unwrap();
    let b = store.find(&s10(2, "GB")).unwrap();
    assert_eq!(a.order_id, b.order_id);
}

fn seeded_store() -> SqliteStore {
    let mut store = SqliteStore::open_in_memory().unwrap();
    for i in 0..3u32 {
        let added = store
            .add_shipment(
                &NewShipment {
                    tracking_number: s10(i, "DE"),
                    carrier: "deutsche-post".into(),
                    label: Some(format!("Parcel {i}")),
                    ..NewShipment::default()
                },
                now(),
            )
            .unwrap();
        let off = chrono::FixedOffset::east_opt(3600).unwrap();
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
        store
            .ingest(&[IngestBatch::events(added.shipment.id, events)], now())
            .unwrap();
    }
    store
}

#[test]
fn csv_export_imports_back_with_its_history() {
    let store = seeded_store();
    let mut out = Vec::new();
    let rows = export::write_csv(&store, &mut out).unwrap();
    assert_eq!(rows, 1 + 2 + 3);
    let mut copy = SqliteStore::open_in_memory().unwrap();
    let report = import(&mut copy, &out).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!((report.added, report.events_added), (3, 6));
    for i in 0..3 {
        let a = store.find(&s10(i, "DE")).unwrap();
        let b = copy.find(&s10(i, "DE")).unwrap();
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
            strip(store.timeline(a.id).unwrap()),
            strip(copy.timeline(b.id).unwrap())
        );
    }
}

#[test]
fn json_export_holds_every_parcel_with_its_history() {
    let store = seeded_store();
    let mut out = Vec::new();
    let n = export::write_json(&store, &mut out, now()).unwrap();
    assert_eq!(n, 3);
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["format"], "parceltrail-export");
    let shipments = doc["shipments"].as_array().unwrap();
    assert_eq!(shipments.len(), 3);
    assert_eq!(shipments[2]["events"].as_array().unwrap().len(), 3);
    assert_eq!(shipments[2]["shipment"]["status"], "delivered");
    assert_eq!(
        shipments[2]["events"][0]["occurred_at"],
        "2026-05-20T08:00:00+01:00"
    );
}

#[test]
fn line_numbers_are_right_with_crlf_line_ends_too() {
    for end in ["\n", "\r\n"] {
        let mut store = SqliteStore::open_in_memory().unwrap();
        let csv = [
            "tracking_number,store".to_owned(),
            format!("{},A", s10(12345678, "GB")),
            "NOT-A-NUMBER,B".to_owned(),
            String::new(),
            "ALSO BAD,C".to_owned(),
            format!("{},D", s10(33333333, "GB")),
        ]
        .join(end);
        let report = import(&mut store, csv.as_bytes()).unwrap();
        let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 5], "line ends {end:?}");
        assert_eq!(report.added, 2);
    }
}
