//! Loads the embedded courier specs (vendored `tracking_number_data` plus our
//! own `parceltrail_couriers.json`, same schema) into compiled formats.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use serde::Deserialize;

use crate::checksum::Checksum;

/// Vendored spec files, in the order their formats rank on ties.
pub(crate) const VENDORED: &[(&str, &str)] = &[
    (
        "ups.json",
        include_str!("../data/tracking_number_data/ups.json"),
    ),
    (
        "fedex.json",
        include_str!("../data/tracking_number_data/fedex.json"),
    ),
    (
        "usps.json",
        include_str!("../data/tracking_number_data/usps.json"),
    ),
    (
        "dhl.json",
        include_str!("../data/tracking_number_data/dhl.json"),
    ),
    (
        "s10.json",
        include_str!("../data/tracking_number_data/s10.json"),
    ),
    (
        "ontrac.json",
        include_str!("../data/tracking_number_data/ontrac.json"),
    ),
    (
        "amazon.json",
        include_str!("../data/tracking_number_data/amazon.json"),
    ),
];

/// Our additions: a JSON array of courier objects in the vendored schema.
pub(crate) const OWN: &str = include_str!("../data/parceltrail_couriers.json");

// ---------------------------------------------------------------------------
// JSON schema (only the fields we use; unknown fields are ignored)

