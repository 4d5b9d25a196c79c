//! The shop side of Parceltrail: shops, their staff (roles, Argon2id passwords, one-time
//! set-up links, login sessions with a CSRF token) and API keys (hashed, scoped, revocable),
//! stored on SQLite (one file, nothing to install) or on PostgreSQL (several server replicas
//! sharing one database). No HTTP here: `parceltrail-server` puts these behind its routes.
//!
//! [`hooks`] receives carrier and aggregator webhooks (17TRACK, AfterShip, Standard
//! Webhooks): signatures verified before parsing, pushes parsed into one shape, replayed
//! message ids refused; their signing secrets are sealed at rest by [`secrets`].
//!
//! [`webhooks`]: the URLs a shop subscribes to its changes, and the deliveries to them, sent
//! by any number of server replicas that share the work through leases.
//!
//! [`tracking::PgStore`] is core's tracking store (orders, shipments, events, estimates,
//! problems, the notification outbox) on PostgreSQL, one schema per shop.
//!
//! Every query that reads or changes a shop's data takes the shop's id and filters by it, so
//! an id of another shop is [`Error::NotFound`], exactly like an id that does not exist.
#![deny(missing_docs)]

pub mod accounts;
pub mod auth;
pub mod db;
// Its `id_type!` serves `webhooks` too.
#[macro_use]
mod domain;
pub mod hooks;
pub mod links;
pub mod prefs;
pub mod requests;
pub mod secrets;
pub mod sms;
pub mod stores;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tracking;
pub mod webhooks;

pub use db::{Db, DbUrl, Idempotent};
pub use domain::*;
pub use tracking::PgStore;

/// What went wrong in the shop store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such record in this shop (whether or not another shop has one).
    #[error("not found")]
    NotFound,
    /// A value given by a caller is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as the caller named it.
        field: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A value that must be unique is taken.
    #[error("{0} is already in use")]
    Conflict(&'static str),
    /// The database was written by a newer Parceltrail; it is left untouched.
    #[error(
        "the database's schema is version {found}, newer than this build's {known}: run a newer Parceltrail (the database was not changed)"
    )]
    NewerSchema {
        /// The database's version.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The database address is not one this build understands.
    #[error("{0}")]
    Url(String),
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had.
    #[error("PostgreSQL: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The database's worker thread died.
    #[error("the database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A stored password hash is unreadable.
    #[error("password hashing: {0}")]
    Hash(String),
}

impl Error {
    /// The caller's mistake (a 4xx), as opposed to the server's.
    pub fn is_caller_error(&self) -> bool {
        matches!(
            self,
            Error::NotFound | Error::Invalid { .. } | Error::Conflict(_)
        )
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// The shop store's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
