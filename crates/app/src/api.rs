//! The UI's commands: one method per action, each taking one deserialisable argument and
//! returning one serialisable result. The desktop app exposes them as Tauri commands, the
//! HTTP server as `POST /api/<command>` ([`App::call`]); `docs/api.md` is the contract.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use parceltrail_carriers::Secret;
use parceltrail_carriers::credentials::{CarrierKind, Credentials, open_store};
use parceltrail_core::carrier::CarrierError;
use parceltrail_core::detect;
use parceltrail_core::domain::{ShipmentId, Status};
use parceltrail_core::import::ImportReport;
use parceltrail_core::notify::rules::{Kind, KindSet, Prefs};
use parceltrail_core::pipeline::{load_prefs, save_prefs};
use parceltrail_core::store::{Edit, ListQuery, NewShipment, OrderInfo};
use parceltrail_core::view::{self, Detail, Filter, Found, Home};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{App, Error, sources};

/// Deliveries this recent show under "Delivered recently".
pub const RECENT_DAYS: i64 = 3;

/// "Today" in a time zone, as the store's list query wants it.
pub fn list_query(now: DateTime<Utc>, tz: Tz, all: bool) -> ListQuery {
    let today = now.with_timezone(&tz).date_naive();
    let start = tz
        .from_local_datetime(&today.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now);
    let end = tz
        .from_local_datetime(&(today + Duration::days(1)).and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(start + Duration::days(1));
    ListQuery {
        today_start: start,
        today_end: end,
        delivered_since: now - Duration::days(RECENT_DAYS),
        all,
    }
}

/// `home`'s argument.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HomeArgs {
    /// Search and filters.
    pub filter: FilterArgs,
    /// Include archived parcels and old deliveries.
    pub all: bool,
}

/// The home screen's filters as the UI sends them (empty strings mean "any").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterArgs {
    /// Words to find.
    pub text: Option<String>,
    /// Store.
    pub store: Option<String>,
    /// Carrier id.
    pub carrier: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Latest event on or after (RFC 3339, or a date `YYYY-MM-DD` in the user's zone).
    pub since: Option<String>,
    /// Latest event before (RFC 3339, or a date: the end of that day).
    pub until: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn parse_when(field: &str, s: &str, tz: Tz, end_of_day: bool) -> Result<DateTime<Utc>, Error> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        Error::invalid(
            field,
            format!("{s:?} is not a date: use YYYY-MM-DD or an RFC 3339 time"),
        )
    })?;
    let date = if end_of_day {
        date + Duration::days(1)
    } else {
        date
    };
    tz.from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Error::invalid(field, format!("{s:?} does not exist in {tz}")))
}

impl FilterArgs {
    fn into_filter(self, tz: Tz) -> Result<Filter, Error> {
        let status = match non_empty(self.status) {
            Some(s) => Some(s.parse::<Status>().map_err(|_| {
                Error::invalid(
                    "filter.status",
                    format!(
                        "unknown status {s:?}; one of {}",
                        Status::ALL.map(Status::as_str).join(", ")
                    ),
                )
            })?),
            None => None,
        };
        let since = match non_empty(self.since) {
            Some(s) => Some(parse_when("filter.since", &s, tz, false)?),
            None => None,
        };
        let until = match non_empty(self.until) {
            Some(s) => Some(parse_when("filter.until", &s, tz, true)?),
            None => None,
        };
        Ok(Filter {
            text: non_empty(self.text),
            store: non_empty(self.store),
            carrier: non_empty(self.carrier),
            status,
            since,
            until,
        })
    }
}

/// A carrier in the filter list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CarrierOption {
    /// Carrier id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// The home screen and what its filters offer.
#[derive(Debug, Clone, Serialize)]
pub struct HomeView {
    /// The groups and counts.
    #[serde(flatten)]
    pub home: Home,
    /// Every parcel tracked (archived included).
    pub total: u64,
    /// Stores, for the store filter.
    pub stores: Vec<String>,
    /// Carriers in use, for the carrier filter.
    pub carriers: Vec<CarrierOption>,
    /// Nothing tracked and no carrier account: offer the demo.
    pub first_run: bool,
    /// The demo's parcels are being tracked.
    pub demo: bool,
}

/// An argument naming one parcel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdArgs {
    /// Parcel id.
    pub id: ShipmentId,
}

