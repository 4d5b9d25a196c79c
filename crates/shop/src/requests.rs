//! What a shop's customers ask and say about an order: requests to change it (a new
//! delivery address, delivery instructions, a cancellation), each with a state and a history,
//! and a rating of each delivered parcel. The rules of when a request may be made live here;
//! the storage is in [`crate::db`], the routes in the server.
//!
//! A request is made open by the customer; staff approve or reject it; the customer may
//! withdraw it while it is open. A decided request stays as it was decided: a new request is
//! a new record. At most one request of each kind is open per order.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use parceltrail_core::domain::{OrderId, ShipmentId, Status};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// Feedback can be changed for this many days after it is first given.
pub const FEEDBACK_EDIT_DAYS: i64 = 7;
/// The longest instructions, reason, comment or note.
pub const MAX_TEXT: usize = 1000;
/// The longest address.
pub const MAX_ADDRESS: usize = 500;
/// The longest postcode.
pub const MAX_POSTCODE: usize = 20;

/// What a customer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Deliver to another address.
    Address,
    /// Instructions for the courier (leave with a neighbour, the side door).
    Instructions,
    /// Cancel the order.
    Cancel,
}

impl RequestKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Address => "address",
            RequestKind::Instructions => "instructions",
            RequestKind::Cancel => "cancel",
        }
    }

    /// Whether the order's parcels still allow this request, and if not, why.
    pub fn allowed(self, statuses: &[Status]) -> std::result::Result<(), &'static str> {
        match self {
            // Until a parcel is out for delivery (or further).
            RequestKind::Address | RequestKind::Instructions => {
                if statuses.iter().any(|s| past_the_van(*s)) {
                    Err("a parcel of this order is already out for delivery or delivered")
                } else {
                    Ok(())
                }
            }
            // Until it ships: no parcel has reached the carrier.
            RequestKind::Cancel => {
                if statuses.iter().any(|s| shipped(*s)) {
                    Err("the order has already shipped")
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Out for delivery or anything after it.
fn past_the_van(s: Status) -> bool {
    matches!(
        s,
        Status::OutForDelivery
            | Status::FailedAttempt
            | Status::AvailableForPickup
            | Status::Delivered
            | Status::Returned
    )
}

/// The carrier has the parcel.
fn shipped(s: Status) -> bool {
    !matches!(s, Status::Pending | Status::Unknown | Status::InfoReceived)
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestKind {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        match s {
            "address" => Ok(RequestKind::Address),
            "instructions" => Ok(RequestKind::Instructions),
            "cancel" => Ok(RequestKind::Cancel),
            _ => Err(()),
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for the shop.
    Open,
    /// The shop agreed (an address change is applied to the order).
    Approved,
    /// The shop said no.
    Rejected,
    /// The customer took it back.
    Withdrawn,
}

impl RequestState {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Open => "open",
            RequestState::Approved => "approved",
            RequestState::Rejected => "rejected",
            RequestState::Withdrawn => "withdrawn",
        }
    }
}

impl FromStr for RequestState {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        match s {
            "open" => Ok(RequestState::Open),
            "approved" => Ok(RequestState::Approved),
            "rejected" => Ok(RequestState::Rejected),
            "withdrawn" => Ok(RequestState::Withdrawn),
            _ => Err(()),
        }
    }
}

/// A request as a customer makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    /// What is asked.
    pub kind: RequestKind,
    /// Kind address: the new address.
    pub address: Option<String>,
    /// Kind address: its postcode.
    pub postcode: Option<String>,
    /// The instructions (kind instructions), or the customer's reason (optional otherwise).
    pub text: Option<String>,
}

/// Text from outside: trimmed, bounded, no control characters but line breaks; blank is none.
pub fn clean_text(field: &'static str, v: Option<&str>, max: usize) -> Result<Option<String>> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("use at most {max} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(Error::invalid(field, "must not hold control characters"));
    }
    Ok(Some(v.replace("\r\n", "\n")))
}

