//! FedEx Track API (OAuth 2 client credentials with the API key and secret in the form body;
//! `POST /track/v1/trackingnumbers`, up to 30 numbers a request).
//!
//! Statuses come from FedEx's tracking status codes (`latestStatusDetail.code`,
//! `scanEvents[].eventType`) with the table in [`map_status`]; `derivedCode` /
//! `derivedStatusCode` can disagree with them (a `FD` scan derived as `RL` "Running Late") and
//! is only a fallback for codes we do not know. A number FedEx does not know comes back in a
//! 200 answer with a per-number error, so the rest of the batch still succeeds.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveTime, TimeZone};
use parceltrail_core::carrier::{
    BatchResult, BoxFuture, Carrier, CarrierError, NumberResult, RateLimit, TrackResult,
};
use parceltrail_core::domain::{CarrierEta, NewEvent, Place, Source, Status};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::http::{ClientAuth, Http, Response, Secret, TokenCache, parse_json, with_detail};
use crate::redact::{Redactor, redacted};
use crate::util::{lower, text, timestamp, uint};

/// Production endpoint base (the sandbox is `https://apis-sandbox.fedex.com`).
pub const PRODUCTION: &str = "https://apis.fedex.com";

/// Most tracking numbers one request may carry.
pub const MAX_BATCH: usize = 30;

/// The FedEx Track adapter.
#[derive(Debug, Clone)]
pub struct Fedex {
    http: Http,
    base: String,
    tokens: Arc<TokenCache>,
    secrets: Redactor,
    limit: RateLimit,
}

impl Fedex {
    /// An adapter against `base` (production: [`PRODUCTION`]); the token endpoint is
    /// `{base}/oauth/token`.
    pub fn new(
        http: Http,
        base: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        let tokens = TokenCache::new(
            format!("{base}/oauth/token"),
            client_id,
            client_secret,
            ClientAuth::FormBody,
        );
        let secrets = tokens.secrets().clone();
        Self {
            http: http.redacting(&secrets),
            base,
            tokens: Arc::new(tokens),
            secrets,
            // FedEx answers 429 when a project exceeds 1,400 transactions per 10 seconds.
            limit: RateLimit {
                requests: 1400,
                per: Duration::from_secs(10),
            },
        }
    }

    /// Override the request budget.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limit = limit;
        self
    }

    async fn request(&self, body: &Value) -> Result<Response, CarrierError> {
        let token = self.tokens.bearer(&self.http).await?;
        let req = self
            .http
            .client()
            .post(format!("{}/track/v1/trackingnumbers", self.base))
            .bearer_auth(token.expose())
            .header("x-locale", "en_US")
            .header(
                "x-customer-transaction-id",
                uuid::Uuid::now_v7().to_string(),
            )
            .header("Accept", "application/json")
            .json(body);
        self.http.send(req).await
    }

    async fn track_batch(&self, numbers: &[String]) -> BatchResult {
        if numbers.len() > MAX_BATCH {
            return Err(CarrierError::Unsupported(format!(
                "FedEx tracks at most {MAX_BATCH} numbers a request, not {}",
                numbers.len()
            )));
        }
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({
            "includeDetailedScans": true,
            "trackingInfo": numbers
                .iter()
                .map(|n| json!({"trackingNumberInfo": {"trackingNumber": n.trim()}}))
                .collect::<Vec<_>>(),
        });
        let mut resp = self.request(&body).await?;
        if resp.status == StatusCode::UNAUTHORIZED {
            // The token expired or was revoked mid-run: one fresh token, one retry.
            self.tokens.invalidate().await;
            resp = self.request(&body).await?;
        }
        if let Some(e) = resp.common_error() {
            return Err(with_detail(
                e,
                resp.json().ok().and_then(|v| error_messages(&v)),
            ));
        }
        if !resp.status.is_success() {
            let v = resp.json().ok();
            let detail = v
                .as_ref()
                .and_then(error_messages)
                .unwrap_or_else(|| resp.excerpt());
            if v.as_ref().is_some_and(says_not_found) {
                // The whole answer is "not found" (FedEx found none of the numbers).
                return Ok(numbers
                    .iter()
                    .map(|n| (n.clone(), Err(CarrierError::NotFound(detail.clone()))))
                    .collect());
            }
            if let Some(v) = v.as_ref().filter(|v| error_messages(v).is_some()) {
                return Err(match error_kind(v, detail) {
                    CarrierError::Malformed(m) => CarrierError::Malformed(format!(
                        "FedEx answered HTTP {}: {m}",
                        resp.status.as_u16()
                    )),
                    e => e,
                });
            }
            return Err(CarrierError::Malformed(format!(
                "FedEx answered HTTP {}: {detail}",
                resp.status.as_u16()
            )));
        }
        let mut found = parse_body(&resp.body)?;
        Ok(numbers
            .iter()
            .map(|n| {
                let want = normalise(n);
                let r = found
                    .iter()
                    .position(|(k, _)| normalise(k) == want)
                    .map(|i| found.swap_remove(i).1)
                    .unwrap_or_else(|| {
                        Err(CarrierError::Malformed(
                            "FedEx's answer does not mention this number".into(),
                        ))
                    });
                (n.clone(), r)
            })
            .collect())
    }
}

