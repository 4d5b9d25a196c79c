//! The FedEx Track adapter against a local mock speaking FedEx's documented schema (OAuth 2
//! client credentials in the form body, `POST /track/v1/trackingnumbers`, batches of 30).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parceltrail_carriers::fedex::{self, Fedex};
use parceltrail_carriers::http::{Http, Secret};
use parceltrail_core::carrier::{Carrier, CarrierError, RateLimit, TrackResult};
use parceltrail_core::domain::Status;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{
    bearer_token, body_json, body_string, header, header_exists, method, path,
};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const TOKEN_PATH: &str = "/oauth/token";
const TRACK_PATH: &str = "/track/v1/trackingnumbers";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/fedex/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn adapter(server: &MockServer) -> Fedex {
    Fedex::new(
        Http::with_timeout(Duration::from_millis(500)),
        server.uri(),
        "test-id",
        Secret::new("test-secret"),
    )
}

/// The token endpoint as FedEx documents it: POST, credentials in the form body.
fn token_mock(token: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(
            "grant_type=client_credentials&client_id=test-id&client_secret=test-secret",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": 3599,
            "scope": "CXS"
        })))
}

fn request_body(numbers: &[&str]) -> serde_json::Value {
    json!({
        "includeDetailedScans": true,
        "trackingInfo": numbers
            .iter()
            .map(|n| json!({"trackingNumberInfo": {"trackingNumber": n}}))
            .collect::<Vec<_>>(),
    })
}

/// The tracking endpoint with the documented headers and the exact request body required.
fn track_mock(numbers: &[&str], token: &str) -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(TRACK_PATH))
        .and(bearer_token(token))
        .and(header("content-type", "application/json"))
        .and(header("x-locale", "en_US"))
        .and(header_exists("x-customer-transaction-id"))
        .and(body_json(request_body(numbers)))
}

async fn serve(numbers: &[&str], resp: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    token_mock("fedex-token-1").mount(&server).await;
    track_mock(numbers, "fedex-token-1")
        .respond_with(resp)
        .mount(&server)
        .await;
    server
}

fn owned(numbers: &[&str]) -> Vec<String> {
    numbers.iter().map(|n| (*n).to_owned()).collect()
}

async fn track(number: &str, resp: ResponseTemplate) -> Result<TrackResult, CarrierError> {
    let server = serve(&[number], resp).await;
    let out = adapter(&server).track(&owned(&[number])).await?;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, number);
    out.into_iter().next().unwrap().1
}

