//! The shop side's records.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new id, born here (UUIDv7: time-ordered).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A shop.
    ShopId
);
id_type!(
    /// A staff account.
    StaffId
);
id_type!(
    /// An API key (not the key itself, which is never stored).
    KeyId
);

/// What a staff account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including staff, keys and settings.
    Owner,
    /// The shop's orders and customers.
    Staff,
}

impl Role {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Staff => "staff",
        }
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "owner" => Ok(Role::Owner),
            "staff" => Ok(Role::Staff),
            _ => Err(Error::invalid(
                "role",
                format!("{s:?} is not a role: owner or staff"),
            )),
        }
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Scopes {
    /// Read orders, shipments and events.
    pub read: bool,
    /// Create, change and delete orders; shop settings.
    pub write: bool,
    /// Push carrier events (the shop's own systems).
    pub ingest: bool,
}

impl Scopes {
    /// Every scope.
    pub const ALL: Scopes = Scopes {
        read: true,
        write: true,
        ingest: true,
    };
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.read, "read"),
            (self.write, "write"),
            (self.ingest, "ingest"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Scopes {
    type Err = Error;
    /// `read,write,ingest` (any order, any subset but none).
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut scopes = Scopes::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "read" => scopes.read = true,
                "write" => scopes.write = true,
                "ingest" => scopes.ingest = true,
                other => {
                    return Err(Error::invalid(
                        "scopes",
                        format!("{other:?} is not a scope: read, write or ingest"),
                    ));
                }
            }
        }
        if scopes == Scopes::default() {
            return Err(Error::invalid(
                "scopes",
                "name at least one of read, write, ingest",
            ));
        }
        Ok(scopes)
    }
}

/// A shop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shop {
    /// Its id.
    pub id: ShopId,
    /// Its name, as customers see it.
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A staff account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaffMember {
    /// Its id.
    pub id: StaffId,
    /// The shop.
    pub shop_id: ShopId,
    /// The login address (lower case).
    pub email: String,
    /// What it may do.
    pub role: Role,
    /// A password has been set (through the one-time link).
    pub password_set: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// An API key's record (the key itself is shown once, when made, and never stored).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    /// Its id.
    pub id: KeyId,
    /// The shop.
    pub shop_id: ShopId,
    /// A name to tell keys apart ("warehouse", "shopify").
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// What it may do.
    pub scopes: Scopes,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new shop, with what is shown once.
#[derive(Debug, Clone)]
pub struct NewShop {
    /// The shop.
    pub shop: Shop,
    /// Its owner.
    pub owner: StaffMember,
    /// The first API key's record.
    pub key: ApiKey,
    /// The first API key (scopes read, write, ingest).
    pub api_key: String,
    /// The owner's one-time token to set a password.
    pub setup_token: String,
}

/// A signed-in staff member.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The shop.
    pub shop_id: ShopId,
    /// Who.
    pub staff_id: StaffId,
    /// Their role.
    pub role: Role,
    /// The token every state-changing request of this session must carry.
    pub csrf: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}
