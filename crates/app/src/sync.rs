//! The app in sync with a server (a shop's, or one person's own): signed in with one of its
//! API keys, a round sends what changed here since the last round, merges the server's
//! answer, then reads and merges what changed there ([`parceltrail_core::sync`] says how
//! records merge). Offline first: nothing waits on the server, and a round after weeks away
//! catches up. While signed in, the server polls the carriers and this device does not.
//!
//! The server's address and the cursors are settings of the local store; the key is kept
//! with the carrier credentials (the system keyring, or the opt-in file).

use std::time::Duration;

use chrono::Utc;
use parceltrail_carriers::credentials::CredentialStore;
use parceltrail_carriers::http::{Http, Secret};
use parceltrail_core::poller::SharedStore;
use parceltrail_core::sync::{self, Cursor, Record};
use serde::{Deserialize, Serialize};

/// The setting naming the server (its base URL), while signed in.
pub const URL_SETTING: &str = "sync.url";
/// Where this device's own changes were last sent from (its feed).
const PUSH_SETTING: &str = "sync.push";
/// Where the server's changes were last read to.
const PULL_SETTING: &str = "sync.pull";
/// The credential store's name for the server's key.
const KEY_SECRET: &str = "sync";
/// Records per request.
const PAGE: usize = 200;

/// Why a sync could not be done.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No server set.
    #[error("not signed in to a server: run `parceltrail sync login URL --key KEY`")]
    NotSignedIn,
    /// The address cannot be used.
    #[error("{0}")]
    Url(String),
    /// The server refused or failed.
    #[error("the server at {url} answered {status}: {detail}")]
    Server {
        /// Where.
        url: String,
        /// Its status code.
        status: u16,
        /// What it said.
        detail: String,
    },
    /// The server could not be reached.
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable {
        /// Where.
        url: String,
        /// Why (never the key).
        reason: String,
    },
    /// The key could not be kept or read.
    #[error(transparent)]
    Credentials(#[from] parceltrail_carriers::credentials::CredentialError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] parceltrail_core::Error),
}

/// The server's shop, as `GET /api/v1/shop` names it.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerShop {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Round {
    /// Parcels sent.
    pub sent: usize,
    /// Of those, how many changed something on the server.
    pub changed_there: usize,
    /// Parcels read from the server.
    pub received: usize,
    /// Records (read or answered) that changed something here.
    pub changed_here: usize,
}

#[derive(Deserialize)]
struct PageBody {
    records: Vec<Record>,
    cursor: String,
    more: bool,
}

#[derive(Serialize)]
struct PushBody<'a> {
    records: &'a [Record],
}

#[derive(Deserialize)]
struct PushedBody {
    changed: usize,
    records: Vec<Record>,
}

/// A server and its key.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Secret,
}

