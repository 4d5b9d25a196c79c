//! Carrier credentials: what each carrier needs, and where it is kept.
//!
//! Credentials live in the OS keyring ([`KeyringStore`]: the Secret Service on Linux and the
//! BSDs, the Keychain on macOS and iOS, the Credential Manager on Windows), never in the
//! database and never in a log line. A machine with no keyring (a bare server) gets
//! [`CredentialError::NoKeyring`], whose message says how to opt in to the file store
//! ([`FileStore`]): one JSON file that only its owner can read (mode 0600).
//!
//! No secret value ever appears in an error, a log line or a `Debug` output.
//!
//! The keyring is reached through blocking calls (D-Bus round trips on Linux): from async code,
//! call a store inside `tokio::task::spawn_blocking`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::http::Secret;

/// The keyring service name Parceltrail's entries are kept under (one entry per carrier, the
/// user being the carrier's [`CarrierKind::id`]).
pub const KEYRING_SERVICE: &str = "parceltrail";

/// The name of the file store inside Parceltrail's data directory.
pub const FILE_NAME: &str = "credentials.json";

/// The command-line flag that opts in to the file store (named in error messages).
pub const FILE_STORE_FLAG: &str = "--credentials-file";

/// A carrier that needs credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CarrierKind {
    /// UPS (OAuth 2 client credentials).
    Ups,
    /// FedEx (OAuth 2 client credentials).
    Fedex,
    /// USPS (OAuth 2 client credentials).
    Usps,
    /// DHL (API key).
    Dhl,
    /// 17TRACK (API key).
    Track17,
}

/// One value a carrier needs, as the CLI prompts for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field's name: the key it is stored under and what the CLI prompts for.
    pub name: &'static str,
    /// A human label for the prompt.
    pub label: &'static str,
    /// Whether the value is secret (prompt without echo).
    pub secret: bool,
}

const OAUTH_FIELDS: &[Field] = &[
    Field {
        name: "client_id",
        label: "Client ID",
        secret: false,
    },
    Field {
        name: "client_secret",
        label: "Client secret",
        secret: true,
    },
];

const API_KEY_FIELDS: &[Field] = &[Field {
    name: "api_key",
    label: "API key",
    secret: true,
}];

impl CarrierKind {
    /// Every carrier, in display order.
    pub const ALL: [CarrierKind; 5] = [
        CarrierKind::Ups,
        CarrierKind::Fedex,
        CarrierKind::Usps,
        CarrierKind::Dhl,
        CarrierKind::Track17,
    ];

    /// The stable id: `ups`, `fedex`, `usps`, `dhl` or `17track` (the keyring user and the
    /// file store's key).
    pub fn id(self) -> &'static str {
        match self {
            CarrierKind::Ups => "ups",
            CarrierKind::Fedex => "fedex",
            CarrierKind::Usps => "usps",
            CarrierKind::Dhl => "dhl",
            CarrierKind::Track17 => "17track",
        }
    }

    /// The carrier's display name.
    pub fn name(self) -> &'static str {
        match self {
            CarrierKind::Ups => "UPS",
            CarrierKind::Fedex => "FedEx",
            CarrierKind::Usps => "USPS",
            CarrierKind::Dhl => "DHL",
            CarrierKind::Track17 => "17TRACK",
        }
    }

    /// The carrier with this id (case-insensitive; `track17` is accepted for `17track`).
    pub fn from_id(id: &str) -> Option<CarrierKind> {
        let id = id.trim().to_ascii_lowercase();
        match id.as_str() {
            "track17" => Some(CarrierKind::Track17),
            _ => CarrierKind::ALL.into_iter().find(|c| c.id() == id),
        }
    }

    /// What this carrier needs, in prompting order. All of them are required.
    pub fn fields(self) -> &'static [Field] {
        match self {
            CarrierKind::Ups | CarrierKind::Fedex | CarrierKind::Usps => OAUTH_FIELDS,
            CarrierKind::Dhl | CarrierKind::Track17 => API_KEY_FIELDS,
        }
    }

    /// The field called `name`, if this carrier has one.
    pub fn field(self, name: &str) -> Option<&'static Field> {
        self.fields().iter().find(|f| f.name == name)
    }
}

impl fmt::Display for CarrierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One carrier's credentials. `Debug` shows the field names, never a value.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Whose credentials these are.
    pub carrier: CarrierKind,
    values: BTreeMap<String, Secret>,
}

