//! A shop's own carrier accounts: the credentials its parcels are asked about with, before
//! the operator's. They must be read back to call the carrier, so they are sealed with the
//! server key ([`crate::secrets`]) as webhook secrets are, bound to the shop and the carrier:
//! a row copied to another shop, or to another carrier, does not open.

use std::collections::BTreeMap;

use parceltrail_carriers::Secret;
use parceltrail_carriers::credentials::{CarrierKind, Credentials};
use zeroize::Zeroizing;

use crate::Error;
use crate::secrets::SecretKey;

/// The longest value of one credential field.
pub const MAX_FIELD: usize = 1_024;
/// The longest sealed credentials stored (every field at its longest, as JSON, and the seal).
pub const MAX_SEALED: usize = 8_192;

fn aad(shop: crate::ShopId, carrier: CarrierKind) -> Vec<u8> {
    let mut aad = b"parceltrail carrier account\0".to_vec();
    aad.extend_from_slice(shop.0.as_bytes());
    aad.push(0);
    aad.extend_from_slice(carrier.id().as_bytes());
    aad
}

/// The carrier an id names, or a refusal that lists the carriers.
pub fn carrier(id: &str) -> Result<CarrierKind, Error> {
    CarrierKind::from_id(id).ok_or(Error::NotFound)
}

/// Credentials for `carrier` from the fields a person entered: every field the carrier
/// needs, none it does not, each 1 to [`MAX_FIELD`] characters without control characters.
pub fn credentials(
    carrier: CarrierKind,
    fields: &BTreeMap<String, String>,
) -> Result<Credentials, Error> {
    let mut creds = Credentials::new(carrier);
    for (name, value) in fields {
        if value.chars().count() > MAX_FIELD {
            return Err(Error::invalid(
                "fields",
                format!("{name}: use at most {MAX_FIELD} characters"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(Error::invalid(
                "fields",
                format!("{name}: a control character has no place in a credential"),
            ));
        }
        creds
            .set(name, Secret::new(value.clone()))
            .map_err(|e| Error::invalid("fields", e.to_string()))?;
    }
    let missing: Vec<_> = creds
        .missing()
        .iter()
        .map(|f| format!("{} ({})", f.label, f.name))
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            "fields",
            format!("{} needs its {}", carrier.name(), missing.join(" and ")),
        ));
    }
    Ok(creds)
}

/// `creds` sealed for the shop.
pub fn seal(key: &SecretKey, shop: crate::ShopId, creds: &Credentials) -> Vec<u8> {
    let map: BTreeMap<&str, &str> = creds
        .carrier
        .fields()
        .iter()
        .filter_map(|f| creds.get(f.name).map(|v| (f.name, v.expose())))
        .collect();
    let plain = Zeroizing::new(serde_json::to_vec(&map).unwrap_or_default());
    key.seal(&plain, &aad(shop, creds.carrier))
}

/// Sealed credentials opened, or why not (another key, another shop's row, damage).
pub fn open(
    key: &SecretKey,
    shop: crate::ShopId,
    carrier: CarrierKind,
    sealed: &[u8],
) -> Result<Credentials, Error> {
    let unreadable = || {
        Error::invalid(
            "credentials",
            format!(
                "the stored {} account does not open with this server's key: enter it again",
                carrier.name()
            ),
        )
    };
    let plain = key
        .open(sealed, &aad(shop, carrier))
        .map_err(|_| unreadable())?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&plain).map_err(|_| unreadable())?;
    credentials(carrier, &map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::parse(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn credentials_open_for_their_shop_and_carrier_only() {
        let shop = crate::ShopId::new();
        let fields = BTreeMap::from([
            ("client_id".to_owned(), "id-1".to_owned()),
            ("client_secret".to_owned(), "s3cret".to_owned()),
        ]);
        let creds = credentials(CarrierKind::Ups, &fields).unwrap();
        let sealed = seal(&key(), shop, &creds);
        assert!(
            !sealed.windows(6).any(|w| w == b"s3cret"),
            "sealed, not stored plain"
        );
        let back = open(&key(), shop, CarrierKind::Ups, &sealed).unwrap();
        assert_eq!(back.get("client_secret").unwrap().expose(), "s3cret");
        assert!(open(&key(), crate::ShopId::new(), CarrierKind::Ups, &sealed).is_err());
        assert!(open(&key(), shop, CarrierKind::Fedex, &sealed).is_err());
    }

    #[test]
    fn what_is_missing_or_unknown_is_named() {
        let only_id = BTreeMap::from([("client_id".to_owned(), "id".to_owned())]);
        let e = credentials(CarrierKind::Fedex, &only_id)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "fields: FedEx needs its Client secret (client_secret)");
        let wrong = BTreeMap::from([("password".to_owned(), "x".to_owned())]);
        let e = credentials(CarrierKind::Dhl, &wrong)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no credential field \"password\""), "{e}");
        let bad = BTreeMap::from([("api_key".to_owned(), "a\nb".to_owned())]);
        assert!(credentials(CarrierKind::Dhl, &bad).is_err());
    }
}