#[derive(Deserialize)]
pub(crate) struct CourierJson {
    pub(crate) courier_code: String,
    pub(crate) tracking_numbers: Vec<SpecJson>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RegexJson {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
pub(crate) struct SpecJson {
    name: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    regex: RegexJson,
    #[serde(default)]
    validation: ValidationJson,
    #[serde(default)]
    tracking_url: Option<String>,
    #[serde(default)]
    additional: Vec<AdditionalJson>,
    #[serde(default)]
    pub(crate) test_numbers: TestNumbersJson,
}

#[derive(Deserialize, Default)]
struct ValidationJson {
    #[serde(default)]
    checksum: Option<ChecksumJson>,
    #[serde(default)]
    serial_number_format: Option<SerialFormatJson>,
    #[serde(default)]
    additional: Option<ExistsJson>,
}

#[derive(Deserialize)]
struct ChecksumJson {
    name: String,
    #[serde(default)]
    evens_multiplier: Option<u32>,
    #[serde(default)]
    odds_multiplier: Option<u32>,
    #[serde(default)]
    weightings: Option<Vec<u32>>,
    #[serde(default)]
    modulo1: Option<u32>,
    #[serde(default)]
    modulo2: Option<u32>,
}

#[derive(Deserialize)]
struct SerialFormatJson {
    #[serde(default)]
    prepend_if: Option<PrependIfJson>,
}

#[derive(Deserialize)]
struct PrependIfJson {
    matches_regex: String,
    content: String,
}

#[derive(Deserialize)]
struct ExistsJson {
    #[serde(default)]
    exists: Vec<String>,
}

#[derive(Deserialize)]
struct AdditionalJson {
    name: String,
    regex_group_name: String,
    lookup: Vec<LookupJson>,
}

#[derive(Deserialize)]
struct LookupJson {
    #[serde(default)]
    matches: Option<String>,
    #[serde(default)]
    matches_regex: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    courier: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct TestNumbersJson {
    #[serde(default)]
    pub(crate) valid: Vec<String>,
    #[serde(default)]
    pub(crate) invalid: Vec<String>,
}

// ---------------------------------------------------------------------------
// Compiled form

/// Which carrier a format belongs to.
#[derive(Debug, Clone)]
pub(crate) enum CarrierSel {
    Fixed(String),
    /// UPU S10: the carrier is the post of the 2-letter country suffix.
    ByCountry,
}

/// `prepend_if`: prefix the serial with `content` when it does NOT start
/// with `not_prefix` (the data uses `^(?!X).+` look-aheads, which the regex
/// crate does not support, so we compile the inner part instead).
#[derive(Debug)]
pub(crate) struct Prepend {
    pub(crate) unless: Regex,
    pub(crate) content: String,
}

#[derive(Debug)]
pub(crate) enum Matcher {
    Exact(String),
    Pattern(Regex),
}

#[derive(Debug)]
pub(crate) struct LookupEntry {
    pub(crate) matcher: Matcher,
    pub(crate) name: Option<String>,
    pub(crate) courier: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Additional {
    pub(crate) name: String,
    pub(crate) group: String,
    /// Capture index of `group` in the format's regex.
    pub(crate) group_idx: Option<usize>,
    pub(crate) lookup: Vec<LookupEntry>,
}

impl Additional {
    pub(crate) fn find(&self, value: &str) -> Option<&LookupEntry> {
        self.lookup.iter().find(|e| match &e.matcher {
            Matcher::Exact(m) => m == value,
            Matcher::Pattern(r) => r.is_match(value),
        })
    }
}

/// One number format, ready to match normalised input.
#[derive(Debug)]
pub(crate) struct FormatDef {
    pub(crate) carrier: CarrierSel,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) example: Option<String>,
    pub(crate) regex: Regex,
    /// Capture indexes of the named groups we read (name lookups are
    /// measurably slower on the hot path).
    pub(crate) serial_idx: Option<usize>,
    pub(crate) check_idx: Option<usize>,
    pub(crate) country_idx: Option<usize>,
    pub(crate) checksum: Option<Checksum>,
    pub(crate) prepend: Option<Prepend>,
    pub(crate) additional: Vec<Additional>,
    /// `validation.additional.exists`: lookups that must hit.
    pub(crate) required: Vec<String>,
    pub(crate) tracking_url: Option<String>,
    /// Leading literal characters of the pattern (e.g. "1Z"), for messages
    /// and the "distinctive prefix" rule.
    pub(crate) prefix: String,
    // Read by the data-driven tests only.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) test_valid: Vec<String>,
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) test_invalid: Vec<String>,
}

impl FormatDef {
    /// The carrier id this format yields for a matched number.
    pub(crate) fn carrier_for(&self, country: Option<&str>) -> Option<String> {
        match &self.carrier {
            CarrierSel::Fixed(id) => Some(id.clone()),
            CarrierSel::ByCountry => country.map(crate::carriers_tab::post_id_for_country),
        }
    }
}

pub(crate) struct Registry {
    pub(crate) formats: Vec<FormatDef>,
    /// All format regexes, for a one-pass "which shapes match" prefilter.
    pub(crate) set: RegexSet,
    /// S10 country code → national post name, from the vendored lookup.
    pub(crate) posts: HashMap<String, String>,
}

pub(crate) static REGISTRY: LazyLock<Registry> = LazyLock::new(build);

/// Map a spec's courier code (and spec id) to our carrier id.
fn carrier_sel(courier_code: &str, spec_id: Option<&str>) -> CarrierSel {
    match (courier_code, spec_id) {
        ("s10", _) => CarrierSel::ByCountry,
        ("dhl", Some("dhl_ecommerce")) => CarrierSel::Fixed("dhl-ecommerce".into()),
        (code, _) => CarrierSel::Fixed(code.replace('_', "-")),
    }
}

/// The data's regexes allow `\s*` between characters; we only ever match
/// normalised input (no whitespace), so drop them for simpler, faster DFAs.
///
/// Unnamed groups become non-capturing: only named groups are read, and
/// fewer capture slots let the regex crate use its faster one-pass engine.
pub(crate) fn strip_ws(pattern: &str) -> String {
    let p = pattern.replace("\\s*", "");
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len() + 16);
    for (i, c) in p.char_indices() {
        out.push(c);
        let escaped = i > 0 && b[i - 1] == b'\\';
        if c == '(' && !escaped && b.get(i + 1) != Some(&b'?') {
            out.push_str("?:");
        }
    }
    out
}

/// Index of the `)` closing the group opened at `open`.
fn find_close(b: &[u8], open: usize) -> Option<usize> {
    let (mut depth, mut i, mut class) = (0usize, open, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' if !class => class = true,
            b']' if class => class = false,
            b'(' if !class => depth += 1,
            b')' if !class => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_optional_quantifier(c: Option<&u8>) -> bool {
    matches!(c, Some(b'?' | b'*' | b'{' | b'+'))
}

/// The literal `[0-9A-Z]` characters every match of a stripped pattern must
/// start with (e.g. "1Z", "96", "TBA"); empty when it starts with a class,
/// an optional group or an alternation.
pub(crate) fn literal_prefix(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = String::new();
    // (byte index of '(', prefix length when it opened)
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'(' {
            open.push((i, out.len()));
            let rest = &b[i..];
            i += if rest.starts_with(b"(?<") {
                rest.iter()
                    .position(|&x| x == b'>')
                    .map_or(rest.len(), |p| p + 1)
            } else if rest.starts_with(b"(?:") {
                3
            } else {
                1
            };
            continue;
        }
        if c == b')' {
            let (_, len) = open.pop().unwrap_or((0, 0));
            if is_optional_quantifier(b.get(i + 1)) {
                out.truncate(len);
                break;
            }
            i += 1;
            continue;
        }
        if (c.is_ascii_uppercase() || c.is_ascii_digit()) && !is_optional_quantifier(b.get(i + 1)) {
            out.push(c as char);
            i += 1;
            continue;
        }
        if c == b'|' {
            // Alternatives: only what precedes the outermost open group counts.
            out.truncate(open.first().map_or(0, |o| o.1));
        }
        break;
    }
    // Groups still open: if any of them turns out optional (or is an
    // alternation), its literals are not guaranteed.
    for &(start, len) in &open {
        match find_close(b, start) {
            Some(end)
                if !is_optional_quantifier(b.get(end + 1)) && !b[start..end].contains(&b'|') => {}
            _ => {
                out.truncate(len);
                break;
            }
        }
    }
    out
}

fn compile_prepend(p: &PrependIfJson) -> Prepend {
    // Expected shape: ^(?!INNER).+  or  ^(?!INNER).+$
    let inner = p
        .matches_regex
        .strip_prefix("^(?!")
        .and_then(|r| r.split_once(")."))
        .map(|(inner, _)| inner)
        .unwrap_or_else(|| panic!("unsupported prepend_if regex {:?}", p.matches_regex));
    Prepend {
        unless: Regex::new(&format!("^(?:{inner})")).expect("prepend regex"),
        content: p.content.clone(),
    }
}

fn compile_checksum(c: &ChecksumJson) -> Option<Checksum> {
    Some(match c.name.as_str() {
        "mod10" => Checksum::Mod10 {
            evens: c.evens_multiplier.unwrap_or(1),
            odds: c.odds_multiplier.unwrap_or(1),
        },
        "mod7" => Checksum::Mod7,
        "s10" => Checksum::S10,
        "sum_product_with_weightings_and_modulo" => Checksum::SumProduct {
            weights: c.weightings.clone().expect("weightings"),
            modulo1: c.modulo1.expect("modulo1"),
            modulo2: c.modulo2.expect("modulo2"),
        },
        "luhn" => Checksum::Luhn,
        "mod_37_36" => Checksum::Mod37_36,
        // "dummy" accepts anything: treat as no check digit.
        "dummy" => return None,
        other => panic!("unknown checksum algorithm {other:?}"),
    })
}

fn compile_spec(courier_code: &str, s: &SpecJson) -> FormatDef {
    let raw = match &s.regex {
        RegexJson::One(r) => r.clone(),
        RegexJson::Many(parts) => parts.concat(),
    };
    let stripped = strip_ws(&raw);
    let regex = Regex::new(&format!("^(?:{stripped})$"))
        .unwrap_or_else(|e| panic!("bad regex in spec {:?}: {e}", s.name));
    let checksum = s.validation.checksum.as_ref().and_then(compile_checksum);
    let additional = s
        .additional
        .iter()
        .map(|a| Additional {
            name: a.name.clone(),
            group: a.regex_group_name.clone(),
            group_idx: group_index(&regex, &a.regex_group_name),
            lookup: a
                .lookup
                .iter()
                .map(|l| LookupEntry {
                    matcher: match (&l.matches, &l.matches_regex) {
                        (Some(m), _) => Matcher::Exact(m.clone()),
                        // Like the reference implementation, `matches_regex`
                        // is a search, not a full match (FedEx's "." on "29").
                        (None, Some(r)) => Matcher::Pattern(Regex::new(r).expect("lookup")),
                        (None, None) => panic!("lookup without matcher in {:?}", s.name),
                    },
                    name: l.name.clone(),
                    courier: l.courier.clone(),
                })
                .collect(),
        })
        .collect();
    let description = match (&s.description, &checksum) {
        (Some(d), _) => d.clone(),
        (None, Some(c)) => format!("{}; {}.", s.name, c.describe()),
        (None, None) => format!(
            "{}; no check digit, so matches are reported with low confidence.",
            s.name
        ),
    };
    let example = s.test_numbers.valid.first().map(|n| crate::normalize(n));
    FormatDef {
        carrier: carrier_sel(courier_code, s.id.as_deref()),
        name: s.name.clone(),
        description,
        example,
        prefix: literal_prefix(&stripped),
        serial_idx: group_index(&regex, "SerialNumber"),
        check_idx: group_index(&regex, "CheckDigit"),
        country_idx: group_index(&regex, "CountryCode"),
        regex,
        checksum,
        prepend: s
            .validation
            .serial_number_format
            .as_ref()
            .and_then(|f| f.prepend_if.as_ref())
            .map(compile_prepend),
        additional,
        required: s
            .validation
            .additional
            .as_ref()
            .map(|a| a.exists.clone())
            .unwrap_or_default(),
        tracking_url: s.tracking_url.clone(),
        test_valid: s.test_numbers.valid.clone(),
        test_invalid: s.test_numbers.invalid.clone(),
    }
}

fn group_index(re: &Regex, name: &str) -> Option<usize> {
    re.capture_names().position(|n| n == Some(name))
}

/// Parse every embedded courier file (vendored first, then ours).
pub(crate) fn courier_files() -> Vec<(String, CourierJson)> {
    let mut out = Vec::new();
    for (name, text) in VENDORED {
        let c: CourierJson =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{name} is not valid: {e}"));
        out.push(((*name).to_owned(), c));
    }
    let own: Vec<CourierJson> =
        serde_json::from_str(OWN).unwrap_or_else(|e| panic!("parceltrail_couriers.json: {e}"));
    for c in own {
        out.push(("parceltrail_couriers.json".to_owned(), c));
    }
    out
}

fn build() -> Registry {
    let mut formats = Vec::new();
    let mut posts = HashMap::new();
    for (_, courier) in courier_files() {
        for spec in &courier.tracking_numbers {
            let f = compile_spec(&courier.courier_code, spec);
            if matches!(f.carrier, CarrierSel::ByCountry) {
                for a in f.additional.iter().filter(|a| a.group == "CountryCode") {
                    for e in &a.lookup {
                        if let (Matcher::Exact(cc), Some(name)) = (&e.matcher, &e.courier) {
                            posts.insert(cc.clone(), name.clone());
                        }
                    }
                }
            }
            formats.push(f);
        }
    }
    let set = RegexSet::new(formats.iter().map(|f| f.regex.as_str())).expect("regex set");
    Registry {
        formats,
        set,
        posts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes() {
        let p = strip_ws("\\s*1\\s*Z\\s*(?<SerialNumber>(?:[A-Z0-9]\\s*){6,6})");
        assert_eq!(literal_prefix(&p), "1Z");
        assert_eq!(literal_prefix("(?<AI>96)(?<SCNC>([0-9]){2})"), "96");
        assert_eq!(
            literal_prefix("(?:(?<R>420)(?<Z>([0-9]){5}))?(?<S>[0-9]+)"),
            ""
        );
        assert_eq!(
            literal_prefix("(?:(?<R>420)(?<Z>[0-9]{5})(?<S>[0-9]+))?"),
            ""
        );
        assert_eq!(literal_prefix("((GM)|(LX))(?<S>[0-9]{10})"), "");
        assert_eq!(literal_prefix("(J[A-Z]{2,3})[0-9]+"), "J");
        assert_eq!(literal_prefix("TBA(?<S>([0-9]){12,12})"), "TBA");
        assert_eq!(strip_ws("\\s*(?<A>([0-9]\\s*){2})"), "(?<A>(?:[0-9]){2})");
        assert_eq!(literal_prefix("4PX(?<S>[0-9]{10})(CN)?"), "4PX");
    }

    #[test]
    fn registry_loads_everything() {
        let r = &*REGISTRY;
        assert!(r.formats.len() > 30);
        assert_eq!(
            r.posts.get("GB").map(String::as_str),
            Some("Royal Mail Group plc")
        );
    }
}