impl Credentials {
    /// Empty credentials for `carrier`; fill them with [`Credentials::set`] or
    /// [`Credentials::with`].
    pub fn new(carrier: CarrierKind) -> Self {
        Self {
            carrier,
            values: BTreeMap::new(),
        }
    }

    /// Set `field` (trimmed). Fails, naming the field, if the carrier has no such field or the
    /// value is empty.
    pub fn set(&mut self, field: &str, value: Secret) -> Result<(), CredentialError> {
        let Some(f) = self.carrier.field(field) else {
            let known: Vec<_> = self.carrier.fields().iter().map(|f| f.name).collect();
            return Err(CredentialError::Invalid(format!(
                "{} has no credential field \"{field}\" (its fields: {})",
                self.carrier.name(),
                known.join(", ")
            )));
        };
        let trimmed = value.expose().trim();
        if trimmed.is_empty() {
            return Err(CredentialError::Invalid(format!(
                "the {} {} is empty",
                self.carrier.name(),
                f.label
            )));
        }
        let value = if trimmed.len() == value.expose().len() {
            value
        } else {
            Secret::new(trimmed)
        };
        self.values.insert(f.name.to_owned(), value);
        Ok(())
    }

    /// [`Credentials::set`], by value.
    pub fn with(mut self, field: &str, value: impl Into<String>) -> Result<Self, CredentialError> {
        self.set(field, Secret::new(value))?;
        Ok(self)
    }

    /// The value of `field`, if set.
    pub fn get(&self, field: &str) -> Option<&Secret> {
        self.values.get(field)
    }

    /// The carrier's fields that are not set yet.
    pub fn missing(&self) -> Vec<&'static Field> {
        self.carrier
            .fields()
            .iter()
            .filter(|f| !self.values.contains_key(f.name))
            .collect()
    }

    /// Ok if every field the carrier needs is set; else `Invalid`, naming what is missing.
    pub fn check_complete(&self) -> Result<(), CredentialError> {
        let missing = self.missing();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<_> = missing.iter().map(|f| f.name).collect();
        Err(CredentialError::Invalid(format!(
            "the {} credentials lack {}",
            self.carrier.name(),
            names.join(", ")
        )))
    }

    /// Build from a stored map; unknown keys are dropped (written by a newer version).
    fn from_map(carrier: CarrierKind, map: BTreeMap<String, String>) -> Self {
        let mut creds = Credentials::new(carrier);
        for (k, v) in map {
            // An empty or unknown field is not an error on reading: `missing` tells.
            let _ = creds.set(&k, Secret::new(v));
        }
        creds
    }

    fn to_map(&self) -> BTreeMap<&str, &str> {
        self.values
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Redacted<'a>(&'a BTreeMap<String, Secret>);
        impl fmt::Debug for Redacted<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.keys().map(|k| (k, format_args!("***"))))
                    .finish()
            }
        }
        f.debug_struct("Credentials")
            .field("carrier", &self.carrier)
            .field("values", &Redacted(&self.values))
            .finish()
    }
}

/// Why credentials could not be loaded, saved or deleted. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// No usable OS keyring. The message is complete: what is wrong, and how to opt in to the
    /// file store instead.
    #[error("{0}")]
    NoKeyring(String),
    /// The store answered, but what it holds cannot be read as credentials.
    #[error("cannot read the credentials in {store}: {reason}")]
    Unreadable {
        /// The store, as [`CredentialStore::describe`] says it.
        store: String,
        /// What is wrong (never the content itself).
        reason: String,
    },
    /// The credentials file can be read by other users, so it is not trusted.
    #[error(
        "refusing to use {}: other users can access it (mode {mode:04o}); \
         run `chmod 600 {}` and change any credential it holds that others may have read",
        path.display(),
        path.display()
    )]
    InsecureFile {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "create", ...).
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The credentials themselves are not acceptable (unknown field, empty or missing value).
    #[error("{0}")]
    Invalid(String),
}

