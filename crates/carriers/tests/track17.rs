//! The 17TRACK v2.2 adapter against a local mock speaking 17TRACK's documented schema.

mod common;

use std::time::Duration;

use parceltrail_carriers::http::{Http, Secret};
use parceltrail_carriers::track17::{Track17, WAITING};
use parceltrail_core::carrier::{Carrier, CarrierError, TrackResult};
use parceltrail_core::domain::Status;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/track17/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn json(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

fn adapter(server: &MockServer) -> Track17 {
    Track17::new(
        Http::with_timeout(Duration::from_millis(500)),
        server.uri(),
        Secret::new("test-key"),
    )
}

fn numbers_body(numbers: &[&str]) -> serde_json::Value {
    numbers
        .iter()
        .map(|n| serde_json::json!({ "number": n }))
        .collect()
}

async fn mount(server: &MockServer, endpoint: &str, numbers: &[&str], resp: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(format!("/track/v2.2/{endpoint}")))
        .and(header("17token", "test-key"))
        .and(body_json(numbers_body(numbers)))
        .respond_with(resp)
        .mount(server)
        .await;
}

async fn serve(numbers: &[&str], resp: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    mount(&server, "gettrackinfo", numbers, resp).await;
    // Nothing here may register.
    Mock::given(method("POST"))
        .and(path("/track/v2.2/register"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    server
}

async fn track(number: &str, resp: ResponseTemplate) -> Result<TrackResult, CarrierError> {
    let server = serve(&[number], resp).await;
    let out = adapter(&server).track(&[number.to_owned()]).await?;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, number);
    out.into_iter().next().unwrap().1
}

/// Every fixture normalises as the snapshot says, and `parse` (the `carriers parse` path)
/// agrees with what the adapter returns over HTTP for the same body.
#[tokio::test]
async fn fixtures_normalise() {
    for (name, number, status) in [
        ("in_transit", "RR123456789CN", Status::InTransit),
        (
            "out_for_delivery",
            "YT2612345678901234",
            Status::OutForDelivery,
        ),
        ("delivered", "LP00512345678901", Status::Delivered),
        ("exception", "UB123456785CN", Status::Exception),
        ("failed_attempt", "CY123456789NL", Status::FailedAttempt),
        ("pickup", "RS987654321DE", Status::AvailableForPickup),
        ("returned", "LZ123456789CN", Status::Returned),
        // 17TRACK `NotFound`: no data at the carrier yet, so Pending.
        ("not_found", "EE123456789SE", Status::Pending),
        ("unknown", "ZZ000000001XX", Status::Unknown),
    ] {
        let body = fixture(name);
        let over_http = track(number, json(name))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(over_http.status, Some(status), "{name}");
        let server = MockServer::start().await;
        let parsed = adapter(&server).parse(&body).unwrap();
        assert_eq!(parsed.len(), 1, "{name}");
        assert_eq!(parsed[0].0, number, "{name}");
        assert_eq!(
            parsed[0].1.as_ref().unwrap(),
            &over_http,
            "{name}: parse and track differ"
        );
        insta::assert_json_snapshot!(name, over_http);
    }
}

#[tokio::test]
async fn events_of_every_provider_with_their_offsets() {
    let r = track("RR123456789CN", json("in_transit")).await.unwrap();
    assert_eq!(
        r.events.len(),
        4,
        "the destination's and the origin's events"
    );
    assert_eq!(
        r.events[0].occurred_at.to_rfc3339(),
        "2026-03-11T18:10:00-04:00"
    );
    assert_eq!(
        r.events[1].occurred_at.to_rfc3339(),
        "2026-03-08T23:40:00+08:00"
    );
    assert_eq!(r.events[0].raw_code.as_deref(), Some("InTransit_Arrival"));
    assert_eq!(r.events[3].status, Status::InfoReceived);
    let eta = r.eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-14T00:00:00-04:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-16T00:00:00-04:00");
    assert_eq!(r.service.as_deref(), Some("Registered Mail"));
    assert_eq!(r.origin.unwrap().city.as_deref(), Some("SHENZHEN"));
    assert_eq!(r.destination.unwrap().country.as_deref(), Some("US"));
    assert_eq!(r.pieces, Some(1));
    let d = track("LP00512345678901", json("delivered")).await.unwrap();
    assert_eq!(d.pieces, Some(2), "several pieces");
    assert_eq!(d.eta, None, "null estimates are no estimate");
}

#[tokio::test]
async fn an_unknown_status_keeps_its_raw_code_and_bad_events_are_dropped() {
    let r = track("ZZ000000001XX", json("unknown")).await.unwrap();
    assert_eq!(r.events.len(), 2);
    assert_eq!(r.events[0].status, Status::Unknown);
    assert_eq!(r.events[0].raw_code.as_deref(), Some("Beamed_Up"));
    // No time_iso: time_utc.
    assert_eq!(
        r.events[0].occurred_at.to_rfc3339(),
        "2026-03-12T10:00:00+00:00"
    );
    // time_iso without an offset and no time_utc: read as UTC.
    assert_eq!(
        r.events[1].occurred_at.to_rfc3339(),
        "2026-03-11T08:00:00+00:00"
    );
    assert_eq!(r.events[1].raw_code, None);
    assert_eq!(r.pieces, None);
}

#[tokio::test]
async fn unregistered_numbers_are_registered() {
    let server = MockServer::start().await;
    let asked = ["LB111111111CN", "RR123456789CN", "LB222222222CN"];
    mount(&server, "gettrackinfo", &asked, json("unregistered")).await;
    Mock::given(method("POST"))
        .and(path("/track/v2.2/register"))
        .and(header("17token", "test-key"))
        // Only the unregistered numbers, and no carrier: 17TRACK detects it.
        .and(body_json(serde_json::json!([
            {"number": "LB111111111CN"}, {"number": "LB222222222CN"}
        ])))
        .respond_with(json("register"))
        .expect(1)
        .mount(&server)
        .await;
    let numbers: Vec<String> = asked.iter().map(|n| n.to_string()).collect();
    let out = adapter(&server).track(&numbers).await.unwrap();
    let got: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(got, asked);
    assert_eq!(out[0].1, Err(CarrierError::NotFound(WAITING.into())));
    assert_eq!(out[1].1.as_ref().unwrap().status, Some(Status::InTransit));
    assert!(
        matches!(out[2].1, Err(CarrierError::NotFound(ref m)) if m.contains("identify the carrier")),
        "{:?}",
        out[2].1
    );
    server.verify().await;
    let register = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/track/v2.2/register")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&register.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!([{"number": "LB111111111CN"}, {"number": "LB222222222CN"}])
    );
}

