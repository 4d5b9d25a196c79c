//! `parceltrail`: the command line of the Parceltrail parcel tracker.

mod cli;
mod commands;
mod eta_eval;
mod live;
mod notifications;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match commands::run(args) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`parceltrail list | head`) is not a failure.
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!(
                "{} {err:#}",
                console::style("error:").red().bold().for_stderr()
            );
            ExitCode::from(2)
        }
    }
}
