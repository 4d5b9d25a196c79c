//! Parceltrail's core: the domain, the local store and the tracking logic, with no UI and no
//! HTTP server.
//!
//! Data flows one way:
//!
//! ```text
//! carrier (poll or webhook) -> adapter normalises -> store::Store::ingest (transactional,
//! idempotent) -> store::Change events -> ETA, notifier, UI
//! ```
//!
//! Tracking-number recognition lives in its own crate, re-exported here as [`detect`].
//!
//! ```
//! use chrono::Utc;
//! use parceltrail_core::store::{NewShipment, SqliteStore, Store};
//!
//! let mut store = SqliteStore::open_in_memory()?;
//! let found = parceltrail_core::detect::detect("1Z5R89390357567127");
//! assert_eq!(found.carrier.as_deref(), Some("ups"));
//! let added = store.add_shipment(
//!     &NewShipment { tracking_number: found.number, carrier: "ups".into(), ..Default::default() },
//!     Utc::now(),
//! )?;
//! assert!(added.created);
//! # Ok::<(), parceltrail_core::Error>(())
//! ```
#![deny(missing_docs)]

pub mod carrier;
pub mod domain;
mod error;
pub mod store;
pub mod sync;

pub use error::{Error, Result};
pub use parceltrail_detect as detect;
pub mod eta;
pub mod export;
pub mod import;
pub mod notify;
pub mod pipeline;
pub mod poller;
pub mod problems;
pub mod view;
