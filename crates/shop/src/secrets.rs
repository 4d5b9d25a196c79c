//! Secrets the shop server must be able to read back (webhook signing secrets), sealed at
//! rest with one server key.
//!
//! Unlike API keys and passwords, which are only ever compared and so are stored as hashes,
//! a webhook secret is needed in the clear to check each delivery's signature. It is stored
//! sealed with XChaCha20-Poly1305 under a [`SecretKey`] the database never sees: a leaked
//! database (or backup) yields no secret without the key as well.
//!
//! **Where the key comes from.** Either a file ([`SecretKey::load_or_create`]: 64 hex
//! characters and a newline, mode 0600, made with fresh random bytes on first start) or a
//! value given to the server ([`SecretKey::parse`], e.g. from `PARCELTRAIL_SERVER_SECRET_KEY`:
//! 64 hex characters or base64 of 32 bytes). Replicas sharing one PostgreSQL must share one
//! key, so they are given it rather than each making its own file. Losing the key loses the
//! sealed secrets (they are set again from the aggregators' dashboards), nothing else.
//!
//! **Format of a sealed value**: one version byte (`1`), a random 24-byte nonce, then the
//! ciphertext with its 16-byte tag. The associated data binds the value to where it belongs
//! (for webhook secrets: the shop and the source, see `hooks::secret_aad`), so a row copied
//! to another shop, or to another source, does not open.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngExt;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The version byte that starts every sealed value.
const VERSION: u8 = 1;
/// XChaCha20's nonce: long enough to be drawn at random for every seal.
const NONCE_LEN: usize = 24;
/// Poly1305's tag.
const TAG_LEN: usize = 16;

/// What went wrong with the server key or a sealed value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A key given as text is not 32 bytes in hex or base64.
    #[error("the server secret key {0}: give 64 hex characters or the base64 of 32 bytes")]
    BadKey(&'static str),
    /// The key file could not be read or written.
    #[error("the server secret key file {}: {error}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// The key file exists but does not hold a key.
    #[error("the server secret key file {} {what}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: &'static str,
    },
    /// A sealed value did not open: another key, another owner (associated data), or damage.
    #[error(
        "a sealed secret does not open with this server key (another key, another shop's row, or damaged)"
    )]
    Unsealable,
}

/// The server's 32-byte key for sealing secrets at rest. Its `Debug` shows a fingerprint,
/// never the key; the bytes are wiped when it is dropped.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(fingerprint {})", self.fingerprint())
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rng().fill(&mut k[..]);
        SecretKey(k)
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(Zeroizing::new(bytes))
    }

    /// A key from 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(s: &str) -> Result<Self, SecretError> {
        let mut k = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(s.trim(), &mut k[..])
            .map_err(|_| SecretError::BadKey("is not 64 hex characters"))?;
        Ok(SecretKey(k))
    }

    /// A key from the base64 (standard alphabet, padded or not) of 32 bytes.
    pub fn from_base64(s: &str) -> Result<Self, SecretError> {
        let s = s.trim().trim_end_matches('=');
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(s)
                .map_err(|_| SecretError::BadKey("is not base64"))?,
        );
        let k: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SecretError::BadKey("is not 32 bytes long"))?;
        Ok(SecretKey(Zeroizing::new(k)))
    }

    /// 32 bytes for one purpose, derived from this key (HMAC-SHA256 of the purpose's label):
    /// a key of its own for each use, the same on every replica sharing this key, and
    /// telling nothing of this key or of another purpose's.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        use hmac::{KeyInit, Mac};
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0[..])
            .expect("HMAC takes a key of any length");
        mac.update(b"parceltrail derived key\0");
        mac.update(label.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// A key as configuration gives it: 64 hex characters, else base64 of 32 bytes.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let t = s.trim();
        if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            Self::from_hex(t)
        } else {
            Self::from_base64(t)
        }
    }

    /// The key as 64 hex characters: what [`load_or_create`](Self::load_or_create) writes
    /// and [`parse`](Self::parse) reads. It is the key itself: show it only to the operator
    /// who asked for it.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(&self.0[..]))
    }

    /// Eight hex characters of the key's SHA-256, to check that replicas share one key
    /// without showing it.
    pub fn fingerprint(&self) -> String {
        hex::encode(&Sha256::digest(&self.0[..])[..4])
    }

    /// The key in `path`; if there is no such file, a new random key written there first
    /// (64 hex characters and a newline, mode 0600 on Unix; its folder made 0700 if missing).
    /// Servers starting at once on the same file end with the same key: the file appears
    /// whole (written aside, then linked into place) and only the first one wins.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let file_err = |error| SecretError::File {
            path: path.to_owned(),
            error,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => return Self::from_file_text(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_err(e)),
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(file_err)?;
        let key = Self::generate();
        let aside = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            hex::encode(rand::rng().random::<[u8; 8]>())
        ));
        let written = (|| {
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let mut f = o.open(&aside)?;
            f.write_all(format!("{}\n", key.to_hex().as_str()).as_bytes())?;
            f.sync_all()?;
            // A hard link never replaces an existing file: of two servers racing, the
            // second finds the first one's key.
            std::fs::hard_link(&aside, path)
        })();
        let _ = std::fs::remove_file(&aside);
        match written {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(file_err)?;
                Self::from_file_text(path, &text)
            }
            Err(e) => Err(file_err(e)),
        }
    }

    fn from_file_text(path: &Path, text: &str) -> Result<Self, SecretError> {
        narrow_mode(path);
        Self::from_hex(text).map_err(|_| SecretError::BadFile {
            path: path.to_owned(),
            what: "does not hold a key (64 hex characters)",
        })
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.0).into())
    }

    /// `plaintext` sealed: authenticated, encrypted, bound to `aad` (which is not stored:
    /// [`open`](Self::open) must be given the same).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::rng().random();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // Only a message longer than 256 GiB fails to encrypt.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of a value [`seal`](Self::seal)ed with this key and the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != VERSION {
            return Err(SecretError::Unsealable);
        }
        let (nonce, msg) = sealed[1..].split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Unsealable)?;
        self.cipher()
            .decrypt(&XNonce::from(nonce), Payload { msg, aad })
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Unsealable)
    }
}

