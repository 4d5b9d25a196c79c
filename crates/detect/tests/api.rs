//! Behaviour of the public API: detection, reasons, links, ranking, scan.

use parceltrail_detect::{
    Detection, carrier, carriers, detect, detect_as, formats, normalize, scan,
};

fn ids(d: &Detection) -> Vec<&str> {
    d.candidates.iter().map(|c| c.carrier.as_str()).collect()
}

#[test]
fn single_numbers_with_spaces_and_dashes() {
    let d = detect("  1z 879-e93.0346834440 ");
    assert!(d.valid);
    assert_eq!(d.number, "1Z879E930346834440");
    assert_eq!(d.carrier.as_deref(), Some("ups"));
    assert_eq!(d.span, 2..23);
    assert!(!d.from_link);
    let c = &d.candidates[0];
    assert_eq!(c.carrier_name, "UPS");
    assert_eq!(
        c.tracking_url.as_deref(),
        Some("https://www.ups.com/track?tracknum=1Z879E930346834440")
    );
    assert_eq!(c.service.as_deref(), Some("UPS United States Ground"));
}

#[test]
fn invalid_reasons() {
    let r = |s: &str| detect(s).reason.unwrap();
    assert_eq!(
        r("1Z5R89390357567128"),
        "looks like UPS (1Z…, 18 characters) but the check digit should be 7, not 8"
    );
    assert_eq!(
        r("RB123456786US"),
        "looks like USPS (S10, 13 characters) but the check digit should be 5, not 6"
    );
    assert_eq!(
        r("RB123456785XX"),
        "looks like a UPU S10 item number (RB123456785XX) but XX is not a known country code"
    );
    assert_eq!(
        r("C11031500001889"),
        "looks like OnTrac (C…, 15 characters) but the check digit should be 7, not 9"
    );
    assert_eq!(
        r("hello world"),
        "not a tracking number we recognise: hello world"
    );
    assert_eq!(
        r(""),
        "not a tracking number we recognise: the input is empty"
    );
    let d = detect("1Z5R89390357567128");
    assert!(!d.valid);
    assert_eq!(d.carrier, None);
    assert!(d.candidates.is_empty());
}

#[test]
fn detect_as_restricts_to_one_carrier() {
    let d = detect_as("986578788855", "fedex");
    assert!(d.valid);
    assert_eq!(ids(&d), vec!["fedex"]);
    let d = detect_as("986578788855", "gls");
    assert!(d.valid);
    assert_eq!(ids(&d), vec!["gls"]);
    let d = detect_as("1Z5R89390357567127", "fedex");
    assert!(!d.valid);
    assert_eq!(
        d.reason.as_deref(),
        Some(
            "not a valid FedEx tracking number: no FedEx format matches 1Z5R89390357567127 (18 characters)"
        )
    );
    let d = detect_as("1Z5R89390357567128", "ups");
    assert!(d.reason.unwrap().contains("should be 7, not 8"));
    let d = detect_as("1Z5R89390357567127", "nope");
    assert_eq!(d.reason.as_deref(), Some("unknown carrier: nope"));
    assert!(detect_as("RR123456785FR", "post-fr").valid);
    assert!(!detect_as("RR123456785FR", "post-de").valid);
}

