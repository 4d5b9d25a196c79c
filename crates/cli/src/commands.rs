//! Each subcommand: validate the arguments, call the core, print.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{Duration, Local, NaiveTime, TimeZone, Utc};
use console::style;
use indicatif::{ProgressBar, ProgressStyle};
use parceltrail_core::detect::{self, Detection};
use parceltrail_core::domain::{Stage, Status, stage_reached};
use parceltrail_core::store::{
    Edit, Group, ListItem, ListQuery, NewShipment, OrderInfo, SqliteStore, Store,
};
use parceltrail_core::{export, import};
use serde::Serialize;

use crate::cli::{CarriersAction, Cli, Command, ExportFormat};
use crate::output::{carrier_name, clean, eta, status, when};
use crate::{input, live};
use parceltrail_core::notify::rules::local_tz;

/// How long a delivery stays in "Delivered recently".
const RECENT_DAYS: i64 = 14;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let home = cli.home.clone();
    // Commands that only read also work on a read-only copy of the data directory.
    let open = || open_store(home.as_deref(), true);
    let read = || open_store(home.as_deref(), false);
    match cli.command {
        Command::Detect { text, json } => detect_cmd(text, json),
        Command::Server(args) => crate::server::run(*args, home.as_deref(), cli.credentials_file),
        Command::Add {
            number,
            from_text,
            carrier,
            order,
            store,
            label,
            items,
            promised,
            force,
            json,
        } => {
            let promised_at = promised
                .as_deref()
                .map(|p| import::parse_date("--promised", p).map_err(|e| anyhow!(e)))
                .transpose()?;
            for (flag, value) in [
                ("--label", &label),
                ("--store", &store),
                ("--order", &order),
                ("--items", &items),
            ] {
                if let Some(v) = value {
                    import::check_length(flag, v).map_err(|e| anyhow!(e))?;
                }
            }
            let info = OrderInfo {
                store,
                order_number: order,
                items,
                promised_at,
                ..OrderInfo::default()
            };
            let mut db = open()?;
            let dir = data_dir(home.as_deref())?;
            match from_text {
                Some(file) => add_from_text(&mut db, &dir, &file, info, label, json),
                None => add_one(
                    (&mut db, &dir),
                    number.as_deref().unwrap_or_default(),
                    carrier,
                    force,
                    info,
                    label,
                    json,
                ),
            }
        }
        Command::List { all, json } => list(&read()?, all, json),
        Command::Show { key, json } => show(&read()?, &key, json),
        Command::Archive { keys, undo } => {
            let mut db = open()?;
            for key in keys {
                let s = db.find(&key)?;
                db.edit(s.id, Edit::Archived(!undo), Utc::now())?;
                println!(
                    "{} {}",
                    if undo { "Unarchived" } else { "Archived" },
                    s.tracking_number
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Remove { keys, yes } => remove(&mut open()?, keys, yes),
        Command::Label { key, label } => {
            let mut db = open()?;
            let s = db.find(&key)?;
            let label = Some(label.trim().to_owned()).filter(|l| !l.is_empty());
            db.edit(s.id, Edit::Label(label.clone()), Utc::now())?;
            match label {
                Some(l) => println!("{} is now “{}”", s.tracking_number, clean(&l)),
                None => println!("Cleared the label of {}", s.tracking_number),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Mute { key, off } => {
            let mut db = open()?;
            let s = db.find(&key)?;
            db.edit(s.id, Edit::Muted(!off), Utc::now())?;
            println!(
                "{} {}",
                if off { "Unmuted" } else { "Muted" },
                s.tracking_number
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { format, output } => export_cmd(&read()?, format, output),
        Command::Import { file, json } => {
            import_cmd(&mut open()?, &data_dir(home.as_deref())?, &file, json)
        }
        Command::Carriers { action, json } => match action {
            None | Some(CarriersAction::List) => carriers(json),
            Some(CarriersAction::Status { json }) => {
                live::carrier_status(&read()?, json)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(CarriersAction::Parse { carrier, file }) => {
                live::parse(&carrier, &file)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(CarriersAction::Login { carrier }) => {
                let dir = data_dir(home.as_deref())?;
                live::login(&dir, cli.credentials_file, &carrier)?;
                // A carrier account means real parcels: the demo's fast clock must not rule them.
                end_demo_for_own_parcels(&mut open()?, &dir)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(CarriersAction::Test { carrier }) => {
                live::test_credentials(&data_dir(home.as_deref())?, cli.credentials_file, &carrier)
            }
            Some(CarriersAction::Logout { carrier }) => {
                live::logout(&data_dir(home.as_deref())?, cli.credentials_file, &carrier)?;
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Sync { action, json } => {
            let dir = data_dir(home.as_deref())?;
            live::sync(&dir, open()?, cli.credentials_file, action, json)
        }
        Command::Demo { reset } => {
            live::demo(&mut open()?, &data_dir(home.as_deref())?, reset)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch { source, no_notify } => {
            live::watch(
                open()?,
                &data_dir(home.as_deref())?,
                cli.credentials_file,
                source,
                !no_notify,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Notifications {
            action,
            limit,
            json,
        } => crate::notifications::run(open()?, action, limit, json),
        Command::Refresh { key, source } => {
            live::refresh(
                open()?,
                &data_dir(home.as_deref())?,
                cli.credentials_file,
                key,
                source,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::EtaEval {
            file,
            col,
            tz,
            country,
            json,
        } => crate::eta_eval::eval(&file, &col, &tz, country.as_deref(), json),
        Command::EtaSynth {
            rows,
            seed,
            out,
            profile,
        } => crate::eta_eval::synth(rows, seed, out.as_deref(), &profile),
        Command::Serve {
            listen,
            allow_remote,
            ui,
            demo,
            speed,
            sim,
            sim_key,
            no_notify,
            duration,
        } => {
            let mut opts = parceltrail_app::Options::new(data_dir(home.as_deref())?);
            opts.credentials_file = cli.credentials_file;
            opts.demo_speed = speed;
            opts.sim_speed = speed;
            opts.sim = sim.map(|url| (url, sim_key));
            live::serve(live::ServeOptions {
                app: opts,
                listen,
                allow_remote,
                ui: ui.unwrap_or_else(parceltrail_server::default_ui_dir),
                demo,
                notify: !no_notify,
                duration,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim {
            listen,
            seed,
            parcels,
            speed,
            fail_rate,
            max_rate,
            latency_ms,
            api_key,
            stagger,
        } => {
            let config = parceltrail_sim::SimConfig {
                seed,
                parcels,
                speed,
                fail_rate,
                max_rate,
                latency: std::time::Duration::from_millis(latency_ms),
                api_key,
                stagger,
            };
            config.validate()?;
            live::sim(config, listen)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The data directory: `--home`/`PARCELTRAIL_HOME`, else the platform's convention.
pub(crate) fn data_dir(home: Option<&Path>) -> Result<PathBuf> {
    match home {
        Some(h) => Ok(h.to_path_buf()),
        None => directories::ProjectDirs::from("", "", "parceltrail")
            .map(|d| d.data_dir().to_path_buf())
            .ok_or_else(|| {
                anyhow!("cannot find a home directory; give --home DIR or set PARCELTRAIL_HOME")
            }),
    }
}

fn open_store(home: Option<&Path>, write: bool) -> Result<SqliteStore> {
    let path = data_dir(home)?.join("parceltrail.db");
    let db = SqliteStore::open(&path)
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    if write && db.is_read_only() {
        bail!(
            "the database {} can only be read (its file or directory is read-only): \
             `list`, `show` and `export` work, this command would change it",
            path.display()
        );
    }
    Ok(db)
}

fn read_input(arg: Option<&str>) -> Result<String> {
    match arg {
        None | Some("-") => {
            let bytes = input::read_all("-", input::TEXT_MAX, "detect")?;
            String::from_utf8(bytes).context("cannot read standard input")
        }
        Some(text) => Ok(text.to_owned()),
    }
}

fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    // Buffered: stdout is line-buffered, and a large document is many thousands of lines.
    let mut out = BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

fn describe(d: &Detection) -> String {
    let number = style(clean(&d.number)).bold();
    if !d.valid {
        let why = d
            .reason
            .as_deref()
            .unwrap_or("not a tracking number we recognise");
        return format!("{number}  {} {}", style("invalid:").red(), clean(why));
    }
    let mut line = format!("{number}  ");
    if let Some(best) = d.candidates.first() {
        line += &style(clean(&best.carrier_name)).cyan().to_string();
        if let Some(service) = &best.service {
            line += &format!(" · {}", clean(service));
        }
        if let Some(c) = &best.destination_country {
            line += &format!(" · to {}", clean(c));
        }
    }
    if d.candidates.len() > 1 {
        let others: Vec<String> = d.candidates[1..]
            .iter()
            .map(|c| c.carrier_name.clone())
            .collect();
        line += &style(format!("  (or {})", others.join(", ")))
            .dim()
            .to_string();
    }
    if d.from_link {
        line += &style("  from link").dim().to_string();
    }
    line
}

fn detect_cmd(text: Option<String>, json: bool) -> Result<ExitCode> {
    let text = read_input(text.as_deref())?;
    let found = parceltrail_core::view::find_numbers(&text);
    if json {
        print_json(&found)?;
    } else if found.is_empty() {
        println!("No tracking numbers found.");
    } else {
        for d in &found {
            println!("{}", describe(d));
        }
    }
    Ok(if found.iter().any(|d| d.valid) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[derive(Serialize)]
struct AddResult {
    number: String,
    carrier: String,
    id: String,
    created: bool,
    /// For a parcel tracked already: the flags not applied (its order's fields).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unchanged: Vec<&'static str>,
}

/// Before parcels of the person's own are stored: end the demo, whose fast clock must not
/// rule them (a `watch --demo` elsewhere notices and stops).
fn end_demo_for_own_parcels(db: &mut SqliteStore, dir: &Path) -> Result<()> {
    if let Some(n) = parceltrail_app::sources::end_demo(db, dir)? {
        eprintln!(
            "The demo has ended ({n} demo parcels removed): your own parcels are tracked on the real clock."
        );
    }
    Ok(())
}

/// A parcel tracked already: a label given is an edit (the last writer wins, as `label`);
/// the order's fields stay as they are. Returns the flags not applied.
fn apply_to_tracked(
    db: &mut SqliteStore,
    s: &parceltrail_core::domain::Shipment,
    label: Option<&String>,
    info: &OrderInfo,
) -> Result<Vec<&'static str>> {
    if label.is_some() && label != s.label.as_ref() {
        db.edit(s.id, Edit::Label(label.cloned()), Utc::now())?;
    }
    let order = db.order(s.order_id)?;
    let mut kept = Vec::new();
    let differs = |given: &Option<String>, have: &Option<String>| given.is_some() && given != have;
    if differs(&info.store, &order.store) {
        kept.push("--store");
    }
    if differs(&info.order_number, &order.order_number) {
        kept.push("--order");
    }
    if differs(&info.items, &order.items) {
        kept.push("--items");
    }
    if info.promised_at.is_some() && info.promised_at != order.promised_at {
        kept.push("--promised");
    }
    Ok(kept)
}

fn add_one(
    (db, dir): (&mut SqliteStore, &Path),
    raw: &str,
    carrier: Option<String>,
    force: bool,
    order: OrderInfo,
    label: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let found = match &carrier {
        Some(c) => {
            let d = detect::detect_as(raw, &resolve_carrier(c)?);
            (d.valid || force).then_some(d.clone()).ok_or_else(|| {
                anyhow!(
                    "{} (add --force to track it anyway)",
                    d.reason.unwrap_or_else(|| "invalid number".into())
                )
            })?
        }
        None => {
            let d = detect::detect(raw);
            if !d.valid {
                bail!(
                    "{}",
                    d.reason.unwrap_or_else(|| format!(
                        "{raw:?} is not a tracking number we recognise"
                    ))
                );
            }
            d
        }
    };
    let (carrier_id, service) = match (found.candidates.first(), &carrier) {
        (Some(best), _) => (best.carrier.clone(), best.service.clone()),
        (None, Some(c)) => (resolve_carrier(c)?, None),
        (None, None) => bail!("no carrier for {raw:?}"),
    };
    let new = NewShipment {
        tracking_number: found.number.clone(),
        carrier: carrier_id.clone(),
        service,
        label: label.filter(|l| !l.trim().is_empty()),
        order,
        events: Vec::new(),
    };
    end_demo_for_own_parcels(db, dir)?;
    let added = db.add_shipment(&new, Utc::now())?;
    let unchanged = if added.created {
        Vec::new()
    } else {
        apply_to_tracked(db, &added.shipment, new.label.as_ref(), &new.order)?
    };
    if json {
        print_json(&AddResult {
            number: added.shipment.tracking_number.clone(),
            carrier: added.shipment.carrier.clone(),
            id: added.shipment.id.to_string(),
            created: added.created,
            unchanged,
        })?;
    } else if added.created {
        println!(
            "Tracking {} with {}",
            style(&added.shipment.tracking_number).bold(),
            carrier_name(&carrier_id)
        );
        if carrier.is_none() && found.candidates.len() > 1 {
            let others: Vec<&str> = found.candidates[1..]
                .iter()
                .map(|c| c.carrier.as_str())
                .collect();
            println!(
                "  {}",
                style(format!(
                    "The number also fits {}; use --carrier to choose.",
                    others.join(", ")
                ))
                .dim()
            );
        }
    } else {
        println!(
            "Already tracking {} ({})",
            added.shipment.tracking_number,
            carrier_name(&added.shipment.carrier)
        );
        if new.label.is_some() && new.label != added.shipment.label {
            println!(
                "  Its label is now “{}”.",
                clean(new.label.as_deref().unwrap_or(""))
            );
        }
        if !unchanged.is_empty() {
            println!(
                "  {}",
                style(format!(
                    "Not applied: {} (they belong to the parcel's order, which stays as it was).",
                    unchanged.join(", ")
                ))
                .yellow()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn resolve_carrier(c: &str) -> Result<String> {
    import::carrier_id(c)
        .ok_or_else(|| anyhow!("unknown carrier {c:?}; `parceltrail carriers` lists them"))
}

fn add_from_text(
    db: &mut SqliteStore,
    dir: &Path,
    file: &str,
    order: OrderInfo,
    label: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let label = label.filter(|l| !l.trim().is_empty());
    let bytes = input::read_all(file, input::TEXT_MAX, "add --from-text")?;
    let text = String::from_utf8_lossy(&bytes);
    let found = detect::scan(&text);
    let (valid, invalid): (Vec<_>, Vec<_>) = found.into_iter().partition(|d| d.valid);
    let new: Vec<NewShipment> = valid
        .iter()
        .filter_map(|d| {
            let best = d.candidates.first()?;
            Some(NewShipment {
                tracking_number: d.number.clone(),
                carrier: best.carrier.clone(),
                service: best.service.clone(),
                label: label.clone(),
                order: order.clone(),
                events: Vec::new(),
            })
        })
        .collect();
    if !new.is_empty() {
        end_demo_for_own_parcels(db, dir)?;
    }
    let added = db.add_shipments(&new, Utc::now())?;
    let mut unchanged = Vec::with_capacity(added.len());
    for a in &added {
        unchanged.push(if a.created {
            Vec::new()
        } else {
            apply_to_tracked(db, &a.shipment, label.as_ref(), &order)?
        });
    }
    if json {
        let results: Vec<AddResult> = added
            .iter()
            .zip(unchanged)
            .map(|(a, unchanged)| AddResult {
                number: a.shipment.tracking_number.clone(),
                carrier: a.shipment.carrier.clone(),
                id: a.shipment.id.to_string(),
                created: a.created,
                unchanged,
            })
            .collect();
        print_json(&serde_json::json!({ "added": results, "invalid": invalid }))?;
    } else {
        if added.is_empty() && invalid.is_empty() {
            println!("No tracking numbers found in the text.");
        }
        for (a, unchanged) in added.iter().zip(unchanged) {
            let verb = if a.created {
                "Tracking"
            } else {
                "Already tracking"
            };
            println!(
                "{verb} {} with {}",
                style(&a.shipment.tracking_number).bold(),
                carrier_name(&a.shipment.carrier)
            );
            if !unchanged.is_empty() {
                println!(
                    "  {}",
                    style(format!(
                        "Not applied: {} (they belong to the parcel's order, which stays as it was).",
                        unchanged.join(", ")
                    ))
                    .yellow()
                );
            }
        }
        for d in &invalid {
            println!("Skipped {}", describe(d));
        }
    }
    Ok(if invalid.is_empty() && !added.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn list_query(all: bool) -> ListQuery {
    let now = Utc::now();
    let today = Local::now().date_naive();
    let start = Local
        .from_local_datetime(&today.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now);
    ListQuery {
        today_start: start,
        today_end: start + Duration::days(1),
        delivered_since: now - Duration::days(RECENT_DAYS),
        all,
    }
}

pub fn list(db: &dyn Store, all: bool, json: bool) -> Result<ExitCode> {
    let q = list_query(all);
    let mut out = BufWriter::new(std::io::stdout().lock());
    if json {
        // Streamed: constant memory however many parcels there are.
        let mut first = true;
        out.write_all(b"[")?;
        db.list(&q, &mut |item| {
            let sep: &[u8] = if first { b"\n" } else { b",\n" };
            first = false;
            out.write_all(sep)
                .and_then(|_| serde_json::to_writer(&mut out, &item).map_err(Into::into))
                .map_err(|source| parceltrail_core::Error::Io {
                    context: "cannot write".into(),
                    source,
                })
        })?;
        out.write_all(b"\n]\n")?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut current: Option<Group> = None;
    let mut count = 0usize;
    db.list(&q, &mut |item| {
        count += 1;
        let io = |source| parceltrail_core::Error::Io {
            context: "cannot write".into(),
            source,
        };
        if current != Some(item.group) {
            let gap = if current.is_some() { "\n" } else { "" };
            writeln!(
                out,
                "{gap}{}",
                style(item.group.title()).bold().underlined()
            )
            .map_err(io)?;
            current = Some(item.group);
        }
        writeln!(out, "{}", list_line(&item)).map_err(io)
    })?;
    if count == 0 {
        writeln!(
            out,
            "No parcels yet. Add one with: parceltrail add <TRACKING-NUMBER>"
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn list_line(item: &ListItem) -> String {
    let title = item
        .label
        .as_deref()
        .or(item.store.as_deref())
        .map(|t| clean(t).into_owned())
        .unwrap_or_else(|| carrier_name(&item.carrier));
    let when_text = match (&item.estimate, &item.carrier_eta, item.status.is_terminal()) {
        (Some(e), _, false) => format!(
            "arrives {}",
            parceltrail_core::eta::describe(e, Utc::now(), local_tz())
        ),
        (None, Some(e), false) => format!("due {}", eta(e)),
        _ => item.last_event_at.map(when).unwrap_or_default(),
    };
    let mut line = format!(
        "  {:<24} {:<22} {} {}",
        truncate(&title, 24),
        status(item.status),
        style(&item.tracking_number).dim(),
        when_text
    );
    if item.muted {
        line += &style("  (muted)").dim().to_string();
    }
    if let Some(d) = &item.status_detail {
        line += &format!("\n  {:<24} {}", "", style(truncate(&clean(d), 70)).dim());
    }
    if !item.problems.is_empty() {
        let names: Vec<&str> = item.problems.iter().map(|p| p.label()).collect();
        line += &format!("\n  {:<24} {}", "", style(names.join(", ")).red());
    }
    if let Some(e) = &item.last_error {
        line += &format!(
            "\n  {:<24} {} {}",
            "",
            style("carrier error:").red(),
            clean(e)
        );
    }
    line
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn show(db: &SqliteStore, key: &str, json: bool) -> Result<ExitCode> {
    let s = db.find(key)?;
    let order = db.order(s.order_id)?;
    let events = db.timeline(s.id)?;
    let log = db.status_log(s.id)?;
    if json {
        #[derive(Serialize)]
        struct Shown {
            #[serde(flatten)]
            record: parceltrail_core::store::ShipmentRecord,
            problems: Vec<parceltrail_core::problems::OpenProblem>,
        }
        let problems = db.open_problems(Some(s.id))?;
        let record = parceltrail_core::store::ShipmentRecord {
            order,
            shipment: s,
            events,
            status_log: log,
        };
        print_json(&Shown { record, problems })?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    let title = s
        .label
        .as_deref()
        .or(order.store.as_deref())
        .map(clean)
        .unwrap_or_default();
    writeln!(
        out,
        "{} {}",
        style(&s.tracking_number).bold(),
        style(title).bold()
    )?;
    let carrier = detect::carrier(&s.carrier);
    writeln!(
        out,
        "{}{}  {}",
        carrier
            .as_ref()
            .map_or(s.carrier.clone(), |c| c.name.clone()),
        s.service
            .as_deref()
            .map(|x| format!(" · {}", clean(x)))
            .unwrap_or_default(),
        status(s.status)
    )?;
    if let Some(no) = &order.order_number {
        let store = order
            .store
            .as_deref()
            .map(|x| format!("{} ", clean(x)))
            .unwrap_or_default();
        writeln!(out, "Order {store}#{}", clean(no))?;
    }
    if let Some(items) = &order.items {
        writeln!(out, "Items: {}", clean(items))?;
    }
    if let Some(e) = &s.estimate {
        writeln!(
            out,
            "Arrives {} · {}",
            parceltrail_core::eta::describe(e, Utc::now(), local_tz()),
            match e.source {
                parceltrail_core::eta::EtaSource::Carrier => "the carrier's estimate",
                parceltrail_core::eta::EtaSource::History => "from your past deliveries",
                parceltrail_core::eta::EtaSource::Prior => "from the carrier's service standard",
                parceltrail_core::eta::EtaSource::OutForDelivery => "out for delivery",
            }
        )?;
    } else if let Some(e) = &s.carrier_eta {
        writeln!(out, "Expected: {} (carrier's estimate)", eta(e))?;
    }
    if let Some(p) = &order.promised_at {
        writeln!(out, "Promised by the store: {}", p.format("%a %-d %b %Y"))?;
    }
    for p in db.open_problems(Some(s.id))? {
        writeln!(
            out,
            "{} {}",
            style(format!("{}:", p.problem.kind.label())).red().bold(),
            clean(&p.problem.detail)
        )?;
    }
    if let Some(url) = carrier.and_then(|c| c.tracking_url) {
        writeln!(
            out,
            "Carrier page: {}",
            url.replace("%s", &s.tracking_number)
        )?;
    }
    if s.muted {
        writeln!(out, "{}", style("Notifications muted").dim())?;
    }
    if let Some(e) = &s.last_error {
        let at = s
            .last_error_at
            .map(|t| when(t.fixed_offset()))
            .unwrap_or_default();
        writeln!(
            out,
            "{} {} ({at})",
            style("Carrier error:").red().bold(),
            clean(e)
        )?;
    }

    // Stage bar: Ordered → Shipped → In transit → Out for delivery → Delivered, with the
    // exception branch named where the journey left the happy path.
    let reached = stage_reached(s.status, events.iter().map(|e| e.status));
    let stages: Vec<String> = Stage::ALL
        .iter()
        .map(|st| {
            if *st <= reached {
                style(format!("● {}", st.label())).green().to_string()
            } else {
                style(format!("○ {}", st.label())).dim().to_string()
            }
        })
        .collect();
    writeln!(out, "\n{}", stages.join(" → "))?;
    if s.status.needs_attention() {
        writeln!(out, "  ↳ {}", status(s.status))?;
    }

    writeln!(out)?;
    if events.is_empty() {
        let note = match s.status {
            Status::Pending => "No carrier updates yet (not scanned by the carrier yet).",
            _ => "No carrier events stored.",
        };
        writeln!(out, "{}", style(note).dim())?;
    }
    for e in events.iter().rev() {
        let place = e.location.to_string();
        writeln!(
            out,
            "{}  {:<18} {}{}",
            style(when(e.occurred_at)).dim(),
            status(e.status),
            clean(&e.description),
            if place.is_empty() {
                String::new()
            } else {
                format!(" — {}", clean(&place))
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(db: &mut SqliteStore, keys: Vec<String>, yes: bool) -> Result<ExitCode> {
    let shipments = keys
        .iter()
        .map(|k| db.find(k))
        .collect::<Result<Vec<_>, _>>()?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("removing deletes the parcel's history; add --yes to confirm");
        }
        let numbers: Vec<&str> = shipments
            .iter()
            .map(|s| s.tracking_number.as_str())
            .collect();
        eprint!("Remove {} and its history? [y/N] ", numbers.join(", "));
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Nothing removed.");
            return Ok(ExitCode::SUCCESS);
        }
    }
    for s in shipments {
        db.remove(s.id, Utc::now())?;
        println!("Removed {}", s.tracking_number);
    }
    Ok(ExitCode::SUCCESS)
}

fn export_cmd(db: &SqliteStore, format: ExportFormat, output: Option<PathBuf>) -> Result<ExitCode> {
    let sink: Box<dyn Write> = match &output {
        // Written beside the target and renamed, so a failed export never leaves half a file.
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(tmp_path(path))
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let n = match format {
        ExportFormat::Json => export::write_json(db, sink, Utc::now())?,
        ExportFormat::Csv => export::write_csv(db, sink)?,
    };
    if let Some(path) = output {
        std::fs::rename(tmp_path(&path), &path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "Exported {n} {} to {}",
            if format == ExportFormat::Csv {
                "rows"
            } else {
                "parcels"
            },
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

fn import_cmd(db: &mut SqliteStore, dir: &Path, file: &str, json: bool) -> Result<ExitCode> {
    let bytes = input::read_all(file, input::IMPORT_MAX, "import")?;
    let bar = ProgressBar::with_draw_target(
        Some(bytes.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} importing [{bar:30}] {percent}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = import::import_csv(db, bytes.as_slice(), Utc::now(), &mut |done, _| {
        bar.set_position(done)
    })
    .with_context(|| format!("cannot import {file}"))?;
    bar.finish_and_clear();
    // After the file was read (a refused file leaves the demo as it was); the imported
    // parcels are the person's own.
    if report.added > 0 {
        end_demo_for_own_parcels(db, dir)?;
    }
    if json {
        print_json(&report)?;
    } else {
        println!(
            "Read {} rows: {} parcels added, {} already tracked, {} events added, {} rows rejected.",
            report.rows,
            report.added,
            report.already_tracked,
            report.events_added,
            report.errors.len()
        );
        for e in &report.errors {
            println!(
                "  {} {}",
                style(format!("line {}:", e.line)).red(),
                clean(&e.reason)
            );
        }
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[derive(Serialize)]
struct CarrierOut {
    id: String,
    name: String,
    tracking_url: Option<String>,
    formats: Vec<FormatOut>,
}

#[derive(Serialize)]
struct FormatOut {
    name: String,
    description: String,
    example: Option<String>,
    check_digit: bool,
}

fn carriers(json: bool) -> Result<ExitCode> {
    let formats = detect::formats();
    let list: Vec<CarrierOut> = detect::carriers()
        .into_iter()
        .map(|c| CarrierOut {
            formats: formats
                .iter()
                .filter(|f| f.carrier == c.id)
                .map(|f| FormatOut {
                    name: f.name.clone(),
                    description: f.description.clone(),
                    example: f.example.clone(),
                    check_digit: f.has_check_digit,
                })
                .collect(),
            id: c.id,
            name: c.name,
            tracking_url: c.tracking_url,
        })
        .collect();
    if json {
        print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    for c in list {
        writeln!(
            out,
            "{} {}",
            style(&c.name).bold(),
            style(format!("({})", c.id)).dim()
        )?;
        for f in c.formats {
            let check = if f.check_digit {
                "check digit"
            } else {
                "no check digit"
            };
            let example = f.example.map(|e| format!(", e.g. {e}")).unwrap_or_default();
            writeln!(out, "  {}: {} [{check}{example}]", f.name, f.description)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
