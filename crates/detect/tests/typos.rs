//! Mistyped numbers (issue 16, item 1): a group of characters is a candidate whole or not
//! at all, a number that fails a check digit is not taken by a format without one (unless
//! the context says so), and a mistyped number is reported with its reason.
//!
//! `recognition_rates` measures the share of valid numbers found whole with the right
//! carrier and of mistyped ones that yield no valid number; run it with
//! `cargo test -p parceltrail-detect --test typos -- --nocapture recognition_rates`.

mod common;

use common::{
    ALL_SPECS, Spec, checked_specs, passes_any_check, printed, spec_carrier, written_forms,
};
use parceltrail_detect::{Detection, carrier, detect, detect_as, normalize, scan};
use proptest::prelude::*;

fn valid(found: &[Detection]) -> Vec<(&str, Option<&str>)> {
    found
        .iter()
        .filter(|d| d.valid)
        .map(|d| (d.number.as_str(), d.carrier.as_deref()))
        .collect()
}

/// The one invalid detection of `number` in `found`, with its reason.
fn reported_invalid<'a>(found: &'a [Detection], number: &str) -> Option<&'a str> {
    found
        .iter()
        .find(|d| !d.valid && d.number == number)
        .and_then(|d| d.reason.as_deref())
}

// ---------------------------------------------------------------------------
// The examples

#[test]
fn a_mistyped_grouped_number_is_not_carved_into_a_shorter_valid_one() {
    let cases = [
        // 22-digit USPS with one digit wrong: its first twenty digits are a valid USPS 20.
        (
            "9407 9979 4285 3811 3836 18",
            "looks like USPS (USPS 91, 22 digits) but the check digit should be",
        ),
        // Its middle eighteen digits are a valid FedEx SSCC-18.
        (
            "9400 1118 7399 2676 3362 08",
            "looks like USPS (USPS 91, 22 digits) but the check digit should be",
        ),
        // One and zeros: a FedEx number cut from it.
        (
            "9400 1000 0000 0000 0000 00",
            "looks like USPS (USPS 91, 22 digits) but the check digit should be",
        ),
    ];
    for (printed, reason) in cases {
        let number = normalize(printed);
        for text in [
            format!("Your tracking number is {printed}. It should arrive on Tuesday."),
            format!("Shipped today! {printed}"),
            format!("USPS tracking: {printed}, thanks for shopping with us."),
        ] {
            let found = scan(&text);
            assert_eq!(valid(&found), vec![], "{text}: {found:?}");
            let r = reported_invalid(&found, &number)
                .unwrap_or_else(|| panic!("{text}: {number} not reported: {found:?}"));
            assert!(r.starts_with(reason), "{text}: {r}");
            // The number alone, and a one-line paste, say the same.
            let d = detect(&text);
            assert!(!d.valid, "{text}: {d:?}");
            assert_eq!(d.number, number, "{text}");
            assert!(d.reason.as_deref().unwrap().starts_with(reason), "{d:?}");
        }
        let d = detect(printed);
        assert!(!d.valid && d.number == number, "{d:?}");
        assert!(d.reason.unwrap().starts_with(reason));
    }
}

