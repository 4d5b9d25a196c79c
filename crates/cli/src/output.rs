//! How things look on a terminal. Colour only on a terminal (the `console` crate checks, and
//! honours NO_COLOR / CLICOLOR); text from carriers and files is untrusted and is stripped of
//! control characters so it cannot move the cursor or recolour the screen.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, FixedOffset, Local, NaiveTime};
use console::{StyledObject, style};
use parceltrail_core::detect;
use parceltrail_core::domain::{CarrierEta, Status};

/// Untrusted text made safe to print: control characters (escape sequences among them)
/// become U+FFFD, newlines become spaces.
pub fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| match c {
                '\n' | '\r' | '\t' => ' ',
                c if c.is_control() => '\u{fffd}',
                c => c,
            })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// The carrier's display name.
pub fn carrier_name(id: &str) -> String {
    detect::carrier(id)
        .map(|c| c.name)
        .unwrap_or_else(|| id.to_owned())
}

/// A status, coloured by what it means.
pub fn status(s: Status) -> StyledObject<&'static str> {
    let st = style(s.label());
    match s {
        Status::Delivered => st.green(),
        Status::OutForDelivery | Status::AvailableForPickup => st.cyan().bold(),
        Status::FailedAttempt | Status::Exception | Status::Returned | Status::Expired => {
            st.red().bold()
        }
        Status::Pending | Status::Unknown => st.dim(),
        _ => st.yellow(),
    }
}

/// A point in time in the user's time zone: "Thu 2 May 14:05" (with the year when not this
/// year).
pub fn when(t: DateTime<FixedOffset>) -> String {
    let local = t.with_timezone(&Local);
    if local.year() == Local::now().year() {
        local.format("%a %-d %b %H:%M").to_string()
    } else {
        local.format("%a %-d %b %Y %H:%M").to_string()
    }
}

/// "today", "tomorrow" or "Thu 2 May".
fn day_name(d: chrono::NaiveDate) -> String {
    let today = Local::now().date_naive();
    if d == today {
        "today".into()
    } else if today.succ_opt() == Some(d) {
        "tomorrow".into()
    } else {
        d.format("%a %-d %b").to_string()
    }
}

/// The carrier's estimate: "today, 12:00–16:00", "Thu 2 May" or "2–4 May".
pub fn eta(e: &CarrierEta) -> String {
    let (a, b) = (
        e.earliest.with_timezone(&Local),
        e.latest.with_timezone(&Local),
    );
    let midnight = NaiveTime::MIN;
    if a.date_naive() == b.date_naive() {
        let day = day_name(a.date_naive());
        if a.time() == midnight
            && (b.time() == midnight
                || b.time() >= NaiveTime::from_hms_opt(23, 59, 0).unwrap_or(midnight))
        {
            day
        } else if a == b {
            format!("{day}, by {}", b.format("%H:%M"))
        } else {
            format!("{day}, {}–{}", a.format("%H:%M"), b.format("%H:%M"))
        }
    } else if a.month() == b.month() {
        format!("{}–{}", a.format("%-d"), b.format("%-d %b"))
    } else {
        format!("{}–{}", a.format("%-d %b"), b.format("%-d %b"))
    }
}
