//! Export of the full history, for personal records: JSON (one document) or CSV (one row per
//! event; a parcel without events gets one row). Both stream, so a large store exports in
//! constant memory. A CSV export imports back with [`crate::import`].

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::{ShipmentRecord, Store};

/// The CSV columns, in order; [`crate::import`] reads the same names.
pub const CSV_COLUMNS: &[&str] = &[
    "tracking_number",
    "carrier",
    "status",
    "label",
    "store",
    "order_number",
    "items",
    "placed_at",
    "notes",
    "muted",
    "archived",
    "added_at",
    "event_time",
    "event_status",
    "event_code",
    "event_description",
    "event_city",
    "event_region",
    "event_country",
    "event_postal",
    "event_source",
];

fn io(context: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        context: context.to_owned(),
        source,
    }
}

/// A spreadsheet would run a cell starting with `=`, `+`, `-` or `@` as a formula; text from
/// carriers and files is untrusted, so such cells get a leading quote (import strips it).
pub fn cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// Write every shipment with its events as CSV.
pub fn write_csv(store: &dyn Store, out: impl Write) -> Result<u64> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)
        .map_err(|e| Error::InvalidInput(e.to_string()))?;
    let mut rows = 0u64;
    let rfc = |t: DateTime<chrono::FixedOffset>| t.to_rfc3339_opts(SecondsFormat::Secs, false);
    store.for_each_record(&mut |r: ShipmentRecord| {
        let s = &r.shipment;
        let o = &r.order;
        let opt = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_default().into_owned();
        let base = [
            s.tracking_number.clone(),
            s.carrier.clone(),
            s.status.as_str().to_owned(),
            opt(&s.label),
            opt(&o.store),
            opt(&o.order_number),
            opt(&o.items),
            o.placed_at.map(rfc).unwrap_or_default(),
            opt(&o.notes),
            s.muted.to_string(),
            s.archived.to_string(),
            s.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        ];
        let mut write = |ev: [String; 9]| -> Result<()> {
            w.write_record(base.iter().chain(ev.iter()))
                .map_err(|e| Error::Io {
                    context: "cannot write the CSV export".into(),
                    source: e.into(),
                })?;
            rows += 1;
            Ok(())
        };
        if r.events.is_empty() {
            write(Default::default())?;
        }
        for e in &r.events {
            write([
                rfc(e.occurred_at),
                e.status.as_str().to_owned(),
                opt(&e.raw_code),
                cell(&e.description).into_owned(),
                opt(&e.location.city),
                opt(&e.location.region),
                opt(&e.location.country),
                opt(&e.location.postal),
                e.source.as_str().to_owned(),
            ])?;
        }
        Ok(())
    })?;
    w.flush().map_err(io("cannot write the CSV export"))?;
    Ok(rows)
}

#[derive(Serialize)]
struct Header<'a> {
    format: &'a str,
    version: u32,
    exported_at: DateTime<Utc>,
}

/// Write every shipment with its order, events and status log as one JSON document:
/// `{"format":"parceltrail-export","version":1,"exported_at":…,"shipments":[…]}`.
pub fn write_json(store: &dyn Store, mut out: impl Write, now: DateTime<Utc>) -> Result<u64> {
    let header = serde_json::to_string(&Header {
        format: "parceltrail-export",
        version: 1,
        exported_at: now,
    })
    .map_err(|e| Error::InvalidInput(e.to_string()))?;
    let ctx = "cannot write the JSON export";
    // Open the header object and splice in the streamed array.
    write!(out, "{},\"shipments\":[", &header[..header.len() - 1]).map_err(io(ctx))?;
    let mut n = 0u64;
    store.for_each_record(&mut |r| {
        if n > 0 {
            out.write_all(b",").map_err(io(ctx))?;
        }
        out.write_all(b"\n").map_err(io(ctx))?;
        serde_json::to_writer(&mut out, &r).map_err(|e| Error::Io {
            context: ctx.into(),
            source: e.into(),
        })?;
        n += 1;
        Ok(())
    })?;
    out.write_all(b"\n]}\n").map_err(io(ctx))?;
    out.flush().map_err(io(ctx))?;
    Ok(n)
}