/// A key file readable by others is narrowed to its owner, with a warning.
fn narrow_mode(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the server secret key file was readable by others; narrowed to 0600");
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_aad() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"whsec_abc", b"shop a|standard");
        assert_eq!(sealed.len(), 1 + NONCE_LEN + 9 + TAG_LEN);
        assert_eq!(
            key.open(&sealed, b"shop a|standard").unwrap().as_slice(),
            b"whsec_abc"
        );
        // Another owner, another key, a flipped bit, a cut value: none open.
        assert!(key.open(&sealed, b"shop b|standard").is_err());
        assert!(
            SecretKey::generate()
                .open(&sealed, b"shop a|standard")
                .is_err()
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(key.open(&bad, b"shop a|standard").is_err(), "byte {i}");
        }
        assert!(
            key.open(&sealed[..sealed.len() - 1], b"shop a|standard")
                .is_err()
        );
        assert!(key.open(&[], b"").is_err());
        // Each seal draws its own nonce.
        assert_ne!(key.seal(b"x", b""), key.seal(b"x", b""));
    }

    #[test]
    fn keys_parse_from_hex_and_base64_and_never_print() {
        let key = SecretKey::generate();
        let hex = key.to_hex();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&key.0[..]);
        for text in [
            hex.as_str(),
            &b64,
            b64.trim_end_matches('='),
            &format!(" {}\n", hex.as_str()),
        ] {
            let k = SecretKey::parse(text).unwrap();
            assert_eq!(k.0[..], key.0[..], "{text}");
        }
        assert!(SecretKey::from_hex(&hex[..62]).is_err());
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
        assert!(SecretKey::parse("").is_err());
        let shown = format!("{key:?}");
        assert!(!shown.contains(hex.as_str()), "{shown}");
        assert!(!shown.contains(&b64[..20]), "{shown}");
        assert!(shown.contains(&key.fingerprint()));
    }

    #[test]
    fn the_key_file_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("server.key");
        let a = SecretKey::load_or_create(&path).unwrap();
        let b = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(a.0[..], b.0[..]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", a.to_hex().as_str()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            // Widened by someone: narrowed again on load.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            SecretKey::load_or_create(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Nothing was left beside it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("server.key")]);
        // A damaged file is refused, not replaced.
        std::fs::write(&path, "not a key\n").unwrap();
        assert!(matches!(
            SecretKey::load_or_create(&path),
            Err(SecretError::BadFile { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key\n");
    }

    #[test]
    fn servers_starting_together_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.key");
        let keys: Vec<SecretKey> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| SecretKey::load_or_create(&path).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for k in &keys {
            assert_eq!(k.0[..], keys[0].0[..]);
        }
    }
}