fn normalise(n: &str) -> String {
    n.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Top-level `errors[]` as "message (CODE); ...", if any.
fn error_messages(v: &Value) -> Option<String> {
    let errors = v["errors"].as_array()?;
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

/// What a FedEx error document (other than "not found") means, by its documented codes:
/// `NOT.AUTHORIZED.ERROR` (401) and `FORBIDDEN.ERROR` (403) refuse the credentials;
/// `INTERNAL.SERVER.ERROR` and `SERVICE.UNAVAILABLE.ERROR` pass; a code or message about a
/// rate or quota asks us to wait (FedEx's examples show no 429 body, so this matches words:
/// `RATE.LIMIT`, `TOO.MANY`, `QUOTA` — unverified). `NOT.FOUND.ERROR`
/// is the resource (the URL), not the number, so it stays unreadable.
fn error_kind(v: &Value, detail: String) -> CarrierError {
    let codes: Vec<String> = v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| text(&e["code"]))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let any = |f: &dyn Fn(&str) -> bool| codes.iter().any(|c| f(c));
    let words = detail.to_lowercase();
    if any(&|c| {
        c.contains("NOT.AUTHORIZED") || c.contains("FORBIDDEN") || c.contains("UNAUTHORIZED")
    }) {
        return CarrierError::Auth(detail);
    }
    if any(&|c| c.contains("RATE.LIMIT") || c.contains("TOO.MANY") || c.contains("QUOTA"))
        || words.contains("rate limit")
        || words.contains("quota")
    {
        return CarrierError::RateLimited { retry_after: None };
    }
    if any(&|c| c.contains("INTERNAL.SERVER") || c.contains("SERVICE.UNAVAILABLE")) {
        return CarrierError::Transient {
            message: format!("FedEx: {detail}"),
            retry_after: None,
        };
    }
    CarrierError::Malformed(format!("FedEx error document: {detail}"))
}

fn is_not_found(code: &str) -> bool {
    code.to_ascii_uppercase().contains("NOTFOUND")
}

fn says_not_found(v: &Value) -> bool {
    v["errors"].as_array().is_some_and(|errors| {
        errors
            .iter()
            .any(|e| text(&e["code"]).is_some_and(|c| is_not_found(&c)))
    })
}

impl Carrier for Fedex {
    fn id(&self) -> &'static str {
        "fedex"
    }

    fn serves(&self, carrier: &str) -> bool {
        carrier == "fedex"
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
        parse_body(body)
    }
}

/// Normalise a `/track/v1/trackingnumbers` response body: one result per
/// `completeTrackResults[]` entry, in the body's order, keyed by tracking number.
pub fn parse_body(body: &[u8]) -> BatchResult {
    let v = parse_json(body)?;
    if v.get("output").is_none() && v["errors"].is_array() {
        // An error document (what FedEx sends with 4xx/5xx), saved and parsed on its own.
        let detail = error_messages(&v).unwrap_or_default();
        return Err(if says_not_found(&v) {
            CarrierError::NotFound(detail)
        } else {
            error_kind(&v, detail)
        });
    }
    let complete = v["output"]["completeTrackResults"]
        .as_array()
        .ok_or_else(|| {
            CarrierError::Malformed(
                "no \"output.completeTrackResults\" array in the response".into(),
            )
        })?;
    Ok(complete.iter().map(complete_result).collect())
}

