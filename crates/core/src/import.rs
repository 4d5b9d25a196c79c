//! CSV import: untrusted files in, good rows stored, every bad row reported with its line and
//! reason.
//!
//! Rows are stored in batches, one transaction each, through [`Store::add_shipments`], which
//! is idempotent by tracking number: a re-run (say after a crash) adds nothing twice. A file
//! written by [`crate::export`] imports back with its full history.

use std::io::Read;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use parceltrail_detect as detect;

use crate::domain::{NewEvent, Place, Source, Status};
use crate::error::{Error, Result};
use crate::store::{NewShipment, OrderInfo, Store};

/// The longest text we keep in one field; longer is a bad row, not a truncation.
pub const MAX_FIELD: usize = 2000;

/// Refuses a person's text (a label, store, order number, items) longer than [`MAX_FIELD`]
/// characters, naming `field`: the same bound as an imported field, so a pasted megabyte
/// never becomes every screen's answer.
pub fn check_length(field: &str, value: &str) -> std::result::Result<(), String> {
    let n = value.chars().count();
    if n > MAX_FIELD {
        Err(format!(
            "{field} is {n} characters long; at most {MAX_FIELD} are kept"
        ))
    } else {
        Ok(())
    }
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// 1-based line in the file where the row starts.
    pub line: u64,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    /// Parcels newly tracked.
    pub added: u64,
    /// Rows whose number was already tracked (their events, if any, were merged).
    pub already_tracked: u64,
    /// Carrier events newly stored from the file.
    pub events_added: u64,
    /// Rows that were not imported.
    pub errors: Vec<RowError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Number,
    Carrier,
    Label,
    Store,
    OrderNumber,
    Items,
    PlacedAt,
    PromisedAt,
    Notes,
    EventTime,
    EventStatus,
    EventCode,
    EventDescription,
    EventCity,
    EventRegion,
    EventCountry,
    EventPostal,
    EventSource,
}

/// Header names we accept, after lower-casing and turning spaces and dashes into `_`.
const HEADERS: &[(&str, Col)] = &[
    ("tracking_number", Col::Number),
    ("tracking", Col::Number),
    ("tracking_no", Col::Number),
    ("tracking_code", Col::Number),
    ("tracking_id", Col::Number),
    ("number", Col::Number),
    ("carrier", Col::Carrier),
    ("courier", Col::Carrier),
    ("label", Col::Label),
    ("name", Col::Label),
    ("store", Col::Store),
    ("shop", Col::Store),
    ("merchant", Col::Store),
    ("order_number", Col::OrderNumber),
    ("order", Col::OrderNumber),
    ("order_id", Col::OrderNumber),
    ("items", Col::Items),
    ("placed_at", Col::PlacedAt),
    ("order_date", Col::PlacedAt),
    ("promised_at", Col::PromisedAt),
    ("promised", Col::PromisedAt),
    ("estimated_delivery", Col::PromisedAt),
    ("estimated_at", Col::PromisedAt),
    ("notes", Col::Notes),
    ("event_time", Col::EventTime),
    ("event_status", Col::EventStatus),
    ("event_code", Col::EventCode),
    ("event_description", Col::EventDescription),
    ("event_city", Col::EventCity),
    ("event_region", Col::EventRegion),
    ("event_country", Col::EventCountry),
    ("event_postal", Col::EventPostal),
    ("event_source", Col::EventSource),
];

/// A file's header names for a message: quoted with control characters escaped (a header
/// is the file's text, not ours, and may hold terminal escapes), each and their number
/// capped so a huge header makes a short message.
pub(crate) fn header_list<S: AsRef<str>>(names: &[S]) -> String {
    const NAMES: usize = 12;
    const CHARS: usize = 40;
    let mut out: Vec<String> = names
        .iter()
        .take(NAMES)
        .map(|n| {
            let n = n.as_ref();
            let mut short: String = n.chars().take(CHARS).collect();
            if short.len() < n.len() {
                short.push('…');
            }
            format!("{short:?}")
        })
        .collect();
    if names.len() > NAMES {
        out.push(format!("and {} more", names.len() - NAMES));
    }
    out.join(", ")
}

fn header_key(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .replace([' ', '-', '/'], "_")
}

