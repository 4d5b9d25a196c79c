//! The corpus of real-format carrier bodies (`tests/corpus/<carrier>/`, sources and licences
//! in `tests/corpus/SOURCES.md`) through each adapter's parser, the same code path a live
//! answer takes: what each body must read as (status, how many events, the newest event's
//! time with its offset, or which error). Every file in the corpus must have a row here.

use std::collections::BTreeSet;
use std::time::Duration;

use parceltrail_carriers::http::{Http, Secret};
use parceltrail_carriers::{dhl::Dhl, fedex::Fedex, track17::Track17, ups::Ups, usps::Usps};
use parceltrail_core::carrier::{BatchResult, Carrier, CarrierError, NumberResult};
use parceltrail_core::domain::Status;

/// What a body must read as.
#[derive(Debug)]
enum Want {
    /// One number's result: its status, event count and newest event (RFC 3339).
    Track {
        number: &'static str,
        status: Status,
        events: usize,
        newest: Option<&'static str>,
    },
    /// The number's own error (the call itself succeeded).
    NumberError(&'static str, Kind),
    /// The whole body is an error document.
    CallError(Kind),
    /// Not a poll's answer but a push to the shop server, read there by the webhook parser
    /// (which reads a push's `track_info` with this crate's reader): the test named holds
    /// what it must read as. Here: that it stays in the corpus, and is JSON.
    Push { test: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NotFound,
    Auth,
    RateLimited,
    Transient,
    Malformed,
}

fn kind(e: &CarrierError) -> Kind {
    match e {
        CarrierError::NotFound(_) => Kind::NotFound,
        CarrierError::Auth(_) => Kind::Auth,
        CarrierError::RateLimited { .. } => Kind::RateLimited,
        CarrierError::Transient { .. } => Kind::Transient,
        _ => Kind::Malformed,
    }
}

use Want::*;

/// `(carrier directory, file, expectation)`.
const CORPUS: &[(&str, &str, Want)] = &[
    // UPS
    (
        "ups",
        "spec_example_customs.json",
        Track {
            number: "1Z023E2X0214323462",
            status: Status::Exception,
            events: 1,
            // gmtTime "74700" is 07:47:00 GMT with its leading zero lost; moved to -05:00.
            newest: Some("2021-02-10T02:47:00-05:00"),
        },
    ),
    (
        "ups",
        "customs_code_only.json",
        Track {
            number: "1Z999AA10123456784",
            status: Status::Exception,
            events: 2,
            newest: Some("2024-08-12T10:15:00-04:00"),
        },
    ),
    (
        "ups",
        "error_invalid_number.json",
        CallError(Kind::NotFound),
    ),
    (
        "ups",
        "warning_not_found.json",
        NumberError("", Kind::NotFound),
    ),
    ("ups", "error_access_license.json", CallError(Kind::Auth)),
    ("ups", "error_oauth_client.json", CallError(Kind::Auth)),
    (
        "ups",
        "customs_clearance_colon_gmt_time.json",
        Track {
            number: "1Z1202R66698804005",
            status: Status::Exception,
            events: 17,
            newest: Some("2024-03-20T19:08:38+08:00"),
        },
    ),
    (
        "ups",
        "spec_placeholders_string_null.json",
        Track {
            // The package's own `trackingNumber` keys the result, here the spec's placeholder.
            number: "string",
            status: Status::Exception,
            events: 1,
            newest: Some("2024-03-20T19:08:38+08:00"),
        },
    ),
    (
        "ups",
        "warning_not_found_omniship.json",
        NumberError("1Z9912350341235622", Kind::NotFound),
    ),
    // FedEx
    (
        "fedex",
        "spec_example_picked_up.json",
        Track {
            number: "123456789012",
            status: Status::InTransit,
            events: 1,
            newest: Some("2018-02-02T12:01:00-07:00"),
        },
    ),
    (
        "fedex",
        "space_offset.json",
        Track {
            number: "794843185271",
            status: Status::Delivered,
            events: 3,
            newest: Some("2024-08-12T15:18:10-05:00"),
        },
    ),
    (
        "fedex",
        "error_401_not_authorized.json",
        CallError(Kind::Auth),
    ),
    ("fedex", "error_403_forbidden.json", CallError(Kind::Auth)),
    (
        "fedex",
        "error_404_resource.json",
        CallError(Kind::Malformed),
    ),
    (
        "fedex",
        "error_500_internal.json",
        CallError(Kind::Transient),
    ),
    (
        "fedex",
        "error_503_unavailable.json",
        CallError(Kind::Transient),
    ),
    (
        "fedex",
        "error_400_number_not_found.json",
        CallError(Kind::NotFound),
    ),
    (
        "fedex",
        "error_400_reference_type.json",
        CallError(Kind::Malformed),
    ),
    (
        "fedex",
        "error_400_number_empty.json",
        CallError(Kind::Malformed),
    ),
    (
        "fedex",
        "doc_example_space_offset_delivered.json",
        Track {
            number: "122816215025810",
            // FedEx's example contradicts itself: every scan (and the latest status) has
            // `eventType` "PU" (picked up) while `derivedStatusCode` runs OC, DP, OD, DL. The
            // code is read first (derived codes only for codes we do not know): in transit.
            status: Status::InTransit,
            events: 4,
            newest: Some("2024-08-12T15:18:10-05:00"),
        },
    ),
    // DHL
    (
        "dhl",
        "spec_example_delivered.json",
        Track {
            number: "7777777770",
            status: Status::Delivered,
            events: 1,
            newest: Some("2018-03-02T07:53:47+00:00"),
        },
    ),
    ("dhl", "not_found.json", CallError(Kind::NotFound)),
    // USPS
    (
        "usps",
        "v3_400_not_yet_scanned.json",
        Track {
            number: "",
            status: Status::Pending,
            events: 0,
            newest: None,
        },
    ),
    (
        "usps",
        "v3_400_status_not_available_12.json",
        Track {
            number: "",
            status: Status::Pending,
            events: 0,
            newest: None,
        },
    ),
    (
        "usps",
        "v3_in_transit_gmt_date_not_rolled.json",
        Track {
            number: "9202290317456200135409",
            status: Status::InTransit,
            events: 4,
            newest: Some("2024-11-26T01:44:28-06:00"),
        },
    ),
    (
        "usps",
        "v3_delivered_mailbox.json",
        Track {
            number: "9261290289104185136058",
            status: Status::Delivered,
            events: 15,
            newest: Some("2024-11-23T13:10:09-06:00"),
        },
    ),
    // 17TRACK
    (
        "track17",
        "gettrackinfo_correios_delivered.json",
        Track {
            number: "AA123456789BR",
            status: Status::Delivered,
            events: 3,
            newest: Some("2026-06-30T14:23:00-03:00"),
        },
    ),
    (
        "track17",
        "gettrackinfo_yanwen_in_transit.json",
        Track {
            number: "YT2616912345678901",
            status: Status::InTransit,
            events: 3,
            newest: Some("2026-06-29T21:05:00+08:00"),
        },
    ),
    (
        "track17",
        "gettrackinfo_exception_returning.json",
        Track {
            number: "AA555666777BR",
            status: Status::Returned,
            events: 1,
            newest: Some("2026-06-27T11:15:00-03:00"),
        },
    ),
    (
        "track17",
        "register_mixed.json",
        NumberError("1234", Kind::NotFound),
    ),
    (
        "track17",
        "register_already_registered.json",
        NumberError("AA123456789BR", Kind::NotFound),
    ),
    (
        "track17",
        "push_tracking_stopped.json",
        Push {
            test: "parceltrail-shop hooks::tests::corpus_pushes_parse",
        },
    ),
];

fn parse(carrier: &str, body: &[u8]) -> BatchResult {
    let http = Http::with_timeout(Duration::from_secs(1));
    let base = "http://127.0.0.1:9";
    match carrier {
        "ups" => Ups::new(http, base, "id", Secret::new("secret")).parse(body),
        "fedex" => Fedex::new(http, base, "id", Secret::new("secret")).parse(body),
        "usps" => Usps::new(http, base, "id", Secret::new("secret")).parse(body),
        "dhl" => Dhl::new(http, base, Secret::new("key")).parse(body),
        "track17" => Track17::new(http, base, Secret::new("key")).parse(body),
        other => panic!("no adapter for corpus directory {other:?}"),
    }
}

fn one<'a>(results: &'a [(String, NumberResult)], number: &str) -> &'a NumberResult {
    results
        .iter()
        .find(|(n, _)| n == number)
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no result for {number:?} in {results:?}"))
}