fn json_body(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

/// Every fixture normalises as the snapshot says, and `parse` (the `carriers parse` path)
/// agrees with what the adapter returns over HTTP for the same body.
#[tokio::test]
async fn fixtures_normalise() {
    for (name, number, status) in [
        ("in_transit", "123456789012", Status::InTransit),
        (
            "out_for_delivery",
            "231300687629630",
            Status::OutForDelivery,
        ),
        ("delivered", "122816215025810", Status::Delivered),
        ("exception", "794843185271", Status::Exception),
        ("failed_attempt", "794843185282", Status::FailedAttempt),
        ("pickup", "843119172384577", Status::AvailableForPickup),
        ("returned", "076288115212522", Status::Returned),
        ("pieces", "794843185293", Status::InTransit),
        ("unknown_code", "794843185304", Status::Unknown),
        ("duplicate", "713062653486", Status::InTransit),
    ] {
        let body = fixture(name);
        let over_http = track(number, json_body(body.clone()))
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
async fn history_addresses_and_estimates_are_read() {
    let r = track("123456789012", json_body(fixture("in_transit")))
        .await
        .unwrap();
    assert_eq!(r.events.len(), 5);
    assert_eq!(
        r.events[1].occurred_at.to_rfc3339(),
        "2026-03-13T22:40:00-06:00"
    );
    assert_eq!(r.events[1].raw_code.as_deref(), Some("DP"));
    assert_eq!(r.events[4].status, Status::InfoReceived);
    assert_eq!(r.service.as_deref(), Some("FedEx Ground"));
    assert_eq!(r.origin.as_ref().unwrap().city.as_deref(), Some("MEMPHIS"));
    assert_eq!(
        r.destination.as_ref().unwrap().postal.as_deref(),
        Some("89502")
    );
    assert_eq!(r.pieces, Some(1));
    // An empty window: the estimated delivery date (a day-level value) is that whole day.
    let eta = r.eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-17T00:00:00-07:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-17T23:59:59-07:00");
    assert_eq!(eta.observed_at.to_rfc3339(), "2026-03-14T12:12:00+00:00");
}

#[tokio::test]
async fn the_window_signer_and_pieces_are_read() {
    let r = track("231300687629630", json_body(fixture("out_for_delivery")))
        .await
        .unwrap();
    let eta = r.eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-17T09:00:00-07:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-17T13:00:00-07:00");

    let d = track("122816215025810", json_body(fixture("delivered")))
        .await
        .unwrap();
    assert_eq!(
        d.signed_by.as_deref(),
        Some("Receiver"),
        "empty signedByName skipped"
    );
    assert_eq!(d.pieces, Some(2));
    assert_eq!(d.eta, None);
    assert_eq!(d.origin.as_ref().unwrap().city.as_deref(), Some("MEMPHIS"));
    assert_eq!(
        d.destination.as_ref().unwrap().city.as_deref(),
        Some("Norton")
    );

    let p = track("794843185293", json_body(fixture("pieces")))
        .await
        .unwrap();
    assert_eq!(p.pieces, Some(3));
    let eta = p.eta.unwrap();
    assert_eq!(
        eta.earliest, eta.latest,
        "a window with only an end is a point"
    );
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-20T20:00:00-05:00");

    // Only a standard transit window (day level).
    let x = track("794843185271", json_body(fixture("exception")))
        .await
        .unwrap();
    let eta = x.eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-18T00:00:00-05:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-18T23:59:59-05:00");
}

#[tokio::test]
async fn codes_win_over_derived_codes_and_reasons_split_delivery_exceptions() {
    let x = track("794843185271", json_body(fixture("exception")))
        .await
        .unwrap();
    assert_eq!(x.status, Some(Status::Exception), "DE with a wrong address");
    let fd = &x.events[2];
    assert_eq!(fd.raw_code.as_deref(), Some("FD"));
    assert_eq!(fd.status, Status::InTransit, "FD, not its derived RL");
    assert_eq!(
        x.events[0].description,
        "Delivery exception: Incorrect address - Street number"
    );

    let a = track("794843185282", json_body(fixture("failed_attempt")))
        .await
        .unwrap();
    assert_eq!(a.status, Some(Status::FailedAttempt));
    assert_eq!(a.events[0].status, Status::FailedAttempt);
    assert_eq!(a.events[0].raw_code.as_deref(), Some("DE"));
}

#[tokio::test]
async fn an_unknown_code_keeps_its_raw_code_and_odd_values_are_tolerated() {
    let r = track("794843185304", json_body(fixture("unknown_code")))
        .await
        .unwrap();
    assert_eq!(r.status, Some(Status::Unknown));
    assert_eq!(
        r.events.len(),
        3,
        "events without a readable date are dropped"
    );
    assert_eq!(r.events[0].status, Status::Unknown);
    assert_eq!(r.events[0].raw_code.as_deref(), Some("ZQ"));
    assert_eq!(r.events[0].location.country.as_deref(), Some("FR"));
    assert_eq!(
        r.events[1].status,
        Status::InTransit,
        "unknown code, known derived code"
    );
    assert_eq!(r.events[1].raw_code.as_deref(), Some("XR"));
    assert_eq!(r.events[2].status, Status::Unknown);
    assert_eq!(r.events[2].raw_code, None);
    assert_eq!(
        r.events[2].occurred_at.to_rfc3339(),
        "2026-03-15T22:00:00+00:00"
    );
    assert_eq!(r.pieces, None);
    assert_eq!(r.eta, None);
}

#[tokio::test]
async fn duplicate_results_pick_the_newest_scan() {
    let r = track("713062653486", json_body(fixture("duplicate")))
        .await
        .unwrap();
    assert_eq!(r.status, Some(Status::InTransit));
    assert_eq!(r.events.len(), 2);
    assert_eq!(
        r.events[0].occurred_at.to_rfc3339(),
        "2026-03-16T05:00:00-05:00"
    );
}

#[tokio::test]
async fn not_found_is_per_number() {
    let r = track("999999999999", json_body(fixture("not_found"))).await;
    assert_eq!(
        r,
        Err(CarrierError::NotFound(
            "Tracking number cannot be found. Please correct the tracking number and try again. (TRACKING.TRACKINGNUMBER.NOTFOUND)".into()
        ))
    );
    insta::assert_json_snapshot!("not_found", json!({"error": r.unwrap_err().to_string()}));
}

#[tokio::test]
async fn a_batch_answers_every_number_in_the_order_asked() {
    // Asked in another order than FedEx answers.
    let asked = ["999999999999", "122816215025810", "231300687629630"];
    let server = serve(&asked, json_body(fixture("batch"))).await;
    let fedex = adapter(&server);
    let out = fedex.track(&owned(&asked)).await.unwrap();
    let numbers: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(numbers, asked);
    assert!(
        matches!(out[0].1, Err(CarrierError::NotFound(_))),
        "{:?}",
        out[0].1
    );
    let delivered = out[1].1.as_ref().unwrap();
    assert_eq!(delivered.status, Some(Status::Delivered));
    assert_eq!(delivered.signed_by.as_deref(), Some("M.JONES"));
    assert_eq!(
        out[2].1.as_ref().unwrap().status,
        Some(Status::OutForDelivery)
    );
    // One request for the whole batch.
    let tracking = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == TRACK_PATH)
        .count();
    assert_eq!(tracking, 1);
    // parse gives the same results, in the body's order.
    let parsed = fedex.parse(&fixture("batch")).unwrap();
    assert_eq!(parsed.len(), 3);
    assert_eq!(parsed[0].0, "231300687629630");
    assert_eq!(&parsed[0].1, &out[2].1);
    assert_eq!(&parsed[1].1, &out[1].1);
    assert_eq!(&parsed[2].1, &out[0].1);
    let summary: Vec<serde_json::Value> = out
        .iter()
        .map(|(n, r)| match r {
            Ok(t) => json!({"number": n, "status": t.status, "events": t.events.len()}),
            Err(e) => json!({"number": n, "error": e.to_string()}),
        })
        .collect();
    insta::assert_json_snapshot!("batch", summary);
}

#[tokio::test]
async fn a_number_missing_from_the_answer_is_malformed_for_that_number() {
    let asked = [
        "231300687629630",
        "122816215025810",
        "999999999999",
        "111111111111",
    ];
    let server = serve(&asked, json_body(fixture("batch"))).await;
    let out = adapter(&server).track(&owned(&asked)).await.unwrap();
    assert_eq!(out.len(), 4);
    assert!(out[0].1.is_ok() && out[1].1.is_ok());
    assert!(matches!(out[2].1, Err(CarrierError::NotFound(_))));
    assert_eq!(out[3].0, "111111111111");
    assert!(
        matches!(out[3].1, Err(CarrierError::Malformed(ref m)) if m.contains("does not mention")),
        "{:?}",
        out[3].1
    );
}

#[tokio::test]
async fn more_than_thirty_numbers_are_refused_before_any_request() {
    let server = MockServer::start().await;
    let many: Vec<String> = (0..31).map(|i| format!("7948431852{i:02}")).collect();
    let e = adapter(&server).track(&many).await.unwrap_err();
    assert!(matches!(e, CarrierError::Unsupported(_)), "{e:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
    assert!(adapter(&server).track(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_token_is_fetched_once_and_reused() {
    let server = MockServer::start().await;
    token_mock("fedex-token-1").expect(1).mount(&server).await;
    track_mock(&["123456789012"], "fedex-token-1")
        .respond_with(json_body(fixture("in_transit")))
        .expect(2)
        .mount(&server)
        .await;
    let fedex = adapter(&server);
    for _ in 0..2 {
        let out = fedex.track(&owned(&["123456789012"])).await.unwrap();
        assert!(out[0].1.is_ok());
    }
    // The credentials go in the form body, not a Basic header.
    let requests = server.received_requests().await.unwrap();
    let token_req = requests
        .iter()
        .find(|r| r.url.path() == TOKEN_PATH)
        .unwrap();
    assert!(!token_req.headers.contains_key("authorization"));
    // Every tracking request has its own transaction id.
    let ids: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.headers.get("x-customer-transaction-id"))
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    let debug = format!("{fedex:?}");
    assert!(
        !debug.contains("test-secret") && !debug.contains("fedex-token-1"),
        "{debug}"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_refused_token_request_is_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "transactionId": "t-1",
            "errors": [{"code": "NOT.AUTHORIZED.ERROR",
                        "message": "The given client credentials were not valid. Please modify your request and try again."}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = adapter(&server)
        .track(&owned(&["123456789012"]))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CarrierError::Auth(ref m) if m.contains("NOT.AUTHORIZED.ERROR") && !m.contains("test-secret")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_token_expiring_mid_run_is_replaced_once() {
    let server = MockServer::start().await;
    token_mock("fedex-token-1")
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    token_mock("fedex-token-2").expect(1).mount(&server).await;
    track_mock(&["122816215025810"], "fedex-token-1")
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "transactionId": "t-2",
            "errors": [{"code": "NOT.AUTHORIZED.ERROR", "message": "The given JWT is expired."}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    track_mock(&["122816215025810"], "fedex-token-2")
        .respond_with(json_body(fixture("delivered")))
        .expect(1)
        .mount(&server)
        .await;
    let out = adapter(&server)
        .track(&owned(&["122816215025810"]))
        .await
        .unwrap();
    assert_eq!(out[0].1.as_ref().unwrap().status, Some(Status::Delivered));
    server.verify().await;
}

#[tokio::test]
async fn a_second_401_is_an_auth_error_not_a_loop() {
    let server = MockServer::start().await;
    token_mock("fedex-token-1").expect(2).mount(&server).await;
    track_mock(&["122816215025810"], "fedex-token-1")
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "errors": [{"code": "NOT.AUTHORIZED.ERROR", "message": "The given JWT is invalid."}]
        })))
        .expect(2)
        .mount(&server)
        .await;
    let e = adapter(&server)
        .track(&owned(&["122816215025810"]))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CarrierError::Auth(ref m) if m.contains("NOT.AUTHORIZED.ERROR")),
        "{e:?}"
    );
    server.verify().await;
}

async fn whole_call(resp: ResponseTemplate) -> CarrierError {
    let server = serve(&["123456789012"], resp).await;
    adapter(&server)
        .track(&owned(&["123456789012"]))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    let e = whole_call(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "9")
            .set_body_json(json!({"errors":[{"code":"RATE.LIMIT.EXCEEDED","message":"We have received too many requests in a short duration."}]})),
    )
    .await;
    assert_eq!(
        e,
        CarrierError::RateLimited {
            retry_after: Some(Duration::from_secs(9))
        }
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn server_errors_are_transient_and_keep_fedex_message() {
    let e = whole_call(
        ResponseTemplate::new(503)
            .insert_header("Retry-After", "2")
            .set_body_json(json!({"transactionId":"t-3","errors":[{"code":"SERVICE.UNAVAILABLE.ERROR","message":"The service is currently unavailable."}]})),
    )
    .await;
    assert!(
        matches!(e, CarrierError::Transient { retry_after: Some(d), ref message }
            if d == Duration::from_secs(2) && message.contains("SERVICE.UNAVAILABLE.ERROR")),
        "{e:?}"
    );
    let e = whole_call(ResponseTemplate::new(500)).await;
    assert!(e.is_retryable(), "{e:?}");
}

#[tokio::test]
async fn a_rejected_request_says_why() {
    let e = whole_call(
        ResponseTemplate::new(400).set_body_raw(fixture("error_empty"), "application/json"),
    )
    .await;
    assert!(
        matches!(e, CarrierError::Malformed(ref m)
            if m.contains("HTTP 400") && m.contains("TRACKING.TRACKINGNUMBER.EMPTY")),
        "{e:?}"
    );
    let server = MockServer::start().await;
    assert!(matches!(
        adapter(&server).parse(&fixture("error_empty")),
        Err(CarrierError::Malformed(_))
    ));
}

#[tokio::test]
async fn a_top_level_not_found_is_per_number() {
    let server = serve(
        &["999999999999"],
        ResponseTemplate::new(404).set_body_json(json!({"transactionId":"t-4","errors":[
            {"code":"TRACKING.TRACKINGNUMBER.NOTFOUND","message":"Tracking number cannot be found."}]})),
    )
    .await;
    let out = adapter(&server)
        .track(&owned(&["999999999999"]))
        .await
        .unwrap();
    assert!(
        matches!(out[0].1, Err(CarrierError::NotFound(_))),
        "{:?}",
        out[0].1
    );
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
                if head.starts_with(&format!("POST {TOKEN_PATH} ")) {
                    let body = r#"{"access_token":"fedex-token-1","token_type":"bearer","expires_in":3599,"scope":"CXS"}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                } else if head.contains(TRACK_PATH) {
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
    let fedex = Fedex::new(
        Http::with_timeout(Duration::from_secs(2)),
        base,
        "test-id",
        Secret::new("test-secret"),
    );
    let e = fedex.track(&owned(&["123456789012"])).await.unwrap_err();
    assert!(matches!(e, CarrierError::Transient { .. }), "{e:?}");
    assert!(
        dropped.load(Ordering::SeqCst) >= 1,
        "the tracking request itself was reset"
    );
}

#[tokio::test]
async fn malformed_json_is_reported() {
    let e = track(
        "123456789012",
        ResponseTemplate::new(200).set_body_raw("{\"output\": {", "application/json"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("not JSON")),
        "{e:?}"
    );
    let e = track(
        "123456789012",
        ResponseTemplate::new(200).set_body_raw("{\"output\": {}}", "application/json"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("completeTrackResults")),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_html_error_page_is_not_parsed_as_data() {
    let page = "<html><head><title>502 Bad Gateway</title></head><body>Akamai</body></html>";
    let e = track(
        "123456789012",
        ResponseTemplate::new(200).set_body_raw(page, "text/html"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("HTML")),
        "{e:?}"
    );
    let e = track(
        "123456789012",
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
        "{\"output\":{\"completeTrackResults\":[],\"pad\":\"",
        "\"}}",
    );
    let e = track("123456789012", json_body(big)).await.unwrap_err();
    assert!(
        matches!(e, CarrierError::Malformed(ref m) if m.contains("larger than")),
        "{e:?}"
    );
}

#[tokio::test]
async fn identity_and_limits() {
    let server = MockServer::start().await;
    let f = adapter(&server);
    assert_eq!(f.id(), "fedex");
    assert!(f.serves("fedex"));
    assert!(!f.serves("ups"));
    assert_eq!(f.max_batch(), 30);
    assert_eq!(
        f.rate_limit(),
        RateLimit {
            requests: 1400,
            per: Duration::from_secs(10)
        }
    );
    let slow = RateLimit {
        requests: 1,
        per: Duration::from_secs(1),
    };
    assert_eq!(adapter(&server).with_rate_limit(slow).rate_limit(), slow);
    assert_eq!(fedex::PRODUCTION, "https://apis.fedex.com");
}

/// The documented headers and body are sent (the mock answers only requests that carry
/// them).
#[tokio::test]
async fn the_required_headers_are_sent() {
    let server = MockServer::start().await;
    token_mock("fedex-token-1").mount(&server).await;
    Mock::given(method("POST"))
        .and(path(TRACK_PATH))
        .and(header("content-type", "application/json"))
        .and(header("authorization", "Bearer fedex-token-1"))
        .and(header("x-locale", "en_US"))
        .and(header_exists("x-customer-transaction-id"))
        .and(body_json(request_body(&["123456789012"])))
        .respond_with(json_body(fixture("in_transit")))
        .expect(1)
        .mount(&server)
        .await;
    let out = adapter(&server)
        .track(&owned(&["123456789012"]))
        .await
        .unwrap();
    assert!(out[0].1.is_ok());
    server.verify().await;
}

#[tokio::test]
async fn a_refusal_echoing_the_credentials_never_shows_them() {
    let (id, secret) = ("l7fedexkey0a1b2c3d4e", "fedex/secret+Zk4n=Q8v");
    common::oauth_echo_never_shows_secrets(
        |s| {
            Fedex::new(
                Http::with_timeout(Duration::from_millis(500)),
                s.uri(),
                id,
                Secret::new(secret),
            )
        },
        TOKEN_PATH,
        "123456789012",
        id,
        secret,
    )
    .await;
}
