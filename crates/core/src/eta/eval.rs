//! Rolling-origin evaluation of the ETA model on a CSV of past deliveries.
//!
//! Rows are replayed in order of `shipped_at`. Before each row, the model learns every
//! delivery completed strictly before that row was shipped (and nothing else: no peeking at
//! the future); then it estimates the row as a parcel in transit at its shipping time, and the
//! estimate is scored against the actual delivery, comparing local dates in the chosen zone.
//! The store's promised date (`estimated_at`) is an input to the model and is also scored
//! as a forecast in its own right, next to a naive baseline (shipped + the mean transit of
//! earlier deliveries by the same carrier).

use std::collections::{BinaryHeap, HashMap};
use std::io::Read;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::calendar::{local_date, local_to_utc};
use super::{Delivery, Estimate, EtaInput, Model, ModelConfig};
use crate::domain::Status;

/// What a CSV column means to the evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// When the parcel was shipped (required).
    ShippedAt,
    /// When it was delivered (required; empty: not delivered, the row is skipped).
    DeliveredAt,
    /// The store's promised delivery date.
    EstimatedAt,
    /// Carrier id.
    Carrier,
    /// Service.
    Service,
    /// Origin region.
    Origin,
    /// Destination region.
    Destination,
    /// Destination country (ISO alpha-2).
    DestCountry,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 8] = [
        Role::ShippedAt,
        Role::DeliveredAt,
        Role::EstimatedAt,
        Role::Carrier,
        Role::Service,
        Role::Origin,
        Role::Destination,
        Role::DestCountry,
    ];

    /// The role's name, which is also the default column header.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ShippedAt => "shipped_at",
            Role::DeliveredAt => "delivered_at",
            Role::EstimatedAt => "estimated_at",
            Role::Carrier => "carrier",
            Role::Service => "service",
            Role::Origin => "origin",
            Role::Destination => "destination",
            Role::DestCountry => "dest_country",
        }
    }

    fn required(self) -> bool {
        matches!(self, Role::ShippedAt | Role::DeliveredAt)
    }
}

impl FromStr for Role {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| EvalError::UnknownRole(s.to_owned()))
    }
}

/// Everything the evaluation can fail with (bad rows are skipped, never fatal).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A required column is not in the header.
    #[error(
        "the CSV has no column {header:?} (for {role}); columns found: {}",
        crate::import::header_list(found)
    )]
    MissingColumn {
        /// The role needing it.
        role: &'static str,
        /// The header looked for.
        header: String,
        /// The headers present.
        found: Vec<String>,
    },
    /// A `--col` mapping names no known role.
    #[error(
        "unknown column role {0:?}; roles are shipped_at, delivered_at, estimated_at, carrier, service, origin, destination, dest_country"
    )]
    UnknownRole(String),
    /// A `--col` mapping is not `ROLE=HEADER`.
    #[error("bad column mapping {0:?}: expected ROLE=HEADER, e.g. shipped_at=order_approved_at")]
    BadMapping(String),
    /// Not an IANA time zone name.
    #[error(
        "unknown time zone {0:?}: give an IANA name such as Europe/Berlin or America/Sao_Paulo"
    )]
    UnknownTimeZone(String),
    /// The file has no header row.
    #[error("the CSV is empty (no header row)")]
    Empty,
    /// Reading failed.
    #[error("reading the CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// Parses an IANA time zone name.
pub fn parse_tz(name: &str) -> Result<Tz, EvalError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| EvalError::UnknownTimeZone(name.to_owned()))
}

/// How to read and replay the file.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Zone of timestamps without an offset, and of the dates compared.
    pub tz: Tz,
    /// Column header per role, where it differs from the role's name.
    pub columns: HashMap<Role, String>,
    /// Destination country for rows without one (holiday calendar).
    pub default_country: Option<String>,
    /// The model's settings (its `tz` is replaced by `tz`).
    pub model: ModelConfig,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            tz: Tz::UTC,
            columns: HashMap::new(),
            default_country: None,
            model: ModelConfig::default(),
        }
    }
}

impl EvalOptions {
    /// Adds a `ROLE=HEADER` column mapping.
    pub fn map_column(&mut self, mapping: &str) -> Result<(), EvalError> {
        let (role, header) = mapping
            .split_once('=')
            .filter(|(r, h)| !r.trim().is_empty() && !h.trim().is_empty())
            .ok_or_else(|| EvalError::BadMapping(mapping.to_owned()))?;
        self.columns.insert(role.parse()?, header.trim().to_owned());
        Ok(())
    }

