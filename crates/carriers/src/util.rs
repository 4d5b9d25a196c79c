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
/// Also the offset forms carriers send that RFC 3339 refuses: a space before the offset
/// (`2024-08-12T15:18:10 -0500`, seen from FedEx), no colon in it (`-0500`), hours only
/// (`+08`), a space instead of the `T`, a lower-case `z`, and `UTC`/`GMT` for `Z`.
pub fn timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    parceltrail_core::import::parse_time(s).or_else(|| lenient_time(s))
}

/// The date-time forms [`timestamp`] accepts beyond core's: the offset rewritten as
/// `+hh:mm`, the separator as `T`, then RFC 3339.
fn lenient_time(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    let (date, rest) = s.split_at_checked(10)?;
    let rest = rest.strip_prefix(['T', 't', ' '])?.trim();
    // The clock part ends where the offset starts: a sign, a zone word or `Z`.
    let end = rest
        .find(|c: char| c == '+' || c == '-' || c == ' ' || c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(end);
    let zone = zone.trim();
    let zone = match zone.to_ascii_uppercase().as_str() {
        "" => return None, // no offset: core already read it as UTC, or it is not a time
        "Z" | "UTC" | "GMT" => "Z".to_owned(),
        z => {
            let z = z
                .strip_prefix("UTC")
                .or_else(|| z.strip_prefix("GMT"))
                .unwrap_or(z);
            let (sign, digits) = z.split_at_checked(1)?;
            if sign != "+" && sign != "-" {
                return None;
            }
            let digits = digits.replace(':', "");
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            match digits.len() {
                1 | 2 => format!("{sign}{digits:0>2}:00"),
                3 | 4 => {
                    let digits = format!("{digits:0>4}");
                    format!("{sign}{}:{}", &digits[..2], &digits[2..])
                }
                _ => return None,
            }
        }
    };
    let clock = match clock.len() {
        5 => format!("{clock}:00"), // HH:MM
        _ => clock.to_owned(),
    };
    DateTime::parse_from_rfc3339(&format!("{date}T{clock}{zone}")).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_as_carriers_write_them() {
        let t = |s: &str| timestamp(s).map(|t| t.to_rfc3339());
        let want = Some("2024-08-12T15:18:10-05:00".to_owned());
        for s in [
            "2024-08-12T15:18:10-05:00",
            "2024-08-12T15:18:10 -0500",
            "2024-08-12T15:18:10-0500",
            "2024-08-12T15:18:10 -05:00",
            "2024-08-12 15:18:10 -0500",
            "2024-08-12T15:18:10-05",
            "2024-08-12T15:18:10 GMT-05:00",
        ] {
            assert_eq!(t(s), want, "{s}");
        }
        assert_eq!(
            t("2024-08-12T15:18:10+0530").as_deref(),
            Some("2024-08-12T15:18:10+05:30")
        );
        assert_eq!(
            t("2024-08-12T15:18:10.250 +0800").as_deref(),
            Some("2024-08-12T15:18:10.250+08:00")
        );
        assert_eq!(
            t("2024-08-12T15:18 -0500").as_deref(),
            Some("2024-08-12T15:18:00-05:00")
        );
        assert_eq!(
            t("2024-08-12T15:18:10z").as_deref(),
            Some("2024-08-12T15:18:10+00:00")
        );
        assert_eq!(
            t("2024-08-12 15:18:10 UTC").as_deref(),
            Some("2024-08-12T15:18:10+00:00")
        );
        // No offset: UTC (core's rule); nonsense stays unreadable.
        assert_eq!(
            t("2024-08-12T15:18:10").as_deref(),
            Some("2024-08-12T15:18:10+00:00")
        );
        for bad in [
            "2024-08-12T15:18:10 -05000",
            "2024-08-12T15:18:10 +ab",
            "soon",
            "2024-08-12T25:00:00 -0500",
            "",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }
}