#[test]
fn a_number_failing_a_check_digit_is_not_taken_by_a_format_without_one() {
    // 986578788855 is a valid FedEx Express (12); 6 instead of 5 fails FedEx's check digit.
    // It also fits Canada Post's 12-digit PIN and GLS, which have no check digit.
    let typo = "986578788856";
    let d = detect(typo);
    assert!(!d.valid, "{d:?}");
    assert_eq!(d.carrier, None);
    assert!(d.candidates.is_empty());
    let reason = d.reason.unwrap();
    assert!(reason.contains("fails FedEx's check digit"), "{reason}");
    assert!(reason.contains("should be 5, not 6"), "{reason}");
    assert!(reason.contains("Canada Post"), "{reason}");
    // In text that names no carrier, or names FedEx: invalid, with that reason.
    for text in [
        format!("Your tracking number is {typo}."),
        "Your FedEx tracking number is 9865 7878 8856.".to_owned(),
        format!("Tracking: {typo}"),
    ] {
        let found = scan(&text);
        assert_eq!(valid(&found), vec![], "{text}: {found:?}");
        let r = reported_invalid(&found, typo).unwrap_or_else(|| panic!("{text}: {found:?}"));
        assert!(r.contains("fails FedEx's check digit"), "{r}");
    }
    // The text, a tracking link or the carrier picker saying it is Canada Post's (or GLS's).
    for text in [
        "Your Canada Post tracking number is 9865 7878 8856.",
        "Postes Canada: 986578788856",
    ] {
        assert_eq!(
            valid(&scan(text)),
            vec![(typo, Some("canada-post"))],
            "{text}"
        );
    }
    assert_eq!(
        valid(&scan("GLS parcel 986578788856 is on its way")),
        vec![(typo, Some("gls"))]
    );
    let d =
        detect("https://www.canadapost-postescanada.ca/track-reperage/en?searchFor=986578788856");
    assert!(d.valid && d.from_link, "{d:?}");
    assert_eq!(d.carrier.as_deref(), Some("canada-post"));
    assert!(detect_as(typo, "canada-post").valid);
    assert!(detect_as(typo, "gls").valid);
    let d = detect_as(typo, "fedex");
    assert!(!d.valid && d.reason.unwrap().contains("should be 5, not 6"));

    // Valid numbers keep every carrier they fit.
    let d = detect("986578788855");
    assert!(d.valid);
    assert_eq!(d.carrier.as_deref(), Some("fedex"));
    assert!(d.candidates.iter().any(|c| c.carrier == "canada-post"));
}

#[test]
fn a_one_line_paste_names_the_number_and_its_failed_check() {
    // Before: one unrecognised string, upper-cased ("TRACKING:9407…").
    let d = detect("Tracking: 9407 9979 4285 3811 3836 18");
    assert!(!d.valid);
    assert_eq!(d.number, "9407997942853811383618");
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("check digit should be"),
        "{d:?}"
    );
    let d = detect("my parcel 1Z5R89390357567128 please");
    assert!(!d.valid);
    assert_eq!(d.number, "1Z5R89390357567128");
    assert_eq!(
        d.reason.as_deref(),
        Some("looks like UPS (1Z…, 18 characters) but the check digit should be 7, not 8")
    );
    let d = detect("tracking 986578788856");
    assert!(!d.valid);
    assert_eq!(d.number, "986578788856");
    assert!(d.reason.unwrap().contains("fails FedEx's check digit"));
}

// ---------------------------------------------------------------------------
// Properties over the data

/// Every (format, raw valid test number) pair.
fn all_valid() -> Vec<(&'static Spec, &'static str, &'static str)> {
    ALL_SPECS
        .iter()
        .flat_map(|s| {
            s.valid_raw
                .iter()
                .zip(&s.valid)
                .map(move |(r, n)| (s, r.as_str(), n.as_str()))
        })
        .collect()
}

fn carrier_name(id: &str) -> String {
    carrier(id).map(|c| c.name).unwrap_or_else(|| id.to_owned())
}

const NAMED_TEMPLATES: &[&str] = &[
    "Good news! Your {carrier} tracking number is {n}. It should arrive on Tuesday.",
    "Shipped with {carrier} today: {n}, thanks for shopping with us!",
];
const UNNAMED_TEMPLATES: &[&str] = &[
    "Good news! Your tracking number is {n}. It should arrive on Tuesday.",
    "Your parcel is on its way: {n}",
];

fn fill(template: &str, carrier: &str, n: &str) -> String {
    template.replace("{carrier}", carrier).replace("{n}", n)
}

/// Found whole, with the right carrier first, and nothing else valid in the text.
fn found_whole(text: &str, number: &str, carrier: &str, first: bool) -> Result<(), String> {
    let found = scan(text);
    let v = valid(&found);
    let ok = match v.as_slice() {
        [(n, _)] if *n == number => found.iter().any(|d| {
            d.valid
                && d.number == number
                && if first {
                    d.carrier.as_deref() == Some(carrier)
                } else {
                    d.candidates.iter().any(|c| c.carrier == carrier)
                }
        }),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{text:?}: wanted {number} as {carrier}, got {v:?}"))
    }
}

/// One digit of `number` at `pos` replaced by `digit`, or None when it is not a digit.
fn substituted(number: &str, pos: usize, digit: u8) -> Option<String> {
    let mut b = number.as_bytes().to_vec();
    if !b[pos].is_ascii_digit() || b[pos] == b'0' + digit {
        return None;
    }
    b[pos] = b'0' + digit;
    String::from_utf8(b).ok()
}