fn complete_result(c: &Value) -> (String, NumberResult) {
    let results: &[Value] = c["trackResults"].as_array().map_or(&[], Vec::as_slice);
    let number = text(&c["trackingNumber"])
        .or_else(|| {
            results
                .iter()
                .find_map(|r| text(&r["trackingNumberInfo"]["trackingNumber"]))
        })
        .unwrap_or_default();
    // Several results for one number (FedEx reuses numbers): the one with the newest scan.
    let usable: Vec<&Value> = results.iter().filter(|r| !has_error(r)).collect();
    if let Some(best) = usable
        .iter()
        .enumerate()
        .max_by_key(|(i, r)| (newest_scan(r), std::cmp::Reverse(*i)))
        .map(|(_, r)| *r)
    {
        return (number, Ok(track_result(best)));
    }
    let err = results
        .iter()
        .find(|r| has_error(r))
        .map(|r| {
            let e = &r["error"];
            let detail = code_message(e).unwrap_or_else(|| "error without a message".into());
            if text(&e["code"]).is_some_and(|c| is_not_found(&c)) {
                CarrierError::NotFound(detail)
            } else {
                CarrierError::Malformed(format!("FedEx error for this number: {detail}"))
            }
        })
        .unwrap_or_else(|| {
            CarrierError::Malformed("FedEx listed no result for this number".into())
        });
    (number, Err(err))
}

fn has_error(r: &Value) -> bool {
    r["error"].is_object()
        && (text(&r["error"]["code"]).is_some() || text(&r["error"]["message"]).is_some())
}

fn newest_scan(r: &Value) -> Option<DateTime<chrono::Utc>> {
    r["scanEvents"]
        .as_array()?
        .iter()
        .filter_map(|e| e["date"].as_str().and_then(timestamp))
        .map(|t| t.to_utc())
        .max()
}

/// FedEx tracking status code (`code`, `eventType`) to our status; `detail` is the exception
/// or ancillary reason text (reason codes and descriptions), which tells a failed attempt
/// from other delivery exceptions. First match wins:
///
/// | Codes | Status |
/// |---|---|
/// | `OC`, `OX` | InfoReceived |
/// | `PU` `PX` `AR` `AF` `AA` `AC` `AX` `DP` `LO` `FD` `SF` `IT` `IX` `PF` `PL` `PM` `EA` `EO` `TR` `OW` `OF` `CC` `CP` `AO` `DD` `DY` `PD` | InTransit |
/// | `OD`, `ED`, `AD` | OutForDelivery |
/// | `HL`, `HP` | AvailableForPickup |
/// | `DE` whose reason is an attempt (recipient not available, not home, ...) | FailedAttempt |
/// | `DL` | Delivered |
/// | `RS` | Returned |
/// | `DE` (other), `SE`, `CD`, `CA` | Exception |
/// | anything else | Unknown |
pub fn map_status(code: Option<&str>, detail: &str) -> Status {
    let code = code
        .map(|c| c.trim().to_ascii_uppercase())
        .unwrap_or_default();
    match code.as_str() {
        "OC" | "OX" => Status::InfoReceived,
        "PU" | "PX" | "AR" | "AF" | "AA" | "AC" | "AX" | "DP" | "LO" | "FD" | "SF" | "IT"
        | "IX" | "PF" | "PL" | "PM" | "EA" | "EO" | "TR" | "OW" | "OF" | "CC" | "CP" | "AO"
        | "DD" | "DY" | "PD" => Status::InTransit,
        "OD" | "ED" | "AD" => Status::OutForDelivery,
        "HL" | "HP" => Status::AvailableForPickup,
        "DE" if is_attempt(detail) => Status::FailedAttempt,
        "DL" => Status::Delivered,
        "RS" => Status::Returned,
        "DE" | "SE" | "CD" | "CA" => Status::Exception,
        _ => Status::Unknown,
    }
}

/// Whether an exception reason describes a delivery attempt nobody answered.
fn is_attempt(detail: &str) -> bool {
    let d = detail.to_lowercase();
    [
        "attempt",
        "not available",
        "unavailable",
        "not home",
        "not in",
        "no one",
        "nobody",
    ]
    .iter()
    .any(|k| {
        d.match_indices(k).any(|(i, _)| {
            // "not in" must be the words, not the start of "not included".
            let after = d[i + k.len()..].chars().next();
            !(*k == "not in" && after.is_some_and(char::is_alphabetic))
        })
    })
}

/// Map on the primary code; the derived code only when the primary one is unknown.
fn status_with_fallback(code: Option<&str>, derived: Option<&str>, detail: &str) -> Status {
    match map_status(code, detail) {
        Status::Unknown => derived
            .map(|d| map_status(Some(d), detail))
            .unwrap_or(Status::Unknown),
        s => s,
    }
}

