//! Estimates, problems, the notification journal and outbox, and settings: core's
//! `store/sqlite/tracking.rs`, statement for statement, in PostgreSQL's dialect.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use parceltrail_core::domain::{Place, ShipmentId};
use parceltrail_core::eta::Delivery;
use parceltrail_core::notify::rules::{Draft, Initial};
use parceltrail_core::notify::{Channel, Urgency};
use parceltrail_core::problems::{OpenProblem, Problem, ProblemKind};
use parceltrail_core::store::report::{self, DeliveryGroup, Dialect, ReportBy, ReportSpan, Spread};
use parceltrail_core::store::{
    Active, Assessment, Change, JournalCursor, JournalEntry, OutboxEntry, OutboxState, SendOutcome,
    clean_text, same_estimate,
};
use tokio_postgres::Row;
use uuid::Uuid;

use super::shipments::{FEED_INSERT, FeedColumns, estimate_at, eta_at, place};
use super::{
    Fail, LOCK_JOURNAL, Param, PgStore, R, Tx, count, each_row, exec, get, ms, one, opt, opt_utc,
    parse, rows, status, utc,
};

pub(super) async fn order_lead_times(
    tx: &Tx<'_>,
    since: DateTime<Utc>,
    limit: usize,
) -> R<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let found = rows(
        tx,
        "SELECT o.placed_at, max(s.status_at)
         FROM (SELECT id, placed_at FROM orders WHERE NOT deleted AND placed_at >= $1
               ORDER BY placed_at DESC LIMIT $3) o
         JOIN shipments s ON s.order_id = o.id AND NOT s.deleted
         GROUP BY o.id, o.placed_at
         HAVING bool_and(s.status = 'delivered') AND count(s.status_at) = count(*)
         ORDER BY o.placed_at DESC LIMIT $2",
        &[
            &ms(since),
            &(limit as i64),
            &(parceltrail_core::store::LEAD_SCAN as i64),
        ],
    )
    .await?;
    let mut out = Vec::with_capacity(found.len());
    for r in &found {
        let (placed, delivered) = (utc(get(r, 0)?)?, utc(get(r, 1)?)?);
        if delivered >= placed {
            out.push((placed, delivered));
        }
    }
    Ok(out)
}

/// Core's `notification_latency`, in PostgreSQL's dialect of the same SQL.
pub(super) async fn notification_latency(
    tx: &Tx<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> R<Vec<report::ChannelLatency>> {
    rows(
        tx,
        report::latency_sql(Dialect::Postgres),
        &[&ms(from), &ms(to)],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(report::ChannelLatency {
            channel: get(r, 0)?,
            seconds: Spread {
                n: get::<i64>(r, 1)?.max(0) as u64,
                median: get(r, 2)?,
                p90: get(r, 3)?,
            },
            from_event: Spread {
                n: get::<i64>(r, 4)?.max(0) as u64,
                median: get(r, 5)?,
                p90: get(r, 6)?,
            },
        })
    })
    .collect()
}

/// Core's `problem_counts`, in PostgreSQL's dialect of the same SQL.
pub(super) async fn problem_counts(
    tx: &Tx<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> R<Vec<report::ProblemCount>> {
    rows(
        tx,
        report::problems_sql(Dialect::Postgres),
        &[&ms(from), &ms(to)],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(report::ProblemCount {
            carrier: get(r, 0)?,
            kind: parse::<ProblemKind>(get(r, 1)?)?,
            parcels: get::<i64>(r, 2)?.max(0) as u64,
        })
    })
    .collect()
}