/// A mistyped number yields no valid number in the text, and is reported with a reason.
fn rejected_with_reason(text: &str, mutated: &str) -> (bool, bool) {
    let found = scan(text);
    let none_valid = found.iter().all(|d| !d.valid);
    let reason = reported_invalid(&found, mutated).is_some();
    (none_valid, reason)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Every test number of the data, in every written form, in a sentence naming its
    /// carrier, is found whole with that carrier first.
    #[test]
    fn grouped_and_spaced_valid_numbers_are_found_whole(
        which in any::<prop::sample::Index>(),
        form in any::<prop::sample::Index>(),
        template in any::<prop::sample::Index>(),
    ) {
        let all = all_valid();
        let (spec, raw, number) = all[which.index(all.len())];
        let forms = written_forms(raw, number);
        let written = &forms[form.index(forms.len())];
        let id = spec_carrier(spec, number);
        let text = fill(NAMED_TEMPLATES[template.index(NAMED_TEMPLATES.len())], &carrier_name(&id), written);
        if let Err(e) = found_whole(&text, number, &id, true) {
            prop_assert!(false, "{} ({}): {}", spec.name, raw, e);
        }
        // The carrier picker accepts it as typed.
        prop_assert!(detect_as(written, &id).valid, "detect_as({:?}, {})", written, id);
    }

    /// One digit substituted in a number of any format with a check digit: no valid
    /// number in the text (whole or cut), and the number reported with a reason. Mutations
    /// that still pass a check digit (the algorithm cannot see them, e.g. 0↔7 under mod 7,
    /// or they make another format's valid number) are skipped.
    #[test]
    fn one_digit_substitutions_yield_no_valid_number(
        which in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        digit in 0u8..10,
        grouping in prop::sample::select(vec![0usize, 3, 4, 5]),
        named in any::<bool>(),
    ) {
        let all: Vec<(&Spec, &str)> = checked_specs()
            .flat_map(|(_, s)| s.valid.iter().map(move |n| (s, n.as_str())))
            .collect();
        let (spec, number) = all[which.index(all.len())];
        let Some(mutated) = substituted(number, pos.index(number.len()), digit) else {
            return Ok(());
        };
        prop_assume!(!passes_any_check(&mutated));
        let written = if grouping == 0 { mutated.clone() } else { printed(&mutated, grouping)[0].clone() };
        let text = if named {
            fill(NAMED_TEMPLATES[0], &carrier_name(&spec_carrier(spec, number)), &written)
        } else {
            fill(UNNAMED_TEMPLATES[0], "", &written)
        };
        let found = scan(&text);
        prop_assert!(found.iter().all(|d| !d.valid), "{} from {} ({}): {:?}", text, number, spec.name, found);
        prop_assert!(
            reported_invalid(&found, &mutated).is_some(),
            "{} from {} ({}): not reported: {:?}", text, number, spec.name, found
        );
        let d = detect(&written);
        prop_assert!(!d.valid && d.reason.is_some(), "detect({:?}): {:?}", written, d);
    }
}

// ---------------------------------------------------------------------------
// The figures

fn pct(n: usize, of: usize) -> f64 {
    100.0 * n as f64 / of.max(1) as f64
}

