//! What every adapter shares: one HTTP client, bounded body reading, the mapping from HTTP
//! failures to [`CarrierError`], Retry-After, and the OAuth 2 client-credentials token cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parceltrail_core::carrier::CarrierError;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use tokio::sync::Mutex;

use crate::redact::Redactor;

/// The largest response body we read. Real tracking answers are kilobytes (a FedEx batch of
/// 30 with full scans stays well under a megabyte); anything bigger is refused, not buffered.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// A secret (key, client secret, token) that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The shared HTTP client.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    secrets: Redactor,
}

impl Http {
    /// A client with Parceltrail's user agent and timeouts (a stuck carrier must not stall
    /// the poller).
    pub fn new() -> Self {
        Self::with_timeout(Duration::from_secs(30))
    }

    /// A client with a given overall request timeout.
    pub fn with_timeout(timeout: Duration) -> Self {
        // One process-wide TLS provider (ring): small to build, and reqwest needs one chosen.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("Parceltrail/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .expect("the HTTP client configuration is static and valid");
        Self {
            client,
            secrets: Redactor::new(),
        }
    }

    /// The same client, whose responses' excerpts and parse errors have `secrets` cut out
    /// (each adapter passes its own).
    pub fn redacting(&self, secrets: &Redactor) -> Self {
        Self {
            client: self.client.clone(),
            secrets: secrets.clone(),
        }
    }

    /// The underlying client, to build requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send a request and read its body (at most [`MAX_BODY`]). Network failures become
    /// [`CarrierError::Transient`].
    pub async fn send(&self, req: RequestBuilder) -> Result<Response, CarrierError> {
        let mut resp = req.send().await.map_err(network)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(network)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body: Bytes::from(body),
            secrets: self.secrets.clone(),
        })
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

fn too_big() -> CarrierError {
    CarrierError::Malformed(format!(
        "response larger than {} MiB",
        MAX_BODY / (1024 * 1024)
    ))
}

fn network(e: reqwest::Error) -> CarrierError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_decode() {
        return CarrierError::Malformed(format!("undecodable body: {e}"));
    } else {
        "connection failed"
    };
    CarrierError::Transient {
        message: format!("{what}: {}", error_chain(&e)),
        retry_after: None,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// The adapter's secrets, cut from excerpts before they are shortened (so no part of
    /// one is left at the cut).
    secrets: Redactor,
}

impl Response {
    /// The carrier's Retry-After, in seconds or as an HTTP date.
    pub fn retry_after(&self) -> Option<Duration> {
        let v = self.headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
        let wait = at.signed_duration_since(chrono::Utc::now());
        Some(wait.to_std().unwrap_or(Duration::ZERO))
    }

    /// A short, safe excerpt of the body for error messages (never the whole body, never
    /// the adapter's secrets).
    pub fn excerpt(&self) -> String {
        excerpt(&self.body, 160, &self.secrets)
    }

    /// Whether the body looks like an HTML page (a proxy's or load balancer's error page).
    pub fn is_html(&self) -> bool {
        let head =
            String::from_utf8_lossy(&self.body[..self.body.len().min(256)]).to_ascii_lowercase();
        let head = head.trim_start();
        head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<head")
    }

    /// The errors every API shares: auth, rate limits, server failures, HTML pages. `None`
    /// when the adapter should read the body itself (2xx, and 4xx the API documents).
    pub fn common_error(&self) -> Option<CarrierError> {
        let s = self.status;
        if s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN {
            return Some(CarrierError::Auth(format!(
                "HTTP {}: {}",
                s.as_u16(),
                self.excerpt()
            )));
        }
        if s == StatusCode::TOO_MANY_REQUESTS {
            return Some(CarrierError::RateLimited {
                retry_after: self.retry_after(),
            });
        }
        if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT {
            return Some(CarrierError::Transient {
                message: format!("HTTP {}", s.as_u16()),
                retry_after: self.retry_after(),
            });
        }
        if self.is_html() {
            return Some(CarrierError::Malformed(format!(
                "an HTML page instead of JSON (HTTP {})",
                s.as_u16()
            )));
        }
        None
    }

    /// Parse the body as JSON, or say why not.
    pub fn json(&self) -> Result<serde_json::Value, CarrierError> {
        parse_json_redacting(&self.body, &self.secrets)
    }
}

/// Add the carrier's own error text (its error body, summarised) to a transient error.
pub fn with_detail(e: CarrierError, detail: Option<String>) -> CarrierError {
    match (e, detail) {
        (
            CarrierError::Transient {
                message,
                retry_after,
            },
            Some(d),
        ) => CarrierError::Transient {
            message: format!("{message}: {d}"),
            retry_after,
        },
        (e, _) => e,
    }
}

