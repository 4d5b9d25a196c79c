//! Parceltrail's carrier adapters. Each implements [`parceltrail_core::carrier::Carrier`]
//! exactly as the carrier documents its API (auth, endpoints, field names, status codes,
//! limits) and normalises answers into the core's domain. Adapters only fetch and normalise;
//! the poller stores.
//!
//! Every base URL is configurable, so tests run against local mocks and demo mode against
//! `parceltrail sim`.
#![deny(missing_docs)]

pub mod credentials;
pub mod dhl;
pub mod fedex;
pub mod http;
pub mod redact;
pub mod track17;
pub mod ups;
pub mod usps;
mod util;

pub use dhl::Dhl;
pub use http::{Http, Secret};
