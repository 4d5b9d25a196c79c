//! The three signature schemes, each over the raw body bytes, each compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Headers, HookError, HookSource, MAX_MESSAGE_ID, TOLERANCE, Verified};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The prefix of a Standard Webhooks secret.
const WHSEC: &str = "whsec_";
/// At most this many signatures are tried from one `webhook-signature` header (a sender
/// lists one per secret it is rotating through).
const MAX_SIGNATURES: usize = 16;

fn no_secret(secret: &str) -> Result<(), HookError> {
    if secret.is_empty() {
        // An empty key would make every signature computable by anyone.
        return Err(HookError::bad_secret("is empty"));
    }
    Ok(())
}

fn header<'h, H: Headers + ?Sized>(h: &'h H, name: &'static str) -> Result<&'h str, HookError> {
    h.header(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(HookError::MissingSignature { header: name })
}

/// 17TRACK v2.2: `sign` = lowercase hex SHA-256 of the body, `/` and the key (no HMAC).
pub(super) fn track17<H: Headers + ?Sized>(
    secret: &str,
    headers: &H,
    body: &[u8],
) -> Result<Verified, HookError> {
    no_secret(secret)?;
    let given = header(headers, "sign")?;
    let mut h = Sha256::new();
    h.update(body);
    h.update(b"/");
    h.update(secret.as_bytes());
    let expected = hex::encode(h.finalize());
    let given = given.to_ascii_lowercase();
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(HookError::BadSignature);
    }
    Ok(Verified {
        source: HookSource::Track17,
        message_id: None,
        signed_at: None,
    })
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// AfterShip: `aftership-hmac-sha256` = base64 of HMAC-SHA256(secret, body).
pub(super) fn aftership<H: Headers + ?Sized>(
    secret: &str,
    headers: &H,
    body: &[u8],
) -> Result<Verified, HookError> {
    no_secret(secret)?;
    let given = header(headers, "aftership-hmac-sha256")?;
    let given = STANDARD
        .decode(given)
        .map_err(|_| HookError::BadSignature)?;
    let expected = hmac(secret.as_bytes(), &[body]);
    if !bool::from(expected.ct_eq(given.as_slice())) {
        return Err(HookError::BadSignature);
    }
    Ok(Verified {
        source: HookSource::AfterShip,
        // Authenticated now, so the body's own event id can serve the replay check.
        message_id: aftership_event_id(body),
        signed_at: None,
    })
}

fn aftership_event_id(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        event_id: Option<serde_json::Value>,
    }
    let e: Envelope = serde_json::from_slice(body).ok()?;
    e.event_id?
        .as_str()
        .map(str::trim)
        .filter(|id| usable_id(id))
        .map(str::to_owned)
}

/// An id that can be stored and compared as given: printable ASCII, bounded.
fn usable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MESSAGE_ID && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_` (a bare base64
/// secret is accepted too, as the reference libraries do).
pub(super) fn standard_key(secret: &str) -> Result<Zeroizing<Vec<u8>>, HookError> {
    let b64 = secret.trim();
    let b64 = b64.strip_prefix(WHSEC).unwrap_or(b64);
    let key = STANDARD
        .decode(b64)
        .map_err(|_| HookError::bad_secret("is not whsec_ followed by base64"))?;
    if key.is_empty() {
        return Err(HookError::bad_secret("is empty"));
    }
    Ok(Zeroizing::new(key))
}

/// The `webhook-signature` value (`v1,<base64>`) for a message, as a sender writes it.
/// `timestamp` is Unix seconds, as in the `webhook-timestamp` header.
pub fn sign_standard(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, HookError> {
    let key = standard_key(secret)?;
    let sig = hmac(
        &key,
        &[
            id.as_bytes(),
            b".",
            timestamp.to_string().as_bytes(),
            b".",
            body,
        ],
    );
    Ok(format!("v1,{}", STANDARD.encode(sig)))
}

/// A new Standard Webhooks secret: `whsec_` and the base64 of 24 random bytes.
pub fn new_standard_secret() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    format!("{WHSEC}{}", STANDARD.encode(bytes))
}

/// Standard Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds) and
/// `webhook-signature` (space-separated `v1,<base64>`, other versions ignored) over
/// `{id}.{timestamp}.{body}`. Svix's `svix-` headers are read when the `webhook-` ones are
/// absent.
pub(super) fn standard<H: Headers + ?Sized>(
    secret: &str,
    headers: &H,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Verified, HookError> {
    let key = standard_key(secret)?;
    let pick = |name: &'static str, svix: &'static str| {
        header(headers, name).or_else(|e| header(headers, svix).map_err(|_| e))
    };
    let id = pick("webhook-id", "svix-id")?;
    let ts_text = pick("webhook-timestamp", "svix-timestamp")?;
    let sigs = pick("webhook-signature", "svix-signature")?;
    if !usable_id(id) {
        return Err(HookError::BadHeader {
            header: "webhook-id",
            reason: format!("is not printable ASCII of at most {MAX_MESSAGE_ID} characters"),
        });
    }
    let ts: i64 = ts_text.parse().map_err(|_| HookError::BadHeader {
        header: "webhook-timestamp",
        reason: "is not Unix seconds".into(),
    })?;
    let now_s = now.timestamp();
    if now_s.abs_diff(ts) > TOLERANCE.num_seconds().unsigned_abs() {
        return Err(HookError::Stale {
            timestamp: ts,
            now: now_s,
        });
    }
    // Signed as the sender wrote the timestamp, digit for digit.
    let expected = hmac(&key, &[id.as_bytes(), b".", ts_text.as_bytes(), b".", body]);
    let mut ok = subtle::Choice::from(0);
    for sig in sigs.split_ascii_whitespace().take(MAX_SIGNATURES) {
        let Some(("v1", b64)) = sig.split_once(',') else {
            continue;
        };
        if let Ok(given) = STANDARD.decode(b64) {
            ok |= expected.ct_eq(given.as_slice());
        }
    }
    if !bool::from(ok) {
        return Err(HookError::BadSignature);
    }
    Ok(Verified {
        source: HookSource::Standard,
        message_id: Some(id.to_owned()),
        signed_at: DateTime::from_timestamp(ts, 0),
    })
}