impl Client {
    /// A client of the server at `url` (its base: `https://track.example.com`). Plain HTTP is
    /// refused except to this machine, so the key never crosses a network in the clear.
    pub fn new(url: &str, key: Secret) -> Result<Client, SyncError> {
        let parsed = reqwest::Url::parse(url.trim())
            .map_err(|e| SyncError::Url(format!("{url:?} is not an address: {e}")))?;
        let local = matches!(
            parsed.host_str(),
            Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
        );
        match parsed.scheme() {
            "https" => {}
            "http" if local => {}
            "http" => {
                return Err(SyncError::Url(format!(
                    "{url} is plain HTTP: the key would travel in the clear; use https://"
                )));
            }
            other => {
                return Err(SyncError::Url(format!(
                    "{url}: the scheme must be https (not {other})"
                )));
            }
        }
        if key.expose().trim().is_empty() {
            return Err(SyncError::Url("the key is empty".into()));
        }
        Ok(Client {
            http: Http::with_timeout(Duration::from_secs(60)).client().clone(),
            base: parsed.as_str().trim_end_matches('/').to_owned(),
            key,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, SyncError> {
        let unreachable = |e: reqwest::Error| SyncError::Unreachable {
            url: self.base.clone(),
            reason: e.without_url().to_string(),
        };
        let res = req
            .bearer_auth(self.key.expose())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        let status = res.status();
        let body = res.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("detail")
                        .or_else(|| v.get("title"))
                        .and_then(|d| d.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "no details".into());
            return Err(SyncError::Server {
                url: self.base.clone(),
                status: status.as_u16(),
                detail,
            });
        }
        serde_json::from_slice(&body).map_err(|e| SyncError::Server {
            url: self.base.clone(),
            status: status.as_u16(),
            detail: format!("an answer this version cannot read: {e}"),
        })
    }

    /// The shop the key belongs to (what signing in checks).
    pub async fn shop(&self) -> Result<ServerShop, SyncError> {
        self.call(self.http.get(format!("{}/api/v1/shop", self.base)))
            .await
    }

    async fn pull(&self, cursor: &str) -> Result<PageBody, SyncError> {
        let req = self
            .http
            .get(format!("{}/api/v1/sync", self.base))
            .query(&[("cursor", cursor), ("limit", &PAGE.to_string())]);
        self.call(req).await
    }

    async fn push(&self, records: &[Record]) -> Result<PushedBody, SyncError> {
        let req = self
            .http
            .post(format!("{}/api/v1/sync", self.base))
            .json(&PushBody { records });
        self.call(req).await
    }
}

fn lock(
    store: &SharedStore,
) -> std::sync::MutexGuard<'_, dyn parceltrail_core::store::Store + Send + 'static> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

fn cursor(store: &SharedStore, key: &str) -> Result<Cursor, SyncError> {
    match lock(store).setting(key)? {
        Some(c) => Ok(Cursor::decode(&c)?),
        None => Ok(Cursor::Feed(0)),
    }
}

fn save(store: &SharedStore, key: &str, c: Cursor) -> Result<(), SyncError> {
    lock(store).set_setting(key, &c.encode(), Utc::now())?;
    Ok(())
}

/// Signs this device in: checks the key against the server, keeps it, and starts both
/// cursors afresh (the next round reads all the server's parcels). With `upload`, the
/// parcels already here are sent too; without, only what changes from now on.
pub async fn login(
    store: &SharedStore,
    creds: &dyn CredentialStore,
    url: &str,
    key: Secret,
    upload: bool,
) -> Result<ServerShop, SyncError> {
    let client = Client::new(url, key)?;
    let shop = client.shop().await?;
    creds.save_secret(KEY_SECRET, &client.key)?;
    let push = if upload {
        Cursor::Feed(0)
    } else {
        Cursor::Feed(lock(store).feed_head()?)
    };
    {
        let mut s = lock(store);
        let now = Utc::now();
        s.set_setting(URL_SETTING, client.url(), now)?;
        s.set_setting(PUSH_SETTING, &push.encode(), now)?;
        s.set_setting(PULL_SETTING, &Cursor::Feed(0).encode(), now)?;
    }
    Ok(shop)
}

/// Signs out: forgets the server and its key (the parcels stay, and this device polls the
/// carriers again).
pub fn logout(store: &SharedStore, creds: &dyn CredentialStore) -> Result<(), SyncError> {
    creds.delete_secret(KEY_SECRET)?;
    let mut s = lock(store);
    let now = Utc::now();
    s.set_setting(URL_SETTING, "", now)?;
    Ok(())
}

/// The server this device is signed in to, if any.
pub fn server(store: &SharedStore) -> Result<Option<String>, SyncError> {
    Ok(lock(store).setting(URL_SETTING)?.filter(|u| !u.is_empty()))
}

/// The signed-in server's client.
pub fn client(store: &SharedStore, creds: &dyn CredentialStore) -> Result<Client, SyncError> {
    let url = server(store)?.ok_or(SyncError::NotSignedIn)?;
    let key = creds
        .load_secret(KEY_SECRET)?
        .ok_or(SyncError::NotSignedIn)?;
    Client::new(&url, key)
}

/// One round both ways. Each page's cursor is kept once the page is merged, so a round cut
/// short (offline, a crash) goes on from there; every merge can be repeated.
pub async fn round(store: &SharedStore, client: &Client) -> Result<Round, SyncError> {
    let mut out = Round::default();
    let mut push = cursor(store, PUSH_SETTING)?;
    loop {
        let page = sync::changes(&*lock(store), push, PAGE)?;
        push = page.next;
        if !page.records.is_empty() {
            let answer = client.push(&page.records).await?;
            out.sent += page.records.len();
            out.changed_there += answer.changed;
            let (merged, sent) =
                sync::merge_received(&mut *lock(store), &answer.records, Utc::now(), push)?;
            out.changed_here += merged.changed;
            push = sent;
        }
        save(store, PUSH_SETTING, push)?;
        if !page.more {
            break;
        }
    }
    let mut pull = cursor(store, PULL_SETTING)?;
    loop {
        let page = client.pull(&pull.encode()).await?;
        out.received += page.records.len();
        // What the server sent need not go back to it: the push cursor moves past it.
        let (merged, sent) =
            sync::merge_received(&mut *lock(store), &page.records, Utc::now(), push)?;
        out.changed_here += merged.changed;
        push = sent;
        save(store, PUSH_SETTING, push)?;
        pull = Cursor::decode(&page.cursor)?;
        save(store, PULL_SETTING, pull)?;
        if !page.more {
            break;
        }
    }
    Ok(out)
}