#[test]
fn ambiguous_numbers_rank_strongest_format_first() {
    // 12 digits: FedEx has a check digit, Canada Post 12 and GLS do not.
    let d = detect("986578788855");
    assert_eq!(ids(&d), vec!["fedex", "canada-post", "gls"]);
    assert!(d.candidates[0].confidence > d.candidates[1].confidence);
    // 16 digits passing Canada Post's mod 10 also fit Evri's unchecked form.
    let d = detect("0073938000549297");
    assert_eq!(ids(&d), vec!["canada-post", "evri"]);
    // SmartPost (service 29) ranks before the USPS reading of the same digits.
    let d = detect("9261292700768711948021");
    assert_eq!(ids(&d), vec!["fedex", "usps"]);
    // 3S barcodes are shared by DHL Parcel and PostNL.
    let d = detect("3SABCD1234567");
    let mut got = ids(&d);
    got.sort();
    assert_eq!(got, vec!["dhl-ecommerce", "postnl"]);
    // Weak mod 7 DHL numbers rank below strong checks but are still valid.
    let d = detect("3318810025");
    assert_eq!(ids(&d), vec!["dhl"]);
    assert!(d.candidates[0].confidence < 0.7);
    // Confidence is always within 0..=1 and sorted.
    for n in [
        "986578788855",
        "1Z5R89390357567127",
        "RB876543216GB",
        "JJD000390007123456789",
    ] {
        let d = detect(n);
        let confs: Vec<f32> = d.candidates.iter().map(|c| c.confidence).collect();
        assert!(confs.iter().all(|c| (0.0..=1.0).contains(c)));
        assert!(confs.windows(2).all(|w| w[0] >= w[1]), "{n}: {confs:?}");
    }
}

#[test]
fn s10_numbers_belong_to_the_national_post() {
    let cases = [
        ("RR123456785US", "usps"),
        ("RB876543216GB", "royal-mail"),
        ("RR123456785CA", "canada-post"),
        ("CX123456785AU", "australia-post"),
        ("RR102938478NL", "postnl"),
        ("LK123456785CN", "china-post"),
        ("RR102938478DE", "deutsche-post"),
        ("RR123456785FR", "post-fr"),
        ("RR123456785JP", "post-jp"),
    ];
    for (n, id) in cases {
        let d = detect(n);
        assert_eq!(d.carrier.as_deref(), Some(id), "{n}");
        assert_eq!(ids(&d).len(), 1, "{n}: one post only");
    }
    assert_eq!(
        detect("RR123456785FR").candidates[0].carrier_name,
        "La Poste (FR)"
    );
}

#[test]
fn links_per_carrier() {
    let cases = [
        (
            "https://www.ups.com/track?loc=en_US&tracknum=1Z5R89390357567127",
            "ups",
            "1Z5R89390357567127",
        ),
        (
            "https://wwwapps.ups.com/WebTracking/track?track=yes&trackNums=1Z879E930346834440",
            "ups",
            "1Z879E930346834440",
        ),
        (
            "https://www.fedex.com/fedextrack/?trknbr=986578788855",
            "fedex",
            "986578788855",
        ),
        (
            "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers=477179081230",
            "fedex",
            "477179081230",
        ),
        (
            "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111201080805483016",
            "usps",
            "9400111201080805483016",
        ),
        (
            "https://tools.usps.com/go/TrackConfirmAction?qtc_tLabels1=92055901649173127513",
            "usps",
            "92055901649173127513",
        ),
        (
            "http://www.dhl.com/en/express/tracking.html?brand=DHL&AWB=3318810025",
            "dhl",
            "3318810025",
        ),
        (
            "https://www.dhl.com/us-en/home/tracking/tracking-express.html?submit=1&tracking-id=1234567891",
            "dhl",
            "1234567891",
        ),
        (
            "https://www.dhl.com/global-en/home/tracking.html?tracking-id=GM2951173225174494",
            "dhl-ecommerce",
            "GM2951173225174494",
        ),
        (
            "https://t.17track.net/en#nums=RB876543216GB",
            "royal-mail",
            "RB876543216GB",
        ),
        (
            "www.ups.com/track?tracknum=1Z5R89390357567127",
            "ups",
            "1Z5R89390357567127",
        ),
    ];
    for (url, id, number) in cases {
        let d = detect(url);
        assert!(d.valid, "{url}: {d:?}");
        assert!(d.from_link, "{url}");
        assert_eq!(d.carrier.as_deref(), Some(id), "{url}");
        assert_eq!(d.number, number, "{url}");
        assert_eq!(d.span, 0..url.len());
    }
}

