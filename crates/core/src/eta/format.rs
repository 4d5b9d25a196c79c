//! Words for an estimate.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use super::Estimate;

/// Describes an estimate for people, in local time `tz` as seen at `now`.
///
/// - A window within one local day: `"Thu 2 May, likely by 14:00 (80%)"` (the likely time
///   rounded up to the hour, or to the quarter hour when the window is at most two hours
///   wide, as a courier's delivery slot is), or `"today, likely by 14:00 (90%)"`,
///   `"tomorrow, …"`.
/// - Several days, starting tomorrow or later and ending within a week: `"in 2–4 days, likely
///   Fri 3 May (80%)"`.
/// - Starting today: `"by Mon 6 May, likely Fri 3 May (80%)"`.
/// - Otherwise the dates: `"Thu 2 – Mon 6 May, likely Fri 3 May (80%)"`.
///
/// A year is shown when it differs from `now`'s.
pub fn describe(est: &Estimate, now: DateTime<Utc>, tz: Tz) -> String {
    let date = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let today = date(now);
    let (first, last, likely) = (date(est.earliest), date(est.latest), date(est.likely));
    let pct = format!("({:.0}%)", (est.confidence.clamp(0.0, 1.0) * 100.0).round());
    if first == last {
        return format!(
            "{}, likely by {} {pct}",
            relative_day(first, today),
            rounded_up(est.likely, tz, grain(est))
        );
    }
    let likely = day(likely, today);
    let (a, b) = ((first - today).num_days(), (last - today).num_days());
    if a >= 1 && b <= 7 {
        format!("in {a}–{b} days, likely {likely} {pct}")
    } else if a <= 0 {
        format!("by {}, likely {likely} {pct}", day(last, today))
    } else {
        format!("{}, likely {likely} {pct}", range(first, last, today))
    }
}

/// The likely delivery alone, as precise as the window is: `"today, by 14:15"` when the window
/// lies within one local day (rounded up as in [`describe`]), else the day, `"Fri 3 May"`.
pub fn describe_likely(est: &Estimate, now: DateTime<Utc>, tz: Tz) -> String {
    let date = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let today = date(now);
    let likely = date(est.likely);
    if date(est.earliest) != date(est.latest) {
        return day(likely, today);
    }
    format!(
        "{}, by {}",
        relative_day(likely, today),
        rounded_up(est.likely, tz, grain(est))
    )
}

/// The likely time of a window within one day, as [`describe`] writes it (`14:15`, rounded up
/// to the quarter hour for a delivery slot, else to the hour): for other languages' wording.
pub fn likely_clock(est: &Estimate, tz: Tz) -> String {
    rounded_up(est.likely, tz, grain(est))
}

/// `today`, `tomorrow`, or the day.
fn relative_day(d: NaiveDate, today: NaiveDate) -> String {
    match (d - today).num_days() {
        0 => "today".to_owned(),
        1 => "tomorrow".to_owned(),
        _ => day(d, today),
    }
}

/// Minutes to round a same-day likely time up to: see [`NARROW`].
fn grain(est: &Estimate) -> u32 {
    if est.latest - est.earliest <= NARROW {
        15
    } else {
        60
    }
}

/// `Thu 2 May`, with the year when it is not this year's.
fn day(d: NaiveDate, today: NaiveDate) -> String {
    if d.year() == today.year() {
        d.format("%a %-d %b").to_string()
    } else {
        d.format("%a %-d %b %Y").to_string()
    }
}

/// `Thu 2 – Mon 6 May`, `Thu 30 Apr – Mon 4 May`, or with years when they differ.
fn range(a: NaiveDate, b: NaiveDate, today: NaiveDate) -> String {
    if a.year() != b.year() {
        format!(
            "{} – {}",
            a.format("%a %-d %b %Y"),
            b.format("%a %-d %b %Y")
        )
    } else if a.month() != b.month() {
        format!("{} – {}", a.format("%a %-d %b"), day(b, today))
    } else {
        format!("{} – {}", a.format("%a %-d"), day(b, today))
    }
}

/// Windows up to this wide are a delivery slot, and their likely time is given to the
/// quarter hour; wider ones to the hour, which is as precise as they are.
const NARROW: Duration = Duration::hours(2);

/// The local time rounded up to a multiple of `grain` minutes (`14:00`, `14:15`), or `23:59`
/// at the day's end.
fn rounded_up(t: DateTime<Utc>, tz: Tz, grain: u32) -> String {
    let local = t.with_timezone(&tz);
    let past = local.minute() % grain;
    let up = if past == 0 && local.second() == 0 && local.nanosecond() == 0 {
        local.naive_local()
    } else {
        let start = local.naive_local() - Duration::minutes(i64::from(past));
        start
            .with_second(0)
            .and_then(|s| s.with_nanosecond(0))
            .unwrap_or(start)
            + Duration::minutes(i64::from(grain))
    };
    if up.date() != local.date_naive() {
        "23:59".to_owned()
    } else {
        format!("{:02}:{:02}", up.hour(), up.minute())
    }
}