/// Core's `delivery_report`, in PostgreSQL's dialect of the same SQL.
pub(super) async fn delivery_report(
    tx: &Tx<'_>,
    span: &ReportSpan,
    by: ReportBy,
) -> R<Vec<DeliveryGroup>> {
    // Costing some thousands of lookups of orders by id above a hash join that reads every
    // order, the planner picks the join, two to three times slower with a million orders;
    // and JIT would compile a query that runs in a tenth of a second. For this read only:
    // index lookups, no JIT, and room to sort the groups in memory.
    tx.batch_execute(
        "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;
         SET LOCAL jit = off; SET LOCAL work_mem = '32MB'",
    )
    .await?;
    // Not prepared and cached: the text differs with each span (see `report::sql`).
    let sql = report::sql(Dialect::Postgres, by, span);
    let found = tx
        .query(sql.as_str(), &[&ms(span.from), &ms(span.to)])
        .await?;
    let n = |r: &Row, i: usize| -> R<u64> { Ok(get::<i64>(r, i)?.max(0) as u64) };
    let spread = |r: &Row, i: usize| -> R<Spread> {
        Ok(Spread {
            n: n(r, i)?,
            median: get(r, i + 1)?,
            p90: get(r, i + 2)?,
        })
    };
    let mut out = found
        .iter()
        .map(|r| {
            Ok(DeliveryGroup {
                key: match by {
                    ReportBy::Week => get::<Option<i64>>(r, 0)?.and_then(report::week_key),
                    _ => get(r, 0)?,
                },
                delivered: n(r, 1)?,
                transit_days: spread(r, 2)?,
                transit_business_days: spread(r, 5)?,
                order_days: spread(r, 8)?,
                order_business_days: spread(r, 11)?,
                early: n(r, 14)?,
                on_day: n(r, 15)?,
                late: n(r, 16)?,
                estimate_met: n(r, 17)?,
                estimate_missed: n(r, 18)?,
                first_attempt: n(r, 19)?,
            })
        })
        .collect::<R<Vec<_>>>()?;
    report::sort(&mut out);
    Ok(out)
}

pub(super) async fn deliveries(
    tx: &Tx<'_>,
    each: &mut dyn FnMut(Delivery) -> parceltrail_core::Result<()>,
) -> R<()> {
    each_row(
        tx,
        "SELECT s.carrier, s.service, s.origin_country, s.origin_region, s.dest_country,
                s.dest_region, coalesce(s.shipped_at, s.created_at), s.status_at, o.promised_at
         FROM shipments s JOIN orders o ON o.id = s.order_id
         WHERE NOT s.deleted AND s.status = 'delivered' AND s.status_at IS NOT NULL",
        &[],
        |r| {
            let origin = Place {
                country: get(r, 2)?,
                region: get(r, 3)?,
                ..Place::default()
            };
            let destination = Place {
                country: get(r, 4)?,
                region: get(r, 5)?,
                ..Place::default()
            };
            let started_at = utc(get(r, 6)?)?;
            let delivered_at = utc(get(r, 7)?)?;
            if delivered_at < started_at {
                return Ok(());
            }
            Ok(each(Delivery {
                carrier: Some(get(r, 0)?),
                service: get(r, 1)?,
                origin: origin.region_key(),
                destination: destination.region_key(),
                dest_country: destination.country.map(|c| c.to_uppercase()),
                started_at,
                delivered_at,
                promised_at: opt_utc(get(r, 8)?)?,
            })?)
        },
    )
    .await
}

const ACTIVE_COLUMNS: &str = "s.id, s.carrier, s.service, \
    s.origin_city, s.origin_region, s.origin_country, s.origin_postal, \
    s.dest_city, s.dest_region, s.dest_country, s.dest_postal, \
    s.status, s.status_at, s.status_detail, s.shipped_at, s.created_at, s.last_event_at, \
    s.eta_earliest, s.eta_earliest_offset, s.eta_latest, s.eta_latest_offset, s.eta_observed_at, \
    o.promised_at, s.est_earliest, s.est_likely, s.est_latest, s.est_confidence, s.est_source, \
    s.est_first_latest";

fn active_from_row(r: &Row) -> R<Active> {
    Ok(Active {
        id: ShipmentId(get(r, 0)?),
        carrier: get(r, 1)?,
        service: get(r, 2)?,
        origin: place(r, 3)?,
        destination: place(r, 7)?,
        status: status(get(r, 11)?)?,
        status_at: opt_utc(get(r, 12)?)?,
        detail: get(r, 13)?,
        shipped_at: opt_utc(get(r, 14)?)?,
        created_at: utc(get(r, 15)?)?,
        last_event_at: opt_utc(get(r, 16)?)?,
        carrier_eta: eta_at(r, 17)?,
        promised_at: opt_utc(get(r, 22)?)?,
        estimate: estimate_at(r, 23)?,
        first_latest: opt_utc(get(r, 28)?)?,
        problems: Vec::new(),
    })
}

fn problem_from_row(r: &Row, first: usize) -> R<Problem> {
    Ok(Problem {
        kind: parse::<ProblemKind>(get(r, first)?)?,
        since: utc(get(r, first + 1)?)?,
        detail: get(r, first + 2)?,
    })
}

