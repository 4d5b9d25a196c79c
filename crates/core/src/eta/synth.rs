//! Synthetic deliveries from a known generating distribution, for testing and tuning the
//! model with [`super::eval`].
//!
//! Two profiles:
//!
//! - [`Profile::Mixed`]: parcel carriers in the US, Germany, the UK and the Netherlands, each
//!   lane (carrier, service, origin → destination) with its own log-normal transit in business
//!   days (weekends and the destination country's holidays skipped), 4 % of parcels delayed
//!   by an extra exponential tail, a peak-season slowdown from 20 November to Christmas, and
//!   a store promise of about twice the lane's median (with noise) on 85 % of rows. UTC
//!   timestamps.
//! - [`Profile::Marketplace`]: shaped like a large Brazilian marketplace's orders (the public
//!   Olist data): no carrier, 27 destination states with very different transit (median about
//!   10 calendar days overall, heavy right tail, seller handling time first), a per-order
//!   distance within the state that both the transit and the store's promise scale with (so
//!   the promise is the informative per-order field, as in the real data), a speed that
//!   drifts over months besides slow periods (after Black Friday, February–March, a May
//!   strike), and a store promise of about twice the order's median in calendar days, so
//!   the store is early by ~11 days on average and late ~7 % of the time (as the real data's
//!   promises are). Local `YYYY-MM-DD HH:MM:SS` times in America/Sao_Paulo;
//!   the state is in a `customer_state` column the evaluation ignores by default; 2 % of
//!   orders are never delivered (empty `delivered_at`).

use std::io::Write;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::calendar::{BusinessCalendar, local_date, local_to_utc};

/// Which world to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Several carriers, services and lanes with known keys.
    #[default]
    Mixed,
    /// A marketplace without carrier data (Olist-like).
    Marketplace,
}

/// The most rows [`write_csv`] is asked for: it holds every row to sort them (about 120
/// bytes each), and [`crate::eta::eval`] holds them again.
pub const MAX_ROWS: usize = 1_000_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Data rows (at most [`MAX_ROWS`]).
    pub rows: usize,
    /// Random seed (same seed, same file, for a given build).
    pub seed: u64,
    /// Which world.
    pub profile: Profile,
}

/// One lane of the mixed profile.
struct Lane {
    carrier: &'static str,
    service: &'static str,
    origin: &'static str,
    destination: &'static str,
    country: &'static str,
    /// Median transit, business days.
    median: f64,
    /// Log-normal shape.
    sigma: f64,
    /// Share of traffic (relative).
    weight: f64,
}

