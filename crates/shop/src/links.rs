//! Customers' tracking links (`/t/{token}`): a token names one order of one shop, says how
//! much it shows and until when, and is signed with the shop's link key (HMAC-SHA256, cut to
//! 128 bits). Nothing about a link is stored: it is valid while its key is the shop's
//! current one (rotating the key voids every link of the shop at once), its order's link
//! generation is the one it carries (bumping it voids that order's links), and neither its
//! own expiry nor the shop's days after delivery have passed.
//!
//! The token is 66 bytes in unpadded base64url (88 characters): version, scope, shop id,
//! order id, key generation, order link generation, expiry (Unix seconds), then the MAC over
//! all of these.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use parceltrail_core::domain::OrderId;
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::ShopId;

type HmacSha256 = hmac::Hmac<Sha256>;

const VERSION: u8 = 1;
const BODY: usize = 1 + 1 + 16 + 16 + 4 + 4 + 8;
const MAC: usize = 16;
/// A token's length in characters.
pub const TOKEN_LEN: usize = (BODY + MAC).div_ceil(3) * 4 - (3 - (BODY + MAC) % 3) % 3;
/// How long after its parcels are delivered a shop's links keep working, unless the shop
/// says otherwise.
pub const DEFAULT_DAYS_AFTER_DELIVERY: u32 = 90;
/// The most days after delivery a shop may choose.
pub const MAX_DAYS_AFTER_DELIVERY: u32 = 3650;
/// The longest a link may live from its making, whatever its order does.
pub const MAX_LIFETIME_DAYS: i64 = 400;

/// What a link shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkScope {
    /// A link the shop sent (notifications, copied by staff): the order as the shop allows
    /// (the delivery address when its settings say so).
    Link,
    /// Made for a visitor who typed the order number and the email or postcode: the
    /// parcels, never the address or phone.
    Lookup,
    /// The one-click unsubscribe address in an email about the order: it shows nothing and
    /// only stops the order's emails.
    Unsubscribe,
}

impl LinkScope {
    fn byte(self) -> u8 {
        match self {
            LinkScope::Link => 1,
            LinkScope::Lookup => 2,
            LinkScope::Unsubscribe => 3,
        }
    }

    fn of(b: u8) -> Option<Self> {
        match b {
            1 => Some(LinkScope::Link),
            2 => Some(LinkScope::Lookup),
            3 => Some(LinkScope::Unsubscribe),
            _ => None,
        }
    }
}

/// What a token says, once its signature is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkClaims {
    /// The shop.
    pub shop: ShopId,
    /// The order.
    pub order: OrderId,
    /// How much it shows.
    pub scope: LinkScope,
    /// The shop's key generation it was signed under.
    pub key_generation: u32,
    /// The order's link generation when it was made.
    pub link_generation: u32,
    /// When it stops working in any case.
    pub expires_at: DateTime<Utc>,
}

/// A shop's link key and settings.
#[derive(Clone)]
pub struct LinkPolicy {
    /// The signing key.
    pub key: Zeroizing<[u8; 32]>,
    /// Bumped by each rotation.
    pub generation: u32,
    /// Links work this many days after the order's last parcel is delivered.
    pub days_after_delivery: u32,
    /// Whether a link the shop sent shows the customer's delivery address.
    pub show_address: bool,
}

impl std::fmt::Debug for LinkPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkPolicy")
            .field("generation", &self.generation)
            .field("days_after_delivery", &self.days_after_delivery)
            .field("show_address", &self.show_address)
            .finish_non_exhaustive()
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token, or not signed by the shop's key (forged, mistyped, cut short), or signed
    /// by a key the shop has since replaced.
    #[error("this tracking link is not valid")]
    Invalid,
    /// Past its expiry, or past the shop's days after delivery.
    #[error("this tracking link has expired")]
    Expired,
    /// The shop withdrew the order's links.
    #[error("this tracking link was withdrawn by the shop")]
    Revoked,
}

