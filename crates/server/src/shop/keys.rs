//! The shop's API keys: list, make, revoke. Only the owner (or a key with `write`) may.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use parceltrail_shop::{ApiKey, KeyId, Scopes};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Body, Caller};
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// An API key's record (never the key).
#[derive(Serialize, ToSchema)]
pub(crate) struct KeyBody {
    #[schema(value_type = uuid::Uuid)]
    id: KeyId,
    name: String,
    /// The key's first characters, to recognise it.
    prefix: String,
    /// Comma-separated: read, write, ingest.
    scopes: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for KeyBody {
    fn from(k: ApiKey) -> Self {
        KeyBody {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.to_string(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// The shop's keys.
#[derive(Serialize, ToSchema)]
pub(crate) struct KeyList {
    keys: Vec<KeyBody>,
}

/// The shop's API keys, revoked ones included.
#[utoipa::path(get, operation_id = "list_keys", path = "/keys", tag = "keys",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = KeyList),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<KeyList>, Problem> {
    caller.require_owner()?;
    let keys = state.db.keys(caller.shop_id).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(KeyBody::from).collect(),
    }))
}

/// A key to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    /// A name to tell keys apart (1 to 200 characters, no control characters).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: String,
    /// Comma-separated, any of: read, write, ingest.
    #[schema(
        example = "read,ingest",
        pattern = "^(read|write|ingest)(,(read|write|ingest))*$"
    )]
    scopes: String,
}

/// A new key: shown once.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedKey {
    key: KeyBody,
    /// The key itself. It is not stored: keep it now.
    api_key: String,
}

/// Makes an API key; the answer holds the key, once.
#[utoipa::path(post, operation_id = "create_key", path = "/keys", tag = "keys",
    security(("api_key" = []), ("session" = [])),
    request_body = NewKey,
    responses(
        (status = 201, description = "Created", body = CreatedKey),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field's value is not acceptable", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn create(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(args): Body<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), Problem> {
    caller.require_owner()?;
    let scopes: Scopes = args.scopes.parse()?;
    let (key, api_key) = state
        .db
        .create_key(caller.shop_id, &args.name, scopes, Utc::now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: key.into(),
            api_key,
        }),
    ))
}

/// Revokes a key: it authenticates nothing from now on.
#[utoipa::path(delete, operation_id = "revoke_key", path = "/keys/{id}", tag = "keys",
    security(("api_key" = []), ("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The revoked key", body = KeyBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope, role or CSRF token)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "The shop has no key with this id", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn revoke(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyBody>, Problem> {
    caller.require_owner()?;
    // A malformed id names no key of this shop: the same 404 as an unknown one.
    let id: KeyId = id.parse().map_err(|_| Problem::not_found())?;
    Ok(Json(
        state
            .db
            .revoke_key(caller.shop_id, id, Utc::now())
            .await?
            .into(),
    ))
}
