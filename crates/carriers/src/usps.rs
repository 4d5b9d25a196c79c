//! USPS Tracking (apis.usps.com): OAuth 2 client credentials (`POST /oauth2/v3/token`, scope
//! `tracking`) and Tracking 3.2 (`POST /tracking/v3r2/tracking`, up to 35 numbers a request).
//!
//! Tracking 3.2 answers an array of details (200) or a 207 multi-status array mixing details
//! and failures (`statusCode`, `trackingNumber`, `error`). [`Usps::parse`] also reads the
//! Tracking 3.0 single-object shape (`GET /tracking/v3/tracking/{n}?expand=DETAIL`), so a
//! saved v3 body still normalises; the shape is told from the JSON.
//!
//! Status comes from the Pub 199 scan code (`eventCode`) per the table in the carrier notes
//! (codes from fixtures and open-source tables, not a USPS spec); the item's `statusCategory`
//! is the fallback when the newest scan's code is unknown (`Alert` → exception). Unknown codes
//! become [`Status::Unknown`] with the raw code kept.
//!
//! USPS reports no piece count: every tracking number is one mail piece.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use parceltrail_core::carrier::{
    BatchResult, BoxFuture, Carrier, CarrierError, NumberResult, RateLimit, TrackResult,
};
use parceltrail_core::domain::{CarrierEta, NewEvent, Place, Source, Status};
use reqwest::StatusCode;
use serde_json::Value;

use crate::http::{ClientAuth, Http, Response, Secret, TokenCache, parse_json};
use crate::redact::{Redactor, redacted};
use crate::util::{text, timestamp};

/// Production endpoint base.
pub const PRODUCTION: &str = "https://apis.usps.com";
/// USPS's test environment (TEM).
pub const TEST: &str = "https://apis-tem.usps.com";
/// Most numbers one Tracking 3.2 request may carry.
pub const MAX_BATCH: usize = 35;

/// The USPS Tracking adapter.
#[derive(Debug, Clone)]
pub struct Usps {
    http: Http,
    base: String,
    tokens: Arc<TokenCache>,
    secrets: Redactor,
    limit: RateLimit,
    source: Source,
}

impl Usps {
    /// An adapter against `base` (production: [`PRODUCTION`], test: [`TEST`], or a mock), with
    /// the portal's Consumer Key (`client_id`) and Consumer Secret.
    pub fn new(
        http: Http,
        base: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        let tokens = TokenCache::new(
            format!("{base}/oauth2/v3/token"),
            client_id,
            client_secret,
            ClientAuth::FormBody,
        )
        .with_field("scope", "tracking");
        let secrets = tokens.secrets().clone();
        Self {
            http: http.redacting(&secrets),
            base,
            tokens: Arc::new(tokens),
            secrets,
            // The default quota third parties report is 60 requests an hour (unverified; USPS
            // raises it on request).
            limit: RateLimit {
                requests: 60,
                per: Duration::from_secs(3600),
            },
            source: Source::Poll,
        }
    }