/// `preview`'s argument.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextArgs {
    /// Pasted text: a number, a link, a whole email.
    pub text: String,
}

/// One parcel to add.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddItem {
    /// The tracking number (as pasted; it is normalised).
    pub number: String,
    /// The carrier id, when the user chose (else detected).
    pub carrier: Option<String>,
    /// The user's name for it.
    pub label: Option<String>,
    /// The store.
    pub store: Option<String>,
    /// The store's order number.
    pub order: Option<String>,
}

/// `add`'s argument.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddArgs {
    /// What to add.
    pub items: Vec<AddItem>,
}

/// One added parcel.
#[derive(Debug, Clone, Serialize)]
pub struct AddedItem {
    /// Its id.
    pub id: ShipmentId,
    /// Its number.
    pub number: String,
    /// False when it was tracked already (a label given is applied as an edit).
    pub created: bool,
    /// For a parcel tracked already: the fields given that were not applied, since they
    /// belong to its order (`store`, `order`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unchanged: Vec<String>,
}

/// `add`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct AddResult {
    /// In the order given.
    pub added: Vec<AddedItem>,
    /// The demo was running and has ended (its parcels removed): own parcels are tracked
    /// on the real clock.
    pub demo_ended: bool,
}

/// `edit`'s argument: absent fields stay as they are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditArgs {
    /// Parcel id.
    pub id: ShipmentId,
    /// New label (`""` clears it).
    #[serde(default)]
    pub label: Option<String>,
    /// Mute or unmute.
    #[serde(default)]
    pub muted: Option<bool>,
    /// Archive or unarchive.
    #[serde(default)]
    pub archived: Option<bool>,
    /// Which news notifies for this parcel (`""`: the channels' own choice).
    #[serde(default)]
    pub notify_kinds: Option<String>,
}

/// `refresh`'s argument.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefreshArgs {
    /// One parcel, or every parcel still moving.
    pub id: Option<ShipmentId>,
}

/// `refresh`'s result: the carriers are asked in the background; changes follow as events.
#[derive(Debug, Clone, Serialize)]
pub struct Refreshing {
    /// Parcels queued to be asked about now.
    pub queued: usize,
}

/// The UI's colour scheme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Follow the system.
    #[default]
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

/// One value a carrier account needs.
#[derive(Debug, Clone, Serialize)]
pub struct FieldInfo {
    /// Its name (the key in `save_credentials`' `fields`).
    pub name: &'static str,
    /// Label for people.
    pub label: &'static str,
    /// Entered without echo, never shown back.
    pub secret: bool,
}

/// A carrier account in Settings.
#[derive(Debug, Clone, Serialize)]
pub struct CarrierAccount {
    /// Account id (`ups`, `fedex`, `usps`, `dhl`, `17track`).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// What it needs.
    pub fields: Vec<FieldInfo>,
    /// Credentials are stored.
    pub configured: bool,
}

/// A notification kind, for the checkboxes.
#[derive(Debug, Clone, Serialize)]
pub struct KindInfo {
    /// Stable name.
    pub id: &'static str,
    /// Words for people.
    pub label: &'static str,
}

/// About this installation.
#[derive(Debug, Clone, Serialize)]
pub struct About {
    /// Version.
    pub version: &'static str,
    /// Data directory.
    pub data_dir: String,
    /// Database file.
    pub database: String,
}

/// Everything Settings shows.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Colour scheme.
    pub theme: Theme,
    /// Start at login: `None` where the shell does not offer it (the browser).
    pub autostart: Option<bool>,
    /// Notification preferences (channels with their kinds, quiet hours, time zone).
    pub notifications: Prefs,
    /// Every notification kind.
    pub kinds: Vec<KindInfo>,
    /// Carrier accounts.
    pub carriers: Vec<CarrierAccount>,
    /// Where credentials are kept.
    pub keyring: String,
    /// Why the keyring cannot be used, when it cannot.
    pub keyring_error: Option<String>,
    /// The demo is running (Settings offers to end it).
    pub demo: bool,
    /// The server this device syncs with.
    pub sync: SyncState,
    /// About.
    pub about: About,
}

/// `save_settings`' argument: absent parts stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SaveSettings {
    /// Colour scheme.
    pub theme: Option<Theme>,
    /// Notification preferences, whole.
    pub notifications: Option<Prefs>,
    /// Start at login (the desktop shell applies it).
    pub autostart: Option<bool>,
}

