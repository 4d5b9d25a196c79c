//! Carrier tracking links: which carrier a URL names and which numbers it
//! carries.

use std::sync::LazyLock;

use memchr::memmem;
use url::Url;

/// Numbers found in one tracking link.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinkNumbers {
    /// Carriers the link's site stands for, preferred first; empty for
    /// multi-carrier trackers (17TRACK), where the number decides.
    pub(crate) carriers: &'static [&'static str],
    /// Raw numbers (not yet normalised), in link order.
    pub(crate) numbers: Vec<String>,
}

/// `(host suffix, carriers, query/fragment parameter names, lowercase)`.
type Site = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const SITES: &[Site] = &[
    (
        "ups.com",
        &["ups"],
        &["tracknum", "tracknums", "tracknumber", "inquirynumber1"],
    ),
    (
        "fedex.com",
        &["fedex"],
        &["trknbr", "tracknumbers", "tracknumber", "tracking_numbers"],
    ),
    (
        "usps.com",
        &["usps"],
        &["tlabels", "qtc_tlabels1", "qtc_tlabels", "label"],
    ),
    (
        "dhl.com",
        &["dhl", "dhl-ecommerce"],
        &["tracking-id", "awb", "trackingnumber", "idc", "piececode"],
    ),
    (
        "dhl.de",
        &["dhl-ecommerce", "deutsche-post", "dhl"],
        &["piececode", "idc", "tracking-id"],
    ),
    ("deutschepost.de", &["deutsche-post"], &["piececode"]),
    ("17track.net", &[], &["nums"]),
    ("ontrac.com", &["ontrac"], &["number", "tracking_number"]),
    ("lasership.com", &["lasership"], &[]),
    (
        "canadapost-postescanada.ca",
        &["canada-post"],
        &["searchfor"],
    ),
    (
        "canadapost.ca",
        &["canada-post"],
        &["searchfor", "trackingnumber"],
    ),
    ("auspost.com.au", &["australia-post"], &["id"]),
    ("postnl.nl", &["postnl"], &["b"]),
    ("dpd.de", &["dpd"], &["parcelnumber"]),
    ("dpd.co.uk", &["dpd"], &["parcelnumber"]),
    ("dpdgroup.com", &["dpd"], &["parcelnumber"]),
    ("gls-group.com", &["gls"], &["match", "txtaction"]),
    ("gls-group.eu", &["gls"], &["match"]),
    ("evri.com", &["evri"], &[]),
    ("royalmail.com", &["royal-mail"], &["trackingnumber"]),
    ("cainiao.com", &["cainiao"], &["mailnolist"]),
    ("yuntrack.com", &["yunexpress"], &["id"]),
    ("4px.com", &["4px"], &[]),
    ("amazon.com", &["amazon"], &["trackingid"]),
];

/// A searcher for each site's host, built once.
static HOSTS: LazyLock<Vec<memmem::Finder<'static>>> =
    LazyLock::new(|| SITES.iter().map(|s| memmem::Finder::new(s.0)).collect());

