//! The USPS adapter (OAuth 2 + Tracking 3.2) against a local mock speaking USPS's documented
//! schema. USPS reports no piece count, so no fixture has several pieces.

mod common;

use std::time::Duration;

use parceltrail_carriers::http::{Http, Secret};
use parceltrail_carriers::usps::Usps;
use parceltrail_core::carrier::{Carrier, CarrierError, TrackResult};
use parceltrail_core::domain::Status;
use wiremock::matchers::{body_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/usps/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn json(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

fn adapter(server: &MockServer) -> Usps {
    Usps::new(
        Http::with_timeout(Duration::from_millis(500)),
        server.uri(),
        "consumer-key",
        Secret::new("consumer-secret"),
    )
}

fn token_body(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": token, "token_type": "Bearer", "expires_in": 28799,
        "issued_at": 1773400000000u64, "status": "approved", "scope": "tracking"
    }))
}

/// A token endpoint that must be called `times` times, answering `token`.
async fn mount_token(server: &MockServer, token: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path("/oauth2/v3/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_id=consumer-key"))
        .and(body_string_contains("client_secret=consumer-secret"))
        .and(body_string_contains("scope=tracking"))
        .respond_with(token_body(token))
        .expect(times)
        .mount(server)
        .await;
}

/// A server with a token and a tracking endpoint for `numbers`.
async fn serve(numbers: &[&str], resp: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    mount_token(&server, "tok-1", 1).await;
    let body: Vec<_> = numbers
        .iter()
        .map(|n| serde_json::json!({ "trackingNumber": n }))
        .collect();
    Mock::given(method("POST"))
        .and(path("/tracking/v3r2/tracking"))
        .and(header("Authorization", "Bearer tok-1"))
        .and(body_json(body))
        .respond_with(resp)
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
        ("in_transit", "9400111120206101234565", Status::InTransit),
        (
            "out_for_delivery",
            "9400111120206101234572",
            Status::OutForDelivery,
        ),
        ("delivered", "9205590164917312751089", Status::Delivered),
        ("exception", "9400111120206101234589", Status::Exception),
        ("alert", "9400111120206101234596", Status::Exception),
        (
            "failed_attempt",
            "9400111120206101234602",
            Status::FailedAttempt,
        ),
        (
            "pickup",
            "9400111120206101234619",
            Status::AvailableForPickup,
        ),
        ("returned", "9400111120206101234626", Status::Returned),
        ("unknown_code", "9400111120206101234633", Status::Unknown),
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
async fn times_carry_the_local_offset() {
    let r = track("9400111120206101234565", json("in_transit"))
        .await
        .unwrap();
    let times: Vec<String> = r
        .events
        .iter()
        .map(|e| e.occurred_at.to_rfc3339())
        .collect();
    assert_eq!(
        times,
        [
            // GMTTimestamp moved to GMTOffset.
            "2026-03-12T21:15:00-04:00",
            "2026-03-12T09:40:00-04:00",
            // eventTimestamp with its own offset.
            "2026-03-11T17:58:00-04:00",
            // "-4:00" without the leading zero.
            "2026-03-11T14:02:00-04:00",
            // Local time and nothing else: read as UTC.
            "2026-03-10T11:32:00+00:00",
        ]
    );
    // A bare expected date is that day in the newest scan's offset.
    let eta = r.eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-14T00:00:00-04:00");
    assert_eq!(eta.latest, eta.earliest);
    assert_eq!(r.events[3].location.country.as_deref(), Some("US"));
    assert_eq!(r.pieces, None, "USPS has no piece count");
}

#[tokio::test]
async fn the_window_and_the_signer_are_read() {
    let r = track("9400111120206101234572", json("out_for_delivery"))
        .await
        .unwrap();
    let eta = r.eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-14T10:45:00-04:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-14T14:45:00-04:00");
    assert_eq!(eta.observed_at.to_rfc3339(), "2026-03-14T11:10:00+00:00");
    assert_eq!(r.service.as_deref(), Some("Priority Mail"));
    let d = track("9205590164917312751089", json("delivered"))
        .await
        .unwrap();
    assert_eq!(d.signed_by.as_deref(), Some("J SMITH"));
    assert_eq!(
        d.destination.unwrap().postal.as_deref(),
        Some("02540"),
        "ZIP codes keep their leading zero"
    );
}

#[tokio::test]
async fn an_unknown_code_keeps_its_raw_code_and_bad_events_are_dropped() {
    let r = track("9400111120206101234633", json("unknown_code"))
        .await
        .unwrap();
    assert_eq!(r.events.len(), 2, "the event without a time is dropped");
    assert_eq!(r.events[0].status, Status::Unknown);
    assert_eq!(r.events[0].raw_code.as_deref(), Some("Q7"));
    assert_eq!(
        r.events[0].occurred_at.to_rfc3339(),
        "2026-03-12T18:00:00-07:00"
    );
    assert_eq!(r.events[1].raw_code, None);
    assert_eq!(
        r.events[1].occurred_at.to_rfc3339(),
        "2026-03-11T00:00:00+00:00"
    );
    // An unknown code under "Alert" is an exception.
    let a = track("9400111120206101234596", json("alert"))
        .await
        .unwrap();
    assert_eq!(a.status, Some(Status::Exception));
    assert_eq!(a.events[0].status, Status::Unknown);
    assert_eq!(a.events[0].raw_code.as_deref(), Some("HC"));
}

/// A saved Tracking 3.0 body (`GET /tracking/v3/tracking/{n}?expand=DETAIL`, one object)
/// still normalises.
#[tokio::test]
async fn a_v3_body_parses() {
    let server = MockServer::start().await;
    let out = adapter(&server)
        .parse(&fixture("v3_out_for_delivery"))
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "9400111120206101234565");
    let r = out[0].1.as_ref().unwrap();
    assert_eq!(r.status, Some(Status::OutForDelivery));
    assert_eq!(
        r.events[0].occurred_at.to_rfc3339(),
        "2025-03-14T07:10:00-05:00"
    );
    assert_eq!(r.events[0].location.postal.as_deref(), Some("34442"));
    assert_eq!(r.origin.as_ref().unwrap().postal.as_deref(), Some("11430"));
    assert_eq!(
        r.eta.as_ref().unwrap().earliest.to_rfc3339(),
        "2025-03-14T21:00:00+00:00"
    );
    insta::assert_json_snapshot!("v3_out_for_delivery", r);
}

