//! Signatures of each source, bodies in each sender's documented shape (samples in
//! `tests/data/hooks/`), refusals and their words, and the 17TRACK push/poll identity.

use chrono::{DateTime, Duration, Utc};
use parceltrail_core::carrier::Carrier;
use parceltrail_core::domain::{Source, Status};
use proptest::prelude::*;

use super::*;

const T17_UPDATED: &[u8] = include_bytes!("../../tests/data/hooks/17track_tracking_updated.json");
const T17_STOPPED: &[u8] = include_bytes!("../../tests/data/hooks/17track_tracking_stopped.json");
const AFTERSHIP: &[u8] = include_bytes!("../../tests/data/hooks/aftership_tracking_update.json");
const STANDARD_ONE: &[u8] = include_bytes!("../../tests/data/hooks/standard_single.json");
const STANDARD_BATCH: &[u8] = include_bytes!("../../tests/data/hooks/standard_batch.json");

const T17_KEY: &str = "17TRACK-KEY-0123456789ABCDEF";
const AS_SECRET: &str = "aftership webhook secret";
/// Standard Webhooks' published test secret.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> DateTime<Utc> {
    "2026-03-14T12:50:00Z".parse().unwrap()
}

fn sha_sign(body: &[u8], key: &str) -> String {
    use sha2::Digest;
    let mut b = body.to_vec();
    b.push(b'/');
    b.extend_from_slice(key.as_bytes());
    hex::encode(sha2::Sha256::digest(&b))
}

fn as_sign(body: &[u8], secret: &str) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

fn std_headers(id: &str, ts: i64, sig: &str) -> Vec<(String, String)> {
    vec![
        ("Webhook-Id".into(), id.into()),
        ("Webhook-Timestamp".into(), ts.to_string()),
        ("Webhook-Signature".into(), sig.into()),
    ]
}

fn malformed(r: Result<Vec<Push>, HookError>) -> String {
    match r {
        Err(HookError::Malformed { what }) => what,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn sources_have_stable_names() {
    for s in HookSource::ALL {
        assert_eq!(s.as_str().parse::<HookSource>().unwrap(), s);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.as_str())
        );
        assert_eq!(
            serde_json::from_str::<HookSource>(&format!("\"{s}\"")).unwrap(),
            s
        );
    }
    let e = "shopify".parse::<HookSource>().unwrap_err().to_string();
    assert_eq!(
        e,
        "\"shopify\" is not a webhook source: use 17track, aftership or standard"
    );
    assert!("17TRACK".parse::<HookSource>().is_err());
}

#[test]
fn track17_signatures() {
    let body = T17_UPDATED;
    let sign = sha_sign(body, T17_KEY);
    let v = verify(
        HookSource::Track17,
        T17_KEY,
        &[("sign", sign.as_str())],
        body,
        now(),
    )
    .unwrap();
    assert_eq!(v.source, HookSource::Track17);
    assert_eq!(v.message_id, None);
    // Upper-case hex and a header name in another case are the same signature.
    let upper = sign.to_uppercase();
    verify(
        HookSource::Track17,
        T17_KEY,
        &[("Sign", upper.as_str())],
        body,
        now(),
    )
    .unwrap();
    // Missing, wrong, for another body, with another key: refused, as auth failures.
    let e = verify(
        HookSource::Track17,
        T17_KEY,
        &[("x-sign", sign.as_str())],
        body,
        now(),
    )
    .unwrap_err();
    assert!(
        matches!(e, HookError::MissingSignature { header: "sign" }),
        "{e}"
    );
    assert!(e.is_auth_failure());
    for (key, body) in [("another key", body), (T17_KEY, &body[..body.len() - 1])] {
        let e = verify(
            HookSource::Track17,
            key,
            &[("sign", sign.as_str())],
            body,
            now(),
        )
        .unwrap_err();
        assert!(matches!(e, HookError::BadSignature), "{e}");
        assert!(e.is_auth_failure());
    }
    // It is SHA-256 of body + "/" + key, not an HMAC.
    let hmac_hex = {
        use hmac::{KeyInit, Mac};
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(T17_KEY.as_bytes()).unwrap();
        m.update(body);
        hex::encode(m.finalize().into_bytes())
    };
    assert!(
        verify(
            HookSource::Track17,
            T17_KEY,
            &[("sign", hmac_hex.as_str())],
            body,
            now()
        )
        .is_err()
    );
    // An empty key would let anyone sign: the secret is refused, not the sender.
    let e = verify(
        HookSource::Track17,
        "",
        &[("sign", sha_sign(body, "").as_str())],
        body,
        now(),
    )
    .unwrap_err();
    assert!(e.is_server_error() && !e.is_auth_failure(), "{e}");
}