pub(super) async fn active(
    tx: &Tx<'_>,
    ids: Option<&[ShipmentId]>,
    each: &mut dyn FnMut(Active) -> parceltrail_core::Result<()>,
) -> R<()> {
    match ids {
        Some(ids) => {
            // Two queries for the lot (a burst of webhooks asks about thousands of parcels
            // at once), answered in the order asked.
            let keys: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
            let sql = format!(
                "SELECT {ACTIVE_COLUMNS} FROM shipments s JOIN orders o ON o.id = s.order_id
                 WHERE s.id = ANY($1) AND NOT s.deleted"
            );
            let params: [Param; 1] = [&keys];
            let (found, problems) = tokio::try_join!(
                rows(tx, &sql, &params),
                rows(
                    tx,
                    "SELECT shipment_id, kind, since, detail FROM problems
                     WHERE shipment_id = ANY($1) AND resolved_at IS NULL ORDER BY id",
                    &params,
                )
            )?;
            let mut open: HashMap<Uuid, Vec<Problem>> = HashMap::new();
            for r in &problems {
                open.entry(get(r, 0)?)
                    .or_default()
                    .push(problem_from_row(r, 1)?);
            }
            let mut by_id: HashMap<Uuid, Active> = HashMap::with_capacity(found.len());
            for r in &found {
                let mut a = active_from_row(r)?;
                a.problems = open.remove(&a.id.0).unwrap_or_default();
                by_id.insert(a.id.0, a);
            }
            for k in &keys {
                if let Some(a) = by_id.remove(k) {
                    each(a)?;
                }
            }
        }
        None => {
            // Open problems first, in one query (there are few next to the parcels).
            let mut open: HashMap<Uuid, Vec<Problem>> = HashMap::new();
            for r in rows(
                tx,
                "SELECT shipment_id, kind, since, detail FROM problems
                 WHERE resolved_at IS NULL ORDER BY id",
                &[],
            )
            .await?
            .iter()
            {
                open.entry(get(r, 0)?)
                    .or_default()
                    .push(problem_from_row(r, 1)?);
            }
            let sql = format!(
                "SELECT {ACTIVE_COLUMNS} FROM shipments s JOIN orders o ON o.id = s.order_id
                 WHERE NOT s.deleted AND NOT s.archived
                   AND s.status NOT IN ('delivered', 'returned', 'expired')"
            );
            each_row(tx, &sql, &[], |r| {
                let mut a = active_from_row(r)?;
                a.problems = open.remove(&a.id.0).unwrap_or_default();
                Ok(each(a)?)
            })
            .await?;
        }
    }
    Ok(())
}

const LOCK_ROWS: &str =
    "SELECT id FROM shipments WHERE id = ANY($1) AND NOT deleted ORDER BY id FOR UPDATE";

// Rows a webhook group holds are left out: it adds their news, so they are derived again.
const LOCK_FREE_ROWS: &str = "SELECT id FROM shipments WHERE id = ANY($1) AND NOT deleted
     ORDER BY id FOR UPDATE SKIP LOCKED";

const SAVE_ESTIMATES: &str = "UPDATE shipments s SET est_earliest = v.e, est_likely = v.l,
        est_latest = v.la, est_confidence = v.c, est_source = v.src,
        est_first_latest = coalesce(s.est_first_latest, v.f)
     FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::float8[],
                 $6::text[], $7::bigint[]) AS v (id, e, l, la, c, src, f)
     WHERE s.id = v.id";

const SAVE_FIRSTS: &str = "UPDATE shipments s SET est_first_latest = v.f
     FROM unnest($1::uuid[], $2::bigint[]) AS v (id, f)
     WHERE s.id = v.id AND s.est_first_latest IS NULL";

const OPEN_PROBLEMS: &str = "SELECT shipment_id, id, kind, key FROM problems
     WHERE shipment_id = ANY($1) AND resolved_at IS NULL ORDER BY id";

const RESOLVE_PROBLEMS: &str = "UPDATE problems SET resolved_at = $2 WHERE id = ANY($1)";

// A reopened occurrence keeps its row (and id): it does not notify twice.
const OPEN_NEW_PROBLEMS: &str =
    "INSERT INTO problems (shipment_id, kind, key, since, detail, opened_at)
     SELECT s, k, key, since, detail, $6
     FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::text[])
          WITH ORDINALITY AS p (s, k, key, since, detail, n)
     ORDER BY n
     ON CONFLICT (shipment_id, key) DO UPDATE
        SET resolved_at = NULL, detail = excluded.detail";

