//! A shop's defaults for its customers' notifications: which channels are on until a customer
//! chooses, which news, quiet hours (read in each customer's own time zone), and the language
//! and zone of a customer the shop knows neither of. Each customer's own choice is made on
//! the tracking page (`track::set_notifications`) and wins part by part.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use parceltrail_shop::prefs::{self, Language, NotifySettings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Body, Caller};
use super::problem::PROBLEM;
use super::{Problem, ShopState};

/// Quiet hours: no message in this part of each customer's day; what comes meanwhile waits
/// until it ends.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuietHoursBody {
    /// `HH:MM`, the customer's time.
    #[schema(example = "21:00")]
    start: String,
    /// `HH:MM`, the customer's time (before `start`: the period crosses midnight).
    #[schema(example = "08:00")]
    end: String,
    /// Let "delivered" through anyway.
    #[serde(default)]
    delivered_through: bool,
}

/// The shop's notification defaults.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationSettings {
    /// Customers get email unless they turn it off (false: only those who turn it on).
    email: bool,
    /// Customers get SMS unless they turn it off (false: only those who turn it on).
    sms: bool,
    /// The news customers hear of unless they choose: any of `shipped`, `out_for_delivery`,
    /// `ready_for_pickup`, `delivered`, `problems`.
    news: Vec<String>,
    /// None: messages go at any hour.
    #[schema(nullable)]
    quiet_hours: Option<QuietHoursBody>,
    /// The zone of a customer whose own is not known (IANA name).
    #[schema(example = "Europe/Berlin")]
    time_zone: String,
    /// The language of a customer whose own is not known: `en` or `de`.
    #[schema(example = "en")]
    language: String,
}

fn body_of(s: &NotifySettings) -> NotificationSettings {
    NotificationSettings {
        email: s.email,
        sms: s.sms,
        news: prefs::choices_of(s.kinds)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        quiet_hours: s.quiet.map(|q| QuietHoursBody {
            start: q.start.format("%H:%M").to_string(),
            end: q.end.format("%H:%M").to_string(),
            delivered_through: q.allow_delivered,
        }),
        time_zone: s.time_zone.name().to_owned(),
        language: s.language.code().to_owned(),
    }
}

fn settings_of(b: &NotificationSettings) -> Result<NotifySettings, parceltrail_shop::Error> {
    Ok(NotifySettings {
        email: b.email,
        sms: b.sms,
        kinds: prefs::kinds_of("news", &b.news)?,
        quiet: b
            .quiet_hours
            .as_ref()
            .map(|q| prefs::quiet_hours(&q.start, &q.end, q.delivered_through))
            .transpose()?,
        time_zone: prefs::parse_zone("time_zone", &b.time_zone)?,
        language: Language::parse("language", &b.language)?,
    })
}

/// The shop's defaults for its customers' notifications.
#[utoipa::path(get, operation_id = "notification_settings", path = "/shop/notifications", tag = "notifications",
    security(("api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "OK", body = NotificationSettings),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not allowed (scope)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn get(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
) -> Result<Json<NotificationSettings>, Problem> {
    caller.require(|s| s.read, "read")?;
    let s = state.db.notify_settings(caller.shop_id).await?;
    Ok(Json(body_of(&s)))
}

/// Replaces the shop's defaults. A customer's own choice (on the tracking page) still wins,
/// part by part; quiet hours apply to every customer, in their own time zone.
#[utoipa::path(put, operation_id = "set_notification_settings", path = "/shop/notifications", tag = "notifications",
    security(("api_key" = []), ("session" = [])),
    request_body = NotificationSettings,
    responses(
        (status = 200, description = "Kept", body = NotificationSettings),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 401, description = "No key or session, or a wrong or revoked one", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not the owner (sessions) or no write scope (keys), or no CSRF token", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field is not what it should be (the detail names it)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Throttled: see Retry-After", body = Problem, content_type = PROBLEM),
    ))]
pub(crate) async fn set(
    State(state): State<Arc<ShopState>>,
    caller: Caller,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<NotificationSettings>, Problem> {
    caller.require_owner()?;
    let body: NotificationSettings = super::problem::from_object(body)?;
    let settings = settings_of(&body)?;
    state
        .db
        .set_notify_settings(caller.shop_id, settings, Utc::now())
        .await?;
    // Pages and messages on this process see the change at once; other replicas' within
    // their cache's two seconds.
    state.shop_cache.forget(caller.shop_id);
    Ok(Json(body_of(&settings)))
}