const fn lane(
    carrier: &'static str,
    service: &'static str,
    route: (&'static str, &'static str, &'static str),
    median: f64,
    sigma: f64,
    weight: f64,
) -> Lane {
    Lane {
        carrier,
        service,
        origin: route.0,
        destination: route.1,
        country: route.2,
        median,
        sigma,
        weight,
    }
}

const LANES: &[Lane] = &[
    lane("ups", "Ground", ("US-E", "US-E", "US"), 1.8, 0.35, 10.0),
    lane("ups", "Ground", ("US-E", "US-W", "US"), 4.2, 0.25, 6.0),
    lane("ups", "2nd Day Air", ("US-W", "US-E", "US"), 1.9, 0.15, 2.0),
    lane(
        "usps",
        "Priority Mail",
        ("US-W", "US-E", "US"),
        2.4,
        0.40,
        7.0,
    ),
    lane(
        "usps",
        "Ground Advantage",
        ("US-E", "US-W", "US"),
        4.0,
        0.35,
        8.0,
    ),
    lane(
        "usps",
        "Ground Advantage",
        ("US-W", "US-W", "US"),
        2.6,
        0.40,
        6.0,
    ),
    lane(
        "fedex",
        "Home Delivery",
        ("US-W", "US-W", "US"),
        1.6,
        0.35,
        6.0,
    ),
    lane(
        "dhl",
        "Express Worldwide",
        ("DE", "US-E", "US"),
        3.2,
        0.30,
        3.0,
    ),
    lane(
        "deutsche-post",
        "Paket",
        ("DE", "DE", "DE"),
        1.3,
        0.35,
        12.0,
    ),
    lane(
        "royal-mail",
        "Tracked 48",
        ("GB", "GB", "GB"),
        2.2,
        0.35,
        6.0,
    ),
    lane("evri", "Standard", ("GB", "GB", "GB"), 3.0, 0.45, 5.0),
    lane("postnl", "Pakket", ("NL", "NL", "NL"), 1.2, 0.30, 4.0),
];

/// Brazilian states: (code, share of orders in %, mean calendar days from order to delivery,
/// mean calendar days the store promises). Magnitudes follow published summaries of the
/// public Olist orders (São Paulo fast and promised ~2x, the North slow, some north-eastern
/// states promised with little margin).
const STATES: &[(&str, f64, f64, f64)] = &[
    ("SP", 42.0, 8.7, 18.8),
    ("RJ", 13.0, 15.2, 26.6),
    ("MG", 11.7, 11.9, 24.6),
    ("RS", 5.5, 15.2, 28.6),
    ("PR", 5.1, 11.9, 24.4),
    ("SC", 3.7, 14.9, 25.9),
    ("BA", 3.4, 19.2, 29.4),
    ("DF", 2.1, 12.9, 24.5),
    ("ES", 2.0, 15.7, 25.7),
    ("GO", 2.0, 15.5, 26.9),
    ("PE", 1.7, 18.4, 32.3),
    ("CE", 1.3, 21.2, 31.4),
    ("PA", 1.0, 23.7, 37.7),
    ("MT", 0.9, 18.0, 31.6),
    ("MA", 0.75, 21.5, 30.8),
    ("MS", 0.7, 15.5, 25.9),
    ("PB", 0.5, 20.4, 32.8),
    ("PI", 0.5, 19.4, 30.0),
    ("RN", 0.5, 19.2, 32.7),
    ("AL", 0.4, 24.5, 32.4),
    ("SE", 0.35, 21.5, 31.1),
    ("TO", 0.3, 17.6, 30.0),
    ("RO", 0.25, 19.3, 39.1),
    ("AM", 0.15, 26.4, 45.3),
    ("AC", 0.08, 21.0, 40.4),
    ("AP", 0.07, 27.2, 46.1),
    ("RR", 0.05, 29.3, 45.6),
];

fn normal(rng: &mut StdRng) -> f64 {
    // Box–Muller: enough for a generator, no extra dependency.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * rng.random::<f64>().max(1e-12).ln()
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T], weight: impl Fn(&T) -> f64) -> &'a T {
    let total: f64 = items.iter().map(&weight).sum();
    let mut r = rng.random::<f64>() * total;
    for it in items {
        r -= weight(it);
        if r <= 0.0 {
            return it;
        }
    }
    &items[items.len() - 1]
}

fn in_range(d: NaiveDate, from: (i32, u32, u32), to: (i32, u32, u32)) -> bool {
    let f = NaiveDate::from_ymd_opt(from.0, from.1, from.2).expect("valid date");
    let t = NaiveDate::from_ymd_opt(to.0, to.1, to.2).expect("valid date");
    (f..=t).contains(&d)
}

/// A delivery moment on business day `date`: mid-afternoon on average, 08:00–21:00.
fn delivery_time(rng: &mut StdRng, date: NaiveDate, after: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let hours = (14.5 + 2.5 * normal(rng)).clamp(8.0, 21.0);
    let t = local_to_utc(
        date.and_time(NaiveTime::MIN) + Duration::seconds((hours * 3600.0) as i64),
        tz,
    );
    if t > after {
        t
    } else {
        after + Duration::minutes(rng.random_range(30..240))
    }
}