/// Estimates and problems in one piped transaction of two round trips however many parcels
/// (the caller sends `BEGIN` with the first and `commit` goes with the last): the rows
/// locked (in id order, as everywhere) and their open problems read; then the estimates
/// written, the problems closed and opened and the feed written, under the journal lock.
/// A webhook group waits on these locks, so they are held for one round trip and the
/// commit. With `skip_locked`, rows another transaction holds are left out, and their ids
/// returned for the caller to save after.
pub(super) async fn save_derived(
    tx: &Tx<'_>,
    schema: &str,
    rows_in: &[Assessment],
    now: DateTime<Utc>,
    skip_locked: bool,
    commit: impl std::future::Future<Output = R<()>>,
) -> R<(Vec<Change>, Vec<ShipmentId>)> {
    let now = ms(now);
    let mut ids: Vec<Uuid> = rows_in.iter().map(|d| d.id.0).collect();
    ids.sort();
    ids.dedup();
    // Prepared first (cached: usually no round trip), then sent together in this order.
    let (lock, open_read) = futures_util::try_join!(
        tx.prepare_cached(if skip_locked {
            LOCK_FREE_ROWS
        } else {
            LOCK_ROWS
        }),
        tx.prepare_cached(OPEN_PROBLEMS),
    )?;
    let (locked, open_rows) = futures_util::try_join!(
        async { Ok::<_, Fail>(tx.query(&lock, &[&ids]).await?) },
        async { Ok::<_, Fail>(tx.query(&open_read, &[&ids]).await?) },
    )?;
    let locked: std::collections::HashSet<Uuid> =
        locked.iter().map(|r| get(r, 0)).collect::<R<_>>()?;
    // Left out: removed parcels, and (skipping) those held elsewhere, for the caller.
    let skipped: Vec<ShipmentId> = if skip_locked {
        rows_in
            .iter()
            .filter(|d| !locked.contains(&d.id.0))
            .map(|d| d.id)
            .collect()
    } else {
        Vec::new()
    };
    let rows_in: Vec<&Assessment> = rows_in
        .iter()
        .filter(|d| locked.contains(&d.id.0))
        .collect();
    // The estimates that moved, in one statement; the first latest of those that did not.
    let moved: Vec<&Assessment> = rows_in
        .iter()
        .copied()
        .filter(|d| !same_estimate(d.previous.as_ref(), d.estimate.as_ref()))
        .collect();
    let col =
        |f: &dyn Fn(&Assessment) -> Option<i64>| moved.iter().map(|d| f(d)).collect::<Vec<_>>();
    let moved_ids: Vec<Uuid> = moved.iter().map(|d| d.id.0).collect();
    let earliest = col(&|d| d.estimate.map(|e| ms(e.earliest)));
    let likely = col(&|d| d.estimate.map(|e| ms(e.likely)));
    let latest = col(&|d| d.estimate.map(|e| ms(e.latest)));
    let first = col(&|d| d.first_latest.map(ms));
    let confidence: Vec<Option<f64>> = moved
        .iter()
        .map(|d| d.estimate.map(|e| f64::from(e.confidence)))
        .collect();
    let source: Vec<Option<&str>> = moved
        .iter()
        .map(|d| d.estimate.map(|e| e.source.as_str()))
        .collect();
    let (firsts, at): (Vec<Uuid>, Vec<i64>) = rows_in
        .iter()
        .filter(|d| same_estimate(d.previous.as_ref(), d.estimate.as_ref()))
        .filter_map(|d| d.first_latest.map(|f| (d.id.0, ms(f))))
        .unzip();
    let mut open: HashMap<Uuid, Vec<(i64, String, Uuid)>> = HashMap::new();
    for r in &open_rows {
        open.entry(get(r, 0)?)
            .or_default()
            .push((get(r, 1)?, get(r, 2)?, get(r, 3)?));
    }
    // Which problems close and which open.
    let mut changes = Vec::new();
    let mut resolved: Vec<i64> = Vec::new();
    let mut opened: Vec<(&Assessment, Uuid, &Problem)> = Vec::new();
    for d in rows_in.iter().copied() {
        if !same_estimate(d.previous.as_ref(), d.estimate.as_ref()) {
            changes.push(Change::EstimateChanged {
                shipment_id: d.id,
                estimate: d.estimate,
            });
        }
        let was = open.remove(&d.id.0).unwrap_or_default();
        let keys: Vec<(Uuid, &Problem)> = {
            let mut seen = std::collections::HashSet::new();
            d.problems
                .iter()
                .map(|p| (p.key(), p))
                .filter(|(k, _)| seen.insert(*k))
                .collect()
        };
        for (id, kind, key) in &was {
            if !keys.iter().any(|(k, _)| k == key) {
                resolved.push(*id);
                changes.push(Change::ProblemResolved {
                    shipment_id: d.id,
                    problem: parse::<ProblemKind>(kind)?,
                });
            }
        }
        for (key, p) in keys {
            if !was.iter().any(|w| w.2 == key) {
                opened.push((d, key, p));
                changes.push(Change::ProblemOpened {
                    shipment_id: d.id,
                    problem: p.kind,
                });
            }
        }
    }
    let fed = FeedColumns::of(&changes);
    // Problems and the feed are journal entries: their ids are given out under the journal
    // lock, taken after the rows (as the ingest does).
    let journal = !opened.is_empty() || !fed.data.is_empty();
    let shipment: Vec<Uuid> = opened.iter().map(|o| o.0.id.0).collect();
    let kind: Vec<&str> = opened.iter().map(|o| o.2.kind.as_str()).collect();
    let key: Vec<Uuid> = opened.iter().map(|o| o.1).collect();
    let since: Vec<i64> = opened.iter().map(|o| ms(o.2.since)).collect();
    let detail: Vec<String> = opened
        .iter()
        .map(|o| clean_text(&o.2.detail).into_owned())
        .collect();
    let (estimates, first_latest, resolve, journal_lock, insert, feed) = futures_util::try_join!(
        tx.prepare_cached(SAVE_ESTIMATES),
        tx.prepare_cached(SAVE_FIRSTS),
        tx.prepare_cached(RESOLVE_PROBLEMS),
        tx.prepare_cached(PgStore::JOURNAL_LOCK),
        tx.prepare_cached(OPEN_NEW_PROBLEMS),
        tx.prepare_cached(FEED_INSERT),
    )?;
    futures_util::try_join!(
        async {
            if !moved.is_empty() {
                tx.execute(
                    &estimates,
                    &[
                        &moved_ids,
                        &earliest,
                        &likely,
                        &latest,
                        &confidence,
                        &source,
                        &first,
                    ],
                )
                .await?;
            }
            Ok::<_, Fail>(())
        },
        async {
            if !firsts.is_empty() {
                tx.execute(&first_latest, &[&firsts, &at]).await?;
            }
            Ok::<_, Fail>(())
        },
        async {
            if !resolved.is_empty() {
                tx.execute(&resolve, &[&resolved, &now]).await?;
            }
            Ok::<_, Fail>(())
        },
        async {
            if journal {
                tx.execute(&journal_lock, &[&LOCK_JOURNAL, &schema]).await?;
            }
            Ok::<_, Fail>(())
        },
        async {
            if !opened.is_empty() {
                tx.execute(&insert, &[&shipment, &kind, &key, &since, &detail, &now])
                    .await?;
            }
            Ok::<_, Fail>(())
        },
        async {
            if !fed.data.is_empty() {
                tx.execute(&feed, &[&now, &fed.orders, &fed.parcels, &fed.data])
                    .await?;
            }
            Ok::<_, Fail>(())
        },
        commit,
    )?;
    Ok((changes, skipped))
}