/// Turn UTF-16 files (with a byte-order mark) into UTF-8 and drop a UTF-8 BOM; other bytes
/// pass through untouched, so a stray Latin-1 byte fails only its own row.
fn to_utf8(bytes: Vec<u8>) -> Result<Vec<u8>> {
    let utf16 = |le: bool| -> Result<Vec<u8>> {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units)
            .map(String::into_bytes)
            .map_err(|_| {
                Error::InvalidInput("the file says it is UTF-16 but is not valid UTF-16".into())
            })
    };
    match bytes.as_slice() {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        [0xEF, 0xBB, 0xBF, ..] => Ok(bytes[3..].to_vec()),
        _ => Ok(bytes),
    }
}

/// A timestamp from a file or a carrier: RFC 3339, or `YYYY-MM-DD[ HH:MM[:SS[.fff]]]` (with a
/// space or `T`) read as UTC; a bare date is midnight UTC.
pub fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().fixed_offset());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().fixed_offset())
}

/// The years a date of an order, a promise, an event or a delivery can be in. Outside them a
/// typo (`0000-01-01`, `9999-12-31`) would be stored, and estimated from, as if it were real.
pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=2100;

/// Whether `t` falls in [`YEARS`] (in UTC).
pub fn plausible<Tz: TimeZone>(t: &DateTime<Tz>) -> bool {
    YEARS.contains(&t.with_timezone(&Utc).year())
}

/// Why a date is refused: it is outside [`YEARS`].
pub fn implausible(what: &str, raw: &str) -> String {
    format!(
        "{what} {raw:?} is not between {} and {}: check the year",
        YEARS.start(),
        YEARS.end()
    )
}

/// A date given as `YYYY-MM-DD` or RFC 3339, in [`YEARS`]; else why not.
pub fn parse_date(what: &str, raw: &str) -> std::result::Result<DateTime<FixedOffset>, String> {
    let t = parse_time(raw)
        .ok_or_else(|| format!("{what} {raw:?} is not a date (use YYYY-MM-DD or RFC 3339)"))?;
    if plausible(&t) {
        Ok(t)
    } else {
        Err(implausible(what, raw))
    }
}

/// Where a quoted field opens that never closes: the byte offset of its opening quote. The
/// csv reader reads the rest of the file into that field without an error, so callers look
/// first. Follows the reader's rules: a quote opens a field only at its start, `""` inside is
/// a literal quote, and `\r` or `\n` end a record outside quotes.
pub(crate) fn unclosed_quote(data: &[u8]) -> Option<usize> {
    #[derive(Clone, Copy)]
    enum S {
        Start,
        Field,
        Quoted(usize),
        QuoteInQuoted(usize),
    }
    let mut state = S::Start;
    for (i, &b) in data.iter().enumerate() {
        state = match (state, b) {
            (S::Start, b'"') => S::Quoted(i),
            (S::Start | S::Field, b',' | b'\r' | b'\n') => S::Start,
            (S::Start | S::Field, _) => S::Field,
            (S::Quoted(q), b'"') => S::QuoteInQuoted(q),
            (S::Quoted(q), _) => S::Quoted(q),
            (S::QuoteInQuoted(q), b'"') => S::Quoted(q),
            (S::QuoteInQuoted(_), b',' | b'\r' | b'\n') => S::Start,
            (S::QuoteInQuoted(_), _) => S::Field,
        };
    }
    match state {
        S::Quoted(q) => Some(q),
        _ => None,
    }
}

/// The row error for the record that an unclosed quote at `quote` ran to the end of `data`.
pub(crate) fn unclosed_quote_reason(data: &[u8], quote: usize) -> String {
    let line = 1 + data[..quote].iter().filter(|b| **b == b'\n').count();
    let after = data[quote..].iter().filter(|b| **b == b'\n').count();
    format!(
        "the quote (\") opened on line {line} is never closed, so the {after} lines after it were read into this row; close the quote and import again"
    )
}

/// A carrier named by id or by name ("UPS", "Royal Mail").
pub fn carrier_id(s: &str) -> Option<String> {
    let wanted = s.trim().to_lowercase();
    if let Some(c) = detect::carrier(&wanted) {
        return Some(c.id);
    }
    detect::carriers()
        .into_iter()
        .find(|c| c.name.to_lowercase() == wanted || c.id.replace('-', " ") == wanted)
        .map(|c| c.id)
}

