//! Twilio calling back: delivery reports on the SMS sent to customers
//! (`POST /twilio/status`, each message's `StatusCallback`) and the replies customers send
//! (`POST /twilio/inbound`, the number's messaging webhook in Twilio's console): STOP ends
//! every SMS to that number, START brings them back. Each request must carry a valid
//! `X-Twilio-Signature` for the URL under the server's public address and name the server's
//! account; anything else is refused before its fields are read for their meaning.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use parceltrail_notifiers::sms::Twilio;
use parceltrail_shop::sms::{self, Reply};

use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// Where Twilio reports on messages, under the public address.
pub(crate) const STATUS_PATH: &str = "/twilio/status";
/// Where Twilio forwards replies.
pub(crate) const INBOUND_PATH: &str = "/twilio/inbound";

/// The address Twilio is asked to report to.
pub(crate) fn status_url(public_url: &str) -> String {
    format!("{}{STATUS_PATH}", public_url.trim_end_matches('/'))
}

/// The form's fields, once its signature is checked against the server's account.
fn verified(
    state: &ShopState,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Vec<(String, String)>, Twilio), Problem> {
    let Some(twilio) = state.channels.sms.clone() else {
        return Err(Problem::not_found().detail("this server sends no SMS"));
    };
    let refused = || {
        Problem::new(
            StatusCode::FORBIDDEN,
            "bad-signature",
            "Not signed by Twilio",
        )
        .detail("X-Twilio-Signature does not sign this request for this server's account")
    };
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refused)?;
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let url = format!("{}{path}", state.public_url.trim_end_matches('/'));
    if !sms::signature_valid(twilio.auth_token(), &url, &params, signature) {
        return Err(refused());
    }
    let account = params
        .iter()
        .find(|(k, _)| k == "AccountSid")
        .map(|(_, v)| v.as_str());
    if account != Some(twilio.account_sid()) {
        return Err(refused());
    }
    Ok((params, twilio))
}

fn bad_body(e: BytesRejection) -> Problem {
    Problem::new(e.status(), "bad-body", "Unreadable request body").detail(e.body_text())
}

fn field<'a>(params: &'a [(String, String)], name: &'static str) -> Result<&'a str, Problem> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid request",
            )
            .detail(format!("{name} is missing"))
        })
}

/// Twilio's report on a message sent to a customer: its status is kept with the order.
#[utoipa::path(post, operation_id = "twilio_status", path = "/twilio/status", tag = "notifications",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's status callback, as signed"),
    responses(
        (status = 204, description = "Kept (or older news than what is kept)"),
        (status = 403, description = "Not signed by Twilio for this server's account", body = Problem, content_type = PROBLEM),
        (status = 404, description = "This server sends no SMS", body = Problem, content_type = PROBLEM),
        (status = 413, description = "The body is larger than the server takes", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field is missing or not Twilio's", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn status(
    State(state): State<Arc<ShopState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Problem> {
    let body = body.map_err(bad_body)?;
    let (params, _) = verified(&state, STATUS_PATH, &headers, &body)?;
    let sid = field(&params, "MessageSid")?;
    let status = field(&params, "MessageStatus")?;
    let code = params
        .iter()
        .find(|(k, _)| k == "ErrorCode")
        .and_then(|(_, v)| v.parse::<i32>().ok());
    state.db.sms_report(sid, status, code, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A customer's reply to an SMS: STOP (and Twilio's other opt-out words) ends every SMS to
/// the number; START brings them back. Answered with an empty TwiML response (Twilio sends
/// its own confirmation of STOP and START).
#[utoipa::path(post, operation_id = "twilio_inbound", path = "/twilio/inbound", tag = "notifications",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's incoming-message webhook, as signed"),
    responses(
        (status = 200, description = "Heard", content_type = "text/xml", body = String),
        (status = 403, description = "Not signed by Twilio for this server's account", body = Problem, content_type = PROBLEM),
        (status = 404, description = "This server sends no SMS", body = Problem, content_type = PROBLEM),
        (status = 413, description = "The body is larger than the server takes", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field is missing", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn inbound(
    State(state): State<Arc<ShopState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(bad_body)?;
    let (params, _) = verified(&state, INBOUND_PATH, &headers, &body)?;
    let from = field(&params, "From")?;
    let text = params
        .iter()
        .find(|(k, _)| k == "Body")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if let Some(phone) = sms::phone_key(from) {
        match sms::reply(text) {
            Reply::Stop => state.db.set_sms_opt_out(&phone, true, Utc::now()).await?,
            Reply::Start => state.db.set_sms_opt_out(&phone, false, Utc::now()).await?,
            Reply::Other => {}
        }
    }
    Ok((
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>",
    )
        .into_response())
}
