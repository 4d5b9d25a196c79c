//! CSV import: untrusted files in, good rows stored, every bad row reported with its line and
//! reason.
//!
//! Rows are stored in batches, one transaction each, through [`Store::add_shipments`], which
//! is idempotent by tracking number: a re-run (say after a crash) adds nothing twice. A file
//! written by [`crate::export`] imports back with its full history.

use std::io::Read;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use parceltrail_detect as detect;

use crate::domain::{Customer, NewEvent, OrderStage, Place, Source, Status};
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
    CustomerName,
    CustomerEmail,
    CustomerPhone,
    CustomerPostcode,
    CustomerAddress,
    CustomerLanguage,
    CustomerTimeZone,
    Stage,
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
    // A shop's order files: the sales channel is the order's store, and its customer.
    ("channel", Col::Store),
    ("sales_channel", Col::Store),
    ("customer_name", Col::CustomerName),
    ("customer", Col::CustomerName),
    ("recipient", Col::CustomerName),
    ("recipient_name", Col::CustomerName),
    ("customer_email", Col::CustomerEmail),
    ("email", Col::CustomerEmail),
    ("e_mail", Col::CustomerEmail),
    ("customer_phone", Col::CustomerPhone),
    ("phone", Col::CustomerPhone),
    ("telephone", Col::CustomerPhone),
    ("customer_postcode", Col::CustomerPostcode),
    ("postcode", Col::CustomerPostcode),
    ("postal_code", Col::CustomerPostcode),
    ("zip", Col::CustomerPostcode),
    ("zip_code", Col::CustomerPostcode),
    ("customer_address", Col::CustomerAddress),
    ("address", Col::CustomerAddress),
    ("shipping_address", Col::CustomerAddress),
    ("customer_language", Col::CustomerLanguage),
    ("language", Col::CustomerLanguage),
    ("locale", Col::CustomerLanguage),
    ("customer_time_zone", Col::CustomerTimeZone),
    ("time_zone", Col::CustomerTimeZone),
    ("timezone", Col::CustomerTimeZone),
    ("stage", Col::Stage),
    ("order_stage", Col::Stage),
];

fn col_of(key: &str) -> Option<Col> {
    HEADERS.iter().find(|(h, _)| *h == key).map(|(_, c)| *c)
}

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

/// One row's values by column: trimmed, unquoted, empty ones left out; where two columns
/// mean the same, the first one given counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(Col, String)>);

impl Fields {
    fn get(&self, col: Col) -> Option<&str> {
        self.0
            .iter()
            .find(|(c, _)| *c == col)
            .map(|(_, v)| v.as_str())
    }

    /// The order number as given, for a report.
    pub fn order_number(&self) -> Option<&str> {
        self.get(Col::OrderNumber)
    }

    /// The tracking number as given, for a report.
    pub fn tracking_number(&self) -> Option<&str> {
        self.get(Col::Number)
    }

    fn push(&mut self, col: Col, raw: &str) {
        let v = unquote(raw.trim());
        if !v.is_empty() && self.get(col).is_none() {
            self.0.push((col, v.to_owned()));
        }
    }
}

/// The row's parcel, when it names a tracking number.
fn shipment_of(f: &Fields) -> std::result::Result<Option<NewShipment>, String> {
    let get = |c| f.get(c);
    let Some(raw) = get(Col::Number) else {
        return Ok(None);
    };
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
    Ok(Some(NewShipment {
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
    }))
}

/// The longest order number or sales channel.
pub const MAX_ORDER_NUMBER: usize = 200;
/// The longest tracking number, carrier, phone number or postcode.
pub const MAX_SHORT: usize = 100;
/// The longest email address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;

/// A person's text: trimmed, empty as none, at most `max` characters, without control
/// characters (line breaks and tabs allowed where `lines`); else why not, naming `field`.
pub fn clean_field(
    field: &str,
    v: &str,
    max: usize,
    lines: bool,
) -> std::result::Result<Option<String>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let n = v.chars().count();
    if n > max {
        return Err(format!(
            "{field} is {n} characters long; at most {max} are kept"
        ));
    }
    if let Some(c) = v
        .chars()
        .find(|c| c.is_control() && !(lines && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(format!(
            "{field} contains the control character U+{:04X}",
            c as u32
        ));
    }
    Ok(Some(v.to_owned()))
}

