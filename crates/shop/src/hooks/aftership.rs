//! AfterShip tracking webhooks: `{"event": "tracking_update" | "edd_revise", "event_id",
//! "ts", "is_tracking_first_tag", "msg": <tracking>}`, where the tracking carries its
//! `tracking_number`, `slug`, `tag`/`subtag`, estimates and `checkpoints[]`
//! (`checkpoint_time`, `tag`, `subtag`, `message`, `city`, `state`, `country_iso3` or
//! `country_region`, `zip`/`postal_code`, `location`).

use chrono::{DateTime, Utc};
use parceltrail_core::domain::{CarrierEta, NewEvent, Place, Source, Status};
use serde_json::Value;

use super::json::{self, at, index};
use super::{HookError, MAX_EVENTS, Push, country};

/// AfterShip's tags, and the subtags that say more than their tag, in one table. A subtag
/// listed here wins over its tag; any other subtag has its tag's status.
///
/// `Pending` ("no tracking information yet") is `Unknown`, not core's `Pending`: it says
/// nothing about progress, and as `Unknown` a later `Pending` checkpoint can never hide a
/// known status (core derives a parcel's status from its events, ignoring `Unknown` ones).
/// Returns are only told apart by subtag: `Exception_010` (returning to sender) and
/// `Exception_011` (returned to sender).
const STATUSES: &[(&str, Status)] = &[
    ("Pending", Status::Unknown),
    ("InfoReceived", Status::InfoReceived),
    ("InTransit", Status::InTransit),
    ("OutForDelivery", Status::OutForDelivery),
    ("AttemptFail", Status::FailedAttempt),
    ("Delivered", Status::Delivered),
    ("AvailableForPickup", Status::AvailableForPickup),
    ("Exception", Status::Exception),
    ("Exception_010", Status::Returned),
    ("Exception_011", Status::Returned),
    ("Expired", Status::Expired),
];

/// AfterShip courier slugs whose Parceltrail carrier id is spelt differently. A slug that
/// is itself a Parceltrail carrier id (`ups`, `fedex`, `usps`, `dhl`, `royal-mail`, …) maps
/// to itself without a row here.
const SLUGS: &[(&str, &str)] = &[
    ("dhl-germany", "dhl"),
    ("dhl-global-mail", "dhl-ecommerce"),
    ("deutsch-post", "deutsche-post"),
    ("china-ems", "china-post"),
    ("postnl-international", "postnl"),
    ("hermes-uk", "evri"),
];

fn lookup(code: &str) -> Option<Status> {
    STATUSES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, s)| *s)
}

/// A checkpoint's (or tracking's) status from its tag and subtag. Unknown codes are
/// `Unknown` (kept raw in the event's code), never a guess.
pub(super) fn status(tag: Option<&str>, subtag: Option<&str>) -> Status {
    subtag
        .and_then(lookup)
        .or_else(|| tag.and_then(lookup))
        .or_else(|| subtag.and_then(|s| s.split('_').next()).and_then(lookup))
        .unwrap_or(Status::Unknown)
}

/// The Parceltrail carrier id for a slug, where there is one.
pub(super) fn carrier(slug: &str) -> Option<String> {
    let slug = slug.trim().to_ascii_lowercase();
    if let Some((_, id)) = SLUGS.iter().find(|(s, _)| *s == slug) {
        return Some((*id).to_owned());
    }
    parceltrail_core::detect::carrier(&slug)
        .filter(|c| c.id == slug)
        .map(|c| c.id)
}

pub(super) fn parse(v: &Value) -> Result<Vec<Push>, HookError> {
    json::need_object(v, "")?;
    let event = json::text(v, "event", "")?
        .ok_or_else(|| HookError::malformed("event: missing (tracking_update or edd_revise)"))?;
    if !matches!(event.as_str(), "tracking_update" | "edd_revise") {
        // Another kind of notice (say tracking_pending_time): nothing to ingest.
        return Ok(Vec::new());
    }
    let sent_at = v
        .get("ts")
        .and_then(Value::as_i64)
        .and_then(|s| DateTime::from_timestamp(s, 0));
    let msg = json::object(v, "msg", "")?;
    json::need_object(msg, "msg")?;
    let tracking_number = super::tracking_number(
        json::text(msg, "tracking_number", "msg")?.as_deref(),
        "msg.tracking_number",
    )?;
    let slug = json::text(msg, "slug", "msg")?;
    let mut events = Vec::new();
    for (i, c) in json::array(msg, "checkpoints", "msg", MAX_EVENTS)?
        .iter()
        .enumerate()
    {
        events.push(checkpoint(c, &index("msg.checkpoints", i))?);
    }
    let observed_at = sent_at
        .or_else(|| json::lenient_time(msg, "updated_at").map(|t| t.to_utc()))
        .or_else(|| events.iter().map(|e| e.occurred_at.to_utc()).max())
        .unwrap_or_default();
    Ok(vec![Push {
        tracking_number,
        carrier: slug.as_deref().and_then(carrier),
        carrier_hint: slug,
        events,
        carrier_eta: estimate(msg, observed_at),
        service: json::text(msg, "shipment_type", "msg")?,
        origin: place(msg, "origin", "msg")?,
        destination: place(msg, "destination", "msg")?,
        stopped: false,
    }])
}

