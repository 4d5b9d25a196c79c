//! What a shop's customers hear and when: the shop's defaults (channels, which news, quiet
//! hours, language and time zone for customers it knows nothing of) and each customer's own
//! choice for an order, each part of which, once made, wins over the default.
//!
//! Quiet hours are the shop's, read in the customer's time zone: a customer in Sydney and one
//! in Berlin both sleep through them. A message that falls in them waits for their end.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use parceltrail_core::notify::rules::{Kind, KindSet, QuietHours};

use crate::{Error, Result};

/// The languages customers' messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// English.
    #[default]
    En,
    /// German.
    De,
}

impl Language {
    /// Every language, in the order the page lists them.
    pub const ALL: [Language; 2] = [Language::En, Language::De];

    /// Its code (BCP 47 primary subtag).
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
        }
    }

    /// The language of a tag as browsers and shops write it (`de`, `de-AT`, `de_CH`), if it
    /// is one messages are written in.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        Language::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The language of a tag, or an error naming `field` and the languages there are.
    pub fn parse(field: &'static str, tag: &str) -> Result<Language> {
        Language::from_tag(tag).ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "{:?} is not a language messages are written in (one of: {})",
                    clip(tag),
                    Language::ALL.map(Language::code).join(", ")
                ),
            )
        })
    }
}

/// A time zone by its IANA name, or an error naming `field`.
pub fn parse_zone(field: &'static str, name: &str) -> Result<Tz> {
    name.trim().parse().map_err(|_| {
        Error::invalid(
            field,
            format!(
                "{:?} is not a time zone's IANA name (like Europe/Berlin)",
                clip(name)
            ),
        )
    })
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The news a customer can choose between, as the tracking page offers it (each problem is
/// one choice: "problems and delays").
pub const CHOICES: [&str; 5] = [
    "shipped",
    "out_for_delivery",
    "ready_for_pickup",
    "delivered",
    "problems",
];

/// A list of choices (names from [`CHOICES`]) as a set of kinds, or an error naming `field`.
pub fn kinds_of(field: &'static str, names: &[String]) -> Result<KindSet> {
    let mut set = KindSet::NONE;
    for n in names {
        set = match n.as_str() {
            "problems" => KindSet::problems().iter().fold(set, |s, k| s.with(k)),
            "shipped" | "out_for_delivery" | "ready_for_pickup" | "delivered" => {
                set.with(n.parse().map_err(|e: String| Error::invalid(field, e))?)
            }
            other => {
                return Err(Error::invalid(
                    field,
                    format!(
                        "{:?} is not a kind of news (one of: {})",
                        clip(other),
                        CHOICES.join(", ")
                    ),
                ));
            }
        };
    }
    Ok(set)
}

/// A set of kinds as the choices it holds (a problem kind stands for all problems).
pub fn choices_of(set: KindSet) -> Vec<&'static str> {
    CHOICES
        .into_iter()
        .filter(|c| match *c {
            "problems" => set.iter().any(|k| matches!(k, Kind::Problem(_))),
            name => set.iter().any(|k| k.as_str() == name),
        })
        .collect()
}

/// A shop's defaults for its customers' notifications.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NotifySettings {
    /// Email unless the customer turns it off.
    pub email: bool,
    /// SMS unless the customer turns it off (off: only customers who turn it on get it).
    pub sms: bool,
    /// Which news.
    pub kinds: KindSet,
    /// No messages in these hours of the customer's day (held until they end).
    pub quiet: Option<QuietHours>,
    /// The zone of a customer whose own is not known.
    pub time_zone: Tz,
    /// The language of a customer whose own is not known.
    pub language: Language,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            email: true,
            sms: true,
            kinds: KindSet::all(),
            quiet: None,
            time_zone: Tz::UTC,
            language: Language::En,
        }
    }
}

/// What a customer chose for one order's notifications; `None`: not chosen (the shop's
/// default).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ContactChoice {
    /// Email on or off.
    pub email: Option<bool>,
    /// SMS on or off.
    pub sms: Option<bool>,
    /// Which news.
    pub kinds: Option<KindSet>,
    /// Their language (from the order, or the page they read).
    pub language: Option<Language>,
    /// Their time zone (from the order, or the browser they read the page in).
    pub time_zone: Option<Tz>,
}

/// A customer's notifications for one order: their choice over the shop's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effective {
    /// Email on.
    pub email: bool,
    /// SMS on.
    pub sms: bool,
    /// Which news.
    pub kinds: KindSet,
    /// The words' language.
    pub language: Language,
    /// The customer's zone: dates and quiet hours are read in it.
    pub time_zone: Tz,
    /// The shop's quiet hours.
    pub quiet: Option<QuietHours>,
}

impl ContactChoice {
    /// This choice over `shop`'s defaults.
    pub fn over(&self, shop: &NotifySettings) -> Effective {
        Effective {
            email: self.email.unwrap_or(shop.email),
            sms: self.sms.unwrap_or(shop.sms),
            kinds: self.kinds.unwrap_or(shop.kinds),
            language: self.language.unwrap_or(shop.language),
            time_zone: self.time_zone.unwrap_or(shop.time_zone),
            quiet: shop.quiet,
        }
    }
}