    /// Override the request budget (a raised USPS quota, or the local simulator).
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limit = limit;
        self
    }

    /// Mark events as coming from the simulator rather than the real carrier.
    pub fn simulated(mut self) -> Self {
        self.source = Source::Simulator;
        self
    }

    async fn post_tracking(&self, body: &Value) -> Result<Response, CarrierError> {
        let token = self.tokens.bearer(&self.http).await?;
        let req = self
            .http
            .client()
            .post(format!("{}/tracking/v3r2/tracking", self.base))
            .bearer_auth(token.expose())
            .header("Accept", "application/json")
            .json(body);
        self.http.send(req).await
    }

    async fn track_batch(&self, numbers: &[String]) -> BatchResult {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        if numbers.len() > MAX_BATCH {
            return Err(CarrierError::Unsupported(format!(
                "USPS takes at most {MAX_BATCH} numbers a request, got {}",
                numbers.len()
            )));
        }
        let body = Value::Array(
            numbers
                .iter()
                .map(|n| serde_json::json!({ "trackingNumber": n }))
                .collect(),
        );
        let mut resp = self.post_tracking(&body).await?;
        if resp.status == StatusCode::UNAUTHORIZED {
            // The token expired or was revoked early: fetch a new one and retry once.
            self.tokens.invalidate().await;
            resp = self.post_tracking(&body).await?;
        }
        let documented = [
            StatusCode::OK,
            StatusCode::MULTI_STATUS,
            StatusCode::NOT_FOUND,
        ];
        if resp.status == StatusCode::BAD_REQUEST && !resp.is_html() && numbers.len() == 1 {
            let v = resp.json().ok();
            if v.as_ref().is_some_and(not_yet_scanned) {
                // 150001: the label exists but USPS has no scan of it yet.
                return Ok(vec![(numbers[0].clone(), Ok(not_scanned_yet()))]);
            }
            // A single number USPS refuses to look up (wrong format): about that number.
            let why = v
                .as_ref()
                .and_then(error_message)
                .unwrap_or_else(|| "USPS refused the tracking number".into());
            return Ok(vec![(numbers[0].clone(), Err(CarrierError::NotFound(why)))]);
        }
        if !documented.contains(&resp.status) || resp.is_html() {
            if let Some(e) = resp.common_error() {
                return Err(e);
            }
            return Err(CarrierError::Malformed(format!(
                "unexpected HTTP {}: {}",
                resp.status.as_u16(),
                resp.excerpt()
            )));
        }
        match parse_body(&resp.body, self.source) {
            Ok(results) => Ok(in_order(numbers, results)),
            // A 404 error document: none of the numbers is known.
            Err(CarrierError::NotFound(why)) => Ok(numbers
                .iter()
                .map(|n| (n.clone(), Err(CarrierError::NotFound(why.clone()))))
                .collect()),
            Err(e) => Err(e),
        }
    }
}

impl Carrier for Usps {
    fn id(&self) -> &'static str {
        "usps"
    }

    fn serves(&self, carrier: &str) -> bool {
        carrier == "usps"
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
        parse_body(body, self.source)
    }
}

/// Tracking numbers compare without spaces and case.
fn same_number(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect::<String>()
    };
    norm(a) == norm(b)
}

/// The answers in the order asked; a number USPS did not mention is not found.
fn in_order(
    numbers: &[String],
    mut results: Vec<(String, NumberResult)>,
) -> Vec<(String, NumberResult)> {
    if numbers.len() == 1 && results.len() == 1 {
        // One asked, one answered: the same item even if USPS spelled the number differently.
        let r = results.pop().map(|(_, r)| r).unwrap_or_else(|| {
            Err(CarrierError::NotFound(
                "USPS returned nothing for this number".into(),
            ))
        });
        return vec![(numbers[0].clone(), r)];
    }
    numbers
        .iter()
        .map(|n| {
            let r = match results.iter().position(|(m, _)| same_number(m, n)) {
                Some(i) => results.swap_remove(i).1,
                None => Err(CarrierError::NotFound(
                    "USPS returned nothing for this number".into(),
                )),
            };
            (n.clone(), r)
        })
        .collect()
}

/// Normalise a tracking response body: a Tracking 3.2 array (200 or 207), a Tracking 3.0
/// single detail object, or an error document.
pub fn parse_body(
    body: &[u8],
    source: Source,
) -> Result<Vec<(String, NumberResult)>, CarrierError> {
    let v = parse_json(body)?;
    match &v {
        Value::Array(items) => Ok(items
            .iter()
            .map(|item| {
                let number = text(&item["trackingNumber"]).unwrap_or_default();
                let r = if not_yet_scanned(item) {
                    Ok(not_scanned_yet())
                } else {
                    match item_failure(item) {
                        Some(e) => Err(e),
                        None => Ok(detail(item, source)),
                    }
                };
                (number, r)
            })
            .collect()),
        Value::Object(o)
            if o.contains_key("trackingNumber") || o.contains_key("trackingEvents") =>
        {
            let number = text(&v["trackingNumber"]).unwrap_or_default();
            let r = match item_failure(&v) {
                Some(e) => Err(e),
                None => Ok(detail(&v, source)),
            };
            Ok(vec![(number, r)])
        }
        Value::Object(o) if o.contains_key("error") && not_yet_scanned(&v) => {
            // The 400 USPS answers for one number that has no scan yet (code 150001).
            // The error names no number; the caller asked for one and keys it.
            let number = text(&v["trackingNumber"]).unwrap_or_default();
            Ok(vec![(number, Ok(not_scanned_yet()))])
        }
        Value::Object(o) if o.contains_key("error") => Err(error_document(&v)),
        _ => Err(CarrierError::Malformed(
            "neither a tracking array nor a tracking detail".into(),
        )),
    }
}

