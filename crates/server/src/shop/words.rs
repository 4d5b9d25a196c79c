//! The words of customers' messages (email, SMS, push), in each language messages are written
//! in. The tracking page has its own catalogue (`ui/js/i18n.js`); these are the server's.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use parceltrail_core::domain::Status;
use parceltrail_core::eta::Estimate;
use parceltrail_core::notify::rules::Kind;
use parceltrail_core::problems::ProblemKind;
use parceltrail_shop::prefs::Language;
use parceltrail_shop::requests::{RequestKind, RequestState};

/// What a message about a parcel says: "Your order 1001 {headline}.", and for SMS the
/// shorter "order 1001 {short}".
pub(crate) struct Wording {
    pub headline: &'static str,
    pub short: &'static str,
}

/// The words for the news a message leads with (or, for one without, the parcel's status).
pub(crate) fn wording(lang: Language, kind: Option<Kind>, status: Status) -> Wording {
    let kind = kind.or(match status {
        Status::Delivered => Some(Kind::Delivered),
        Status::OutForDelivery => Some(Kind::OutForDelivery),
        _ => None,
    });
    let (headline, short) = match lang {
        Language::En => match kind {
            Some(Kind::Delivered) => ("has been delivered", "delivered"),
            Some(Kind::OutForDelivery) => ("is out for delivery today", "out for delivery today"),
            Some(Kind::ReadyForPickup) => ("is ready for pickup", "ready for pickup"),
            Some(Kind::Shipped) => ("is on its way", "on its way"),
            Some(Kind::Problem(p)) => match p {
                ProblemKind::FailedAttempt => (
                    "could not be delivered: the carrier will try again or leave a note",
                    "delivery attempt failed",
                ),
                ProblemKind::Late => ("is running late", "running late"),
                ProblemKind::Stuck => ("is taking longer than usual", "taking longer than usual"),
                ProblemKind::CustomsHold => ("is held in customs", "held in customs"),
                ProblemKind::Returned => ("is on its way back to us", "returned to the shop"),
                ProblemKind::Expired => (
                    "has had no news from the carrier for a long time",
                    "no news from the carrier",
                ),
                ProblemKind::Exception => ("is delayed: the carrier reports a problem", "delayed"),
            },
            None => ("has news", "has news"),
        },
        Language::De => match kind {
            Some(Kind::Delivered) => ("wurde zugestellt", "zugestellt"),
            Some(Kind::OutForDelivery) => ("wird heute zugestellt", "heute in Zustellung"),
            Some(Kind::ReadyForPickup) => ("liegt zur Abholung bereit", "abholbereit"),
            Some(Kind::Shipped) => ("ist unterwegs", "unterwegs"),
            Some(Kind::Problem(p)) => match p {
                ProblemKind::FailedAttempt => (
                    "konnte nicht zugestellt werden: der Versanddienst versucht es erneut oder hinterlässt eine Nachricht",
                    "Zustellversuch gescheitert",
                ),
                ProblemKind::Late => ("verspätet sich", "verspätet"),
                ProblemKind::Stuck => ("braucht länger als üblich", "dauert länger als üblich"),
                ProblemKind::CustomsHold => ("wird beim Zoll aufgehalten", "beim Zoll"),
                ProblemKind::Returned => ("ist auf dem Rückweg zu uns", "zurück an den Shop"),
                ProblemKind::Expired => (
                    "hat seit Langem keine Neuigkeiten vom Versanddienst",
                    "keine Neuigkeiten vom Versanddienst",
                ),
                ProblemKind::Exception => (
                    "verzögert sich: der Versanddienst meldet ein Problem",
                    "verzögert",
                ),
            },
            None => ("hat Neuigkeiten", "hat Neuigkeiten"),
        },
    };
    Wording { headline, short }
}

