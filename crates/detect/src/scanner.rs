//! Free-text scanning: one pass over the bytes, cheap prefilters, and only
//! then the format regexes and checksums.

use std::cell::{OnceCell, RefCell};
use std::ops::Range;
use std::sync::LazyLock;

use memchr::memmem;

use crate::engine::{self, Hit};
use crate::{Detection, carriers_tab, links};

/// Longest normalised number we try (FedEx/USPS 34 digits, DPD 28…).
const MAX_LEN: usize = 40;
/// Shortest (LaserShip LX…, UPS waybill, DHL 10 digits).
const MIN_LEN: usize = 8;
/// Tokens joined across single spaces: at most this many, each this short
/// (printed groups like `9400 1112 0108`; a 34-digit number in groups of 3).
const MAX_PARTS: usize = 12;
const MAX_PART_LEN: usize = 6;

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// A byte that ends a URL in running text or HTML.
fn ends_url(b: u8) -> bool {
    b.is_ascii_whitespace() || b"\"'<>`{}|\\^".contains(&b)
}

/// Byte ranges of URLs (`http(s)://…`, `www.…`), sorted, non-overlapping.
fn find_urls(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut push = |start: usize, from: usize| {
        let mut e = from;
        while e < b.len() && !ends_url(b[e]) {
            e += 1;
        }
        while e > from && b".,;:!?)]".contains(&b[e - 1]) {
            e -= 1;
        }
        out.push(start..e);
    };
    for pos in memmem::find_iter(b, b"://") {
        let mut s = pos;
        while s > 0 && b[s - 1].is_ascii_alphabetic() {
            s -= 1;
        }
        let scheme = &b[s..pos];
        if scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https") {
            push(s, pos + 3);
        }
    }
    for pos in memmem::find_iter(b, b"www.") {
        let prev = pos.checked_sub(1).map(|p| b[p]);
        if prev.is_none_or(|p| !is_alnum(p) && p != b'/' && p != b'.') {
            push(pos, pos + 4);
        }
    }
    out.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(out.len());
    for r in out {
        match merged.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

const TRACKING_WORDS: &[&str] = &[
    "tracking",
    "track",
    "tracked",
    "shipment",
    "shipped",
    "parcel",
    "package",
    "consignment",
    "waybill",
    "sendung",
    "paket",
    "colis",
    "suivi",
];

const NEGATIVE_WORDS: &[&str] = &[
    "order",
    "invoice",
    "phone",
    "tel",
    "call",
    "fax",
    "mobile",
    "account",
    "customer",
    "receipt",
    "reference",
    "ref",
    "sku",
    "vat",
];

/// What a context word is: a tracking word, a non-tracking one, or a keyword of
/// the carrier `carriers_tab::NAMED[i]`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Tracking,
    Negative,
    Carrier(u8),
}

/// Every keyword (all lower case), by its first byte, so a word is compared
/// only with the few that may start it.
static KEYWORDS: LazyLock<Vec<Vec<(&'static str, Kind)>>> = LazyLock::new(|| {
    let mut t: Vec<Vec<(&'static str, Kind)>> = vec![Vec::new(); 256];
    let all = TRACKING_WORDS
        .iter()
        .map(|k| (*k, Kind::Tracking))
        .chain(NEGATIVE_WORDS.iter().map(|k| (*k, Kind::Negative)))
        .chain(
            carriers_tab::NAMED
                .iter()
                .enumerate()
                .flat_map(|(i, r)| r.4.iter().map(move |k| (*k, Kind::Carrier(i as u8)))),
        );
    for (k, kind) in all {
        t[usize::from(k.as_bytes()[0])].push((k, kind));
    }
    t
});

/// Every context word in the part of the text read so far, in order: found in
/// one pass as the scan moves on, so that candidates a few bytes apart (dense
/// text: an order number, a phone number, a price…) do not each search the same
/// 200 bytes again for each of some 50 keywords.
struct Words<'a> {
    text: &'a [u8],
    /// `text[from..upto]` has been read; `found` holds its words.
    from: usize,
    upto: usize,
    /// `(start, end, kind)` of each keyword match, by start.
    found: Vec<(usize, usize, Kind)>,
}