fn place(addr: &Value) -> Place {
    Place {
        city: text(&addr["city"]),
        region: text(&addr["stateOrProvinceCode"]),
        country: text(&addr["countryCode"]).map(|c| c.to_uppercase()),
        postal: text(&addr["postalCode"]),
    }
}

fn first_place(candidates: &[&Value]) -> Option<Place> {
    candidates.iter().map(|a| place(a)).find(|p| !p.is_empty())
}

fn scan_event(e: &Value) -> Option<NewEvent> {
    let occurred_at = e["date"].as_str().and_then(timestamp)?;
    let code = text(&e["eventType"]);
    let derived = text(&e["derivedStatusCode"]);
    let exception = lower(&[
        text(&e["exceptionCode"]).as_deref(),
        text(&e["exceptionDescription"]).as_deref(),
    ]);
    let mut description = text(&e["eventDescription"])
        .or_else(|| text(&e["derivedStatus"]))
        .unwrap_or_default();
    if let Some(x) = text(&e["exceptionDescription"])
        && !description.to_lowercase().contains(&x.to_lowercase())
    {
        description = if description.is_empty() {
            x
        } else {
            format!("{description}: {x}")
        };
    }
    Some(NewEvent {
        occurred_at,
        status: status_with_fallback(code.as_deref(), derived.as_deref(), &exception),
        raw_code: code.or(derived),
        description,
        location: place(&e["scanLocation"]),
        source: Source::Poll,
    })
}

fn ancillary_text(latest: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(list) = latest["ancillaryDetails"].as_array() {
        for a in list {
            for k in ["reason", "reasonDescription", "action", "actionDescription"] {
                parts.extend(text(&a[k]));
            }
        }
    }
    parts.join(" ").to_lowercase()
}

/// A day-level value (local midnight) stands for that whole day; a time is a point.
fn day_or_point(t: DateTime<FixedOffset>) -> (DateTime<FixedOffset>, DateTime<FixedOffset>) {
    if t.time() == NaiveTime::MIN {
        let end = t
            .offset()
            .from_local_datetime(&t.date_naive().and_hms_opt(23, 59, 59).expect("valid time"))
            .single()
            .unwrap_or(t);
        (t, end)
    } else {
        (t, t)
    }
}

fn window(w: &Value) -> Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)> {
    let begins = w["begins"].as_str().and_then(timestamp);
    let ends = w["ends"].as_str().and_then(timestamp);
    match (begins, ends) {
        (Some(a), Some(b)) => Some((a.min(b), a.max(b))),
        (Some(t), None) | (None, Some(t)) => Some(day_or_point(t)),
        (None, None) => None,
    }
}

/// The estimate: the delivery time window, else the `ESTIMATED_DELIVERY` date and time, else
/// the standard transit window.
fn eta(r: &Value, events: &[NewEvent]) -> Option<CarrierEta> {
    let estimated = || {
        r["dateAndTimes"].as_array().and_then(|list| {
            list.iter()
                .filter(|d| {
                    text(&d["type"]).is_some_and(|t| t.eq_ignore_ascii_case("ESTIMATED_DELIVERY"))
                })
                .find_map(|d| d["dateTime"].as_str().and_then(timestamp))
                .map(day_or_point)
        })
    };
    let (earliest, latest) = window(&r["estimatedDeliveryTimeWindow"]["window"])
        .or_else(estimated)
        .or_else(|| window(&r["standardTransitTimeWindow"]["window"]))?;
    Some(CarrierEta {
        earliest,
        latest,
        observed_at: events
            .iter()
            .map(|e| e.occurred_at.to_utc())
            .max()
            .unwrap_or_default(),
    })
}

