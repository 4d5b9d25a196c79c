//! Property tests.
//!
//! The mutation property re-implements every checksum independently of the
//! crate (straight from the spec text in CHECKSUM_ALGORITHMS.md) and reads
//! the spec JSON itself, so a bug in the crate's checksum or group handling
//! cannot hide behind the same bug in the test.

mod common;

use common::{ALL_SPECS, checked_specs, independent_check, spec_carrier};
use parceltrail_detect::{detect, normalize, scan};
use proptest::prelude::*;

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

/// Every (spec, valid number) pair with a checksum.
fn samples() -> Vec<(usize, String)> {
    checked_specs()
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
        let spec = &ALL_SPECS[*si];
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
            if let Some(f) = checked_specs().map(|(_, s)| s).find(|s| s.name == c.format && s.regex.is_match(&mutated)) {
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
