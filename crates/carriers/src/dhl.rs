//! DHL Shipment Tracking – Unified (`GET /track/shipments`, API key in `DHL-API-Key`).
//!
//! One number per request. DHL's `statusCode` vocabulary has five values (`pre-transit`,
//! `transit`, `delivered`, `failure`, `unknown`); out-for-delivery, pickup, failed-attempt and
//! return are only told apart by the free text, so those refinements are keyword heuristics
//! (documented as unverified in the carrier notes) on top of the code.

use std::time::Duration;

use parceltrail_core::carrier::{
    BatchResult, BoxFuture, Carrier, CarrierError, NumberResult, RateLimit, TrackResult,
};
use parceltrail_core::domain::{CarrierEta, NewEvent, Place, Source, Status};
use reqwest::StatusCode;
use serde_json::Value;

use crate::http::{Http, Secret, parse_json};
use crate::redact::{Redactor, redacted};
use crate::util::{lower, text, timestamp, uint};

/// Production endpoint base.
pub const PRODUCTION: &str = "https://api-eu.dhl.com";

/// The DHL Unified adapter.
#[derive(Debug, Clone)]
pub struct Dhl {
    http: Http,
    base: String,
    key: Secret,
    secrets: Redactor,
    limit: RateLimit,
    source: Source,
}

impl Dhl {
    /// An adapter against `base` (production: [`PRODUCTION`]; the simulator: its address).
    pub fn new(http: Http, base: impl Into<String>, key: Secret) -> Self {
        let secrets = Redactor::new();
        secrets.add(key.expose());
        Self {
            http: http.redacting(&secrets),
            base: base.into().trim_end_matches('/').to_owned(),
            key,
            secrets,
            // The initial service level is 250 calls a day, at most about one per second.
            limit: RateLimit {
                requests: 1,
                per: Duration::from_secs(1),
            },
            source: Source::Poll,
        }
    }

    /// Override the request budget (an upgraded DHL plan, or the local simulator).
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limit = limit;
        self
    }

    /// Mark events as coming from the simulator rather than the real carrier.
    pub fn simulated(mut self) -> Self {
        self.source = Source::Simulator;
        self
    }

    async fn track_one(&self, number: &str) -> NumberResult {
        let req = self
            .http
            .client()
            .get(format!("{}/track/shipments", self.base))
            .query(&[("trackingNumber", number)])
            .header("DHL-API-Key", self.key.expose())
            .header("Accept", "application/json");
        let resp = self.http.send(req).await?;
        if resp.status == StatusCode::NOT_FOUND && !resp.is_html() {
            let detail = resp
                .json()
                .ok()
                .and_then(|v| text(&v["detail"]).or_else(|| text(&v["title"])))
                .unwrap_or_else(|| "no shipment with this tracking number".into());
            return Err(CarrierError::NotFound(detail));
        }
        if let Some(e) = resp.common_error() {
            return Err(e);
        }
        if !resp.status.is_success() {
            return Err(CarrierError::Malformed(format!(
                "unexpected HTTP {}: {}",
                resp.status.as_u16(),
                resp.excerpt()
            )));
        }
        let mut all = parse_body(&resp.body, self.source)?;
        // DHL may list several shipments for one id (other divisions); take the one with this
        // number, else the first.
        let pos = all
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(number))
            .unwrap_or(0);
        if all.is_empty() {
            return Err(CarrierError::NotFound(
                "the response lists no shipment".into(),
            ));
        }
        all.swap_remove(pos).1
    }
}

impl Carrier for Dhl {
    fn id(&self) -> &'static str {
        "dhl"
    }

    fn serves(&self, carrier: &str) -> bool {
        matches!(carrier, "dhl" | "dhl-ecommerce" | "deutsche-post")
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
                let r = self.track_one(n).await;
                // Whole-call failures (auth, rate limit, network) stop the batch.
                match r {
                    Err(
                        e @ (CarrierError::Auth(_)
                        | CarrierError::RateLimited { .. }
                        | CarrierError::Transient { .. }),
                    ) => {
                        return Err(e);
                    }
                    r => out.push((n.clone(), r)),
                }
            }
            Ok(out)
        })
    }

    fn parse(&self, body: &[u8]) -> BatchResult {
        parse_body(body, self.source)
    }
}