/// USPS's code for "a status update is not yet available" (the label exists, no scan yet).
pub const NOT_YET_SCANNED: &str = "150001";

/// Whether an error document or failure item says the item has no scan yet: error code
/// [`NOT_YET_SCANNED`] (in `error.code` or `error.errors[].code`), or USPS's wording for it.
fn not_yet_scanned(v: &Value) -> bool {
    let err = &v["error"];
    if !err.is_object() {
        return false;
    }
    let codes = std::iter::once(&err["code"]).chain(
        err["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| &e["code"]),
    );
    let by_code = codes.filter_map(text).any(|c| c == NOT_YET_SCANNED);
    let words = crate::util::lower(&[
        error_message(v).as_deref(),
        text(&err["message"]).as_deref(),
    ]);
    // The wording alone only where USPS does not also say the number may be wrong (its 404
    // "may be incorrect or the status update is not yet available" is "not found").
    let by_words = (words.contains("status update is not yet available")
        || words.contains("status not available"))
        && !words.contains("incorrect")
        && error_code(v) != Some(404);
    by_code || by_words
}

/// "Not scanned yet": USPS knows of the label but has not had the item.
fn not_scanned_yet() -> TrackResult {
    TrackResult {
        status: Some(Status::Pending),
        ..TrackResult::default()
    }
}

/// The message of an error document (`error.errors[].detail`, else `error.message`).
fn error_message(v: &Value) -> Option<String> {
    let err = &v["error"];
    let first = &err["errors"][0];
    text(&first["detail"])
        .or_else(|| text(&err["message"]))
        .or_else(|| text(&first["title"]))
        .or_else(|| text(&v["error_description"]))
        .or_else(|| text(&v["message"]))
}

/// The HTTP-like code of an error document or failure item.
fn error_code(v: &Value) -> Option<u16> {
    [
        &v["statusCode"],
        &v["error"]["code"],
        &v["error"]["errors"][0]["status"],
    ]
    .into_iter()
    .find_map(|c| text(c).and_then(|s| s.parse::<u16>().ok()))
}

/// A whole-call error document.
fn error_document(v: &Value) -> CarrierError {
    let why = error_message(v).unwrap_or_else(|| "no details".into());
    if let Some(kind) = v["error"].as_str() {
        // RFC 6749 error bodies from the token endpoint or the gateway.
        return match kind {
            "invalid_client"
            | "invalid_grant"
            | "unauthorized_client"
            | "invalid_token"
            | "access_denied"
            | "insufficient_scope"
            | "invalid_scope" => CarrierError::Auth(format!("{kind}: {why}")),
            "rate_limit_exceeded" | "too_many_requests" => {
                CarrierError::RateLimited { retry_after: None }
            }
            _ => CarrierError::Malformed(format!("USPS error {kind}: {why}")),
        };
    }
    match error_code(v) {
        Some(404) => CarrierError::NotFound(why),
        Some(429) => CarrierError::RateLimited { retry_after: None },
        Some(401 | 403) => CarrierError::Auth(why),
        Some(c @ 500..=599) => CarrierError::Transient {
            message: format!("USPS error {c}: {why}"),
            retry_after: None,
        },
        Some(c) => CarrierError::Malformed(format!("USPS error {c}: {why}")),
        None => CarrierError::Malformed(format!("USPS error: {why}")),
    }
}

/// A 207 failure item's error, or `None` for a detail.
fn item_failure(item: &Value) -> Option<CarrierError> {
    let failed_code = text(&item["statusCode"])
        .and_then(|s| s.parse::<u16>().ok())
        .is_some_and(|c| c >= 300);
    if !failed_code && !item["error"].is_object() {
        return None;
    }
    let why = error_message(item).unwrap_or_else(|| "no tracking information".into());
    Some(match error_code(item) {
        // 400: USPS refused this number (format); for the caller it is a number USPS doesn't know.
        Some(400 | 404) | None => CarrierError::NotFound(why),
        Some(429) => CarrierError::RateLimited { retry_after: None },
        Some(401 | 403) => CarrierError::Auth(why),
        Some(c @ 500..=599) => CarrierError::Transient {
            message: format!("USPS error {c}: {why}"),
            retry_after: None,
        },
        Some(c) => CarrierError::Malformed(format!("USPS error {c}: {why}")),
    })
}

/// Pub 199 scan codes → normalised status (the carrier notes' table).
pub fn map_event_code(code: &str) -> Option<Status> {
    let code = code.trim().to_ascii_uppercase();
    // Numeric codes are two digits; accept "1" for "01".
    let code = if code.len() == 1 && code.as_bytes()[0].is_ascii_digit() {
        format!("0{code}")
    } else {
        code
    };
    Some(match code.as_str() {
        "GX" | "MA" => Status::InfoReceived,
        "03" | "SF" | "10" | "T1" | "TL" | "A1" | "EF" | "PC" | "07" => Status::InTransit,
        "OF" => Status::OutForDelivery,
        "14" | "16" => Status::AvailableForPickup,
        "02" | "30" | "52" | "53" | "54" | "55" | "56" => Status::FailedAttempt,
        "01" | "17" | "43" => Status::Delivered,
        "09" | "21" | "22" | "23" | "24" | "25" | "26" | "27" | "28" | "29" | "31" => {
            Status::Returned
        }
        "04" | "05" => Status::Exception,
        _ => return None,
    })
}

/// `statusCategory` (no published enum; the values seen so far) → normalised status.
pub fn map_status_category(category: &str) -> Option<Status> {
    let c: String = category
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match c.as_str() {
        "preshipment" => Status::InfoReceived,
        "accepted" | "intransit" => Status::InTransit,
        "outfordelivery" => Status::OutForDelivery,
        "delivered" => Status::Delivered,
        "alert" => Status::Exception,
        _ => return None,
    })
}

