//! 17TRACK v2.2 pushes: `{"event": "TRACKING_UPDATED" | "TRACKING_STOPPED", "data": {"number",
//! "carrier", "tag", "track_info"}}`. `track_info` is the object `gettrackinfo` answers with,
//! so it is read by the polling adapter's own reader (`parceltrail_carriers::track17`): a
//! scan pushed and the same scan polled become the same event.

use parceltrail_carriers::track17 as adapter;
use parceltrail_core::domain::Source;
use serde_json::Value;

use super::json::{self, at, index};
use super::{HookError, MAX_EVENTS, Push};

pub(super) fn parse(v: &Value) -> Result<Vec<Push>, HookError> {
    json::need_object(v, "")?;
    let event = json::text(v, "event", "")?.ok_or_else(|| {
        HookError::malformed("event: missing (TRACKING_UPDATED or TRACKING_STOPPED)")
    })?;
    let stopped = match event.as_str() {
        "TRACKING_UPDATED" => false,
        "TRACKING_STOPPED" => true,
        // An event this build does not read: nothing to ingest.
        _ => return Ok(Vec::new()),
    };
    let data = json::object(v, "data", "")?;
    json::need_object(data, "data")?;
    let tracking_number = super::tracking_number(
        json::text(data, "number", "data")?.as_deref(),
        "data.number",
    )?;
    let carrier_hint = json::text(data, "carrier", "data")?;
    let carrier = carrier_hint
        .as_deref()
        .and_then(|c| c.parse::<i64>().ok())
        .and_then(adapter::carrier_id)
        .map(str::to_owned);
    let mut push = Push {
        tracking_number,
        carrier,
        carrier_hint,
        events: Vec::new(),
        carrier_eta: None,
        service: None,
        origin: None,
        destination: None,
        stopped,
    };
    let info = json::object(data, "track_info", "data")?;
    if stopped || info.is_null() {
        return Ok(vec![push]);
    }
    // Bound the work before the adapter reads every provider's events.
    let path = "data.track_info.tracking.providers";
    let tracking = json::object(info, "tracking", "data.track_info")?;
    let providers = json::array(
        tracking,
        "providers",
        "data.track_info.tracking",
        MAX_EVENTS,
    )?;
    let mut count = 0usize;
    for (i, p) in providers.iter().enumerate() {
        count += json::array(p, "events", &index(path, i), MAX_EVENTS)?.len();
        if count > MAX_EVENTS {
            return Err(HookError::malformed(format!(
                "{path}: more than {MAX_EVENTS} events; at most {MAX_EVENTS} are read"
            )));
        }
    }
    let r = adapter::parse_track_info(info, Source::Webhook);
    for (i, e) in r.events.iter().enumerate() {
        json::check_event(
            &format!(
                "{path}[…].events (event {i}, at {})",
                e.occurred_at.to_rfc3339()
            ),
            e,
        )?;
    }
    for (k, p) in [
        ("shipping_info.shipper_address", &r.origin),
        ("shipping_info.recipient_address", &r.destination),
    ] {
        if let Some(p) = p {
            json::check_place(&at("data.track_info", k), p)?;
        }
    }
    if let Some(s) = &r.service {
        json::check_text("data.track_info.shipping_info.service_type", s)?;
    }
    push.events = r.events;
    push.carrier_eta = r.eta;
    push.service = r.service;
    push.origin = r.origin;
    push.destination = r.destination;
    Ok(vec![push])
}