/// `save_credentials`' argument.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialArgs {
    /// Account id.
    pub carrier: String,
    /// Field name → value.
    pub fields: BTreeMap<String, String>,
}

/// An argument naming a carrier account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierArgs {
    /// Account id.
    pub carrier: String,
}

/// The verdict of a credentials test.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialCheck {
    /// The carrier accepted them.
    pub ok: bool,
    /// What happened, in words.
    pub message: String,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// One row per parcel.
    Csv,
    /// Everything, events included.
    Json,
}

/// `export`'s argument.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportArgs {
    /// Format.
    pub format: ExportFormat,
}

/// `export`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// A file name for it.
    pub filename: String,
    /// The content.
    pub content: String,
    /// Where the desktop app saved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_to: Option<String>,
}

/// `import`'s argument.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportArgs {
    /// The file's name (for messages).
    pub filename: String,
    /// Its content (CSV).
    pub content: String,
}

/// `start_demo`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct DemoStarted {
    /// Demo parcels added.
    pub added: usize,
}

/// `end_demo`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct DemoEnded {
    /// Demo parcels removed.
    pub removed: usize,
}

/// An empty result.
#[derive(Debug, Clone, Serialize)]
pub struct Done {}

/// An empty argument.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

const THEME_KEY: &str = "ui.theme";

/// A well-formed number of the carrier's, to check credentials with (17TRACK: one it rejects
/// as malformed, so the check costs no registration quota).
pub fn probe_number(kind: CarrierKind) -> &'static str {
    match kind {
        CarrierKind::Ups => "1Z5R89390357567127",
        CarrierKind::Fedex => "122816215025810",
        CarrierKind::Usps => "9400111899223197428490",
        CarrierKind::Dhl => "3318810025",
        CarrierKind::Track17 => "PARCELTRAILTEST",
    }
}

/// Try credentials with one real request. A number the carrier does not know still proves
/// they were accepted.
pub async fn check_credentials(kind: CarrierKind, creds: &Credentials) -> CredentialCheck {
    let adapter = match sources::adapter(kind, creds) {
        Ok(a) => a,
        Err(e) => {
            return CredentialCheck {
                ok: false,
                message: e.to_string(),
            };
        }
    };
    match adapter.track(&[probe_number(kind).to_owned()]).await {
        Ok(_) | Err(CarrierError::NotFound(_)) => CredentialCheck {
            ok: true,
            message: format!("{} accepted the credentials.", kind.name()),
        },
        Err(e @ CarrierError::Auth(_)) => CredentialCheck {
            ok: false,
            message: format!("{} refused the credentials: {e}", kind.name()),
        },
        Err(e) => CredentialCheck {
            ok: false,
            message: format!("could not check the {} credentials: {e}", kind.name()),
        },
    }
}

/// The server this device syncs with.
#[derive(Debug, Clone, Serialize)]
pub struct SyncState {
    /// Its address, while signed in.
    pub url: Option<String>,
    /// Right after signing in: what the first round did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<crate::sync::Round>,
}

/// Signing in to a server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncLoginArgs {
    /// Its address (`https://…`; plain http only to this machine).
    pub url: String,
    /// One of its API keys.
    pub key: String,
    /// Send the parcels already here too.
    #[serde(default)]
    pub upload: bool,
}

fn sync_err(e: crate::sync::SyncError) -> Error {
    use crate::sync::SyncError as S;
    match e {
        S::Url(m) => Error::invalid("url", m),
        S::Server { status: 401, .. } => Error::invalid("key", e.to_string()),
        S::NotSignedIn | S::Server { .. } | S::Unreachable { .. } => Error::Invalid {
            field: None,
            message: e.to_string(),
        },
        S::Credentials(c) => Error::Credentials(c),
        S::Store(s) => Error::Store(s),
    }
}

fn blocking_err(e: tokio::task::JoinError) -> Error {
    Error::Internal(format!("a background task failed: {e}"))
}

impl App {
    fn prefs(&self) -> Result<Prefs, Error> {
        Ok(load_prefs(&*self.lock()?)?)
    }