/// A UTC offset as USPS writes `GMTOffset`: "-05:00", "-7:00", "+0530", "-5", "Z".
fn parse_offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("gmt")
    {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
        None if rest.len() == 4 => (rest[..2].parse().ok()?, rest[2..].parse().ok()?),
        None => (rest.parse().ok()?, 0),
    };
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// A local date-time without an offset (or a bare date, as midnight).
fn naive(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// A time that may carry its offset; without one it is read in `local` (then UTC).
fn at(s: &str, local: Option<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t);
    }
    match (naive(s), local) {
        (Some(n), Some(o)) => o.from_local_datetime(&n).single(),
        _ => timestamp(s),
    }
}

/// When a scan happened, with its local offset: `GMTTimestamp` moved to `GMTOffset` when USPS
/// gives them, else `eventTimestamp` (local; read as UTC when no offset is known).
fn event_time(e: &Value) -> Option<DateTime<FixedOffset>> {
    let offset = e["GMTOffset"].as_str().and_then(parse_offset);
    let local = text(&e["eventTimestamp"]);
    if let Some(gmt) = text(&e["GMTTimestamp"]).and_then(|s| timestamp(&s)) {
        // USPS has been seen sending a `GMTTimestamp` whose date was not rolled over: a scan at
        // 18:31 local (-06:00) with "GMTTimestamp" 00:31Z of the *same* date, a day early.
        // The local clock with its offset is then the truth; a small difference (USPS's GMT
        // carries seconds the local time lacks) keeps the GMT reading.
        if let (Some(o), Some(l)) = (offset, local.as_deref().and_then(naive))
            && let Some(from_local) = o.from_local_datetime(&l).single()
            && (from_local - gmt).num_seconds().abs() >= 3600
        {
            return Some(from_local);
        }
        let offset = offset.or_else(|| {
            local
                .as_deref()
                .and_then(|l| DateTime::parse_from_rfc3339(l).ok())
                .map(|t| *t.offset())
        });
        return Some(match offset {
            Some(o) => gmt.with_timezone(&o),
            None => gmt,
        });
    }
    at(&local?, offset)
}