pub(super) async fn open_problems(tx: &Tx<'_>, id: Option<ShipmentId>) -> R<Vec<OpenProblem>> {
    rows(
        tx,
        "SELECT p.shipment_id, p.kind, p.since, p.detail, p.opened_at
         FROM problems p JOIN shipments s ON s.id = p.shipment_id
         WHERE p.resolved_at IS NULL AND NOT s.deleted
           AND ($1::uuid IS NULL OR p.shipment_id = $1)
         ORDER BY p.opened_at, p.id",
        &[&id.map(|i| i.0)],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(OpenProblem {
            shipment_id: ShipmentId(get(r, 0)?),
            problem: problem_from_row(r, 1)?,
            opened_at: utc(get(r, 4)?)?,
        })
    })
    .collect()
}

/// The cursor; `lock` holds its rows until the transaction ends.
pub(super) async fn journal_cursor(tx: &Tx<'_>, lock: bool) -> R<JournalCursor> {
    let sql = if lock {
        "SELECT name, position FROM cursors ORDER BY name FOR UPDATE"
    } else {
        "SELECT name, position FROM cursors"
    };
    let mut c = JournalCursor::default();
    for r in rows(tx, sql, &[]).await? {
        match (get::<&str>(&r, 0)?, get::<i64>(&r, 1)?) {
            ("status_log", p) => c.status_log = p,
            ("problems", p) => c.problems = p,
            _ => {}
        }
    }
    Ok(c)
}