/// Validate a number as a person typed it, optionally for a named carrier, and return the
/// normalised number, the carrier id and the service the number encodes.
pub fn resolve_number(
    raw: &str,
    carrier: Option<&str>,
) -> Result<(String, String, Option<String>), String> {
    let found = match carrier {
        Some(c) => {
            let id = carrier_id(c)
                .ok_or_else(|| format!("unknown carrier {c:?} (see `parceltrail carriers`)"))?;
            detect::detect_as(raw, &id)
        }
        None => detect::detect(raw),
    };
    match (found.valid, found.candidates.first()) {
        (true, Some(best)) => Ok((
            found.number.clone(),
            best.carrier.clone(),
            best.service.clone(),
        )),
        _ => Err(found
            .reason
            .unwrap_or_else(|| format!("{raw:?} is not a tracking number we recognise"))),
    }
}

/// Strip the quote [`crate::export`] puts before spreadsheet-formula characters.
fn unquote(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => s,
    }
}

struct Row<'a> {
    fields: Vec<Option<&'a str>>,
}

impl<'a> Row<'a> {
    fn get(&self, col: Col, cols: &[(usize, Col)]) -> Option<&'a str> {
        cols.iter()
            .find(|(_, c)| *c == col)
            .and_then(|(i, _)| self.fields.get(*i).copied().flatten())
            .map(|s| unquote(s.trim()))
            .filter(|s| !s.is_empty())
    }
}

fn parse_row(record: &csv::ByteRecord, cols: &[(usize, Col)]) -> Result<NewShipment, String> {
    let mut fields = Vec::with_capacity(record.len());
    for (i, f) in record.iter().enumerate() {
        match std::str::from_utf8(f) {
            Ok(s) if s.len() > MAX_FIELD => {
                return Err(format!(
                    "column {} is longer than {MAX_FIELD} characters",
                    i + 1
                ));
            }
            Ok(s) => fields.push(Some(s)),
            Err(_) => {
                return Err(format!(
                    "column {} is not valid UTF-8 text (save the file as UTF-8)",
                    i + 1
                ));
            }
        }
    }
    let row = Row { fields };
    let get = |c| row.get(c, cols);
    let raw = get(Col::Number).ok_or("no tracking number")?;
    let (tracking_number, carrier, service) = resolve_number(raw, get(Col::Carrier))?;
    let placed_at = get(Col::PlacedAt)
        .map(|p| parse_date("order date", p))
        .transpose()?;
    let promised_at = get(Col::PromisedAt)
        .map(|p| parse_date("promised date", p))
        .transpose()?;
    let mut events = Vec::new();
    if let Some(at) = get(Col::EventTime) {
        let occurred_at = parse_time(at)
            .ok_or_else(|| format!("event time {at:?} is not a time (use RFC 3339)"))?;
        if !plausible(&occurred_at) {
            return Err(implausible("event time", at));
        }
        let status = match get(Col::EventStatus) {
            Some(s) => s
                .parse::<Status>()
                .map_err(|_| format!("event status {s:?} is not one of: {}", status_names()))?,
            None => Status::Unknown,
        };
        let source = match get(Col::EventSource) {
            Some(s) => s.parse::<Source>()?,
            None => Source::Manual,
        };
        events.push(NewEvent {
            occurred_at,
            status,
            raw_code: get(Col::EventCode).map(str::to_owned),
            description: get(Col::EventDescription).unwrap_or_default().to_owned(),
            location: Place {
                city: get(Col::EventCity).map(str::to_owned),
                region: get(Col::EventRegion).map(str::to_owned),
                country: get(Col::EventCountry).map(str::to_owned),
                postal: get(Col::EventPostal).map(str::to_owned),
            },
            source,
        });
    }
    let own = |c| get(c).map(str::to_owned);
    Ok(NewShipment {
        tracking_number,
        carrier,
        service,
        label: own(Col::Label),
        order: OrderInfo {
            store: own(Col::Store),
            order_number: own(Col::OrderNumber),
            items: own(Col::Items),
            placed_at,
            notes: own(Col::Notes),
            promised_at,
        },
        events,
    })
}

fn status_names() -> String {
    Status::ALL.map(Status::as_str).join(", ")
}

/// Rows per transaction: small enough that a crash loses little work, big enough that the
/// commit's fsync does not dominate.
pub const BATCH_ROWS: usize = 500;

