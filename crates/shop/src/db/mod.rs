//! The shop store on either backend. [`Db`] has one method per operation; each backend
//! module implements them all with the same meaning, and `tests/storage.rs` runs one suite
//! against both.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};

use crate::auth;
use crate::{ApiKey, KeyId, NewShop, Result, Role, Scopes, Session, Shop, ShopId, StaffMember};

mod idempotency;
mod postgres;
mod sqlite;

pub use idempotency::{IDEMPOTENCY_HOURS, IDEMPOTENCY_LEASE_SECS, Idempotent};

/// How long a set-up link stays valid.
pub const SETUP_LINK_DAYS: i64 = 7;
/// How long a login session lasts.
pub const SESSION_DAYS: i64 = 14;
/// A key's `last_used_at` is written at most this often, so a busy key costs no write per
/// request.
pub const LAST_USED_GRANULARITY: Duration = Duration::minutes(1);
/// The longest shop or key name.
pub const MAX_NAME: usize = 200;

/// Where the shop store lives: `sqlite:PATH` or `postgres://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (URL or key=value form).
    Postgres(String),
}

impl FromStr for DbUrl {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        if let Some(path) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(crate::Error::Url(
                    "sqlite: needs a file path, e.g. sqlite:/var/lib/parceltrail/server.db".into(),
                ));
            }
            return Ok(DbUrl::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            s.parse::<tokio_postgres::Config>()
                .map_err(|e| crate::Error::Url(format!("the PostgreSQL URL: {e}")))?;
            return Ok(DbUrl::Postgres(s.to_owned()));
        }
        Err(crate::Error::Url(format!(
            "{:?} is not a database: use sqlite:PATH or postgres://USER@HOST/DB",
            clip(&redact_url(s), 80)
        )))
    }
}

/// A database URL with its password replaced, for messages and logs.
pub fn redact_url(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => s.to_owned(),
        // Not a URL: show only its scheme, in case it holds a password.
        Err(_) => s.split(':').next().unwrap_or_default().to_owned() + ":…",
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            DbUrl::Postgres(s) => f.write_str(&redact_url(s)),
        }
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// At most `n` characters of `s` (for echoing input in messages).
pub(crate) fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The shop store. Clones share the connection (SQLite) or the pool (PostgreSQL), and the
/// keys lately authenticated.
#[derive(Clone)]
pub struct Db(Backend, KeyCache);

/// How long an authenticated API key is taken as live without asking the database again.
/// A key revoked through this process is refused at once; through another (a replica, or
/// `parceltrail server key revoke` beside a running server), within this time.
pub const KEY_CACHE: std::time::Duration = std::time::Duration::from_secs(2);

/// Keys lately authenticated, by their digest. Every API request authenticates its key; on
/// PostgreSQL that was a round trip of its own, on SQLite a turn on the server file's one
/// connection, ahead of the request's real work.
type KeyCache = std::sync::Arc<std::sync::Mutex<Keys>>;

#[derive(Default)]
struct Keys {
    by_digest: HashMap<Vec<u8>, (ApiKey, std::time::Instant)>,
    /// Revocations through this process: a lookup that began before one is not remembered
    /// (it may have read the key while it was still live).
    revocations: u64,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

macro_rules! each {
    ($self:ident, $db:ident => $e:expr) => {
        match &$self.0 {
            Backend::Sqlite($db) => $e,
            Backend::Postgres($db) => $e,
        }
    };
}

// After `each!`, which they use.
mod accounts;
pub use accounts::{AccountsFingerprint, CarrierAccount};
mod hooks;
pub use hooks::HookSecretInfo;
pub(crate) use hooks::MessagesInTx;
mod links;
mod notify;
mod push;
mod templates;
pub use templates::Template;
mod requests;
mod sms;
mod visits;
pub use push::{MAX_PUSH_PER_ORDER, PushSubscription};
pub use sms::SmsMessage;
mod webhooks;
pub use crate::prefs::{ContactChoice, NotifySettings};
pub use links::{Branding, LinkSettings, MAX_LOGO, logo_type};

/// A schema migration's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The version before.
    pub from: i64,
    /// The version now (this build's).
    pub to: i64,
}

impl Db {
    /// Opens the store and brings its schema up to date (a schema newer than this build's
    /// is refused, untouched). Several processes may do this at once.
    pub async fn open(url: &DbUrl) -> Result<(Db, Migrated)> {
        match url {
            DbUrl::Sqlite(path) => {
                let (db, m) = sqlite::SqliteDb::open(path.clone()).await?;
                Ok((Db(Backend::Sqlite(db), KeyCache::default()), m))
            }
            DbUrl::Postgres(url) => {
                let (db, m) = postgres::PgDb::open(url).await?;
                Ok((Db(Backend::Postgres(db), KeyCache::default()), m))
            }
        }
    }