fn event(e: &Value, source: Source) -> Option<NewEvent> {
    let occurred_at = event_time(e)?;
    let code = text(&e["eventCode"]);
    let status = code
        .as_deref()
        .and_then(map_event_code)
        .unwrap_or(Status::Unknown);
    Some(NewEvent {
        occurred_at,
        status,
        raw_code: code,
        description: text(&e["eventType"]).unwrap_or_default(),
        location: Place {
            city: text(&e["eventCity"]),
            region: text(&e["eventState"]),
            country: country(&e["eventCountry"]),
            postal: text(&e["eventZIPCode"]).or_else(|| text(&e["eventZIP"])),
        },
        source,
    })
}

/// A country as given; two-letter codes upper-cased.
fn country(v: &Value) -> Option<String> {
    text(v).map(|c| {
        if c.len() == 2 {
            c.to_ascii_uppercase()
        } else {
            c
        }
    })
}

fn place(d: &Value, prefix: &str) -> Option<Place> {
    let p = Place {
        city: text(&d[format!("{prefix}City")]),
        region: text(&d[format!("{prefix}State")]),
        country: country(&d[format!("{prefix}Country")]),
        postal: text(&d[format!("{prefix}ZIPCode")]).or_else(|| text(&d[format!("{prefix}ZIP")])),
    };
    (!p.is_empty()).then_some(p)
}

/// A clock time as USPS may write a window bound: "10:00", "10:00:00", "10:00 AM", "1000".
fn clock(s: &str) -> Option<NaiveTime> {
    let s = s.trim().replace('.', "").to_ascii_uppercase();
    for fmt in [
        "%H:%M:%S",
        "%H:%M",
        "%I:%M %p",
        "%I:%M%p",
        "%I:%M:%S %p",
        "%I %p",
        "%I%p",
        "%H%M",
    ] {
        if let Ok(t) = NaiveTime::parse_from_str(&s, fmt) {
            return Some(t);
        }
    }
    None
}

/// A window bound: a full date-time, or a clock time on `day`.
fn bound(s: &str, day: NaiveDate, local: Option<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    if s.contains('T') {
        return at(s, local);
    }
    let t = clock(s)?;
    local
        .unwrap_or(FixedOffset::east_opt(0)?)
        .from_local_datetime(&day.and_time(t))
        .single()
}

/// The delivery estimate, most specific first: the predicted window, the expected delivery
/// time, the predicted day, the expected day, the guarantee. Times without an offset are
/// destination-local; the newest scan's offset stands in for the destination's.
fn eta(d: &Value, local: Option<FixedOffset>, observed_at: DateTime<Utc>) -> Option<CarrierEta> {
    let dde = &d["deliveryDateExpectation"];
    let field = |k: &str| text(&dde[k]).or_else(|| text(&d[k]));
    let window = |a: DateTime<FixedOffset>, b: DateTime<FixedOffset>| CarrierEta {
        earliest: a.min(b),
        latest: a.max(b),
        observed_at,
    };
    let point = |a: DateTime<FixedOffset>| window(a, a);
    let day = |s: &str| naive(s).map(|n| n.date());
    let predicted = field("predictedDeliveryDate").and_then(|s| day(&s));
    if let (Some(date), Some(start), Some(end)) = (
        predicted,
        field("predictedDeliveryWindowStartTime"),
        field("predictedDeliveryWindowEndTime"),
    ) && let (Some(a), Some(b)) = (bound(&start, date, local), bound(&end, date, local))
    {
        return Some(window(a, b));
    }
    if let Some(t) = text(&d["expectedDeliveryTimeStamp"]).and_then(|s| at(&s, local)) {
        return Some(point(t));
    }
    let midnight = |date: NaiveDate| {
        local
            .unwrap_or(FixedOffset::east_opt(0)?)
            .from_local_datetime(&date.and_time(NaiveTime::MIN))
            .single()
    };
    let expected = field("expectedDeliveryDate").and_then(|s| day(&s));
    if let Some(t) = predicted.or(expected).and_then(midnight) {
        return Some(point(t));
    }
    // The guarantee may be a date, a date-time or text ("3 Business Days"): text is skipped.
    let guaranteed = text(&d["guaranteedDeliveryTimeStamp"])
        .or_else(|| field("guaranteedDeliveryDate"))
        .filter(|s| s.starts_with(|c: char| c.is_ascii_digit()))?;
    if guaranteed.contains('T') {
        at(&guaranteed, local).map(point)
    } else {
        day(&guaranteed).and_then(midnight).map(point)
    }
}