fn site_for(host: &str) -> Option<&'static Site> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    SITES.iter().find(|(suffix, _, _)| {
        host == *suffix
            || host
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// Split a parameter value that may hold several numbers.
fn split_numbers(v: &str, out: &mut Vec<String>) {
    for part in v.split([',', ';', '|', '\n', '\r']) {
        let t = part.trim();
        if !t.is_empty() && t.len() <= 64 && !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
}

/// Query-string style pairs in a fragment such as `#nums=…` or
/// `#/search?searchFor=…`.
fn fragment_pairs(frag: &str) -> Vec<(String, String)> {
    let q = frag.rsplit_once('?').map_or(frag, |(_, q)| q);
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// If `raw` is a tracking link of a known site, the numbers in it.
///
/// Accepts links without a scheme (`ups.com/track?...`) and HTML-escaped
/// ampersands, as found in pasted e-mail source.
pub(crate) fn parse_link(raw: &str) -> Option<LinkNumbers> {
    let raw = raw.trim();
    if raw.len() > 4096 || !raw.contains('.') {
        return None;
    }
    // Most URLs in mail are a shop's or a tracking pixel's: when no known site's
    // host appears in the text, parsing cannot find one. (Not for text with `%`
    // escapes or non-ASCII, which the URL parser may turn into such a host.)
    if raw.is_ascii() && !raw.contains('%') {
        let lower = raw.to_ascii_lowercase();
        let lower = lower.as_bytes();
        if !HOSTS.iter().any(|f| f.find(lower).is_some()) {
            return None;
        }
    }
    let unescaped = raw.replace("&amp;", "&");
    let url = match Url::parse(&unescaped) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        Ok(_) => return None,
        Err(_) => {
            // Only try a scheme-less link if it looks like host/path.
            let host = unescaped.split(['/', '?', '#']).next()?;
            if !host.contains('.') || host.contains(' ') {
                return None;
            }
            Url::parse(&format!("https://{unescaped}")).ok()?
        }
    };
    let site = site_for(url.host_str()?)?;
    let (_, carriers, params) = *site;
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some(f) = url.fragment() {
        pairs.extend(fragment_pairs(f));
    }
    let mut numbers = Vec::new();
    for (k, v) in &pairs {
        if params.iter().any(|p| k.eq_ignore_ascii_case(p)) {
            split_numbers(v, &mut numbers);
        }
    }
    if numbers.is_empty() && !carriers.is_empty() {
        // Sites that put the number in the path (/track/parcel/NUMBER):
        // take the last path segment that normalises to a known format.
        let segs: Vec<String> = url
            .path_segments()
            .map(|s| s.map(str::to_owned).collect())
            .unwrap_or_default();
        if let Some(seg) = segs.iter().rev().find(|s| {
            let n = crate::normalize(s);
            crate::engine::analyze(&n).iter().any(|h| h.ok)
        }) {
            numbers.push(seg.clone());
        }
    }
    if numbers.is_empty() {
        return None;
    }
    Some(LinkNumbers { carriers, numbers })
}

/// Every query value, fragment value and path segment of any http(s) URL:
/// a fallback for links of sites we do not know (shop tracking pages).
pub(crate) fn url_parts(raw: &str) -> Vec<String> {
    let Ok(url) = Url::parse(&raw.trim().replace("&amp;", "&")) else {
        return Vec::new();
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Vec::new();
    }
    let mut out: Vec<String> = url.query_pairs().map(|(_, v)| v.into_owned()).collect();
    if let Some(f) = url.fragment() {
        out.extend(fragment_pairs(f).into_iter().map(|(_, v)| v));
    }
    if let Some(segs) = url.path_segments() {
        out.extend(segs.rev().map(str::to_owned));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_suffix_matching() {
        assert!(site_for("www.ups.com").is_some());
        assert!(site_for("wwwapps.ups.com").is_some());
        assert!(site_for("notups.com").is_none());
        assert!(site_for("ups.com.evil.example").is_none());
    }

    #[test]
    fn seventeen_track_fragment() {
        let l =
            parse_link("https://t.17track.net/en#nums=1Z5R89390357567127,RB123456785GB").unwrap();
        assert!(l.carriers.is_empty());
        assert_eq!(l.numbers, vec!["1Z5R89390357567127", "RB123456785GB"]);
    }

    #[test]
    fn scheme_less_and_html_escaped() {
        let l = parse_link("ups.com/track?loc=en_US&amp;tracknum=1Z5R89390357567127").unwrap();
        assert_eq!(l.carriers, &["ups"]);
        assert_eq!(l.numbers, vec!["1Z5R89390357567127"]);
        assert!(parse_link("not a link. really").is_none());
        assert!(parse_link("https://example.com/?tracknum=1Z5R89390357567127").is_none());
    }
}