/// The fixed words of a message.
pub(crate) struct Phrases {
    pub hello: &'static str,
    pub hello_name: &'static str,
    pub your_order: &'static str,
    pub your_order_number: &'static str,
    pub parcel: &'static str,
    pub expected: &'static str,
    pub rate_question: &'static str,
    pub rate_it: &'static str,
    pub track: &'static str,
    pub see_order: &'static str,
    pub why: &'static str,
    pub stop: &'static str,
    /// SMS: "order {number}".
    pub order_number: &'static str,
    /// A decision email's subject: "order {number}" / "your order".
    pub subject_order: &'static str,
}

pub(crate) fn phrases(lang: Language) -> &'static Phrases {
    match lang {
        Language::En => &Phrases {
            hello: "Hello,",
            hello_name: "Hello {name},",
            your_order: "Your order",
            your_order_number: "Your order {number}",
            parcel: "Parcel",
            expected: "Expected",
            rate_question: "How did the delivery go?",
            rate_it: "Rate it",
            track: "Track your order",
            see_order: "See your order",
            why: "You get this email about an order you placed with {shop}.",
            stop: "Stop emails about this order",
            order_number: "order {number}",
            subject_order: "your order",
        },
        Language::De => &Phrases {
            hello: "Guten Tag,",
            hello_name: "Hallo {name},",
            your_order: "Ihre Bestellung",
            your_order_number: "Ihre Bestellung {number}",
            parcel: "Sendung",
            expected: "Voraussichtlich",
            rate_question: "Wie lief die Zustellung?",
            rate_it: "Jetzt bewerten",
            track: "Bestellung verfolgen",
            see_order: "Zur Bestellung",
            why: "Sie erhalten diese E-Mail zu einer Bestellung bei {shop}.",
            stop: "Keine E-Mails mehr zu dieser Bestellung",
            order_number: "Bestellung {number}",
            subject_order: "Ihre Bestellung",
        },
    }
}

impl Phrases {
    pub fn greeting(&self, first_name: Option<&str>) -> String {
        first_name.map_or_else(
            || self.hello.to_owned(),
            |n| self.hello_name.replace("{name}", n),
        )
    }
    pub fn order_words(&self, number: &str) -> String {
        if number.is_empty() {
            self.your_order.to_owned()
        } else {
            self.your_order_number.replace("{number}", number)
        }
    }
    pub fn why(&self, shop: &str) -> String {
        self.why.replace("{shop}", shop)
    }
}

/// A decided request's words: (the subject's end, the first line).
pub(crate) fn decision(
    lang: Language,
    kind: RequestKind,
    state: RequestState,
) -> (&'static str, &'static str) {
    use RequestKind::*;
    use RequestState::*;
    let approved = state == Approved;
    match (lang, kind, approved) {
        (Language::En, Address, true) => (
            "new delivery address confirmed",
            "We have changed the delivery address of your order, as you asked.",
        ),
        (Language::En, Address, false) => (
            "delivery address unchanged",
            "We could not change the delivery address of your order.",
        ),
        (Language::En, Instructions, true) => (
            "delivery instructions passed on",
            "We have passed your delivery instructions on.",
        ),
        (Language::En, Instructions, false) => (
            "delivery instructions not passed on",
            "We could not pass your delivery instructions on.",
        ),
        (Language::En, Cancel, true) => (
            "order cancelled",
            "We have cancelled your order, as you asked.",
        ),
        (Language::En, Cancel, false) => (
            "order not cancelled",
            "We could not cancel your order: it is on its way to you.",
        ),
        (Language::De, Address, true) => (
            "neue Lieferadresse bestätigt",
            "Wir haben die Lieferadresse Ihrer Bestellung wie gewünscht geändert.",
        ),
        (Language::De, Address, false) => (
            "Lieferadresse unverändert",
            "Wir konnten die Lieferadresse Ihrer Bestellung nicht ändern.",
        ),
        (Language::De, Instructions, true) => (
            "Zustellhinweise weitergegeben",
            "Wir haben Ihre Zustellhinweise weitergegeben.",
        ),
        (Language::De, Instructions, false) => (
            "Zustellhinweise nicht weitergegeben",
            "Wir konnten Ihre Zustellhinweise nicht weitergeben.",
        ),
        (Language::De, Cancel, true) => (
            "Bestellung storniert",
            "Wir haben Ihre Bestellung wie gewünscht storniert.",
        ),
        (Language::De, Cancel, false) => (
            "Bestellung nicht storniert",
            "Wir konnten Ihre Bestellung nicht stornieren: sie ist bereits unterwegs zu Ihnen.",
        ),
    }
}

