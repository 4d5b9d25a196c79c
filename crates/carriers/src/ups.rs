//! UPS Tracking API (REST, OAuth 2 client credentials with the client's id and secret in a
//! Basic header; `GET /api/track/v1/details/{inquiryNumber}`).
//!
//! One number per request. Statuses are normalised from the activity type (`status.type`) and
//! the 3-digit "Status/Description code" (`status.statusCode`) with the table in
//! [`map_status`]; the 2-character scan code (`status.code`) has no published list, so it is
//! only kept for diagnosis. Times are local to the scan (`date` + `time`); the `gmt*` fields,
//! when UPS sends them, give the UTC instant and offset.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use parceltrail_core::carrier::{
    BatchResult, BoxFuture, Carrier, CarrierError, NumberResult, RateLimit, TrackResult,
};
use parceltrail_core::domain::{CarrierEta, NewEvent, Place, Source, Status};
use reqwest::StatusCode;
use serde_json::Value;

use crate::http::{ClientAuth, Http, Response, Secret, TokenCache, parse_json, with_detail};
use crate::redact::{Redactor, redacted};
use crate::util::{text, uint};

/// Production endpoint base (the customer integration environment is
/// `https://wwwcie.ups.com`).
pub const PRODUCTION: &str = "https://onlinetools.ups.com";

/// The caller name UPS wants in `transactionSrc`.
const TRANSACTION_SRC: &str = "parceltrail";

/// The UPS Track adapter.
#[derive(Debug, Clone)]
pub struct Ups {
    http: Http,
    base: String,
    tokens: Arc<TokenCache>,
    secrets: Redactor,
    limit: RateLimit,
}

impl Ups {
    /// An adapter against `base` (production: [`PRODUCTION`]); the token endpoint is
    /// `{base}/security/v1/oauth/token`.
    pub fn new(
        http: Http,
        base: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        let tokens = TokenCache::new(
            format!("{base}/security/v1/oauth/token"),
            client_id,
            client_secret,
            ClientAuth::BasicHeader,
        );
        let secrets = tokens.secrets().clone();
        Self {
            http: http.redacting(&secrets),
            base,
            tokens: Arc::new(tokens),
            secrets,
            // UPS publishes no request budget for Track (429 is documented only for the token
            // endpoint). Ten requests a second is OUR conservative choice, not a UPS figure.
            limit: RateLimit {
                requests: 10,
                per: Duration::from_secs(1),
            },
        }
    }

    /// Override the request budget.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limit = limit;
        self
    }

    async fn request(&self, number: &str) -> Result<Response, CarrierError> {
        let token = self.tokens.bearer(&self.http).await?;
        let req = self
            .http
            .client()
            .get(format!(
                "{}/api/track/v1/details/{}",
                self.base,
                path_segment(number)
            ))
            .query(&[
                ("locale", "en_US"),
                ("returnSignature", "false"),
                ("returnMilestones", "false"),
                ("returnPOD", "false"),
            ])
            .bearer_auth(token.expose())
            .header("transId", uuid::Uuid::now_v7().simple().to_string())
            .header("transactionSrc", TRANSACTION_SRC)
            .header("Accept", "application/json");
        self.http.send(req).await
    }

    async fn track_one(&self, number: &str) -> NumberResult {
        let mut resp = self.request(number).await?;
        if resp.status == StatusCode::UNAUTHORIZED {
            // The token expired or was revoked mid-run: one fresh token, one retry.
            self.tokens.invalidate().await;
            resp = self.request(number).await?;
        }
        if resp.status == StatusCode::NOT_FOUND && !resp.is_html() {
            let detail = resp
                .json()
                .ok()
                .and_then(|v| error_messages(&v))
                .unwrap_or_else(|| "no tracking information for this number".into());
            return Err(CarrierError::NotFound(detail));
        }
        if let Some(e) = resp.common_error() {
            return Err(with_detail(
                e,
                resp.json().ok().and_then(|v| error_messages(&v)),
            ));
        }
        if resp.status == StatusCode::BAD_REQUEST {
            let v = resp.json().ok();
            if v.as_ref().is_some_and(invalid_number) {
                return Err(CarrierError::NotFound(
                    v.as_ref().and_then(error_messages).unwrap_or_default(),
                ));
            }
        }
        if !resp.status.is_success() {
            if let Some((v, d)) = resp
                .json()
                .ok()
                .and_then(|v| error_messages(&v).map(|d| (v, d)))
            {
                return Err(match error_kind(&v, d) {
                    CarrierError::Malformed(m) => CarrierError::Malformed(format!(
                        "UPS answered HTTP {}: {m}",
                        resp.status.as_u16()
                    )),
                    e => e,
                });
            }
            let detail = resp.excerpt();
            return Err(CarrierError::Malformed(format!(
                "UPS answered HTTP {}: {detail}",
                resp.status.as_u16()
            )));
        }
        let all = parse_entries(&resp.body)?;
        pick(all, number)
    }
}

