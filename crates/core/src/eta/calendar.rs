//! Business days: weekends and the destination country's public holidays, and a "business
//! clock" that measures transit in business days.
//!
//! # Holiday data
//!
//! Holidays come from the [`holidays-rs`](https://crates.io/crates/holidays-rs) crate (0.5,
//! Apache-2.0, no dependencies). Its calendars are *rules* (fixed dates, Easter offsets,
//! n-th weekdays, weekend substitution, years in force), derived from and checked against
//! Python's `holidays` package (MIT), so they are right for any year, past or future. It covers
//! national holidays of about 100 countries, among them BR, US, DE, GB, FR, NL, CA and AU;
//! regional holidays (a German Land, a US state, a Brazilian state) are not included, so a
//! regional holiday counts as a business day.
//!
//! The crate named `holidays` on crates.io (a port of Python's package) was considered first and
//! rejected: its single release (0.1.0, 2023) is a generated table that stops at 2023, its
//! crates.io licence is "unknown" (an MIT file is bundled) and it is 6.8 MB of source.
//!
//! `holidays-rs` resolves a whole year on every query, so each country's calendar is expanded
//! once, lazily, into a table of business-day counts for 1900–2199 (about 0.5 MB per country
//! used); lookups are then an array index and a binary search.

use std::sync::{LazyLock, OnceLock};

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;
use holidays_rs::{Calendar, Country};

/// First day covered by the tables.
const FIRST_YEAR: i32 = 1900;
/// One past the last year covered.
const END_YEAR: i32 = 2200;
const SECS_PER_DAY: f64 = 86_400.0;

/// ISO 3166-1 alpha-2 codes of the countries `holidays-rs` knows.
const CODES: &[(&str, Country)] = &[
    ("ID", Country::Indonesia),
    ("US", Country::UnitedStates),
    ("GB", Country::UnitedKingdom),
    ("DE", Country::Germany),
    ("FR", Country::France),
    ("NL", Country::Netherlands),
    ("ES", Country::Spain),
    ("IT", Country::Italy),
    ("PT", Country::Portugal),
    ("BE", Country::Belgium),
    ("AT", Country::Austria),
    ("PL", Country::Poland),
    ("SE", Country::Sweden),
    ("NO", Country::Norway),
    ("DK", Country::Denmark),
    ("FI", Country::Finland),
    ("IE", Country::Ireland),
    ("CA", Country::Canada),
    ("NZ", Country::NewZealand),
    ("CZ", Country::Czechia),
    ("SK", Country::Slovakia),
    ("HR", Country::Croatia),
    ("SI", Country::Slovenia),
    ("EE", Country::Estonia),
    ("LT", Country::Lithuania),
    ("LU", Country::Luxembourg),
    ("IS", Country::Iceland),
    ("CY", Country::Cyprus),
    ("MT", Country::Malta),
    ("GR", Country::Greece),
    ("RO", Country::Romania),
    ("MX", Country::Mexico),
    ("LV", Country::Latvia),
    ("BR", Country::Brazil),
    ("SV", Country::ElSalvador),
    ("NI", Country::Nicaragua),
    ("PE", Country::Peru),
    ("AD", Country::Andorra),
    ("CV", Country::CaboVerde),
    ("FO", Country::FaroeIslands),
    ("GL", Country::Greenland),
    ("CH", Country::Switzerland),
    ("PN", Country::PitcairnIslands),
    ("TK", Country::Tokelau),
    ("WS", Country::Samoa),
    ("AU", Country::Australia),
    ("UY", Country::Uruguay),
    ("GF", Country::FrenchGuiana),
    ("BL", Country::SaintBarthelemy),
    ("PM", Country::SaintPierreAndMiquelon),
    ("TF", Country::FrenchSouthernTerritories),
    ("RE", Country::Reunion),
    ("YT", Country::Mayotte),
    ("LR", Country::Liberia),
    ("CG", Country::Congo),
    ("LI", Country::Liechtenstein),
    ("MF", Country::SaintMartin),
    ("NC", Country::NewCaledonia),
    ("MQ", Country::Martinique),
    ("WF", Country::WallisAndFutuna),
    ("GP", Country::Guadeloupe),
    ("PF", Country::FrenchPolynesia),
    ("HT", Country::Haiti),
    ("SJ", Country::SvalbardAndJanMayen),
    ("LS", Country::Lesotho),
    ("JM", Country::Jamaica),
    ("MZ", Country::Mozambique),
    ("LC", Country::SaintLucia),
    ("MC", Country::Monaco),
    ("GQ", Country::EquatorialGuinea),
    ("NU", Country::Niue),
    ("PA", Country::Panama),
    ("NR", Country::Nauru),
    ("CD", Country::DrCongo),
    ("BW", Country::Botswana),
    ("FK", Country::FalklandIslands),
    ("MW", Country::Malawi),
    ("NF", Country::NorfolkIsland),
    ("AS", Country::AmericanSamoa),
    ("GU", Country::Guam),
    ("FM", Country::Micronesia),
    ("MP", Country::NorthernMarianaIslands),
    ("PW", Country::Palau),
    ("ST", Country::SaoTomeAndPrincipe),
    ("UM", Country::UnitedStatesMinorOutlyingIslands),
    ("VI", Country::UnitedStatesVirginIslands),
    ("AW", Country::Aruba),
    ("AX", Country::AlandIslands),
    ("BQ", Country::CaribbeanNetherlands),
    ("CW", Country::Curacao),
    ("NA", Country::Namibia),
    ("SX", Country::SintMaarten),
];

