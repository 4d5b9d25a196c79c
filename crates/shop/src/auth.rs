//! Secrets: API keys, one-time links, session tokens and passwords. Keys and tokens are 256
//! random bits, so they are stored as their SHA-256 (fast to check, useless if the database
//! leaks); passwords are chosen by people, so they get Argon2id, which is slow on purpose.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::RngExt;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// What every API key starts with, so a leaked one is recognisable (secret scanners key on it).
pub const KEY_PREFIX: &str = "ptk_";

/// How many characters of a key identify it in lists (`ptk_` and eight more).
const SHOWN_PREFIX: usize = KEY_PREFIX.len() + 8;

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD: usize = 10;
/// Passwords longer than this are refused (hashing is the cost an attacker could make us pay).
pub const MAX_PASSWORD: usize = 1024;

/// 32 random bytes as 64 hex characters.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// A new API key: the key (shown once) and its shown prefix.
pub fn new_key() -> (String, String) {
    let key = format!("{KEY_PREFIX}{}", random_token());
    let prefix = key[..SHOWN_PREFIX].to_owned();
    (key, prefix)
}

/// What is stored for a key or token.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
pub fn hash_password(password: &str) -> Result<String> {
    check_password(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

/// Whether `password` matches the stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    password.len() <= MAX_PASSWORD
        && Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok()
}

/// A hash to verify against when there is no account, so a wrong address takes as long as a
/// wrong password (no telling which addresses have accounts by timing).
pub fn verify_nothing(password: &str) {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash_password("not a password of anyone's").unwrap_or_default());
    let _ = verify_password(password, &DUMMY);
}

/// A password a person may choose.
pub fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(Error::invalid(
            "password",
            format!("use at least {MIN_PASSWORD} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD {
        return Err(Error::invalid(
            "password",
            format!("use at most {MAX_PASSWORD} bytes"),
        ));
    }
    Ok(())
}

/// A login address, lower-cased; refused when it cannot be one.
pub fn normalise_email(field: &'static str, email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
                && !domain.ends_with('.') && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(Error::invalid(
            field,
            format!("{:?} is not an email address", crate::db::clip(&email, 80)),
        ))
    }
}

/// A name for people (a shop, a key): trimmed, 1 to `max` characters, no control characters.
pub fn normalise_name(field: &'static str, name: &str, max: usize) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if name.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("use at most {max} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not hold control characters"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_recognisable_and_its_digest_is_not_the_key() {
        let (key, prefix) = new_key();
        assert!(key.starts_with("ptk_") && key.len() == 4 + 64);
        assert!(key.starts_with(&prefix) && prefix.len() == 12);
        assert_ne!(digest(&key), key.as_bytes());
        assert_ne!(new_key().0, key);
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn emails_and_names() {
        assert_eq!(
            normalise_email("email", " Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in ["", "ada", "ada@", "@x.com", "a b@x.com", "a@x", "a@@x.com"] {
            assert!(normalise_email("email", bad).is_err(), "{bad}");
        }
        assert!(normalise_name("name", "  ", 10).is_err());
        assert!(normalise_name("name", "a\u{1b}b", 10).is_err());
        assert_eq!(normalise_name("name", " Shop ", 10).unwrap(), "Shop");
    }
}
