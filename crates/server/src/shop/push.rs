//! Web Push to customers' browsers: "notify me in this browser" on the tracking page.
//!
//! The server's VAPID key (RFC 8292) is derived from its secret key, so every replica sharing
//! the key file signs alike and nothing more is stored. A browser's subscription (its push
//! service endpoint and keys) is kept per order; each message is encrypted for it as RFC 8291
//! says (`aes128gcm`, by web-push-native) and POSTed to the endpoint with a VAPID token (an
//! ES256 JWT signed here). An endpoint the push service calls gone (404, 410) is forgotten.
//! The endpoint is a URL from outside: it is called through the webhooks' client, so without
//! `--allow-private-targets` only public addresses are reached, and only over HTTPS.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use parceltrail_core::notify::NotifyError;
use parceltrail_shop::db::PushSubscription;
use parceltrail_shop::secrets::SecretKey;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Body;
use super::problem::PROBLEM;
use super::track::open;
use super::{Problem, ShopState};

/// How long a push service keeps a message for a browser that is offline.
const TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// How long a VAPID token is good for (RFC 8292 allows at most 24 hours).
const TOKEN_HOURS: i64 = 12;
/// The longest endpoint kept.
const MAX_ENDPOINT: usize = 2048;

/// The server's VAPID key.
pub(crate) struct Vapid {
    key: SigningKey,
    /// The public key, uncompressed, base64url: the page's `applicationServerKey` and the
    /// token's `k`.
    public: String,
}

impl Vapid {
    /// The key derived from the server's secret key.
    pub(crate) fn of(secret: &SecretKey) -> Vapid {
        // A derived 32 bytes is a valid P-256 scalar but for a chance of about 2^-32; then
        // the next label is taken.
        let key = (0u32..)
            .find_map(|n| {
                let bytes = secret.derive(&format!("web push vapid key {n}"));
                SigningKey::from_bytes(bytes.as_ref().into()).ok()
            })
            .expect("some derived scalar is valid");
        let public = B64.encode(key.verifying_key().to_encoded_point(false).as_bytes());
        Vapid { key, public }
    }

    /// `Authorization: vapid t=…, k=…` for a request to `endpoint`, naming `contact`.
    fn authorization(&self, endpoint: &url::Url, contact: &str) -> String {
        let audience = endpoint.origin().ascii_serialization();
        let exp = (Utc::now() + chrono::Duration::hours(TOKEN_HOURS)).timestamp();
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = B64
            .encode(serde_json::json!({"aud": audience, "exp": exp, "sub": contact}).to_string());
        let input = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(input.as_bytes());
        format!(
            "vapid t={input}.{}, k={}",
            B64.encode(signature.to_bytes()),
            self.public
        )
    }
}

/// The key a page subscribes with.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PushKey {
    /// The server's VAPID public key (uncompressed P-256, base64url): `applicationServerKey`.
    public_key: String,
}

/// The server's VAPID public key, for `pushManager.subscribe`.
#[utoipa::path(get, operation_id = "push_key", path = "/push/key", tag = "tracking",
    responses((status = 200, description = "OK", body = PushKey)))]
pub(crate) async fn key(State(state): State<Arc<ShopState>>) -> Json<PushKey> {
    Json(PushKey {
        public_key: Vapid::of(&state.secret_key).public,
    })
}

/// A browser's keys, as `PushSubscription.toJSON()` gives them.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SubscriptionKeys {
    /// The browser's P-256 public key, base64url.
    p256dh: String,
    /// Its authentication secret, base64url.
    auth: String,
}

/// A browser's push subscription.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SubscriptionBody {
    /// The push service's URL for this browser.
    #[schema(max_length = 2048, example = "https://fcm.googleapis.com/fcm/send/…")]
    endpoint: String,
    keys: Option<SubscriptionKeys>,
}

fn invalid(field: &str, what: &str) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        "Invalid request",
    )
    .detail(format!("{field}: {what}"))
}