/// Parse a body as JSON, or say why not (with a safe excerpt).
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, CarrierError> {
    parse_json_redacting(body, &Redactor::new())
}

fn parse_json_redacting(
    body: &[u8],
    secrets: &Redactor,
) -> Result<serde_json::Value, CarrierError> {
    serde_json::from_slice(body).map_err(|e| {
        CarrierError::Malformed(format!("not JSON ({e}): {}", excerpt(body, 80, secrets)))
    })
}

/// The first `chars` characters of a body as one line of text, secrets cut first.
fn excerpt(body: &[u8], chars: usize, secrets: &Redactor) -> String {
    // Enough of the body that a secret starting inside the excerpt is whole when it is cut.
    let head = String::from_utf8_lossy(&body[..body.len().min(4 * chars + 4096)]);
    secrets
        .redact(&head)
        .chars()
        .take(chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// How an OAuth token endpoint wants the client's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(id:secret)` (UPS).
    BasicHeader,
    /// `client_id` and `client_secret` in the form body (FedEx, USPS).
    FormBody,
}

/// OAuth 2 client-credentials tokens, cached until `expires_in` minus a margin, refreshed on
/// demand (and once after a 401, by the adapter calling [`TokenCache::invalidate`]).
#[derive(Debug)]
pub struct TokenCache {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    auth: ClientAuth,
    extra: Vec<(String, String)>,
    cached: Mutex<Option<(Secret, Instant)>>,
    secrets: Redactor,
}

/// Tokens are renewed this long before they expire.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

impl TokenCache {
    /// A cache for one token endpoint and client.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
        auth: ClientAuth,
    ) -> Self {
        let client_id = client_id.into();
        let secrets = Redactor::new();
        secrets.add(&client_id);
        secrets.add(client_secret.expose());
        if auth == ClientAuth::BasicHeader {
            secrets.add_basic(&client_id, client_secret.expose());
        }
        Self {
            token_url: token_url.into(),
            client_id,
            client_secret,
            auth,
            extra: Vec::new(),
            cached: Mutex::new(None),
            secrets,
        }
    }

    /// The client's credentials and every token issued to it, for the adapter to cut from
    /// what the carrier says.
    pub fn secrets(&self) -> &Redactor {
        &self.secrets
    }

    /// Extra form fields (for example `scope`).
    pub fn with_field(mut self, k: &str, v: &str) -> Self {
        self.extra.push((k.to_owned(), v.to_owned()));
        self
    }

    /// A valid bearer token, fetching one if needed.
    pub async fn bearer(&self, http: &Http) -> Result<Secret, CarrierError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let mut form: Vec<(String, String)> =
            vec![("grant_type".into(), "client_credentials".into())];
        let mut req = http.client().post(&self.token_url);
        match self.auth {
            ClientAuth::BasicHeader => {
                req = req.basic_auth(&self.client_id, Some(self.client_secret.expose()));
            }
            ClientAuth::FormBody => {
                form.push(("client_id".into(), self.client_id.clone()));
                form.push((
                    "client_secret".into(),
                    self.client_secret.expose().to_owned(),
                ));
            }
        }
        form.extend(self.extra.iter().cloned());
        let resp = http.redacting(&self.secrets).send(req.form(&form)).await?;
        if resp.status == StatusCode::BAD_REQUEST
            || resp.status == StatusCode::UNAUTHORIZED
            || resp.status == StatusCode::FORBIDDEN
        {
            return Err(CarrierError::Auth(format!(
                "token request refused (HTTP {}): {}",
                resp.status.as_u16(),
                resp.excerpt()
            )));
        }
        if let Some(e) = resp.common_error() {
            return Err(e);
        }
        let v = resp.json()?;
        let token = v["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CarrierError::Malformed("token response without access_token".into()))?;
        // `expires_in` is a number for FedEx and USPS and a string for UPS.
        let expires = v["expires_in"]
            .as_u64()
            .or_else(|| v["expires_in"].as_str().and_then(|s| s.trim().parse().ok()))
            .unwrap_or(3600);
        let lifetime = Duration::from_secs(expires)
            .saturating_sub(TOKEN_MARGIN)
            .max(Duration::from_secs(1));
        self.secrets.add(token);
        let token = Secret::new(token);
        *cached = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// Forget the cached token (after the API answered 401 with it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

/// Shared handle to a token cache.
pub type Tokens = Arc<TokenCache>;
