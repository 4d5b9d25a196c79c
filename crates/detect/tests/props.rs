//! Property tests.
//!
//! The mutation property re-implements every checksum independently of the
//! crate (straight from the spec text in CHECKSUM_ALGORITHMS.md) and reads
//! the spec JSON itself, so a bug in the crate's checksum or group handling
//! cannot hide behind the same bug in the test.

use std::sync::LazyLock;

use parceltrail_detect::{detect, normalize, scan};
use proptest::prelude::*;
use regex::Regex;
use serde_json::Value;

const FILES: &[&str] = &[
    include_str!("../data/tracking_number_data/ups.json"),
    include_str!("../data/tracking_number_data/fedex.json"),
    include_str!("../data/tracking_number_data/usps.json"),
    include_str!("../data/tracking_number_data/dhl.json"),
    include_str!("../data/tracking_number_data/s10.json"),
    include_str!("../data/tracking_number_data/ontrac.json"),
    include_str!("../data/tracking_number_data/amazon.json"),
];
const OWN: &str = include_str!("../data/parceltrail_couriers.json");

/// Words after which scan ignores all-digit numbers (see the crate docs).
const NEGATIVE: &[&str] = &[
    "order",
    "invoice",
    "phone",
    "tel",
    "call",
    "fax",
    "mobile",
    "account",
    "customer",
    "receipt",
    "reference",
    "ref",
    "sku",
    "vat",
];

/// A spec with a checksum, as the test understands it.
struct Spec {
    name: String,
    /// Fixed carrier id, or None for S10 (carrier from the country suffix).
    carrier: Option<String>,
    regex: Regex,
    checksum: Value,
    prepend: Option<(Regex, String)>,
    valid: Vec<String>,
}

fn carrier_of(code: &str) -> Option<String> {
    match code {
        "s10" => None,
        c => Some(c.replace('_', "-")),
    }
}

static SPECS: LazyLock<Vec<Spec>> = LazyLock::new(|| {
    let mut couriers: Vec<Value> = FILES
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    let own: Vec<Value> = serde_json::from_str(OWN).unwrap();
    couriers.extend(own);
    let mut out = Vec::new();
    for c in &couriers {
        let code = c["courier_code"].as_str().unwrap();
        for t in c["tracking_numbers"].as_array().unwrap() {
            let checksum = t["validation"]["checksum"].clone();
            if checksum.is_null() {
                continue;
            }
            let re = match &t["regex"] {
                Value::String(s) => s.clone(),
                Value::Array(a) => a.iter().map(|p| p.as_str().unwrap()).collect(),
                _ => unreachable!(),
            };
            let prepend = t["validation"]["serial_number_format"]["prepend_if"]
                .as_object()
                .map(|p| {
                    // "^(?!92).+" → "we prepend unless it starts with 92"
                    let r = p["matches_regex"].as_str().unwrap();
                    let inner = &r[4..r.find(").").unwrap()];
                    (
                        Regex::new(&format!("^(?:{inner})")).unwrap(),
                        p["content"].as_str().unwrap().to_owned(),
                    )
                });
            out.push(Spec {
                name: t["name"].as_str().unwrap().to_owned(),
                carrier: carrier_of(code),
                // Whitespace-tolerant as in the data; input is normalised.
                regex: Regex::new(&format!("^(?:{re})$")).unwrap(),
                checksum,
                prepend,
                valid: t["test_numbers"]["valid"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| normalize(v.as_str().unwrap()))
                    .collect(),
            });
        }
    }
    out
});

fn val(c: char) -> u32 {
    c.to_digit(10).unwrap_or_else(|| (c as u32 - 3) % 10)
}

/// Independent check-digit computation for `number` under `spec`:
/// Some(true/false) when the shape matches, None otherwise.
fn independent_check(spec: &Spec, number: &str) -> Option<bool> {
    let caps = spec.regex.captures(number)?;
    let mut serial: String = caps["SerialNumber"]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let check: String = caps["CheckDigit"]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    match &spec.prepend {
        Some((unless, content)) if !unless.is_match(&serial) => {
            serial = format!("{content}{serial}");
        }
        _ => {}
    }
    let digits: Vec<u32> = serial.chars().map(val).collect();
    let cs = &spec.checksum;
    let expected: String = match cs["name"].as_str().unwrap() {
        "mod10" => {
            let e = cs["evens_multiplier"].as_u64().unwrap() as u32;
            let o = cs["odds_multiplier"].as_u64().unwrap() as u32;
            let total: u32 = digits
                .iter()
                .enumerate()
                .map(|(i, d)| d * if i % 2 == 0 { e } else { o })
                .sum();
            ((10 - total % 10) % 10).to_string()
        }
        "mod7" => (serial.parse::<u128>().unwrap() % 7).to_string(),
        "s10" => {
            let w = [8, 6, 4, 2, 3, 5, 9, 7];
            let x: u32 = digits.iter().zip(w).map(|(d, w)| d * w).sum();
            match x % 11 {
                1 => 0,
                0 => 5,
                r => 11 - r,
            }
            .to_string()
        }
        "sum_product_with_weightings_and_modulo" => {
            let w: Vec<u32> = cs["weightings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let x: u32 = digits.iter().zip(&w).map(|(d, w)| d * w).sum();
            (x % cs["modulo1"].as_u64().unwrap() as u32 % cs["modulo2"].as_u64().unwrap() as u32)
                .to_string()
        }
        "mod_37_36" => {
            let a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
            let mut p = 36;
            for c in serial.chars() {
                let mut s = (p + a.find(c).unwrap()) % 36;
                if s == 0 {
                    s = 36;
                }
                p = (s * 2) % 37;
            }
            a.chars().nth((37 - p) % 36).unwrap().to_string()
        }
        other => panic!("test does not know {other}"),
    };
    Some(expected == check)
}

/// Every (spec, valid number) pair with a checksum.
fn samples() -> Vec<(usize, String)> {
    SPECS
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.valid.iter().map(move |v| (i, v.clone())))
        .collect()
}