/// Where credentials are kept. Implementations block (D-Bus, files): from async code, call
/// them inside `spawn_blocking`.
pub trait CredentialStore: Send + Sync {
    /// The carrier's credentials, or `None` if none are stored. What is stored may lack a
    /// field (edited by hand, or written by another version): see [`Credentials::missing`].
    fn load(&self, carrier: CarrierKind) -> Result<Option<Credentials>, CredentialError>;
    /// Store `creds` (complete: every field the carrier needs), replacing what was there.
    fn save(&self, creds: &Credentials) -> Result<(), CredentialError>;
    /// Forget the carrier's credentials; deleting what is not there is not an error.
    fn delete(&self, carrier: CarrierKind) -> Result<(), CredentialError>;
    /// A secret of Parceltrail's own (not a carrier's), by name: a sync server's API key.
    fn load_secret(&self, name: &str) -> Result<Option<Secret>, CredentialError>;
    /// Store a named secret, replacing what was there.
    fn save_secret(&self, name: &str, value: &Secret) -> Result<(), CredentialError>;
    /// Forget a named secret; deleting what is not there is not an error.
    fn delete_secret(&self, name: &str) -> Result<(), CredentialError>;
    /// Where credentials go, for messages: "the system keyring (Secret Service)", "the file
    /// /home/me/.local/share/parceltrail/credentials.json (0600)".
    fn describe(&self) -> String;
}

/// The store the user chose: the file `data_dir/credentials.json` when they opted in
/// (`use_file`), else the OS keyring.
pub fn open_store(data_dir: &Path, use_file: bool) -> Box<dyn CredentialStore> {
    let file = data_dir.join(FILE_NAME);
    if use_file {
        Box::new(FileStore::new(file))
    } else {
        Box::new(KeyringStore::new(file))
    }
}

// ---------------------------------------------------------------------------------------------
// The OS keyring
// ---------------------------------------------------------------------------------------------

/// The OS keyring: one entry per carrier under the service [`KEYRING_SERVICE`], the user
/// being the carrier id and the secret a JSON object of the carrier's fields.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
    /// The file store's path, named in the "no keyring" message.
    file_store: PathBuf,
}

impl KeyringStore {
    /// The keyring store, under the service [`KEYRING_SERVICE`]. `file_store` is the path
    /// the file store would use, for the message given when there is no keyring.
    pub fn new(file_store: impl Into<PathBuf>) -> Self {
        Self::with_service(KEYRING_SERVICE, file_store)
    }

    /// A keyring store under another service name (tests use their own, to leave the user's
    /// entries alone).
    pub fn with_service(service: impl Into<String>, file_store: impl Into<PathBuf>) -> Self {
        Self {
            service: service.into(),
            file_store: file_store.into(),
        }
    }

    fn entry(&self, carrier: CarrierKind) -> Result<keyring_core::Entry, CredentialError> {
        self.entry_named(carrier.id())
    }

    /// The entry whose user is `user`: a carrier id, or `secret:<name>` for a named secret
    /// (no carrier id has a colon).
    fn entry_named(&self, user: &str) -> Result<keyring_core::Entry, CredentialError> {
        let store = platform::store().map_err(|e| self.map_err(e))?;
        store
            .build(&self.service, user, None)
            .map_err(|e| self.map_err(e))
    }

    fn no_keyring(&self, (why, context): (&str, &str), detail: Option<String>) -> CredentialError {
        let context = match detail {
            Some(d) => format!(" ({context}: {d})"),
            None => format!(" ({context})"),
        };
        CredentialError::NoKeyring(format!(
            "{why}{context}. {} or opt in to the file store with {FILE_STORE_FLAG}, which keeps \
             credentials in {} readable only by you.",
            START_HINT,
            self.file_store.display()
        ))
    }

    /// Map a keyring error. Nothing here can hold a secret except `BadEncoding`, whose bytes
    /// are dropped.
    fn map_err(&self, e: keyring_core::Error) -> CredentialError {
        use keyring_core::Error as K;
        match e {
            K::PlatformFailure(inner) => self.no_keyring(NO_SERVICE, Some(inner.to_string())),
            K::NoStorageAccess(inner) => self.no_keyring(NO_ACCESS, Some(inner.to_string())),
            K::NoDefaultStore => self.no_keyring(NO_SERVICE, None),
            K::NoEntry => CredentialError::Invalid("no such keyring entry".into()),
            K::BadEncoding(_) => CredentialError::Unreadable {
                store: self.describe(),
                reason: "the entry is not UTF-8 text".into(),
            },
            K::TooLong(attr, limit) => CredentialError::Invalid(format!(
                "the keyring refuses the {attr}: longer than {limit}"
            )),
            K::Invalid(attr, reason) => {
                CredentialError::Invalid(format!("the keyring refuses the {attr}: {reason}"))
            }
            K::Ambiguous(found) => CredentialError::Unreadable {
                store: self.describe(),
                reason: format!(
                    "{} entries match service \"{}\"; remove the extra ones \
                     (for example with your keyring's manager) and save again",
                    found.len(),
                    self.service
                ),
            },
            other => CredentialError::Unreadable {
                store: self.describe(),
                reason: format!("unexpected keyring error: {}", redacted_kind(&other)),
            },
        }
    }
}

