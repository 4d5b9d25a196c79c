//! `parceltrail`: the command line of the Parceltrail parcel tracker.

mod cli;
mod commands;
mod eta_eval;
mod input;
mod live;
mod notifications;
mod output;
mod server;
mod server_background;
mod server_demo;

use std::process::ExitCode;

use clap::Parser;

/// Warnings from the background work (a carrier failing, a notification that could not be
/// shown) go to standard error; `RUST_LOG` chooses otherwise (e.g. `RUST_LOG=debug`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "parceltrail_core=warn,parceltrail_carriers=warn,parceltrail_notifiers=warn,parceltrail_app=warn",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// The server's store calls run on tokio's blocking threads, and glibc gives threads malloc
/// arenas of their own (up to eight a core), each keeping what was freed in it: under a
/// webhook burst the server's memory grew by 10 to 15 MiB a run of load and kept it (116 MiB
/// after five; 59 MiB with two arenas, at the same speed). Set before any thread starts,
/// unless the operator set `MALLOC_ARENA_MAX` (glibc's own variable) themselves.
fn few_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator settings; called before other threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // The shop server sets up its own log (JSON lines with request ids) once its settings
    // are read.
    if matches!(args.command, cli::Command::Server(_)) {
        few_malloc_arenas();
    } else {
        init_logging();
    }
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
            // Messages quote files, carriers and arguments: printed cleaned, like all output.
            eprintln!(
                "{} {}",
                console::style("error:").red().bold().for_stderr(),
                output::clean(&format!("{err:#}"))
            );
            ExitCode::from(2)
        }
    }
}
