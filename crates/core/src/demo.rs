//! Demo parcels, so a first run with no carrier accounts still shows a living list: a set of
//! journeys at different stages, with times relative to now. The carrier simulator (a later
//! milestone) moves them along; until then their histories are fixed.

use chrono::{DateTime, Duration, Utc};

use crate::domain::{CarrierEta, NewEvent, Place, Source, Status};
use crate::error::Result;
use crate::store::{IngestBatch, NewShipment, OrderInfo, Store};

struct Demo {
    number: &'static str,
    carrier: &'static str,
    store: &'static str,
    order: &'static str,
    items: &'static str,
    label: &'static str,
    /// (hours ago, status, carrier code, description, city, country)
    journey: &'static [(
        i64,
        Status,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    )],
    /// Carrier estimate as (hours from now to window start, to window end).
    eta: Option<(i64, i64)>,
}

use Status::*;

const DEMOS: &[Demo] = &[
    Demo {
        number: "1Z5R89390357567127",
        carrier: "ups",
        store: "Trailhead Outfitters",
        order: "TO-58213",
        items: "Trail running shoes",
        label: "Running shoes",
        journey: &[
            (
                52,
                InfoReceived,
                "003",
                "Shipper created a label, UPS has not received the package yet.",
                "Portland",
                "US",
            ),
            (46, InTransit, "005", "Picked up", "Portland", "US"),
            (
                30,
                InTransit,
                "005",
                "Departed from facility",
                "Salt Lake City",
                "US",
            ),
            (14, InTransit, "005", "Arrived at facility", "Denver", "US"),
            (
                2,
                OutForDelivery,
                "072",
                "Loaded on delivery vehicle",
                "Denver",
                "US",
            ),
        ],
        eta: Some((1, 5)),
    },
    Demo {
        number: "3318810025",
        carrier: "dhl",
        store: "Fotohaus Berlin",
        order: "FB-2291",
        items: "50 mm camera lens",
        label: "Camera lens",
        journey: &[
            (
                40,
                InfoReceived,
                "pre-transit",
                "Shipment information received",
                "Berlin",
                "DE",
            ),
            (
                33,
                InTransit,
                "transit",
                "Shipment picked up",
                "Berlin",
                "DE",
            ),
            (
                20,
                InTransit,
                "transit",
                "Processed at DHL hub",
                "Leipzig",
                "DE",
            ),
            (
                6,
                InTransit,
                "transit",
                "Departed facility",
                "Leipzig",
                "DE",
            ),
        ],
        eta: Some((40, 50)),
    },
    Demo {
        number: "9505511069605048600624",
        carrier: "usps",
        store: "Groove Records",
        order: "GR-10077",
        items: "Two vinyl records",
        label: "Vinyl",
        journey: &[
            (
                28,
                InfoReceived,
                "GX",
                "Shipping Label Created, USPS Awaiting Item",
                "Nashville",
                "US",
            ),
            (
                22,
                InTransit,
                "03",
                "USPS in possession of item",
                "Nashville",
                "US",
            ),
            (
                9,
                InTransit,
                "10",
                "Arrived at USPS Regional Facility",
                "Memphis",
                "US",
            ),
        ],
        eta: Some((20, 30)),
    },
    Demo {
        number: "RB123456785GB",
        carrier: "royal-mail",
        store: "Highland Tea Co.",
        order: "HT-4410",
        items: "Tea sampler",
        label: "Birthday gift",
        journey: &[
            (120, InTransit, "EMC", "Item posted", "Inverness", "GB"),
            (
                96,
                InTransit,
                "EMD",
                "Departed the United Kingdom",
                "London",
                "GB",
            ),
            (
                70,
                Exception,
                "EDH",
                "Held by customs: duties to pay",
                "Frankfurt",
                "DE",
            ),
        ],
        eta: None,
    },
    Demo {
        number: "986578788855",
        carrier: "fedex",
        store: "Lumen Studio",
        order: "LS-7781",
        items: "Desk lamp",
        label: "Desk lamp",
        journey: &[
            (
                75,
                InfoReceived,
                "OC",
                "Shipment information sent to FedEx",
                "Austin",
                "US",
            ),
            (70, InTransit, "PU", "Picked up", "Austin", "US"),
            (
                50,
                InTransit,
                "AR",
                "Arrived at FedEx location",
                "Memphis",
                "US",
            ),
            (
                30,
                OutForDelivery,
                "OD",
                "On FedEx vehicle for delivery",
                "Chicago",
                "US",
            ),
            (
                26,
                Delivered,
                "DL",
                "Delivered, left at front door",
                "Chicago",
                "US",
            ),
        ],
        eta: None,
    },
    Demo {
        number: "TBA000000000000",
        carrier: "amazon",
        store: "Amazon",
        order: "113-4421198-0033012",
        items: "Phone charger",
        label: "Charger",
        journey: &[],
        eta: None,
    },
];

