//! The carriers we know by name, their tracking pages and badge colours,
//! plus the mapping from UPU S10 country codes to national posts.

use crate::Carrier;

/// `(id, name, tracking URL template, colour, context keywords)`.
///
/// Keywords are matched case-insensitively on word boundaries near a number
/// in free text (see the crate docs on context).
pub(crate) type Row = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static [&'static str],
);

/// Generic multi-carrier tracker, used where a post has no stable page.
const SEVENTEEN: &str = "https://t.17track.net/en#nums=%s";

pub(crate) const NAMED: &[Row] = &[
    (
        "ups",
        "UPS",
        Some("https://www.ups.com/track?tracknum=%s"),
        "#351C15",
        &["ups"],
    ),
    (
        "fedex",
        "FedEx",
        Some("https://www.fedex.com/fedextrack/?trknbr=%s"),
        "#4D148C",
        &["fedex", "fed ex"],
    ),
    (
        "usps",
        "USPS",
        Some("https://tools.usps.com/go/TrackConfirmAction?tLabels=%s"),
        "#333366",
        &["usps", "postal service"],
    ),
    (
        "dhl",
        "DHL Express",
        Some(
            "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id=%s",
        ),
        "#FFCC00",
        &["dhl", "waybill", "awb"],
    ),
    (
        "dhl-ecommerce",
        "DHL eCommerce",
        Some(
            "https://www.dhl.com/global-en/home/tracking/tracking-ecommerce.html?submit=1&tracking-id=%s",
        ),
        "#D40511",
        &["dhl"],
    ),
    (
        "amazon",
        "Amazon Logistics",
        Some("https://track.amazon.com/tracking/%s"),
        "#FF9900",
        &["amazon"],
    ),
    (
        "ontrac",
        "OnTrac",
        Some("https://www.ontrac.com/tracking/?number=%s"),
        "#0A4D8C",
        &["ontrac"],
    ),
    (
        "lasership",
        "LaserShip",
        Some("https://www.lasership.com/track/%s"),
        "#E31837",
        &["lasership"],
    ),
    (
        "canada-post",
        "Canada Post",
        Some("https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor=%s"),
        "#EE1C25",
        &["canada post", "postes canada"],
    ),
    (
        "australia-post",
        "Australia Post",
        Some("https://auspost.com.au/mypost/track/details/%s"),
        "#DC1928",
        &["australia post", "auspost"],
    ),
    (
        "postnl",
        "PostNL",
        Some("https://jouw.postnl.nl/track-and-trace/%s"),
        "#FF6200",
        &["postnl"],
    ),
    (
        "dpd",
        "DPD",
        Some("https://tracking.dpd.de/status/en_US/parcel/%s"),
        "#DC0032",
        &["dpd"],
    ),
    (
        "gls",
        "GLS",
        Some("https://gls-group.com/track/%s"),
        "#061AB1",
        &["gls"],
    ),
    (
        "evri",
        "Evri",
        Some("https://www.evri.com/track/parcel/%s"),
        "#007BC4",
        &["evri", "hermes"],
    ),
    (
        "royal-mail",
        "Royal Mail",
        Some("https://www.royalmail.com/track-your-item#/tracking-results/%s"),
        "#E4032E",
        &["royal mail", "royalmail"],
    ),
    (
        "china-post",
        "China Post",
        Some(SEVENTEEN),
        "#00793F",
        &["china post", "chinapost", "epacket"],
    ),
    (
        "cainiao",
        "Cainiao",
        Some("https://global.cainiao.com/newDetail.htm?mailNoList=%s"),
        "#FF6A00",
        &["cainiao", "aliexpress"],
    ),
    (
        "yunexpress",
        "YunExpress",
        Some("https://www.yuntrack.com/parcelTracking?id=%s"),
        "#1E4C9A",
        &["yunexpress", "yun express"],
    ),
    (
        "4px",
        "4PX",
        Some("https://track.4px.com/#/result/0/%s"),
        "#1B4A9C",
        &["4px"],
    ),
    (
        "deutsche-post",
        "Deutsche Post",
        Some("https://www.deutschepost.de/de/s/sendungsverfolgung.html?piececode=%s"),
        "#FFCC00",
        &["deutsche post", "einschreiben"],
    ),
];

/// Neutral grey for posts we only know from the S10 country list.
const POST_COLOR: &str = "#6B7280";

/// Countries whose post has a named carrier of its own.
const COUNTRY_POSTS: &[(&str, &str)] = &[
    ("US", "usps"),
    ("GB", "royal-mail"),
    ("CA", "canada-post"),
    ("AU", "australia-post"),
    ("NL", "postnl"),
    ("CN", "china-post"),
    ("DE", "deutsche-post"),
];

pub(crate) fn post_id_for_country(cc: &str) -> String {
    COUNTRY_POSTS
        .iter()
        .find(|(c, _)| *c == cc)
        .map(|(_, id)| (*id).to_owned())
        .unwrap_or_else(|| format!("post-{}", cc.to_ascii_lowercase()))
}

pub(crate) fn named_row(id: &str) -> Option<&'static Row> {
    NAMED.iter().find(|r| r.0 == id)
}

pub(crate) fn to_carrier(r: &Row) -> Carrier {
    Carrier {
        id: r.0.to_owned(),
        name: r.1.to_owned(),
        tracking_url: r.2.map(str::to_owned),
        color: r.3.to_owned(),
    }
}

/// Display name for any carrier id, including `post-xx`.
pub(crate) fn carrier_name(id: &str) -> String {
    if let Some(r) = named_row(id) {
        return r.1.to_owned();
    }
    lookup(id).map(|c| c.name).unwrap_or_else(|| id.to_owned())
}

/// Tracking URL template for any carrier id.
pub(crate) fn carrier_url(id: &str) -> Option<&'static str> {
    match named_row(id) {
        Some(r) => r.2,
        None if id.starts_with("post-") => Some(SEVENTEEN),
        None => None,
    }
}

/// Any carrier by id: named ones, or `post-xx` for an S10 country.
pub(crate) fn lookup(id: &str) -> Option<Carrier> {
    if let Some(r) = named_row(id) {
        return Some(to_carrier(r));
    }
    let cc = id.strip_prefix("post-")?.to_ascii_uppercase();
    let post = crate::registry::REGISTRY.posts.get(&cc)?;
    if COUNTRY_POSTS.iter().any(|(c, _)| *c == cc) {
        return None; // those posts have a named id instead
    }
    Some(Carrier {
        id: id.to_owned(),
        name: format!("{post} ({cc})"),
        tracking_url: Some(SEVENTEEN.to_owned()),
        color: POST_COLOR.to_owned(),
    })
}

// The scanner keeps which carriers a text names as bits of a u64.
const _: () = assert!(NAMED.len() <= 64);