impl NewRequest {
    /// The request with its text cleaned, or what is wrong with it.
    pub fn checked(self) -> Result<NewRequest> {
        let address = clean_text("address", self.address.as_deref(), MAX_ADDRESS)?;
        let postcode = clean_text("postcode", self.postcode.as_deref(), MAX_POSTCODE)?;
        let text = clean_text("text", self.text.as_deref(), MAX_TEXT)?;
        match self.kind {
            RequestKind::Address if address.is_none() => {
                return Err(Error::invalid("address", "give the new delivery address"));
            }
            RequestKind::Instructions if text.is_none() => {
                return Err(Error::invalid("text", "give the delivery instructions"));
            }
            RequestKind::Instructions | RequestKind::Cancel
                if address.is_some() || postcode.is_some() =>
            {
                return Err(Error::invalid(
                    "address",
                    "only a request to change the address carries one",
                ));
            }
            _ => {}
        }
        Ok(NewRequest {
            kind: self.kind,
            address,
            postcode,
            text,
        })
    }
}

/// One step of a request's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct History {
    /// The state it moved to.
    pub state: RequestState,
    /// `customer`, or the staff member or API key that decided.
    pub by: String,
    /// Why, when said.
    pub note: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A customer's request about an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Born with the request (UUIDv7).
    pub id: Uuid,
    /// The order.
    pub order_id: OrderId,
    /// What is asked.
    pub kind: RequestKind,
    /// The new address (kind address).
    pub address: Option<String>,
    /// Its postcode.
    pub postcode: Option<String>,
    /// Instructions, or the customer's reason.
    pub text: Option<String>,
    /// Where it stands.
    pub state: RequestState,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last moved.
    pub updated_at: DateTime<Utc>,
    /// Every step, oldest first (the first is its making).
    pub history: Vec<History>,
}

/// A customer's rating of a delivered parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackInput {
    /// The parcel.
    pub shipment_id: ShipmentId,
    /// Its order.
    pub order_id: OrderId,
    /// Its carrier (kept for the analytics).
    pub carrier: String,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// 1 to 5.
    pub rating: u8,
    /// Optional words.
    pub comment: Option<String>,
}

impl FeedbackInput {
    /// The feedback with its comment cleaned, or what is wrong with it.
    pub fn checked(self) -> Result<FeedbackInput> {
        if !(1..=5).contains(&self.rating) {
            return Err(Error::invalid("rating", "rate from 1 to 5"));
        }
        let comment = clean_text("comment", self.comment.as_deref(), MAX_TEXT)?;
        Ok(FeedbackInput { comment, ..self })
    }
}

/// What a customer said of a delivered parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    /// The parcel.
    pub shipment_id: ShipmentId,
    /// Its order.
    pub order_id: OrderId,
    /// Its carrier.
    pub carrier: String,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// 1 to 5.
    pub rating: u8,
    /// The customer's words.
    pub comment: Option<String>,
    /// When first given (it can be changed for [`FEEDBACK_EDIT_DAYS`] from then).
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

impl Feedback {
    /// Until when it can be changed.
    pub fn editable_until(&self) -> DateTime<Utc> {
        self.created_at + chrono::Duration::days(FEEDBACK_EDIT_DAYS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_change_is_possible_until_the_van_and_a_cancellation_until_the_carrier() {
        use Status::*;
        assert!(
            RequestKind::Address
                .allowed(&[InTransit, InfoReceived])
                .is_ok()
        );
        assert!(
            RequestKind::Address
                .allowed(&[InTransit, OutForDelivery])
                .is_err()
        );
        assert!(RequestKind::Instructions.allowed(&[Delivered]).is_err());
        assert!(RequestKind::Cancel.allowed(&[]).is_ok());
        assert!(RequestKind::Cancel.allowed(&[InfoReceived]).is_ok());
        assert_eq!(
            RequestKind::Cancel.allowed(&[InfoReceived, InTransit]),
            Err("the order has already shipped")
        );
    }

    #[test]
    fn a_request_says_what_it_lacks() {
        let r = NewRequest {
            kind: RequestKind::Address,
            address: Some("  ".into()),
            postcode: None,
            text: None,
        };
        assert!(matches!(
            r.checked(),
            Err(Error::Invalid {
                field: "address",
                ..
            })
        ));
        let r = NewRequest {
            kind: RequestKind::Instructions,
            address: None,
            postcode: None,
            text: Some("Side door\u{7}".into()),
        };
        assert!(matches!(
            r.checked(),
            Err(Error::Invalid { field: "text", .. })
        ));
        let r = NewRequest {
            kind: RequestKind::Cancel,
            address: None,
            postcode: None,
            text: Some(" Ordered twice \r\n by mistake ".into()),
        };
        assert_eq!(
            r.checked().unwrap().text.as_deref(),
            Some("Ordered twice \n by mistake")
        );
    }
}