fn mac(key: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// The token for `claims`, signed with `key`.
pub fn sign(key: &[u8; 32], claims: &LinkClaims) -> String {
    let mut out = Vec::with_capacity(BODY + MAC);
    out.push(VERSION);
    out.push(claims.scope.byte());
    out.extend_from_slice(claims.shop.0.as_bytes());
    out.extend_from_slice(claims.order.0.as_bytes());
    out.extend_from_slice(&claims.key_generation.to_be_bytes());
    out.extend_from_slice(&claims.link_generation.to_be_bytes());
    out.extend_from_slice(&claims.expires_at.timestamp().to_be_bytes());
    let m = mac(key, &out);
    out.extend_from_slice(&m[..MAC]);
    URL_SAFE_NO_PAD.encode(out)
}

/// A token read but not yet checked: which shop's key checks it.
#[derive(Debug, Clone)]
pub struct Unverified {
    bytes: Vec<u8>,
    /// The shop it claims to be of.
    pub shop: ShopId,
    /// The key generation it claims.
    pub key_generation: u32,
}

/// Reads a token's shape; the signature is checked by [`Unverified::verify`].
pub fn read(token: &str) -> Result<Unverified, LinkError> {
    if token.len() != TOKEN_LEN {
        return Err(LinkError::Invalid);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| LinkError::Invalid)?;
    if bytes.len() != BODY + MAC || bytes[0] != VERSION || LinkScope::of(bytes[1]).is_none() {
        return Err(LinkError::Invalid);
    }
    let shop = ShopId(Uuid::from_slice(&bytes[2..18]).map_err(|_| LinkError::Invalid)?);
    let key_generation = u32::from_be_bytes(bytes[34..38].try_into().expect("4 bytes"));
    Ok(Unverified {
        bytes,
        shop,
        key_generation,
    })
}

impl Unverified {
    /// The claims, if the token was signed with the shop's current key (`policy`) and has
    /// not expired by `now`. Whether the order's link generation still matches, and the
    /// days after delivery, are for the caller, who reads the order.
    pub fn verify(&self, policy: &LinkPolicy, now: DateTime<Utc>) -> Result<LinkClaims, LinkError> {
        if self.key_generation != policy.generation {
            return Err(LinkError::Invalid);
        }
        let (body, tag) = self.bytes.split_at(BODY);
        let want = mac(&policy.key, body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&want[..MAC], tag)) {
            return Err(LinkError::Invalid);
        }
        let b = body;
        let claims = LinkClaims {
            scope: LinkScope::of(b[1]).ok_or(LinkError::Invalid)?,
            shop: self.shop,
            order: OrderId(Uuid::from_slice(&b[18..34]).map_err(|_| LinkError::Invalid)?),
            key_generation: self.key_generation,
            link_generation: u32::from_be_bytes(b[38..42].try_into().expect("4 bytes")),
            expires_at: DateTime::from_timestamp(
                i64::from_be_bytes(b[42..50].try_into().expect("8 bytes")),
                0,
            )
            .ok_or(LinkError::Invalid)?,
        };
        if now >= claims.expires_at {
            return Err(LinkError::Expired);
        }
        Ok(claims)
    }
}

/// Checks what only the order can tell: its link generation (`current`) and, when all its
/// parcels are delivered (`delivered_at`), the shop's days after delivery.
pub fn check_order(
    claims: &LinkClaims,
    policy: &LinkPolicy,
    current: u32,
    delivered_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), LinkError> {
    if claims.link_generation != current {
        return Err(LinkError::Revoked);
    }
    if let Some(at) = delivered_at
        && now >= at + chrono::Duration::days(policy.days_after_delivery.into())
    {
        return Err(LinkError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(generation: u32) -> LinkPolicy {
        LinkPolicy {
            key: Zeroizing::new([7; 32]),
            generation,
            days_after_delivery: 90,
            show_address: true,
        }
    }

    fn claims(now: DateTime<Utc>) -> LinkClaims {
        LinkClaims {
            shop: ShopId::new(),
            order: OrderId::new(),
            scope: LinkScope::Link,
            key_generation: 3,
            link_generation: 1,
            expires_at: now + chrono::Duration::days(30),
        }
    }

    #[test]
    fn a_token_says_what_it_was_made_with() {
        let now = Utc::now();
        let c = claims(DateTime::from_timestamp(now.timestamp(), 0).unwrap());
        let t = sign(&policy(3).key, &c);
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let u = read(&t).unwrap();
        assert_eq!(u.shop, c.shop);
        assert_eq!(u.verify(&policy(3), now).unwrap(), c);
    }

    #[test]
    fn every_changed_character_voids_a_token() {
        let now = Utc::now();
        let p = policy(3);
        let t = sign(&p.key, &claims(now));
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(b).unwrap();
            let r = read(&changed).and_then(|u| u.verify(&p, now));
            assert_eq!(
                r,
                Err(LinkError::Invalid),
                "character {i} changed: {changed}"
            );
        }
        assert_eq!(read(&t[..t.len() - 1]).err(), Some(LinkError::Invalid));
        assert_eq!(read("").err(), Some(LinkError::Invalid));
    }

    #[test]
    fn another_key_or_generation_is_refused_and_time_ends_a_link() {
        let now = Utc::now();
        let p = policy(3);
        let c = claims(now);
        let t = sign(&p.key, &c);
        let mut other = policy(3);
        other.key = Zeroizing::new([8; 32]);
        assert_eq!(
            read(&t).unwrap().verify(&other, now),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            read(&t).unwrap().verify(&policy(4), now),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            read(&t).unwrap().verify(&p, c.expires_at),
            Err(LinkError::Expired)
        );
        let ok = read(&t).unwrap().verify(&p, now).unwrap();
        assert_eq!(check_order(&ok, &p, 2, None, now), Err(LinkError::Revoked));
        let delivered = now - chrono::Duration::days(90);
        assert_eq!(
            check_order(&ok, &p, 1, Some(delivered), now),
            Err(LinkError::Expired)
        );
        let delivered = now - chrono::Duration::days(89);
        assert_eq!(check_order(&ok, &p, 1, Some(delivered), now), Ok(()));
    }
}
