//! The courier specs as the tests read them, independently of the crate: the spec JSON
//! itself, and every checksum re-implemented straight from the spec text (see
//! CHECKSUM_ALGORITHMS.md of `tracking_number_data`), so a bug in the crate's checksum or
//! group handling cannot hide behind the same bug in a test.
#![allow(dead_code)]

use std::sync::LazyLock;

use parceltrail_detect::normalize;
use regex::Regex;
use serde_json::Value;

const FILES: &[&str] = &[
    include_str!("../../data/tracking_number_data/ups.json"),
    include_str!("../../data/tracking_number_data/fedex.json"),
    include_str!("../../data/tracking_number_data/usps.json"),
    include_str!("../../data/tracking_number_data/dhl.json"),
    include_str!("../../data/tracking_number_data/s10.json"),
    include_str!("../../data/tracking_number_data/ontrac.json"),
    include_str!("../../data/tracking_number_data/amazon.json"),
];
const OWN: &str = include_str!("../../data/parceltrail_couriers.json");

/// One format of the data, as the tests understand it.
pub struct Spec {
    pub name: String,
    /// Fixed carrier id, or None for S10 (carrier from the country suffix).
    pub carrier: Option<String>,
    pub regex: Regex,
    /// `validation.checksum`, or None for a format without a check digit (or `dummy`).
    pub checksum: Option<Value>,
    pub prepend: Option<(Regex, String)>,
    /// `test_numbers.valid`, as written in the data.
    pub valid_raw: Vec<String>,
    /// The same, normalised.
    pub valid: Vec<String>,
}

fn carrier_of(code: &str, id: Option<&str>) -> Option<String> {
    match (code, id) {
        ("s10", _) => None,
        ("dhl", Some("dhl_ecommerce")) => Some("dhl-ecommerce".into()),
        (c, _) => Some(c.replace('_', "-")),
    }
}

/// Every format of the data, vendored specs first.
pub static ALL_SPECS: LazyLock<Vec<Spec>> = LazyLock::new(|| {
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
            let checksum = Some(t["validation"]["checksum"].clone())
                .filter(|c| !c.is_null() && c["name"] != "dummy");
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
            let valid_raw: Vec<String> = t["test_numbers"]["valid"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            out.push(Spec {
                name: t["name"].as_str().unwrap().to_owned(),
                carrier: carrier_of(code, t["id"].as_str()),
                // Whitespace-tolerant as in the data; input is normalised.
                regex: Regex::new(&format!("^(?:{re})$")).unwrap(),
                checksum,
                prepend,
                valid: valid_raw.iter().map(|v| normalize(v)).collect(),
                valid_raw,
            });
        }
    }
    out
});

/// The formats with a check digit.
pub fn checked_specs() -> impl Iterator<Item = (usize, &'static Spec)> {
    ALL_SPECS
        .iter()
        .enumerate()
        .filter(|(_, s)| s.checksum.is_some())
}

fn val(c: char) -> u32 {
    c.to_digit(10).unwrap_or_else(|| (c as u32 - 3) % 10)
}

/// Independent check-digit computation for `number` under `spec`:
/// Some(true/false) when the shape matches, None otherwise (or without a checksum).
pub fn independent_check(spec: &Spec, number: &str) -> Option<bool> {
    let cs = spec.checksum.as_ref()?;
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

/// Whether any format with a check digit accepts `number` (a genuinely valid number).
pub fn passes_any_check(number: &str) -> bool {
    checked_specs().any(|(_, s)| independent_check(s, number) == Some(true))
}

/// Carrier id the spec assigns to `number` (S10: by country suffix).
pub fn spec_carrier(spec: &Spec, number: &str) -> String {
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

/// `number` in groups of `size` from the left, as people print them.
pub fn grouped(number: &str, size: usize) -> String {
    let c: Vec<char> = number.chars().collect();
    c.chunks(size)
        .map(|g| g.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The ways a number is written: as one token; in groups of 3, 4 and 5 (a leading run of
/// 2–4 letters and a trailing run of letters kept as groups of their own: "RB 123 456 785
/// GB", "LP 0098 7654 3210 12"); and in the data's own spacing where it is printed spacing
/// (groups of 2 to 6 characters, as on a label: "1Z 999 AA1 01 2345 6784"; the data also
/// holds forms such as "1 Z 8 V 9 2 …" that test whitespace tolerance, not how people write).
pub fn written_forms(raw: &str, number: &str) -> Vec<String> {
    let mut forms = vec![number.to_owned()];
    let parts: Vec<&str> = raw.split(' ').collect();
    if raw.contains(' ') && parts.iter().all(|p| (2..=6).contains(&p.len())) {
        forms.push(raw.to_owned());
    }
    for size in [3, 4, 5] {
        forms.extend(printed(number, size));
    }
    forms.sort();
    forms.dedup();
    forms
}

/// `number` printed in groups of `size`: as is, and with a leading run of 2–4 letters and a
/// trailing run of 2–3 letters as groups of their own; only the latter when it ends in
/// letters ("RB 123 456 785 GB", not "RB1 234 567 85G B").
pub fn printed(number: &str, size: usize) -> Vec<String> {
    let b = number.as_bytes();
    let lead = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let lead = if (2..=4).contains(&lead) { lead } else { 0 };
    let trail = b
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let trail = if lead < b.len() - trail && (2..=3).contains(&trail) {
        trail
    } else {
        0
    };
    let body = &number[lead..number.len() - trail];
    let mut groups = Vec::new();
    if lead > 0 {
        groups.push(number[..lead].to_owned());
    }
    groups.push(grouped(body, size));
    if trail > 0 {
        groups.push(number[number.len() - trail..].to_owned());
    }
    let mut out = vec![groups.join(" ")];
    if trail == 0 {
        out.push(grouped(number, size));
    }
    out.dedup();
    out
}
