//! The shop's staff, the owner's to manage: who may sign in to the dashboard, an invitation
//! (a one-time link to set a password, shown once to the owner, who passes it on), a new link
//! for a forgotten password, and removing someone (their sessions end at once).
//!
//! Changes need the owner's signed-in session, not an API key: people are let in by a person,
//! so a leaked key cannot make itself a login.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use parceltrail_shop::db::SETUP_LINK_DAYS;
use parceltrail_shop::{Role, StaffId, StaffMember};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Auth, Body, Caller};
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// A staff member (never a password).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StaffBody {
    #[schema(value_type = uuid::Uuid)]
    id: StaffId,
    /// Their sign-in address.
    email: String,
    /// `owner` (everything) or `staff` (orders, requests, analytics; not settings' secrets,
    /// keys or staff).
    #[schema(value_type = String, example = "staff")]
    role: Role,
    /// They have set a password (false: the invitation is not used yet).
    password_set: bool,
    created_at: DateTime<Utc>,
    /// This is the caller.
    you: bool,
}

fn body_of(m: StaffMember, caller: &Caller) -> StaffBody {
    let you = matches!(&caller.auth, Auth::Staff(s) if s.staff_id == m.id);
    StaffBody {
        id: m.id,
        email: m.email,
        role: m.role,
        password_set: m.password_set,
        created_at: m.created_at,
        you,
    }
}

/// The shop's staff.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StaffList {
    /// Oldest first.
    staff: Vec<StaffBody>,
}

/// The shop's staff (the owner's to see: the list is people's addresses).
#[utoipa::path(get, operation_id = "list_staff", path = "/staff", tag = "staff",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = StaffList),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner (sessions) or no write scope (keys)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<StaffList>, Problem> {
    caller.require_owner()?;
    let staff = state.db.staff(caller.shop_id).await?;
    Ok(Json(StaffList {
        staff: staff.into_iter().map(|m| body_of(m, &caller)).collect(),
    }))
}

/// The owner's signed-in session, or why not.
fn owner_session(caller: &Caller) -> Result<StaffId, Problem> {
    match &caller.auth {
        Auth::Staff(s) if s.role == Role::Owner => Ok(s.staff_id),
        Auth::Staff(_) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "role",
            "Only the shop's owner may do this",
        )),
        Auth::Key(_) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "session",
            "Staff are managed from the owner's signed-in dashboard",
        )
        .detail("an API key cannot add, remove or reset staff")),
    }
}

/// Someone to invite.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewStaff {
    /// Their sign-in address.
    #[schema(max_length = 254, example = "sam@trailhead.example")]
    email: String,
    /// `staff` (the default) or `owner`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "staff")]
    role: Option<String>,
}

/// A one-time link to set a password: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StaffLink {
    member: StaffBody,
    /// Give it to them: it sets their password once. It is not stored and not shown again.
    setup_url: String,
    /// Until when it works.
    expires_at: DateTime<Utc>,
}

fn link_of(state: &ShopState, member: StaffBody, token: &str, now: DateTime<Utc>) -> StaffLink {
    StaffLink {
        member,
        setup_url: format!("{}/setup#{token}", state.public_url.trim_end_matches('/')),
        expires_at: now + Duration::days(SETUP_LINK_DAYS),
    }
}

/// Invites a staff member: the answer holds the one-time link to set their password, once.
#[utoipa::path(post, operation_id = "invite_staff", path = "/staff", tag = "staff",
    security(("session" = [])),
    request_body = NewStaff,
    responses(
        (status = 201, description = "Invited", body = StaffLink),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner's session (keys cannot), or no CSRF token", body = Problem, content_type = PROBLEM),
        (status = 409, description = "That address already signs in to a shop here", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Not an email address, or not a role", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn invite(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(args): Body<NewStaff>,
) -> Result<(StatusCode, Json<StaffLink>), Problem> {
    owner_session(&caller)?;
    let role: Role = args.role.as_deref().unwrap_or("staff").parse()?;
    let now = Utc::now();
    let (member, token) = state
        .db
        .add_staff(caller.shop_id, &args.email, role, now)
        .await?;
    tracing::info!(shop = %caller.shop_id, staff = %member.id, role = role.as_str(), by = %caller.actor(), "staff invited");
    let member = body_of(member, &caller);
    Ok((
        StatusCode::CREATED,
        Json(link_of(&state, member, &token, now)),
    ))
}

/// The shop's member with this id, before anything else is asked: another shop's member, or
/// a malformed id, is the same 404 as one that does not exist, whoever asks.
async fn member(state: &ShopState, caller: &Caller, id: &str) -> Result<StaffId, Problem> {
    let id: StaffId = id.parse().map_err(|_| Problem::not_found())?;
    let staff = state.db.staff(caller.shop_id).await?;
    if staff.iter().any(|m| m.id == id) {
        Ok(id)
    } else {
        Err(Problem::not_found())
    }
}

/// A new one-time link for a staff member to set their password (the invitation again, or a
/// forgotten password). Their older unused link stops working; using this one ends their
/// sessions.
#[utoipa::path(post, operation_id = "staff_setup_link", path = "/staff/{id}/setup-link", tag = "staff",
    security(("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The staff member's id")),
    responses(
        (status = 200, description = "The link, once", body = StaffLink),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner's session (keys cannot), or no CSRF token", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no staff member with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn setup_link(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StaffLink>, Problem> {
    let id = member(&state, &caller, &id).await?;
    owner_session(&caller)?;
    let now = Utc::now();
    let (member, token) = state.db.new_setup_link(caller.shop_id, id, now).await?;
    tracing::info!(shop = %caller.shop_id, staff = %member.id, by = %caller.actor(), "staff setup link made");
    let member = body_of(member, &caller);
    Ok(Json(link_of(&state, member, &token, now)))
}

/// Removes a staff member: they are signed out everywhere at once and cannot sign in again.
/// The owner cannot remove themselves (a shop keeps an owner).
#[utoipa::path(delete, operation_id = "remove_staff", path = "/staff/{id}", tag = "staff",
    security(("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The staff member's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner's session (keys cannot), or no CSRF token", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no staff member with this id", body = Problem, content_type = PROBLEM),
        (status = 409, description = "That is the caller: an owner cannot remove themselves", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn remove(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = member(&state, &caller, &id).await?;
    let me = owner_session(&caller)?;
    if id == me {
        return Err(
            Problem::new(StatusCode::CONFLICT, "self", "You cannot remove yourself")
                .detail("a shop keeps its owner: another owner may remove you"),
        );
    }
    state.db.remove_staff(caller.shop_id, id).await?;
    tracing::info!(shop = %caller.shop_id, staff = %id, by = %caller.actor(), "staff removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Who an actor ([`Caller::actor`]: `staff:<id>` or `key:<name>`) is, for people: the staff
/// member's address (or that they were removed), or the API key's name.
pub(crate) fn person(staff: &[StaffMember], actor: &str) -> String {
    if let Some(id) = actor.strip_prefix("staff:") {
        return staff
            .iter()
            .find(|m| m.id.to_string() == id)
            .map_or_else(|| "a removed staff member".to_owned(), |m| m.email.clone());
    }
    match actor.strip_prefix("key:") {
        Some(name) => format!("the API key “{name}”"),
        None => actor.to_owned(),
    }
}