/// An estimate as the customer reads it, in their language and zone.
pub(crate) fn estimate(lang: Language, e: &Estimate, now: DateTime<Utc>, tz: Tz) -> String {
    match lang {
        Language::En => parceltrail_core::eta::describe(e, now, tz),
        Language::De => german_estimate(e, now, tz),
    }
}

const WOCHENTAGE: [&str; 7] = ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."];
const MONATE: [&str; 12] = [
    "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez.",
];

fn german_day(d: NaiveDate, today: NaiveDate) -> String {
    match (d - today).num_days() {
        0 => return "heute".to_owned(),
        1 => return "morgen".to_owned(),
        _ => {}
    }
    let wd = WOCHENTAGE[d.weekday().num_days_from_monday() as usize];
    let month = MONATE[d.month0() as usize];
    if d.year() == today.year() {
        format!("{wd} {}. {month}", d.day())
    } else {
        format!("{wd} {}. {month} {}", d.day(), d.year())
    }
}

fn german_estimate(e: &Estimate, now: DateTime<Utc>, tz: Tz) -> String {
    let local = |t: DateTime<Utc>| t.with_timezone(&tz);
    let today = local(now).date_naive();
    let (first, last, likely) = (
        local(e.earliest).date_naive(),
        local(e.latest).date_naive(),
        local(e.likely),
    );
    let pct = format!("({:.0} %)", (e.confidence.clamp(0.0, 1.0) * 100.0).round());
    if first == last {
        return format!(
            "{}, voraussichtlich bis {} Uhr {pct}",
            german_day(first, today),
            parceltrail_core::eta::likely_clock(e, tz)
        );
    }
    format!(
        "zwischen {} und {}, am wahrscheinlichsten {} {pct}",
        german_day(first, today),
        german_day(last, today),
        german_day(likely.date_naive(), today)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use parceltrail_core::eta::EtaSource;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn german_windows_read_as_german_dates_in_the_customers_zone() {
        let e = Estimate {
            earliest: utc("2026-12-08T08:00:00Z"),
            likely: utc("2026-12-09T12:00:00Z"),
            latest: utc("2026-12-10T18:00:00Z"),
            confidence: 0.8,
            source: EtaSource::History,
        };
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let now = utc("2026-12-07T10:00:00Z");
        assert_eq!(
            estimate(Language::De, &e, now, berlin),
            "zwischen morgen und Do. 10. Dez., am wahrscheinlichsten Mi. 9. Dez. (80 %)"
        );
        let day = Estimate {
            earliest: utc("2026-12-07T12:30:00Z"),
            likely: utc("2026-12-07T13:05:00Z"),
            latest: utc("2026-12-07T14:15:00Z"),
            ..e
        };
        assert_eq!(
            estimate(Language::De, &day, now, berlin),
            "heute, voraussichtlich bis 14:15 Uhr (80 %)"
        );
    }

    #[test]
    fn every_kind_has_words_in_every_language() {
        for lang in Language::ALL {
            for kind in Kind::ALL {
                let w = wording(lang, Some(kind), Status::InTransit);
                assert!(!w.headline.is_empty() && !w.short.is_empty());
            }
        }
        assert_eq!(
            wording(Language::De, Some(Kind::Delivered), Status::Delivered).headline,
            "wurde zugestellt"
        );
        let p = phrases(Language::De);
        assert_eq!(p.order_words("1001"), "Ihre Bestellung 1001");
        assert_eq!(p.greeting(Some("Jana")), "Hallo Jana,");
    }
}