    /// Where the shops' tracking stores live: beside the SQLite file, or in the same
    /// PostgreSQL database (a schema each).
    pub(crate) fn tracking_home(&self) -> crate::stores::Home {
        match &self.0 {
            Backend::Sqlite(db) => crate::stores::Home::Dir(db.dir.join("shops")),
            Backend::Postgres(db) => crate::stores::Home::Pool(db.pool.clone()),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.0 {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The newest schema version this build knows.
    pub fn known_version(&self) -> i64 {
        each!(self, db => db.known_version())
    }

    /// The database's schema version, read now (readiness: reachable and current).
    pub async fn schema_version(&self) -> Result<i64> {
        each!(self, db => db.schema_version().await)
    }

    /// Makes a shop, its owner (whose password is set through the returned one-time link) and
    /// a first API key with every scope, in one transaction.
    pub async fn create_shop(
        &self,
        name: &str,
        owner_email: &str,
        now: DateTime<Utc>,
    ) -> Result<NewShop> {
        let name = auth::normalise_name("name", name, MAX_NAME)?;
        let email = auth::normalise_email("admin_email", owner_email)?;
        let (api_key, prefix) = auth::new_key();
        let setup_token = auth::random_token();
        let ids = NewShopRows {
            shop: ShopId::new(),
            owner: crate::StaffId::new(),
            key: KeyId::new(),
            name,
            email,
            key_hash: auth::digest(&api_key),
            prefix,
            setup_hash: auth::digest(&setup_token),
            now: trunc(now),
        };
        let (shop, owner, key) = each!(self, db => db.create_shop(ids).await)?;
        Ok(NewShop {
            shop,
            owner,
            key,
            api_key,
            setup_token,
        })
    }

    /// One shop.
    pub async fn shop(&self, id: ShopId) -> Result<Shop> {
        each!(self, db => db.shop(id).await)
    }

    /// Every shop, oldest first.
    pub async fn shops(&self) -> Result<Vec<Shop>> {
        each!(self, db => db.shops().await)
    }

    /// Adds a staff account to a shop; its password is set through the returned link token.
    pub async fn add_staff(
        &self,
        shop: ShopId,
        email: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(StaffMember, String)> {
        let email = auth::normalise_email("email", email)?;
        let token = auth::random_token();
        let member = each!(self, db => db.add_staff(shop, email, role, auth::digest(&token), trunc(now)).await)?;
        Ok((member, token))
    }

    /// A new one-time link for a staff member of the shop to set their password (an
    /// invitation sent again, or a forgotten password); an older unused link stops working.
    /// Using it ends the member's sessions. `NotFound` for another shop's member.
    pub async fn new_setup_link(
        &self,
        shop: ShopId,
        member: crate::StaffId,
        now: DateTime<Utc>,
    ) -> Result<(StaffMember, String)> {
        let token = auth::random_token();
        let member = each!(self, db => db.new_setup_link(shop, member, auth::digest(&token), trunc(now)).await)?;
        Ok((member, token))
    }

    /// Removes a staff member of the shop: their sessions end and their links stop working,
    /// in one transaction. `NotFound` for another shop's member.
    pub async fn remove_staff(&self, shop: ShopId, member: crate::StaffId) -> Result<()> {
        each!(self, db => db.remove_staff(shop, member).await)
    }

    /// The shop's staff, oldest first.
    pub async fn staff(&self, shop: ShopId) -> Result<Vec<StaffMember>> {
        each!(self, db => db.staff(shop).await)
    }

    /// Sets a password through a one-time link. Any link that is unknown, used or expired
    /// gets the same answer, `NotFound`.
    pub async fn redeem_setup_link(
        &self,
        token: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<StaffMember> {
        auth::check_password(password)?;
        let digest = auth::digest(token);
        // Hashing is the expensive part: only for a link that can be used.
        if !each!(self, db => db.setup_link_usable(digest.clone(), trunc(now)).await)? {
            return Err(crate::Error::NotFound);
        }
        let hash = {
            let password = password.to_owned();
            tokio::task::spawn_blocking(move || auth::hash_password(&password)).await??
        };
        // Spent atomically: of two uses at once, one wins.
        each!(self, db => db.redeem_setup_link(digest, hash, trunc(now)).await)?
            .ok_or(crate::Error::NotFound)
    }

    /// Checks an address and password; on success a new session and its token (for the
    /// cookie). A wrong address and a wrong password take the same time and get the same
    /// `None`.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, String)>> {
        // An address that cannot be one has no account (and never reaches the database: a
        // NUL is not even storable in PostgreSQL's text).
        let account = match auth::normalise_email("email", email) {
            Ok(email) => each!(self, db => db.password_of(email).await)?,
            Err(_) => None,
        };
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || match &account {
            Some((staff, Some(hash))) => auth::verify_password(&password, hash).then_some(*staff),
            _ => {
                auth::verify_nothing(&password);
                None
            }
        })
        .await?;
        let Some(staff) = ok else { return Ok(None) };
        let token = auth::random_token();
        let csrf = auth::random_token();
        let expires = trunc(now + Duration::days(SESSION_DAYS));
        let session = each!(self, db => db.create_session(staff, auth::digest(&token), csrf, trunc(now), expires).await)?;
        Ok(Some((session, token)))
    }

    /// The live session for a cookie's token.
    pub async fn session(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        each!(self, db => db.session(auth::digest(token), trunc(now)).await)
    }

    /// Ends a session (signing out).
    pub async fn end_session(&self, token: &str) -> Result<()> {
        each!(self, db => db.end_session(auth::digest(token)).await)
    }

    /// Makes an API key; the key is returned once and never stored.
    pub async fn create_key(
        &self,
        shop: ShopId,
        name: &str,
        scopes: Scopes,
        now: DateTime<Utc>,
    ) -> Result<(ApiKey, String)> {
        let name = auth::normalise_name("name", name, MAX_NAME)?;
        let (key, prefix) = auth::new_key();
        let record = ApiKey {
            id: KeyId::new(),
            shop_id: shop,
            name,
            prefix,
            scopes,
            created_at: trunc(now),
            last_used_at: None,
            revoked_at: None,
        };
        each!(self, db => db.insert_key(&record, auth::digest(&key)).await)?;
        Ok((record, key))
    }

    /// The shop's keys, revoked ones included, oldest first.
    pub async fn keys(&self, shop: ShopId) -> Result<Vec<ApiKey>> {
        each!(self, db => db.keys(shop).await)
    }

    /// Revokes a key of this shop (again is harmless); another shop's key is `NotFound`.
    pub async fn revoke_key(&self, shop: ShopId, id: KeyId, now: DateTime<Utc>) -> Result<ApiKey> {
        let revoked = each!(self, db => db.revoke_key(shop, id, trunc(now)).await)?;
        let mut keys = self.keys_cached();
        keys.by_digest.retain(|_, (k, _)| k.id != id);
        keys.revocations += 1;
        Ok(revoked)
    }

    /// The live key a caller presented, its use recorded (to the minute); `None` for a key
    /// that is unknown or revoked. A key this process authenticated less than [`KEY_CACHE`]
    /// ago, and whose recorded use is still within the minute, is answered from memory.
    pub async fn authenticate_key(&self, key: &str, now: DateTime<Utc>) -> Result<Option<ApiKey>> {
        if !key.starts_with(auth::KEY_PREFIX) || key.len() > 200 {
            return Ok(None);
        }
        let digest = auth::digest(key);
        let now = trunc(now);
        let revocations = {
            let keys = self.keys_cached();
            if let Some((k, at)) = keys.by_digest.get(&digest)
                && at.elapsed() < KEY_CACHE
                && k.last_used_at
                    .is_some_and(|t| now - t < LAST_USED_GRANULARITY)
            {
                return Ok(Some(k.clone()));
            }
            keys.revocations
        };
        let read = std::time::Instant::now();
        let found = each!(self, db => db.authenticate_key(digest.clone(), now).await)?;
        let mut keys = self.keys_cached();
        // Shops' keys come and go; entries past their time are of no use.
        if keys.by_digest.len() > 10_000 {
            keys.by_digest.retain(|_, (_, at)| at.elapsed() < KEY_CACHE);
        }
        match &found {
            Some(k) if keys.revocations == revocations => {
                keys.by_digest.insert(digest, (k.clone(), read));
            }
            _ => {
                keys.by_digest.remove(&digest);
            }
        }
        Ok(found)
    }

    fn keys_cached(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.1.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Everything `create_shop` writes, decided before the transaction.
pub(crate) struct NewShopRows {
    shop: ShopId,
    owner: crate::StaffId,
    key: KeyId,
    name: String,
    email: String,
    key_hash: Vec<u8>,
    prefix: String,
    setup_hash: Vec<u8>,
    now: DateTime<Utc>,
}

/// Times are kept to the millisecond on both backends (PostgreSQL keeps microseconds,
/// SQLite's columns milliseconds), so what is written reads back equal on either.
fn trunc(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}