#[tokio::test]
async fn not_found_is_per_number() {
    let r = track(
        "9400111120206101239999",
        ResponseTemplate::new(207).set_body_raw(fixture("not_found"), "application/json"),
    )
    .await;
    assert!(
        matches!(r, Err(CarrierError::NotFound(ref m)) if m.contains("may be incorrect")),
        "{r:?}"
    );
    // A whole-call 404 error document: every number asked is not found.
    let r = track(
        "9400111120206101239999",
        ResponseTemplate::new(404).set_body_raw(fixture("error_404"), "application/json"),
    )
    .await;
    assert_eq!(
        r,
        Err(CarrierError::NotFound(
            "No tracking information for the requested tracking number.".into()
        ))
    );
}

#[tokio::test]
async fn a_batch_with_one_failure_answers_in_the_order_asked() {
    let numbers = [
        "9400111120206101234565",
        "9400111120206101239999",
        "9400111120206101234619",
    ];
    let server = serve(
        &numbers,
        ResponseTemplate::new(207).set_body_raw(fixture("batch_207"), "application/json"),
    )
    .await;
    let asked: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
    let out = adapter(&server).track(&asked).await.unwrap();
    let got: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(got, numbers);
    assert_eq!(out[0].1.as_ref().unwrap().status, Some(Status::Delivered));
    assert!(matches!(out[1].1, Err(CarrierError::NotFound(_))));
    assert_eq!(out[2].1.as_ref().unwrap().status, Some(Status::InTransit));
}

#[tokio::test]
async fn the_token_is_requested_once_and_cached() {
    let server = serve(&["9400111120206101234565"], json("in_transit")).await;
    let usps = adapter(&server);
    let asked = ["9400111120206101234565".to_owned()];
    usps.track(&asked).await.unwrap();
    usps.track(&asked).await.unwrap();
    // `.expect(1)` on the token endpoint is checked when the server drops.
    server.verify().await;
}