    /// `home`: the grouped, filtered parcel list.
    pub async fn home(&self, args: HomeArgs) -> Result<HomeView, Error> {
        let tz = self.prefs()?.tz;
        let filter = args.filter.into_filter(tz)?;
        let now = Utc::now();
        let db = self.lock()?;
        let query = list_query(now, tz, args.all);
        let home = view::home(&*db, &query, &filter, now, tz)?;
        let total = db.count()?;
        // The filters offer what is tracked, not only what the filter left.
        let facets = db.facets()?;
        drop(db);
        let mut stores = facets.stores;
        let mut carriers: Vec<CarrierOption> = facets
            .carriers
            .iter()
            .map(|c| {
                let b = view::CarrierBadge::new(c, "");
                CarrierOption {
                    id: b.id,
                    name: b.name,
                }
            })
            .collect();
        stores.sort_by_key(|s| s.to_lowercase());
        carriers.sort_by_key(|c| c.name.to_lowercase());
        carriers.dedup_by(|a, b| a.id == b.id);
        let demo = sources::demo_present(&self.opts.dir);
        Ok(HomeView {
            home,
            total,
            stores,
            carriers,
            first_run: total == 0 && !demo && self.accounts() == 0,
            demo,
        })
    }

    /// How many parcels arrive today and how many need attention (the tray's line): one pass
    /// over the store's list, without building the home screen's cards.
    pub fn counts(&self) -> Result<(usize, usize), Error> {
        let tz = self.prefs()?.tz;
        let (mut today, mut attention) = (0, 0);
        self.lock()?
            .list(&list_query(Utc::now(), tz, false), &mut |item| {
                match item.group {
                    parceltrail_core::store::Group::ArrivingToday => today += 1,
                    parceltrail_core::store::Group::NeedsAttention => attention += 1,
                    _ => {}
                }
                Ok(())
            })?;
        Ok((today, attention))
    }

    /// `detail`: one parcel, whole.
    pub async fn detail(&self, args: IdArgs) -> Result<Detail, Error> {
        let tz = self.prefs()?.tz;
        let now = Utc::now();
        let db = self.lock()?;
        Ok(view::detail(
            &*db,
            args.id,
            &list_query(now, tz, true),
            now,
            tz,
        )?)
    }

    /// `preview`: the numbers in pasted text, before anything is saved.
    pub async fn preview(&self, args: TextArgs) -> Result<Vec<Found>, Error> {
        if args.text.len() > 1_000_000 {
            return Err(Error::invalid(
                "text",
                "the pasted text is over 1 MB; paste the part with the tracking numbers",
            ));
        }
        Ok(view::preview(&*self.lock()?, &args.text))
    }

    /// `add`: track parcels; all or nothing. The first own parcel ends the demo (see
    /// [`App::end_demo`]).
    pub async fn add(self: &std::sync::Arc<Self>, args: AddArgs) -> Result<AddResult, Error> {
        if args.items.is_empty() {
            return Err(Error::invalid("items", "nothing to add"));
        }
        let mut new = Vec::with_capacity(args.items.len());
        for (i, item) in args.items.into_iter().enumerate() {
            for (name, value) in [
                ("number", Some(&item.number)),
                ("label", item.label.as_ref()),
                ("store", item.store.as_ref()),
                ("order", item.order.as_ref()),
            ] {
                if let Some(v) = value {
                    let field = format!("items[{i}].{name}");
                    parceltrail_core::import::check_length(&field, v)
                        .map_err(|m| Error::invalid(field, m))?;
                }
            }
            let field = format!("items[{i}].number");
            let d = match non_empty(item.carrier) {
                Some(c) => {
                    let id = parceltrail_core::import::carrier_id(&c).ok_or_else(|| {
                        Error::invalid(
                            format!("items[{i}].carrier"),
                            format!("unknown carrier {c:?}"),
                        )
                    })?;
                    detect::detect_as(&item.number, &id)
                }
                None => detect::detect(&item.number),
            };
            let best = match (d.valid, d.candidates.first()) {
                (true, Some(best)) => best,
                _ => {
                    return Err(Error::invalid(
                        field,
                        d.reason.unwrap_or_else(|| {
                            format!(
                                "{:?} is not a tracking number we recognise",
                                item.number.trim()
                            )
                        }),
                    ));
                }
            };
            new.push(NewShipment {
                tracking_number: d.number.clone(),
                carrier: best.carrier.clone(),
                service: best.service.clone(),
                label: non_empty(item.label),
                order: OrderInfo {
                    store: non_empty(item.store),
                    order_number: non_empty(item.order),
                    ..OrderInfo::default()
                },
                events: Vec::new(),
            });
        }
        let demo_ended = self.end_demo_for_own_parcels().await?;
        let added = {
            let mut db = self.lock()?;
            let now = Utc::now();
            let added = db.add_shipments(&new, now)?;
            let mut out = Vec::with_capacity(added.len());
            for (a, n) in added.iter().zip(&new) {
                // A parcel tracked already: its label is an edit (the last writer wins); its
                // order is not, and the answer says so.
                let mut unchanged = Vec::new();
                if !a.created {
                    if n.label.is_some() && n.label != a.shipment.label {
                        db.edit(a.shipment.id, Edit::Label(n.label.clone()), now)?;
                    }
                    let order = db.order(a.shipment.order_id)?;
                    if n.order.store.is_some() && n.order.store != order.store {
                        unchanged.push("store".to_owned());
                    }
                    if n.order.order_number.is_some() && n.order.order_number != order.order_number
                    {
                        unchanged.push("order".to_owned());
                    }
                }
                out.push(AddedItem {
                    id: a.shipment.id,
                    number: a.shipment.tracking_number.clone(),
                    created: a.created,
                    unchanged,
                });
            }
            out
        };
        let result = AddResult { demo_ended, added };
        let ids: Vec<ShipmentId> = result.added.iter().map(|a| a.id).collect();
        self.wake().await;
        self.changed(ids);
        Ok(result)
    }