/// Expanded tables, built on first use: slot 0 is "weekends only", slot `i + 1` is `CODES[i]`.
static TABLES: LazyLock<Vec<OnceLock<DayTable>>> =
    LazyLock::new(|| (0..=CODES.len()).map(|_| OnceLock::new()).collect());

/// Business days of one country, day by day.
#[derive(Debug)]
struct DayTable {
    /// `cum[i]`: business days strictly before day `i` (day 0 = 1 January of `FIRST_YEAR`);
    /// one entry longer than the number of days.
    cum: Vec<u32>,
    /// `blocks[k]`: the first day `i` with `cum[i] >= k * BLOCK`, so a search for a business
    /// day only looks at a few weeks of `cum`.
    blocks: Vec<u32>,
}

/// Business days per entry of `DayTable::blocks`.
const BLOCK: u32 = 32;

impl DayTable {
    fn build(country: Option<Country>) -> DayTable {
        let first = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).expect("valid date");
        let end = NaiveDate::from_ymd_opt(END_YEAR, 1, 1).expect("valid date");
        let days = (end - first).num_days() as usize;
        let mut holiday = vec![false; days];
        if let Some(c) = country {
            let cal = Calendar::new(c);
            for year in FIRST_YEAR..END_YEAR {
                for (d, _) in cal.holidays_in(year) {
                    if let Some(nd) = NaiveDate::from_ymd_opt(d.year, d.month.into(), d.day.into())
                    {
                        let i = (nd - first).num_days();
                        if (0..days as i64).contains(&i) {
                            holiday[i as usize] = true;
                        }
                    }
                }
            }
        }
        let mut cum = Vec::with_capacity(days + 1);
        let mut n = 0u32;
        cum.push(0);
        for (i, &hol) in holiday.iter().enumerate() {
            let weekday = (first + Duration::days(i as i64))
                .weekday()
                .number_from_monday();
            if weekday <= 5 && !hol {
                n += 1;
            }
            cum.push(n);
        }
        let mut blocks = Vec::with_capacity(n as usize / BLOCK as usize + 2);
        for (i, &c) in cum.iter().enumerate() {
            while (blocks.len() as u32) * BLOCK <= c {
                blocks.push(i as u32);
            }
        }
        DayTable { cum, blocks }
    }
}

/// The business-day calendar of one destination country (or weekends only).
///
/// Cheap to copy; the day tables are shared process-wide.
#[derive(Clone, Copy)]
pub struct BusinessCalendar {
    table: &'static DayTable,
    code: Option<&'static str>,
}

impl std::fmt::Debug for BusinessCalendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusinessCalendar")
            .field("country", &self.code)
            .finish()
    }
}

impl Default for BusinessCalendar {
    fn default() -> Self {
        Self::weekends_only()
    }
}

fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).expect("valid date")
}

impl BusinessCalendar {
    /// Monday to Friday, no holidays.
    pub fn weekends_only() -> Self {
        BusinessCalendar {
            table: TABLES[0].get_or_init(|| DayTable::build(None)),
            code: None,
        }
    }