/// Add the demo parcels that are not tracked yet, with their histories; returns how many were
/// added. Running it again adds nothing.
pub fn seed(store: &mut dyn Store, now: DateTime<Utc>) -> Result<usize> {
    let mut added = 0;
    for d in DEMOS {
        if store.find(d.number).is_ok() {
            continue;
        }
        let new = NewShipment {
            tracking_number: d.number.into(),
            carrier: d.carrier.into(),
            service: None,
            label: Some(d.label.into()),
            order: OrderInfo {
                store: Some(d.store.into()),
                order_number: Some(d.order.into()),
                items: Some(d.items.into()),
                placed_at: Some(
                    (now - Duration::hours(d.journey.first().map_or(4, |j| j.0 + 6)))
                        .fixed_offset(),
                ),
                notes: Some("Demo parcel".into()),
            },
            events: Vec::new(),
        };
        let id = store.add_shipment(&new, now)?.shipment.id;
        let events = d
            .journey
            .iter()
            .map(|(ago, status, code, desc, city, country)| NewEvent {
                occurred_at: (now - Duration::hours(*ago)).fixed_offset(),
                status: *status,
                raw_code: Some((*code).into()),
                description: (*desc).into(),
                location: Place {
                    city: Some((*city).into()),
                    country: Some((*country).into()),
                    ..Place::default()
                },
                source: Source::Simulator,
            })
            .collect();
        let mut batch = IngestBatch::events(id, events);
        batch.carrier_eta = d.eta.map(|(a, b)| CarrierEta {
            earliest: (now + Duration::hours(a)).fixed_offset(),
            latest: (now + Duration::hours(b)).fixed_offset(),
            observed_at: now,
        });
        store.ingest(&[batch], now)?;
        added += 1;
    }
    Ok(added)
}

/// The demo tracking numbers.
pub fn numbers() -> impl Iterator<Item = &'static str> {
    DEMOS.iter().map(|d| d.number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[test]
    fn demo_numbers_are_valid_for_their_carriers() {
        for d in DEMOS {
            let found = crate::detect::detect_as(d.number, d.carrier);
            assert!(
                found.valid,
                "{} for {}: {:?}",
                d.number, d.carrier, found.reason
            );
        }
    }

    #[test]
    fn seeding_twice_adds_once() {
        let mut s = SqliteStore::open_in_memory().unwrap();
        let now = Utc::now();
        assert_eq!(seed(&mut s, now).unwrap(), DEMOS.len());
        assert_eq!(seed(&mut s, now + Duration::hours(1)).unwrap(), 0);
        assert_eq!(s.count().unwrap(), DEMOS.len() as u64);
        let ups = s.find("1Z5R89390357567127").unwrap();
        assert_eq!(ups.status, Status::OutForDelivery);
        assert_eq!(ups.event_count, 5);
    }
}