/// A keyring error's kind, never its payload (future variants might carry data).
fn redacted_kind(e: &keyring_core::Error) -> String {
    let dbg = format!("{e:?}");
    dbg.split(['(', '{', ' '])
        .next()
        .unwrap_or("unknown")
        .to_owned()
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
mod platform {
    pub const DESCRIPTION: &str = "the system keyring (Secret Service)";
    pub const NO_SERVICE: (&str, &str) = (
        "no system keyring is available",
        "no Secret Service on this session's D-Bus",
    );
    pub const NO_ACCESS: (&str, &str) = (
        "the system keyring refused access",
        "the Secret Service is locked or has no default collection",
    );
    pub const START_HINT: &str =
        "Start or unlock one (for example gnome-keyring or KeePassXC's Secret Service)";

    pub fn store() -> keyring_core::Result<super::Store> {
        super::cached(|| Ok(zbus_secret_service_keyring_store::Store::new()?))
    }
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
mod platform {
    pub const DESCRIPTION: &str = "the system keychain";
    pub const NO_SERVICE: (&str, &str) = ("no system keyring is available", "no keychain");
    pub const NO_ACCESS: (&str, &str) = ("the system keychain refused access", "is it locked?");
    pub const START_HINT: &str = "Unlock your login keychain";

    #[cfg(target_os = "macos")]
    pub fn store() -> keyring_core::Result<super::Store> {
        super::cached(|| Ok(apple_native_keyring_store::keychain::Store::new()?))
    }

    #[cfg(target_os = "ios")]
    pub fn store() -> keyring_core::Result<super::Store> {
        super::cached(|| Ok(apple_native_keyring_store::protected::Store::new()?))
    }
}

#[cfg(target_os = "windows")]
mod platform {
    pub const DESCRIPTION: &str = "the Windows Credential Manager";
    pub const NO_SERVICE: (&str, &str) = (
        "no system keyring is available",
        "the Windows Credential Manager does not answer",
    );
    pub const NO_ACCESS: (&str, &str) = (
        "the system keyring refused access",
        "the Windows Credential Manager refused",
    );
    pub const START_HINT: &str = "Log in with a profile that has a credential store";

    pub fn store() -> keyring_core::Result<super::Store> {
        super::cached(|| Ok(windows_native_keyring_store::Store::new()?))
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "ios",
    target_os = "windows"
)))]
mod platform {
    pub const DESCRIPTION: &str = "the system keyring";
    pub const NO_SERVICE: (&str, &str) = (
        "no system keyring is available",
        "Parceltrail knows no system keyring on this platform",
    );
    pub const NO_ACCESS: (&str, &str) = NO_SERVICE;
    pub const START_HINT: &str = "Use a platform with one";

    /// No store here: saying so beats keeping credentials in memory only.
    pub fn store() -> keyring_core::Result<super::Store> {
        Err(keyring_core::Error::NoDefaultStore)
    }
}

use platform::{DESCRIPTION, NO_ACCESS, NO_SERVICE, START_HINT};

/// A platform credential store.
type Store = std::sync::Arc<keyring_core::CredentialStore>;

/// The platform's store, made on first use. A failure is not kept: the keyring may be
/// started or unlocked before the next try.
#[allow(dead_code)] // unused where Parceltrail knows no keyring
fn cached(make: fn() -> keyring_core::Result<Store>) -> keyring_core::Result<Store> {
    static STORE: std::sync::OnceLock<Store> = std::sync::OnceLock::new();
    if let Some(store) = STORE.get() {
        return Ok(store.clone());
    }
    let store = make()?;
    Ok(STORE.get_or_init(|| store).clone())
}

