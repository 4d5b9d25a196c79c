#![no_main]
//! Fuzz FedEx's response parser through `Carrier::parse` (an adapter with dummy credentials,
//! as `parceltrail carriers parse` builds it).

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use parceltrail_carriers::{Http, Secret};

#[path = "common.rs"]
mod common;

static ADAPTER: LazyLock<parceltrail_carriers::fedex::Fedex> = LazyLock::new(|| {
    parceltrail_carriers::fedex::Fedex::new(
        Http::new(),
        parceltrail_carriers::fedex::PRODUCTION,
        "",
        Secret::new(""),
    )
});

fuzz_target!(|body: &[u8]| {
    common::check(&*ADAPTER, body);
});