pub(super) async fn journal(
    tx: &Tx<'_>,
    after: JournalCursor,
    limit: usize,
) -> R<(Vec<JournalEntry>, JournalCursor)> {
    let limit = limit.min(i64::MAX as usize) as i64;
    let mut out = Vec::new();
    let mut next = after;
    for r in rows(
        tx,
        "SELECT l.id, l.shipment_id, l.from_status, l.to_status, l.cause, l.event_key,
                e.occurred_at, e.description, l.changed_at
         FROM status_log l
         LEFT JOIN events e ON e.shipment_id = l.shipment_id AND e.dedupe_key = l.event_key
         WHERE l.id > $1 ORDER BY l.id LIMIT $2",
        &[&after.status_log, &limit],
    )
    .await?
    {
        next.status_log = get(&r, 0)?;
        out.push(JournalEntry::Status {
            shipment_id: ShipmentId(get(&r, 1)?),
            from: status(get(&r, 2)?)?,
            to: status(get(&r, 3)?)?,
            cause: get(&r, 4)?,
            event_key: get(&r, 5)?,
            event_at: opt_utc(get(&r, 6)?)?,
            detail: get(&r, 7)?,
            changed_at: utc(get(&r, 8)?)?,
        });
    }
    for r in rows(
        tx,
        "SELECT id, shipment_id, kind, since, detail FROM problems
         WHERE id > $1 ORDER BY id LIMIT $2",
        &[&after.problems, &limit],
    )
    .await?
    {
        next.problems = get(&r, 0)?;
        out.push(JournalEntry::Problem {
            shipment_id: ShipmentId(get(&r, 1)?),
            problem: problem_from_row(&r, 2)?,
        });
    }
    Ok((out, next))
}

pub(super) async fn notified(tx: &Tx<'_>, keys: &[Uuid]) -> R<Vec<Uuid>> {
    rows(tx, "SELECT key FROM notified WHERE key = ANY($1)", &[&keys])
        .await?
        .iter()
        .map(|r| get(r, 0))
        .collect()
}

fn urgency_str(u: Urgency) -> &'static str {
    match u {
        Urgency::Low => "low",
        Urgency::Normal => "normal",
        Urgency::Critical => "critical",
    }
}

