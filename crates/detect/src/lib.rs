//! Recognise parcel tracking numbers and their carriers.
//!
//! Three entry points:
//!
//! * [`detect`] — one number or one tracking link the user typed or pasted;
//! * [`detect_as`] — the same, validated against one carrier the user chose;
//! * [`scan`] — every tracking number in free text (a shipping e-mail, a web
//!   page's text), including numbers inside carrier tracking links.
//!
//! ```
//! use parceltrail_detect::{detect, scan};
//!
//! let d = detect("1Z 5R8 939 0357 5671 27");
//! assert!(d.valid);
//! assert_eq!(d.number, "1Z5R89390357567127");
//! assert_eq!(d.carrier.as_deref(), Some("ups"));
//!
//! let typo = detect("1Z5R89390357567128");
//! assert!(!typo.valid);
//! assert_eq!(
//!     typo.reason.as_deref(),
//!     Some("looks like UPS (1Z…, 18 characters) but the check digit should be 7, not 8")
//! );
//!
//! let found = scan("Your order shipped! Tracking: RB123456785GB. Questions? Call 555-123-4567.");
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].carrier.as_deref(), Some("royal-mail"));
//! ```
//!
//! # Data
//!
//! Number formats come from JSON specs: the MIT-licensed
//! `tracking_number_data` courier files by Jeff Keen (UPS, FedEx, USPS, DHL,
//! OnTrac, Amazon, UPU S10; see `data/tracking_number_data/LICENSE`) and our
//! own `data/parceltrail_couriers.json` in the same schema (UPS Mail
//! Innovations, DHL eCommerce/Parcel, LaserShip, Canada Post, Australia Post,
//! PostNL, DPD, GLS, Evri, Royal Mail, China Post, Cainiao, YunExpress, 4PX,
//! Deutsche Post). They are embedded at compile time and parsed on first use.
//! Check digits (mod 10 with weights, mod 7, S10, FedEx's weighted mod 11/10,
//! Luhn, ISO 7064 MOD 37,36) are computed from each spec's parameters.
//! UPU S10 numbers belong to the post of their 2-letter country suffix:
//! named carriers for US, GB, CA, AU, NL, CN and DE, `post-xx` otherwise.
//!
//! Input is normalised with [`normalize`] (upper case, no whitespace, `-` or
//! `.`), so `"1z 5r8-939"` style input works.
//!
//! # Confidence
//!
//! Every valid match gets a confidence in `0..=1`:
//!
//! | format | base |
//! | --- | --- |
//! | check digit, number contains letters (1Z…, S10, OnTrac C…) | 0.95 |
//! | check digit, all digits (FedEx, USPS, Canada Post 16…) | 0.80 |
//! | weak check digit (DHL Express mod 7: one random number in 7 passes) | 0.60 |
//! | no check digit, distinctive prefix (TBA…, YT…, LP…, JJD…, 3S…, 1LS…) | 0.50 |
//! | no check digit, nothing distinctive (DPD 14, GLS, Evri 16, Canada Post 12) | 0.30 |
//!
//! plus 0.01 per fixed leading character of the format (at most 4: the more
//! specific format wins, e.g. FedEx Ground 96… over USPS 20), plus 0.02 when
//! the number's service code is known. Ambiguous numbers list one candidate
//! per plausible carrier, best first; on ties the data order decides
//! (vendored specs first).
//!
//! A number that fits only formats **without a check digit** while it fails
//! the check digit of a format of the same shape (a 12-digit number failing
//! FedEx's check is also a Canada Post PIN or a GLS number by shape) is a
//! likely typo: it is invalid, with a reason naming the failed check and the
//! other carriers ("… it fails FedEx's check digit. Canada Post or GLS
//! numbers of this shape have no check digit; …"), unless something says it
//! is theirs: [`detect_as`] with that carrier (the carrier picker), a tracking
//! link of that carrier, or, in [`scan`], that carrier named nearby.
//!
//! A tracking **link** names its carrier: candidates of that carrier are
//! raised to 0.99 so they rank first; if the number fits none of that
//! carrier's formats the link is still trusted and yields a `tracking link`
//! candidate at 0.90. 17TRACK links name no carrier; the number decides.
//!
//! # Free text
//!
//! [`scan`] makes one pass over the bytes, finds URLs (`scheme://…`,
//! `www.…`) and alphanumeric tokens, joins tokens separated by single spaces
//! (`9400 1112 0108 …`, up to 12 groups of at most 6 characters), and only
//! hands tokens of plausible length with enough digits to the format regexes.
//! A group of characters is a candidate **whole or not at all**: when the
//! longest group fits a format's shape, valid or not, nothing shorter is cut
//! from it; shorter groups only leave out a word at its end (`… 4830 16 ETA`)
//! or a word before it (`UPS 1Z …`), never digits, so a mistyped number never
//! yields another valid number made of part of it. Tokens inside URLs are not scanned
//! on their own (only carrier links are read), which keeps order pages and
//! tracking pixels out. To keep noise out:
//!
//! * numbers without a check digit and without a distinctive prefix, numbers
//!   that only pass DHL's weak mod 7, and all-digit numbers of 12 digits or
//!   fewer are reported only when a *context word* is near: the carrier's
//!   name within ~100 bytes, or a tracking word (`tracking`, `track`,
//!   `shipment`, `parcel`, `package`, `consignment`, `sendung`…) in the 60
//!   bytes before;
//! * all-digit numbers right after words like `order`, `invoice`, `phone`,
//!   `account` or `reference` are skipped unless their carrier is named;
//! * numbers split by spaces only count when they pass a strong check digit,
//!   or their carrier is named, or they have a distinctive prefix after a
//!   tracking word;
//! * a carrier named nearby adds 0.10 to that carrier's confidence, and
//!   lifts it to at least 0.85 so it outranks carriers the text does not name.
//!
//! A token that clearly has a specific carrier's shape (a fixed letter prefix
//! such as 1Z, or the S10 letters-digits-letters layout) but fails its check
//! digit is reported as an invalid [`Detection`] with a reason, since it is
//! most likely a typo; so is any number failing a check digit where the text
//! calls it a tracking number (a tracking word before it, not after a
//! non-tracking one, or a carrier it fits named nearby), and a number so
//! called that fits no format at all ("not a tracking number we recognise").
//! Other non-matching tokens are not reported.
//!
//! [`detect`] on text around one number (`"tracking: 1Z…"`) reads it like
//! [`scan`]: the first valid number, or else the first number reported with
//! its reason.
#![deny(missing_docs)]