    fn header_for(&self, role: Role) -> &str {
        self.columns
            .get(&role)
            .map_or(role.as_str(), String::as_str)
    }
}

/// A row that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Line in the file (1 is the header).
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// The evaluation's measures. Days are local calendar days in the evaluation's zone.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Data rows read.
    pub rows: u64,
    /// Rows estimated and scored.
    pub evaluated: u64,
    /// Rows skipped (bad or incomplete).
    pub skipped: u64,
    /// Mean |delivered date − likely date|, in days.
    pub mae_days: f64,
    /// Share of deliveries with earliest date ≤ delivered date ≤ latest date.
    pub window_coverage: f64,
    /// Mean window width in days (latest date − earliest date + 1).
    pub mean_window_days: f64,
    /// Share delivered after the likely date.
    pub late_share: f64,
    /// Share delivered after the latest date.
    pub latest_late_share: f64,
    /// Mean |delivered date − promised date| over rows with a promise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_mae_days: Option<f64>,
    /// Share delivered after the promised date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_late_share: Option<f64>,
    /// Mean (latest date − promised date) in days over rows with a promise: negative when the
    /// window closes before the promise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_minus_promise_days: Option<f64>,
    /// MAE of the naive baseline: shipped + the mean transit (calendar days) of earlier
    /// deliveries by the same carrier (all carriers until that carrier has one).
    pub baseline_mae_days: f64,
    /// The skipped rows, in file order.
    #[serde(skip)]
    pub skipped_rows: Vec<Skipped>,
}

/// One usable row.
struct Row {
    line: u64,
    shipped: DateTime<Utc>,
    delivered: DateTime<Utc>,
    delivery: Delivery,
}

/// Parses a timestamp: RFC 3339, or `YYYY-MM-DD[( |T)HH:MM[:SS[.f]]]` in `tz`. A bare date is
/// that local day, taken at its noon.
pub fn parse_timestamp(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(local_to_utc(t, tz));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .map(|t| local_to_utc(t, tz))
}

/// Running sums of one forecast's scores.
#[derive(Default)]
struct Score {
    n: u64,
    abs_err: f64,
    late: u64,
}

impl Score {
    fn add(&mut self, actual: NaiveDate, predicted: NaiveDate) {
        self.n += 1;
        self.abs_err += (actual - predicted).num_days().abs() as f64;
        self.late += u64::from(actual > predicted);
    }

    fn mae(&self) -> f64 {
        self.abs_err / self.n as f64
    }

    fn late_share(&self) -> f64 {
        self.late as f64 / self.n as f64
    }
}

/// One scored row, as [`evaluate_with`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Line in the file.
    pub line: u64,
    /// When it was shipped (the moment of estimating).
    pub shipped_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: DateTime<Utc>,
    /// The model's estimate at shipping time.
    pub estimate: Estimate,
}

/// Reads the CSV and replays it (see the module docs).
pub fn evaluate<R: Read>(reader: R, opts: &EvalOptions) -> Result<EvalReport, EvalError> {
    evaluate_with(reader, opts, |_| {})
}

/// [`evaluate`], calling `each` with every scored row in replay order (for diagnostics).
pub fn evaluate_with<R: Read>(
    reader: R,
    opts: &EvalOptions,
    mut each: impl FnMut(&Scored),
) -> Result<EvalReport, EvalError> {
    // The whole file is read first (rows are held anyway) and CRLF turned into LF: the csv
    // crate accepts CRLF but then reports every record one line too early.
    let mut data = Vec::new();
    let mut reader = reader;
    reader
        .read_to_end(&mut data)
        .map_err(|e| EvalError::Csv(e.into()))?;
    let data = crlf_to_lf(data);
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(data.as_slice());
    let headers: Vec<String> = csv
        .byte_headers()?
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_owned()
        })
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(EvalError::Empty);
    }
    let mut index: HashMap<Role, usize> = HashMap::new();
    for role in Role::ALL {
        let want = opts.header_for(role);
        let found = headers
            .iter()
            .position(|h| h == want)
            .or_else(|| headers.iter().position(|h| h.eq_ignore_ascii_case(want)));
        match found {
            Some(i) => {
                index.insert(role, i);
            }
            None if role.required() || opts.columns.contains_key(&role) => {
                return Err(EvalError::MissingColumn {
                    role: role.as_str(),
                    header: want.to_owned(),
                    found: headers,
                });
            }
            None => {}
        }
    }

    let tz = opts.tz;
    let open_quote = crate::import::unclosed_quote(&data);
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut read = 0u64;
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(e.into());
                }
                read += 1;
                let line = e.position().map_or(0, csv::Position::line);
                skipped.push(Skipped {
                    line,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        }
        read += 1;
        let line = record.position().map_or(read + 1, csv::Position::line);
        let start = record.position().map_or(0, |p| p.byte() as usize);
        let end = csv.position().byte() as usize;
        if let Some(q) = open_quote.filter(|q| (start..end).contains(q)) {
            // This row ran to the end of the file: it is not what the file meant.
            skipped.push(Skipped {
                line,
                reason: crate::import::unclosed_quote_reason(&data, q),
            });
            continue;
        }
        match parse_row(&record, line, &index, opts, tz) {
            Ok(row) => rows.push(row),
            Err(reason) => skipped.push(Skipped { line, reason }),
        }
    }

    let mut report = replay(rows, opts, &mut each);
    report.rows = read;
    report.skipped = skipped.len() as u64;
    report.skipped_rows = skipped;
    Ok(report)
}

