//! SMS through Twilio's Messages API (`POST {base}/2010-04-01/Accounts/{Sid}/Messages.json`,
//! HTTP basic auth with the account SID and auth token, a form body of `To`, `From`, `Body` and
//! `StatusCallback`). The base URL is configurable, so a Twilio-compatible provider (or a local
//! server speaking the API) works the same. The token is never printed.

use parceltrail_core::notify::NotifyError;
use serde::Deserialize;
use zeroize::Zeroizing;

/// How long one request may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
/// Twilio's own API.
pub const TWILIO_API: &str = "https://api.twilio.com";

/// A Twilio account and the number messages come from.
#[derive(Clone)]
pub struct Twilio {
    client: reqwest::Client,
    endpoint: String,
    sid: String,
    token: std::sync::Arc<Zeroizing<String>>,
    from: String,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("endpoint", &self.endpoint)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Twilio's answer to a message (the parts read).
#[derive(Debug, Deserialize)]
struct Created {
    sid: String,
}

/// Twilio's error body.
#[derive(Debug, Deserialize)]
struct Failure {
    code: Option<i64>,
    message: Option<String>,
}

impl Twilio {
    /// The account `sid` with its `token` at `base` (Twilio's own: [`TWILIO_API`]), sending
    /// from `from` (an E.164 number or a messaging service's sender).
    pub fn new(base: &str, sid: &str, token: &str, from: &str) -> Result<Twilio, String> {
        let base = url::Url::parse(base).map_err(|e| format!("the Twilio URL {base:?}: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("the Twilio URL {base}: use http:// or https://"));
        }
        if sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("the Twilio account SID: letters and digits (AC…)".into());
        }
        if token.is_empty() || from.trim().is_empty() {
            return Err("Twilio needs an auth token and a From number".into());
        }
        // reqwest is built without a TLS provider: ring, as every client here uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("the HTTP client: {e}"))?;
        Ok(Twilio {
            client,
            endpoint: format!(
                "{}/2010-04-01/Accounts/{sid}/Messages.json",
                base.as_str().trim_end_matches('/')
            ),
            sid: sid.to_owned(),
            token: std::sync::Arc::new(Zeroizing::new(token.to_owned())),
            from: from.trim().to_owned(),
        })
    }

    /// The account SID (status callbacks name it).
    pub fn account_sid(&self) -> &str {
        &self.sid
    }

    /// The auth token, for checking `X-Twilio-Signature` on callbacks.
    pub fn auth_token(&self) -> &str {
        &self.token
    }

    /// Sends `body` to `to`, asking for delivery reports at `status_callback`; the message's
    /// SID. `Rejected` for what Twilio refuses for good (a 4xx: a number that is not one, a
    /// recipient who replied STOP), `Unavailable` for what a retry may fix (429, 5xx, no
    /// connection).
    pub async fn send(
        &self,
        to: &str,
        body: &str,
        status_callback: Option<&str>,
    ) -> Result<String, NotifyError> {
        let mut form = vec![("To", to), ("From", self.from.as_str()), ("Body", body)];
        if let Some(cb) = status_callback {
            form.push(("StatusCallback", cb));
        }
        let res = self
            .client
            .post(&self.endpoint)
            .basic_auth(&self.sid, Some(self.token.as_str()))
            .form(&form)
            .send()
            .await
            .map_err(|e| NotifyError::Unavailable(format!("Twilio: {}", e.without_url())))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if status.is_success() {
            return serde_json::from_str::<Created>(&text)
                .map(|c| c.sid)
                .map_err(|e| {
                    NotifyError::Unavailable(format!("Twilio's answer is unreadable: {e}"))
                });
        }
        let why = serde_json::from_str::<Failure>(&text)
            .ok()
            .map(|f| {
                format!(
                    "{} (code {})",
                    f.message.unwrap_or_default(),
                    f.code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "none".into())
                )
            })
            .unwrap_or_else(|| format!("HTTP {status}"));
        if status.as_u16() == 429 || status.is_server_error() {
            Err(NotifyError::Unavailable(format!("Twilio: {why}")))
        } else {
            Err(NotifyError::Rejected(format!("Twilio refused it: {why}")))
        }
    }
}
