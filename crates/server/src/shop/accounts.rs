//! The shop's own carrier accounts (the owner's): UPS, FedEx and USPS client credentials,
//! DHL's and 17TRACK's API keys. The shop's parcels are asked about with them before the
//! operator's; the background work notices a change within a tick, on every replica, and
//! starts the shop's poller again with it. Sealed at rest (`parceltrail_shop::accounts`);
//! never shown back, not even in part.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use parceltrail_carriers::credentials::CarrierKind;
use parceltrail_shop::accounts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Body, Caller};
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// A value an account needs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountField {
    /// Its name in `fields`.
    name: &'static str,
    /// For people.
    label: &'static str,
    /// A secret (entered hidden; never shown back).
    secret: bool,
}

/// One carrier's account for the shop.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountBody {
    /// `ups`, `fedex`, `usps`, `dhl` or `17track`.
    carrier: &'static str,
    carrier_name: &'static str,
    /// What it needs.
    fields: Vec<AccountField>,
    /// The shop has its own account there.
    configured: bool,
    set_at: Option<DateTime<Utc>>,
    /// Who set it: a staff member's address, or an API key's name.
    set_by: Option<String>,
    /// This server's poller asks this carrier about the shop's parcels now (with the shop's
    /// account or the operator's).
    in_use: bool,
}

/// The shop's carrier accounts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountList {
    /// Every carrier that takes an account, in display order.
    accounts: Vec<AccountBody>,
}

fn body(
    state: &ShopState,
    caller: &Caller,
    staff: &[parceltrail_shop::StaffMember],
    kind: CarrierKind,
    stored: Option<&parceltrail_shop::db::CarrierAccount>,
) -> AccountBody {
    AccountBody {
        carrier: kind.id(),
        carrier_name: kind.name(),
        fields: kind
            .fields()
            .iter()
            .map(|f| AccountField {
                name: f.name,
                label: f.label,
                secret: f.secret,
            })
            .collect(),
        configured: stored.is_some(),
        set_at: stored.map(|a| a.set_at),
        set_by: stored.map(|a| super::staff::person(staff, &a.set_by)),
        in_use: state.budgets.uses(caller.shop_id, kind.id()),
    }
}

fn carrier(id: &str) -> Result<CarrierKind, Problem> {
    accounts::carrier(id).map_err(|_| {
        Problem::not_found().detail(format!(
            "no carrier account {id:?}: use {}",
            CarrierKind::ALL.map(|k| k.id()).join(", ")
        ))
    })
}

/// The carriers the shop may bring its own account to, and which it has.
#[utoipa::path(get, operation_id = "list_carrier_accounts", path = "/carriers/accounts", tag = "carriers",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = AccountList),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner (sessions) or no write scope (keys)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<AccountList>, Problem> {
    caller.require_owner()?;
    let stored = state.db.carrier_accounts(caller.shop_id).await?;
    let staff = state.db.staff(caller.shop_id).await?;
    Ok(Json(AccountList {
        accounts: CarrierKind::ALL
            .into_iter()
            .map(|k| {
                let mine = stored.iter().find(|a| a.carrier == k.id());
                body(&state, &caller, &staff, k, mine)
            })
            .collect(),
    }))
}

/// An account's values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountPut {
    /// Every field the carrier needs (see `fields` in the list), by name: `client_id` and
    /// `client_secret` (UPS, FedEx, USPS) or `api_key` (DHL, 17TRACK).
    #[schema(example = json!({"client_id": "…", "client_secret": "…"}))]
    fields: BTreeMap<String, String>,
}

/// Sets the shop's account at a carrier (replacing any). The shop's poller uses it within
/// ten seconds, on every replica.
#[utoipa::path(put, operation_id = "set_carrier_account", path = "/carriers/accounts/{carrier}", tag = "carriers",
    security(("api_key" = []), ("session" = [])),
    params(("carrier" = String, Path, description = "`ups`, `fedex`, `usps`, `dhl` or `17track`")),
    request_body = AccountPut,
    responses(
        (status = 200, description = "Set", body = AccountBody),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner (sessions) or no write scope (keys), or no CSRF token", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such carrier", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field is missing, unknown or not a credential (the detail names it)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn set(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(args): Body<AccountPut>,
) -> Result<Json<AccountBody>, Problem> {
    caller.require_owner()?;
    let kind = carrier(&id)?;
    let creds = accounts::credentials(kind, &args.fields)?;
    let sealed = accounts::seal(&state.secret_key, caller.shop_id, &creds);
    state
        .db
        .set_carrier_account(
            caller.shop_id,
            kind.id(),
            &sealed,
            &caller.actor(),
            Utc::now(),
        )
        .await?;
    tracing::info!(shop = %caller.shop_id, carrier = kind.id(), by = %caller.actor(), "carrier account set");
    let stored = state.db.carrier_accounts(caller.shop_id).await?;
    let mine = stored.iter().find(|a| a.carrier == kind.id());
    let staff = state.db.staff(caller.shop_id).await?;
    Ok(Json(body(&state, &caller, &staff, kind, mine)))
}

/// Removes the shop's account at a carrier: its parcels there are asked about with the
/// operator's account, if the server has one, within ten seconds.
#[utoipa::path(delete, operation_id = "remove_carrier_account", path = "/carriers/accounts/{carrier}", tag = "carriers",
    security(("api_key" = []), ("session" = [])),
    params(("carrier" = String, Path, description = "`ups`, `fedex`, `usps`, `dhl` or `17track`")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner (sessions) or no write scope (keys), or no CSRF token", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such carrier, or the shop has no account there", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn remove(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_owner()?;
    let kind = carrier(&id)?;
    if !state
        .db
        .remove_carrier_account(caller.shop_id, kind.id())
        .await?
    {
        return Err(Problem::not_found().detail(format!("the shop has no {} account", kind.name())));
    }
    tracing::info!(shop = %caller.shop_id, carrier = kind.id(), by = %caller.actor(), "carrier account removed");
    Ok(StatusCode::NO_CONTENT)
}