impl CredentialStore for KeyringStore {
    fn load(&self, carrier: CarrierKind) -> Result<Option<Credentials>, CredentialError> {
        let text = off_runtime(|| {
            let entry = self.entry(carrier)?;
            match entry.get_password() {
                Ok(text) => Ok(Some(text)),
                Err(keyring_core::Error::NoEntry) => Ok(None),
                Err(e) => Err(self.map_err(e)),
            }
        })?;
        let Some(text) = text else {
            return Ok(None);
        };
        let map = parse_entry(&text).map_err(|reason| CredentialError::Unreadable {
            store: self.describe(),
            reason: format!("the {} entry is {reason}", carrier.name()),
        })?;
        Ok(Some(Credentials::from_map(carrier, map)))
    }

    fn save(&self, creds: &Credentials) -> Result<(), CredentialError> {
        creds.check_complete()?;
        let text = serde_json::to_string(&creds.to_map())
            .map_err(|_| CredentialError::Invalid("cannot encode the credentials".into()))?;
        off_runtime(|| {
            let entry = self.entry(creds.carrier)?;
            entry.set_password(&text).map_err(|e| self.map_err(e))
        })?;
        tracing::debug!(
            carrier = creds.carrier.id(),
            "credentials saved to the keyring"
        );
        Ok(())
    }

    fn delete(&self, carrier: CarrierKind) -> Result<(), CredentialError> {
        off_runtime(|| {
            let entry = self.entry(carrier)?;
            match entry.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(e) => Err(self.map_err(e)),
            }
        })?;
        tracing::debug!(
            carrier = carrier.id(),
            "credentials deleted from the keyring"
        );
        Ok(())
    }

    fn load_secret(&self, name: &str) -> Result<Option<Secret>, CredentialError> {
        off_runtime(|| {
            let entry = self.entry_named(&format!("secret:{name}"))?;
            match entry.get_password() {
                Ok(text) => Ok(Some(Secret::new(text))),
                Err(keyring_core::Error::NoEntry) => Ok(None),
                Err(e) => Err(self.map_err(e)),
            }
        })
    }

    fn save_secret(&self, name: &str, value: &Secret) -> Result<(), CredentialError> {
        off_runtime(|| {
            let entry = self.entry_named(&format!("secret:{name}"))?;
            entry
                .set_password(value.expose())
                .map_err(|e| self.map_err(e))
        })?;
        tracing::debug!(name, "secret saved to the keyring");
        Ok(())
    }

    fn delete_secret(&self, name: &str) -> Result<(), CredentialError> {
        off_runtime(|| {
            let entry = self.entry_named(&format!("secret:{name}"))?;
            match entry.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(e) => Err(self.map_err(e)),
            }
        })
    }

    fn describe(&self) -> String {
        DESCRIPTION.to_owned()
    }
}

/// Run a blocking keyring call where it cannot meet a Tokio runtime: the Secret Service
/// client (zbus, Tokio flavour) starts a runtime of its own for each call, which panics on a
/// thread that already drives one. Called from async code, the call goes to a short-lived
/// thread of its own (it still blocks the caller until done: prefer `spawn_blocking`).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// A keyring entry's JSON object of fields. The error says what is wrong, never what is there.
fn parse_entry(text: &str) -> Result<BTreeMap<String, String>, String> {
    serde_json::from_str(text).map_err(|e| json_problem(&e))
}

/// What is wrong with some JSON, without quoting it (serde_json's messages can quote values).
fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "not valid JSON",
        Category::Eof => "truncated JSON",
        Category::Data => "JSON of the wrong shape",
        Category::Io => "unreadable",
    };
    format!("{what} (at line {}, column {})", e.line(), e.column())
}

// ---------------------------------------------------------------------------------------------
// The opt-in file store
// ---------------------------------------------------------------------------------------------

/// The opt-in file store: one JSON file, `{"version": 1, "carriers": {"ups": {...}, ...}}`,
/// created with mode 0600, rewritten atomically (a temporary file renamed over it), and
/// refused on Unix when other users can access it.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

#[derive(Serialize, Deserialize, Default)]
struct FileContent {
    version: u32,
    #[serde(default)]
    carriers: BTreeMap<String, BTreeMap<String, String>>,
    /// Parceltrail's own secrets by name (a sync server's API key).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    secrets: BTreeMap<String, String>,
}

const FILE_VERSION: u32 = 1;