impl Effective {
    /// When a message about `kind` sent at `now` may go: `None` now, else the end of the
    /// customer's quiet hours.
    pub fn quiet_until(&self, kind: Option<Kind>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let q = self.quiet?;
        if q.allow_delivered && kind == Some(Kind::Delivered) {
            return None;
        }
        quiet_end(&q, self.time_zone, now)
    }
}

/// The end of the quiet period `now` falls in, read in `tz`; `None` when it falls in none.
pub fn quiet_end(q: &QuietHours, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = tz.from_utc_datetime(&now.naive_utc());
    if !q.contains(local.time()) {
        return None;
    }
    // Today's end, else tomorrow's (a period crossing midnight, seen before it).
    let today = local.date_naive();
    let day = if local.time() < q.end {
        today
    } else {
        today + Duration::days(1)
    };
    Some(at_local(tz, day, q.end).unwrap_or(now + Duration::hours(1)))
}

/// The first instant at or after `date` `time` in `tz` (a time that a clock change skips
/// becomes the moment after the gap).
fn at_local(tz: Tz, date: chrono::NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let mut t = date.and_time(time);
    for _ in 0..8 {
        if let Some(d) = tz.from_local_datetime(&t).earliest() {
            return Some(d.with_timezone(&Utc));
        }
        t += Duration::minutes(15);
    }
    None
}

/// Quiet hours from `HH:MM` strings, or an error naming the field.
pub fn quiet_hours(start: &str, end: &str, allow_delivered: bool) -> Result<QuietHours> {
    let time = |field: &'static str, s: &str| {
        NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
            Error::invalid(
                field,
                format!("{:?} is not a time of day as HH:MM (like 21:00)", clip(s)),
            )
        })
    };
    let (start, end) = (
        time("quiet_hours.start", start)?,
        time("quiet_hours.end", end)?,
    );
    if start == end {
        return Err(Error::invalid(
            "quiet_hours.end",
            "quiet hours end when they start: give a period, or none",
        ));
    }
    Ok(QuietHours {
        start,
        end,
        allow_delivered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn languages_are_read_from_tags() {
        assert_eq!(Language::from_tag("de-AT"), Some(Language::De));
        assert_eq!(Language::from_tag("DE_ch"), Some(Language::De));
        assert_eq!(Language::from_tag("en"), Some(Language::En));
        assert_eq!(Language::from_tag("fr-FR"), None);
        let e = Language::parse("language", "fr").unwrap_err().to_string();
        assert!(e.contains("language") && e.contains("en, de"), "{e}");
    }

    #[test]
    fn quiet_hours_are_read_in_the_customers_zone() {
        let q = quiet_hours("21:00", "08:00", false).unwrap();
        let now = utc("2026-12-07T04:00:00Z");
        // 05:00 in Berlin: quiet until 08:00 there (07:00 UTC).
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            quiet_end(&q, berlin, now),
            Some(utc("2026-12-07T07:00:00Z"))
        );
        // 23:00 the evening before in New York: quiet until 08:00 the next morning there.
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(quiet_end(&q, ny, now), Some(utc("2026-12-07T13:00:00Z")));
        // 15:00 in Sydney: not quiet.
        let sydney: Tz = "Australia/Sydney".parse().unwrap();
        assert_eq!(quiet_end(&q, sydney, now), None);
    }

    #[test]
    fn a_period_within_one_day_ends_that_day() {
        let q = quiet_hours("12:00", "14:00", false).unwrap();
        assert_eq!(
            quiet_end(&q, Tz::UTC, utc("2026-12-07T13:10:00Z")),
            Some(utc("2026-12-07T14:00:00Z"))
        );
        assert_eq!(quiet_end(&q, Tz::UTC, utc("2026-12-07T14:00:00Z")), None);
    }

    #[test]
    fn delivered_may_go_through() {
        let shop = NotifySettings {
            quiet: Some(quiet_hours("00:00", "23:59", true).unwrap()),
            ..NotifySettings::default()
        };
        let e = ContactChoice::default().over(&shop);
        let now = utc("2026-12-07T12:00:00Z");
        assert_eq!(e.quiet_until(Some(Kind::Delivered), now), None);
        assert!(e.quiet_until(Some(Kind::Shipped), now).is_some());
    }

    #[test]
    fn a_choice_wins_over_the_default_part_by_part() {
        let shop = NotifySettings {
            sms: false,
            ..NotifySettings::default()
        };
        let choice = ContactChoice {
            sms: Some(true),
            kinds: Some(kinds_of("kinds", &["delivered".into()]).unwrap()),
            ..ContactChoice::default()
        };
        let e = choice.over(&shop);
        assert!(e.email && e.sms);
        assert!(e.kinds.contains(Kind::Delivered) && !e.kinds.contains(Kind::Shipped));
        assert!(!ContactChoice::default().over(&shop).sms);
    }

    #[test]
    fn choices_round_trip() {
        let names: Vec<String> = ["shipped", "problems"].map(String::from).to_vec();
        let set = kinds_of("kinds", &names).unwrap();
        assert_eq!(choices_of(set), vec!["shipped", "problems"]);
        assert!(set.contains(Kind::Problem(parceltrail_core::problems::ProblemKind::Late)));
        let e = kinds_of("kinds", &["soon".into()]).unwrap_err().to_string();
        assert!(e.starts_with("kinds:") && e.contains("\"soon\""), "{e}");
        assert!(quiet_hours("9pm", "08:00", false).is_err());
        assert!(quiet_hours("08:00", "08:00", false).is_err());
    }
}
