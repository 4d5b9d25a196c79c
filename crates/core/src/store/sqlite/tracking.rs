//! The SQLite side of estimates, problems, the notification journal and outbox, and
//! settings. Called from the [`Store`](super::Store) impl in `sqlite.rs`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::{
    Active, Assessment, Change, JournalCursor, JournalEntry, OutboxEntry, OutboxState, SendOutcome,
    append_feed, bad, clean_text, estimate_at, eta_at, ms, opt_utc, place, status, utc,
};
use crate::domain::{Place, ShipmentId};
use crate::error::Result;
use crate::eta::Delivery;
use crate::notify::rules::Draft;
use crate::notify::{Channel, Urgency};
use crate::problems::{OpenProblem, Problem, ProblemKind};
use crate::store::report::{self, DeliveryGroup, Dialect, ReportBy, ReportSpan, Spread};
use crate::store::{LEAD_SCAN, same_estimate};

pub(super) fn order_lead_times(
    conn: &Connection,
    since: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.placed_at, max(s.status_at)
         FROM (SELECT id, placed_at FROM orders WHERE deleted = 0 AND placed_at >= ?1
               ORDER BY placed_at DESC LIMIT ?3) o
         JOIN shipments s ON s.order_id = o.id AND s.deleted = 0
         GROUP BY o.id, o.placed_at
         HAVING min(s.status = 'delivered') = 1 AND count(s.status_at) = count(*)
         ORDER BY o.placed_at DESC LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![ms(since), limit as i64, LEAD_SCAN as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (placed, delivered) = (utc(r.get(0)?)?, utc(r.get(1)?)?);
        if delivered >= placed {
            out.push((placed, delivered));
        }
    }
    Ok(out)
}