fn check(carrier: &str, file: &str, want: &Want) -> Result<(), String> {
    let path = format!(
        "{}/tests/corpus/{carrier}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let fail = |what: String| Err(format!("{carrier}/{file}: {what}"));
    if let Push { test } = want {
        return match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(_) => Ok(()),
            Err(e) => fail(format!("not JSON ({e}); read by {test}")),
        };
    }
    let got = parse(carrier, &body);
    match (want, &got) {
        (CallError(k), Err(e)) if kind(e) == *k => Ok(()),
        (CallError(k), _) => fail(format!("want a {k:?} error for the call, got {got:?}")),
        (NumberError(n, k), Ok(results)) => match one(results, n) {
            Err(e) if kind(e) == *k => Ok(()),
            r => fail(format!("want {k:?} for {n:?}, got {r:?}")),
        },
        (
            Track {
                number,
                status,
                events,
                newest,
            },
            Ok(results),
        ) => match one(results, number) {
            Ok(r) => {
                let latest = r
                    .events
                    .iter()
                    .map(|e| e.occurred_at)
                    .max_by_key(|t| t.to_utc())
                    .map(|t| t.to_rfc3339());
                let seen = (r.status, r.events.len(), latest.as_deref());
                if seen == (Some(*status), *events, *newest) {
                    Ok(())
                } else {
                    fail(format!(
                        "want (status, events, newest) = ({status:?}, {events}, {newest:?}), got {seen:?}"
                    ))
                }
            }
            Err(e) => fail(format!("want a result for {number:?}, got {e:?}")),
        },
        (Push { .. }, Ok(_)) => unreachable!("a push is checked above"),
        (_, Err(e)) => fail(format!("want {want:?}, got the call error {e:?}")),
    }
}

