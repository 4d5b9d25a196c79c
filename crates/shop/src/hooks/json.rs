//! Reading untrusted JSON with every refusal naming where it is (`msg.checkpoints[2].city`).

use chrono::{DateTime, FixedOffset};
use parceltrail_core::domain::{NewEvent, Place};
use parceltrail_core::import::MAX_FIELD;
use serde_json::Value;

use super::HookError;

/// `base.key`, or `key` at the top.
pub(super) fn at(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// `base[i]`.
pub(super) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// Refuses text core would refuse: longer than its field limit, or with a NUL (which
/// PostgreSQL's `text` cannot hold).
pub(super) fn check_text(path: &str, s: &str) -> Result<(), HookError> {
    if s.contains('\0') {
        return Err(HookError::malformed(format!(
            "{path}: contains a NUL character"
        )));
    }
    let n = s.chars().count();
    if n > MAX_FIELD {
        return Err(HookError::malformed(format!(
            "{path}: {n} characters long; at most {MAX_FIELD} are kept"
        )));
    }
    Ok(())
}

/// Trimmed, non-empty text at `v[key]`: a string (or a number, as carriers send codes
/// either way), checked; `None` when missing, null or empty; anything else is refused.
pub(super) fn text(v: &Value, key: &str, base: &str) -> Result<Option<String>, HookError> {
    let s = match v.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(HookError::malformed(format!(
                "{}: not a string",
                at(base, key)
            )));
        }
    };
    if s.is_empty() {
        return Ok(None);
    }
    check_text(&at(base, key), &s)?;
    Ok(Some(s))
}

/// The array at `v[key]` (missing or null: empty), at most `max` long.
pub(super) fn array<'v>(
    v: &'v Value,
    key: &str,
    base: &str,
    max: usize,
) -> Result<&'v [Value], HookError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) if a.len() > max => Err(HookError::malformed(format!(
            "{}: {} entries; at most {max} are read",
            at(base, key),
            a.len()
        ))),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(HookError::malformed(format!(
            "{}: not an array",
            at(base, key)
        ))),
    }
}

/// The object at `v[key]`, or null when missing (so lookups in it find nothing); anything
/// else is refused.
pub(super) fn object<'v>(v: &'v Value, key: &str, base: &str) -> Result<&'v Value, HookError> {
    match v.get(key) {
        None => Ok(&Value::Null),
        Some(o @ (Value::Object(_) | Value::Null)) => Ok(o),
        Some(_) => Err(HookError::malformed(format!(
            "{}: not an object",
            at(base, key)
        ))),
    }
}

/// Refuses `v` unless it is an object.
pub(super) fn need_object(v: &Value, path: &str) -> Result<(), HookError> {
    if v.is_object() {
        Ok(())
    } else {
        let what = if path.is_empty() { "the body" } else { path };
        Err(HookError::malformed(format!("{what}: not an object")))
    }
}

/// A time that must be there: RFC 3339 (`strict`) or anything core's import reads, in
/// core's plausible years.
pub(super) fn time(
    v: &Value,
    key: &str,
    base: &str,
    strict: bool,
) -> Result<DateTime<FixedOffset>, HookError> {
    let path = at(base, key);
    let raw =
        text(v, key, base)?.ok_or_else(|| HookError::malformed(format!("{path}: missing")))?;
    let t = if strict {
        DateTime::parse_from_rfc3339(&raw).ok()
    } else {
        parceltrail_core::import::parse_time(&raw)
    }
    .ok_or_else(|| {
        HookError::malformed(format!(
            "{path}: {:?} is not an RFC 3339 time",
            crate::db::clip(&raw, 40)
        ))
    })?;
    if !parceltrail_core::import::plausible(&t) {
        return Err(HookError::malformed(format!(
            "{path}: {}",
            parceltrail_core::import::implausible("the time", &crate::db::clip(&raw, 40))
        )));
    }
    Ok(t)
}

/// A time that may be there (unreadable counts as absent: used for estimates, whose
/// absence costs nothing).
pub(super) fn lenient_time(v: &Value, key: &str) -> Option<DateTime<FixedOffset>> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(parceltrail_core::import::parse_time)
        .filter(parceltrail_core::import::plausible)
}

/// Every text of an event checked as core would store it (for events made by another
/// reader, such as the 17TRACK adapter's).
pub(super) fn check_event(path: &str, e: &NewEvent) -> Result<(), HookError> {
    check_text(&at(path, "description"), &e.description)?;
    if let Some(c) = &e.raw_code {
        check_text(&at(path, "code"), c)?;
    }
    check_place(path, &e.location)
}

/// A place's texts checked.
pub(super) fn check_place(path: &str, p: &Place) -> Result<(), HookError> {
    for (k, s) in [
        ("city", &p.city),
        ("region", &p.region),
        ("country", &p.country),
        ("postal", &p.postal),
    ] {
        if let Some(s) = s {
            check_text(&at(path, k), s)?;
        }
    }
    Ok(())
}