#[test]
fn aftership_signatures_and_event_id() {
    let body = AFTERSHIP;
    let sig = as_sign(body, AS_SECRET);
    let h = [("aftership-hmac-sha256", sig.as_str())];
    let v = verify(HookSource::AfterShip, AS_SECRET, &h, body, now()).unwrap();
    assert_eq!(
        v.message_id.as_deref(),
        Some("4b2c1f0e-8d7a-4e5b-9c3d-2a1f0e8d7c6b")
    );
    let e = verify(HookSource::AfterShip, "wrong secret", &h, body, now()).unwrap_err();
    assert!(matches!(e, HookError::BadSignature));
    let e = verify(HookSource::AfterShip, AS_SECRET, &h, b"{}", now()).unwrap_err();
    assert!(matches!(e, HookError::BadSignature));
    let e = verify(
        HookSource::AfterShip,
        AS_SECRET,
        &[("aftership-hmac-sha256", "not base64!")],
        body,
        now(),
    )
    .unwrap_err();
    assert!(matches!(e, HookError::BadSignature));
    let e = verify(
        HookSource::AfterShip,
        AS_SECRET,
        &[("sign", sig.as_str())],
        body,
        now(),
    )
    .unwrap_err();
    assert!(matches!(
        e,
        HookError::MissingSignature {
            header: "aftership-hmac-sha256"
        }
    ));
    // Hex instead of base64 is not AfterShip's signature.
    let hex_sig = {
        use hmac::{KeyInit, Mac};
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(AS_SECRET.as_bytes()).unwrap();
        m.update(body);
        hex::encode(m.finalize().into_bytes())
    };
    assert!(
        verify(
            HookSource::AfterShip,
            AS_SECRET,
            &[("aftership-hmac-sha256", hex_sig.as_str())],
            body,
            now()
        )
        .is_err()
    );
    // A signed body without a usable event id verifies, without an id.
    let body = br#"{"event":"tracking_update","event_id":"has space","msg":{}}"#;
    let sig = as_sign(body, AS_SECRET);
    let v = verify(
        HookSource::AfterShip,
        AS_SECRET,
        &[("aftership-hmac-sha256", sig.as_str())],
        body,
        now(),
    )
    .unwrap();
    assert_eq!(v.message_id, None);
}

#[test]
fn standard_webhooks_known_answer() {
    // The specification's published example.
    let sig = sign_standard(
        WHSEC,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        br#"{"test": 2432232314}"#,
    )
    .unwrap();
    assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    let at = DateTime::from_timestamp(1614265330 + 10, 0).unwrap();
    let v = verify(
        HookSource::Standard,
        WHSEC,
        &std_headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, &sig),
        br#"{"test": 2432232314}"#,
        at,
    )
    .unwrap();
    assert_eq!(
        v.message_id.as_deref(),
        Some("msg_p5jXN8AQM9LWM0D4loKWxJek")
    );
    assert_eq!(v.signed_at, DateTime::from_timestamp(1614265330, 0));
}