/// One generated row.
struct Out {
    shipped: DateTime<Utc>,
    delivered: Option<DateTime<Utc>>,
    promised: Option<NaiveDate>,
    fields: [&'static str; 5],
}

/// Writes the CSV; returns the number of data rows.
pub fn write_csv<W: Write>(out: W, opts: &SynthOptions) -> Result<u64, csv::Error> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut rows: Vec<Out> = (0..opts.rows)
        .map(|_| match opts.profile {
            Profile::Mixed => mixed_row(&mut rng),
            Profile::Marketplace => marketplace_row(&mut rng),
        })
        .collect();
    rows.sort_by_key(|r| r.shipped);
    let mut w = csv::Writer::from_writer(out);
    match opts.profile {
        Profile::Mixed => {
            w.write_record([
                "shipped_at",
                "delivered_at",
                "estimated_at",
                "carrier",
                "service",
                "origin",
                "destination",
                "dest_country",
            ])?;
            for r in &rows {
                let [carrier, service, origin, destination, country] = r.fields;
                w.write_record([
                    r.shipped.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    r.delivered
                        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default(),
                    r.promised.map(|d| d.to_string()).unwrap_or_default(),
                    carrier.into(),
                    service.into(),
                    origin.into(),
                    destination.into(),
                    country.into(),
                ])?;
            }
        }
        Profile::Marketplace => {
            let tz = marketplace_tz();
            let local =
                |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string();
            w.write_record([
                "order_id",
                "order_status",
                "shipped_at",
                "delivered_at",
                "estimated_at",
                "customer_state",
            ])?;
            for (i, r) in rows.iter().enumerate() {
                w.write_record([
                    format!("o{i:07}"),
                    if r.delivered.is_some() {
                        "delivered"
                    } else {
                        "canceled"
                    }
                    .to_owned(),
                    local(r.shipped),
                    r.delivered.map(local).unwrap_or_default(),
                    r.promised
                        .map(|d| format!("{d} 00:00:00"))
                        .unwrap_or_default(),
                    r.fields[3].to_owned(),
                ])?;
            }
        }
    }
    w.flush()?;
    Ok(rows.len() as u64)
}

/// The marketplace profile's zone.
pub fn marketplace_tz() -> Tz {
    chrono_tz::America::Sao_Paulo
}

fn mixed_row(rng: &mut StdRng) -> Out {
    let lane = pick(rng, LANES, |l| l.weight);
    let cal = BusinessCalendar::for_country(Some(lane.country));
    let first = NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date");
    // Shipments mostly on business days, during the day, over 18 months.
    let mut date = first + Duration::days(rng.random_range(0..540));
    for _ in 0..4 {
        if cal.is_business_day(date) || rng.random::<f64>() < 0.2 {
            break;
        }
        date = first + Duration::days(rng.random_range(0..540));
    }
    let shipped = local_to_utc(
        date.and_time(NaiveTime::MIN) + Duration::minutes(rng.random_range(8 * 60..20 * 60)),
        Tz::UTC,
    );
    let peak = if in_range(date, (date.year(), 11, 20), (date.year(), 12, 24)) {
        1.3
    } else {
        1.0
    };
    let mut transit = lane.median * (lane.sigma * normal(rng)).exp() * peak;
    if rng.random::<f64>() < 0.04 {
        transit += exponential(rng, 3.0);
    }
    let day = cal.date_of(cal.clock(shipped, Tz::UTC) + transit);
    let delivered = delivery_time(rng, day, shipped, Tz::UTC);
    let promised = (rng.random::<f64>() < 0.85).then(|| {
        let days = (2.0 * lane.median * (0.15 * normal(rng)).exp())
            .ceil()
            .max(1.0);
        cal.add_business_days(date, days as u32)
    });
    Out {
        shipped,
        delivered: Some(delivered),
        promised,
        fields: [
            lane.carrier,
            lane.service,
            lane.origin,
            lane.destination,
            lane.country,
        ],
    }
}

