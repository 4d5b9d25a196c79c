//! The DHL Unified adapter against a local mock speaking DHL's documented schema.

mod common;

use std::time::Duration;

use parceltrail_carriers::Dhl;
use parceltrail_carriers::http::{Http, Secret};
use parceltrail_core::carrier::{Carrier, CarrierError};
use parceltrail_core::domain::Status;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/dhl/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn adapter(server: &MockServer) -> Dhl {
    Dhl::new(
        Http::with_timeout(Duration::from_millis(500)),
        server.uri(),
        Secret::new("test-key"),
    )
}

async fn serve(number: &str, resp: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/track/shipments"))
        .and(query_param("trackingNumber", number))
        .and(header("DHL-API-Key", "test-key"))
        .respond_with(resp)
        .mount(&server)
        .await;
    server
}

async fn track(
    number: &str,
    resp: ResponseTemplate,
) -> Result<parceltrail_core::carrier::TrackResult, CarrierError> {
    let server = serve(number, resp).await;
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
        ("in_transit", "3318810025", Status::InTransit),
        (
            "out_for_delivery",
            "00340434292135100186",
            Status::OutForDelivery,
        ),
        ("delivered", "3318810025", Status::Delivered),
        ("exception", "3318810036", Status::Exception),
        (
            "failed_attempt",
            "00340434292135100193",
            Status::FailedAttempt,
        ),
        ("pickup", "00340434292135100209", Status::AvailableForPickup),
        ("returned", "00340434292135100216", Status::Returned),
        ("odd_values", "JJD000390007827106", Status::Unknown),
    ] {
        let body = fixture(name);
        let over_http = track(
            number,
            ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json"),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(over_http.status, Some(status), "{name}");
        let server = MockServer::start().await;
        let parsed = adapter(&server).parse(&body).unwrap();
        assert_eq!(
            parsed[0].1.as_ref().unwrap(),
            &over_http,
            "{name}: parse and track differ"
        );
        insta::assert_json_snapshot!(name, over_http);
    }
}

#[tokio::test]
async fn the_window_signer_and_pieces_are_read() {
    let r = track(
        "3318810025",
        ResponseTemplate::new(200).set_body_raw(fixture("in_transit"), "application/json"),
    )
    .await
    .unwrap();
    let eta = r.eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-14T12:00:00+01:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-14T16:00:00+01:00");
    assert_eq!(r.events.len(), 4);
    assert_eq!(r.service.as_deref(), Some("DHL EXPRESS WORLDWIDE"));
    let d = track(
        "3318810025",
        ResponseTemplate::new(200).set_body_raw(fixture("delivered"), "application/json"),
    )
    .await
    .unwrap();
    assert_eq!(d.signed_by.as_deref(), Some("K. MUELLER"));
    assert_eq!(d.pieces, Some(2));
}

#[tokio::test]
async fn an_unknown_code_keeps_its_raw_code_and_bad_events_are_dropped() {
    let r = track(
        "JJD000390007827106",
        ResponseTemplate::new(200).set_body_raw(fixture("odd_values"), "application/json"),
    )
    .await
    .unwrap();
    assert_eq!(r.events.len(), 2);
    assert_eq!(r.events[0].status, Status::Unknown);
    assert_eq!(r.events[0].raw_code.as_deref(), Some("teleported"));
    assert_eq!(
        r.events[1].status,
        Status::InTransit,
        "codes are case-insensitive"
    );
    assert_eq!(
        r.events[1].occurred_at.to_rfc3339(),
        "2026-03-17T10:00:00+00:00"
    );
    assert_eq!(r.pieces, Some(3));
}

#[tokio::test]
async fn not_found_is_per_number() {
    let r = track(
        "8264715546",
        ResponseTemplate::new(404).set_body_raw(fixture("not_found"), "application/problem+json"),
    )
    .await;
    assert_eq!(
        r,
        Err(CarrierError::NotFound(
            "No shipment with given tracking number found.".into()
        ))
    );
}

async fn whole_call(resp: ResponseTemplate) -> CarrierError {
    let server = serve("3318810025", resp).await;
    adapter(&server)
        .track(&["3318810025".to_owned()])
        .await
        .unwrap_err()
}

#[tokio::test]
async fn auth_failure() {
    let e = whole_call(ResponseTemplate::new(401).set_body_raw(
        r#"{"title":"Unauthorized","status":401,"detail":"Invalid API key"}"#,
        "application/problem+json",
    ))
    .await;
    assert!(
        matches!(e, CarrierError::Auth(ref m) if m.contains("Invalid API key")),
        "{e:?}"
    );
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    let e = whole_call(ResponseTemplate::new(429).insert_header("Retry-After", "7")).await;
    assert_eq!(
        e,
        CarrierError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn server_errors_are_transient() {
    let e = whole_call(ResponseTemplate::new(503).insert_header("Retry-After", "2")).await;
    assert!(
        matches!(e, CarrierError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(2)),
        "{e:?}"
    );
    let e = whole_call(ResponseTemplate::new(500)).await;
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_timeout_is_transient() {
    let e = whole_call(ResponseTemplate::new(200).set_delay(Duration::from_secs(3))).await;
    assert!(
        matches!(e, CarrierError::Transient { ref message, .. } if message.contains("timed out")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_reset_connection_is_transient() {
    let base = common::closing_server().await;
    let dhl = Dhl::new(
        Http::with_timeout(Duration::from_secs(2)),
        base,
        Secret::new("k"),
    );
    let e = dhl.track(&["3318810025".to_owned()]).await.unwrap_err();
    assert!(matches!(e, CarrierError::Transient { .. }), "{e:?}");
}

#[tokio::test]
async fn malformed_json_is_reported() {
    let e = track(
        "3318810025",
        ResponseTemplate::new(200).set_body_raw("{\"shipments\": [", "application/json"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("not JSON")),
        "{e:?}"
    );
    let e = track(
        "3318810025",
        ResponseTemplate::new(200).set_body_raw("{\"unexpected\": true}", "application/json"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("shipments")),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_html_error_page_is_not_parsed_as_data() {
    let page = "<!DOCTYPE html><html><head><title>Gateway</title></head><body>Service unavailable</body></html>";
    let e = track(
        "3318810025",
        ResponseTemplate::new(200).set_body_raw(page, "text/html"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("HTML")),
        "{e:?}"
    );
    let e = track(
        "3318810025",
        ResponseTemplate::new(404).set_body_raw(page, "text/html"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("HTML")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_huge_body_is_refused_not_buffered() {
    let big = common::padded_json(
        "{\"shipments\":[{\"id\":\"3318810025\",\"events\":[], \"pad\":\"",
        "\"}]}",
    );
    let e = track(
        "3318810025",
        ResponseTemplate::new(200).set_body_raw(big, "application/json"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("larger than")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_refusal_echoing_the_key_never_shows_it() {
    let key = "dhl-Zk4nQ8v2Lw0pXb7R";
    common::key_echo_never_shows_the_key(
        |s| {
            Dhl::new(
                Http::with_timeout(Duration::from_millis(500)),
                s.uri(),
                Secret::new(key),
            )
        },
        "3318810025",
        key,
    )
    .await;
}