    /// `edit`: label, mute, archive, per-parcel notifications (each last-writer-wins).
    pub async fn edit(&self, args: EditArgs) -> Result<Detail, Error> {
        let mut edits = Vec::new();
        if let Some(l) = &args.label {
            parceltrail_core::import::check_length("label", l)
                .map_err(|m| Error::invalid("label", m))?;
        }
        if let Some(l) = args.label {
            edits.push(Edit::Label(non_empty(Some(l))));
        }
        if let Some(m) = args.muted {
            edits.push(Edit::Muted(m));
        }
        if let Some(a) = args.archived {
            edits.push(Edit::Archived(a));
        }
        if let Some(k) = args.notify_kinds {
            let kinds = match non_empty(Some(k)) {
                Some(k) => Some(
                    k.parse::<KindSet>()
                        .map_err(|e| Error::invalid("notify_kinds", e))?,
                ),
                None => None,
            };
            edits.push(Edit::NotifyKinds(kinds));
        }
        {
            let mut db = self.lock()?;
            let now = Utc::now();
            db.shipment(args.id)?;
            for e in edits {
                db.edit(args.id, e, now)?;
            }
        }
        self.changed(vec![args.id]);
        self.detail(IdArgs { id: args.id }).await
    }

    /// `remove`: stop tracking a parcel and forget it.
    pub async fn remove(&self, args: IdArgs) -> Result<Done, Error> {
        self.lock()?.remove(args.id, Utc::now())?;
        self.changed(vec![args.id]);
        Ok(Done {})
    }

    /// `refresh`: ask the carriers now.
    pub async fn refresh(&self, args: RefreshArgs) -> Result<Refreshing, Error> {
        let queued = self.poll_now(args.id).await?;
        Ok(Refreshing { queued })
    }

    /// `settings`.
    pub async fn settings(&self) -> Result<Settings, Error> {
        let (notifications, theme) = {
            let db = self.lock()?;
            let theme = db
                .setting(THEME_KEY)?
                .and_then(|t| serde_json::from_value(Value::String(t)).ok())
                .unwrap_or_default();
            (load_prefs(&*db)?, theme)
        };
        let (dir, file) = (self.opts.dir.clone(), self.opts.credentials_file);
        let (carriers, keyring, keyring_error) = tokio::task::spawn_blocking(move || {
            let store = open_store(&dir, file);
            let mut error = None;
            let carriers = CarrierKind::ALL
                .into_iter()
                .map(|kind| CarrierAccount {
                    id: kind.id(),
                    name: kind.name(),
                    fields: kind
                        .fields()
                        .iter()
                        .map(|f| FieldInfo {
                            name: f.name,
                            label: f.label,
                            secret: f.secret,
                        })
                        .collect(),
                    configured: match store.load(kind) {
                        Ok(c) => c.is_some(),
                        Err(e) => {
                            error.get_or_insert(e.to_string());
                            false
                        }
                    },
                })
                .collect::<Vec<_>>();
            (carriers, store.describe(), error)
        })
        .await
        .map_err(blocking_err)?;
        Ok(Settings {
            theme,
            autostart: None,
            notifications,
            kinds: Kind::ALL
                .into_iter()
                .map(|k| KindInfo {
                    id: k.as_str(),
                    label: k.headline(),
                })
                .collect(),
            carriers,
            keyring,
            keyring_error,
            demo: sources::demo_present(&self.opts.dir),
            sync: SyncState {
                url: crate::sync::server(self.store()).map_err(sync_err)?,
                first: None,
            },
            about: About {
                version: env!("CARGO_PKG_VERSION"),
                data_dir: self.opts.dir.display().to_string(),
                database: crate::database_path(&self.opts.dir).display().to_string(),
            },
        })
    }