#[tokio::test]
async fn a_failed_registration_is_about_those_numbers_only() {
    let server = MockServer::start().await;
    let asked = ["LB111111111CN", "RR123456789CN", "LB222222222CN"];
    mount(&server, "gettrackinfo", &asked, json("unregistered")).await;
    Mock::given(method("POST"))
        .and(path("/track/v2.2/register"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let numbers: Vec<String> = asked.iter().map(|n| n.to_string()).collect();
    let out = adapter(&server).track(&numbers).await.unwrap();
    assert!(matches!(out[0].1, Err(CarrierError::Transient { .. })));
    assert!(out[1].1.is_ok());
    assert!(matches!(out[2].1, Err(CarrierError::Transient { .. })));
}

#[tokio::test]
async fn a_batch_with_one_failure_answers_in_the_order_asked() {
    let asked = ["RR123456789CN", "12AB", "RS987654321DE"];
    let server = serve(&asked, json("batch")).await;
    let numbers: Vec<String> = asked.iter().map(|n| n.to_string()).collect();
    let out = adapter(&server).track(&numbers).await.unwrap();
    let got: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(got, asked);
    assert_eq!(out[0].1.as_ref().unwrap().status, Some(Status::InTransit));
    assert_eq!(
        out[1].1,
        Err(CarrierError::NotFound(
            "The format of '12AB' is invalid.".into()
        ))
    );
    assert_eq!(out[2].1.as_ref().unwrap().status, Some(Status::Delivered));
}

async fn whole_call(resp: ResponseTemplate) -> CarrierError {
    let server = serve(&["LB111111111CN"], resp).await;
    adapter(&server)
        .track(&["LB111111111CN".to_owned()])
        .await
        .unwrap_err()
}

#[tokio::test]
async fn an_invalid_key_is_an_auth_failure() {
    let e = whole_call(json("invalid_key")).await;
    assert!(
        matches!(e, CarrierError::Auth(ref m) if m.contains("Invalid security key")),
        "{e:?}"
    );
    let e = whole_call(
        ResponseTemplate::new(401).set_body_raw(fixture("invalid_key"), "application/json"),
    )
    .await;
    assert!(matches!(e, CarrierError::Auth(_)), "{e:?}");
    // -18010003 is 17TRACK's internal error, not a key problem.
    let e = whole_call(ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "code": -18010003,
        "data": {"errors": [{"code": -18010003, "message": "Internal service error, please retry later."}]}
    })))
    .await;
    assert!(matches!(e, CarrierError::Transient { .. }), "{e:?}");
    let e = whole_call(ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "code": -18010013, "data": {"errors": [{"code": -18010013, "message": "Submitted data is invalid."}]}
    })))
    .await;
    assert!(matches!(e, CarrierError::Malformed(_)), "{e:?}");
}