#[test]
fn standard_webhooks_signatures() {
    let secret = new_standard_secret();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(secret.len(), "whsec_".len() + 32);
    check_secret(HookSource::Standard, &secret).unwrap();
    let body = STANDARD_ONE;
    let ts = now().timestamp();
    let sig = sign_standard(&secret, "msg_1", ts, body).unwrap();
    verify(
        HookSource::Standard,
        &secret,
        &std_headers("msg_1", ts, &sig),
        body,
        now(),
    )
    .unwrap();
    // Several signatures (a secret being rotated), other versions ignored: any v1 match.
    let list = format!("v1a,{} v1,AAAA v2,xyz {sig}", &sig[3..]);
    verify(
        HookSource::Standard,
        &secret,
        &std_headers("msg_1", ts, &list),
        body,
        now(),
    )
    .unwrap();
    // Svix's own header names.
    let svix = [
        ("svix-id", "msg_1".to_owned()),
        ("svix-timestamp", ts.to_string()),
        ("svix-signature", sig.clone()),
    ];
    let svix: Vec<(&str, &str)> = svix.iter().map(|(k, v)| (*k, v.as_str())).collect();
    verify(HookSource::Standard, &secret, &svix, body, now()).unwrap();
    // Within five minutes either way; not a second more.
    for skew in [-300, 300] {
        let t = ts + skew;
        let s = sign_standard(&secret, "msg_1", t, body).unwrap();
        verify(
            HookSource::Standard,
            &secret,
            &std_headers("msg_1", t, &s),
            body,
            now(),
        )
        .unwrap();
    }
    for skew in [-301, 301, -86_400] {
        let t = ts + skew;
        let s = sign_standard(&secret, "msg_1", t, body).unwrap();
        let e = verify(
            HookSource::Standard,
            &secret,
            &std_headers("msg_1", t, &s),
            body,
            now(),
        )
        .unwrap_err();
        assert!(matches!(e, HookError::Stale { .. }), "{skew}: {e}");
        assert!(e.is_auth_failure());
        assert!(e.to_string().contains("at most 300s"), "{e}");
    }
    // Another id, timestamp, body or secret than was signed.
    let other = new_standard_secret();
    for (sec, id, t, b) in [
        (other.as_str(), "msg_1", ts, body),
        (secret.as_str(), "msg_2", ts, body),
        (secret.as_str(), "msg_1", ts + 1, body),
        (secret.as_str(), "msg_1", ts, b"{}" as &[u8]),
    ] {
        let e = verify(
            HookSource::Standard,
            sec,
            &std_headers(id, t, &sig),
            b,
            now(),
        )
        .unwrap_err();
        assert!(matches!(e, HookError::BadSignature), "{id} {t}: {e}");
    }
    // Only other versions, or nothing usable.
    for s in ["v2,abc", "v1,", "v1,!!!", "garbage"] {
        let e = verify(
            HookSource::Standard,
            &secret,
            &std_headers("msg_1", ts, s),
            body,
            now(),
        )
        .unwrap_err();
        assert!(matches!(e, HookError::BadSignature), "{s}: {e}");
    }
    // Each header missing in turn.
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let h: Vec<_> = std_headers("msg_1", ts, &sig)
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(missing))
            .collect();
        match verify(HookSource::Standard, &secret, &h, body, now()) {
            Err(HookError::MissingSignature { header }) => assert_eq!(header, missing),
            other => panic!("{missing}: {other:?}"),
        }
    }
    // A timestamp that is not Unix seconds, an id that cannot be stored.
    let mut h = std_headers("msg_1", ts, &sig);
    h[1].1 = "2026-03-14T12:50:00Z".into();
    let e = verify(HookSource::Standard, &secret, &h, body, now()).unwrap_err();
    assert!(
        matches!(
            e,
            HookError::BadHeader {
                header: "webhook-timestamp",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.is_auth_failure());
    let long = "m".repeat(MAX_MESSAGE_ID + 1);
    let e = verify(
        HookSource::Standard,
        &secret,
        &std_headers(&long, ts, &sig),
        body,
        now(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            HookError::BadHeader {
                header: "webhook-id",
                ..
            }
        ),
        "{e}"
    );
    // A secret that is not whsec_ + base64: the server's problem, said so.
    let e = verify(
        HookSource::Standard,
        "whsec_***",
        &std_headers("msg_1", ts, &sig),
        body,
        now(),
    )
    .unwrap_err();
    assert!(e.is_server_error(), "{e}");
    assert!(sign_standard("whsec_", "m", 0, b"").is_err());
}

#[test]
fn secrets_are_checked_and_sealed_per_shop_and_source() {
    assert!(check_secret(HookSource::Track17, "").is_err());
    assert!(check_secret(HookSource::AfterShip, " ").is_err());
    assert!(check_secret(HookSource::AfterShip, &"x".repeat(MAX_SECRET + 1)).is_err());
    check_secret(HookSource::AfterShip, AS_SECRET).unwrap();
    assert!(check_secret(HookSource::Standard, "not-whsec").is_err());
    // 16 bytes: shorter than the specification's 24.
    assert!(check_secret(HookSource::Standard, "whsec_AAAAAAAAAAAAAAAAAAAAAA==").is_err());
    check_secret(HookSource::Standard, WHSEC).unwrap();
    let key = SecretKey::generate();
    let (a, b) = (ShopId::new(), ShopId::new());
    let sealed = seal_secret(&key, a, HookSource::AfterShip, AS_SECRET).unwrap();
    assert!(
        !sealed
            .windows(AS_SECRET.len())
            .any(|w| w == AS_SECRET.as_bytes())
    );
    assert_eq!(
        open_secret(&key, a, HookSource::AfterShip, &sealed)
            .unwrap()
            .as_str(),
        AS_SECRET
    );
    for (shop, source) in [(b, HookSource::AfterShip), (a, HookSource::Track17)] {
        let e = open_secret(&key, shop, source, &sealed).unwrap_err();
        assert!(e.is_server_error(), "{e}");
    }
    assert!(seal_secret(&key, a, HookSource::Standard, "oops").is_err());
}

fn poll_of(track_info: &serde_json::Value, number: &str, carrier: i64) -> Vec<NewEvent> {
    let answer = serde_json::json!({"code": 0, "data": {"accepted": [
        {"number": number, "carrier": carrier, "tag": null, "track_info": track_info}
    ], "rejected": []}});
    let adapter = parceltrail_carriers::track17::Track17::new(
        parceltrail_carriers::Http::new(),
        "http://127.0.0.1:9",
        parceltrail_carriers::Secret::new("unused"),
    );
    let mut out = adapter
        .parse(&serde_json::to_vec(&answer).unwrap())
        .unwrap();
    assert_eq!(out.len(), 1);
    out.remove(0).1.unwrap().events
}

fn push_of(track_info: &serde_json::Value, number: &str, carrier: i64) -> Push {
    let body = serde_json::json!({"event": "TRACKING_UPDATED", "data": {
        "number": number, "carrier": carrier, "tag": null, "track_info": track_info
    }});
    let mut p = parse(HookSource::Track17, &serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(p.len(), 1);
    p.remove(0)
}

/// A scan pushed by 17TRACK and the same scan polled from 17TRACK are one stored event.
#[test]
fn a_17track_push_and_a_poll_of_the_same_scans_are_the_same_events() {
    let body: serde_json::Value = serde_json::from_slice(T17_UPDATED).unwrap();
    let info = &body["data"]["track_info"];
    let fixture: serde_json::Value = serde_json::from_str(include_str!(
        "../../../carriers/tests/fixtures/track17/delivered.json"
    ))
    .unwrap();
    let fixture = &fixture["data"]["accepted"][0];
    for (info, number, carrier) in [
        (info, "1Z999AA10123456784", 100002),
        (
            &fixture["track_info"],
            fixture["number"].as_str().unwrap(),
            fixture["carrier"].as_i64().unwrap(),
        ),
    ] {
        let polled = poll_of(info, number, carrier);
        let pushed = push_of(info, number, carrier).events;
        assert!(!pushed.is_empty());
        assert_eq!(pushed.len(), polled.len());
        for (w, p) in pushed.iter().zip(&polled) {
            assert_eq!(w.source, Source::Webhook);
            assert_eq!(p.source, Source::Poll);
            assert_eq!(w.dedupe_key(), p.dedupe_key(), "{w:?}");
            // Identical but for how we learnt of it.
            let mut w = w.clone();
            w.source = Source::Poll;
            assert_eq!(&w, p);
        }
    }
}

/// The 17TRACK pushes of the carriers' corpus (public bodies: see its SOURCES.md), read as
/// the shop server reads a delivery.
#[test]
fn corpus_pushes_parse() {
    // Tracking stopped: the number, the carrier's 17TRACK key given as a JSON number (17TRACK
    // sends it so), no `track_info`, no events.
    let body = include_bytes!("../../../carriers/tests/corpus/track17/push_tracking_stopped.json");
    let p = parse(HookSource::Track17, body).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].tracking_number, "AA123456789BR");
    assert_eq!(p[0].carrier_hint.as_deref(), Some("2151"));
    // A 17TRACK key this build maps to no carrier of its own (Correios): none named.
    assert_eq!(p[0].carrier, None);
    assert!(p[0].stopped);
    assert!(p[0].events.is_empty());
}

