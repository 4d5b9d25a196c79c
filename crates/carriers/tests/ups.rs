//! The UPS Track adapter against a local mock speaking UPS's documented schema (OAuth 2 client
//! credentials in a Basic header, `GET /api/track/v1/details/{inquiryNumber}`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parceltrail_carriers::http::{Http, Secret};
use parceltrail_carriers::ups::{self, Ups};
use parceltrail_core::carrier::{Carrier, CarrierError, RateLimit, TrackResult};
use parceltrail_core::domain::Status;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{
    basic_auth, bearer_token, body_string, header, header_exists, header_regex, method, path,
    query_param,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_PATH: &str = "/security/v1/oauth/token";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/ups/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn token_body(token: &str) -> ResponseTemplate {
    // UPS sends every field as a string, `expires_in` included.
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "token_type": "Bearer",
        "issued_at": "1773590400000",
        "client_id": "test-id",
        "access_token": token,
        "scope": "",
        "expires_in": "14399",
        "refresh_count": "0",
        "status": "approved"
    }))
}

fn adapter(server: &MockServer) -> Ups {
    Ups::new(
        Http::with_timeout(Duration::from_millis(500)),
        server.uri(),
        "test-id",
        Secret::new("test-secret"),
    )
}

/// The token endpoint as UPS documents it: POST, Basic auth, form body.
fn token_mock(token: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(basic_auth("test-id", "test-secret"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("grant_type=client_credentials"))
        .respond_with(token_body(token))
}

/// The tracking endpoint with every documented header and query parameter required.
fn track_mock(number: &str, token: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/api/track/v1/details/{number}")))
        .and(bearer_token(token))
        .and(header_regex("transId", "^[0-9a-f]{32}$"))
        .and(header("transactionSrc", "parceltrail"))
        .and(query_param("locale", "en_US"))
        .and(query_param("returnSignature", "false"))
        .and(query_param("returnMilestones", "false"))
        .and(query_param("returnPOD", "false"))
}

async fn serve(number: &str, resp: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    token_mock("ups-token-1").mount(&server).await;
    track_mock(number, "ups-token-1")
        .respond_with(resp)
        .mount(&server)
        .await;
    server
}

async fn track(number: &str, resp: ResponseTemplate) -> Result<TrackResult, CarrierError> {
    let server = serve(number, resp).await;
    let out = adapter(&server).track(&[number.to_owned()]).await?;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, number);
    out.into_iter().next().unwrap().1
}