impl FileStore {
    /// The file store at `path` (normally `data_dir/credentials.json`).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str, source: std::io::Error) -> CredentialError {
        CredentialError::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }

    fn unreadable(&self, reason: impl Into<String>) -> CredentialError {
        CredentialError::Unreadable {
            store: self.describe(),
            reason: reason.into(),
        }
    }

    /// The file's content; an absent file is empty.
    fn read(&self) -> Result<FileContent, CredentialError> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(FileContent {
                    version: FILE_VERSION,
                    ..FileContent::default()
                });
            }
            Err(e) => return Err(self.io("open", e)),
        };
        // Check the opened file itself, not the path (no race with a swapped file).
        let meta = file.metadata().map_err(|e| self.io("inspect", e))?;
        if !meta.is_file() {
            return Err(self.unreadable("it is not a regular file"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(CredentialError::InsecureFile {
                    path: self.path.clone(),
                    mode,
                });
            }
        }
        let mut text = String::new();
        use std::io::Read;
        (&file)
            .take(1024 * 1024)
            .read_to_string(&mut text)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    self.unreadable("it is not UTF-8 text")
                } else {
                    self.io("read", e)
                }
            })?;
        if text.trim().is_empty() {
            return Ok(FileContent {
                version: FILE_VERSION,
                ..FileContent::default()
            });
        }
        let content: FileContent =
            serde_json::from_str(&text).map_err(|e| self.unreadable(json_problem(&e)))?;
        if content.version != FILE_VERSION {
            return Err(self.unreadable(format!(
                "it is version {}, this Parceltrail reads version {FILE_VERSION}",
                content.version
            )));
        }
        Ok(content)
    }

    /// Replace the file atomically: write a 0600 temporary file beside it, sync, rename.
    fn write(&self, content: &FileContent) -> Result<(), CredentialError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        create_private_dir(&dir).map_err(|e| CredentialError::Io {
            action: "create the directory",
            path: dir.clone(),
            source: e,
        })?;
        let json = serde_json::to_vec_pretty(content)
            .map_err(|_| CredentialError::Invalid("cannot encode the credentials".into()))?;
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| FILE_NAME.to_owned());
        // Unique per process and per call, so two writers never share a temporary file.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{file_name}.{}.{n}.tmp", std::process::id()));
        let result = (|| {
            let mut f = create_private_file(&tmp)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &self.path)?;
            // Make the rename itself durable; not every platform can open a directory.
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io("write", e)
        })
    }
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // A stale temporary file from a crash: remove it, then create ours exclusively.
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

impl CredentialStore for FileStore {
    fn load(&self, carrier: CarrierKind) -> Result<Option<Credentials>, CredentialError> {
        let mut content = self.read()?;
        Ok(content
            .carriers
            .remove(carrier.id())
            .map(|map| Credentials::from_map(carrier, map)))
    }

    fn save(&self, creds: &Credentials) -> Result<(), CredentialError> {
        creds.check_complete()?;
        let mut content = self.read()?;
        let map = creds
            .to_map()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        content.carriers.insert(creds.carrier.id().to_owned(), map);
        content.version = FILE_VERSION;
        self.write(&content)?;
        tracing::debug!(carrier = creds.carrier.id(), path = %self.path.display(), "credentials saved to file");
        Ok(())
    }

    fn delete(&self, carrier: CarrierKind) -> Result<(), CredentialError> {
        let mut content = self.read()?;
        if content.carriers.remove(carrier.id()).is_some() {
            self.write(&content)?;
            tracing::debug!(carrier = carrier.id(), path = %self.path.display(), "credentials deleted from file");
        }
        Ok(())
    }

    fn load_secret(&self, name: &str) -> Result<Option<Secret>, CredentialError> {
        Ok(self.read()?.secrets.remove(name).map(Secret::new))
    }

    fn save_secret(&self, name: &str, value: &Secret) -> Result<(), CredentialError> {
        let mut content = self.read()?;
        content
            .secrets
            .insert(name.to_owned(), value.expose().to_owned());
        content.version = FILE_VERSION;
        self.write(&content)
    }

    fn delete_secret(&self, name: &str) -> Result<(), CredentialError> {
        let mut content = self.read()?;
        if content.secrets.remove(name).is_some() {
            self.write(&content)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("the file {} (0600)", self.path.display())
    }
}
