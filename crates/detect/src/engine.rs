//! Matching a normalised number against every format, checksums, ranking.

use crate::registry::{FormatDef, REGISTRY};
use crate::{Candidate, carriers_tab};

/// The outcome of matching one normalised number against one format whose
/// regex (shape) matched.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) fmt: usize,
    pub(crate) carrier: Option<String>,
    /// Shape, check digit and required lookups all agree.
    pub(crate) ok: bool,
    /// `(expected, actual)` check character when the check digit is wrong.
    pub(crate) mismatch: Option<(u8, u8)>,
    /// A required lookup (e.g. S10 country) that found nothing: `(name, value)`.
    pub(crate) missing: Option<(String, String)>,
    pub(crate) service: Option<String>,
    pub(crate) country: Option<String>,
}

impl Hit {
    pub(crate) fn format(&self) -> &'static FormatDef {
        &REGISTRY.formats[self.fmt]
    }
}

/// Match `s` (already normalised: `[0-9A-Z]` only) against every format.
pub(crate) fn analyze(s: &str) -> Vec<Hit> {
    let reg = &*REGISTRY;
    let mut hits = Vec::new();
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return hits;
    }
    for idx in reg.set.matches(s).iter() {
        if let Some(h) = evaluate(idx, &reg.formats[idx], s) {
            hits.push(h);
        }
    }
    hits
}

thread_local! {
    /// One reusable capture buffer per format: `captures` would allocate on every call, and
    /// `detect` is on the paste box's and the importer's hot path.
    static LOCATIONS: std::cell::RefCell<Vec<Option<regex::CaptureLocations>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn evaluate(idx: usize, f: &FormatDef, s: &str) -> Option<Hit> {
    LOCATIONS.with(|cell| {
        let mut all = cell.borrow_mut();
        if all.len() <= idx {
            all.resize_with(idx + 1, || None);
        }
        let locs = all[idx].get_or_insert_with(|| f.regex.capture_locations());
        f.regex.captures_read(locs, s)?;
        Some(evaluate_with(idx, f, s, locs))
    })
}

fn evaluate_with(idx: usize, f: &FormatDef, s: &str, locs: &regex::CaptureLocations) -> Hit {
    let group = |i: usize| locs.get(i).map(|(a, b)| &s[a..b]);
    let mut service = None;
    let mut country = None;
    let mut missing = None;
    for a in &f.additional {
        let value = a.group_idx.and_then(group);
        let entry = value.and_then(|v| a.find(v));
        match a.group.as_str() {
            "ServiceType" => service = entry.and_then(|e| e.name.clone()),
            "CountryCode" if a.name == "Destination Country" => {
                country = entry.and_then(|e| e.name.clone())
            }
            _ => {}
        }
        if entry.is_none() && f.required.iter().any(|r| r == &a.name) {
            missing = Some((a.name.clone(), value.unwrap_or("").to_owned()));
        }
    }
    let cc = f.country_idx.and_then(group);
    let carrier = f.carrier_for(cc);

    let mut mismatch = None;
    let mut check_ok = true;
    if let Some(algo) = &f.checksum {
        let serial = f.serial_idx.and_then(group);
        let check = f.check_idx.and_then(group);
        check_ok = match (serial, check) {
            (Some(serial), Some(check)) if check.len() == 1 => {
                let actual = check.as_bytes()[0];
                let expected = match &f.prepend {
                    Some(p) if !p.unless.is_match(serial) => {
                        let mut buf = Vec::with_capacity(p.content.len() + serial.len());
                        buf.extend_from_slice(p.content.as_bytes());
                        buf.extend_from_slice(serial.as_bytes());
                        algo.expected(&buf)
                    }
                    _ => algo.expected(serial.as_bytes()),
                };
                match expected {
                    Some(e) if e == actual => true,
                    Some(e) => {
                        mismatch = Some((e, actual));
                        false
                    }
                    None => false,
                }
            }
            // A checksum without the groups to feed it cannot pass.
            _ => false,
        };
    }
    Hit {
        fmt: idx,
        carrier,
        ok: check_ok && missing.is_none(),
        mismatch,
        missing,
        service,
        country,
    }
}

/// Numbers that start with two letters, or formats whose fixed prefix has a
/// letter and at least two characters (1Z, TBA, 1LS, 4PX, 3S…), are unlikely
/// to be something else even without a check digit.
pub(crate) fn distinctive(f: &FormatDef, number: &str) -> bool {
    let b = number.as_bytes();
    (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1].is_ascii_alphabetic())
        || (f.prefix.len() >= 2 && f.prefix.bytes().any(|c| c.is_ascii_alphabetic()))
}

/// Confidence of a valid hit; see "Confidence" in the crate docs.
pub(crate) fn confidence(h: &Hit, number: &str) -> f32 {
    let f = h.format();
    let letters = number.bytes().any(|b| b.is_ascii_alphabetic());
    let base = match &f.checksum {
        Some(c) if c.is_weak() => 0.6,
        Some(_) if letters => 0.95,
        Some(_) => 0.8,
        None if distinctive(f, number) => 0.5,
        None => 0.3,
    };
    let prefix = 0.01 * f.prefix.len().min(4) as f32;
    let service = if h.service.is_some() { 0.02 } else { 0.0 };
    (base + prefix + service).min(1.0)
}

