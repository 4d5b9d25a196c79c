//! 17TRACK API v2.2 (`POST /track/v2.2/<endpoint>`, key in the `17token` header): the
//! fallback for every carrier without a direct adapter.
//!
//! [`Track17::serves`] says yes to every carrier id. The poller hands a number to the first
//! adapter that serves its carrier, so this adapter must be registered after the direct ones
//! (UPS, FedEx, USPS, DHL): they are preferred, and 17TRACK catches the rest.
//!
//! 17TRACK only tracks registered numbers. [`Carrier::track`] asks `gettrackinfo`; numbers it
//! rejects as not registered (-18019902) are registered in the same call (`register`, carrier
//! auto-detected) and reported as not found until the carrier's first scan arrives.
//!
//! Whole-call error codes (`{"code": …, "data": {"errors": [...]}}`): -18010001 (IP not in
//! the whitelist), -18010002 (invalid security key), -18010004 (account disabled) and
//! -18010005 (unauthorised access) are [`CarrierError::Auth`]; -18010003 (internal service
//! error, "retry later") is [`CarrierError::Transient`]; -18019907 (daily limit) and -18019908
//! (quota exhausted) are [`CarrierError::RateLimited`]; anything else is
//! [`CarrierError::Malformed`].

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use parceltrail_core::carrier::{
    BatchResult, BoxFuture, Carrier, CarrierError, NumberResult, RateLimit, TrackResult,
};
use parceltrail_core::domain::{CarrierEta, NewEvent, Place, Source, Status};
use reqwest::StatusCode;
use serde_json::Value;

use crate::http::{Http, Response, Secret, parse_json};
use crate::redact::{Redactor, redacted};
use crate::util::{text, timestamp, uint};

/// Production endpoint base.
pub const PRODUCTION: &str = "https://api.17track.net";
/// Most numbers one request may carry.
pub const MAX_BATCH: usize = 40;
/// What a freshly registered number reports until 17TRACK has data for it.
pub const WAITING: &str = "registered with 17TRACK; waiting for the carrier's first scan";

/// A number the answer left out.
const NOTHING: &str = "17TRACK returned nothing for this number";

/// Not registered yet (`gettrackinfo`): register it.
pub const NOT_REGISTERED: i64 = -18019902;
/// Already registered (`register`).
pub const ALREADY_REGISTERED: i64 = -18019901;
/// Codes that mean our key or account is refused.
pub const AUTH_CODES: [i64; 4] = [-18010001, -18010002, -18010004, -18010005];
/// 17TRACK's internal error, "retry later".
pub const INTERNAL_ERROR: i64 = -18010003;
/// Daily limit reached, quota exhausted.
pub const QUOTA_CODES: [i64; 2] = [-18019907, -18019908];

/// The 17TRACK adapter.
#[derive(Debug, Clone)]
pub struct Track17 {
    http: Http,
    base: String,
    key: Secret,
    secrets: Redactor,
    limit: RateLimit,
    source: Source,
}

impl Track17 {
    /// An adapter against `base` (production: [`PRODUCTION`], or a mock) with an API key.
    pub fn new(http: Http, base: impl Into<String>, key: Secret) -> Self {
        let secrets = Redactor::new();
        secrets.add(key.expose());
        Self {
            http: http.redacting(&secrets),
            base: base.into().trim_end_matches('/').to_owned(),
            key,
            secrets,
            // 3 requests a second per key (secondary sources).
            limit: RateLimit {
                requests: 3,
                per: Duration::from_secs(1),
            },
            source: Source::Poll,
        }
    }