impl<'a> Words<'a> {
    fn new(text: &'a [u8]) -> Self {
        Words {
            text,
            from: 0,
            upto: 0,
            found: Vec::new(),
        }
    }

    /// Make sure `text[window]` has been read. Windows come in order of their
    /// start (the scan moves forward), so a gap drops what lies before it.
    fn cover(&mut self, window: &Range<usize>) {
        let end = window.end.min(self.text.len());
        if window.start > self.upto {
            self.found.clear();
            self.from = window.start;
            self.upto = window.start;
        }
        debug_assert!(window.start >= self.from);
        let text = self.text;
        for i in self.upto..end.max(self.upto) {
            // Keywords start at the start of a word.
            let starting = &KEYWORDS[usize::from(text[i].to_ascii_lowercase())];
            if starting.is_empty() || (i > 0 && is_alnum(text[i - 1])) {
                continue;
            }
            for &(kw, kind) in starting {
                let k = kw.as_bytes();
                let e = i + k.len();
                if text.len() >= e
                    && text[i..e].eq_ignore_ascii_case(k)
                    // Carrier names count as whole words only.
                    && (!matches!(kind, Kind::Carrier(_)) || text.get(e).is_none_or(|&c| !is_alnum(c)))
                {
                    self.found.push((i, e, kind));
                }
            }
        }
        self.upto = self.upto.max(end);
    }

    /// The matches that start and end within `window`, which must be covered.
    fn within(&self, window: &Range<usize>) -> impl Iterator<Item = &(usize, usize, Kind)> {
        let first = self.found.partition_point(|w| w.0 < window.start);
        self.found[first..]
            .iter()
            .take_while(move |w| w.0 < window.end)
            .filter(move |w| w.1 <= window.end)
    }
}

/// Context words around one token. The answers are remembered: one candidate
/// asks the same questions once per format it fits.
struct Context<'a, 'w> {
    words: &'w RefCell<Words<'a>>,
    span: Range<usize>,
    /// Start of the last tracking word in the 60 bytes before.
    track: OnceCell<Option<usize>>,
    /// Start of the last non-tracking word in the 40 bytes before.
    neg: OnceCell<Option<usize>>,
    /// Bit `i`: the carrier `carriers_tab::NAMED[i]` is named within ~100 bytes.
    named: OnceCell<u64>,
}

impl<'a, 'w> Context<'a, 'w> {
    fn new(words: &'w RefCell<Words<'a>>, span: Range<usize>) -> Self {
        Context {
            words,
            span,
            track: OnceCell::new(),
            neg: OnceCell::new(),
            named: OnceCell::new(),
        }
    }

    /// The window around the token that its context words are read from.
    fn window(&self) -> Range<usize> {
        let len = self.words.borrow().text.len();
        self.span.start.saturating_sub(100)..(self.span.end + 100).min(len)
    }

    /// Carrier keywords count within ~100 bytes either side.
    fn names(&self, carrier: &str) -> bool {
        let Some(i) = carriers_tab::NAMED.iter().position(|r| r.0 == carrier) else {
            return false;
        };
        let mask = *self.named.get_or_init(|| {
            let w = self.window();
            let mut words = self.words.borrow_mut();
            words.cover(&w);
            words.within(&w).fold(0, |m, x| match x.2 {
                Kind::Carrier(row) => m | 1 << row,
                _ => m,
            })
        });
        mask & (1 << i) != 0
    }

    /// Start of the last word of `kind` in the `window` bytes before the token.
    fn last(&self, kind: Kind, window: usize) -> Option<usize> {
        let w = self.span.start.saturating_sub(window)..self.span.start;
        let around = self.window();
        let mut words = self.words.borrow_mut();
        words.cover(&around);
        words.within(&w).filter(|x| x.2 == kind).map(|x| x.0).last()
    }

    fn last_tracking(&self) -> Option<usize> {
        *self.track.get_or_init(|| self.last(Kind::Tracking, 60))
    }

    fn tracking_word(&self) -> bool {
        self.last_tracking().is_some()
    }