/// Another character of the same class (digit or letter), never `c` itself.
fn same_class_replacement(c: char, pick: u8) -> char {
    if c.is_ascii_digit() {
        (b'0' + (c as u8 - b'0' + 1 + pick % 9) % 10) as char
    } else {
        (b'A' + (c as u8 - b'A' + 1 + pick % 25) % 26) as char
    }
}

/// Carrier id the spec assigns to `number` (S10: by country suffix).
fn spec_carrier(spec: &Spec, number: &str) -> String {
    spec.carrier.clone().unwrap_or_else(|| {
        let cc = &number[number.len() - 2..];
        match cc {
            "US" => "usps".into(),
            "GB" => "royal-mail".into(),
            "CA" => "canada-post".into(),
            "AU" => "australia-post".into(),
            "NL" => "postnl".into(),
            "CN" => "china-post".into(),
            "DE" => "deutsche-post".into(),
            other => format!("post-{}", other.to_ascii_lowercase()),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A valid number with one character substituted (same class) is
    /// rejected, or attributed to another carrier, or accepted by the same
    /// carrier only when an independent recomputation of the check digit
    /// agrees. The last case exists because some substitutions are
    /// genuinely undetectable by the spec's algorithm:
    /// * mod 7 (DHL): a digit changed by ±7 (0↔7, 1↔8, 2↔9) keeps the
    ///   remainder;
    /// * mod 10 with an even multiplier (UPS/OnTrac weight 2): d and d±5 in
    ///   a weight-2 position give the same product mod 10;
    /// * UPS letters map to digits via (ascii-3)%10, so A, K and U weigh
    ///   the same;
    /// * FedEx's %11%10 maps remainders 0 and 10 to the same digit, and
    ///   S10 maps remainders 0 and 6 to the same digit 5;
    /// * changes inside parts the check does not cover (routing prefixes,
    ///   the `420`+ZIP of USPS/FedEx IMpb, the country suffix of S10).
    #[test]
    fn one_substitution_never_passes_with_a_wrong_check_digit(
        which in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        pick in any::<u8>(),
    ) {
        let all = samples();
        let (si, original) = &all[which.index(all.len())];
        let spec = &SPECS[*si];
        let i = pos.index(original.len());
        let mut chars: Vec<char> = original.chars().collect();
        let new = same_class_replacement(chars[i], pick);
        assert_ne!(new, chars[i]);
        chars[i] = new;
        let mutated: String = chars.into_iter().collect();
        let d = detect(&mutated);
        let carrier = spec_carrier(spec, original);
        for c in d.candidates.iter().filter(|c| c.carrier == carrier) {
            // Accepted as the same carrier: by which format? It must agree
            // with an independent computation for that format, or be a
            // format without a check digit (a different, weaker reading).
            if let Some(f) = SPECS.iter().find(|s| s.name == c.format && s.regex.is_match(&mutated)) {
                prop_assert_eq!(
                    independent_check(f, &mutated),
                    Some(true),
                    "{} accepted {} (from {}) as {} with a wrong check digit",
                    spec.name, mutated, original, c.format
                );
            }
        }
    }

    /// detect and scan never panic, whatever the input.
    #[test]
    fn never_panics_on_arbitrary_strings(s in ".{0,300}") {
        let _ = detect(&s);
        let _ = scan(&s);
        let _ = parceltrail_detect::detect_as(&s, "ups");
    }

    /// … including strings made of tracking-number-like material.
    #[test]
    fn never_panics_on_trackingish_strings(
        s in "([0-9A-Z]{1,20}|[ \\-.:/?#=&,]|https://|www\\.|ups\\.com/track\\?tracknum=|t\\.17track\\.net/en#nums=|é|日本|\u{1F4E6}){0,40}"
    ) {
        let d = detect(&s);
        prop_assert!(d.span.end <= s.len());
        for f in scan(&s) {
            prop_assert!(f.span.end <= s.len() && s.is_char_boundary(f.span.start));
            prop_assert!(f.valid || f.reason.is_some());
        }
    }

    /// normalize is idempotent.
    #[test]
    fn normalize_is_idempotent(s in "\\PC{0,64}") {
        let once = normalize(&s);
        prop_assert_eq!(normalize(&once), once.clone());
    }

    /// A valid number embedded anywhere in random prose is found. The prose
    /// avoids words such as "order", "vat" or "tel", which deliberately stop
    /// an all-digit number right after them from being reported.
    #[test]
    fn scan_finds_embedded_numbers(
        words in prop::collection::vec(
            "[a-z]{1,10}[,.;:!?]?".prop_filter("no non-tracking keyword", |w| {
                !NEGATIVE.iter().any(|n| w.starts_with(n))
            }),
            0..60,
        ),
        at in any::<prop::sample::Index>(),
        which in 0usize..8,
    ) {
        const NUMBERS: [&str; 8] = [
            "1Z5R89390357567127",
            "1Z879E930346834440",
            "RB876543216GB",
            "RR123456785FR",
            "C11031500001879",
            "9400111201080805483016",
            "012345670000012345678101276S",
            "TBA502887274000",
        ];
        let n = NUMBERS[which];
        let mut words = words;
        let at = if words.is_empty() { 0 } else { at.index(words.len() + 1) };
        words.insert(at, n.to_owned());
        let text = words.join(" ");
        let found = scan(&text);
        prop_assert!(
            found.iter().any(|d| d.valid && d.number == n),
            "{} not found in {:?}: {:?}", n, text, found
        );
    }
}