fn marketplace_row(rng: &mut StdRng) -> Out {
    let tz = marketplace_tz();
    let cal = BusinessCalendar::for_country(Some("BR"));
    let (state, _, mean_days, promise_mean) = *pick(rng, STATES, |s| s.1);
    // Orders from October 2016 to August 2018, volume growing over time.
    let first = NaiveDate::from_ymd_opt(2016, 10, 1).expect("valid date");
    let span = 700.0;
    // Density proportional to (A + t) on t in [0, 1]: invert its CDF.
    const A: f64 = 0.25;
    let u: f64 = rng.random();
    let t = (A * A + u * ((A + 1.0) * (A + 1.0) - A * A)).sqrt() - A;
    let offset = span * t;
    let date = first + Duration::days(offset.clamp(0.0, span - 1.0) as i64);
    let secs = rng.random_range(0..86_400);
    let shipped = local_to_utc(date.and_time(NaiveTime::MIN) + Duration::seconds(secs), tz);

    // Slow periods (after Black Friday, February–March, a May strike) are slower for everyone
    // and delay many more parcels badly: lateness comes in clusters.
    let (slow, tail) = if in_range(date, (2017, 11, 24), (2017, 12, 20)) {
        (1.35, 0.22)
    } else if in_range(date, (2018, 2, 15), (2018, 3, 31)) {
        (1.3, 0.22)
    } else if in_range(date, (2018, 5, 20), (2018, 6, 5)) {
        (1.6, 0.3)
    } else if date.year() == 2018 && date.month() >= 6 {
        (0.9, 0.03)
    } else {
        (1.0, 0.03)
    };
    // Drift between the slow periods: carriers' speed wanders over months (about ±25 %), so
    // what was learned a season ago misleads, and the promise (set from long-run state
    // averages) does not follow.
    let phase = offset / 110.0 * std::f64::consts::TAU;
    let slow = slow * (1.0 + 0.25 * phase.sin() + 0.1 * (2.3 * phase + 1.0).sin());
    // Seller handling, then the carrier; medians in business days (the mean is about 1.3x
    // the median with this tail).
    let median_bd = mean_days / 1.3 * 5.0 / 7.0;
    // How far this seller is from this customer within the state (the real data's orders to
    // one state range from next-day to weeks): the store knows it and promises accordingly,
    // so the promise carries most of the per-order information.
    let reach = (0.45 * normal(rng)).exp();
    let handling = 1.2 * (0.6 * normal(rng)).exp();
    let shipping = (median_bd - 1.2).max(1.0) * reach * (0.3 * normal(rng)).exp() * slow;
    let mut transit = handling + shipping;
    if rng.random::<f64>() < tail {
        transit += exponential(rng, 8.0);
    }
    let delivered = (rng.random::<f64>() >= 0.02).then(|| {
        let day = cal.date_of(cal.clock(shipped, tz) + transit);
        delivery_time(rng, day, shipped, tz)
    });
    // The store's promise: its state average (longer in 2017), with noise, in calendar days;
    // late on about 7 % of orders, most of them in the slow periods.
    let era = if date.year() <= 2017 { 0.92 } else { 0.82 };
    let promise_days = (promise_mean * era * reach * (0.15 * normal(rng)).exp()).round() as i64
        + rng.random_range(-1..2);
    let promised = local_date(shipped, tz) + Duration::days(promise_days.max(2));
    Out {
        shipped,
        delivered,
        promised: Some(promised),
        fields: ["", "", "", state, "BR"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_file() {
        let gen_ = |seed| {
            let mut v = Vec::new();
            write_csv(
                &mut v,
                &SynthOptions {
                    rows: 200,
                    seed,
                    profile: Profile::Mixed,
                },
            )
            .unwrap();
            v
        };
        assert_eq!(gen_(7), gen_(7));
        assert_ne!(gen_(7), gen_(8));
    }
}