    /// Override the request budget.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limit = limit;
        self
    }

    /// Mark events as coming from the simulator rather than the real service.
    pub fn simulated(mut self) -> Self {
        self.source = Source::Simulator;
        self
    }

    async fn call(&self, endpoint: &str, numbers: &[&String]) -> Result<Response, CarrierError> {
        let body = Value::Array(
            numbers
                .iter()
                .map(|n| serde_json::json!({ "number": n }))
                .collect(),
        );
        let req = self
            .http
            .client()
            .post(format!("{}/track/v2.2/{endpoint}", self.base))
            .header("17token", self.key.expose())
            .header("Accept", "application/json")
            .json(&body);
        let resp = self.http.send(req).await?;
        if let Some(e) = resp.common_error() {
            return Err(e);
        }
        if !resp.status.is_success() && resp.status != StatusCode::BAD_REQUEST {
            return Err(CarrierError::Malformed(format!(
                "unexpected HTTP {} from {endpoint}: {}",
                resp.status.as_u16(),
                resp.excerpt()
            )));
        }
        Ok(resp)
    }

    /// Register numbers (carrier auto-detected): what each now reports.
    async fn register(&self, numbers: &[&String]) -> Vec<NumberResult> {
        let answer = match self.call("register", numbers).await {
            Ok(resp) => read(&resp.body, self.source, Endpoint::Register),
            Err(e) => Err(e),
        };
        let items = match answer {
            Ok(items) => items,
            // The numbers could not be registered this time; the next poll tries again.
            Err(e) => return numbers.iter().map(|_| Err(e.clone())).collect(),
        };
        numbers
            .iter()
            .map(|n| match items.iter().find(|(m, _)| same_number(m, n)) {
                Some((_, Item::Accepted(_))) => Err(CarrierError::NotFound(WAITING.into())),
                Some((_, Item::Rejected { code, .. })) if *code == ALREADY_REGISTERED => {
                    Err(CarrierError::NotFound(WAITING.into()))
                }
                Some((_, Item::Rejected { code, message })) => Err(rejected(*code, message)),
                None => Err(CarrierError::NotFound(
                    "17TRACK did not confirm the registration".into(),
                )),
            })
            .collect()
    }

    async fn track_batch(&self, numbers: &[String]) -> BatchResult {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        if numbers.len() > MAX_BATCH {
            return Err(CarrierError::Unsupported(format!(
                "17TRACK takes at most {MAX_BATCH} numbers a request, got {}",
                numbers.len()
            )));
        }
        let asked: Vec<&String> = numbers.iter().collect();
        let resp = self.call("gettrackinfo", &asked).await?;
        let mut items = read(&resp.body, self.source, Endpoint::GetTrackInfo)?;
        let mut out: Vec<(String, Option<NumberResult>)> = numbers
            .iter()
            .map(|n| {
                let r = match items.iter().position(|(m, _)| same_number(m, n)) {
                    Some(i) => items.swap_remove(i).1.into_result(),
                    None => Some(Err(CarrierError::NotFound(NOTHING.into()))),
                };
                (n.clone(), r)
            })
            .collect();
        let unregistered: Vec<&String> = out
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(n, _)| n)
            .collect();
        if !unregistered.is_empty() {
            let registered = self.register(&unregistered).await;
            let mut registered = registered.into_iter();
            for (_, r) in out.iter_mut().filter(|(_, r)| r.is_none()) {
                *r = registered.next();
            }
        }
        Ok(out
            .into_iter()
            .map(|(n, r)| {
                let r = r.unwrap_or_else(|| Err(CarrierError::NotFound(NOTHING.into())));
                (n, r)
            })
            .collect())
    }
}