/// Normalise a `/track/shipments` response body: one result per listed shipment.
pub fn parse_body(
    body: &[u8],
    source: Source,
) -> Result<Vec<(String, NumberResult)>, CarrierError> {
    let v = parse_json(body)?;
    if let Some(status) = v["status"]
        .as_u64()
        .or_else(|| v["status"].as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|_| v.get("shipments").is_none())
    {
        // An application/problem+json error document.
        let detail = text(&v["detail"])
            .or_else(|| text(&v["title"]))
            .unwrap_or_default();
        return Err(match status {
            404 => CarrierError::NotFound(detail),
            401 | 403 => CarrierError::Auth(detail),
            429 => CarrierError::RateLimited { retry_after: None },
            500..=599 => CarrierError::Transient {
                message: format!("DHL error {status}: {detail}"),
                retry_after: None,
            },
            _ => CarrierError::Malformed(format!("error document (status {status}): {detail}")),
        });
    }
    let shipments = v["shipments"]
        .as_array()
        .ok_or_else(|| CarrierError::Malformed("no \"shipments\" array in the response".into()))?;
    Ok(shipments
        .iter()
        .map(|s| (text(&s["id"]).unwrap_or_default(), Ok(shipment(s, source))))
        .collect())
}

fn place(addr: &Value) -> Place {
    Place {
        city: text(&addr["addressLocality"]),
        region: text(&addr["addressRegion"]),
        country: text(&addr["countryCode"]).map(|c| c.to_uppercase()),
        postal: text(&addr["postalCode"]),
    }
}

/// DHL's status code refined by its free text.
pub fn map_status(code: Option<&str>, status: Option<&str>, description: Option<&str>) -> Status {
    let words = lower(&[status, description]);
    let has = |k: &[&str]| k.iter().any(|w| words.contains(w));
    match code.map(str::to_ascii_lowercase).as_deref() {
        Some("pre-transit") => Status::InfoReceived,
        Some("transit") => {
            if has(&[
                "out for delivery",
                "loaded onto the delivery vehicle",
                "with delivery courier",
                "zugestellt wird",
            ]) {
                Status::OutForDelivery
            } else if has(&[
                "ready for pick",
                "available for pick",
                "ready for collection",
                "awaiting collection",
                "abholbereit",
            ]) {
                Status::AvailableForPickup
            } else {
                Status::InTransit
            }
        }
        Some("delivered") => Status::Delivered,
        Some("failure") => {
            if has(&["return", "zurück"]) {
                Status::Returned
            } else if has(&[
                "attempt",
                "not at home",
                "could not be delivered",
                "recipient not available",
                "nicht angetroffen",
            ]) {
                Status::FailedAttempt
            } else {
                Status::Exception
            }
        }
        _ => Status::Unknown,
    }
}

fn event(e: &Value, source: Source) -> Option<NewEvent> {
    let occurred_at = e["timestamp"].as_str().and_then(timestamp)?;
    let code = text(&e["statusCode"]);
    let status_text = text(&e["status"]);
    let description = text(&e["description"])
        .or_else(|| status_text.clone())
        .unwrap_or_default();
    Some(NewEvent {
        occurred_at,
        status: map_status(code.as_deref(), status_text.as_deref(), Some(&description)),
        raw_code: code,
        description,
        location: place(&e["location"]["address"]),
        source,
    })
}

fn shipment(s: &Value, source: Source) -> TrackResult {
    let events: Vec<NewEvent> = s["events"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| event(e, source)).collect())
        .unwrap_or_default();
    let current = &s["status"];
    let status = current.is_object().then(|| {
        map_status(
            current["statusCode"].as_str(),
            current["status"].as_str(),
            current["description"].as_str(),
        )
    });
    let frame = &s["estimatedDeliveryTimeFrame"];
    let eta_from = frame["estimatedFrom"].as_str().and_then(timestamp);
    let eta_to = frame["estimatedThrough"].as_str().and_then(timestamp);
    let point = s["estimatedTimeOfDelivery"].as_str().and_then(timestamp);
    let observed = events
        .iter()
        .map(|e| e.occurred_at.to_utc())
        .max()
        .unwrap_or_default();
    let eta = match (eta_from, eta_to, point) {
        (Some(a), Some(b), _) => Some(CarrierEta {
            earliest: a.min(b),
            latest: a.max(b),
            observed_at: observed,
        }),
        (_, _, Some(p)) => Some(CarrierEta {
            earliest: p,
            latest: p,
            observed_at: observed,
        }),
        _ => None,
    };
    let details = &s["details"];
    let origin = place(&s["origin"]["address"]);
    let destination = place(&s["destination"]["address"]);
    TrackResult {
        status,
        events,
        eta,
        service: text(&details["product"]["productName"]).or_else(|| text(&s["service"])),
        origin: (!origin.is_empty()).then_some(origin),
        destination: (!destination.is_empty()).then_some(destination),
        signed_by: text(&details["proofOfDelivery"]["signed"]["name"])
            .or_else(|| text(&details["proofOfDelivery"]["signedBy"]))
            .or_else(|| text(&details["receiver"]["name"])),
        pieces: uint(&details["totalNumberOfPieces"]),
    }
}
