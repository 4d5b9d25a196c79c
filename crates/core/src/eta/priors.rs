//! Cold-start transit priors from carriers' published service standards.
//!
//! Each entry is the range of business days a carrier *publishes* for a service (a target, not
//! a measurement; published standards are missed now and then, especially in peak season). The
//! range becomes a log-normal distribution of transit in business days whose 10th percentile is
//! a little under the fast end and whose 90th percentile is a little over the slow end (large
//! carriers report meeting their standards roughly 90 % of the time), so the window this prior
//! gives is somewhat wider than the published range: a deliberate allowance for the targets
//! being missed. A prior only matters until history exists; it
//! counts as [`super::ModelConfig::prior_weight`] deliveries in the back-off.
//!
//! Sources (each carrier's own service descriptions, as published in 2024–2025):
//! - USPS service standards: Priority Mail Express 1–2 days, Priority Mail 1–3 business days,
//!   USPS Ground Advantage 2–5 business days, First-Class Mail 1–5 days, Media Mail 2–8 days.
//! - UPS service guide: Next Day Air 1, 2nd Day Air 2, 3 Day Select 3, UPS Ground 1–5
//!   business days (by distance), Worldwide Express/Saver 1–3 business days.
//! - FedEx service guide: Overnight services 1, 2Day 2, Express Saver 3, Ground and Home
//!   Delivery 1–5 business days, International Priority 1–3, International Economy 2–5.
//! - DHL Express: international time-definite delivery, 2–5 business days for most lanes.
//! - DHL eCommerce (US): SmartMail/Parcel Ground 2–8 business days.
//! - Deutsche Post / DHL Paket (Germany): 1–2 working days (most parcels the next working day).
//! - Royal Mail: 1st Class 1–2 working days (target next working day), 2nd Class 2–3,
//!   Special Delivery Guaranteed next working day, Tracked 24 1–2, Tracked 48 2–3.
//! - Evri: 2–3 working days (standard), DPD (Germany/UK next-day networks) 1–2 working days,
//!   GLS Business Parcel 1–3 working days in its European network, PostNL parcels 1–2 working
//!   days within the Netherlands.
//! - Canada Post: Priority 1–2, Xpresspost 1–3, Expedited/Regular Parcel 2–9 business days.
//! - Australia Post: Express Post 1–3 business days, Parcel Post 2–6 business days.
//! - Cross-border e-commerce carriers (China Post ePacket, Cainiao/AliExpress Standard,
//!   YunExpress, 4PX): 7–20 business days as advertised by the services; these are marketing
//!   ranges rather than service standards.
//! - Anything else (an unknown carrier or service): 2–8 business days, a deliberately vague
//!   default that history replaces quickly.

use std::sync::LazyLock;

use super::hist::{Hist, TRANSIT};

/// One published standard: carrier id (as in `parceltrail-detect`), a lower-case keyword the
/// service name must contain (`""`: any service), and the business-day range.
struct Standard {
    carrier: &'static str,
    service: &'static str,
    lo: f64,
    hi: f64,
}

const fn s(carrier: &'static str, service: &'static str, lo: f64, hi: f64) -> Standard {
    Standard {
        carrier,
        service,
        lo,
        hi,
    }
}

