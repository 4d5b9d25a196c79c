//! The shop and its staff's sessions: set a password through a one-time link, sign in and
//! out, and who the caller is.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use parceltrail_shop::{Role, Session, Shop};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Auth, Body, Caller, SESSION_COOKIE, session_cookie};
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// A shop, briefly.
#[derive(Serialize, ToSchema)]
pub(crate) struct ShopRef {
    #[schema(value_type = uuid::Uuid)]
    id: parceltrail_shop::ShopId,
    name: String,
}

impl From<&Shop> for ShopRef {
    fn from(s: &Shop) -> Self {
        ShopRef {
            id: s.id,
            name: s.name.clone(),
        }
    }
}

/// Who is calling.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CallerBody {
    /// An API key.
    Key {
        #[schema(value_type = uuid::Uuid)]
        id: parceltrail_shop::KeyId,
        name: String,
        /// Comma-separated: read, write, ingest.
        scopes: String,
    },
    /// A staff member's session.
    Staff {
        #[schema(value_type = uuid::Uuid)]
        id: parceltrail_shop::StaffId,
        #[schema(value_type = String, example = "owner")]
        role: Role,
    },
}

/// The caller's shop.
#[derive(Serialize, ToSchema)]
pub(crate) struct ShopBody {
    #[schema(value_type = uuid::Uuid)]
    id: parceltrail_shop::ShopId,
    name: String,
    created_at: DateTime<Utc>,
    caller: CallerBody,
    /// What this server can send the shop's customers (its operator's set-up).
    channels: ChannelsBody,
}

/// The channels this server sends on.
#[derive(Serialize, ToSchema)]
pub(crate) struct ChannelsBody {
    /// An SMTP relay is set.
    email: bool,
    /// A Twilio account is set.
    sms: bool,
    /// Web Push is offered to customers' browsers.
    push: bool,
}

/// The caller's shop, and who the caller is.
#[utoipa::path(get, operation_id = "get_shop", path = "/shop", tag = "shop",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = ShopBody),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn shop(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<ShopBody>, Problem> {
    caller.require(|s| s.read, "read")?;
    let shop = state.db.shop(caller.shop_id).await?;
    let caller = match caller.auth {
        Auth::Key(k) => CallerBody::Key {
            id: k.id,
            name: k.name,
            scopes: k.scopes.to_string(),
        },
        Auth::Staff(s) => CallerBody::Staff {
            id: s.staff_id,
            role: s.role,
        },
    };
    Ok(Json(ShopBody {
        id: shop.id,
        name: shop.name,
        created_at: shop.created_at,
        caller,
        channels: ChannelsBody {
            email: state.channels.email.is_some(),
            sms: state.channels.sms.is_some(),
            push: state.channels.push,
        },
    }))
}

/// A one-time link's token and the password to set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetupArgs {
    /// The token from the link (after `#`).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    token: String,
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 1024)]
    password: String,
}

/// The account whose password was set.
#[derive(Serialize, ToSchema)]
pub(crate) struct SetupDone {
    email: String,
    shop: ShopRef,
}

/// Sets a staff member's password through their one-time link.
#[utoipa::path(post, operation_id = "set_password", path = "/setup", tag = "staff",
    request_body = SetupArgs,
    responses(
        (status = 200, description = "OK", body = SetupDone),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The link was used, has expired or never existed", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The password is too short or too long", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn setup(
    State(state): State<Arc<ShopState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(args): Body<SetupArgs>,
) -> Result<Json<SetupDone>, Problem> {
    // Each try costs a password hash: throttled like a login.
    state.limits.attempt(peer.ip())?;
    let member = state
        .db
        .redeem_setup_link(&args.token, &args.password, Utc::now())
        .await
        .map_err(|e| match e {
            parceltrail_shop::Error::NotFound => Problem::not_found().detail(
                "this link is not valid (used, expired or mistyped): ask the shop's owner for a new one",
            ),
            e => e.into(),
        })?;
    let shop = state.db.shop(member.shop_id).await?;
    Ok(Json(SetupDone {
        email: member.email,
        shop: (&shop).into(),
    }))
}

/// An address and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginArgs {
    #[schema(max_length = 254)]
    email: String,
    #[schema(max_length = 1024)]
    password: String,
}

/// A staff session.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionBody {
    shop: ShopRef,
    #[schema(value_type = uuid::Uuid)]
    staff_id: parceltrail_shop::StaffId,
    #[schema(value_type = String, example = "owner")]
    role: Role,
    /// Send it in `X-CSRF-Token` with every change this session makes.
    csrf_token: String,
    expires_at: DateTime<Utc>,
}

fn session_body(s: &Session, shop: &Shop) -> SessionBody {
    SessionBody {
        shop: shop.into(),
        staff_id: s.staff_id,
        role: s.role,
        csrf_token: s.csrf.clone(),
        expires_at: s.expires_at,
    }
}

/// The session cookie's `Set-Cookie` (an empty token with no age clears it).
fn session_cookie_header(token: &str, max_age: i64) -> HeaderValue {
    // Tokens are 64 hex characters: always a valid header value.
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Signs a staff member in: a session cookie, and the CSRF token for the page to send.
#[utoipa::path(post, operation_id = "login", path = "/login", tag = "staff",
    request_body = LoginArgs,
    responses(
        (status = 200, body = SessionBody, headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "Wrong address or password (the same answer for both)", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field's value is not acceptable", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn login(
    State(state): State<Arc<ShopState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(args): Body<LoginArgs>,
) -> Result<Response, Problem> {
    let account = args.email.trim().to_lowercase();
    state.limits.login(peer.ip(), &account)?;
    let Some((session, token)) = state.db.login(&account, &args.password, Utc::now()).await? else {
        return Err(Problem::unauthorized("wrong email address or password"));
    };
    let shop = state.db.shop(session.shop_id).await?;
    let max_age = (session.expires_at - Utc::now()).num_seconds().max(0);
    let mut res = Json(session_body(&session, &shop)).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie_header(&token, max_age));
    Ok(res)
}

/// Ends the session and clears its cookie.
#[utoipa::path(post, operation_id = "logout", path = "/logout", tag = "staff",
    security(("session" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "No or a wrong X-CSRF-Token", body = Problem, content_type = PROBLEM),
        (status = 404, description = "An API key has no session", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn logout(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    match (&caller.auth, session_cookie(&headers)) {
        (Auth::Staff(_), Some(token)) => state.db.end_session(token).await?,
        _ => return Err(Problem::not_found().detail("an API key has no session")),
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie_header("", 0));
    Ok(res)
}

/// The signed-in staff member's session (and its CSRF token, for a page that reloaded).
#[utoipa::path(get, operation_id = "get_session", path = "/session", tag = "staff",
    security(("session" = [])),
    responses(
        (status = 200, description = "OK", body = SessionBody),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 404, description = "An API key has no session", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn session(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<SessionBody>, Problem> {
    match &caller.auth {
        Auth::Staff(s) => {
            let shop = state.db.shop(s.shop_id).await?;
            Ok(Json(session_body(s, &shop)))
        }
        Auth::Key(_) => Err(Problem::not_found().detail("an API key has no session")),
    }
}