    /// `save_settings` (the shell applies `autostart` itself).
    pub async fn save_settings(&self, args: SaveSettings) -> Result<Settings, Error> {
        {
            let mut db = self.lock()?;
            let now = Utc::now();
            if let Some(t) = args.theme {
                let name = serde_json::to_value(t)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                db.set_setting(THEME_KEY, &name, now)?;
            }
            if let Some(p) = &args.notifications {
                save_prefs(&mut *db, p, now)?;
            }
        }
        if args.notifications.is_some() {
            // Quiet hours may have ended, kinds changed: let the pipeline look again.
            if let Some(p) = self.pipeline().await {
                p.step(Some(Vec::new())).await?;
            }
        }
        self.settings().await
    }

    /// `save_credentials`: into the keyring; the carriers are asked with them from now on.
    pub async fn save_credentials(
        self: &std::sync::Arc<Self>,
        args: CredentialArgs,
    ) -> Result<Settings, Error> {
        let kind = sources::carrier_kind(&args.carrier)?;
        let mut creds = Credentials::new(kind);
        for (name, value) in args.fields {
            creds
                .set(&name, Secret::new(value.trim().to_owned()))
                .map_err(|e| Error::invalid(format!("fields.{name}"), e.to_string()))?;
        }
        creds
            .check_complete()
            .map_err(|e| Error::invalid("fields", e.to_string()))?;
        let (dir, file) = (self.opts.dir.clone(), self.opts.credentials_file);
        tokio::task::spawn_blocking(move || open_store(&dir, file).save(&creds))
            .await
            .map_err(blocking_err)??;
        // A carrier account means real parcels: the demo's fast clock must not rule them.
        sources::end_demo(&mut *self.lock()?, &self.opts.dir)?;
        self.start().await?;
        self.settings().await
    }

    /// `test_credentials`: one real request with the stored credentials.
    pub async fn test_credentials(&self, args: CarrierArgs) -> Result<CredentialCheck, Error> {
        let kind = sources::carrier_kind(&args.carrier)?;
        let (dir, file) = (self.opts.dir.clone(), self.opts.credentials_file);
        let creds = tokio::task::spawn_blocking(move || open_store(&dir, file).load(kind))
            .await
            .map_err(blocking_err)??;
        Ok(match creds {
            Some(c) => check_credentials(kind, &c).await,
            None => CredentialCheck {
                ok: false,
                message: format!("No {} credentials are stored.", kind.name()),
            },
        })
    }

    /// `forget_credentials`.
    pub async fn forget_credentials(
        self: &std::sync::Arc<Self>,
        args: CarrierArgs,
    ) -> Result<Settings, Error> {
        let kind = sources::carrier_kind(&args.carrier)?;
        let (dir, file) = (self.opts.dir.clone(), self.opts.credentials_file);
        tokio::task::spawn_blocking(move || open_store(&dir, file).delete(kind))
            .await
            .map_err(blocking_err)??;
        self.start().await?;
        self.settings().await
    }

    /// `sync_state`: the server this device syncs with, if any.
    pub async fn sync_state(&self) -> Result<SyncState, Error> {
        Ok(SyncState {
            url: crate::sync::server(self.store()).map_err(sync_err)?,
            first: None,
        })
    }