impl Carrier for Track17 {
    fn id(&self) -> &'static str {
        "17track"
    }

    /// Every carrier: 17TRACK is the fallback; the poller prefers a direct adapter that
    /// serves the carrier and is registered before this one.
    fn serves(&self, _carrier: &str) -> bool {
        true
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn rate_limit(&self) -> RateLimit {
        self.limit
    }

    fn track<'a>(&'a self, numbers: &'a [String]) -> BoxFuture<'a, BatchResult> {
        redacted(&self.secrets, self.track_batch(numbers))
    }

    fn parse(&self, body: &[u8]) -> BatchResult {
        Ok(read(body, self.source, Endpoint::GetTrackInfo)?
            .into_iter()
            .map(|(n, item)| {
                let r = item.into_result().unwrap_or_else(|| {
                    Err(CarrierError::NotFound(
                        "not registered with 17TRACK yet".into(),
                    ))
                });
                (n, r)
            })
            .collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    GetTrackInfo,
    Register,
}

/// One entry of `accepted` or `rejected`.
#[derive(Debug)]
enum Item {
    Accepted(Box<TrackResult>),
    Rejected { code: i64, message: String },
}

impl Item {
    /// The answer for the number; `None` when it must be registered first.
    fn into_result(self) -> Option<NumberResult> {
        match self {
            Item::Accepted(r) => Some(Ok(*r)),
            Item::Rejected { code, .. } if code == NOT_REGISTERED => None,
            Item::Rejected { code, message } => Some(Err(rejected(code, &message))),
        }
    }
}

fn same_number(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect::<String>()
    };
    norm(a) == norm(b)
}

/// A rejected number's error.
fn rejected(code: i64, message: &str) -> CarrierError {
    let message = if message.is_empty() {
        format!("17TRACK error {code}")
    } else {
        message.to_owned()
    };
    match code {
        c if QUOTA_CODES.contains(&c) => CarrierError::RateLimited { retry_after: None },
        INTERNAL_ERROR => CarrierError::Transient {
            message,
            retry_after: None,
        },
        c if AUTH_CODES.contains(&c) => CarrierError::Auth(message),
        // Bad format, carrier not detected, not registered, and the number-specific rest:
        // 17TRACK has nothing for the number; its message says why.
        -18010012 | -18019903 | NOT_REGISTERED => CarrierError::NotFound(message),
        c => CarrierError::NotFound(format!("{message} (17TRACK error {c})")),
    }
}

/// A whole-call error code's error.
fn whole_call(code: i64, message: &str) -> CarrierError {
    let message = if message.is_empty() {
        format!("17TRACK error {code}")
    } else {
        format!("{message} (17TRACK error {code})")
    };
    match code {
        c if AUTH_CODES.contains(&c) => CarrierError::Auth(message),
        c if QUOTA_CODES.contains(&c) => CarrierError::RateLimited { retry_after: None },
        INTERNAL_ERROR => CarrierError::Transient {
            message,
            retry_after: None,
        },
        _ => CarrierError::Malformed(message),
    }
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Read a `gettrackinfo` or `register` answer into per-number items, or the whole-call error.
fn read(
    body: &[u8],
    source: Source,
    endpoint: Endpoint,
) -> Result<Vec<(String, Item)>, CarrierError> {
    let v = parse_json(body)?;
    let data = &v["data"];
    let code = int(&v["code"]);
    if code.is_some_and(|c| c != 0) || (code.is_none() && !data["accepted"].is_array()) {
        let first = &data["errors"][0];
        let code = int(&first["code"]).or(code);
        let message = text(&first["message"])
            .or_else(|| text(&v["message"]))
            .unwrap_or_default();
        return Err(match code {
            Some(c) => whole_call(c, &message),
            None => CarrierError::Malformed(
                "not a 17TRACK answer (no \"code\", no \"data.accepted\")".into(),
            ),
        });
    }
    let mut items = Vec::new();
    for a in data["accepted"].as_array().into_iter().flatten() {
        let number = text(&a["number"]).unwrap_or_default();
        let result = match endpoint {
            Endpoint::GetTrackInfo => parse_track_info(&a["track_info"], source),
            Endpoint::Register => TrackResult::default(),
        };
        items.push((number, Item::Accepted(Box::new(result))));
    }
    for r in data["rejected"].as_array().into_iter().flatten() {
        let code = int(&r["error"]["code"]).unwrap_or_default();
        let message = text(&r["error"]["message"]).unwrap_or_default();
        // Quota and account codes are about the call, not the number.
        if endpoint == Endpoint::GetTrackInfo
            && (QUOTA_CODES.contains(&code) || AUTH_CODES.contains(&code))
        {
            return Err(whole_call(code, &message));
        }
        items.push((
            text(&r["number"]).unwrap_or_default(),
            Item::Rejected { code, message },
        ));
    }
    Ok(items)
}

/// 17TRACK's integer carrier keys for the carriers Parceltrail has direct adapters for
/// (secondary sources: open-source clients and 17TRACK's own request examples; 17TRACK
/// publishes the full list as a download). Any other key has no Parceltrail id here.
const CARRIER_KEYS: &[(i64, &str)] = &[
    (100001, "dhl"),
    (100002, "ups"),
    (100003, "fedex"),
    (21051, "usps"),
];

/// The Parceltrail carrier id for a 17TRACK carrier key, where known.
pub fn carrier_id(key: i64) -> Option<&'static str> {
    CARRIER_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, id)| *id)
}

