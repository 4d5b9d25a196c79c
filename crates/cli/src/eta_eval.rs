//! `parceltrail eta-eval` and `parceltrail eta-synth`: replaying past deliveries through the
//! ETA model, and generating synthetic ones. The logic lives in `parceltrail_core::eta`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use parceltrail_core::eta::eval::{self, EvalOptions, EvalReport};
use parceltrail_core::eta::synth::{self, Profile, SynthOptions};

use crate::output::clean;

/// At most this many skipped rows are listed on standard error.
const LIST_SKIPPED: usize = 20;

pub fn eval(
    file: &str,
    columns: &[String],
    tz: &str,
    country: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let mut opts = EvalOptions {
        tz: eval::parse_tz(tz)?,
        default_country: country.map(str::to_owned),
        ..EvalOptions::default()
    };
    for c in columns {
        opts.map_column(c)?;
    }
    let input = crate::input::read_all(file, crate::input::EVAL_MAX, "eta-eval")?;
    let report =
        eval::evaluate(input.as_slice(), &opts).with_context(|| format!("evaluating {file}"))?;

    let mut err = std::io::stderr().lock();
    for s in report.skipped_rows.iter().take(LIST_SKIPPED) {
        writeln!(err, "line {}: skipped: {}", s.line, clean(&s.reason))?;
    }
    if report.skipped_rows.len() > LIST_SKIPPED {
        writeln!(
            err,
            "… and {} more skipped rows",
            report.skipped_rows.len() - LIST_SKIPPED
        )?;
    }

    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write_table(&mut out, &report, tz)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn write_table(out: &mut impl Write, r: &EvalReport, tz: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "Rolling-origin replay: {} rows read, {} evaluated, {} skipped (dates in {tz})",
        r.rows, r.evaluated, r.skipped
    )?;
    if r.evaluated == 0 {
        return writeln!(out, "Nothing to evaluate.");
    }
    let rows: Vec<(&str, String, &str)> = [
        (
            "mae_days",
            format!("{:.2}", r.mae_days),
            "mean |delivered − likely| in days",
        ),
        (
            "baseline_mae_days",
            format!("{:.2}", r.baseline_mae_days),
            "naive: shipped + carrier's mean transit",
        ),
        (
            "window_coverage",
            pct(r.window_coverage),
            "delivered within earliest..latest",
        ),
        (
            "mean_window_days",
            format!("{:.2}", r.mean_window_days),
            "latest − earliest + 1",
        ),
        (
            "late_share",
            pct(r.late_share),
            "delivered after the likely date",
        ),
        (
            "latest_late_share",
            pct(r.latest_late_share),
            "delivered after the latest date",
        ),
    ]
    .into_iter()
    .chain(r.merchant_mae_days.map(|m| {
        (
            "merchant_mae_days",
            format!("{m:.2}"),
            "the store's promise: mean |delivered − promised|",
        )
    }))
    .chain(r.merchant_late_share.map(|m| {
        (
            "merchant_late_share",
            pct(m),
            "delivered after the promised date",
        )
    }))
    .chain(r.latest_minus_promise_days.map(|m| {
        (
            "latest_minus_promise_days",
            format!("{m:+.2}"),
            "mean latest − promised date",
        )
    }))
    .collect();
    for (name, value, what) in rows {
        writeln!(out, "  {name:<26} {value:>8}   {what}")?;
    }
    Ok(())
}

pub fn synth(rows: usize, seed: u64, out: Option<&Path>, profile: &str) -> Result<ExitCode> {
    let opts = SynthOptions {
        rows,
        seed,
        profile: match profile {
            "marketplace" => Profile::Marketplace,
            _ => Profile::Mixed,
        },
    };
    let sink: Box<dyn Write> = match out {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    synth::write_csv(sink, &opts).context("writing synthetic deliveries")?;
    Ok(ExitCode::SUCCESS)
}