#[test]
fn track17_pushes_parse() {
    let p = parse(HookSource::Track17, T17_UPDATED).unwrap();
    assert_eq!(p.len(), 1);
    let p = &p[0];
    assert_eq!(p.tracking_number, "1Z999AA10123456784");
    assert_eq!(p.carrier.as_deref(), Some("ups"));
    assert_eq!(p.carrier_hint.as_deref(), Some("100002"));
    assert!(!p.stopped);
    let statuses: Vec<Status> = p.events.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            Status::OutForDelivery,
            Status::InTransit,
            Status::InTransit,
            Status::InTransit,
            Status::InfoReceived
        ]
    );
    let first = &p.events[0];
    assert_eq!(first.occurred_at.to_rfc3339(), "2026-03-14T08:12:00-05:00");
    assert_eq!(first.raw_code.as_deref(), Some("OutForDelivery_Other"));
    assert_eq!(first.description, "Out For Delivery Today");
    assert_eq!(first.location.city.as_deref(), Some("COLUMBUS"));
    assert_eq!(first.location.country.as_deref(), Some("US"));
    let eta = p.carrier_eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-14T09:00:00-05:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-14T18:00:00-05:00");
    assert_eq!(p.service.as_deref(), Some("UPS Ground"));
    assert_eq!(
        p.destination.as_ref().unwrap().postal.as_deref(),
        Some("43219")
    );

    let s = parse(HookSource::Track17, T17_STOPPED).unwrap();
    assert_eq!(s.len(), 1);
    assert!(s[0].stopped);
    assert!(s[0].events.is_empty());
    assert_eq!(s[0].tracking_number, "RR123456789CN");
    // China Post has no Parceltrail adapter id in the table; the hint stays.
    assert_eq!(s[0].carrier, None);
    assert_eq!(s[0].carrier_hint.as_deref(), Some("3011"));

    // An event type this build does not read: nothing, not an error.
    assert!(
        parse(
            HookSource::Track17,
            br#"{"event":"TRACKING_PAUSED","data":{}}"#
        )
        .unwrap()
        .is_empty()
    );
    let e = malformed(parse(HookSource::Track17, br#"{"data":{"number":"X1"}}"#));
    assert!(e.starts_with("event: missing"), "{e}");
    let e = malformed(parse(
        HookSource::Track17,
        br#"{"event":"TRACKING_UPDATED","data":{"carrier":3011}}"#,
    ));
    assert_eq!(e, "data.number: missing");
    let e = malformed(parse(
        HookSource::Track17,
        br#"{"event":"TRACKING_UPDATED","data":{"number":"X1","track_info":{"tracking":{"providers":{}}}}}"#,
    ));
    assert_eq!(e, "data.track_info.tracking.providers: not an array");
}

#[test]
fn aftership_updates_parse_with_one_status_table() {
    let p = parse(HookSource::AfterShip, AFTERSHIP).unwrap();
    assert_eq!(p.len(), 1);
    let p = &p[0];
    assert_eq!(p.tracking_number, "00340434292135100186");
    assert_eq!(p.carrier.as_deref(), Some("dhl"));
    assert_eq!(p.carrier_hint.as_deref(), Some("dhl-germany"));
    let got: Vec<(Status, Option<&str>)> = p
        .events
        .iter()
        .map(|e| (e.status, e.raw_code.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Status::InfoReceived, Some("InfoReceived_001")),
            (Status::InTransit, Some("InTransit_002")),
            (Status::InTransit, Some("InTransit_007")),
            (Status::Exception, Some("Exception_007")),
            (Status::OutForDelivery, Some("OutForDelivery_001")),
            (Status::Delivered, Some("Delivered_001")),
        ]
    );
    let delivered = &p.events[5];
    assert_eq!(
        delivered.occurred_at.to_rfc3339(),
        "2026-03-14T13:47:00+01:00"
    );
    assert_eq!(delivered.location.city.as_deref(), Some("Berlin"));
    assert_eq!(delivered.location.region.as_deref(), Some("BE"));
    assert_eq!(delivered.location.country.as_deref(), Some("DE"));
    assert_eq!(delivered.location.postal.as_deref(), Some("10115"));
    assert_eq!(delivered.source, Source::Webhook);
    let eta = p.carrier_eta.unwrap();
    assert_eq!(eta.earliest.to_rfc3339(), "2026-03-14T10:00:00+01:00");
    assert_eq!(eta.latest.to_rfc3339(), "2026-03-14T14:00:00+01:00");
    assert_eq!(eta.observed_at, now());
    assert_eq!(p.origin.as_ref().unwrap().country.as_deref(), Some("DE"));
    assert_eq!(p.service.as_deref(), Some("DHL Paket"));

    use aftership::status;
    assert_eq!(
        status(Some("Exception"), Some("Exception_010")),
        Status::Returned
    );
    assert_eq!(
        status(Some("Exception"), Some("Exception_011")),
        Status::Returned
    );
    assert_eq!(
        status(Some("Exception"), Some("Exception_013")),
        Status::Exception
    );
    assert_eq!(
        status(Some("AttemptFail"), Some("AttemptFail_001")),
        Status::FailedAttempt
    );
    assert_eq!(
        status(Some("Pending"), Some("Pending_001")),
        Status::Unknown
    );
    assert_eq!(status(Some("Expired"), None), Status::Expired);
    assert_eq!(status(Some("delivered"), None), Status::Delivered);
    // A new subtag of a known tag keeps its tag's meaning; an unknown tag is Unknown.
    assert_eq!(
        status(None, Some("AvailableForPickup_009")),
        Status::AvailableForPickup
    );
    assert_eq!(status(Some("Teleported"), None), Status::Unknown);
    assert_eq!(aftership::carrier("UPS").as_deref(), Some("ups"));
    assert_eq!(aftership::carrier("usps").as_deref(), Some("usps"));
    assert_eq!(
        aftership::carrier("dhl-global-mail").as_deref(),
        Some("dhl-ecommerce")
    );
    assert_eq!(aftership::carrier("some-local-courier"), None);

    // An unknown tag is kept raw; a returned parcel; an estimate from AfterShip's prediction.
    let body = serde_json::json!({"event": "edd_revise", "event_id": "e2", "ts": 1773492600,
        "msg": {"tracking_number": "9400111120206101234565", "slug": "usps",
            "aftership_estimated_delivery_date": {"estimated_delivery_date": "2026-03-18",
                "confidence_code": null, "estimated_delivery_date_min": "2026-03-17",
                "estimated_delivery_date_max": "2026-03-19"},
            "checkpoints": [
                {"checkpoint_time": "2026-03-13T10:00:00", "tag": "Beamed", "message": "Beamed up", "country_iso3": "USA"},
                {"checkpoint_time": "2026-03-14T10:00:00-04:00", "tag": "Exception", "subtag": "Exception_011",
                 "subtag_message": "Returned to sender", "location": "JAMAICA, NY"}]}});
    let p = parse(HookSource::AfterShip, &serde_json::to_vec(&body).unwrap()).unwrap();
    let p = &p[0];
    assert_eq!(p.events[0].status, Status::Unknown);
    assert_eq!(p.events[0].raw_code.as_deref(), Some("Beamed"));
    assert_eq!(p.events[0].location.country.as_deref(), Some("US"));
    // No offset given: read as UTC.
    assert_eq!(
        p.events[0].occurred_at.to_rfc3339(),
        "2026-03-13T10:00:00+00:00"
    );
    assert_eq!(p.events[1].status, Status::Returned);
    assert_eq!(p.events[1].description, "Returned to sender");
    assert_eq!(p.events[1].location.city.as_deref(), Some("JAMAICA, NY"));
    let eta = p.carrier_eta.unwrap();
    assert_eq!(eta.earliest.date_naive().to_string(), "2026-03-17");
    assert_eq!(eta.latest.date_naive().to_string(), "2026-03-19");

    // Another notice: nothing to ingest.
    assert!(
        parse(
            HookSource::AfterShip,
            br#"{"event":"tracking_pending_time","msg":{}}"#
        )
        .unwrap()
        .is_empty()
    );
    let e = malformed(parse(
        HookSource::AfterShip,
        br#"{"event":"tracking_update","msg":{"slug":"ups"}}"#,
    ));
    assert_eq!(e, "msg.tracking_number: missing");
    let e = malformed(parse(
        HookSource::AfterShip,
        br#"{"event":"tracking_update","msg":{"tracking_number":"X1","checkpoints":[{"tag":"InTransit"},{"tag":"InTransit"}]}}"#,
    ));
    assert_eq!(e, "msg.checkpoints[0].checkpoint_time: missing");
    let e = malformed(parse(
        HookSource::AfterShip,
        br#"{"event":"tracking_update","msg":{"tracking_number":"X1","checkpoints":[{"checkpoint_time":"2026-03-13T10:00:00Z"},{"checkpoint_time":"yesterday"}]}}"#,
    ));
    assert_eq!(
        e,
        "msg.checkpoints[1].checkpoint_time: \"yesterday\" is not an RFC 3339 time"
    );
}

