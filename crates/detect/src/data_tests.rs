//! Data-driven checks over every embedded spec's `test_numbers`.

use crate::engine::analyze;
use crate::registry::{CarrierSel, REGISTRY};
use crate::{detect, detect_as, normalize};

#[test]
fn every_valid_test_number_detects_as_its_courier() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (idx, f) in REGISTRY.formats.iter().enumerate() {
        for raw in &f.test_valid {
            checked += 1;
            let n = normalize(raw);
            let hit = analyze(&n).into_iter().find(|h| h.fmt == idx);
            let Some(hit) = hit.filter(|h| h.ok) else {
                failures.push(format!("{}: {raw:?} does not validate", f.name));
                continue;
            };
            let carrier = hit.carrier.clone().expect("valid hit has a carrier");
            let d = detect(raw);
            // A number that fits this format only by shape (no check digit) while
            // it fails another format's check digit is a likely typo of that
            // other carrier's: invalid unless the carrier is chosen (below).
            let shadowed = f.checksum.is_none() && crate::engine::shadow(&analyze(&n)).is_some();
            if shadowed {
                let named = crate::carriers_tab::carrier_name(&carrier);
                let why = d.reason.clone().unwrap_or_default();
                if d.valid || !why.contains("check digit") || !why.contains(&named) {
                    failures.push(format!("{}: detect({raw:?}) should fail: {d:?}", f.name));
                }
            } else if !d.valid || !d.candidates.iter().any(|c| c.carrier == carrier) {
                failures.push(format!(
                    "{}: detect({raw:?}) lacks {carrier}: {d:?}",
                    f.name
                ));
            }
            if !detect_as(raw, &carrier).valid {
                failures.push(format!("{}: detect_as({raw:?}, {carrier}) invalid", f.name));
            }
        }
    }
    assert!(checked > 100, "only {checked} test numbers");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_invalid_test_number_is_rejected_for_its_courier() {
    let mut failures = Vec::new();
    for (idx, f) in REGISTRY.formats.iter().enumerate() {
        for raw in &f.test_invalid {
            let n = normalize(raw);
            if analyze(&n).iter().any(|h| h.fmt == idx && h.ok) {
                failures.push(format!("{}: {raw:?} validates", f.name));
            }
            if let CarrierSel::Fixed(id) = &f.carrier {
                let d = detect_as(raw, id);
                if d.valid {
                    failures.push(format!("{}: detect_as({raw:?}, {id}) valid: {d:?}", f.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_format_has_test_numbers_and_an_example() {
    for f in &REGISTRY.formats {
        assert!(
            !f.test_valid.is_empty(),
            "{} has no valid test numbers",
            f.name
        );
        assert!(
            !f.test_invalid.is_empty(),
            "{} has no invalid test numbers",
            f.name
        );
        assert!(f.example.is_some());
    }
}