    /// The calendar of an ISO 3166-1 alpha-2 country (any case); weekends only for a country
    /// without holiday data (or `None`).
    pub fn for_country(code: Option<&str>) -> Self {
        let Some(code) = code.map(str::trim) else {
            return Self::weekends_only();
        };
        match CODES.iter().position(|(c, _)| c.eq_ignore_ascii_case(code)) {
            Some(i) => BusinessCalendar {
                table: TABLES[i + 1].get_or_init(|| DayTable::build(Some(CODES[i].1))),
                code: Some(CODES[i].0),
            },
            None => Self::weekends_only(),
        }
    }

    /// Whether this country has holiday data (else only weekends are skipped).
    pub fn has_holidays(&self) -> bool {
        self.code.is_some()
    }

    /// Whether there is holiday data for this ISO alpha-2 code.
    pub fn knows(code: &str) -> bool {
        CODES
            .iter()
            .any(|(c, _)| c.eq_ignore_ascii_case(code.trim()))
    }

    fn index(&self, date: NaiveDate) -> usize {
        let i = (date - day0()).num_days();
        i.clamp(0, self.table.cum.len() as i64 - 2) as usize
    }

    /// Whether `date` is a business day (not a weekend, not a public holiday).
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        let i = self.index(date);
        self.table.cum[i + 1] > self.table.cum[i]
    }

    /// Business days strictly before `date`, counted from the table's start.
    fn before(&self, date: NaiveDate) -> f64 {
        f64::from(self.table.cum[self.index(date)])
    }

    /// Business days from `from` to `to` (dates), not counting `from`, counting `to`; 0 when
    /// `to <= from`.
    pub fn business_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        if to <= from {
            return 0;
        }
        let (a, b) = (self.index(from), self.index(to));
        self.table.cum[b + 1] - self.table.cum[a + 1]
    }

    /// The date `n` business days after `date` (0: the date itself if a business day, else
    /// the next business day).
    pub fn add_business_days(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let start = if n == 0 {
            self.before(date)
        } else {
            f64::from(self.table.cum[self.index(date) + 1]) + f64::from(n) - 1.0
        };
        self.date_at(start)
    }

    /// The business day holding business-clock value `x` (whole part).
    fn date_at(&self, x: f64) -> NaiveDate {
        let cum = &self.table.cum;
        let blocks = &self.table.blocks;
        // Counts are whole numbers: compare with the whole part of x.
        let target = x.max(0.0).min(f64::from(u32::MAX - 1)) as u32;
        // First day whose count-before exceeds x; the day before it holds x. It lies between
        // the first days of x's block and of the next one.
        let k = (target / BLOCK) as usize;
        let lo = blocks
            .get(k)
            .map_or(cum.len(), |&i| i as usize)
            .min(cum.len());
        let hi = blocks
            .get(k + 1)
            .map_or(cum.len(), |&i| i as usize + 1)
            .min(cum.len());
        let j = lo + cum[lo..hi].partition_point(|&c| c <= target);
        let d = j.saturating_sub(1).min(cum.len() - 2);
        day0() + Duration::days(d as i64)
    }

    /// The business clock at local date-time `t`: business days since the table's start, with
    /// a business day's fraction growing linearly over its 24 hours and non-business days
    /// standing still. Transit in business days is the difference of two readings.
    pub fn clock_local(&self, t: NaiveDateTime) -> f64 {
        let date = t.date();
        let base = self.before(date);
        if self.is_business_day(date) {
            base + f64::from(t.time().num_seconds_from_midnight()) / SECS_PER_DAY
        } else {
            base
        }
    }

    /// [`Self::clock_local`] of an instant seen in `tz`.
    pub fn clock(&self, t: DateTime<Utc>, tz: Tz) -> f64 {
        self.clock_local(t.with_timezone(&tz).naive_local())
    }

    /// The business clock at the end of local `date` (the start of the next day).
    pub fn clock_end_of(&self, date: NaiveDate) -> f64 {
        let i = self.index(date);
        f64::from(self.table.cum[i + 1])
    }

    /// The local date-time where the business clock reads `x` (the first such moment: a whole
    /// value is the start of a business day).
    pub fn local_at(&self, x: f64) -> NaiveDateTime {
        let date = self.date_at(x);
        let frac = (x.max(0.0) - self.before(date)).clamp(0.0, 1.0);
        let secs = (frac * SECS_PER_DAY).round().min(SECS_PER_DAY - 1.0) as u32;
        date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).expect("in range"))
    }

    /// The instant where the business clock reads `x`, in `tz`.
    pub fn instant_at(&self, x: f64, tz: Tz) -> DateTime<Utc> {
        local_to_utc(self.local_at(x), tz)
    }

    /// The local date where the business clock reads `x`.
    pub fn date_of(&self, x: f64) -> NaiveDate {
        self.date_at(x)
    }
}

