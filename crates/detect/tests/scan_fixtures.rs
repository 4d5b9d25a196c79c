//! `scan` over realistic e-mails and pages: exactly the expected numbers.

use parceltrail_detect::{Detection, scan};

fn summary(found: &[Detection]) -> Vec<(String, Option<String>, bool, bool)> {
    found
        .iter()
        .map(|d| (d.number.clone(), d.carrier.clone(), d.valid, d.from_link))
        .collect()
}

fn row(n: &str, c: Option<&str>, valid: bool, link: bool) -> (String, Option<String>, bool, bool) {
    (n.to_owned(), c.map(str::to_owned), valid, link)
}

#[test]
fn ups_confirmation_email() {
    let text = include_str!("fixtures/ups_confirmation.txt");
    let found = scan(text);
    assert_eq!(
        summary(&found),
        vec![
            row("1Z999AA10123456784", Some("ups"), true, false),
            row("1Z879E930346834440", Some("ups"), true, true),
        ]
    );
    // The spaced number's span covers exactly the printed groups.
    assert_eq!(&text[found[0].span.clone()], "1Z 999 AA1 01 2345 6784");
    assert!(text[found[1].span.clone()].starts_with("https://www.ups.com/track?"));
}

#[test]
fn fedex_order_page_html() {
    let text = include_str!("fixtures/fedex_order_page.html");
    let found = scan(text);
    assert_eq!(
        summary(&found),
        vec![
            row("986578788855", Some("fedex"), true, true),
            row("9400111201080805483016", Some("usps"), true, false),
        ]
    );
}

#[test]
fn international_mixed_text() {
    let text = include_str!("fixtures/intl_mixed.txt");
    let found = scan(text);
    assert_eq!(
        summary(&found),
        vec![
            row("RB876543216GB", Some("royal-mail"), true, false),
            row("01234567890123", Some("dpd"), true, false),
            row("LP00123456789012", Some("cainiao"), true, false),
            row("YT1234567890123456", Some("yunexpress"), true, true),
            row("RR123456785CA", Some("canada-post"), true, true),
            row("1Z5R89390357567128", None, false, false),
        ]
    );
    let typo = &found[5];
    assert_eq!(
        typo.reason.as_deref(),
        Some("looks like UPS (1Z…, 18 characters) but the check digit should be 7, not 8")
    );
    // DPD 14 has no check digit: reported here only because "DPD" is named
    // next to it; on its own it gets a low confidence.
    let bare = parceltrail_detect::detect("01234567890123");
    assert!(bare.candidates[0].confidence < 0.5);
    assert!(found[1].candidates[0].confidence > bare.candidates[0].confidence);
}

#[test]
fn noise_is_not_reported() {
    let text = "Call 555-123-4567 or (415) 555-0123. Order #112-3456789-1234567, \
                order number 100234567890, placed 2024-05-14 at 10:42, total $1,299.99. \
                Reference 4155550123. Phone +44 20 7946 0958. ISBN 978-3-16-148410-0. \
                Customer 12345678901234 and 1234567890123456 and 3318810025.";
    let found = scan(text);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn context_words_enable_unchecked_formats() {
    // Without context a bare 14-digit number is not reported …
    assert!(scan("Lorem ipsum 01234567890123 dolor").is_empty());
    // … with the carrier's name nearby it is.
    let found = scan("Your DPD parcel: 01234567890123");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].carrier.as_deref(), Some("dpd"));
    // A weak mod 7 DHL number needs context too.
    assert!(scan("lorem 3318810025 ipsum").is_empty());
    let found = scan("DHL Express waybill 3318810025");
    assert_eq!(found[0].carrier.as_deref(), Some("dhl"));
    // Naming the carrier lifts it above stronger-but-unnamed formats.
    let found = scan("Sent with GLS, tracking number 986578788855.");
    assert_eq!(found[0].carrier.as_deref(), Some("gls"));
    let found = scan("FedEx tracking number 986578788855.");
    assert_eq!(found[0].carrier.as_deref(), Some("fedex"));
}

#[test]
fn deduplicates_and_keeps_order() {
    let found = scan("A: RB876543216GB, B: 1Z5R89390357567127, again RB876543216GB");
    let numbers: Vec<&str> = found.iter().map(|d| d.number.as_str()).collect();
    assert_eq!(numbers, vec!["RB876543216GB", "1Z5R89390357567127"]);
}