fn checked_endpoint(state: &ShopState, raw: &str) -> Result<url::Url, Problem> {
    if raw.len() > MAX_ENDPOINT {
        return Err(invalid(
            "endpoint",
            &format!("use at most {MAX_ENDPOINT} characters"),
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| invalid("endpoint", &e.to_string()))?;
    let private_ok = state.outbound.allow_private_targets();
    match url.scheme() {
        "https" => {}
        "http" if private_ok => {}
        _ => return Err(invalid("endpoint", "a push service's https:// address")),
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("endpoint", "a push service's https:// address"));
    }
    if let Some(why) = state.outbound.refusal(url.as_str()) {
        return Err(invalid("endpoint", &why));
    }
    Ok(url)
}

fn subscription(state: &ShopState, body: SubscriptionBody) -> Result<PushSubscription, Problem> {
    let endpoint = checked_endpoint(state, &body.endpoint)?;
    let keys = body
        .keys
        .ok_or_else(|| invalid("keys", "the subscription's p256dh and auth"))?;
    let decode = |field: &str, v: &str| {
        B64.decode(v.trim_end_matches('='))
            .map_err(|_| invalid(field, "is not base64url"))
    };
    let p256dh = decode("keys.p256dh", &keys.p256dh)?;
    p256::PublicKey::from_sec1_bytes(&p256dh)
        .map_err(|_| invalid("keys.p256dh", "is not a P-256 public key"))?;
    let auth = decode("keys.auth", &keys.auth)?;
    if auth.len() != 16 {
        return Err(invalid("keys.auth", "is not 16 bytes"));
    }
    Ok(PushSubscription {
        endpoint: endpoint.to_string(),
        p256dh,
        auth,
    })
}

/// Notifies this browser of the order's news (the subscription from `pushManager.subscribe`).
#[utoipa::path(put, operation_id = "tracking_page_push", path = "/track/{token}/push", tag = "tracking",
    params(("token" = String, Path, description = "The link's token")),
    request_body = SubscriptionBody,
    responses(
        (status = 204, description = "Kept"),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Not a valid link", body = Problem, content_type = PROBLEM),
        (status = 410, description = "The link expired, or the shop withdrew it", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Not a push subscription (`detail` says which part)", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn subscribe(
    State(state): State<Arc<ShopState>>,
    Path(token): Path<String>,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<StatusCode, Problem> {
    let opened = open(&state, &token).await?;
    let body: SubscriptionBody = serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| invalid("body", &e.to_string()))?;
    let sub = subscription(&state, body)?;
    state
        .db
        .add_push(opened.claims.shop, opened.claims.order, sub, Utc::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The browser to forget.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EndpointQuery {
    /// The subscription's endpoint.
    endpoint: String,
}

/// Stops notifying this browser of the order's news.
#[utoipa::path(delete, operation_id = "tracking_page_unpush", path = "/track/{token}/push", tag = "tracking",
    params(("token" = String, Path, description = "The link's token"), EndpointQuery),
    responses(
        (status = 204, description = "Forgotten (or never kept)"),
        (status = 400, description = "No endpoint named", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Not a valid link", body = Problem, content_type = PROBLEM),
        (status = 410, description = "The link expired, or the shop withdrew it", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn unsubscribe(
    State(state): State<Arc<ShopState>>,
    Path(token): Path<String>,
    query: Result<Query<EndpointQuery>, QueryRejection>,
) -> Result<StatusCode, Problem> {
    let opened = open(&state, &token).await?;
    let Query(q) = query.map_err(|e| {
        Problem::new(StatusCode::BAD_REQUEST, "bad-query", "Unreadable query").detail(e.body_text())
    })?;
    state
        .db
        .remove_push(opened.claims.shop, opened.claims.order, &q.endpoint)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a push carries: the page's service worker shows it.
#[derive(Debug, Serialize)]
pub(crate) struct Payload<'a> {
    pub title: &'a str,
    pub body: &'a str,
    /// The order's tracking page.
    pub url: &'a str,
    /// The same for every copy of the same news: a browser shows it once.
    pub tag: String,
}

/// Sends `payload` to every browser of the order: `Ok` when one took it.
pub(crate) async fn send(
    state: &ShopState,
    subs: &[PushSubscription],
    payload: &Payload<'_>,
) -> Result<(), NotifyError> {
    let vapid = Vapid::of(&state.secret_key);
    let contact = state.public_url.clone();
    let body = serde_json::to_vec(payload).map_err(|e| NotifyError::Rejected(e.to_string()))?;
    let (mut delivered, mut passing) = (0, None);
    let mut refused = Vec::new();
    for sub in subs {
        match send_one(state, &vapid, &contact, sub, &body).await {
            Ok(()) => delivered += 1,
            Err(NotifyError::Unavailable(e) | NotifyError::Later { reason: e, .. }) => {
                passing = Some(e)
            }
            Err(NotifyError::Rejected(e) | NotifyError::NotWanted(e)) => refused.push(e),
        }
    }
    if delivered > 0 {
        return Ok(());
    }
    match passing {
        Some(e) => Err(NotifyError::Unavailable(e)),
        None => Err(NotifyError::Rejected(refused.join("; "))),
    }
}

async fn send_one(
    state: &ShopState,
    vapid: &Vapid,
    contact: &str,
    sub: &PushSubscription,
    body: &[u8],
) -> Result<(), NotifyError> {
    let rejected = |e: String| NotifyError::Rejected(e);
    let endpoint = url::Url::parse(&sub.endpoint).map_err(|e| rejected(e.to_string()))?;
    if let Some(why) = state.outbound.refusal(endpoint.as_str()) {
        return Err(rejected(why));
    }
    let ua_public = p256::PublicKey::from_sec1_bytes(&sub.p256dh)
        .map_err(|_| rejected("the browser's key is not a P-256 key".into()))?;
    let auth = web_push_native::Auth::clone_from_slice(&sub.auth);
    let request = web_push_native::WebPushBuilder::new(
        endpoint
            .as_str()
            .parse()
            .map_err(|e: http::uri::InvalidUri| rejected(e.to_string()))?,
        ua_public,
        auth,
    )
    .with_valid_duration(TTL)
    .build(body.to_vec())
    .map_err(|e| rejected(format!("encrypting the message: {e}")))?;
    let (parts, payload) = request.into_parts();
    let mut req = state
        .outbound
        .client()
        .post(endpoint.clone())
        .header("Authorization", vapid.authorization(&endpoint, contact))
        .header("Urgency", "normal")
        .body(payload);
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_LENGTH {
            req = req.header(name.as_str(), value.as_bytes());
        }
    }
    let res = req
        .send()
        .await
        .map_err(|e| NotifyError::Unavailable(format!("the push service: {}", e.without_url())))?;
    let status = res.status();
    if status.is_success() {
        return Ok(());
    }
    if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
        // The browser unsubscribed or the subscription expired: forgotten.
        if let Err(e) = state.db.drop_push_endpoint(&sub.endpoint).await {
            tracing::warn!(error = %e, "forgetting an expired push subscription failed");
        }
        return Err(rejected(format!(
            "the browser's subscription has expired ({status})"
        )));
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(NotifyError::Unavailable(format!(
            "the push service answered {status}"
        )));
    }
    Err(rejected(format!("the push service refused it ({status})")))
}