#[test]
fn standard_bodies_parse_single_and_batch() {
    let p = parse(HookSource::Standard, STANDARD_ONE).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].tracking_number, "1Z999AA10123456784");
    assert_eq!(p[0].carrier.as_deref(), Some("ups"));
    let e = &p[0].events[1];
    assert_eq!(e.status, Status::OutForDelivery);
    assert_eq!(e.raw_code.as_deref(), Some("OT"));
    assert_eq!(e.location.region.as_deref(), Some("OH"));
    assert_eq!(e.occurred_at.to_rfc3339(), "2026-03-14T08:12:00-05:00");

    let b = parse(HookSource::Standard, STANDARD_BATCH).unwrap();
    assert_eq!(b.len(), 3);
    assert_eq!(b[1].tracking_number, "RR123456789CN");
    assert_eq!(b[1].carrier, None);
    assert_eq!(b[1].events[1].description, "");
    assert_eq!(b[1].events[1].raw_code, None);
    assert_eq!(b[2].carrier.as_deref(), Some("dhl"));
    assert!(b[2].events.is_empty());
    // into_batch carries everything core's ingest needs.
    let id = ShipmentId::new();
    let batch = b[0].clone().into_batch(id);
    assert_eq!(batch.shipment_id, id);
    assert_eq!(batch.events, b[0].events);
}