pub(crate) fn candidate(h: &Hit, number: &str, conf: f32) -> Candidate {
    let f = h.format();
    let id = h.carrier.clone().unwrap_or_default();
    let template = carriers_tab::carrier_url(&id).or(f.tracking_url.as_deref());
    Candidate {
        carrier_name: carriers_tab::carrier_name(&id),
        carrier: id,
        format: f.name.clone(),
        confidence: conf,
        service: h.service.clone(),
        destination_country: h.country.clone(),
        tracking_url: template.map(|t| t.replace("%s", number)),
    }
}

/// Sort best first and keep one candidate per carrier (the best one).
pub(crate) fn rank(mut c: Vec<Candidate>) -> Vec<Candidate> {
    // Stable sort: on equal confidence the data's order (vendored specs
    // first) decides.
    c.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut out: Vec<Candidate> = Vec::with_capacity(c.len());
    for cand in c {
        if !out.iter().any(|o| o.carrier == cand.carrier) {
            out.push(cand);
        }
    }
    out
}

/// The hit that makes numbers fitting only formats without a check digit
/// invalid: when no format with a check digit accepts the number but one of the
/// same shape rejects it on its check digit (a 12-digit number failing FedEx's
/// check is not a Canada Post PIN unless something says it is), that failing
/// hit, preferring the most specific one.
pub(crate) fn shadow(hits: &[Hit]) -> Option<&Hit> {
    if hits.iter().any(|h| h.ok && h.format().checksum.is_some()) {
        return None;
    }
    hits.iter()
        .filter(|h| !h.ok && h.missing.is_none() && h.format().checksum.is_some())
        .max_by_key(|h| (h.format().prefix.len(), h.mismatch.is_some()))
}

/// Whether hit `h` is set aside by [`shadow`]: a format without a check digit
/// whose number fails the check digit of another format of the same shape.
pub(crate) fn shadowed(h: &Hit, shadow: Option<&Hit>) -> bool {
    shadow.is_some() && h.format().checksum.is_none()
}

/// Ranked candidates of every valid hit (see [`shadow`]).
pub(crate) fn candidates(hits: &[Hit], number: &str) -> Vec<Candidate> {
    candidates_vouched(hits, number, |_| false)
}

/// Ranked candidates of every valid hit; a format without a check digit set
/// aside by [`shadow`] still counts for a carrier `vouched` for (a tracking
/// link or the text names it).
pub(crate) fn candidates_vouched(
    hits: &[Hit],
    number: &str,
    vouched: impl Fn(&str) -> bool,
) -> Vec<Candidate> {
    let shadow = shadow(hits);
    rank(
        hits.iter()
            .filter(|h| h.ok)
            .filter_map(|h| {
                let id = h.carrier.as_deref()?;
                (!shadowed(h, shadow) || vouched(id))
                    .then(|| candidate(h, number, confidence(h, number)))
            })
            .collect(),
    )
}

/// Why a number that matched some shape is still invalid, preferring the
/// most specific near-miss.
pub(crate) fn reason(hits: &[Hit], number: &str) -> Option<String> {
    let best = hits
        .iter()
        .filter(|h| !h.ok)
        .max_by_key(|h| (h.format().prefix.len(), h.mismatch.is_some()))?;
    let f = best.format();
    let id = best.carrier.clone().unwrap_or_default();
    if let Some((name, value)) = &best.missing {
        return Some(if name == "Courier" {
            format!(
                "looks like a UPU S10 item number ({number}) but {value} is not a known country code"
            )
        } else {
            format!("looks like {} but {value} is not a known {name}", f.name)
        });
    }
    let digits = number.bytes().all(|b| b.is_ascii_digit());
    let unit = if digits { "digits" } else { "characters" };
    let shape = if f.prefix.is_empty() {
        format!("{}, {} {unit}", f.name, number.len())
    } else {
        format!("{}…, {} {unit}", f.prefix, number.len())
    };
    let carrier = carriers_tab::carrier_name(&id);
    let mut out = match best.mismatch {
        Some((e, a)) => format!(
            "looks like {carrier} ({shape}) but the check digit should be {}, not {}",
            e as char, a as char
        ),
        None => format!("looks like {carrier} ({shape}) but its check digit cannot be verified"),
    };
    // Formats without a check digit that the number fits only by shape.
    let mut others: Vec<String> = Vec::new();
    if shadow(hits).is_some() {
        for h in hits
            .iter()
            .filter(|h| h.ok && h.format().checksum.is_none())
        {
            let name = carriers_tab::carrier_name(h.carrier.as_deref().unwrap_or_default());
            if !others.contains(&name) {
                others.push(name);
            }
        }
    }
    if !others.is_empty() {
        let list = match others.as_slice() {
            [one] => one.clone(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
            [] => unreachable!(),
        };
        out.push_str(&format!(
            ": it fails {carrier}'s check digit. {list} numbers of this shape have no check digit; choose that carrier if it is theirs"
        ));
    }
    Some(out)
}