    /// `sync_login`: checks the key against the server and keeps it; from now on the server
    /// asks the carriers and this device syncs with it (a first round at once).
    pub async fn sync_login(
        self: &std::sync::Arc<Self>,
        args: SyncLoginArgs,
    ) -> Result<SyncState, Error> {
        let creds = open_store(&self.opts.dir, self.opts.credentials_file);
        crate::sync::login(
            self.store(),
            creds.as_ref(),
            &args.url,
            Secret::new(args.key.trim().to_owned()),
            args.upload,
        )
        .await
        .map_err(sync_err)?;
        // The first round here, before the background's: what it brought is this answer's.
        let first = self.sync_now().await?;
        self.start().await?;
        Ok(SyncState {
            first: Some(first),
            ..self.sync_state().await?
        })
    }

    /// `sync_now`: one round both ways.
    pub async fn sync_now(self: &std::sync::Arc<Self>) -> Result<crate::sync::Round, Error> {
        let creds = open_store(&self.opts.dir, self.opts.credentials_file);
        let client = crate::sync::client(self.store(), creds.as_ref()).map_err(sync_err)?;
        let round = crate::sync::round(self.store(), &client)
            .await
            .map_err(sync_err)?;
        if round.changed_here > 0 {
            if let Some(p) = self.pipeline().await {
                p.step(None).await?;
            }
            self.emit(crate::Event::Changed { ids: Vec::new() });
        }
        Ok(round)
    }

    /// `sync_logout`: forgets the server and its key; this device asks the carriers again.
    pub async fn sync_logout(self: &std::sync::Arc<Self>) -> Result<SyncState, Error> {
        let creds = open_store(&self.opts.dir, self.opts.credentials_file);
        crate::sync::logout(self.store(), creds.as_ref()).map_err(sync_err)?;
        self.start().await?;
        self.sync_state().await
    }

    /// `export`: every parcel as CSV or JSON.
    pub async fn export(&self, args: ExportArgs) -> Result<Exported, Error> {
        let mut out = Vec::new();
        let now = Utc::now();
        {
            let db = self.lock()?;
            match args.format {
                ExportFormat::Csv => parceltrail_core::export::write_csv(&*db, &mut out)?,
                ExportFormat::Json => parceltrail_core::export::write_json(&*db, &mut out, now)?,
            };
        }
        let ext = match args.format {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        };
        Ok(Exported {
            filename: format!("parceltrail-{}.{ext}", now.format("%Y-%m-%d")),
            content: String::from_utf8(out)
                .map_err(|e| Error::Internal(format!("the export is not UTF-8: {e}")))?,
            saved_to: None,
        })
    }

    /// `import`: a CSV file; bad rows are reported by line, good rows kept. Ends the demo.
    pub async fn import(
        self: &std::sync::Arc<Self>,
        args: ImportArgs,
    ) -> Result<ImportReport, Error> {
        if args.filename.to_lowercase().ends_with(".json") {
            return Err(Error::invalid(
                "filename",
                format!(
                    "{}: import takes CSV (one row per parcel; the JSON export is a backup for other tools)",
                    args.filename
                ),
            ));
        }
        // The file is read before the demo ends, and with the background work paused, so a
        // refused file leaves the demo as it was and imported parcels never meet its clock.
        let demo = sources::demo_present(&self.opts.dir);
        let was_running = demo && self.pause().await;
        let result = {
            let mut db = self.lock()?;
            parceltrail_core::import::import_csv(
                &mut *db,
                args.content.as_bytes(),
                Utc::now(),
                &mut |_, _| {},
            )
            .map_err(|e| match e {
                parceltrail_core::Error::InvalidInput(m) => {
                    Error::invalid("content", format!("{}: {m}", args.filename))
                }
                other => other.into(),
            })
        };
        if demo {
            if matches!(&result, Ok(r) if r.added > 0) {
                sources::end_demo(&mut *self.lock()?, &self.opts.dir)?;
            }
            if was_running {
                self.start().await?;
            }
        }
        let report = result?;
        // Imported events may settle open problems (a delivery after a failed attempt), also
        // of parcels whose journey has ended, which the pipeline's full pass skips.
        if let Some(p) = self.pipeline().await {
            let ids: Vec<ShipmentId> = self
                .lock()?
                .open_problems(None)?
                .into_iter()
                .map(|p| p.shipment_id)
                .collect();
            p.step(Some(ids)).await?;
            p.step(None).await?;
        }
        self.wake().await;
        self.changed(Vec::new());
        Ok(report)
    }