/// A 17TRACK status (`latest_status.status`), sub-status (`<Status>_<Reason>`) or event stage.
pub fn map_status(code: &str) -> Status {
    let code = code.trim();
    if code.eq_ignore_ascii_case("Exception_Returning")
        || code.eq_ignore_ascii_case("Exception_Returned")
    {
        return Status::Returned;
    }
    let main = code.split('_').next().unwrap_or_default();
    match main.to_ascii_lowercase().as_str() {
        "inforeceived" => Status::InfoReceived,
        "intransit" => Status::InTransit,
        "expired" => Status::Expired,
        "availableforpickup" => Status::AvailableForPickup,
        "outfordelivery" => Status::OutForDelivery,
        "deliveryfailure" => Status::FailedAttempt,
        "delivered" => Status::Delivered,
        "exception" => Status::Exception,
        // "Not found yet at the carrier" (17TRACK v2.2 `NotFound`: no tracking information
        // yet, or the number is not yet known to the carrier; `NotFound_InvalidCode` included):
        // nothing has happened yet, which is Pending, not an unmappable status.
        "notfound" => Status::Pending,
        // Milestone stage names some answers use instead of sub-statuses (unverified).
        "pickedup" | "departure" | "arrival" => Status::InTransit,
        "returning" | "returned" => Status::Returned,
        _ => Status::Unknown,
    }
}

/// A status from a status and its sub-status: the sub-status decides returns.
fn status_of(status: Option<&str>, sub: Option<&str>) -> Option<Status> {
    match (status, sub) {
        (_, Some(s)) if map_status(s) == Status::Returned => Some(Status::Returned),
        (Some(s), _) => Some(map_status(s)),
        (None, Some(s)) => Some(map_status(s)),
        (None, None) => None,
    }
}

fn time(v: &Value) -> Option<DateTime<FixedOffset>> {
    text(v).and_then(|s| timestamp(&s))
}

/// An event's time: `time_iso` with its offset, else `time_utc`, else `time_iso` as UTC, else
/// `time_raw` (`{date, time, timezone}`, the carrier's own clock: 17TRACK leaves `time_iso`
/// and `time_utc` null when the carrier gave no zone). A `time_raw` without a timezone is read
/// in `zone` (the offset the provider's other events carry), else as UTC.
fn event_time(e: &Value, zone: Option<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    text(&e["time_iso"])
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .or_else(|| time(&e["time_utc"]))
        .or_else(|| time(&e["time_iso"]))
        .or_else(|| raw_time(&e["time_raw"], zone))
}

/// A `time_raw` object as a time: its date and time read in its own timezone, else `zone`,
/// else UTC. A date without a time is the start of that day.
fn raw_time(r: &Value, zone: Option<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    let date = text(&r["date"])?;
    let clock = text(&r["time"]).unwrap_or_else(|| "00:00:00".into());
    let local = format!("{}T{}", date.trim(), clock.trim());
    let own =
        text(&r["timezone"]).and_then(|z| time(&Value::String(format!("{local}{}", z.trim()))));
    own.or_else(|| {
        let naive = chrono::NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M"))
            .ok()?;
        let zone = zone.unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
        naive.and_local_timezone(zone).single()
    })
}

/// The offset a provider's events carry (the first `time_iso` with one), for its events that
/// come with a zone-less `time_raw` only.
fn provider_zone(events: &[Value]) -> Option<FixedOffset> {
    events.iter().find_map(|e| {
        text(&e["time_iso"])
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| *t.offset())
    })
}