fn json(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

/// Every fixture normalises as the snapshot says, and `parse` (the `carriers parse` path)
/// agrees with what the adapter returns over HTTP for the same body.
#[tokio::test]
async fn fixtures_normalise() {
    for (name, number, status) in [
        ("in_transit", "1Z999AA10123456784", Status::InTransit),
        (
            "out_for_delivery",
            "1Z999AA10123456784",
            Status::OutForDelivery,
        ),
        ("delivered", "1Z999AA10123456784", Status::Delivered),
        ("exception", "1Z999AA10123456795", Status::Exception),
        (
            "failed_attempt",
            "1Z999AA10123456801",
            Status::FailedAttempt,
        ),
        ("pickup", "1Z999AA10123456812", Status::AvailableForPickup),
        ("returned", "1Z999AA10123456823", Status::Returned),
        ("pieces", "1Z999AA10123456845", Status::InTransit),
        ("unknown_code", "1Z999AA10123456856", Status::Unknown),
    ] {
        let body = fixture(name);
        let over_http = track(number, json(body.clone()))
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
async fn history_times_carry_their_offsets() {
    let r = track("1Z999AA10123456784", json(fixture("in_transit")))
        .await
        .unwrap();
    assert_eq!(r.events.len(), 4);
    let times: Vec<String> = r
        .events
        .iter()
        .map(|e| e.occurred_at.to_rfc3339())
        .collect();
    assert_eq!(
        times,
        [
            "2026-03-14T03:15:00-04:00",
            "2026-03-13T22:40:00-04:00",
            "2026-03-13T18:47:00-04:00",
            // No gmt* fields: local time read as UTC.
            "2026-03-12T15:30:00+00:00",
        ]
    );
    assert_eq!(r.events[3].status, Status::InfoReceived);
    assert_eq!(r.events[0].raw_code.as_deref(), Some("I/005/DP"));
    assert_eq!(r.service.as_deref(), Some("UPS Ground"));
    assert_eq!(r.origin.as_ref().unwrap().city.as_deref(), Some("ATLANTA"));
    assert_eq!(
        r.destination.as_ref().unwrap().postal.as_deref(),
        Some("43219")
    );
    // A scheduled date without a time is that whole day.
    let eta = r.eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-16T00:00:00-04:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-16T23:59:59-04:00");
    assert_eq!(eta.observed_at.to_rfc3339(), "2026-03-14T07:15:00+00:00");
}

#[tokio::test]
async fn the_window_signer_and_pieces_are_read() {
    let r = track("1Z999AA10123456784", json(fixture("out_for_delivery")))
        .await
        .unwrap();
    let eta = r.eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-16T12:00:00-04:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-16T16:00:00-04:00");

    let d = track("1Z999AA10123456784", json(fixture("delivered")))
        .await
        .unwrap();
    assert_eq!(d.signed_by.as_deref(), Some("JSMITH"));
    assert_eq!(d.pieces, Some(2));
    assert_eq!(d.eta, None, "a delivered date is not an estimate");

    let p = track("1Z999AA10123456845", json(fixture("pieces")))
        .await
        .unwrap();
    assert_eq!(p.pieces, Some(3), "a numeric string is read");
    let eta = p.eta.unwrap();
    // A commit time: by 10:30 that day.
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-17T00:00:00-04:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-17T10:30:00-04:00");

    // A rescheduled date wins over the scheduled one.
    let f = track("1Z999AA10123456801", json(fixture("failed_attempt")))
        .await
        .unwrap();
    let eta = f.eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-17T00:00:00-04:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-17T19:00:00-04:00");
}

#[tokio::test]
async fn an_unknown_code_keeps_its_raw_code_and_odd_values_are_tolerated() {
    let r = track("1Z999AA10123456856", json(fixture("unknown_code")))
        .await
        .unwrap();
    assert_eq!(
        r.events.len(),
        3,
        "the event without a readable date is dropped"
    );
    assert_eq!(r.events[0].status, Status::Unknown);
    assert_eq!(r.events[0].raw_code.as_deref(), Some("ZZ/999/Q9"));
    assert_eq!(
        r.events[0].occurred_at.to_rfc3339(),
        "2026-03-16T12:00:00-04:00",
        "an unreadable gmtOffset: the offset is local minus GMT"
    );
    assert_eq!(r.events[1].status, Status::Unknown);
    assert_eq!(r.events[1].raw_code.as_deref(), Some("NA//"));
    assert_eq!(r.events[2].status, Status::InTransit, "numbers as numbers");
    assert_eq!(
        r.events[2].occurred_at.to_rfc3339(),
        "2026-03-14T10:15:00+00:00"
    );
    assert_eq!(
        r.events[2].location.country, None,
        "a country name is not a code"
    );
    assert_eq!(r.pieces, None);
    assert_eq!(r.eta, None, "an unknown date type is no estimate");
    assert_eq!(r.service.as_deref(), Some("003"));
}

#[tokio::test]
async fn not_found_in_both_documented_forms() {
    let n = "1Z999AA10123456834";
    let as_404 = track(
        n,
        ResponseTemplate::new(404).set_body_raw(fixture("not_found"), "application/json"),
    )
    .await;
    let expected = Err(CarrierError::NotFound(
        "Tracking Information Not Found (TW0001)".into(),
    ));
    assert_eq!(as_404, expected);
    let as_warning = track(n, json(fixture("not_found_warning"))).await;
    assert_eq!(as_warning, expected);
    let invalid = track(
        n,
        ResponseTemplate::new(400).set_body_raw(fixture("invalid_number"), "application/json"),
    )
    .await;
    assert_eq!(
        invalid,
        Err(CarrierError::NotFound(
            "Invalid inquiry number (TV1002)".into()
        ))
    );
    // Saved bodies parse the same way.
    let server = MockServer::start().await;
    let parsed = adapter(&server)
        .parse(&fixture("not_found_warning"))
        .unwrap();
    assert_eq!(parsed, vec![(n.to_owned(), expected.clone())]);
    assert_eq!(
        adapter(&server).parse(&fixture("not_found")),
        Err(CarrierError::NotFound(
            "Tracking Information Not Found (TW0001)".into()
        ))
    );
    insta::assert_json_snapshot!(
        "not_found",
        serde_json::json!({"error": as_404.unwrap_err().to_string()})
    );
}

#[tokio::test]
async fn a_token_is_fetched_once_and_reused() {
    let server = MockServer::start().await;
    token_mock("ups-token-1").expect(1).mount(&server).await;
    track_mock("1Z999AA10123456784", "ups-token-1")
        .respond_with(json(fixture("in_transit")))
        .expect(2)
        .mount(&server)
        .await;
    let ups = adapter(&server);
    let numbers = ["1Z999AA10123456784".to_owned()];
    ups.track(&numbers).await.unwrap()[0].1.as_ref().unwrap();
    ups.track(&numbers).await.unwrap()[0].1.as_ref().unwrap();
    // Every tracking request has its own transId.
    let ids: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.headers
                .get("transId")
                .map(|v| v.to_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    // Neither the secret nor the token is ever printed.
    let debug = format!("{ups:?}");
    assert!(
        !debug.contains("test-secret") && !debug.contains("ups-token-1"),
        "{debug}"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_refused_token_request_is_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!(
            {"response":{"errors":[{"code":"10401","message":"ClientId is invalid"}]}}
        )))
        .expect(1)
        .mount(&server)
        .await;
    let e = adapter(&server)
        .track(&["1Z999AA10123456784".to_owned()])
        .await
        .unwrap_err();
    assert!(
        matches!(e, CarrierError::Auth(ref m) if m.contains("ClientId is invalid") && !m.contains("test-secret")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_token_expiring_mid_run_is_replaced_once() {
    let server = MockServer::start().await;
    // The first token request gets token 1, the next token 2.
    token_mock("ups-token-1")
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    token_mock("ups-token-2").expect(1).mount(&server).await;
    track_mock("1Z999AA10123456784", "ups-token-1")
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!(
            {"response":{"errors":[{"code":"250002","message":"Invalid Authentication Information."}]}}
        )))
        .expect(1)
        .mount(&server)
        .await;
    track_mock("1Z999AA10123456784", "ups-token-2")
        .respond_with(json(fixture("delivered")))
        .expect(1)
        .mount(&server)
        .await;
    let out = adapter(&server)
        .track(&["1Z999AA10123456784".to_owned()])
        .await
        .unwrap();
    assert_eq!(out[0].1.as_ref().unwrap().status, Some(Status::Delivered));
    server.verify().await;
}

#[tokio::test]
async fn a_second_401_is_an_auth_error_not_a_loop() {
    let server = MockServer::start().await;
    token_mock("ups-token-1").expect(2).mount(&server).await;
    track_mock("1Z999AA10123456784", "ups-token-1")
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!(
            {"response":{"errors":[{"code":"250002","message":"Invalid Authentication Information."}]}}
        )))
        .expect(2)
        .mount(&server)
        .await;
    let e = adapter(&server)
        .track(&["1Z999AA10123456784".to_owned()])
        .await
        .unwrap_err();
    assert!(
        matches!(e, CarrierError::Auth(ref m) if m.contains("Invalid Authentication Information")),
        "{e:?}"
    );
    server.verify().await;
}

async fn whole_call(resp: ResponseTemplate) -> CarrierError {
    let server = serve("1Z999AA10123456784", resp).await;
    adapter(&server)
        .track(&["1Z999AA10123456784".to_owned()])
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_blocked_merchant_is_an_auth_error() {
    let e = whole_call(ResponseTemplate::new(403).set_body_json(serde_json::json!(
        {"response":{"errors":[{"code":"250003","message":"Blocked Merchant"}]}}
    )))
    .await;
    assert!(
        matches!(e, CarrierError::Auth(ref m) if m.contains("Blocked Merchant")),
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
async fn server_errors_are_transient_and_keep_ups_message() {
    let e = whole_call(
        ResponseTemplate::new(503)
            .insert_header("Retry-After", "2")
            .set_body_json(serde_json::json!(
                {"response":{"errors":[{"code":"9999","message":"Service Unavailable"}]}}
            )),
    )
    .await;
    assert!(
        matches!(e, CarrierError::Transient { retry_after: Some(d), ref message }
            if d == Duration::from_secs(2) && message.contains("Service Unavailable")),
        "{e:?}"
    );
    let e = whole_call(ResponseTemplate::new(500)).await;
    assert!(e.is_retryable(), "{e:?}");
}

#[tokio::test]
async fn a_timeout_is_transient() {
    let e = whole_call(ResponseTemplate::new(200).set_delay(Duration::from_secs(3))).await;
    assert!(
        matches!(e, CarrierError::Transient { ref message, .. } if message.contains("timed out")),
        "{e:?}"
    );
}

/// A server that answers the token request and then drops every tracking connection before
/// answering; it counts the dropped tracking requests.
async fn resetting_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let count = dropped.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                if head.starts_with("POST ") && head.contains(TOKEN_PATH) {
                    let body = r#"{"access_token":"ups-token-1","expires_in":"14399","token_type":"Bearer"}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                } else if head.contains("/api/track/v1/details/") {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                drop(sock);
            });
        }
    });
    (format!("http://{addr}"), dropped)
}