#[cfg(test)]
mod tests {
    use super::super::EtaSource;
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn est(e: DateTime<Utc>, l: DateTime<Utc>, likely: DateTime<Utc>) -> Estimate {
        Estimate {
            earliest: e,
            likely,
            latest: l,
            confidence: 0.8,
            source: EtaSource::History,
        }
    }

    #[test]
    fn same_day_and_multi_day_wording() {
        let tz = Tz::UTC;
        let now = at(2024, 4, 29, 9, 0); // Monday
        let same = est(
            at(2024, 5, 2, 0, 0),
            at(2024, 5, 2, 23, 59),
            at(2024, 5, 2, 13, 20),
        );
        assert_eq!(describe(&same, now, tz), "Thu 2 May, likely by 14:00 (80%)");
        let soon = est(
            at(2024, 5, 1, 0, 0),
            at(2024, 5, 3, 23, 59),
            at(2024, 5, 2, 12, 0),
        );
        assert_eq!(
            describe(&soon, now, tz),
            "in 2–4 days, likely Thu 2 May (80%)"
        );
        let from_today = est(now, at(2024, 5, 6, 23, 59), at(2024, 5, 2, 12, 0));
        assert_eq!(
            describe(&from_today, now, tz),
            "by Mon 6 May, likely Thu 2 May (80%)"
        );
        let later = est(
            at(2024, 5, 9, 0, 0),
            at(2024, 5, 13, 23, 59),
            at(2024, 5, 10, 9, 0),
        );
        assert_eq!(
            describe(&later, now, tz),
            "Thu 9 – Mon 13 May, likely Fri 10 May (80%)"
        );
        let across = est(
            at(2024, 5, 30, 0, 0),
            at(2024, 6, 3, 23, 59),
            at(2024, 5, 31, 9, 0),
        );
        assert_eq!(
            describe(&across, now, tz),
            "Thu 30 May – Mon 3 Jun, likely Fri 31 May (80%)"
        );
    }

    #[test]
    fn a_delivery_slot_is_given_to_the_quarter_hour() {
        let now = at(2024, 5, 2, 9, 0);
        let today = |h, m| at(2024, 5, 2, h, m);
        // (earliest, latest, likely, words)
        let cases = [
            // A two-hour slot: to the quarter hour.
            (today(13, 0), today(15, 0), today(14, 5), "14:15"),
            (today(13, 0), today(15, 0), today(14, 30), "14:30"),
            // Seconds past a quarter round up too.
            (
                today(13, 0),
                today(15, 0),
                today(14, 15) + Duration::seconds(20),
                "14:30",
            ),
            // Rounding up past midnight stays on the day.
            (today(22, 0), today(23, 55), today(23, 50), "23:59"),
            // Just wider than a slot: to the hour.
            (today(13, 0), today(15, 1), today(14, 5), "15:00"),
        ];
        for (earliest, latest, likely, by) in cases {
            assert_eq!(
                describe(&est(earliest, latest, likely), now, Tz::UTC),
                format!("today, likely by {by} (80%)"),
                "{earliest} – {latest}, likely {likely}"
            );
        }
    }

    #[test]
    fn local_time_decides_the_day() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let now = at(2024, 5, 1, 12, 0);
        // 02:00 UTC on 3 May is 22:00 on 2 May in New York.
        let e = est(
            at(2024, 5, 2, 14, 0),
            at(2024, 5, 3, 2, 0),
            at(2024, 5, 2, 20, 30),
        );
        assert_eq!(describe(&e, now, tz), "tomorrow, likely by 17:00 (80%)");
    }

    #[test]
    fn the_likely_delivery_alone_is_as_precise_as_its_window() {
        let now = at(2024, 4, 29, 9, 0); // Monday
        let cases = [
            // Within a day: rounded up as the headline does, never to the minute.
            (
                at(2024, 4, 29, 13, 0),
                at(2024, 4, 29, 15, 0),
                at(2024, 4, 29, 14, 5),
                "today, by 14:15",
            ),
            (
                at(2024, 4, 30, 8, 0),
                at(2024, 4, 30, 18, 0),
                at(2024, 4, 30, 13, 20),
                "tomorrow, by 14:00",
            ),
            (
                at(2024, 5, 2, 0, 0),
                at(2024, 5, 2, 23, 59),
                at(2024, 5, 2, 13, 20),
                "Thu 2 May, by 14:00",
            ),
            // Over days: the day, not a time of day the window cannot vouch for.
            (
                at(2024, 5, 1, 0, 0),
                at(2024, 5, 10, 23, 59),
                at(2024, 5, 2, 23, 57),
                "Thu 2 May",
            ),
            (
                at(2024, 12, 30, 0, 0),
                at(2025, 1, 3, 0, 0),
                at(2025, 1, 2, 11, 0),
                "Thu 2 Jan 2025",
            ),
        ];
        for (earliest, latest, likely, words) in cases {
            assert_eq!(
                describe_likely(&est(earliest, latest, likely), now, Tz::UTC),
                words,
                "{earliest} – {latest}, likely {likely}"
            );
        }
    }
}