#[test]
fn link_carrier_ranks_first_even_when_number_is_ambiguous() {
    // 986578788855 alone is FedEx first; a DHL link says DHL.
    let d = detect("https://www.dhl.com/en/express/tracking.html?AWB=986578788855");
    assert_eq!(d.carrier.as_deref(), Some("dhl"));
    assert!(ids(&d).contains(&"fedex"));
    // A GLS link with the same number: GLS's own format is raised to the top.
    let d = detect("https://gls-group.com/track/?match=986578788855");
    assert_eq!(ids(&d)[0], "gls");
    assert!(d.candidates[0].confidence >= 0.99);
}

#[test]
fn seventeen_track_link_in_scan_yields_every_number() {
    let found = scan("see https://t.17track.net/en#nums=RB876543216GB,1Z5R89390357567127 ok");
    let numbers: Vec<&str> = found.iter().map(|d| d.number.as_str()).collect();
    assert_eq!(numbers, vec!["RB876543216GB", "1Z5R89390357567127"]);
    assert!(found.iter().all(|d| d.from_link && d.valid));
    assert_eq!(found[1].carrier.as_deref(), Some("ups"));
}

#[test]
fn carriers_and_formats_listing() {
    let all = carriers();
    assert!(all.len() >= 20);
    let names: Vec<String> = all.iter().map(|c| c.name.to_lowercase()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(carrier("ups").unwrap().color, "#351C15");
    assert!(carrier("UPS").is_some());
    assert!(carrier("post-fr").is_some());
    assert!(carrier("post-gb").is_none(), "GB has a named carrier");
    assert!(carrier("post-zz").is_none());
    for c in &all {
        assert!(c.tracking_url.as_deref().is_none_or(|u| u.contains("%s")));
        assert!(c.color.starts_with('#') && c.color.len() == 7);
    }
    let f = formats();
    assert!(f.iter().any(|f| f.carrier == "dpd" && !f.has_check_digit));
    assert!(f.iter().any(|f| f.carrier == "dpd" && f.has_check_digit));
    for fmt in &f {
        assert!(
            fmt.carrier == "post-xx" || carrier(&fmt.carrier).is_some(),
            "{}",
            fmt.carrier
        );
        let ex = fmt.example.as_deref().unwrap();
        // Valid for its carrier (a 12-digit Canada Post example fails FedEx's check
        // digit, so on its own it is read as a mistyped FedEx number).
        let d = match fmt.carrier.as_str() {
            "post-xx" => detect(ex),
            id => detect_as(ex, id),
        };
        assert!(d.valid, "example {ex} of {}", fmt.name);
        assert!(
            detect(ex).valid || !fmt.has_check_digit,
            "example {ex} of {}",
            fmt.name
        );
        if !fmt.has_check_digit {
            assert!(
                fmt.description.to_lowercase().contains("check digit")
                    || fmt.description.to_lowercase().contains("check character"),
                "{}: say there is no check digit",
                fmt.name
            );
        }
    }
}

#[test]
fn normalize_drops_separators() {
    assert_eq!(normalize(" 1z-99.9\tAa1\n"), "1Z999AA1");
}

#[test]
fn detect_finds_a_number_inside_a_short_sentence() {
    let d = detect("tracking: 1Z5R89390357567127");
    assert!(d.valid);
    assert_eq!(d.number, "1Z5R89390357567127");
    assert_eq!(d.span, 10..28);
}

#[test]
fn unknown_site_links_still_yield_their_number() {
    let d = detect("https://shop.example/orders/123/track?carrier=x&code=1Z5R89390357567127");
    assert!(d.valid);
    assert_eq!(d.number, "1Z5R89390357567127");
    assert!(!d.from_link);
    let d = detect("https://shop.example/orders/123456");
    assert!(!d.valid);
}

#[test]
fn serializes_without_span() {
    let d = detect("1Z5R89390357567127");
    let json = serde_json::to_value(&d).unwrap();
    assert!(json.get("span").is_none());
    assert_eq!(json["carrier"], "ups");
    assert_eq!(json["candidates"][0]["carrier"], "ups");
}
