//! Scripted journeys. Each step is (hours after the label was created, DHL statusCode, DHL
//! status text, description, place). The texts are the ones DHL's divisions use, so the real
//! adapter's keyword refinements (out for delivery, pickup, attempt, return) are exercised.

use parceltrail_core::domain::Status;
use serde::Serialize;

/// The kinds of journey the simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Label → pickup → hubs → out for delivery → delivered.
    Delivered,
    /// A failed delivery attempt, delivered the next day.
    FailedAttemptThenDelivered,
    /// Left at a pickup point (and stays there).
    AvailableForPickup,
    /// Held by customs, released, delivered.
    CustomsHold,
    /// Damaged in transit: an exception that is never resolved.
    Exception,
    /// Undeliverable and returned to the sender.
    ReturnedToSender,
    /// Updates stop after the hub: no news for days.
    Stalled,
}

impl Scenario {
    /// Every scenario with its share of generated parcels (percent).
    pub const WEIGHTS: [(Scenario, u32); 7] = [
        (Scenario::Delivered, 55),
        (Scenario::FailedAttemptThenDelivered, 10),
        (Scenario::AvailableForPickup, 8),
        (Scenario::CustomsHold, 8),
        (Scenario::Exception, 6),
        (Scenario::ReturnedToSender, 7),
        (Scenario::Stalled, 6),
    ];

    /// The status a parcel of this scenario ends in.
    pub fn final_status(self) -> Status {
        match self {
            Scenario::Delivered | Scenario::FailedAttemptThenDelivered | Scenario::CustomsHold => {
                Status::Delivered
            }
            Scenario::AvailableForPickup => Status::AvailableForPickup,
            Scenario::Exception => Status::Exception,
            Scenario::ReturnedToSender => Status::Returned,
            Scenario::Stalled => Status::InTransit,
        }
    }
}

/// A city on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct City {
    /// Name.
    pub name: &'static str,
    /// ISO country code.
    pub country: &'static str,
    /// Postal code of the delivery area.
    pub postal: &'static str,
}

const fn city(name: &'static str, country: &'static str, postal: &'static str) -> City {
    City {
        name,
        country,
        postal,
    }
}

/// Origins and destinations.
pub const CITIES: [City; 12] = [
    city("Berlin", "DE", "10115"),
    city("Hamburg", "DE", "20095"),
    city("München", "DE", "80331"),
    city("Köln", "DE", "50667"),
    city("Frankfurt am Main", "DE", "60311"),
    city("Stuttgart", "DE", "70173"),
    city("Düsseldorf", "DE", "40213"),
    city("Dresden", "DE", "01067"),
    city("Wien", "AT", "1010"),
    city("Amsterdam", "NL", "1012"),
    city("Bruxelles", "BE", "1000"),
    city("Paris", "FR", "75001"),
];

/// DHL's real sorting hubs.
pub const HUBS: [City; 5] = [
    city("Leipzig", "DE", "04435"),
    city("Obertshausen", "DE", "63179"),
    city("Bochum", "DE", "44805"),
    city("Hannover", "DE", "30855"),
    city("Nürnberg", "DE", "90411"),
];

/// One scripted step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Hours after the label was created.
    pub hours: f64,
    /// DHL statusCode.
    pub code: &'static str,
    /// DHL status text.
    pub status: &'static str,
    /// Description.
    pub description: String,
    /// Where.
    pub city: City,
    /// The status Parceltrail should derive.
    pub expect: Status,
}

fn step(
    hours: f64,
    code: &'static str,
    status: &'static str,
    description: impl Into<String>,
    city: City,
    expect: Status,
) -> Step {
    Step {
        hours,
        code,
        status,
        description: description.into(),
        city,
        expect,
    }
}

/// The steps of a journey from `from` through `hubs` to `to`.
pub fn steps(s: Scenario, from: City, hubs: &[City], to: City) -> Vec<Step> {
    use Status::*;
    let mut v = vec![
        step(
            0.0,
            "pre-transit",
            "Label created",
            "The shipment has been prepared by the sender",
            from,
            InfoReceived,
        ),
        step(
            5.0,
            "transit",
            "Picked up",
            "The shipment has been picked up",
            from,
            InTransit,
        ),
    ];
    let mut t = 9.0;
    for h in hubs {
        v.push(step(
            t,
            "transit",
            "Processed",
            format!(
                "The shipment has been processed in the parcel center of {}",
                h.name
            ),
            *h,
            InTransit,
        ));
        t += 8.0;
    }
    if s == Scenario::Stalled {
        return v;
    }
    if s == Scenario::CustomsHold {
        v.push(step(
            t,
            "failure",
            "Customs",
            "Customs clearance: the shipment is on hold pending duties",
            hubs[hubs.len() - 1],
            Exception,
        ));
        t += 30.0;
        v.push(step(
            t,
            "transit",
            "Released",
            "Customs clearance completed, the shipment is on its way",
            hubs[hubs.len() - 1],
            InTransit,
        ));
        t += 8.0;
    }
    if s == Scenario::Exception {
        v.push(step(
            t,
            "failure",
            "Damaged",
            "The shipment was damaged in transit; the sender has been informed",
            hubs[hubs.len() - 1],
            Exception,
        ));
        return v;
    }
    v.push(step(
        t,
        "transit",
        "Arrived",
        format!(
            "The shipment has arrived at the delivery base in {}",
            to.name
        ),
        to,
        InTransit,
    ));
    t += 7.0;
    v.push(step(
        t,
        "transit",
        "Out for delivery",
        "The shipment has been loaded onto the delivery vehicle",
        to,
        OutForDelivery,
    ));
    t += 5.0;
    match s {
        Scenario::FailedAttemptThenDelivered => {
            v.push(step(t, "failure", "Delivery attempt", "Delivery attempt unsuccessful: recipient not available. A notification card was left.", to, FailedAttempt));
            t += 19.0;
            v.push(step(
                t,
                "transit",
                "Out for delivery",
                "The shipment has been loaded onto the delivery vehicle (2nd attempt)",
                to,
                OutForDelivery,
            ));
            t += 4.0;
            v.push(step(
                t,
                "delivered",
                "Delivered",
                "The shipment has been delivered to the recipient",
                to,
                Delivered,
            ));
        }
        Scenario::AvailableForPickup => {
            v.push(step(
                t,
                "transit",
                "Ready for pickup",
                format!(
                    "The shipment is ready for pick-up at the Packstation in {}",
                    to.name
                ),
                to,
                AvailableForPickup,
            ));
        }
        Scenario::ReturnedToSender => {
            v.push(step(
                t,
                "failure",
                "Delivery attempt",
                "Delivery attempt unsuccessful: address not found",
                to,
                FailedAttempt,
            ));
            t += 20.0;
            v.push(step(
                t,
                "failure",
                "Return",
                "The shipment could not be delivered and is being returned to the sender",
                to,
                Returned,
            ));
        }
        _ => v.push(step(
            t,
            "delivered",
            "Delivered",
            "The shipment has been delivered to the recipient",
            to,
            Delivered,
        )),
    }
    v
}