#[test]
fn every_corpus_body_reads_as_expected() {
    let failures: Vec<String> = CORPUS
        .iter()
        .filter_map(|(c, f, w)| check(c, f, w).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} corpus bodies misread:\n{}",
        failures.len(),
        CORPUS.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_file_has_an_expectation() {
    let dir = format!("{}/tests/corpus", env!("CARGO_MANIFEST_DIR"));
    let mut on_disk = BTreeSet::new();
    for carrier in std::fs::read_dir(&dir).unwrap() {
        let carrier = carrier.unwrap();
        if !carrier.file_type().unwrap().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(carrier.path()).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                on_disk.insert(format!("{}/{name}", carrier.file_name().to_string_lossy()));
            }
        }
    }
    let listed: BTreeSet<String> = CORPUS.iter().map(|(c, f, _)| format!("{c}/{f}")).collect();
    assert_eq!(
        on_disk, listed,
        "corpus files and the expectation table differ"
    );
}

#[test]
fn every_corpus_body_is_in_sources() {
    let sources = std::fs::read_to_string(format!(
        "{}/tests/corpus/SOURCES.md",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for (c, f, _) in CORPUS {
        assert!(
            sources.contains(&format!("{c}/{f}")),
            "{c}/{f} is not in SOURCES.md"
        );
    }
}