mod carriers_tab;
mod checksum;
mod engine;
mod links;
mod registry;
mod scanner;

#[cfg(test)]
mod data_tests;

use std::ops::Range;

use serde::Serialize;

/// A carrier the product knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Carrier {
    /// Stable lowercase slug used in the database and CLI: "ups", "fedex",
    /// "usps", "dhl" (DHL Express), "dhl-ecommerce", "amazon", "ontrac",
    /// "lasership", "canada-post", "australia-post", "postnl", "dpd", "gls",
    /// "evri", "royal-mail", "china-post", "cainiao", "yunexpress", "4px",
    /// "deutsche-post", and `post-xx` for other UPU S10 posts.
    pub id: String,
    /// Display name, e.g. "UPS" or "La Poste (FR)".
    pub name: String,
    /// Tracking page template containing `%s` for the number.
    pub tracking_url: Option<String>,
    /// Brand-ish hex colour for a neutral badge, e.g. "#351C15" for UPS.
    pub color: String,
}

/// Every named carrier, sorted by name (`post-xx` posts are not listed; look
/// them up with [`carrier`]).
pub fn carriers() -> Vec<Carrier> {
    let mut v: Vec<Carrier> = carriers_tab::NAMED
        .iter()
        .map(carriers_tab::to_carrier)
        .collect();
    v.sort_by_key(|c| c.name.to_lowercase());
    v
}

/// Look a carrier up by id, including `post-xx` ids of S10 posts.
pub fn carrier(id: &str) -> Option<Carrier> {
    carriers_tab::lookup(&id.trim().to_ascii_lowercase())
}

/// A tracking number format, for listing (`parceltrail carriers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Format {
    /// Carrier id; `post-xx` for the generic UPU S10 format, whose carrier
    /// depends on the country suffix.
    pub carrier: String,
    /// Format name, e.g. "UPS" or "FedEx Express (12)".
    pub name: String,
    /// What it looks like and how it is checked.
    pub description: String,
    /// A valid example, normalised.
    pub example: Option<String>,
    /// Whether the format carries a check digit we verify.
    pub has_check_digit: bool,
}

