//! `parceltrail notifications`: the log, the held queue, the settings, and sending what is due.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{NaiveTime, Utc};
use console::style;
use parceltrail_core::notify::Channel;
use parceltrail_core::notify::rules::{KindSet, Prefs, QuietHours};
use parceltrail_core::pipeline::{Pipeline, PipelineConfig, load_prefs, save_prefs};
use parceltrail_core::store::{Edit, OutboxEntry, OutboxState, SqliteStore, Store};
use serde_json::json;

use crate::cli::NotificationsAction;
use crate::output::clean;

/// The notification channels this process can serve: the desktop's.
pub fn notifiers() -> Vec<Arc<dyn parceltrail_core::notify::Notifier>> {
    vec![Arc::new(parceltrail_notifiers::DesktopNotifier::new(
        "Parceltrail",
    ))]
}

pub fn run(
    mut db: SqliteStore,
    action: Option<NotificationsAction>,
    limit: usize,
    json: bool,
) -> Result<ExitCode> {
    match action {
        None => show(&db, limit, json),
        Some(NotificationsAction::Settings {
            quiet,
            allow_delivered,
            tz,
            channel,
            kinds,
            enable,
            disable,
        }) => {
            let mut prefs = load_prefs(&db)?;
            let before = prefs.clone();
            if let Some(q) = quiet {
                prefs.quiet = parse_quiet(&q, prefs.quiet.is_some_and(|q| q.allow_delivered))?;
            }
            if let Some(a) = allow_delivered {
                match prefs.quiet.as_mut() {
                    Some(q) => q.allow_delivered = a,
                    None => bail!("--allow-delivered needs quiet hours: set them with --quiet"),
                }
            }
            if let Some(zone) = tz {
                prefs.tz = zone.parse().map_err(|_| {
                    anyhow!("unknown time zone {zone:?}: use an IANA name such as Europe/Berlin")
                })?;
            }
            let ch: Channel = channel.parse().map_err(|e: String| anyhow!(e))?;
            if let Some(k) = kinds {
                prefs.channel_mut(ch).kinds = k.parse::<KindSet>().map_err(|e| anyhow!(e))?;
            }
            if enable {
                prefs.channel_mut(ch).enabled = true;
            }
            if disable {
                prefs.channel_mut(ch).enabled = false;
            }
            if prefs != before {
                save_prefs(&mut db, &prefs, Utc::now())?;
            }
            if enable && ch != Channel::Desktop {
                eprintln!(
                    "Notifications for {ch} are recorded here and sent by the app or the shop server that serves that channel; this command line sends desktop ones."
                );
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&prefs)?);
            } else {
                print_settings(&prefs);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(NotificationsAction::Parcel { key, kinds }) => {
            let s = db.find(&key)?;
            let set = if kinds.trim() == "default" {
                None
            } else {
                Some(kinds.parse::<KindSet>().map_err(|e| anyhow!(e))?)
            };
            db.edit(s.id, Edit::NotifyKinds(set), Utc::now())?;
            match set {
                Some(k) => println!("{} notifies: {k}", s.tracking_number),
                None => println!("{} follows the channel settings", s.tracking_number),
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(NotificationsAction::Send) => {
            let rt = crate::live::runtime()?;
            let store: parceltrail_core::poller::SharedStore = Arc::new(Mutex::new(db));
            let pipeline = Arc::new(Pipeline::new(
                store,
                PipelineConfig::default(),
                notifiers(),
            )?);
            let report = rt.block_on(pipeline.step(None))?;
            println!(
                "Sent {}, {} to retry, {} failed.",
                report.sent, report.retrying, report.failed
            );
            Ok(if report.retrying + report.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn parse_quiet(s: &str, allow_delivered: bool) -> Result<Option<QuietHours>> {
    if matches!(s.trim(), "off" | "none" | "") {
        return Ok(None);
    }
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| anyhow!("--quiet {s:?}: write it as HH:MM-HH:MM, e.g. 22:00-07:00"))?;
    let t = |x: &str| {
        NaiveTime::parse_from_str(x.trim(), "%H:%M")
            .with_context(|| format!("--quiet {s:?}: {x:?} is not a time of day (HH:MM)"))
    };
    let (start, end) = (t(a)?, t(b)?);
    if start == end {
        bail!("--quiet {s:?}: the start and end are the same");
    }
    Ok(Some(QuietHours {
        start,
        end,
        allow_delivered,
    }))
}

fn print_settings(p: &Prefs) {
    println!("{}", style("Notification settings").bold());
    for c in &p.channels {
        println!(
            "  {:<8} {:<4} {}",
            c.channel.as_str(),
            if c.enabled { "on" } else { "off" },
            c.kinds
        );
    }
    match p.quiet {
        Some(q) => println!(
            "  quiet hours {}–{} ({}){}",
            q.start.format("%H:%M"),
            q.end.format("%H:%M"),
            p.tz.name(),
            if q.allow_delivered {
                ", deliveries still notify"
            } else {
                ""
            }
        ),
        None => println!("  no quiet hours (time zone {})", p.tz.name()),
    }
}

fn state(s: OutboxState) -> console::StyledObject<&'static str> {
    match s {
        OutboxState::Sent => style("sent").green(),
        OutboxState::Pending => style("pending").yellow(),
        OutboxState::Held => style("held").cyan(),
        OutboxState::Summarized => style("summarized").dim(),
        OutboxState::Failed => style("failed").red(),
    }
}

fn line(n: &OutboxEntry) -> String {
    let when = n
        .created_at
        .with_timezone(&chrono::Local)
        .format("%a %d %b %H:%M");
    let mut s = format!(
        "{}  {:<10} {:<7} {}\n    {}",
        style(when).dim(),
        state(n.state),
        n.channel.as_str(),
        style(clean(&n.title)).bold(),
        clean(&n.body)
    );
    if let Some(e) = &n.last_error {
        s.push_str(&format!(
            "\n    {} (attempt {})",
            style(clean(e)).red(),
            n.attempts
        ));
    }
    s
}

fn show(db: &SqliteStore, limit: usize, json: bool) -> Result<ExitCode> {
    let prefs = load_prefs(db)?;
    let held = db.held_notifications()?;
    let log = db.notifications(limit)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "settings": prefs,
                "held": held,
                "log": log,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_settings(&prefs);
    println!();
    if !held.is_empty() {
        println!(
            "{} ({}, one summary follows quiet hours)",
            style("Held for quiet hours").bold(),
            held.len()
        );
        for n in &held {
            println!("{}", line(n));
        }
        println!();
    }
    if log.is_empty() {
        println!("No notifications yet.");
    } else {
        println!("{}", style("Recent notifications").bold());
        for n in log.iter().filter(|n| n.state != OutboxState::Held) {
            println!("{}", line(n));
        }
    }
    Ok(ExitCode::SUCCESS)
}