/// Replaces every `\r\n` by `\n`, in place.
fn crlf_to_lf(mut data: Vec<u8>) -> Vec<u8> {
    let mut w = 0;
    for r in 0..data.len() {
        let b = data[r];
        if b == b'\r' && data.get(r + 1) == Some(&b'\n') {
            continue;
        }
        data[w] = b;
        w += 1;
    }
    data.truncate(w);
    data
}

fn parse_row(
    record: &csv::ByteRecord,
    line: u64,
    index: &HashMap<Role, usize>,
    opts: &EvalOptions,
    tz: Tz,
) -> Result<Row, String> {
    let field = |role: Role| -> Result<Option<&str>, String> {
        let Some(&i) = index.get(&role) else {
            return Ok(None);
        };
        let raw = record.get(i).unwrap_or(b"");
        let s = std::str::from_utf8(raw)
            .map_err(|_| format!("{} is not valid UTF-8", opts.header_for(role)))?
            .trim();
        Ok((!s.is_empty()).then_some(s))
    };
    let time = |role: Role| -> Result<Option<DateTime<Utc>>, String> {
        match field(role)? {
            None => Ok(None),
            Some(s) => match parse_timestamp(s, tz) {
                Some(t) if crate::import::plausible(&t) => Ok(Some(t)),
                Some(_) => Err(crate::import::implausible(opts.header_for(role), s)),
                None => Err(format!(
                    "{} {s:?} is not a timestamp (RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]])",
                    opts.header_for(role)
                )),
            },
        }
    };
    let shipped = time(Role::ShippedAt)?
        .ok_or_else(|| format!("no {} (empty)", opts.header_for(Role::ShippedAt)))?;
    let delivered = time(Role::DeliveredAt)?.ok_or_else(|| {
        format!(
            "not delivered ({} is empty)",
            opts.header_for(Role::DeliveredAt)
        )
    })?;
    if delivered < shipped {
        return Err(format!(
            "delivered ({delivered}) before shipped ({shipped})"
        ));
    }
    let promised = time(Role::EstimatedAt)?;
    let text =
        |role: Role| -> Result<Option<String>, String> { Ok(field(role)?.map(str::to_owned)) };
    Ok(Row {
        line,
        shipped,
        delivered,
        delivery: Delivery {
            carrier: text(Role::Carrier)?,
            service: text(Role::Service)?,
            origin: text(Role::Origin)?,
            destination: text(Role::Destination)?,
            dest_country: text(Role::DestCountry)?.or_else(|| opts.default_country.clone()),
            started_at: shipped,
            delivered_at: delivered,
            promised_at: promised,
        },
    })
}

