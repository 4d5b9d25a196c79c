//! Command-line arguments. Parsed here, then lifted into validated settings in `commands`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Track every parcel you are waiting for, from the command line.
///
/// Exit status: 0 on success; 1 when the command worked but found nothing valid (`detect`)
/// or some rows were rejected (`import`, `add --from-text`); 2 on an error.
#[derive(Debug, Parser)]
#[command(name = "parceltrail", version, about, long_about = None)]
pub struct Cli {
    /// Data directory (default: the platform's data directory for Parceltrail).
    #[arg(long, global = true, env = "PARCELTRAIL_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find tracking numbers (and their carriers) in a number, a tracking link or any text.
    Detect {
        /// The text; omit it or give `-` to read standard input.
        text: Option<String>,
        /// One JSON array of {number, carrier, candidates, valid, reason}.
        #[arg(long)]
        json: bool,
    },
    /// Start tracking a number (or every number found in a text).
    Add {
        /// The tracking number or a carrier tracking link.
        #[arg(required_unless_present = "from_text", conflicts_with = "from_text")]
        number: Option<String>,
        /// Add every tracking number found in this file (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        from_text: Option<String>,
        /// Carrier id or name, when the number alone is ambiguous or wrongly guessed.
        #[arg(long)]
        carrier: Option<String>,
        /// The store's order number (parcels with the same store and number share an order).
        #[arg(long, value_name = "NO")]
        order: Option<String>,
        /// Store or merchant name.
        #[arg(long, value_name = "NAME")]
        store: Option<String>,
        /// Your name for the parcel.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
        /// What was ordered.
        #[arg(long, value_name = "TEXT")]
        items: Option<String>,
        /// Add even if the number fails the carrier's format check (needs --carrier).
        #[arg(long, requires = "carrier")]
        force: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Parcels grouped: Arriving today, On the way, Needs attention, Delivered recently.
    List {
        /// Include archived parcels and deliveries older than two weeks.
        #[arg(long)]
        all: bool,
        /// One JSON array of parcels, each with its group.
        #[arg(long)]
        json: bool,
    },
    /// A parcel's timeline.
    Show {
        /// Tracking number (or its last digits) or parcel id.
        key: String,
        /// The parcel, its order, events and status changes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hide parcels from the default list (`--undo` brings them back).
    Archive {
        /// Tracking numbers or ids.
        #[arg(required = true)]
        keys: Vec<String>,
        /// Unarchive instead.
        #[arg(long)]
        undo: bool,
    },
    /// Stop tracking parcels and delete their history.
    Remove {
        /// Tracking numbers or ids.
        #[arg(required = true)]
        keys: Vec<String>,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Name a parcel (an empty label clears it).
    Label {
        /// Tracking number or id.
        key: String,
        /// The new label.
        label: String,
    },
    /// Silence (or with `--off`, restore) a parcel's notifications.
    Mute {
        /// Tracking number or id.
        key: String,
        /// Unmute instead.
        #[arg(long)]
        off: bool,
    },
    /// Write the full history of every parcel.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Import parcels from a CSV file (a header row with at least `tracking_number`).
    Import {
        /// The CSV file (`-` for standard input).
        file: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add the demo parcels (a first look without carrier accounts); running it again adds
    /// nothing.
    Demo,
    /// Supported carriers and their tracking-number formats.
    Carriers {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON document.
    Json,
    /// One row per event.
    Csv,
}