/// Every number format we recognise.
pub fn formats() -> Vec<Format> {
    registry::REGISTRY
        .formats
        .iter()
        .map(|f| Format {
            carrier: match &f.carrier {
                registry::CarrierSel::Fixed(id) => id.clone(),
                registry::CarrierSel::ByCountry => "post-xx".to_owned(),
            },
            name: f.name.clone(),
            description: f.description.clone(),
            example: f.example.clone(),
            has_check_digit: f.checksum.is_some(),
        })
        .collect()
}

/// Upper-case and drop whitespace, `-` and `.`.
pub fn normalize(raw: &str) -> String {
    if raw.is_ascii() {
        // Fast path for the usual case.
        return raw
            .bytes()
            .filter(|&b| !char::from(b).is_whitespace() && b != b'-' && b != b'.')
            .map(|b| char::from(b.to_ascii_uppercase()))
            .collect();
    }
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '.')
        .flat_map(char::to_uppercase)
        // Upper-casing can produce characters that upper-case again
        // differently or are separators; filter again so the result is a
        // fixed point.
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '.')
        .collect()
}

/// One carrier a number may belong to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Carrier id (see [`Carrier::id`]).
    pub carrier: String,
    /// Carrier display name.
    pub carrier_name: String,
    /// Name of the matching format.
    pub format: String,
    /// 0..=1; see "Confidence" in the crate docs.
    pub confidence: f32,
    /// Service decoded from the number, when the format has a lookup.
    pub service: Option<String>,
    /// Destination country (ISO alpha-2) where the number encodes it (DPD).
    pub destination_country: Option<String>,
    /// Tracking page for this number.
    pub tracking_url: Option<String>,
}

/// The result of recognising one number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// The number, normalised.
    pub number: String,
    /// Best candidate's carrier id; `None` when invalid or unknown.
    pub carrier: Option<String>,
    /// Valid matches, ranked best first.
    pub candidates: Vec<Candidate>,
    /// Whether at least one carrier format accepts the number.
    pub valid: bool,
    /// Why an invalid number was rejected.
    pub reason: Option<String>,
    /// Byte range in the input where the number (or its link) was found.
    #[serde(skip)]
    pub span: Range<usize>,
    /// Found inside a carrier tracking URL.
    pub from_link: bool,
}

const MAX_SHOWN: usize = 40;

/// Shorten untrusted text for messages.
fn shown(s: &str) -> String {
    if s.chars().count() <= MAX_SHOWN {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX_SHOWN).collect();
        t.push('…');
        t
    }
}

fn unrecognised(number: String, raw: &str, span: Range<usize>, from_link: bool) -> Detection {
    let reason = if raw.is_empty() {
        "not a tracking number we recognise: the input is empty".to_owned()
    } else {
        format!("not a tracking number we recognise: {}", shown(raw))
    };
    Detection {
        number,
        carrier: None,
        candidates: Vec::new(),
        valid: false,
        reason: Some(reason),
        span,
        from_link,
    }
}

/// Build a detection from candidates (or an invalid one with a reason).
fn finish(
    number: String,
    raw: &str,
    hits: &[engine::Hit],
    candidates: Vec<Candidate>,
    span: Range<usize>,
    from_link: bool,
) -> Detection {
    if candidates.is_empty() {
        let reason = engine::reason(hits, &number);
        let mut d = unrecognised(shown(&number), raw, span, from_link);
        if reason.is_some() {
            d.reason = reason;
        }
        return d;
    }
    Detection {
        carrier: candidates.first().map(|c| c.carrier.clone()),
        number,
        candidates,
        valid: true,
        reason: None,
        span,
        from_link,
    }
}