/// A local date-time in `tz` as an instant: the earlier of two in a DST fold, and past the gap
/// (by its length) in a DST gap, so every local reading maps somewhere.
pub fn local_to_utc(t: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(d) => d.with_timezone(&Utc),
        LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        LocalResult::None => {
            // Gaps are at most a few hours; step forward until the clock exists again.
            (1..=24)
                .find_map(|h| {
                    tz.from_local_datetime(&(t + Duration::minutes(30 * h)))
                        .earliest()
                })
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_else(|| Utc.from_utc_datetime(&t))
        }
    }
}

/// The first instant of local `date` in `tz`.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    local_to_utc(date.and_time(NaiveTime::MIN), tz)
}

/// The last instant (to the second) of local `date` in `tz`.
pub fn end_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    start_of_day(date + Duration::days(1), tz) - Duration::seconds(1)
}

/// The local date of an instant in `tz`.
pub fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn german_holidays_and_weekends_are_skipped() {
        let de = BusinessCalendar::for_country(Some("de"));
        assert!(de.has_holidays());
        // 2024-10-03 (Thursday) is the Day of German Unity; Easter Monday 2024 is 1 April.
        assert!(!de.is_business_day(d(2024, 10, 3)));
        assert!(!de.is_business_day(d(2024, 4, 1)));
        assert!(!de.is_business_day(d(2024, 10, 5)), "Saturday");
        assert!(de.is_business_day(d(2024, 10, 4)));
        // Friday 2024-12-20 + 3 business days: Mon 23, Tue 24, (25 and 26 are holidays) Fri 27.
        assert_eq!(de.add_business_days(d(2024, 12, 20), 3), d(2024, 12, 27));
        assert_eq!(
            de.business_days_between(d(2024, 12, 20), d(2024, 12, 27)),
            3
        );
        let plain = BusinessCalendar::weekends_only();
        assert_eq!(plain.add_business_days(d(2024, 12, 20), 3), d(2024, 12, 25));
        assert!(BusinessCalendar::knows("BR") && BusinessCalendar::knows("au"));
        assert!(!BusinessCalendar::for_country(Some("ZZ")).has_holidays());
    }

    #[test]
    fn clock_round_trips_and_stands_still_off_days() {
        let de = BusinessCalendar::for_country(Some("DE"));
        let fri = d(2024, 5, 31).and_hms_opt(18, 0, 0).unwrap();
        let sat = d(2024, 6, 1).and_hms_opt(10, 0, 0).unwrap();
        let mon = d(2024, 6, 3).and_hms_opt(6, 0, 0).unwrap();
        let (a, b, c) = (
            de.clock_local(fri),
            de.clock_local(sat),
            de.clock_local(mon),
        );
        assert!(
            (b - a - 0.25).abs() < 1e-9,
            "Friday 18:00 to the weekend is a quarter day"
        );
        assert!((c - b - 0.25).abs() < 1e-9, "the weekend stands still");
        assert_eq!(de.local_at(a), fri);
        assert_eq!(de.local_at(c), mon);
        // A whole reading is the start of the next business day, not Saturday.
        assert_eq!(de.local_at(b), d(2024, 6, 3).and_hms_opt(0, 0, 0).unwrap());
    }

    #[test]
    fn the_block_index_finds_the_same_day_as_a_full_search() {
        let br = BusinessCalendar::for_country(Some("BR"));
        let cum = &br.table.cum;
        for x in (0..30_000).map(|i| f64::from(i) * 2.37) {
            let full = cum
                .partition_point(|&c| f64::from(c) <= x)
                .saturating_sub(1);
            assert_eq!(br.date_at(x), day0() + Duration::days(full as i64), "x={x}");
        }
    }

    #[test]
    fn dst_gaps_map_forward() {
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        // Brazil's DST began at 00:00 on 2017-10-15: midnight did not exist.
        let t = local_to_utc(d(2017, 10, 15).and_hms_opt(0, 30, 0).unwrap(), tz);
        assert_eq!(local_date(t, tz), d(2017, 10, 15));
        assert!(end_of_day(d(2017, 10, 14), tz) < start_of_day(d(2017, 10, 15), tz));
    }
}