#[tokio::test]
async fn a_reset_connection_is_transient() {
    let (base, dropped) = resetting_server().await;
    let ups = Ups::new(
        Http::with_timeout(Duration::from_secs(2)),
        base,
        "test-id",
        Secret::new("test-secret"),
    );
    let e = ups
        .track(&["1Z999AA10123456784".to_owned()])
        .await
        .unwrap_err();
    assert!(matches!(e, CarrierError::Transient { .. }), "{e:?}");
    assert!(
        dropped.load(Ordering::SeqCst) >= 1,
        "the tracking request itself was reset"
    );
}

#[tokio::test]
async fn malformed_json_is_reported() {
    let e = track(
        "1Z999AA10123456784",
        ResponseTemplate::new(200).set_body_raw("{\"trackResponse\": [", "application/json"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("not JSON")),
        "{e:?}"
    );
    let e = track(
        "1Z999AA10123456784",
        ResponseTemplate::new(200).set_body_raw("{\"unexpected\": true}", "application/json"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("trackResponse")),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_html_error_page_is_not_parsed_as_data() {
    let page = "<!DOCTYPE html><html><head><title>Access Denied</title></head><body>Reference #18.5</body></html>";
    for status in [200, 404] {
        let e = track(
            "1Z999AA10123456784",
            ResponseTemplate::new(status).set_body_raw(page, "text/html"),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, CarrierError::Malformed(ref m) if m.contains("HTML")),
            "{status}: {e:?}"
        );
    }
}

#[tokio::test]
async fn a_huge_body_is_refused_not_buffered() {
    let big = common::padded_json(
        "{\"trackResponse\":{\"shipment\":[{\"inquiryNumber\":\"1Z999AA10123456784\",\"pad\":\"",
        "\"}]}}",
    );
    let e = track("1Z999AA10123456784", json(big)).await.unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("larger than")),
        "{e:?}"
    );
}

