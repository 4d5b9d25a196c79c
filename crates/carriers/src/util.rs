//! Lenient readers for carrier JSON: a missing or oddly typed field is `None`, never a panic
//! or a failed parse ("parse leniently" where the carriers' docs are unverified).

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// A non-empty, trimmed string at `v`, accepting numbers too.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A timestamp: RFC 3339; without an offset it is read as UTC; a bare date is midnight UTC.
pub fn timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    parceltrail_core::import::parse_time(s)
}

/// An unsigned integer, accepting numeric strings.
pub fn uint(v: &Value) -> Option<u32> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .and_then(|n| u32::try_from(n).ok())
}

/// Lower-cased text for keyword heuristics.
pub fn lower(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}