#[tokio::test]
async fn an_exhausted_quota_stops_the_call() {
    let e = whole_call(json("quota")).await;
    assert_eq!(e, CarrierError::RateLimited { retry_after: None });
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    let e = whole_call(ResponseTemplate::new(429).insert_header("Retry-After", "1")).await;
    assert_eq!(
        e,
        CarrierError::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }
    );
}

#[tokio::test]
async fn server_errors_are_transient() {
    let e = whole_call(ResponseTemplate::new(503).insert_header("Retry-After", "2")).await;
    assert!(
        matches!(e, CarrierError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(2)),
        "{e:?}"
    );
    let e = whole_call(ResponseTemplate::new(500)).await;
    assert!(matches!(e, CarrierError::Transient { .. }), "{e:?}");
}

#[tokio::test]
async fn a_timeout_is_transient() {
    let e = whole_call(json("in_transit").set_delay(Duration::from_secs(3))).await;
    assert!(
        matches!(e, CarrierError::Transient { ref message, .. } if message.contains("timed out")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_reset_connection_is_transient() {
    let base = common::closing_server().await;
    let t = Track17::new(
        Http::with_timeout(Duration::from_secs(2)),
        base,
        Secret::new("k"),
    );
    let e = t.track(&["RR123456789CN".to_owned()]).await.unwrap_err();
    assert!(matches!(e, CarrierError::Transient { .. }), "{e:?}");
}

#[tokio::test]
async fn malformed_json_is_reported() {
    let e = whole_call(
        ResponseTemplate::new(200).set_body_raw("{\"code\":0,\"data\":{", "application/json"),
    )
    .await;
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("not JSON")),
        "{e:?}"
    );
    let e = whole_call(
        ResponseTemplate::new(200).set_body_raw("{\"unexpected\": true}", "application/json"),
    )
    .await;
    assert!(matches!(e, CarrierError::Malformed(_)), "{e:?}");
}

#[tokio::test]
async fn an_html_error_page_is_not_parsed_as_data() {
    let page =
        "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    for status in [200, 404] {
        let e = whole_call(ResponseTemplate::new(status).set_body_raw(page, "text/html")).await;
        assert!(
            matches!(e, CarrierError::Malformed(ref m) if m.contains("HTML")),
            "{status}: {e:?}"
        );
    }
}

#[tokio::test]
async fn a_huge_body_is_refused_not_buffered() {
    let big = common::padded_json("{\"code\":0,\"data\":{\"accepted\":[],\"pad\":\"", "\"}}");
    let e = whole_call(ResponseTemplate::new(200).set_body_raw(big, "application/json")).await;
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("larger than")),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_adapter_describes_itself() {
    let server = MockServer::start().await;
    let t = adapter(&server);
    assert_eq!(t.id(), "17track");
    for carrier in ["usps", "china-post", "anything-at-all"] {
        assert!(t.serves(carrier), "{carrier}");
    }
    assert_eq!(t.max_batch(), 40);
    assert_eq!(t.rate_limit().requests, 3);
    assert_eq!(t.rate_limit().per, Duration::from_secs(1));
    let asked: Vec<String> = (0..41).map(|i| format!("RR{i:09}CN")).collect();
    assert!(matches!(
        t.track(&asked).await,
        Err(CarrierError::Unsupported(_))
    ));
}

#[tokio::test]
async fn a_refusal_echoing_the_key_never_shows_it() {
    let key = "17tk-9A8B7C6D5E4F3G2H";
    common::key_echo_never_shows_the_key(
        |s| {
            Track17::new(
                Http::with_timeout(Duration::from_millis(500)),
                s.uri(),
                Secret::new(key),
            )
        },
        "LB111111111CN",
        key,
    )
    .await;
}