/// Replays usable rows in shipping order (the rolling-origin loop).
fn replay(mut rows: Vec<Row>, opts: &EvalOptions, each: &mut impl FnMut(&Scored)) -> EvalReport {
    let tz = opts.tz;
    rows.sort_by_key(|r| r.shipped); // stable: ties keep file order
    let mut model = Model::new(ModelConfig {
        tz,
        ..opts.model.clone()
    });
    // Deliveries not learned yet, soonest first.
    let mut pending: BinaryHeap<std::cmp::Reverse<(DateTime<Utc>, usize)>> = BinaryHeap::new();
    let mut base_by_carrier: HashMap<String, (f64, u64)> = HashMap::new();
    let mut base_all = (0.0f64, 0u64);

    let (mut model_score, mut merchant, mut baseline) =
        (Score::default(), Score::default(), Score::default());
    let (mut covered, mut width, mut latest_late) = (0u64, 0f64, 0u64);
    let mut latest_vs_promise = 0f64;

    for i in 0..rows.len() {
        let shipped = rows[i].shipped;
        while let Some(&std::cmp::Reverse((delivered, j))) = pending.peek() {
            if delivered >= shipped {
                break;
            }
            pending.pop();
            let d = &rows[j].delivery;
            model.learn(d);
            let days = (d.delivered_at - d.started_at).num_seconds() as f64 / 86_400.0;
            let e = base_by_carrier
                .entry(d.carrier.clone().unwrap_or_default().to_ascii_lowercase())
                .or_default();
            *e = (e.0 + days, e.1 + 1);
            base_all = (base_all.0 + days, base_all.1 + 1);
        }

        let row = &rows[i];
        let d = &row.delivery;
        let input = EtaInput {
            carrier: d.carrier.as_deref(),
            service: d.service.as_deref(),
            origin: d.origin.as_deref(),
            destination: d.destination.as_deref(),
            dest_country: d.dest_country.as_deref(),
            started_at: shipped,
            status: Status::InTransit,
            last_event_at: Some(shipped),
            carrier_eta: None,
            promised_at: d.promised_at,
            now: shipped,
            tz,
        };
        let actual = local_date(row.delivered, tz);
        if let Some(est) = model.estimate(&input) {
            let (lo, hi) = (local_date(est.earliest, tz), local_date(est.latest, tz));
            model_score.add(actual, local_date(est.likely, tz));
            covered += u64::from(lo <= actual && actual <= hi);
            width += ((hi - lo).num_days() + 1) as f64;
            latest_late += u64::from(actual > hi);
            if let Some(p) = d.promised_at {
                latest_vs_promise += (hi - local_date(p, tz)).num_days() as f64;
            }
            each(&Scored {
                line: row.line,
                shipped_at: shipped,
                delivered_at: row.delivered,
                estimate: est,
            });
        }
        if let Some(p) = d.promised_at {
            merchant.add(actual, local_date(p, tz));
        }
        let key = d.carrier.clone().unwrap_or_default().to_ascii_lowercase();
        let mean = base_by_carrier
            .get(&key)
            .filter(|(_, n)| *n > 0)
            .or((base_all.1 > 0).then_some(&base_all))
            .map(|(sum, n)| sum / *n as f64);
        if let Some(days) = mean {
            let predicted = shipped + chrono::Duration::seconds((days * 86_400.0) as i64);
            baseline.add(actual, local_date(predicted, tz));
        }
        pending.push(std::cmp::Reverse((row.delivered, i)));
    }

    let n = model_score.n as f64;
    let has_promises = merchant.n > 0;
    EvalReport {
        rows: 0,
        evaluated: model_score.n,
        skipped: 0,
        mae_days: model_score.mae(),
        window_coverage: covered as f64 / n,
        mean_window_days: width / n,
        late_share: model_score.late_share(),
        latest_late_share: latest_late as f64 / n,
        merchant_mae_days: has_promises.then(|| merchant.mae()),
        merchant_late_share: has_promises.then(|| merchant.late_share()),
        latest_minus_promise_days: has_promises.then(|| latest_vs_promise / merchant.n as f64),
        baseline_mae_days: baseline.mae(),
        skipped_rows: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_accepted_shape() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            parse_timestamp("2024-05-02T10:00:00Z", tz),
            Some(utc("2024-05-02T10:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2024-05-02 10:00:00", tz),
            Some(utc("2024-05-02T08:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2024-05-02T10:00", tz),
            Some(utc("2024-05-02T08:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2024-05-02", tz),
            Some(utc("2024-05-02T10:00:00Z"))
        );
        assert_eq!(parse_timestamp("02/05/2024", tz), None);
        assert_eq!(parse_timestamp("2024-13-02", tz), None);
    }

    #[test]
    fn column_mappings_are_validated() {
        let mut o = EvalOptions::default();
        o.map_column("shipped_at=order_approved_at").unwrap();
        assert_eq!(o.header_for(Role::ShippedAt), "order_approved_at");
        assert!(matches!(
            o.map_column("shipped_at"),
            Err(EvalError::BadMapping(_))
        ));
        assert!(matches!(
            o.map_column("sent=x"),
            Err(EvalError::UnknownRole(_))
        ));
        assert!(parse_tz("Mars/Olympus").is_err());
    }
}