fn checkpoint(c: &Value, path: &str) -> Result<NewEvent, HookError> {
    json::need_object(c, path)?;
    let tag = json::text(c, "tag", path)?;
    let subtag = json::text(c, "subtag", path)?;
    let status = status(tag.as_deref(), subtag.as_deref());
    let description = match json::text(c, "message", path)? {
        Some(m) => m,
        None => json::text(c, "subtag_message", path)?.unwrap_or_default(),
    };
    let country = match json::text(c, "country_region", path)? {
        Some(c) => Some(c),
        None => json::text(c, "country_iso3", path)?,
    };
    let postal = match json::text(c, "postal_code", path)? {
        Some(p) => Some(p),
        None => json::text(c, "zip", path)?,
    };
    let city = match json::text(c, "city", path)? {
        Some(city) => Some(city),
        // `location` is free text ("Leipzig, Germany"): kept whole as the city, as the
        // 17TRACK adapter does.
        None => json::text(c, "location", path)?,
    };
    Ok(NewEvent {
        occurred_at: json::time(c, "checkpoint_time", path, false)?,
        status,
        raw_code: subtag.or(tag),
        description,
        location: Place {
            city,
            region: json::text(c, "state", path)?,
            country: country.map(|c| country::normalise(&c)),
            postal,
        },
        source: Source::Webhook,
    })
}

/// `origin_*` or `destination_*` of the tracking.
fn place(msg: &Value, side: &str, base: &str) -> Result<Option<Place>, HookError> {
    let f = |k: &str| json::text(msg, &format!("{side}_{k}"), base);
    let country = match f("country_region")? {
        Some(c) => Some(c),
        None => f("country_iso3")?,
    };
    let p = Place {
        city: f("city")?,
        region: f("state")?,
        country: country.map(|c| country::normalise(&c)),
        postal: f("postal_code")?,
    };
    json::check_place(&at(base, side), &p)?;
    Ok(Some(p).filter(|p| !p.is_empty()))
}

/// The newest word on delivery, carrier's first: `latest_estimated_delivery`, the
/// courier's, `expected_delivery`, then AfterShip's own prediction. Unreadable dates are
/// no estimate, not a refusal.
fn estimate(msg: &Value, observed_at: DateTime<Utc>) -> Option<CarrierEta> {
    let window = |o: &Value, min: &str, max: &str, one: &str| match (
        json::lenient_time(o, min),
        json::lenient_time(o, max),
    ) {
        (Some(a), Some(b)) => Some((a.min(b), a.max(b))),
        (Some(a), None) | (None, Some(a)) => Some((a, a)),
        (None, None) => json::lenient_time(o, one).map(|t| (t, t)),
    };
    let empty = Value::Null;
    let obj = |k: &str| msg.get(k).filter(|o| o.is_object()).unwrap_or(&empty);
    window(
        obj("latest_estimated_delivery"),
        "datetime_min",
        "datetime_max",
        "datetime",
    )
    .or_else(|| {
        window(
            obj("courier_estimated_delivery_date"),
            "estimated_delivery_date_min",
            "estimated_delivery_date_max",
            "estimated_delivery_date",
        )
    })
    .or_else(|| json::lenient_time(msg, "expected_delivery").map(|t| (t, t)))
    .or_else(|| {
        window(
            obj("aftership_estimated_delivery_date"),
            "estimated_delivery_date_min",
            "estimated_delivery_date_max",
            "estimated_delivery_date",
        )
    })
    .map(|(earliest, latest)| CarrierEta {
        earliest,
        latest,
        observed_at,
    })
}
