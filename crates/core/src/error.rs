//! The core's error type: variants say what the caller can do next.

use std::path::PathBuf;

/// Everything the core can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing matched the given number or id.
    #[error("no parcel matches {0:?}")]
    NotFound(String),
    /// The given key matched more than one parcel.
    #[error("{key:?} matches several parcels ({}); give more of the number or id", matches.join(", "))]
    Ambiguous {
        /// What the user typed.
        key: String,
        /// The tracking numbers it matched.
        matches: Vec<String>,
    },
    /// An order with this number (in its store) already exists.
    #[error("an order with this number already exists ({0})")]
    OrderExists(crate::domain::OrderId),
    /// The tracking number is tracked in another order.
    #[error("tracking number {tracking_number} already belongs to order {order_id}")]
    NumberTaken {
        /// The number.
        tracking_number: String,
        /// The order it belongs to.
        order_id: crate::domain::OrderId,
    },
    /// Input from outside was not acceptable.
    #[error("{0}")]
    InvalidInput(String),
    /// The database was written by a newer Parceltrail.
    #[error(
        "the database {path} was written by a newer version of Parceltrail (schema {found}, this build knows up to {known}); upgrade Parceltrail"
    )]
    NewerSchema {
        /// Database file.
        path: PathBuf,
        /// Its schema version.
        found: usize,
        /// The newest schema this build knows.
        known: usize,
    },
    /// The database file is damaged.
    #[error("the database {path} is damaged: {detail}")]
    Corrupt {
        /// Database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// SQLite failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database's schema could not be brought up to date (its recorded version does not
    /// match its tables); nothing was changed.
    #[error(
        "the database {path} cannot be upgraded: it says it has schema {found}, but upgrade step {step} failed ({detail}); it was changed by something other than Parceltrail. Restore a backup, or move the file aside to start with an empty one"
    )]
    Migration {
        /// Database file.
        path: PathBuf,
        /// The schema version it records.
        found: usize,
        /// The upgrade step that failed.
        step: usize,
        /// What SQLite said, briefly.
        detail: String,
    },
    /// The database can only be read, and this build would have to upgrade it first.
    #[error(
        "the database {path} is read-only and has schema {found}, which this version of Parceltrail must upgrade to {known} before it can read it; open it once where it can be written, or copy it somewhere writable"
    )]
    ReadOnly {
        /// Database file.
        path: PathBuf,
        /// Its schema version.
        found: usize,
        /// The schema this build needs.
        known: usize,
    },
    /// A database server failed (the shop server's PostgreSQL). Opaque, so that core names
    /// no network client.
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The caller's data was refused (a number already taken, input not acceptable), as
    /// opposed to the store failing: the same request would be refused again.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::OrderExists(_) | Error::NumberTaken { .. } | Error::InvalidInput(_)
        )
    }
}