fn track_result(r: &Value) -> TrackResult {
    let events: Vec<NewEvent> = r["scanEvents"]
        .as_array()
        .map(|a| a.iter().filter_map(scan_event).collect())
        .unwrap_or_default();
    let latest = &r["latestStatusDetail"];
    let status = if latest.is_object() {
        // FedEx's own OpenAPI example writes the latest status with the scan-event names
        // (`eventType`, `derivedStatusCode`) instead of `code` / `derivedCode`: read both.
        Some(status_with_fallback(
            text(&latest["code"])
                .or_else(|| text(&latest["eventType"]))
                .as_deref(),
            text(&latest["derivedCode"])
                .or_else(|| text(&latest["derivedStatusCode"]))
                .as_deref(),
            &ancillary_text(latest),
        ))
    } else {
        events
            .iter()
            .max_by_key(|e| e.occurred_at)
            .map(|e| e.status)
    };
    let origin = first_place(&[
        &r["shipperInformation"]["address"],
        &r["originLocation"]["locationContactAndAddress"]["address"],
        &r["originLocation"]["address"],
    ]);
    let destination = first_place(&[
        &r["recipientInformation"]["address"],
        &r["destinationLocation"]["locationContactAndAddress"]["address"],
        &r["destinationLocation"]["address"],
        &r["lastUpdatedDestinationAddress"],
    ]);
    let service = &r["serviceDetail"];
    let pkg = &r["packageDetails"];
    TrackResult {
        status,
        eta: eta(r, &events),
        service: text(&service["description"])
            .or_else(|| text(&service["shortDescription"]))
            .or_else(|| text(&service["type"])),
        origin,
        destination,
        signed_by: text(&r["deliveryDetails"]["signedByName"])
            .or_else(|| text(&r["deliveryDetails"]["receivedByName"])),
        pieces: uint(&pkg["count"])
            .or_else(|| uint(&pkg["pieceCount"]))
            .or_else(|| uint(&r["pieceCount"]))
            .filter(|n| *n > 0),
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        let m = |c: &str| map_status(Some(c), "");
        for c in ["OC", "OX"] {
            assert_eq!(m(c), Status::InfoReceived, "{c}");
        }
        for c in [
            "PU", "PX", "AR", "AF", "AA", "AC", "AX", "DP", "LO", "FD", "SF", "IT", "IX", "PF",
            "PL", "PM", "EA", "EO", "TR", "Ow", "OW", "OF", "CC", "CP", "AO", "DD", "DY", "PD",
        ] {
            assert_eq!(m(c), Status::InTransit, "{c}");
        }
        for c in ["OD", "ED", "AD", "od"] {
            assert_eq!(m(c), Status::OutForDelivery, "{c}");
        }
        for c in ["HL", "HP"] {
            assert_eq!(m(c), Status::AvailableForPickup, "{c}");
        }
        assert_eq!(m("DL"), Status::Delivered);
        assert_eq!(m("RS"), Status::Returned);
        for c in ["DE", "SE", "CD", "CA"] {
            assert_eq!(m(c), Status::Exception, "{c}");
        }
        assert_eq!(m("RL"), Status::Unknown);
        assert_eq!(m(""), Status::Unknown);
        assert_eq!(map_status(None, ""), Status::Unknown);
    }

    #[test]
    fn a_delivery_exception_is_an_attempt_only_when_the_reason_says_so() {
        let de = |d: &str| map_status(Some("DE"), d);
        assert_eq!(
            de("08 customer not available or business closed"),
            Status::FailedAttempt
        );
        assert_eq!(de("delivery attempted"), Status::FailedAttempt);
        assert_eq!(de("recipient not in"), Status::FailedAttempt);
        assert_eq!(de("incorrect address"), Status::Exception);
        assert_eq!(de("not included in the manifest"), Status::Exception);
        assert_eq!(de(""), Status::Exception);
        assert_eq!(
            map_status(Some("SE"), "customer not available"),
            Status::Exception,
            "only DE becomes an attempt"
        );
    }

    #[test]
    fn the_code_wins_over_the_derived_code() {
        assert_eq!(
            status_with_fallback(Some("FD"), Some("RL"), ""),
            Status::InTransit
        );
        assert_eq!(
            status_with_fallback(Some("ZZ"), Some("DL"), ""),
            Status::Delivered
        );
        assert_eq!(
            status_with_fallback(Some("ZZ"), Some("RL"), ""),
            Status::Unknown
        );
        assert_eq!(
            status_with_fallback(None, Some("IT"), ""),
            Status::InTransit
        );
    }

    #[test]
    fn day_level_estimates_cover_the_day() {
        let t = timestamp("2025-03-14T00:00:00-08:00").unwrap();
        let (a, b) = day_or_point(t);
        assert_eq!(a.to_rfc3339(), "2025-03-14T00:00:00-08:00");
        assert_eq!(b.to_rfc3339(), "2025-03-14T23:59:59-08:00");
        let t = timestamp("2025-03-14T20:00:00-08:00").unwrap();
        assert_eq!(day_or_point(t), (t, t));
    }
}