/// Exhaustive: every test number of the data in every written form and template, and every
/// one-digit substitution of every test number of a format with a check digit.
#[test]
fn recognition_rates() {
    // Valid numbers.
    let (mut named_ok, mut unnamed_ok, mut alone_ok, mut picker_ok, mut total) = (0, 0, 0, 0, 0);
    let mut misses = Vec::new();
    for (spec, raw, number) in all_valid() {
        let id = spec_carrier(spec, number);
        let name = carrier_name(&id);
        for written in written_forms(raw, number) {
            total += 1;
            let named = NAMED_TEMPLATES
                .iter()
                .map(|t| found_whole(&fill(t, &name, &written), number, &id, true))
                .find(Result::is_err)
                .unwrap_or(Ok(()));
            match named {
                Ok(()) => named_ok += 1,
                Err(e) => misses.push(format!("{}: {e}", spec.name)),
            }
            let unnamed = UNNAMED_TEMPLATES
                .iter()
                .all(|t| found_whole(&fill(t, "", &written), number, &id, false).is_ok());
            unnamed_ok += usize::from(unnamed);
            let d = detect(&written);
            alone_ok += usize::from(
                d.valid && d.number == number && d.candidates.iter().any(|c| c.carrier == id),
            );
            let d = detect_as(&written, &id);
            picker_ok += usize::from(d.valid && d.number == number);
        }
    }

    // Mistyped numbers.
    let (mut tried, mut undetectable, mut text_cases) = (0, 0, 0);
    let (mut no_valid, mut with_reason, mut alone_rejected) = (0, 0, 0);
    let mut typo_misses = Vec::new();
    let mut typo_kinds = std::collections::BTreeMap::new();
    for (_, spec) in checked_specs() {
        for number in &spec.valid {
            for pos in 0..number.len() {
                for digit in 0..10 {
                    let Some(mutated) = substituted(number, pos, digit) else {
                        continue;
                    };
                    tried += 1;
                    if passes_any_check(&mutated) {
                        undetectable += 1;
                        continue;
                    }
                    let d = detect(&mutated);
                    alone_rejected += usize::from(!d.valid && d.reason.is_some());
                    let name = carrier_name(&spec_carrier(spec, number));
                    for written in [mutated.clone(), printed(&mutated, 4)[0].clone()] {
                        for text in [
                            fill(UNNAMED_TEMPLATES[0], "", &written),
                            fill(NAMED_TEMPLATES[0], &name, &written),
                        ] {
                            text_cases += 1;
                            let (none, reason) = rejected_with_reason(&text, &mutated);
                            no_valid += usize::from(none);
                            with_reason += usize::from(none && reason);
                            if !(none && reason) {
                                *typo_kinds.entry((spec.name.as_str(), none)).or_insert(0) += 1;
                            }
                            if !(none && reason) && typo_misses.len() < 400 {
                                typo_misses.push(format!(
                                    "{} ({number}): {text:?} -> {:?}",
                                    spec.name,
                                    scan(&text)
                                        .iter()
                                        .map(|d| (&d.number, d.valid, &d.carrier))
                                        .collect::<Vec<_>>()
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    let detectable = tried - undetectable;

    println!("Recognition on mistyped numbers");
    println!(
        "valid test numbers, {total} written forms ({} numbers × forms):",
        all_valid().len()
    );
    println!(
        "  found whole, right carrier first, in text naming the carrier: {named_ok}/{total} = {:.2} %",
        pct(named_ok, total)
    );
    println!(
        "  found whole, right carrier among candidates, text with a tracking word only: {unnamed_ok}/{total} = {:.2} %",
        pct(unnamed_ok, total)
    );
    println!(
        "  alone (detect), right carrier among candidates: {alone_ok}/{total} = {:.2} %",
        pct(alone_ok, total)
    );
    println!(
        "  with the carrier picker (detect_as): {picker_ok}/{total} = {:.2} %",
        pct(picker_ok, total)
    );
    println!(
        "one-digit substitutions: {tried}, of which {undetectable} ({:.2} %) still pass a check digit (skipped); {detectable} mistyped numbers, {text_cases} texts:",
        pct(undetectable, tried)
    );
    println!(
        "  no valid number in the text: {no_valid}/{text_cases} = {:.2} %",
        pct(no_valid, text_cases)
    );
    println!(
        "  no valid number and the number reported with its reason: {with_reason}/{text_cases} = {:.2} %",
        pct(with_reason, text_cases)
    );
    println!(
        "  alone (detect): invalid with a reason: {alone_rejected}/{detectable} = {:.2} %",
        pct(alone_rejected, detectable)
    );
    for m in misses.iter().take(20) {
        println!("  valid miss: {m}");
    }
    for ((name, none), n) in &typo_kinds {
        let what = if *none {
            "not reported"
        } else {
            "a valid number"
        };
        println!("  typos missed: {name}: {n} ({what})");
    }
    for m in &typo_misses {
        println!("  typo miss: {m}");
    }
    assert!(pct(named_ok, total) >= 99.0, "valid numbers found whole");
    assert!(pct(picker_ok, total) >= 99.0, "carrier picker");
    assert!(
        pct(no_valid, text_cases) >= 99.0,
        "mistyped: no valid number"
    );
    assert!(
        pct(with_reason, text_cases) >= 99.0,
        "mistyped: with reason"
    );
    assert!(pct(alone_rejected, detectable) >= 99.0, "mistyped alone");
}
