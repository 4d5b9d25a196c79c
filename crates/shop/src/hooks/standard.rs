//! Parceltrail's own push body, sent with Standard Webhooks signatures: one object, or an
//! array of them (a batch).
//!
//! ```json
//! {"tracking_number": "1Z999AA10123456784", "carrier": "ups",
//!  "events": [{"occurred_at": "2026-03-14T08:12:00-05:00", "status": "out_for_delivery",
//!              "description": "Loaded on delivery vehicle", "code": "OT",
//!              "location": {"city": "Columbus", "region": "OH", "country": "US",
//!                           "postal": "43219"}}]}
//! ```
//!
//! `status` is one of core's normalised names; `occurred_at` is RFC 3339 with its offset;
//! `carrier`, `description`, `code` and `location` (and each of its parts) may be left out.
//! Our own format, so it is read strictly: anything off is refused, saying where.

use parceltrail_core::domain::{NewEvent, Place, Source, Status};
use serde_json::Value;

use super::json::{self, at, index};
use super::{HookError, MAX_EVENTS, MAX_PUSHES, Push, country};

pub(super) fn parse(v: &Value) -> Result<Vec<Push>, HookError> {
    match v {
        Value::Array(items) => {
            if items.len() > MAX_PUSHES {
                return Err(HookError::malformed(format!(
                    "the batch has {} entries; at most {MAX_PUSHES} are read",
                    items.len()
                )));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, p)| push(p, &index("", i)))
                .collect()
        }
        _ => Ok(vec![push(v, "")?]),
    }
}

fn push(v: &Value, path: &str) -> Result<Push, HookError> {
    json::need_object(v, path)?;
    let tracking_number = super::tracking_number(
        json::text(v, "tracking_number", path)?.as_deref(),
        &at(path, "tracking_number"),
    )?;
    let carrier = match json::text(v, "carrier", path)? {
        None => None,
        Some(c) => Some(
            parceltrail_core::detect::carrier(&c)
                .map(|c| c.id)
                .ok_or_else(|| {
                    HookError::malformed(format!(
                        "{}: {:?} is not a carrier id (see `parceltrail carriers`)",
                        at(path, "carrier"),
                        crate::db::clip(&c, 40)
                    ))
                })?,
        ),
    };
    let base = at(path, "events");
    let events = json::array(v, "events", path, MAX_EVENTS)?
        .iter()
        .enumerate()
        .map(|(i, e)| event(e, &index(&base, i)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Push {
        tracking_number,
        carrier_hint: carrier.clone(),
        carrier,
        events,
        carrier_eta: None,
        service: None,
        origin: None,
        destination: None,
        stopped: false,
    })
}

fn event(e: &Value, path: &str) -> Result<NewEvent, HookError> {
    json::need_object(e, path)?;
    let occurred_at = json::time(e, "occurred_at", path, true)?;
    let status_path = at(path, "status");
    let status = json::text(e, "status", path)?
        .ok_or_else(|| HookError::malformed(format!("{status_path}: missing")))?;
    let status: Status = status.parse().map_err(|_| {
        HookError::malformed(format!(
            "{status_path}: {:?} is not a status; use one of {}",
            crate::db::clip(&status, 40),
            Status::ALL.map(Status::as_str).join(", ")
        ))
    })?;
    let loc_path = at(path, "location");
    let loc = json::object(e, "location", path)?;
    let country = match json::text(loc, "country", &loc_path)? {
        None => None,
        Some(c) => {
            let n = country::normalise(&c);
            if n.len() != 2 || !n.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(HookError::malformed(format!(
                    "{}: {:?} is not an ISO 3166 country code (use two letters, such as DE)",
                    at(&loc_path, "country"),
                    crate::db::clip(&c, 40)
                )));
            }
            Some(n)
        }
    };
    Ok(NewEvent {
        occurred_at,
        status,
        raw_code: json::text(e, "code", path)?,
        description: json::text(e, "description", path)?.unwrap_or_default(),
        location: Place {
            city: json::text(loc, "city", &loc_path)?,
            region: json::text(loc, "region", &loc_path)?,
            country,
            postal: json::text(loc, "postal", &loc_path)?,
        },
        source: Source::Webhook,
    })
}