/// A tracking number as one path segment (UPS numbers are alphanumeric; anything else is
/// percent-encoded rather than allowed to change the path).
fn path_segment(number: &str) -> String {
    let mut out = String::with_capacity(number.len());
    for b in number.trim().bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `response.errors[]` as "message (code); ...", if any.
fn error_messages(v: &Value) -> Option<String> {
    let errors = v["response"]["errors"].as_array()?;
    let parts: Vec<String> = errors.iter().filter_map(code_message).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn code_message(e: &Value) -> Option<String> {
    match (text(&e["message"]), text(&e["code"])) {
        (Some(m), Some(c)) => Some(format!("{m} ({c})")),
        (Some(m), None) => Some(m),
        (None, Some(c)) => Some(c),
        (None, None) => None,
    }
}

/// Whether an error document says the number itself is unknown or invalid.
fn invalid_number(v: &Value) -> bool {
    v["response"]["errors"].as_array().is_some_and(|errors| {
        errors.iter().any(|e| {
            let code = text(&e["code"]).unwrap_or_default().to_ascii_uppercase();
            let msg = text(&e["message"]).unwrap_or_default().to_lowercase();
            // TV1002 "Invalid inquiry number", TW0001 "Tracking Information Not Found".
            matches!(code.as_str(), "TV1002" | "TW0001")
                || msg.contains("not found")
                || msg.contains("invalid inquiry number")
        })
    })
}

/// What a UPS error document (other than "not found") means: refused credentials (the
/// 2500xx security codes, e.g. 250003 "Invalid Access License number", and the OAuth 104xx
/// codes, e.g. 10401 "ClientId is invalid"), a quota or rate limit, a passing failure, else
/// unreadable.
fn error_kind(v: &Value, detail: String) -> CarrierError {
    let errors = v["response"]["errors"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let codes: Vec<String> = errors
        .iter()
        .filter_map(|e| text(&e["code"]))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let words = detail.to_lowercase();
    if codes
        .iter()
        .any(|c| c.starts_with("2500") || c.starts_with("104"))
        || words.contains("access license")
        || words.contains("invalid authentication")
        || words.contains("clientid is invalid")
    {
        return CarrierError::Auth(detail);
    }
    if words.contains("quota") || words.contains("rate limit") || words.contains("too many") {
        return CarrierError::RateLimited { retry_after: None };
    }
    if words.contains("unavailable") || words.contains("internal server error") {
        return CarrierError::Transient {
            message: format!("UPS: {detail}"),
            retry_after: None,
        };
    }
    CarrierError::Malformed(format!("UPS error document: {detail}"))
}

/// Choose the asked number's package (by tracking or inquiry number), else the first.
fn pick(mut all: Vec<Entry>, number: &str) -> NumberResult {
    if all.is_empty() {
        return Err(CarrierError::NotFound(
            "the response lists no package".into(),
        ));
    }
    let want = normalise(number);
    let pos = all
        .iter()
        .position(|e| normalise(&e.tracking) == want)
        .or_else(|| all.iter().position(|e| normalise(&e.inquiry) == want))
        .unwrap_or(0);
    all.swap_remove(pos).result
}

fn normalise(n: &str) -> String {
    n.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

impl Carrier for Ups {
    fn id(&self) -> &'static str {
        "ups"
    }

    fn serves(&self, carrier: &str) -> bool {
        carrier == "ups"
    }

    fn max_batch(&self) -> usize {
        1
    }

    fn rate_limit(&self) -> RateLimit {
        self.limit
    }

    fn track<'a>(&'a self, numbers: &'a [String]) -> BoxFuture<'a, BatchResult> {
        redacted(&self.secrets, async move {
            let mut out = Vec::with_capacity(numbers.len());
            for n in numbers {
                // Whole-call failures (auth, rate limit, network) stop the batch.
                match self.track_one(n).await {
                    Err(
                        e @ (CarrierError::Auth(_)
                        | CarrierError::RateLimited { .. }
                        | CarrierError::Transient { .. }),
                    ) => return Err(e),
                    r => out.push((n.clone(), r)),
                }
            }
            Ok(out)
        })
    }

    fn parse(&self, body: &[u8]) -> BatchResult {
        parse_body(body)
    }
}

/// One package (or one not-found inquiry) of a response.
struct Entry {
    inquiry: String,
    tracking: String,
    result: NumberResult,
}

/// Normalise a `/api/track/v1/details` response body: one result per listed package (or per
/// inquiry UPS answered with a not-found warning), keyed by tracking number.
pub fn parse_body(body: &[u8]) -> BatchResult {
    Ok(parse_entries(body)?
        .into_iter()
        .map(|e| (e.tracking, e.result))
        .collect())
}

fn parse_entries(body: &[u8]) -> Result<Vec<Entry>, CarrierError> {
    let v = parse_json(body)?;
    if v.get("trackResponse").is_none() && v["response"]["errors"].is_array() {
        // An error document (what UPS sends with 4xx/5xx), saved and parsed on its own.
        let detail = error_messages(&v).unwrap_or_default();
        return Err(if invalid_number(&v) {
            CarrierError::NotFound(detail)
        } else {
            error_kind(&v, detail)
        });
    }
    let shipments = v["trackResponse"]["shipment"].as_array().ok_or_else(|| {
        CarrierError::Malformed("no \"trackResponse.shipment\" array in the response".into())
    })?;
    let mut out = Vec::new();
    for s in shipments {
        let inquiry = text(&s["inquiryNumber"]).unwrap_or_default();
        let packages = s["package"].as_array().filter(|p| !p.is_empty());
        match packages {
            Some(packages) => {
                for p in packages {
                    out.push(Entry {
                        inquiry: inquiry.clone(),
                        tracking: text(&p["trackingNumber"]).unwrap_or_else(|| inquiry.clone()),
                        result: Ok(package(p)),
                    });
                }
            }
            None => {
                // The warning form: `warnings[{code: "TW0001", message: "Tracking Information
                // Not Found"}]` and no `package`.
                let detail = s["warnings"]
                    .as_array()
                    .map(|w| w.iter().filter_map(code_message).collect::<Vec<_>>())
                    .filter(|w| !w.is_empty())
                    .map(|w| w.join("; "))
                    .unwrap_or_else(|| "no package in UPS's answer".into());
                out.push(Entry {
                    inquiry: inquiry.clone(),
                    tracking: inquiry,
                    result: Err(CarrierError::NotFound(detail)),
                });
            }
        }
    }
    Ok(out)
}

fn in_ranges(code: u16, ranges: &[(u16, u16)]) -> bool {
    ranges.iter().any(|&(a, b)| (a..=b).contains(&code))
}

/// UPS activity type (`status.type`) and 3-digit status code (`status.statusCode`) to our
/// status. First match wins:
///
/// | Condition | Status |
/// |---|---|
/// | statusCode 017, 040, 144, 161 | AvailableForPickup |
/// | type `D` | Delivered |
/// | statusCode 006, 021, 037, 072, 089, 091, 146, 162 | OutForDelivery |
/// | statusCode 022–024, 060–062, 066, 145 | FailedAttempt |
/// | statusCode 033–036, 067, 081, 118 | Returned |
/// | type `X`, `MV` | Exception |
/// | type `M` (or statusCode 003 without a type) | InfoReceived |
/// | type `I`, `DO`, `DD`, `W` | InTransit |
/// | type `NA`, `U`, anything else, missing | Unknown |
pub fn map_status(kind: Option<&str>, status_code: Option<&str>) -> Status {
    let kind = kind
        .map(|k| k.trim().to_ascii_uppercase())
        .filter(|k| !k.is_empty());
    // Codes are 3-digit strings; a number (72) or a short string ("72") is read the same.
    let code = status_code.and_then(|c| c.trim().parse::<u16>().ok());
    let code_in = |r: &[(u16, u16)]| code.is_some_and(|c| in_ranges(c, r));
    if code_in(&[(17, 17), (40, 40), (144, 144), (161, 161)]) {
        return Status::AvailableForPickup;
    }
    if kind.as_deref() == Some("D") {
        return Status::Delivered;
    }
    if code_in(&[
        (6, 6),
        (21, 21),
        (37, 37),
        (72, 72),
        (89, 89),
        (91, 91),
        (146, 146),
        (162, 162),
    ]) {
        return Status::OutForDelivery;
    }
    if code_in(&[(22, 24), (60, 62), (66, 66), (145, 145)]) {
        return Status::FailedAttempt;
    }
    if code_in(&[(33, 36), (67, 67), (81, 81), (118, 118)]) {
        return Status::Returned;
    }
    match kind.as_deref() {
        Some("X" | "MV") => Status::Exception,
        Some("M") => Status::InfoReceived,
        None if code == Some(3) => Status::InfoReceived,
        Some("I" | "DO" | "DD" | "W") => Status::InTransit,
        _ => Status::Unknown,
    }
}

/// The raw code kept with an event: `type/statusCode/code` (empty slots for missing parts),
/// e.g. `I/072/OT`.
fn raw_code(status: &Value) -> Option<String> {
    let parts = [
        text(&status["type"]),
        text(&status["statusCode"]),
        text(&status["code"]),
    ];
    if parts.iter().all(Option::is_none) {
        return None;
    }
    Some(parts.map(|p| p.unwrap_or_default()).join("/"))
}

fn status_of(status: &Value) -> Status {
    map_status(
        text(&status["type"]).as_deref(),
        text(&status["statusCode"]).as_deref(),
    )
}

fn date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y%m%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
        .ok()
}

fn time(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    // UPS's own example has `gmtTime` "74700" (07:47:00): a number with its leading zero lost.
    let padded;
    let s = if (s.len() == 5 || s.len() == 3) && s.bytes().all(|b| b.is_ascii_digit()) {
        padded = format!("0{s}");
        padded.as_str()
    } else {
        s
    };
    NaiveTime::parse_from_str(s, "%H%M%S")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H%M"))
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .ok()
}

fn date_time(d: &Value, t: &Value) -> Option<NaiveDateTime> {
    let d = date(&text(d)?)?;
    // A date without a (readable) time is the start of that day.
    let t = text(t).and_then(|t| time(&t)).unwrap_or(NaiveTime::MIN);
    Some(d.and_time(t))
}

/// `-05:00`, `-0500`, `-5`, `+5:30`, `Z` as a fixed offset.
fn offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("z") {
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

/// When an activity happened, with its offset. With `gmtDate`/`gmtTime`/`gmtOffset` the UTC
/// instant is exact (local time = gmt + offset); with GMT and local times but no offset, the
/// offset is their difference; with local time only, the local time is read as UTC (UPS
/// gives no zone then, so the instant may be off by the scan's UTC offset).
fn activity_time(a: &Value) -> Option<DateTime<FixedOffset>> {
    let local = date_time(&a["date"], &a["time"]);
    let gmt = date_time(&a["gmtDate"], &a["gmtTime"]);
    let off = text(&a["gmtOffset"]).and_then(|o| offset(&o));
    match (local, gmt, off) {
        (_, Some(g), Some(o)) => Some(g.and_utc().with_timezone(&o)),
        (Some(l), None, Some(o)) => o.from_local_datetime(&l).single(),
        (Some(l), Some(g), None) => {
            let secs = (l - g).num_seconds();
            // A real offset is within ±14 h and a whole number of quarter hours.
            FixedOffset::east_opt(secs as i32)
                .filter(|_| secs.abs() <= 14 * 3600 && secs % 900 == 0)
                .map(|o| g.and_utc().with_timezone(&o))
                .or_else(|| Some(l.and_utc().fixed_offset()))
        }
        (Some(l), None, None) => Some(l.and_utc().fixed_offset()),
        (None, Some(g), None) => Some(g.and_utc().fixed_offset()),
        (None, None, _) => None,
    }
}

fn place(addr: &Value) -> Place {
    Place {
        city: text(&addr["city"]),
        region: text(&addr["stateProvince"]),
        country: text(&addr["countryCode"])
            .or_else(|| text(&addr["country"]).filter(|c| c.len() == 2))
            .map(|c| c.to_uppercase()),
        postal: text(&addr["postalCode"]),
    }
}

fn activity(a: &Value) -> Option<NewEvent> {
    let occurred_at = activity_time(a)?;
    let status = &a["status"];
    Some(NewEvent {
        occurred_at,
        status: status_of(status),
        raw_code: raw_code(status),
        description: text(&status["description"])
            .or_else(|| text(&status["simplifiedTextDescription"]))
            .unwrap_or_default(),
        location: place(&a["location"]["address"]),
        source: Source::Poll,
    })
}

/// The carrier's estimate: the rescheduled (`RDD`) else scheduled (`SDD`) date, narrowed by
/// `deliveryTime` (a window for `EDW`/`CDW`/`IDW`, "by `endTime`" for `CMT`/`EOD`); a date
/// alone is the whole day. UPS gives these as local times at the destination without an
/// offset: we use the offset of the newest scan that has one (usually the destination's once
/// the parcel is near), else UTC.
fn eta(p: &Value, events: &[NewEvent]) -> Option<CarrierEta> {
    let dates = p["deliveryDate"].as_array()?;
    let of_type = |t: &str| {
        dates.iter().find_map(|d| {
            text(&d["type"])
                .filter(|k| k.eq_ignore_ascii_case(t))
                .and_then(|_| text(&d["date"]))
                .and_then(|s| date(&s))
        })
    };
    let day = of_type("RDD").or_else(|| of_type("SDD"))?;
    let newest = events.iter().max_by_key(|e| e.occurred_at);
    let off = newest
        .map(|e| *e.occurred_at.offset())
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    let dt = &p["deliveryTime"];
    let kind = text(&dt["type"]).unwrap_or_default().to_ascii_uppercase();
    let start = text(&dt["startTime"]).and_then(|t| time(&t));
    let end = text(&dt["endTime"]).and_then(|t| time(&t));
    let end_of_day = NaiveTime::from_hms_opt(23, 59, 59).expect("valid time");
    let (from, to) = match kind.as_str() {
        // A delivered time is not an estimate.
        "DEL" => (NaiveTime::MIN, end_of_day),
        _ => {
            let to = end.unwrap_or(end_of_day);
            let from = start.filter(|s| *s <= to).unwrap_or(NaiveTime::MIN);
            (from, to)
        }
    };
    let at = |t: NaiveTime| off.from_local_datetime(&day.and_time(t)).single();
    Some(CarrierEta {
        earliest: at(from)?,
        latest: at(to)?,
        observed_at: newest.map(|e| e.occurred_at.to_utc()).unwrap_or_default(),
    })
}

fn package(p: &Value) -> TrackResult {
    let events: Vec<NewEvent> = p["activity"]
        .as_array()
        .map(|a| a.iter().filter_map(activity).collect())
        .unwrap_or_default();
    let current = &p["currentStatus"];
    let newest = events
        .iter()
        .max_by_key(|e| e.occurred_at)
        .map(|e| e.status);
    // The current status when it maps; when it is missing or says nothing we can map (UPS
    // may send only the 2-character scan code there, e.g. a parcel held in customs whose
    // newest activity has type `X`), the newest activity's.
    let status = match (current.is_object().then(|| status_of(current)), newest) {
        (Some(Status::Unknown) | None, Some(n)) => Some(n),
        (c, _) => c,
    };
    let address = |kind: &str| {
        p["packageAddress"].as_array().and_then(|list| {
            list.iter()
                .filter(|a| text(&a["type"]).is_some_and(|t| t.eq_ignore_ascii_case(kind)))
                .map(|a| place(&a["address"]))
                .find(|pl| !pl.is_empty())
        })
    };
    TrackResult {
        status,
        eta: eta(p, &events),
        service: text(&p["service"]["description"]).or_else(|| text(&p["service"]["code"])),
        origin: address("ORIGIN"),
        destination: address("DESTINATION"),
        signed_by: text(&p["deliveryInformation"]["receivedBy"]),
        pieces: uint(&p["packageCount"]),
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_first_match_wins() {
        let m = |k: &str, c: &str| map_status(Some(k), Some(c));
        assert_eq!(m("I", "017"), Status::AvailableForPickup);
        assert_eq!(
            m("D", "161"),
            Status::AvailableForPickup,
            "access point first"
        );
        assert_eq!(m("I", "040"), Status::AvailableForPickup);
        assert_eq!(m("D", "011"), Status::Delivered);
        assert_eq!(m("D", "072"), Status::Delivered, "type D before OFD codes");
        for c in ["006", "021", "037", "072", "089", "091", "146", "162"] {
            assert_eq!(m("I", c), Status::OutForDelivery, "{c}");
        }
        for c in ["022", "023", "024", "060", "061", "062", "066", "145"] {
            assert_eq!(m("X", c), Status::FailedAttempt, "{c}");
        }
        for c in ["033", "034", "035", "036", "067", "081", "118"] {
            assert_eq!(m("X", c), Status::Returned, "{c}");
        }
        assert_eq!(m("X", "999"), Status::Exception);
        assert_eq!(m("MV", "003"), Status::Exception);
        assert_eq!(m("M", "003"), Status::InfoReceived);
        assert_eq!(map_status(None, Some("003")), Status::InfoReceived);
        for k in ["I", "DO", "DD", "W", "i"] {
            assert_eq!(m(k, "005"), Status::InTransit, "{k}");
        }
        assert_eq!(m("NA", "005"), Status::Unknown);
        assert_eq!(m("U", "005"), Status::Unknown);
        assert_eq!(m("ZZ", ""), Status::Unknown);
        assert_eq!(map_status(None, None), Status::Unknown);
        assert_eq!(map_status(Some("I"), Some("72")), Status::OutForDelivery);
        assert_eq!(map_status(Some("I"), Some("xx")), Status::InTransit);
    }

    #[test]
    fn gmt_fields_give_the_offset() {
        let a: Value = serde_json::json!({"date":"20250314","time":"081200","gmtDate":"20250314",
            "gmtTime":"131200","gmtOffset":"-05:00"});
        assert_eq!(
            activity_time(&a).unwrap().to_rfc3339(),
            "2025-03-14T08:12:00-05:00"
        );
        let a: Value = serde_json::json!({"date":"20250315","time":"011200","gmtDate":"20250314",
            "gmtTime":"193200","gmtOffset":"+0530"});
        assert_eq!(
            activity_time(&a).unwrap().to_rfc3339(),
            "2025-03-15T01:02:00+05:30"
        );
        // No offset: derived from local minus GMT.
        let a: Value = serde_json::json!({"date":"20250314","time":"081200","gmtDate":"20250314",
            "gmtTime":"151200"});
        assert_eq!(
            activity_time(&a).unwrap().to_rfc3339(),
            "2025-03-14T08:12:00-07:00"
        );
        // Local only: read as UTC.
        let a: Value = serde_json::json!({"date":"20250312","time":"153000"});
        assert_eq!(
            activity_time(&a).unwrap().to_rfc3339(),
            "2025-03-12T15:30:00+00:00"
        );
        let a: Value = serde_json::json!({"date":"20250312"});
        assert_eq!(
            activity_time(&a).unwrap().to_rfc3339(),
            "2025-03-12T00:00:00+00:00"
        );
        assert!(activity_time(&serde_json::json!({"time":"101010"})).is_none());
        assert!(activity_time(&serde_json::json!({"date":"2025-13-45"})).is_none());
    }

    #[test]
    fn offsets_parse_leniently() {
        assert_eq!(offset("-05:00").unwrap().local_minus_utc(), -5 * 3600);
        assert_eq!(offset("-0500").unwrap().local_minus_utc(), -5 * 3600);
        assert_eq!(offset("-5").unwrap().local_minus_utc(), -5 * 3600);
        assert_eq!(offset("+09:30").unwrap().local_minus_utc(), 9 * 3600 + 1800);
        assert_eq!(offset("Z").unwrap().local_minus_utc(), 0);
        assert!(offset("abc").is_none());
        assert!(offset("+25:00").is_none());
    }

    #[test]
    fn numbers_stay_one_path_segment() {
        assert_eq!(path_segment("1Z999AA10123456784"), "1Z999AA10123456784");
        assert_eq!(path_segment("1Z/../x y"), "1Z%2F..%2Fx%20y");
    }
}