/// A number is plausible for trusting a link when it is a reasonable
/// alphanumeric reference.
fn plausible(number: &str) -> bool {
    (6..=40).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Detection for one number taken from a tracking link; `only` restricts to
/// one carrier ([`detect_as`]).
fn link_detection(
    link: &links::LinkNumbers,
    raw: &str,
    span: Range<usize>,
    only: Option<&str>,
) -> Detection {
    let number = normalize(raw);
    let hits: Vec<engine::Hit> = engine::analyze(&number)
        .into_iter()
        .filter(|h| only.is_none() || h.carrier.as_deref() == only)
        .collect();
    let named: Vec<&str> = link
        .carriers
        .iter()
        .copied()
        .filter(|c| only.is_none_or(|o| o == *c))
        .collect();
    // The link names its carrier: that carrier's formats without a check digit
    // count even when another format's check digit fails.
    let mut cands = engine::candidates_vouched(&hits, &number, |id| named.contains(&id));
    if !named.is_empty() && plausible(&number) {
        let mut any = false;
        for c in &mut cands {
            if let Some(pos) = named.iter().position(|n| *n == c.carrier) {
                c.confidence = c.confidence.max(0.99 - 0.01 * pos as f32);
                any = true;
            }
        }
        if !any {
            let id = named[0];
            cands.push(Candidate {
                carrier: id.to_owned(),
                carrier_name: carriers_tab::carrier_name(id),
                format: "tracking link".to_owned(),
                confidence: 0.9,
                service: None,
                destination_country: None,
                tracking_url: carriers_tab::carrier_url(id).map(|t| t.replace("%s", &number)),
            });
        }
        cands = engine::rank(cands);
    }
    finish(number, raw, &hits, cands, span, true)
}

/// The trimmed input and its byte range in `input`.
fn trimmed(input: &str) -> (&str, Range<usize>) {
    let start = input.len() - input.trim_start().len();
    let t = input.trim();
    (t, start..start + t.len())
}

/// Recognise ONE number or ONE tracking URL. Never panics; an unrecognised
/// string gives `valid == false` with a reason.
///
/// If the whole input is not a number but contains one (e.g. "tracking:
/// 1Z…", or a link to a shop's own tracking page), the first valid number
/// found in it is returned instead (`from_link` stays false: only carrier
/// links count as links).
pub fn detect(input: &str) -> Detection {
    let (t, span) = trimmed(input);
    if let Some(link) = links::parse_link(t) {
        return link_detection(&link, &link.numbers[0], span, None);
    }
    let number = normalize(t);
    let hits = engine::analyze(&number);
    let cands = engine::candidates(&hits, &number);
    let d = finish(number, t, &hits, cands, span, false);
    let near_miss = d
        .reason
        .as_deref()
        .is_some_and(|r| r.starts_with("looks like"));
    if d.valid || near_miss {
        return d;
    }
    // A link to a site we do not know (a shop's tracking page): the first
    // part of it that is a valid number.
    for part in links::url_parts(t) {
        let number = normalize(&part);
        let hits = engine::analyze(&number);
        let cands = engine::candidates(&hits, &number);
        if !cands.is_empty() {
            return finish(number, &part, &hits, cands, d.span, false);
        }
    }
    // Text around a number ("tracking: 1Z…"): read like any other text. The
    // first valid number, or else the first number reported with the reason it
    // fails (a typo is named, not reported as the whole line).
    let found = scan(input);
    let first_valid = found.iter().position(|f| f.valid);
    match first_valid.or_else(|| found.iter().position(|f| f.reason.is_some())) {
        Some(i) => found.into_iter().nth(i).unwrap_or(d),
        None => d,
    }
}

/// Validate ONE number or tracking URL against one carrier only (the user
/// forced the carrier). Candidates are limited to that carrier.
pub fn detect_as(input: &str, carrier_id: &str) -> Detection {
    let (t, span) = trimmed(input);
    let id = carrier_id.trim().to_ascii_lowercase();
    let Some(c) = carriers_tab::lookup(&id) else {
        let mut d = unrecognised(shown(&normalize(t)), t, span, false);
        d.reason = Some(format!("unknown carrier: {}", shown(carrier_id)));
        return d;
    };
    if let Some(link) = links::parse_link(t) {
        return link_detection(&link, &link.numbers[0], span, Some(&id));
    }
    let number = normalize(t);
    let hits: Vec<engine::Hit> = engine::analyze(&number)
        .into_iter()
        .filter(|h| h.carrier.as_deref() == Some(id.as_str()))
        .collect();
    let cands = engine::candidates(&hits, &number);
    let mut d = finish(number, t, &hits, cands, span, false);
    if !d.valid && hits.is_empty() && !t.is_empty() {
        d.reason = Some(format!(
            "not a valid {} tracking number: no {} format matches {} ({} characters)",
            c.name,
            c.name,
            shown(&d.number),
            d.number.chars().count()
        ));
    }
    d
}

/// Every tracking number in free text, in order of appearance, deduplicated
/// by number, including numbers inside carrier tracking links. See "Free
/// text" in the crate docs for what is (not) reported.
pub fn scan(text: &str) -> Vec<Detection> {
    scanner::scan(text)
}