/// An email address as [`clean_field`] takes it, and shaped like one (`local@domain`, no
/// spaces).
pub fn clean_email(field: &str, v: &str) -> std::result::Result<Option<String>, String> {
    let Some(v) = clean_field(field, v, MAX_EMAIL, false)? else {
        return Ok(None);
    };
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !v.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if ok {
        Ok(Some(v))
    } else {
        Err(format!("{field} {v:?} is not an email address"))
    }
}

/// A row of a shop's order file: the order, its customer and, when the row names a tracking
/// number, one of its parcels.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRow {
    /// Sales channel (store), order number, items, dates, notes.
    pub info: OrderInfo,
    /// Who ordered.
    pub customer: Customer,
    /// The order's stage, when given.
    pub stage: Option<OrderStage>,
    /// The customer's language and time zone as written (`de-AT`, `Europe/Vienna`): the shop
    /// server reads them.
    pub language: Option<String>,
    /// See `language`.
    pub time_zone: Option<String>,
    /// The row's parcel.
    pub shipment: Option<NewShipment>,
}

/// Read a row of a shop's order file: it needs an order number; every field is checked as
/// the orders API checks it.
pub fn order_row(f: &Fields) -> std::result::Result<OrderRow, String> {
    let field = |name: &str, col, max, lines| match f.get(col) {
        Some(v) => clean_field(name, v, max, lines),
        None => Ok(None),
    };
    let order_number = field("order_number", Col::OrderNumber, MAX_ORDER_NUMBER, false)?
        .ok_or("no order number (column \"order_number\")")?;
    let date = |name: &str, col| {
        field(name, col, MAX_SHORT, false)?
            .map(|raw| parse_date(name, &raw))
            .transpose()
    };
    let info = OrderInfo {
        store: field("channel", Col::Store, MAX_ORDER_NUMBER, false)?,
        order_number: Some(order_number),
        items: field("items", Col::Items, MAX_FIELD, true)?,
        placed_at: date("placed_at", Col::PlacedAt)?,
        notes: field("notes", Col::Notes, MAX_FIELD, true)?,
        promised_at: date("promised_at", Col::PromisedAt)?,
    };
    let customer = Customer {
        name: field("customer_name", Col::CustomerName, MAX_FIELD, false)?,
        email: match f.get(Col::CustomerEmail) {
            Some(v) => clean_email("customer_email", v)?,
            None => None,
        },
        phone: field("customer_phone", Col::CustomerPhone, MAX_SHORT, false)?,
        postcode: field("customer_postcode", Col::CustomerPostcode, MAX_SHORT, false)?,
        address: field("customer_address", Col::CustomerAddress, MAX_FIELD, true)?,
    };
    let stage = f
        .get(Col::Stage)
        .map(|s| {
            s.to_lowercase()
                .replace([' ', '-'], "_")
                .parse::<OrderStage>()
        })
        .transpose()?;
    field("tracking_number", Col::Number, MAX_SHORT, false)?;
    field("carrier", Col::Carrier, MAX_SHORT, false)?;
    field("label", Col::Label, MAX_FIELD, false)?;
    let shipment = shipment_of(f).map_err(|reason| format!("tracking_number: {reason}"))?;
    Ok(OrderRow {
        info,
        customer,
        stage,
        language: field("customer_language", Col::CustomerLanguage, MAX_SHORT, false)?,
        time_zone: field(
            "customer_time_zone",
            Col::CustomerTimeZone,
            MAX_SHORT,
            false,
        )?,
        shipment,
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

/// A CSV file read into memory (at most [`MAX_FILE`] bytes, UTF-8 or UTF-16 with a BOM), its
/// header row mapped to the columns we know.
pub struct CsvFile {
    bytes: Vec<u8>,
    names: Vec<String>,
    cols: Vec<(usize, Col)>,
    open_quote: Option<usize>,
}

/// A data row of a [`CsvFile`].
#[derive(Debug)]
pub struct CsvRow {
    /// 1-based line where the row starts.
    pub line: u64,
    /// Bytes of the file read up to the row's end.
    pub end: u64,
    /// Its values, or why the row cannot be read.
    pub fields: std::result::Result<Fields, String>,
}

impl CsvFile {
    /// Read the file and its header row; a file too large, not text, empty or with an
    /// unreadable header is refused with the reason.
    pub fn read(input: impl Read) -> Result<CsvFile> {
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
        let cols = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| col_of(n).map(|c| (i, c)))
            .collect();
        drop(reader);
        Ok(CsvFile {
            bytes,
            names,
            cols,
            open_quote,
        })
    }

    /// The file's size in bytes (as text).
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Whether the file holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn has(&self, col: Col) -> bool {
        self.cols.iter().any(|(_, c)| *c == col)
    }

    /// Whether a column holds tracking numbers.
    pub fn has_tracking_numbers(&self) -> bool {
        self.has(Col::Number)
    }

    /// Whether a column holds order numbers.
    pub fn has_order_numbers(&self) -> bool {
        self.has(Col::OrderNumber)
    }

    /// The header's names, for a message.
    pub fn header_names(&self) -> String {
        header_list(&self.names)
    }

    /// Each data row in turn, blank lines skipped. A row that cannot be read (bad UTF-8, a
    /// field over [`MAX_FIELD`], a quote never closed) comes with its reason; the rows around
    /// it are read as usual.
    pub fn rows(&self, each: &mut dyn FnMut(CsvRow) -> Result<()>) -> Result<()> {
        let bytes = &self.bytes;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(bytes.as_slice());
        reader
            .byte_headers()
            .map_err(|e| Error::InvalidInput(format!("cannot read the header row: {e}")))?;
        let mut record = csv::ByteRecord::new();
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
                    let start = record.position().map_or(0, |p| p.byte() as usize);
                    let end = reader.position().byte();
                    let fields = match self
                        .open_quote
                        .filter(|q| (start..end as usize).contains(q))
                    {
                        // This row ran to the end of the file: it is not what the file meant.
                        Some(q) => Err(unclosed_quote_reason(bytes, q)),
                        None => self.fields(&record),
                    };
                    each(CsvRow { line, end, fields })?;
                }
                Err(e) => {
                    let line = e.position().map_or(line, |p| line_at(p.byte()));
                    let end = reader.position().byte();
                    each(CsvRow {
                        line,
                        end,
                        fields: Err(format!("unreadable CSV: {e}")),
                    })?;
                    if !matches!(
                        e.kind(),
                        csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                    ) {
                        // The reader cannot resynchronise after an I/O-level failure.
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn fields(&self, record: &csv::ByteRecord) -> std::result::Result<Fields, String> {
        let mut text = Vec::with_capacity(record.len());
        for (i, f) in record.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(s) if s.len() > MAX_FIELD => {
                    return Err(format!(
                        "column {} is longer than {MAX_FIELD} characters",
                        i + 1
                    ));
                }
                Ok(s) => text.push(s),
                Err(_) => {
                    return Err(format!(
                        "column {} is not valid UTF-8 text (save the file as UTF-8)",
                        i + 1
                    ));
                }
            }
        }
        let mut fields = Fields::default();
        for (i, col) in &self.cols {
            if let Some(v) = text.get(*i) {
                fields.push(*col, v);
            }
        }
        Ok(fields)
    }
}

/// A row of a JSON import, with where it is in the document.
#[derive(Debug)]
pub struct JsonRow {
    /// A JSON Pointer (RFC 6901) to the row: `/orders/3`, or `/orders/3/shipments/1`.
    pub pointer: String,
    /// Its values, or why the row cannot be read.
    pub fields: std::result::Result<Fields, String>,
}

/// Keys that hold an order's parcels, each a row of its own.
const SHIPMENT_LISTS: &[&str] = &["shipments", "parcels", "trackings", "tracking_numbers"];

/// `trackingNumber`, `Tracking Number`, `tracking-number` → `tracking_number`.
fn key_of(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut after_lower = false;
    for c in key.chars() {
        if c.is_uppercase() {
            if after_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            after_lower = false;
        } else {
            out.push(c);
            after_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    header_key(&out)
}

/// Set the column `key` names (if any) from a JSON value: text, a number or a boolean as
/// text; null as nothing.
fn set_json(f: &mut Fields, key: &str, v: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    let Some(col) = col_of(key) else {
        return Ok(()); // not ours, as an unknown CSV column
    };
    match v {
        Value::Null => {}
        Value::String(s) => {
            if s.len() > MAX_FIELD {
                return Err(format!("{key} is longer than {MAX_FIELD} characters"));
            }
            f.push(col, s)
        }
        Value::Number(n) => f.push(col, &n.to_string()),
        Value::Bool(b) => f.push(col, &b.to_string()),
        Value::Array(_) | Value::Object(_) => {
            return Err(format!("{key} is a JSON {}; expected text", kind(v)));
        }
    }
    Ok(())
}

fn kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A key and its value in a JSON object.
type Entry<'a> = (&'a str, &'a serde_json::Value);

/// The order-level fields of one element, and its list of parcels if it has one.
fn json_order(
    obj: &serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<(Fields, Option<Entry<'_>>), String> {
    let mut f = Fields::default();
    let mut list = None;
    for (k, v) in obj {
        let key = key_of(k);
        if SHIPMENT_LISTS.contains(&key.as_str()) {
            list = Some((k.as_str(), v));
        } else if key == "customer" && v.is_object() {
            for (ck, cv) in v.as_object().into_iter().flatten() {
                let ck = key_of(ck);
                let name = if ck.starts_with("customer_") {
                    ck
                } else {
                    format!("customer_{ck}")
                };
                set_json(&mut f, &name, cv).map_err(|e| format!("customer: {e}"))?;
            }
        } else {
            set_json(&mut f, &key, v)?;
        }
    }
    Ok((f, list))
}

/// The rows of a JSON import: an array of orders (or of rows such as `{orderId,
/// trackingNumber, carrier}`), or `{"orders": [...]}`. Keys are read as CSV headers are
/// (camelCase too), a `customer` object's keys as `customer_…`, and each element of a
/// `shipments` list (or `parcels`, `trackings`; `tracking_numbers` of plain numbers) as a row
/// of its own with its order's fields. A document of another shape is refused with the
/// reason.
pub fn json_rows(doc: &serde_json::Value) -> std::result::Result<Vec<JsonRow>, String> {
    use serde_json::Value;
    let (base, items) = match doc {
        Value::Array(items) => (String::new(), items),
        Value::Object(o) => match o.get("orders") {
            Some(Value::Array(items)) => ("/orders".to_owned(), items),
            _ => {
                return Err("expected an array of orders, or an object {\"orders\": [...]}".into());
            }
        },
        v => {
            return Err(format!(
                "the document is a JSON {}; expected an array of orders, or an object {{\"orders\": [...]}}",
                kind(v)
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let pointer = format!("{base}/{i}");
        let Value::Object(obj) = item else {
            out.push(JsonRow {
                pointer,
                fields: Err(format!("a JSON {}; expected an object", kind(item))),
            });
            continue;
        };
        let (order, list) = match json_order(obj) {
            Ok(v) => v,
            Err(e) => {
                out.push(JsonRow {
                    pointer,
                    fields: Err(e),
                });
                continue;
            }
        };
        let parcels = match list {
            None => None,
            Some((_, Value::Array(a))) if !a.is_empty() => Some(a),
            Some((_, Value::Array(_) | Value::Null)) => None,
            Some((k, v)) => {
                out.push(JsonRow {
                    pointer,
                    fields: Err(format!("{k} is a JSON {}; expected an array", kind(v))),
                });
                continue;
            }
        };
        let Some(parcels) = parcels else {
            out.push(JsonRow {
                pointer,
                fields: Ok(order),
            });
            continue;
        };
        let list_key = list.map(|(k, _)| k).unwrap_or_default();
        for (j, p) in parcels.iter().enumerate() {
            let pointer = format!("{pointer}/{}/{j}", pointer_escape(list_key));
            let mut f = Fields::default();
            let own = match p {
                Value::Object(o) => o
                    .iter()
                    .try_for_each(|(k, v)| set_json(&mut f, &key_of(k), v)),
                Value::String(_) | Value::Number(_) => set_json(&mut f, "tracking_number", p),
                v => Err(format!("a JSON {}; expected an object", kind(v))),
            };
            // The parcel's own values first: they win over its order's (first one counts).
            let fields = own.map(|()| {
                for (c, v) in &order.0 {
                    f.push(*c, v);
                }
                f
            });
            out.push(JsonRow { pointer, fields });
        }
    }
    Ok(out)
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Import a CSV file (at most [`MAX_FILE`] bytes) into the store. `progress` is called after
/// each committed batch with the bytes read so far and the total.
pub fn import_csv(
    store: &mut dyn Store,
    input: impl Read,
    now: DateTime<Utc>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport> {
    let file = CsvFile::read(input)?;
    if !file.has_tracking_numbers() {
        return Err(Error::InvalidInput(format!(
            "no tracking-number column: name one of the columns \"tracking_number\" (found: {})",
            file.header_names()
        )));
    }
    let total = file.len();
    let mut report = ImportReport::default();
    let mut batch: Vec<NewShipment> = Vec::with_capacity(BATCH_ROWS);
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
    file.rows(&mut |row| {
        report.rows += 1;
        let parsed = row.fields.and_then(|f| {
            shipment_of(&f).and_then(|s| s.ok_or_else(|| "no tracking number".to_owned()))
        });
        match parsed {
            Ok(s) => batch.push(s),
            Err(reason) => report.errors.push(RowError {
                line: row.line,
                reason,
            }),
        }
        if batch.len() >= BATCH_ROWS {
            flush(&mut batch, &mut report, row.end)?;
        }
        Ok(())
    })?;
    flush(&mut batch, &mut report, total)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_keys_read_as_csv_headers() {
        for (k, want) in [
            ("trackingNumber", "tracking_number"),
            ("orderId", "order_id"),
            ("orderID", "order_id"),
            ("Customer Email", "customer_email"),
            ("tracking-number", "tracking_number"),
            ("zip", "zip"),
        ] {
            assert_eq!(key_of(k), want, "{k}");
        }
    }

    #[test]
    fn json_rows_take_each_shape_with_a_pointer_per_row() {
        let rows = json_rows(&json!({"orders": [
            {"orderNumber": "A-1", "customer": {"email": "a@example.com"},
             "tracking_numbers": ["1Z5R89390000000011", 7]},
            {"order_number": "A-2"},
            null,
        ]}))
        .unwrap();
        let at: Vec<&str> = rows.iter().map(|r| r.pointer.as_str()).collect();
        assert_eq!(
            at,
            [
                "/orders/0/tracking_numbers/0",
                "/orders/0/tracking_numbers/1",
                "/orders/1",
                "/orders/2"
            ]
        );
        let first = rows[0].fields.as_ref().unwrap();
        assert_eq!(first.get(Col::Number), Some("1Z5R89390000000011"));
        assert_eq!(first.get(Col::OrderNumber), Some("A-1"));
        assert_eq!(first.get(Col::CustomerEmail), Some("a@example.com"));
        assert_eq!(rows[1].fields.as_ref().unwrap().get(Col::Number), Some("7"));
        assert!(rows[3].fields.as_ref().unwrap_err().contains("JSON null"));
        assert!(json_rows(&json!({"rows": []})).is_err());
        assert!(
            json_rows(&json!("A-1"))
                .unwrap_err()
                .contains("JSON string")
        );
    }

    #[test]
    fn an_order_row_is_checked_as_the_api_checks_it() {
        let mut f = Fields::default();
        f.push(Col::OrderNumber, "A-1");
        f.push(Col::Stage, "In Preparation");
        f.push(Col::CustomerAddress, "1 Road\nTown");
        let r = order_row(&f).unwrap();
        assert_eq!(r.stage, Some(OrderStage::InPreparation));
        assert_eq!(r.customer.address.as_deref(), Some("1 Road\nTown"));
        assert!(r.shipment.is_none());
        f.push(Col::CustomerName, "Ada\u{1b}[31m");
        assert!(order_row(&f).unwrap_err().contains("control character"));
        assert!(
            order_row(&Fields::default())
                .unwrap_err()
                .contains("no order number")
        );
    }
}