/// The largest file an import reads (it is held in memory while it is read).
pub const MAX_FILE: u64 = 64 << 20;

/// Import a CSV file (at most [`MAX_FILE`] bytes) into the store. `progress` is called after
/// each committed batch with the bytes read so far and the total.
pub fn import_csv(
    store: &mut dyn Store,
    input: impl Read,
    now: DateTime<Utc>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport> {
    let mut bytes = Vec::new();
    input
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            context: "cannot read the CSV file".into(),
            source,
        })?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::InvalidInput(format!(
            "the file is larger than {} MiB, the most an import reads; split it into smaller files",
            MAX_FILE >> 20
        )));
    }
    let bytes = to_utf8(bytes)?;
    let total = bytes.len() as u64;
    let open_quote = unclosed_quote(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let headers = reader
        .byte_headers()
        .map_err(|e| Error::InvalidInput(format!("cannot read the header row: {e}")))?
        .clone();
    if let Some(q) = open_quote.filter(|q| (*q as u64) < reader.position().byte()) {
        return Err(Error::InvalidInput(format!(
            "the header row: {}",
            unclosed_quote_reason(&bytes, q)
        )));
    }
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        return Err(Error::InvalidInput(
            "the file is empty: expected a header row".into(),
        ));
    }
    let names: Vec<String> = headers
        .iter()
        .map(|h| header_key(&String::from_utf8_lossy(h)))
        .collect();
    let cols: Vec<(usize, Col)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| HEADERS.iter().find(|(h, _)| h == n).map(|(_, c)| (i, *c)))
        .collect();
    if !cols.iter().any(|(_, c)| *c == Col::Number) {
        return Err(Error::InvalidInput(format!(
            "no tracking-number column: name one of the columns \"tracking_number\" (found: {})",
            header_list(&names)
        )));
    }

    let mut report = ImportReport::default();
    let mut batch: Vec<NewShipment> = Vec::with_capacity(BATCH_ROWS);
    let mut record = csv::ByteRecord::new();
    let mut flush =
        |batch: &mut Vec<NewShipment>, report: &mut ImportReport, at: u64| -> Result<()> {
            if batch.is_empty() {
                return Ok(());
            }
            for a in store.add_shipments(batch, now)? {
                if a.created {
                    report.added += 1;
                } else {
                    report.already_tracked += 1;
                }
                report.events_added += a.events_added as u64;
            }
            batch.clear();
            progress(at, total);
            Ok(())
        };
    // Lines are counted from byte offsets: the csv crate's own line numbers run one short
    // in files with CRLF line ends. A record's offset may point at blank lines it skipped.
    let mut counted = (0usize, 1u64);
    let mut line_at = |byte: u64| {
        let mut b = (byte as usize).min(bytes.len());
        while b < bytes.len() && matches!(bytes[b], b'\r' | b'\n') {
            b += 1;
        }
        if b > counted.0 {
            counted.1 += bytes[counted.0..b].iter().filter(|c| **c == b'\n').count() as u64;
            counted.0 = b;
        }
        counted.1
    };
    loop {
        let line = line_at(reader.position().byte());
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| line_at(p.byte()));
                if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                    continue; // blank line
                }
                report.rows += 1;
                let start = record.position().map_or(0, |p| p.byte() as usize);
                let end = reader.position().byte() as usize;
                if let Some(q) = open_quote.filter(|q| (start..end).contains(q)) {
                    // This row ran to the end of the file: it is not what the file meant.
                    report.errors.push(RowError {
                        line,
                        reason: unclosed_quote_reason(&bytes, q),
                    });
                    continue;
                }
                match parse_row(&record, &cols) {
                    Ok(s) => batch.push(s),
                    Err(reason) => report.errors.push(RowError { line, reason }),
                }
            }
            Err(e) => {
                report.rows += 1;
                let line = e.position().map_or(line, |p| line_at(p.byte()));
                report.errors.push(RowError {
                    line,
                    reason: format!("unreadable CSV: {e}"),
                });
                if !matches!(
                    e.kind(),
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                ) {
                    // The reader cannot resynchronise after an I/O-level failure.
                    break;
                }
            }
        }
        if batch.len() >= BATCH_ROWS {
            flush(&mut batch, &mut report, reader.position().byte())?;
        }
    }
    flush(&mut batch, &mut report, total)?;
    Ok(report)
}
