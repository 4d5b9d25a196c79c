//! Adapter in progress.
