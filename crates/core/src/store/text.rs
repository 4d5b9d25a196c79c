//! Text as every store writes it: U+0000 becomes U+FFFD. PostgreSQL's `text` cannot hold
//! U+0000 at all (the shop server's store would fail on a carrier's stray NUL), and both
//! backends must read back the same; a NUL means nothing in a description, a label or a name.

use std::borrow::Cow;

use crate::domain::{NewEvent, Place};

/// `s` with U+0000 replaced by U+FFFD (borrowed when there is none).
pub fn clean_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// [`clean_text`] of an optional text, as an owned value ready to bind.
pub fn clean_opt(s: Option<&str>) -> Option<String> {
    s.map(|s| clean_text(s).into_owned())
}

fn has_nul(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| s.contains('\0'))
}

/// A place with its parts cleaned (borrowed when there was nothing to clean).
pub fn clean_place(p: &Place) -> Cow<'_, Place> {
    if [&p.city, &p.region, &p.country, &p.postal]
        .into_iter()
        .any(has_nul)
    {
        Cow::Owned(Place {
            city: clean_opt(p.city.as_deref()),
            region: clean_opt(p.region.as_deref()),
            country: clean_opt(p.country.as_deref()),
            postal: clean_opt(p.postal.as_deref()),
        })
    } else {
        Cow::Borrowed(p)
    }
}

/// An event with its texts cleaned, before its key is made: the key then names what is
/// stored, so an export of it imports back as the same event.
pub fn clean_event(e: &NewEvent) -> Cow<'_, NewEvent> {
    let place = clean_place(&e.location);
    if e.description.contains('\0') || has_nul(&e.raw_code) || matches!(place, Cow::Owned(_)) {
        Cow::Owned(NewEvent {
            description: clean_text(&e.description).into_owned(),
            raw_code: clean_opt(e.raw_code.as_deref()),
            location: place.into_owned(),
            ..e.clone()
        })
    } else {
        Cow::Borrowed(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_becomes_the_replacement_character_and_clean_text_is_borrowed() {
        assert!(matches!(clean_text("plain"), Cow::Borrowed("plain")));
        assert_eq!(clean_text("a\0b\0"), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(clean_opt(Some("\0")), Some("\u{FFFD}".to_owned()));
        assert_eq!(clean_opt(None), None);
        let p = Place {
            city: Some("Lei\0pzig".into()),
            ..Place::default()
        };
        assert_eq!(clean_place(&p).city.as_deref(), Some("Lei\u{FFFD}pzig"));
    }
}