/// One tracking detail (3.0 or 3.2).
fn detail(d: &Value, source: Source) -> TrackResult {
    // Booleans (`kahalaIndicator`, `emailEnabled`, `authorizedAgent`, ...) are not read, so
    // their "true"-as-string variants cannot break a parse.
    let events: Vec<NewEvent> = d["trackingEvents"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| event(e, source)).collect())
        .unwrap_or_default();
    // Events come newest-first, but the order is not trusted: the newest is the latest time
    // (the first listed among equals).
    let newest = events
        .iter()
        .enumerate()
        .max_by_key(|(i, e)| (e.occurred_at, std::cmp::Reverse(*i)))
        .map(|(_, e)| e);
    let category = text(&d["statusCategory"]);
    let status = match (newest.map(|e| e.status), category.as_deref()) {
        (Some(s), _) if s != Status::Unknown => Some(s),
        (s, Some(c)) => map_status_category(c).or(s).or(Some(Status::Unknown)),
        (s, None) => s.or_else(|| text(&d["status"]).map(|_| Status::Unknown)),
    };
    let observed_at = newest.map(|e| e.occurred_at.to_utc()).unwrap_or_default();
    let local = newest.map(|e| *e.occurred_at.offset());
    let signed_by = d["trackingEvents"].as_array().and_then(|a| {
        a.iter()
            .filter(|e| {
                e["eventCode"]
                    .as_str()
                    .and_then(map_event_code)
                    .is_some_and(|s| s == Status::Delivered)
            })
            .find_map(|e| text(&e["recipientName"]).or_else(|| text(&e["name"])))
    });
    TrackResult {
        status,
        eta: eta(d, local, observed_at),
        events,
        service: text(&d["mailClass"]).or_else(|| text(&d["mailClassCode"])),
        origin: place(d, "origin"),
        destination: place(d, "destination"),
        signed_by,
        // USPS has no piece count: a tracking number is one mail piece.
        pieces: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_read_leniently() {
        let h = |s: i32| FixedOffset::east_opt(s);
        assert_eq!(parse_offset("-05:00"), h(-5 * 3600));
        assert_eq!(parse_offset("-7:00"), h(-7 * 3600));
        assert_eq!(parse_offset("+0530"), h(5 * 3600 + 1800));
        assert_eq!(parse_offset("-5"), h(-5 * 3600));
        assert_eq!(parse_offset("Z"), h(0));
        assert_eq!(parse_offset("soon"), None);
        assert_eq!(parse_offset("-25:00"), None);
    }

    #[test]
    fn clock_times_in_several_spellings() {
        let t = NaiveTime::from_hms_opt(14, 30, 0);
        for s in [
            "14:30",
            "14:30:00",
            "2:30 PM",
            "2:30pm",
            "2:30 p.m.",
            "1430",
        ] {
            assert_eq!(clock(s), t, "{s}");
        }
    }

    #[test]
    fn single_digit_codes_and_case() {
        assert_eq!(map_event_code("1"), Some(Status::Delivered));
        assert_eq!(map_event_code("of"), Some(Status::OutForDelivery));
        assert_eq!(map_event_code("Q9"), None);
    }
}