#[tokio::test]
async fn a_refused_token_is_an_auth_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v3/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client", "error_description": "Client authentication failed"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/tracking/v3r2/tracking"))
        .respond_with(json("in_transit"))
        .expect(0)
        .mount(&server)
        .await;
    let e = adapter(&server)
        .track(&["9400111120206101234565".to_owned()])
        .await
        .unwrap_err();
    assert!(
        matches!(e, CarrierError::Auth(ref m) if m.contains("invalid_client")),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_expired_token_is_renewed_once() {
    let server = MockServer::start().await;
    // The first token is refused by the tracking API; the second works.
    Mock::given(method("POST"))
        .and(path("/oauth2/v3/token"))
        .respond_with(token_body("tok-old"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v3/token"))
        .respond_with(token_body("tok-new"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/tracking/v3r2/tracking"))
        .and(header("Authorization", "Bearer tok-old"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "apiVersion": "/tracking/v3r2",
            "error": {"code": "401", "message": "Unauthorized: expired token"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/tracking/v3r2/tracking"))
        .and(header("Authorization", "Bearer tok-new"))
        .respond_with(json("in_transit"))
        .expect(1)
        .mount(&server)
        .await;
    let out = adapter(&server)
        .track(&["9400111120206101234565".to_owned()])
        .await
        .unwrap();
    assert_eq!(out[0].1.as_ref().unwrap().status, Some(Status::InTransit));
    server.verify().await;
    let tokens = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/oauth2/v3/token")
        .count();
    assert_eq!(tokens, 2);
}

#[tokio::test]
async fn a_second_401_is_an_auth_failure() {
    let server = MockServer::start().await;
    mount_token(&server, "tok-1", 2).await;
    Mock::given(method("POST"))
        .and(path("/tracking/v3r2/tracking"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    let e = adapter(&server)
        .track(&["9400111120206101234565".to_owned()])
        .await
        .unwrap_err();
    assert!(matches!(e, CarrierError::Auth(_)), "{e:?}");
}

async fn whole_call(resp: ResponseTemplate) -> CarrierError {
    let server = serve(&["9400111120206101234565"], resp).await;
    adapter(&server)
        .track(&["9400111120206101234565".to_owned()])
        .await
        .unwrap_err()
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    let e = whole_call(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "30")
            .set_body_json(serde_json::json!({
                "apiVersion": "/tracking/v3r2",
                "error": {"code": "429", "message": "Exceeded quota limit"}
            })),
    )
    .await;
    assert_eq!(
        e,
        CarrierError::RateLimited {
            retry_after: Some(Duration::from_secs(30))
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
    let usps = Usps::new(
        Http::with_timeout(Duration::from_secs(2)),
        base,
        "k",
        Secret::new("s"),
    );
    let e = usps
        .track(&["9400111120206101234565".to_owned()])
        .await
        .unwrap_err();
    assert!(matches!(e, CarrierError::Transient { .. }), "{e:?}");
}

#[tokio::test]
async fn malformed_json_is_reported() {
    let e = whole_call(
        ResponseTemplate::new(200).set_body_raw("[{\"trackingNumber\": ", "application/json"),
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
    let page = "<!DOCTYPE html><html><head><title>Access Denied</title></head><body>Reference #18</body></html>";
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
    let big = common::padded_json(
        "[{\"trackingNumber\":\"9400111120206101234565\",\"pad\":\"",
        "\"}]",
    );
    let e = whole_call(ResponseTemplate::new(200).set_body_raw(big, "application/json")).await;
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("larger than")),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_adapter_describes_itself() {
    let server = MockServer::start().await;
    let usps = adapter(&server);
    assert_eq!(usps.id(), "usps");
    assert!(usps.serves("usps"));
    assert!(!usps.serves("ups"));
    assert_eq!(usps.max_batch(), 35);
    assert_eq!(usps.rate_limit().requests, 60);
    assert_eq!(usps.rate_limit().per, Duration::from_secs(3600));
    let asked: Vec<String> = (0..36)
        .map(|i| format!("94001111202061012345{i:02}"))
        .collect();
    assert!(matches!(
        usps.track(&asked).await,
        Err(CarrierError::Unsupported(_))
    ));
}

#[tokio::test]
async fn a_refusal_echoing_the_credentials_never_shows_them() {
    let (id, secret) = ("usps-consumer-key-4e5f6a", "usps secret&Lw0pZk4n");
    common::oauth_echo_never_shows_secrets(
        |s| {
            Usps::new(
                Http::with_timeout(Duration::from_millis(500)),
                s.uri(),
                id,
                Secret::new(secret),
            )
        },
        "/oauth2/v3/token",
        "9400111120206101234565",
        id,
        secret,
    )
    .await;
}