#[tokio::test]
async fn identity_and_limits() {
    let server = MockServer::start().await;
    let ups = adapter(&server);
    assert_eq!(ups.id(), "ups");
    assert!(ups.serves("ups"));
    assert!(!ups.serves("fedex"));
    assert_eq!(ups.max_batch(), 1);
    assert_eq!(
        ups.rate_limit(),
        RateLimit {
            requests: 10,
            per: Duration::from_secs(1)
        }
    );
    let slow = RateLimit {
        requests: 1,
        per: Duration::from_secs(2),
    };
    assert_eq!(adapter(&server).with_rate_limit(slow).rate_limit(), slow);
    assert_eq!(ups::PRODUCTION, "https://onlinetools.ups.com");
}

/// The documented headers are sent (the mock answers only requests that carry them).
#[tokio::test]
async fn the_required_headers_are_sent() {
    let server = MockServer::start().await;
    token_mock("ups-token-1").mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/track/v1/details/1Z999AA10123456784"))
        .and(header_exists("transId"))
        .and(header("transactionSrc", "parceltrail"))
        .and(header("authorization", "Bearer ups-token-1"))
        .respond_with(json(fixture("in_transit")))
        .expect(1)
        .mount(&server)
        .await;
    let out = adapter(&server)
        .track(&["1Z999AA10123456784".to_owned()])
        .await
        .unwrap();
    assert!(out[0].1.is_ok());
    server.verify().await;
}

#[tokio::test]
async fn a_refusal_echoing_the_credentials_never_shows_them() {
    let (id, secret) = ("ups-client-7f3a9c2e", "ups-secret-Q8v2Lw0pZk4n");
    common::oauth_echo_never_shows_secrets(
        |s| {
            Ups::new(
                Http::with_timeout(Duration::from_millis(500)),
                s.uri(),
                id,
                Secret::new(secret),
            )
        },
        TOKEN_PATH,
        "1Z999AA10123456784",
        id,
        secret,
    )
    .await;
}