    /// The nearest keyword before the token is a non-tracking one.
    fn negative(&self) -> bool {
        let n = *self.neg.get_or_init(|| self.last(Kind::Negative, 40));
        // The last tracking word within 40 bytes: the last within 60, if that
        // close (both windows end at the token).
        let p = self
            .last_tracking()
            .filter(|&p| p >= self.span.start.saturating_sub(40));
        match (n, p) {
            (Some(n), Some(p)) => n > p,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// What one candidate group of characters is.
enum Outcome {
    /// A number to report, valid or (a typo) invalid with its reason.
    Report(Detection),
    /// It fits a format's shape, so it is a candidate whole: nothing shorter
    /// is cut from it, even though it is not reported (no context, or a
    /// failing check digit nothing points to).
    Claim,
    /// It fits no format: a shorter group of its parts may.
    Nothing,
}

/// Decide what (if anything) to report for one candidate group.
///
/// `regular`: a single token, or groups printed as people print them (each
/// but the last of at least 3 characters), not short numbers that happen to
/// stand side by side.
fn evaluate(
    words: &RefCell<Words<'_>>,
    span: Range<usize>,
    number: &str,
    joined: bool,
    regular: bool,
) -> Outcome {
    let hits: Vec<Hit> = engine::analyze(number);
    if hits.is_empty() {
        return Outcome::Nothing;
    }
    let ctx = Context::new(words, span.clone());
    let numeric = number.bytes().all(|b| b.is_ascii_digit());
    let shadow = engine::shadow(&hits);
    let mut cands = Vec::new();
    for h in hits.iter().filter(|h| h.ok) {
        let Some(id) = h.carrier.as_deref() else {
            continue;
        };
        let f = h.format();
        let strong = f.checksum.as_ref().is_some_and(|c| !c.is_weak());
        let named = ctx.names(id);
        // Fits a format without a check digit but fails another's: only when
        // the text names that carrier.
        if engine::shadowed(h, shadow) && !named {
            continue;
        }
        // Spaced groups without a strong check digit: only when the carrier is
        // named, or a distinctive prefix follows a tracking word.
        let spaced_ok = strong || named || (engine::distinctive(f, number) && ctx.tracking_word());
        if joined && !spaced_ok {
            continue;
        }
        if numeric && !named && ctx.negative() {
            continue;
        }
        let needs_context = (f.checksum.is_none() && !engine::distinctive(f, number))
            || !strong && f.checksum.is_some()
            || (numeric && number.len() <= 12);
        if needs_context && !named && !ctx.tracking_word() {
            continue;
        }
        let mut conf = engine::confidence(h, number);
        if named {
            // The text names this carrier next to the number: stronger
            // evidence than any shape, so it outranks unnamed carriers.
            conf = (conf + 0.1).clamp(0.85, 1.0);
        }
        cands.push(engine::candidate(h, number, conf));
    }
    if !cands.is_empty() {
        let cands = engine::rank(cands);
        return Outcome::Report(Detection {
            number: number.to_owned(),
            carrier: cands.first().map(|c| c.carrier.clone()),
            candidates: cands,
            valid: true,
            reason: None,
            span,
            from_link: false,
        });
    }
    // A valid shape the context does not support: noise, but still whole.
    if shadow.is_none() && hits.iter().any(|h| h.ok) {
        return Outcome::Claim;
    }
    // It fails a check digit. A clear carrier shape (1Z…, S10) is a typo worth
    // reporting anywhere; any other number only where the text says it is a
    // tracking number (a tracking word, or a carrier it fits named nearby).
    let typo = hits.iter().any(|h| {
        let f = h.format();
        h.mismatch.is_some()
            && f.checksum.as_ref().is_some_and(|c| !c.is_weak())
            && engine::distinctive(f, number)
    });
    let named = || {
        hits.iter()
            .filter_map(|h| h.carrier.as_deref())
            .any(|id| ctx.names(id))
    };
    let failing = hits.iter().any(|h| !h.ok && h.format().checksum.is_some());
    let pointed =
        failing && (named() || (regular && ctx.tracking_word() && !(numeric && ctx.negative())));
    if !typo && !pointed {
        return Outcome::Claim;
    }
    Outcome::Report(Detection {
        number: number.to_owned(),
        carrier: None,
        candidates: Vec::new(),
        valid: false,
        reason: engine::reason(&hits, number),
        span,
        from_link: false,
    })
}

/// The upper-cased characters of `group`'s tokens, in `buf`.
fn gather<'a>(b: &[u8], group: &[(usize, usize, usize)], buf: &'a mut [u8; MAX_LEN]) -> &'a str {
    let mut w = 0;
    for p in group {
        for &c in &b[p.0..p.1] {
            buf[w] = c.to_ascii_uppercase();
            w += 1;
        }
    }
    // Only ASCII alphanumerics were copied.
    std::str::from_utf8(&buf[..w]).unwrap_or_default()
}

/// A number the text calls a tracking number that fits no format.
fn not_recognised(number: &str, span: Range<usize>) -> Detection {
    Detection {
        number: number.to_owned(),
        carrier: None,
        candidates: Vec::new(),
        valid: false,
        reason: Some(format!(
            "not a tracking number we recognise: {number} fits no carrier's format"
        )),
        span,
        from_link: false,
    }
}

/// A token that may start a number: has a digit, or is a 2–5 letter
/// upper-case prefix (TBA, JJD, JVGL, CNGAB, RB…) followed by a space.
fn can_start(b: &[u8], s: usize, e: usize, digits: usize) -> bool {
    digits > 0
        || ((2..=5).contains(&(e - s))
            && b[s..e].iter().all(u8::is_ascii_uppercase)
            && b.get(e) == Some(&b' '))
}

/// A token that may continue one: has a digit, or is 1–5 upper-case letters
/// (an S10 country, DPD's check character).
fn can_join(b: &[u8], s: usize, e: usize, digits: usize) -> bool {
    e - s <= MAX_PART_LEN
        && (digits > 0 || (e - s <= 5 && b[s..e].iter().all(u8::is_ascii_uppercase)))
}

pub(crate) fn scan(text: &str) -> Vec<Detection> {
    let b = text.as_bytes();
    let n = b.len();
    let urls = find_urls(text);
    let mut out: Vec<Detection> = Vec::new();

    for r in &urls {
        if let Some(link) = links::parse_link(&text[r.clone()]) {
            for raw in &link.numbers {
                out.push(crate::link_detection(&link, raw, r.clone(), None));
            }
        }
    }

    let mut url_i = 0;
    let mut i = 0;
    // (start, end, digits) of tokens in the current group.
    let mut parts = [(0usize, 0usize, 0usize); MAX_PARTS];
    let mut buf = [0u8; MAX_LEN];
    let words = RefCell::new(Words::new(b));
    while i < n {
        while i < n && !is_alnum(b[i]) {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        let mut digits = 0;
        while i < n && is_alnum(b[i]) {
            digits += usize::from(b[i].is_ascii_digit());
            i += 1;
        }
        let end = i;
        while url_i < urls.len() && urls[url_i].end <= start {
            url_i += 1;
        }
        if url_i < urls.len() && urls[url_i].start <= start {
            i = i.max(urls[url_i].end);
            continue;
        }
        if !can_start(b, start, end, digits) || end - start > MAX_LEN {
            continue;
        }
        parts[0] = (start, end, digits);
        let mut count = 1;
        let mut total = end - start;
        let mut j = end;
        if end - start <= MAX_PART_LEN {
            while count < MAX_PARTS && j + 1 < n && b[j] == b' ' && is_alnum(b[j + 1]) {
                let s2 = j + 1;
                let mut e2 = s2;
                let mut d2 = 0;
                while e2 < n && is_alnum(b[e2]) {
                    d2 += usize::from(b[e2].is_ascii_digit());
                    e2 += 1;
                }
                let in_url = url_i < urls.len() && urls[url_i].start < e2;
                if in_url || !can_join(b, s2, e2, d2) || total + (e2 - s2) > MAX_LEN {
                    break;
                }
                parts[count] = (s2, e2, d2);
                count += 1;
                total += e2 - s2;
                j = e2;
            }
        }
        // Longest group first, so "9400 1112 …" is read as one number.
        // A group is a candidate whole: shorter ones only leave out words at
        // its end ("… 4830 16 ETA"), never digits, so a mistyped number
        // never yields a valid one cut from it.
        let mut chosen = None;
        for k in (1..=count).rev() {
            if k < count && parts[k].2 > 0 {
                break;
            }
            let group = &parts[..k];
            let len: usize = group.iter().map(|p| p.1 - p.0).sum();
            let digits: usize = group.iter().map(|p| p.2).sum();
            let starts_1z =
                b[start..].len() >= 2 && b[start..start + 2].eq_ignore_ascii_case(b"1Z");
            if !(MIN_LEN..=MAX_LEN).contains(&len) || (digits < 5 && !starts_1z) {
                continue;
            }
            let number = gather(b, group, &mut buf);
            let span = start..group[k - 1].1;
            let regular = group[..k - 1].iter().all(|p| p.1 - p.0 >= 3);
            match evaluate(&words, span.clone(), number, k > 1, regular) {
                Outcome::Nothing => {}
                o => {
                    chosen = Some((o, k, span));
                    break;
                }
            }
        }
        // The whole group, when it fits no format but the text calls it a
        // tracking number: reported as not recognised, so a typo that breaks
        // the shape (2Z… for 1Z…) is named too.
        let whole = start..parts[count - 1].1;
        let unrecognised = |buf: &mut [u8; MAX_LEN]| {
            let len: usize = parts[..count].iter().map(|p| p.1 - p.0).sum();
            let digits: usize = parts[..count].iter().map(|p| p.2).sum();
            let regular = parts[..count - 1].iter().all(|p| p.1 - p.0 >= 3);
            if !(16..=MAX_LEN).contains(&len) || digits * 2 < len || !regular {
                return None;
            }
            let number = gather(b, &parts[..count], buf);
            let ctx = Context::new(&words, whole.clone());
            let numeric = digits == len;
            (ctx.tracking_word() && !(numeric && ctx.negative()))
                .then(|| not_recognised(number, whole.clone()))
        };
        match chosen {
            Some((o, _, span)) => {
                if let Outcome::Report(d) = o {
                    out.push(d);
                }
                i = i.max(span.end);
            }
            None => {
                if let Some(d) = unrecognised(&mut buf) {
                    out.push(d);
                    i = i.max(whole.end);
                } else if parts[0].2 > 0 {
                    // Nor does one start inside it (a word before it aside).
                    i = i.max(whole.end);
                }
            }
        }
    }

    // Links were collected first: restore order of appearance, then keep
    // the first occurrence of each number.
    out.sort_by_key(|d| d.span.start);
    let mut seen = std::collections::HashSet::with_capacity(out.len());
    out.retain(|d| seen.insert(d.number.clone()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_text_and_html() {
        let t = "see https://www.ups.com/track?tracknum=1Z5R89390357567127. or <a href=\"http://x.example/a?b=1&amp;c=2\">x</a> www.fedex.com/x";
        let u = find_urls(t);
        let s: Vec<&str> = u.iter().map(|r| &t[r.clone()]).collect();
        assert_eq!(
            s,
            vec![
                "https://www.ups.com/track?tracknum=1Z5R89390357567127",
                "http://x.example/a?b=1&amp;c=2",
                "www.fedex.com/x"
            ]
        );
    }

    #[test]
    fn word_search_respects_boundaries() {
        let ups = carriers_tab::NAMED
            .iter()
            .position(|r| r.0 == "ups")
            .unwrap() as u8;
        let found = |t: &[u8], w: Range<usize>| {
            let mut words = Words::new(t);
            words.cover(&w);
            words.within(&w).copied().collect::<Vec<_>>()
        };
        let t = b"ship via UPS today";
        assert!(found(t, 0..t.len()).contains(&(9, 12, Kind::Carrier(ups))));
        let t = b"our groups";
        assert!(found(t, 0..t.len()).is_empty());
        let t = b"Tracking number";
        assert!(found(t, 0..t.len()).iter().any(|w| w.2 == Kind::Tracking));
        // A window starting mid-word must not see a word start there.
        let t = b"avataaa: 123";
        assert!(found(t, 1..t.len()).is_empty());
        // A match must end within the window.
        let t = b"call ups";
        assert!(!found(t, 0..7).iter().any(|w| w.2 == Kind::Carrier(ups)));
    }
}