/// Record drafts in one statement; one whose channel and news key are recorded already is
/// left out.
/// `state` overrides each draft's own.
async fn insert_drafts(
    tx: &Tx<'_>,
    drafts: &[Draft],
    state: Option<OutboxState>,
    now: i64,
) -> R<()> {
    if drafts.is_empty() {
        return Ok(());
    }
    let col = |f: &dyn Fn(&Draft) -> String| drafts.iter().map(f).collect::<Vec<String>>();
    let ids: Vec<Uuid> = drafts.iter().map(|d| d.id).collect();
    let keys: Vec<Uuid> = drafts.iter().map(|d| d.dedupe_key).collect();
    let shipments: Vec<Option<Uuid>> = drafts.iter().map(|d| d.shipment_id.map(|s| s.0)).collect();
    let kinds: Vec<Option<&str>> = drafts.iter().map(|d| d.kind.map(|k| k.as_str())).collect();
    let channels = col(&|d| d.channel.as_str().to_owned());
    let titles = col(&|d| clean_text(&d.title).into_owned());
    let bodies = col(&|d| clean_text(&d.body).into_owned());
    let links = col(&|d| clean_text(&d.link).into_owned());
    let urgencies = col(&|d| urgency_str(d.urgency).to_owned());
    let states = col(&|d| {
        state
            .unwrap_or(match d.initial {
                Initial::Pending => OutboxState::Pending,
                Initial::Held => OutboxState::Held,
            })
            .as_str()
            .to_owned()
    });
    exec(
        tx,
        "INSERT INTO outbox (id, dedupe_key, channel, shipment_id, kind, title, body, link,
            urgency, state, next_attempt_at, created_at, event_at)
         SELECT d.id, d.key, d.channel, d.shipment, d.kind, d.title, d.body, d.link, d.urgency,
                d.state, $11, $11, s.last_event_at
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::text[])
              WITH ORDINALITY AS d (id, key, channel, shipment, kind, title, body, link,
                                    urgency, state, n)
              LEFT JOIN shipments s ON s.id = d.shipment
         ORDER BY n
         ON CONFLICT (channel, dedupe_key) DO NOTHING",
        &[
            &ids, &keys, &channels, &shipments, &kinds, &titles, &bodies, &links, &urgencies,
            &states, &now,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn record_notifications(
    tx: &Tx<'_>,
    from: JournalCursor,
    to: JournalCursor,
    news: &[Uuid],
    drafts: &[Draft],
    now: DateTime<Utc>,
) -> R<bool> {
    let now = ms(now);
    // Locked: a process recording the same stretch waits here and then sees the cursor moved.
    if journal_cursor(tx, true).await? != from {
        return Ok(false); // another process read this stretch first
    }
    exec(
        tx,
        "UPDATE cursors SET position = $1 WHERE name = 'status_log'",
        &[&to.status_log],
    )
    .await?;
    exec(
        tx,
        "UPDATE cursors SET position = $1 WHERE name = 'problems'",
        &[&to.problems],
    )
    .await?;
    if !news.is_empty() {
        exec(
            tx,
            "INSERT INTO notified (key, notified_at)
             SELECT k, $2 FROM unnest($1::uuid[]) AS k ON CONFLICT DO NOTHING",
            &[&news, &now],
        )
        .await?;
    }
    insert_drafts(tx, drafts, None, now).await?;
    Ok(true)
}

pub(super) async fn queue_notifications(
    tx: &Tx<'_>,
    drafts: &[Draft],
    now: DateTime<Utc>,
) -> R<()> {
    insert_drafts(tx, drafts, None, ms(now)).await
}

const OUTBOX_COLUMNS: &str = "id, dedupe_key, channel, shipment_id, kind, title, body, link, \
    urgency, state, attempts, next_attempt_at, last_error, created_at, sent_at";

fn outbox_from_row(r: &Row) -> R<OutboxEntry> {
    let state = match get::<&str>(r, 9)? {
        "held" => OutboxState::Held,
        "pending" => OutboxState::Pending,
        "sent" => OutboxState::Sent,
        "failed" => OutboxState::Failed,
        "summarized" => OutboxState::Summarized,
        other => return Err(Fail::Bad(format!("unknown outbox state {other:?}"))),
    };
    let urgency = match get::<&str>(r, 8)? {
        "low" => Urgency::Low,
        "critical" => Urgency::Critical,
        _ => Urgency::Normal,
    };
    Ok(OutboxEntry {
        id: get(r, 0)?,
        dedupe_key: get(r, 1)?,
        channel: parse::<Channel>(get(r, 2)?)?,
        shipment_id: get::<Option<Uuid>>(r, 3)?.map(ShipmentId),
        kind: get::<Option<&str>>(r, 4)?.map(parse).transpose()?,
        title: get(r, 5)?,
        body: get(r, 6)?,
        link: get(r, 7)?,
        urgency,
        state,
        attempts: count(i64::from(get::<i32>(r, 10)?))?,
        next_attempt_at: opt_utc(get(r, 11)?)?,
        last_error: get(r, 12)?,
        created_at: utc(get(r, 13)?)?,
        sent_at: opt_utc(get(r, 14)?)?,
    })
}

pub(super) async fn due_notifications(
    tx: &Tx<'_>,
    now: DateTime<Utc>,
    limit: usize,
) -> R<Vec<OutboxEntry>> {
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox
         WHERE state = 'pending' AND next_attempt_at <= $1
         ORDER BY next_attempt_at, id LIMIT $2"
    );
    rows(
        tx,
        &sql,
        &[&ms(now), &(limit.min(i64::MAX as usize) as i64)],
    )
    .await?
    .iter()
    .map(outbox_from_row)
    .collect()
}

pub(super) async fn next_notification_due(tx: &Tx<'_>) -> R<Option<DateTime<Utc>>> {
    let r = one(
        tx,
        "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'",
        &[],
    )
    .await?;
    opt_utc(get(&r, 0)?)
}