/// Most specific first within a carrier: the first entry whose keyword matches wins.
const STANDARDS: &[Standard] = &[
    s("usps", "express", 1.0, 2.0),
    s("usps", "priority", 1.0, 3.0),
    s("usps", "ground advantage", 2.0, 5.0),
    s("usps", "first", 1.0, 5.0),
    s("usps", "media", 2.0, 8.0),
    s("usps", "", 2.0, 5.0),
    s("ups", "next day", 1.0, 1.0),
    s("ups", "2nd day", 2.0, 2.0),
    s("ups", "second day", 2.0, 2.0),
    s("ups", "3 day", 3.0, 3.0),
    s("ups", "third day", 3.0, 3.0),
    s("ups", "worldwide", 1.0, 3.0),
    s("ups", "ground", 1.0, 5.0),
    s("ups", "", 1.0, 5.0),
    s("fedex", "overnight", 1.0, 1.0),
    s("fedex", "2day", 2.0, 2.0),
    s("fedex", "2 day", 2.0, 2.0),
    s("fedex", "express saver", 3.0, 3.0),
    s("fedex", "international priority", 1.0, 3.0),
    s("fedex", "international economy", 2.0, 5.0),
    s("fedex", "ground", 1.0, 5.0),
    s("fedex", "home", 1.0, 5.0),
    s("fedex", "", 1.0, 5.0),
    s("dhl", "", 2.0, 5.0),
    s("dhl-ecommerce", "", 2.0, 8.0),
    s("deutsche-post", "", 1.0, 2.0),
    s("royal-mail", "special", 1.0, 1.0),
    s("royal-mail", "2nd", 2.0, 3.0),
    s("royal-mail", "48", 2.0, 3.0),
    s("royal-mail", "", 1.0, 2.0),
    s("evri", "", 2.0, 3.0),
    s("dpd", "", 1.0, 2.0),
    s("gls", "", 1.0, 3.0),
    s("postnl", "", 1.0, 2.0),
    s("canada-post", "priority", 1.0, 2.0),
    s("canada-post", "xpresspost", 1.0, 3.0),
    s("canada-post", "", 2.0, 9.0),
    s("australia-post", "express", 1.0, 3.0),
    s("australia-post", "", 2.0, 6.0),
    s("china-post", "", 7.0, 20.0),
    s("cainiao", "", 7.0, 20.0),
    s("yunexpress", "", 7.0, 20.0),
    s("4px", "", 7.0, 20.0),
];

/// The default for anything unknown.
const GENERIC: Standard = s("", "", 2.0, 8.0);

/// The prior histograms, built once: one per entry of `STANDARDS`, then the generic one.
static HISTS: LazyLock<Vec<Hist>> = LazyLock::new(|| {
    STANDARDS
        .iter()
        .chain(std::iter::once(&GENERIC))
        .map(|st| {
            let (mu, sigma) = lognormal_for(st.lo, st.hi);
            Hist::from_cdf(TRANSIT, |x| {
                if x <= 0.0 {
                    0.0
                } else {
                    normal_cdf((x.ln() - mu) / sigma)
                }
            })
        })
        .collect()
});

/// The business-day range read as a log-normal: 10th percentile at `lo - 0.3`, 90th at
/// `hi + 0.3` (a delivery on the k-th business day is about k business days of transit
/// when shipped and delivered at the same time of day).
fn lognormal_for(lo: f64, hi: f64) -> (f64, f64) {
    const Z10: f64 = -1.281_551_6;
    const Z90: f64 = 1.281_551_6;
    let (a, b) = ((lo - 0.3).max(0.2).ln(), (hi + 0.3).ln());
    let sigma = ((b - a) / (Z90 - Z10)).max(0.1);
    let mu = a - Z10 * sigma;
    (mu, sigma)
}

/// Standard normal CDF (Abramowitz & Stegun 7.1.26 for erf, error < 1.5e-7).
pub(crate) fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Whether `hay` contains the lower-case ASCII `needle`, ignoring ASCII case.
fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    needle.is_empty()
        || hay
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The prior for a carrier and service, and whether it is carrier-specific (not the generic
/// default).
pub(crate) fn prior(carrier: &str, service: &str) -> (&'static Hist, bool) {
    let found = STANDARDS.iter().position(|st| {
        st.carrier.eq_ignore_ascii_case(carrier) && contains_ignore_case(service, st.service)
    });
    match found {
        Some(i) => (&HISTS[i], true),
        None => (&HISTS[STANDARDS.len()], false),
    }
}

#[cfg(test)]
mod tests {
    use super::super::hist::Mix;
    use super::*;

    #[test]
    fn priors_follow_the_published_ranges() {
        let (h, specific) = prior("usps", "Priority Mail");
        assert!(specific);
        let m = Mix::of(h);
        let (q10, q50, q90) = (
            m.quantile(TRANSIT, 0.10),
            m.quantile(TRANSIT, 0.5),
            m.quantile(TRANSIT, 0.90),
        );
        assert!((q10 - 0.7).abs() < 0.05, "{q10}");
        assert!((q90 - 3.3).abs() < 0.05, "{q90}");
        assert!(q50 > 1.2 && q50 < 2.2, "{q50}");
        let (g, specific) = prior("someone", "");
        assert!(!specific);
        assert!(Mix::of(g).quantile(TRANSIT, 0.5) > q50);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
    }
}