    /// `start_demo`: the demo parcels, moved along by the built-in simulator. The demo runs in
    /// an empty app only: its clock runs fast (a journey in minutes), and so does upkeep
    /// (expiry, archiving), which own parcels must not be subject to.
    pub async fn start_demo(self: &std::sync::Arc<Self>) -> Result<DemoStarted, Error> {
        if let Some(why) = sources::demo_refused(&*self.lock()?, &self.opts.dir)? {
            return Err(Error::invalid("demo", why));
        }
        let epoch = sources::demo_epoch(&self.opts.dir, self.opts.demo_speed)?;
        let sim = sources::demo_sim(&epoch);
        let added = self
            .lock()?
            .add_shipments(&parceltrail_sim::demo_shipments(&sim), Utc::now())?;
        self.start().await?;
        Ok(DemoStarted {
            added: added.iter().filter(|a| a.created).count(),
        })
    }

    /// `end_demo`: remove the demo parcels and stop the simulator.
    pub async fn end_demo(self: &std::sync::Arc<Self>) -> Result<DemoEnded, Error> {
        let removed = sources::end_demo(&mut *self.lock()?, &self.opts.dir)?;
        if removed.is_some() {
            self.start().await?;
        }
        Ok(DemoEnded {
            removed: removed.unwrap_or(0),
        })
    }

    /// Before own parcels are added: end a running demo (its clock would rule them too).
    async fn end_demo_for_own_parcels(self: &std::sync::Arc<Self>) -> Result<bool, Error> {
        if !sources::demo_present(&self.opts.dir)
            && sources::demo_parcels(&*self.lock()?)?.is_empty()
        {
            return Ok(false);
        }
        self.end_demo().await?;
        Ok(true)
    }

    /// Stop the background work for a moment; whether it was running.
    async fn pause(&self) -> bool {
        let running = self.running.lock().await.take();
        match running {
            Some(r) => {
                crate::stop(r).await;
                true
            }
            None => false,
        }
    }

    async fn wake(&self) {
        if let Some(r) = self.running.lock().await.as_ref() {
            r.poller.wake();
        }
    }

    /// Run a command by name with JSON arguments: the HTTP server's single entry point.
    pub async fn call(
        self: &std::sync::Arc<Self>,
        command: &str,
        args: Value,
    ) -> Result<Value, Error> {
        fn arg<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Error> {
            let v = if v.is_null() {
                Value::Object(Default::default())
            } else {
                v
            };
            serde_json::from_value(v).map_err(|e| Error::Invalid {
                field: None,
                message: format!("bad arguments: {e}"),
            })
        }
        fn out<T: Serialize>(r: Result<T, Error>) -> Result<Value, Error> {
            r.and_then(|v| serde_json::to_value(v).map_err(|e| Error::Internal(e.to_string())))
        }
        match command {
            "home" => out(self.home(arg(args)?).await),
            "detail" => out(self.detail(arg(args)?).await),
            "preview" => out(self.preview(arg(args)?).await),
            "add" => out(self.add(arg(args)?).await),
            "edit" => out(self.edit(arg(args)?).await),
            "remove" => out(self.remove(arg(args)?).await),
            "refresh" => out(self.refresh(arg(args)?).await),
            "settings" => {
                let NoArgs {} = arg(args)?;
                out(self.settings().await)
            }
            "save_settings" => out(self.save_settings(arg(args)?).await),
            "save_credentials" => out(self.save_credentials(arg(args)?).await),
            "test_credentials" => out(self.test_credentials(arg(args)?).await),
            "forget_credentials" => out(self.forget_credentials(arg(args)?).await),
            "export" => out(self.export(arg(args)?).await),
            "sync_state" => {
                let NoArgs {} = arg(args)?;
                out(self.sync_state().await)
            }
            "sync_login" => out(self.sync_login(arg(args)?).await),
            "sync_now" => {
                let NoArgs {} = arg(args)?;
                out(self.sync_now().await)
            }
            "sync_logout" => {
                let NoArgs {} = arg(args)?;
                out(self.sync_logout().await)
            }
            "import" => out(self.import(arg(args)?).await),
            "start_demo" => {
                let NoArgs {} = arg(args)?;
                out(self.start_demo().await)
            }
            "end_demo" => {
                let NoArgs {} = arg(args)?;
                out(self.end_demo().await)
            }
            other => Err(Error::NotFound(format!("no command {other:?}"))),
        }
    }
}
