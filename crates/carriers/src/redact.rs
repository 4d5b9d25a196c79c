//! Cutting an adapter's own secrets out of what a carrier says back.
//!
//! Error texts carry excerpts of carrier answers, and those are stored (`last_error`),
//! logged and shown. A carrier, a sandbox or a proxy that echoes the request (the key it
//! refused, the form it was posted, the `Authorization` header) would otherwise put the
//! credential in all of those places. Each adapter knows its secrets, so it cuts them, and
//! the ways they travel on the wire, from every error before the error leaves it.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use parceltrail_core::carrier::{BatchResult, BoxFuture, CarrierError};

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not cut: they would match ordinary words. No carrier issues
/// credentials that short.
const MIN_SECRET: usize = 6;

/// One adapter's secret values (keys, client ids and secrets, the tokens it was issued) and
/// their encodings, shared by the adapter, its HTTP client and its token cache.
#[derive(Clone, Default)]
pub struct Redactor(Arc<RwLock<Vec<String>>>);

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(***)")
    }
}

impl Redactor {
    /// A redactor that knows no secret yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cut `secret`, and the forms it is sent in (as is, percent-encoded in a form body,
    /// escaped in JSON, in base64).
    pub fn add(&self, secret: &str) {
        if secret.chars().count() < MIN_SECRET {
            return;
        }
        let json = serde_json::to_string(secret).unwrap_or_default();
        let forms = [
            secret.to_owned(),
            form_encode(secret),
            json.trim_matches('"').to_owned(),
            base64(secret.as_bytes()),
        ];
        self.insert(forms);
    }

    /// Cut the HTTP Basic credentials `base64(id:secret)` (the id and secret themselves are
    /// added with [`Redactor::add`]).
    pub fn add_basic(&self, id: &str, secret: &str) {
        self.insert([base64(format!("{id}:{secret}").as_bytes())]);
    }

    fn insert(&self, forms: impl IntoIterator<Item = String>) {
        let mut all = self.0.write().unwrap_or_else(|e| e.into_inner());
        for f in forms {
            // Base64 without its padding still gives the secret away.
            let f = f.trim_end_matches('=').to_owned();
            if f.chars().count() >= MIN_SECRET && !all.contains(&f) {
                all.push(f);
            }
        }
        // Longest first, so a secret inside a longer encoded form never leaves the rest.
        all.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// `text` with every known secret replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let all = self.0.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Cow::Borrowed(text);
        for f in all.iter() {
            if out.contains(f.as_str()) {
                out = Cow::Owned(out.replace(f.as_str(), REDACTED));
            }
        }
        out
    }

    /// The error with every known secret cut from its text.
    pub fn error(&self, e: CarrierError) -> CarrierError {
        let cut = |s: String| match self.redact(&s) {
            Cow::Borrowed(_) => s,
            Cow::Owned(o) => o,
        };
        match e {
            CarrierError::Auth(s) => CarrierError::Auth(cut(s)),
            CarrierError::NotFound(s) => CarrierError::NotFound(cut(s)),
            CarrierError::Transient {
                message,
                retry_after,
            } => CarrierError::Transient {
                message: cut(message),
                retry_after,
            },
            CarrierError::Malformed(s) => CarrierError::Malformed(cut(s)),
            CarrierError::Unsupported(s) => CarrierError::Unsupported(cut(s)),
            e @ CarrierError::RateLimited { .. } => e,
            // The enum may grow; an error we cannot take apart is passed on whole only if it
            // holds no secret.
            e => {
                let text = e.to_string();
                match self.redact(&text) {
                    Cow::Borrowed(_) => e,
                    Cow::Owned(cut) => CarrierError::Malformed(cut),
                }
            }
        }
    }

    /// A tracking call's result with every error, whole-call or per number, cut.
    pub fn batch(&self, r: BatchResult) -> BatchResult {
        match r {
            Ok(results) => Ok(results
                .into_iter()
                .map(|(n, r)| (n, r.map_err(|e| self.error(e))))
                .collect()),
            Err(e) => Err(self.error(e)),
        }
    }
}

/// A tracking call whose result has `secrets` cut from it (what every adapter's `track`
/// returns).
pub fn redacted<'a>(
    secrets: &'a Redactor,
    call: impl Future<Output = BatchResult> + Send + 'a,
) -> BoxFuture<'a, BatchResult> {
    Box::pin(async move { secrets.batch(call.await) })
}

/// `application/x-www-form-urlencoded`, as reqwest sends a form (space as `+`).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Standard base64 with padding (what HTTP Basic auth uses).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn secrets_and_their_encodings_are_cut() {
        let r = Redactor::new();
        r.add("s3cret key/+=\"x");
        r.add("client-id-1");
        r.add_basic("client-id-1", "s3cret key/+=\"x");
        let echoes = [
            "bad key s3cret key/+=\"x",
            "body client_secret=s3cret+key%2F%2B%3D%22x&grant_type=client_credentials",
            r#"{"echo":"s3cret key/+=\"x"}"#,
            "Authorization: Basic Y2xpZW50LWlkLTE6czNjcmV0IGtleS8rPSJ4",
            "client_id=client-id-1",
        ];
        for e in echoes {
            let out = r.redact(e);
            assert!(!out.contains("s3cret"), "{out}");
            assert!(!out.contains("client-id-1"), "{out}");
            assert!(!out.contains("Y2xpZW50LWlkLTE6czNjcmV0"), "{out}");
            assert!(out.contains(REDACTED), "{out}");
        }
        assert_eq!(r.redact("nothing to hide"), "nothing to hide");
    }

    #[test]
    fn errors_of_every_kind_are_cut() {
        let r = Redactor::new();
        r.add("abcdef123456");
        let e = r.error(CarrierError::Auth("key abcdef123456 refused".into()));
        assert_eq!(
            e.to_string(),
            "the carrier refused our credentials: key [redacted] refused"
        );
        let b = r.batch(Ok(vec![(
            "1".into(),
            Err(CarrierError::NotFound("abcdef123456".into())),
        )]));
        assert!(!format!("{b:?}").contains("abcdef123456"));
    }
}