fn country(v: &Value) -> Option<String> {
    text(v).map(|c| {
        if c.len() == 2 {
            c.to_ascii_uppercase()
        } else {
            c
        }
    })
}

fn address(a: &Value) -> Place {
    Place {
        city: text(&a["city"]),
        region: text(&a["state"]),
        country: country(&a["country"]),
        postal: text(&a["postal_code"]),
    }
}

fn event(e: &Value, source: Source, zone: Option<FixedOffset>) -> Option<NewEvent> {
    let occurred_at = event_time(e, zone)?;
    let sub = text(&e["sub_status"]);
    let stage = text(&e["stage"]);
    let raw = sub.clone().or(stage.clone());
    let status = status_of(stage.as_deref(), sub.as_deref()).unwrap_or(Status::Unknown);
    let mut location = address(&e["address"]);
    if location.city.is_none() {
        // `location` is free text ("NEW YORK", "Shenzhen, CN"): kept whole as the city.
        location.city = text(&e["location"]);
    }
    Some(NewEvent {
        occurred_at,
        status,
        raw_code: raw,
        description: text(&e["description"]).unwrap_or_default(),
        location,
        source,
    })
}

/// A `track_info` object (a `gettrackinfo` answer's, or a webhook push's: 17TRACK sends the
/// same object both ways) normalised, its events marked as coming from `source`. Public so
/// the shop server's webhook receiver reads pushes exactly as this adapter reads polls: the
/// same scan then yields the same event (and dedupe key) by either route.
pub fn parse_track_info(t: &Value, source: Source) -> TrackResult {
    let events: Vec<NewEvent> = t["tracking"]["providers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            let events = p["events"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let zone = provider_zone(events);
            events.iter().filter_map(move |e| event(e, source, zone))
        })
        .collect();
    let newest = events
        .iter()
        .enumerate()
        .max_by_key(|(i, e)| (e.occurred_at, std::cmp::Reverse(*i)))
        .map(|(_, e)| e);
    let latest = &t["latest_status"];
    let status = status_of(
        text(&latest["status"]).as_deref(),
        text(&latest["sub_status"]).as_deref(),
    )
    .or_else(|| newest.map(|e| e.status));
    let observed_at = newest.map(|e| e.occurred_at.to_utc()).unwrap_or_default();
    let edd = &t["time_metrics"]["estimated_delivery_date"];
    let eta = match (time(&edd["from"]), time(&edd["to"])) {
        (Some(a), Some(b)) => Some((a.min(b), a.max(b))),
        (Some(a), None) | (None, Some(a)) => Some((a, a)),
        (None, None) => None,
    }
    .map(|(earliest, latest)| CarrierEta {
        earliest,
        latest,
        observed_at,
    });
    let shipping = &t["shipping_info"];
    let misc = &t["misc_info"];
    let place = |a: &Value| Some(address(a)).filter(|p| !p.is_empty());
    TrackResult {
        status,
        events,
        eta,
        service: text(&shipping["service_type"]).or_else(|| text(&misc["service_type"])),
        origin: place(&shipping["shipper_address"]),
        destination: place(&shipping["recipient_address"]),
        signed_by: None,
        pieces: uint(&misc["pieces"]).filter(|n| *n > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_one_to_one_except_returns() {
        assert_eq!(map_status("InTransit_Arrival"), Status::InTransit);
        assert_eq!(map_status("DeliveryFailure_NoBody"), Status::FailedAttempt);
        assert_eq!(map_status("NotFound_InvalidCode"), Status::Pending);
        assert_eq!(map_status("NotFound_Other"), Status::Pending);
        assert_eq!(map_status("NotFound"), Status::Pending);
        assert_eq!(map_status("Exception_Returning"), Status::Returned);
        assert_eq!(map_status("Exception_Returned"), Status::Returned);
        assert_eq!(map_status("Exception_Other"), Status::Exception);
        assert_eq!(map_status("Teleported_Other"), Status::Unknown);
        assert_eq!(
            status_of(Some("Exception"), Some("Exception_Returned")),
            Some(Status::Returned)
        );
    }
}