#[test]
fn malformed_bodies_say_what_and_where() {
    let cases: &[(&str, &str)] = &[
        ("not json", "the body is not JSON"),
        ("42", "the body: not an object"),
        (r#"{"events":[]}"#, "tracking_number: missing"),
        (r#"{"tracking_number":"  - "}"#, "tracking_number: empty"),
        (
            r#"{"tracking_number":["1Z"]}"#,
            "tracking_number: not a string",
        ),
        (
            r#"{"tracking_number":"1Z","events":{}}"#,
            "events: not an array",
        ),
        (
            r#"{"tracking_number":"1Z","carrier":"teleport"}"#,
            "carrier: \"teleport\" is not a carrier id",
        ),
        (
            r#"{"tracking_number":"1Z","events":[{"occurred_at":"2026-03-14T08:12:00Z","status":"shipped"}]}"#,
            "events[0].status: \"shipped\" is not a status; use one of pending, info_received",
        ),
        (
            r#"{"tracking_number":"1Z","events":[{"occurred_at":"2026-03-14T08:12:00Z","status":"in_transit"},{"occurred_at":"2026-03-14T08:12:00Z","status":"in_transit"},{"occurred_at":"2026-03-14T08:12:00Z","status":"in_transit"},{"occurred_at":"2026-03-14 08:12","status":"in_transit"}]}"#,
            "events[3].occurred_at: \"2026-03-14 08:12\" is not an RFC 3339 time",
        ),
        (
            r#"{"tracking_number":"1Z","events":[{"status":"in_transit"}]}"#,
            "events[0].occurred_at: missing",
        ),
        (
            r#"{"tracking_number":"1Z","events":[{"occurred_at":"0001-01-01T00:00:00Z","status":"in_transit"}]}"#,
            "events[0].occurred_at: the time \"0001-01-01T00:00:00Z\" is not between 1970 and 2100",
        ),
        (
            r#"{"tracking_number":"1Z","events":[{"occurred_at":"2026-03-14T08:12:00Z","status":"in_transit","location":{"country":"Germany"}}]}"#,
            "events[0].location.country: \"Germany\" is not an ISO 3166 country code",
        ),
        (
            r#"{"tracking_number":"1Z","events":[{"occurred_at":"2026-03-14T08:12:00Z","status":"in_transit","location":"Berlin"}]}"#,
            "events[0].location: not an object",
        ),
        (
            r#"{"tracking_number":"1Z","events":[{"occurred_at":"2026-03-14T08:12:00Z","status":"in_transit","description":"a\u0000b"}]}"#,
            "events[0].description: contains a NUL character",
        ),
        (
            r#"[{"tracking_number":"1Z"},{"tracking_number":"2Z","events":[{"occurred_at":"2026-03-14T08:12:00Z"}]}]"#,
            "[1].events[0].status: missing",
        ),
        (r#"[{"tracking_number":"1Z"}, 7]"#, "[1]: not an object"),
    ];
    for (body, want) in cases {
        let e = malformed(parse(HookSource::Standard, body.as_bytes()));
        assert!(e.starts_with(want), "{body}\n  said: {e}\n  want: {want}");
        assert!(HookError::Malformed { what: e }.is_malformed());
    }
    // Bounds: one text too long, too many events, too many pushes, too many in all.
    let long = serde_json::json!({"tracking_number": "1Z", "events": [{"occurred_at": "2026-03-14T08:12:00Z",
        "status": "in_transit", "description": "x".repeat(2001)}]});
    let e = malformed(parse(
        HookSource::Standard,
        &serde_json::to_vec(&long).unwrap(),
    ));
    assert_eq!(
        e,
        "events[0].description: 2001 characters long; at most 2000 are kept"
    );
    let event = serde_json::json!({"occurred_at": "2026-03-14T08:12:00Z", "status": "in_transit"});
    let many =
        serde_json::json!({"tracking_number": "1Z", "events": vec![event.clone(); MAX_EVENTS + 1]});
    let e = malformed(parse(
        HookSource::Standard,
        &serde_json::to_vec(&many).unwrap(),
    ));
    assert_eq!(e, "events: 1001 entries; at most 1000 are read");
    let pushes = serde_json::json!(vec![
        serde_json::json!({"tracking_number": "1Z"});
        MAX_PUSHES + 1
    ]);
    let e = malformed(parse(
        HookSource::Standard,
        &serde_json::to_vec(&pushes).unwrap(),
    ));
    assert_eq!(e, "the batch has 1001 entries; at most 1000 are read");
    let full = serde_json::json!({"tracking_number": "1Z", "events": vec![event; MAX_EVENTS]});
    let all = serde_json::json!(vec![full; MAX_BODY_EVENTS / MAX_EVENTS + 1]);
    let e = malformed(parse(
        HookSource::Standard,
        &serde_json::to_vec(&all).unwrap(),
    ));
    assert_eq!(
        e,
        "the body carries 11000 events; at most 10000 are read at once"
    );
    let number = serde_json::json!({"tracking_number": "1".repeat(MAX_NUMBER + 1)});
    let e = malformed(parse(
        HookSource::Standard,
        &serde_json::to_vec(&number).unwrap(),
    ));
    assert!(
        e.starts_with("tracking_number: not a tracking number"),
        "{e}"
    );
    // A 17TRACK event with an over-long description is refused, saying which.
    let mut t17: serde_json::Value = serde_json::from_slice(T17_UPDATED).unwrap();
    t17["data"]["track_info"]["tracking"]["providers"][0]["events"][1]["description"] =
        serde_json::Value::String("y".repeat(2001));
    let e = malformed(parse(
        HookSource::Track17,
        &serde_json::to_vec(&t17).unwrap(),
    ));
    assert!(e.contains("event 1, at 2026-03-13T22:40:00-05:00"), "{e}");
    assert!(
        e.ends_with("description: 2001 characters long; at most 2000 are kept"),
        "{e}"
    );
}

/// Sample bodies with a few bytes changed: near-miss JSON reaches deep into each reader.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let samples = [
        T17_UPDATED,
        T17_STOPPED,
        AFTERSHIP,
        STANDARD_ONE,
        STANDARD_BATCH,
    ];
    (
        0..samples.len(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    )
        .prop_map(move |(i, edits)| {
            let mut b = samples[i].to_vec();
            for (at, byte) in edits {
                let j = at.index(b.len());
                b[j] = byte;
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_bytes_make_parse_or_verify_panic(
        body in prop_oneof![proptest::collection::vec(any::<u8>(), 0..512), mutated()],
        sig in ".{0,120}",
        ts in ".{0,24}",
        id in ".{0,40}",
        secret in ".{0,60}",
    ) {
        for source in HookSource::ALL {
            let _ = parse(source, &body);
            let h = [
                ("sign", sig.as_str()),
                ("aftership-hmac-sha256", sig.as_str()),
                ("webhook-id", id.as_str()),
                ("webhook-timestamp", ts.as_str()),
                ("webhook-signature", sig.as_str()),
            ];
            for s in [secret.as_str(), WHSEC, T17_KEY] {
                let _ = verify(source, s, &h, &body, now());
            }
            let _ = check_secret(source, &secret);
        }
        let _ = sign_standard(&secret, &id, 0, &body);
    }

    #[test]
    fn a_signed_standard_delivery_verifies_whatever_its_body(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        id in "[!-~]{1,40}",
        skew in -300i64..=300,
    ) {
        let ts = now().timestamp() + skew;
        let sig = sign_standard(WHSEC, &id, ts, &body).unwrap();
        let v = verify(HookSource::Standard, WHSEC, &std_headers(&id, ts, &sig), &body, now()).unwrap();
        prop_assert_eq!(v.message_id.as_deref(), Some(id.as_str()));
        let mut other = body.clone();
        other.push(b' ');
        prop_assert!(verify(HookSource::Standard, WHSEC, &std_headers(&id, ts, &sig), &other, now()).is_err());
    }
}

#[test]
fn tolerance_is_five_minutes() {
    assert_eq!(TOLERANCE, Duration::minutes(5));
}