pub(super) fn notification_latency(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<report::ChannelLatency>> {
    let mut stmt = conn.prepare_cached(report::latency_sql(report::sqlite_dialect()))?;
    let rows = stmt.query_map(params![ms(from), ms(to)], |r| {
        Ok(report::ChannelLatency {
            channel: r.get(0)?,
            seconds: Spread {
                n: r.get::<_, i64>(1)?.max(0) as u64,
                median: r.get(2)?,
                p90: r.get(3)?,
            },
            from_event: Spread {
                n: r.get::<_, i64>(4)?.max(0) as u64,
                median: r.get(5)?,
                p90: r.get(6)?,
            },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn problem_counts(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<report::ProblemCount>> {
    let mut stmt = conn.prepare_cached(report::problems_sql(Dialect::Sqlite))?;
    let rows = stmt.query_map(params![ms(from), ms(to)], |r| {
        Ok(report::ProblemCount {
            carrier: r.get(0)?,
            kind: r.get::<_, String>(1)?.parse().map_err(bad)?,
            parcels: r.get::<_, i64>(2)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn delivery_report(
    conn: &Connection,
    span: &ReportSpan,
    by: ReportBy,
) -> Result<Vec<DeliveryGroup>> {
    let mut stmt = conn.prepare(&report::sql(report::sqlite_dialect(), by, span))?;
    let mut rows = stmt.query(params![ms(span.from), ms(span.to)])?;
    let count =
        |r: &Row, i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    let spread = |r: &Row, i: usize| -> rusqlite::Result<Spread> {
        Ok(Spread {
            n: count(r, i)?,
            median: r.get(i + 1)?,
            p90: r.get(i + 2)?,
        })
    };
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(DeliveryGroup {
            key: match by {
                ReportBy::Week => r.get::<_, Option<i64>>(0)?.and_then(report::week_key),
                _ => r.get(0)?,
            },
            delivered: count(r, 1)?,
            transit_days: spread(r, 2)?,
            transit_business_days: spread(r, 5)?,
            order_days: spread(r, 8)?,
            order_business_days: spread(r, 11)?,
            early: count(r, 14)?,
            on_day: count(r, 15)?,
            late: count(r, 16)?,
            estimate_met: count(r, 17)?,
            estimate_missed: count(r, 18)?,
            first_attempt: count(r, 19)?,
        });
    }
    report::sort(&mut out);
    Ok(out)
}

pub(super) fn deliveries(
    conn: &Connection,
    each: &mut dyn FnMut(Delivery) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.carrier, s.service, s.origin_country, s.origin_region, s.dest_country,
                s.dest_region, coalesce(s.shipped_at, s.created_at), s.status_at, o.promised_at
         FROM shipments s JOIN orders o ON o.id = s.order_id
         WHERE s.deleted = 0 AND s.status = 'delivered' AND s.status_at IS NOT NULL",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let origin = Place {
            country: r.get(2)?,
            region: r.get(3)?,
            ..Place::default()
        };
        let destination = Place {
            country: r.get(4)?,
            region: r.get(5)?,
            ..Place::default()
        };
        let started_at = utc(r.get(6)?)?;
        let delivered_at = utc(r.get(7)?)?;
        if delivered_at < started_at {
            continue;
        }
        each(Delivery {
            carrier: Some(r.get(0)?),
            service: r.get(1)?,
            origin: origin.region_key(),
            destination: destination.region_key(),
            dest_country: destination.country.map(|c| c.to_uppercase()),
            started_at,
            delivered_at,
            promised_at: opt_utc(r.get(8)?)?,
        })?;
    }
    Ok(())
}

const ACTIVE_COLUMNS: &str = "s.id, s.carrier, s.service, \
    s.origin_city, s.origin_region, s.origin_country, s.origin_postal, \
    s.dest_city, s.dest_region, s.dest_country, s.dest_postal, \
    s.status, s.status_at, s.status_detail, s.shipped_at, s.created_at, s.last_event_at, \
    s.eta_earliest, s.eta_earliest_offset, s.eta_latest, s.eta_latest_offset, s.eta_observed_at, \
    o.promised_at, s.est_earliest, s.est_likely, s.est_latest, s.est_confidence, s.est_source, \
    s.est_first_latest";

fn active_from_row(r: &Row) -> rusqlite::Result<Active> {
    Ok(Active {
        id: ShipmentId(r.get(0)?),
        carrier: r.get(1)?,
        service: r.get(2)?,
        origin: place(r, 3)?,
        destination: place(r, 7)?,
        status: status(&r.get::<_, String>(11)?)?,
        status_at: opt_utc(r.get(12)?)?,
        detail: r.get(13)?,
        shipped_at: opt_utc(r.get(14)?)?,
        created_at: utc(r.get(15)?)?,
        last_event_at: opt_utc(r.get(16)?)?,
        carrier_eta: eta_at(r, 17)?,
        promised_at: opt_utc(r.get(22)?)?,
        estimate: estimate_at(r, 23)?,
        first_latest: opt_utc(r.get(28)?)?,
        problems: Vec::new(),
    })
}

fn problem_from_row(r: &Row, first: usize) -> rusqlite::Result<Problem> {
    Ok(Problem {
        kind: r.get::<_, String>(first)?.parse().map_err(bad)?,
        since: utc(r.get(first + 1)?)?,
        detail: r.get(first + 2)?,
    })
}

pub(super) fn active(
    conn: &Connection,
    ids: Option<&[ShipmentId]>,
    each: &mut dyn FnMut(Active) -> Result<()>,
) -> Result<()> {
    match ids {
        Some(ids) => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ACTIVE_COLUMNS} FROM shipments s JOIN orders o ON o.id = s.order_id
                 WHERE s.id = ?1 AND s.deleted = 0"
            ))?;
            let mut open = conn.prepare_cached(
                "SELECT kind, since, detail FROM problems
                 WHERE shipment_id = ?1 AND resolved_at IS NULL ORDER BY id",
            )?;
            for id in ids {
                if let Some(mut a) = stmt.query_row([id.0], active_from_row).optional()? {
                    a.problems = open
                        .query_map([id.0], |r| problem_from_row(r, 0))?
                        .collect::<rusqlite::Result<_>>()?;
                    each(a)?;
                }
            }
        }
        None => {
            // Open problems first, in one query (there are few next to the parcels).
            let mut open: HashMap<Uuid, Vec<Problem>> = HashMap::new();
            let mut stmt = conn.prepare_cached(
                "SELECT shipment_id, kind, since, detail FROM problems
                 WHERE resolved_at IS NULL ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                open.entry(r.get(0)?)
                    .or_default()
                    .push(problem_from_row(r, 1)?);
            }
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ACTIVE_COLUMNS} FROM shipments s JOIN orders o ON o.id = s.order_id
                 WHERE s.deleted = 0 AND s.archived = 0
                   AND s.status NOT IN ('delivered', 'returned', 'expired')"
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let mut a = active_from_row(r)?;
                a.problems = open.remove(&a.id.0).unwrap_or_default();
                each(a)?;
            }
        }
    }
    Ok(())
}

pub(super) fn save_derived(
    conn: &mut Connection,
    rows: &[Assessment],
    now: DateTime<Utc>,
) -> Result<Vec<Change>> {
    let now = ms(now);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut changes = Vec::new();
    {
        let mut update = tx.prepare_cached(
            "UPDATE shipments SET est_earliest = ?2, est_likely = ?3, est_latest = ?4,
                est_confidence = ?5, est_source = ?6,
                est_first_latest = coalesce(est_first_latest, ?7)
             WHERE id = ?1 AND deleted = 0",
        )?;
        let mut first = tx.prepare_cached(
            "UPDATE shipments SET est_first_latest = ?2 WHERE id = ?1 AND est_first_latest IS NULL",
        )?;
        let mut open = tx.prepare_cached(
            "SELECT id, kind, key FROM problems WHERE shipment_id = ?1 AND resolved_at IS NULL",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO problems (shipment_id, kind, key, since, detail, opened_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (shipment_id, key) DO UPDATE SET resolved_at = NULL, detail = ?5
             RETURNING resolved_at IS NULL",
        )?;
        let mut resolve =
            tx.prepare_cached("UPDATE problems SET resolved_at = ?2 WHERE id = ?1")?;
        for d in rows {
            if !same_estimate(d.previous.as_ref(), d.estimate.as_ref()) {
                let e = d.estimate;
                if update.execute(params![
                    d.id.0,
                    e.map(|e| ms(e.earliest)),
                    e.map(|e| ms(e.likely)),
                    e.map(|e| ms(e.latest)),
                    e.map(|e| f64::from(e.confidence)),
                    e.map(|e| e.source.as_str()),
                    d.first_latest.map(ms),
                ])? == 0
                {
                    continue; // removed meanwhile
                }
                changes.push(Change::EstimateChanged {
                    shipment_id: d.id,
                    estimate: d.estimate,
                });
            } else if let Some(f) = d.first_latest {
                first.execute(params![d.id.0, ms(f)])?;
            }
            let was: Vec<(i64, String, Uuid)> = open
                .query_map([d.id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let keys: HashMap<Uuid, &Problem> = d.problems.iter().map(|p| (p.key(), p)).collect();
            for (id, kind, key) in &was {
                if !keys.contains_key(key) {
                    resolve.execute(params![id, now])?;
                    changes.push(Change::ProblemResolved {
                        shipment_id: d.id,
                        problem: kind.parse::<ProblemKind>().map_err(bad)?,
                    });
                }
            }
            for (key, p) in keys {
                if was.iter().any(|w| w.2 == key) {
                    continue;
                }
                // A reopened occurrence keeps its row (and id): it does not notify twice.
                let fresh: bool = insert.query_row(
                    params![
                        d.id.0,
                        p.kind.as_str(),
                        key,
                        ms(p.since),
                        clean_text(&p.detail),
                        now
                    ],
                    |r| r.get(0),
                )?;
                if fresh {
                    changes.push(Change::ProblemOpened {
                        shipment_id: d.id,
                        problem: p.kind,
                    });
                }
            }
        }
    }
    append_feed(&tx, &changes, now)?;
    tx.commit()?;
    Ok(changes)
}

pub(super) fn open_problems(conn: &Connection, id: Option<ShipmentId>) -> Result<Vec<OpenProblem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.shipment_id, p.kind, p.since, p.detail, p.opened_at
         FROM problems p JOIN shipments s ON s.id = p.shipment_id
         WHERE p.resolved_at IS NULL AND s.deleted = 0 AND (?1 IS NULL OR p.shipment_id = ?1)
         ORDER BY p.opened_at, p.id",
    )?;
    let rows = stmt.query_map([id.map(|i| i.0)], |r| {
        Ok(OpenProblem {
            shipment_id: ShipmentId(r.get(0)?),
            problem: Problem {
                kind: r.get::<_, String>(1)?.parse().map_err(bad)?,
                since: utc(r.get(2)?)?,
                detail: r.get(3)?,
            },
            opened_at: utc(r.get(4)?)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn journal_cursor(conn: &Connection) -> Result<JournalCursor> {
    let mut stmt = conn.prepare_cached("SELECT name, position FROM cursors")?;
    let mut c = JournalCursor::default();
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        match row? {
            (n, p) if n == "status_log" => c.status_log = p,
            (n, p) if n == "problems" => c.problems = p,
            _ => {}
        }
    }
    Ok(c)
}

pub(super) fn journal(
    conn: &Connection,
    after: JournalCursor,
    limit: usize,
) -> Result<(Vec<JournalEntry>, JournalCursor)> {
    let mut out = Vec::new();
    let mut next = after;
    let mut stmt = conn.prepare_cached(
        "SELECT l.id, l.shipment_id, l.from_status, l.to_status, l.cause, l.event_key,
                e.occurred_at, e.description, l.changed_at
         FROM status_log l
         LEFT JOIN events e ON e.shipment_id = l.shipment_id AND e.dedupe_key = l.event_key
         WHERE l.id > ?1 ORDER BY l.id LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![after.status_log, limit as i64])?;
    while let Some(r) = rows.next()? {
        next.status_log = r.get(0)?;
        out.push(JournalEntry::Status {
            shipment_id: ShipmentId(r.get(1)?),
            from: status(&r.get::<_, String>(2)?)?,
            to: status(&r.get::<_, String>(3)?)?,
            cause: r.get(4)?,
            event_key: r.get(5)?,
            event_at: opt_utc(r.get(6)?)?,
            detail: r.get(7)?,
            changed_at: utc(r.get(8)?)?,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT id, shipment_id, kind, since, detail FROM problems
         WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![after.problems, limit as i64])?;
    while let Some(r) = rows.next()? {
        next.problems = r.get(0)?;
        out.push(JournalEntry::Problem {
            shipment_id: ShipmentId(r.get(1)?),
            problem: Problem {
                kind: r.get::<_, String>(2)?.parse().map_err(bad)?,
                since: utc(r.get(3)?)?,
                detail: r.get(4)?,
            },
        });
    }
    Ok((out, next))
}

pub(super) fn notified(conn: &Connection, keys: &[Uuid]) -> Result<Vec<Uuid>> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM notified WHERE key = ?1")?;
    let mut out = Vec::new();
    for k in keys {
        if stmt.exists([k])? {
            out.push(*k);
        }
    }
    Ok(out)
}

fn urgency_str(u: Urgency) -> &'static str {
    match u {
        Urgency::Low => "low",
        Urgency::Normal => "normal",
        Urgency::Critical => "critical",
    }
}

fn insert_draft(tx: &rusqlite::Transaction, d: &Draft, state: OutboxState, now: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO outbox (id, dedupe_key, channel, shipment_id, kind, title, body, link,
            urgency, state, next_attempt_at, created_at, event_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11,
                 (SELECT last_event_at FROM shipments WHERE id = ?4))
         ON CONFLICT (channel, dedupe_key) DO NOTHING",
    )?
    .execute(params![
        d.id,
        d.dedupe_key,
        d.channel.as_str(),
        d.shipment_id.map(|s| s.0),
        d.kind.map(|k| k.as_str()),
        clean_text(&d.title),
        clean_text(&d.body),
        clean_text(&d.link),
        urgency_str(d.urgency),
        state.as_str(),
        now,
    ])?;
    Ok(())
}

pub(super) fn record_notifications(
    conn: &mut Connection,
    from: JournalCursor,
    to: JournalCursor,
    news: &[Uuid],
    drafts: &[Draft],
    now: DateTime<Utc>,
) -> Result<bool> {
    let now = ms(now);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if journal_cursor(&tx)? != from {
        return Ok(false); // another process read this stretch first
    }
    tx.execute(
        "UPDATE cursors SET position = ?1 WHERE name = 'status_log'",
        [to.status_log],
    )?;
    tx.execute(
        "UPDATE cursors SET position = ?1 WHERE name = 'problems'",
        [to.problems],
    )?;
    {
        let mut mark =
            tx.prepare_cached("INSERT OR IGNORE INTO notified (key, notified_at) VALUES (?1, ?2)")?;
        for k in news {
            mark.execute(params![k, now])?;
        }
    }
    for d in drafts {
        let state = match d.initial {
            crate::notify::rules::Initial::Pending => OutboxState::Pending,
            crate::notify::rules::Initial::Held => OutboxState::Held,
        };
        insert_draft(&tx, d, state, now)?;
    }
    tx.commit()?;
    Ok(true)
}

pub(super) fn queue_notifications(
    conn: &mut Connection,
    drafts: &[Draft],
    now: DateTime<Utc>,
) -> Result<()> {
    let now = ms(now);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for d in drafts {
        let state = match d.initial {
            crate::notify::rules::Initial::Pending => OutboxState::Pending,
            crate::notify::rules::Initial::Held => OutboxState::Held,
        };
        insert_draft(&tx, d, state, now)?;
    }
    tx.commit()?;
    Ok(())
}

const OUTBOX_COLUMNS: &str = "id, dedupe_key, channel, shipment_id, kind, title, body, link, \
    urgency, state, attempts, next_attempt_at, last_error, created_at, sent_at";

fn outbox_from_row(r: &Row) -> rusqlite::Result<OutboxEntry> {
    let state = match r.get::<_, String>(9)?.as_str() {
        "held" => OutboxState::Held,
        "pending" => OutboxState::Pending,
        "sent" => OutboxState::Sent,
        "failed" => OutboxState::Failed,
        "summarized" => OutboxState::Summarized,
        other => return Err(bad(format!("unknown outbox state {other:?}"))),
    };
    let urgency = match r.get::<_, String>(8)?.as_str() {
        "low" => Urgency::Low,
        "critical" => Urgency::Critical,
        _ => Urgency::Normal,
    };
    Ok(OutboxEntry {
        id: r.get(0)?,
        dedupe_key: r.get(1)?,
        channel: r.get::<_, String>(2)?.parse::<Channel>().map_err(bad)?,
        shipment_id: r.get::<_, Option<Uuid>>(3)?.map(ShipmentId),
        kind: r
            .get::<_, Option<String>>(4)?
            .map(|k| k.parse().map_err(bad))
            .transpose()?,
        title: r.get(5)?,
        body: r.get(6)?,
        link: r.get(7)?,
        urgency,
        state,
        attempts: r.get(10)?,
        next_attempt_at: opt_utc(r.get(11)?)?,
        last_error: r.get(12)?,
        created_at: utc(r.get(13)?)?,
        sent_at: opt_utc(r.get(14)?)?,
    })
}

pub(super) fn due_notifications(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox
         WHERE state = 'pending' AND next_attempt_at <= ?1
         ORDER BY next_attempt_at, id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![ms(now), limit as i64], outbox_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn next_notification_due(conn: &Connection) -> Result<Option<DateTime<Utc>>> {
    let at: Option<i64> = conn
        .prepare_cached("SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?;
    Ok(opt_utc(at)?)
}

pub(super) fn mark_notification(
    conn: &Connection,
    id: Uuid,
    outcome: &SendOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let now = ms(now);
    match outcome {
        SendOutcome::Sent => conn
            .prepare_cached(
                "UPDATE outbox SET state = 'sent', sent_at = ?2, attempts = attempts + 1,
                    next_attempt_at = NULL, last_error = NULL
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, now])?,
        SendOutcome::Retry { error, at } => conn
            .prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, ms(*at), clean_text(error)])?,
        SendOutcome::Failed { error } => conn
            .prepare_cached(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1,
                    next_attempt_at = NULL, last_error = ?2
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, clean_text(error)])?,
        SendOutcome::Deferred { reason, at } => conn
            .prepare_cached(
                "UPDATE outbox SET next_attempt_at = ?2, last_error = ?3
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, ms(*at), clean_text(reason)])?,
    };
    Ok(())
}

pub(super) fn claim_notification(
    conn: &Connection,
    id: Uuid,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET next_attempt_at = ?2
             WHERE id = ?1 AND state = 'pending' AND next_attempt_at <= ?3",
        )?
        .execute(params![id, ms(lease_until), ms(now)])?;
    Ok(n == 1)
}

pub(super) fn held_notifications(conn: &Connection) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'held' ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], outbox_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn release_held(
    conn: &mut Connection,
    held: &[Uuid],
    summary: Option<&Draft>,
    now: DateTime<Utc>,
) -> Result<()> {
    let now = ms(now);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(s) = summary {
        insert_draft(&tx, s, OutboxState::Pending, now)?;
    }
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE outbox SET state = ?2, summary_id = ?3, next_attempt_at = ?4
             WHERE id = ?1 AND state = 'held'",
        )?;
        for id in held {
            match summary {
                Some(s) => stmt.execute(params![id, "summarized", s.id, None::<i64>])?,
                None => stmt.execute(params![id, "pending", None::<Uuid>, now])?,
            };
        }
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn notifications(conn: &Connection, limit: usize) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY created_at DESC, id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit as i64], outbox_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn shipment_notifications(
    conn: &Connection,
    ids: &[ShipmentId],
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE shipment_id = ?1
         ORDER BY created_at DESC, id DESC LIMIT ?2"
    ))?;
    let mut out = Vec::new();
    for id in ids {
        let rows = stmt.query_map(params![id.0, limit as i64], outbox_from_row)?;
        for r in rows {
            out.push(r?);
        }
    }
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    out.truncate(limit);
    Ok(out)
}

pub(super) fn setting(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([clean_text(key)], |r| r.get(0))
        .optional()?)
}

pub(super) fn set_setting(
    conn: &Connection,
    key: &str,
    value: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO settings (key, value, set_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = ?2, set_at = ?3 WHERE set_at <= ?3",
        )?
        .execute(params![clean_text(key), clean_text(value), ms(at)])?;
    Ok(n > 0)
}