pub(super) async fn mark_notification(
    tx: &Tx<'_>,
    id: Uuid,
    outcome: &SendOutcome,
    now: DateTime<Utc>,
) -> R<()> {
    let now = ms(now);
    match outcome {
        SendOutcome::Sent => {
            exec(
                tx,
                "UPDATE outbox SET state = 'sent', sent_at = $2, attempts = attempts + 1,
                    next_attempt_at = NULL, last_error = NULL
                 WHERE id = $1 AND state = 'pending'",
                &[&id, &now],
            )
            .await?
        }
        SendOutcome::Retry { error, at } => {
            exec(
                tx,
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3
                 WHERE id = $1 AND state = 'pending'",
                &[&id, &ms(*at), &clean_text(error)],
            )
            .await?
        }
        SendOutcome::Failed { error } => {
            exec(
                tx,
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1,
                    next_attempt_at = NULL, last_error = $2
                 WHERE id = $1 AND state = 'pending'",
                &[&id, &clean_text(error)],
            )
            .await?
        }
        SendOutcome::Deferred { reason, at } => {
            exec(
                tx,
                "UPDATE outbox SET next_attempt_at = $2, last_error = $3
                 WHERE id = $1 AND state = 'pending'",
                &[&id, &ms(*at), &clean_text(reason)],
            )
            .await?
        }
    };
    Ok(())
}

pub(super) async fn claim_notification(
    tx: &Tx<'_>,
    id: Uuid,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> R<bool> {
    // One statement: a second claimer waits for the first's row lock, then re-checks the
    // condition against the leased row and finds it no longer due.
    let n = exec(
        tx,
        "UPDATE outbox SET next_attempt_at = $2
         WHERE id = $1 AND state = 'pending' AND next_attempt_at <= $3",
        &[&id, &ms(lease_until), &ms(now)],
    )
    .await?;
    Ok(n == 1)
}

pub(super) async fn held_notifications(tx: &Tx<'_>) -> R<Vec<OutboxEntry>> {
    let sql =
        format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'held' ORDER BY created_at, id");
    rows(tx, &sql, &[])
        .await?
        .iter()
        .map(outbox_from_row)
        .collect()
}

pub(super) async fn release_held(
    tx: &Tx<'_>,
    held: &[Uuid],
    summary: Option<&Draft>,
    now: DateTime<Utc>,
) -> R<()> {
    let now = ms(now);
    if let Some(s) = summary {
        insert_drafts(tx, std::slice::from_ref(s), Some(OutboxState::Pending), now).await?;
    }
    let update = "UPDATE outbox SET state = $2, summary_id = $3, next_attempt_at = $4
                  WHERE id = $1 AND state = 'held'";
    for id in held {
        match summary {
            Some(s) => exec(tx, update, &[id, &"summarized", &Some(s.id), &None::<i64>]).await?,
            None => exec(tx, update, &[id, &"pending", &None::<Uuid>, &Some(now)]).await?,
        };
    }
    Ok(())
}

pub(super) async fn notifications(tx: &Tx<'_>, limit: usize) -> R<Vec<OutboxEntry>> {
    let sql =
        format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY created_at DESC, id DESC LIMIT $1");
    rows(tx, &sql, &[&(limit.min(i64::MAX as usize) as i64)])
        .await?
        .iter()
        .map(outbox_from_row)
        .collect()
}

pub(super) async fn shipment_notifications(
    tx: &Tx<'_>,
    ids: &[ShipmentId],
    limit: usize,
) -> R<Vec<OutboxEntry>> {
    let ids: Vec<Uuid> = ids.iter().map(|s| s.0).collect();
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE shipment_id = ANY($1)
         ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    rows(tx, &sql, &[&ids, &(limit.min(i64::MAX as usize) as i64)])
        .await?
        .iter()
        .map(outbox_from_row)
        .collect()
}

pub(super) async fn setting(tx: &Tx<'_>, key: &str) -> R<Option<String>> {
    opt(
        tx,
        "SELECT value FROM settings WHERE key = $1",
        &[&clean_text(key)],
    )
    .await?
    .map(|r| get(&r, 0))
    .transpose()
}

pub(super) async fn set_setting(tx: &Tx<'_>, key: &str, value: &str, at: DateTime<Utc>) -> R<bool> {
    let n = exec(
        tx,
        "INSERT INTO settings (key, value, set_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = $2, set_at = $3 WHERE settings.set_at <= $3",
        &[&clean_text(key), &clean_text(value), &ms(at)],
    )
    .await?;
    Ok(n > 0)
}
