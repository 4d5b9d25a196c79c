//! Customers' notification choices per order and each shop's defaults. Every query is scoped
//! by the shop's id.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use parceltrail_core::domain::OrderId;
use parceltrail_core::notify::rules::{KindSet, QuietHours};
use rusqlite::{OptionalExtension, params};

use super::hooks::{ms, pg_fk, sqlite_fk};
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Backend, Db, trunc};
use crate::auth;
use crate::prefs::{ContactChoice, Language, NotifySettings};
use crate::{Error, Result, ShopId};

/// A stored column back as its value (a value this build no longer reads: the default).
fn kinds(s: Option<String>) -> Option<KindSet> {
    s.and_then(|s| s.parse().ok())
}
fn language(s: Option<String>) -> Option<Language> {
    s.as_deref().and_then(Language::from_tag)
}
fn zone(s: Option<String>) -> Option<Tz> {
    s.and_then(|s| s.parse().ok())
}
fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}
fn quiet(start: Option<String>, end: Option<String>, delivered: bool) -> Option<QuietHours> {
    let t = |s: Option<String>| s.and_then(|s| NaiveTime::parse_from_str(&s, "%H:%M").ok());
    Some(QuietHours {
        start: t(start)?,
        end: t(end)?,
        allow_delivered: delivered,
    })
}

/// A choice's parts as stored.
type ChoiceRow = (
    Option<bool>,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn choice_of(r: ChoiceRow) -> ContactChoice {
    ContactChoice {
        email: r.0,
        sms: r.1,
        kinds: kinds(r.2),
        language: language(r.3),
        time_zone: zone(r.4),
    }
}

fn choice_row(c: &ContactChoice) -> ChoiceRow {
    (
        c.email,
        c.sms,
        c.kinds.map(|k| k.to_string()),
        c.language.map(|l| l.code().to_owned()),
        c.time_zone.map(|z| z.name().to_owned()),
    )
}

/// Settings as stored: email, sms, kinds, quiet start, quiet end, delivered through, zone,
/// language.
type SettingsRow = (
    bool,
    bool,
    String,
    Option<String>,
    Option<String>,
    bool,
    String,
    String,
);

fn settings_of(r: SettingsRow) -> NotifySettings {
    let d = NotifySettings::default();
    NotifySettings {
        email: r.0,
        sms: r.1,
        kinds: kinds(Some(r.2)).unwrap_or(d.kinds),
        quiet: quiet(r.3, r.4, r.5),
        time_zone: zone(Some(r.6)).unwrap_or(d.time_zone),
        language: language(Some(r.7)).unwrap_or(d.language),
    }
}

impl Db {
    /// Where the shop's staff are alerted of parcels that need them; `None`: nowhere.
    pub async fn alert_email(&self, shop: ShopId) -> Result<Option<String>> {
        each!(self, db => db.alert_email(shop).await)
    }

    /// Sets (or, with `None`, clears) where the shop's staff are alerted.
    pub async fn set_alert_email(
        &self,
        shop: ShopId,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let email = email
            .map(|e| auth::normalise_email("email", e))
            .transpose()?;
        each!(self, db => db.set_alert_email(shop, email.clone(), trunc(now)).await)?;
        Ok(email)
    }

    /// The customer's choice for the order (nothing chosen: all `None`).
    pub async fn contact_choice(&self, shop: ShopId, order: OrderId) -> Result<ContactChoice> {
        each!(self, db => db.contact_choice(shop, order).await)
    }

    /// Records the parts of a choice that are `Some`, keeping the others as they were.
    pub async fn set_contact_choice(
        &self,
        shop: ShopId,
        order: OrderId,
        choice: ContactChoice,
        now: DateTime<Utc>,
    ) -> Result<ContactChoice> {
        each!(self, db => db.set_contact_choice(shop, order, choice, trunc(now)).await)
    }

    /// The shop's defaults (never set: the product's).
    pub async fn notify_settings(&self, shop: ShopId) -> Result<NotifySettings> {
        each!(self, db => db.notify_settings(shop).await)
    }

    /// Replaces the shop's defaults.
    pub async fn set_notify_settings(
        &self,
        shop: ShopId,
        settings: NotifySettings,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if settings.kinds == KindSet::NONE {
            return Err(Error::invalid(
                "kinds",
                "name at least one kind of news (a shop that wants none turns its channels off)",
            ));
        }
        each!(self, db => db.set_notify_settings(shop, settings, trunc(now)).await)
    }
}

const UPSERT_CHOICE: &str = "INSERT INTO order_contact
        (shop_id, order_id, email_on, sms_on, kinds, language, time_zone, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
     ON CONFLICT (shop_id, order_id) DO UPDATE SET
        email_on = coalesce(excluded.email_on, order_contact.email_on),
        sms_on = coalesce(excluded.sms_on, order_contact.sms_on),
        kinds = coalesce(excluded.kinds, order_contact.kinds),
        language = coalesce(excluded.language, order_contact.language),
        time_zone = coalesce(excluded.time_zone, order_contact.time_zone),
        updated_at = excluded.updated_at
     RETURNING email_on, sms_on, kinds, language, time_zone";

const UPSERT_SETTINGS: &str = "INSERT INTO notify_settings
        (shop_id, email_on, sms_on, kinds, quiet_start, quiet_end, quiet_delivered, time_zone,
         language, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
     ON CONFLICT (shop_id) DO UPDATE SET email_on = excluded.email_on,
        sms_on = excluded.sms_on, kinds = excluded.kinds, quiet_start = excluded.quiet_start,
        quiet_end = excluded.quiet_end, quiet_delivered = excluded.quiet_delivered,
        time_zone = excluded.time_zone, language = excluded.language,
        updated_at = excluded.updated_at";

const SELECT_SETTINGS: &str = "SELECT email_on, sms_on, kinds, quiet_start, quiet_end,
        quiet_delivered, time_zone, language FROM notify_settings WHERE shop_id = ?1";

/// The same statement with PostgreSQL's placeholders.
fn pg(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn settings_params(s: &NotifySettings) -> SettingsRow {
    (
        s.email,
        s.sms,
        s.kinds.to_string(),
        s.quiet.map(|q| hhmm(q.start)),
        s.quiet.map(|q| hhmm(q.end)),
        s.quiet.is_some_and(|q| q.allow_delivered),
        s.time_zone.name().to_owned(),
        s.language.code().to_owned(),
    )
}

impl SqliteDb {
    async fn alert_email(&self, shop: ShopId) -> Result<Option<String>> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT email FROM shop_alerts WHERE shop_id = ?1",
                params![shop.0],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn set_alert_email(
        &self,
        shop: ShopId,
        email: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            match email {
                Some(e) => c.execute(
                    "INSERT INTO shop_alerts (shop_id, email, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (shop_id) DO UPDATE SET email = excluded.email,
                         updated_at = excluded.updated_at",
                    params![shop.0, e, ms(now)],
                ),
                None => c.execute(
                    "DELETE FROM shop_alerts WHERE shop_id = ?1",
                    params![shop.0],
                ),
            }
            .map_err(sqlite_fk)?;
            Ok(())
        })
        .await
    }

    async fn contact_choice(&self, shop: ShopId, order: OrderId) -> Result<ContactChoice> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT email_on, sms_on, kinds, language, time_zone FROM order_contact
                 WHERE shop_id = ?1 AND order_id = ?2",
                params![shop.0, order.0],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?
            .map(choice_of)
            .unwrap_or_default())
        })
        .await
    }

    async fn set_contact_choice(
        &self,
        shop: ShopId,
        order: OrderId,
        choice: ContactChoice,
        now: DateTime<Utc>,
    ) -> Result<ContactChoice> {
        self.run(move |c| {
            let p = choice_row(&choice);
            let row: ChoiceRow = c
                .query_row(
                    UPSERT_CHOICE,
                    params![shop.0, order.0, p.0, p.1, p.2, p.3, p.4, ms(now)],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .map_err(sqlite_fk)?;
            Ok(choice_of(row))
        })
        .await
    }

    async fn notify_settings(&self, shop: ShopId) -> Result<NotifySettings> {
        self.run(move |c| {
            Ok(c.query_row(SELECT_SETTINGS, params![shop.0], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .optional()?
            .map(settings_of)
            .unwrap_or_default())
        })
        .await
    }

    async fn set_notify_settings(
        &self,
        shop: ShopId,
        settings: NotifySettings,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            let p = settings_params(&settings);
            c.execute(
                UPSERT_SETTINGS,
                params![shop.0, p.0, p.1, p.2, p.3, p.4, p.5, p.6, p.7, ms(now)],
            )
            .map_err(sqlite_fk)?;
            Ok(())
        })
        .await
    }
}

impl PgDb {
    async fn alert_email(&self, shop: ShopId) -> Result<Option<String>> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached("SELECT email FROM shop_alerts WHERE shop_id = $1")
            .await?;
        Ok(c.query_opt(&stmt, &[&shop.0]).await?.map(|r| r.get(0)))
    }

    async fn set_alert_email(
        &self,
        shop: ShopId,
        email: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        match email {
            Some(e) => {
                c.execute(
                    "INSERT INTO shop_alerts (shop_id, email, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT (shop_id) DO UPDATE SET email = excluded.email,
                         updated_at = excluded.updated_at",
                    &[&shop.0, &e, &now],
                )
                .await
            }
            None => {
                c.execute("DELETE FROM shop_alerts WHERE shop_id = $1", &[&shop.0])
                    .await
            }
        }
        .map_err(pg_fk)?;
        Ok(())
    }

    async fn contact_choice(&self, shop: ShopId, order: OrderId) -> Result<ContactChoice> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "SELECT email_on, sms_on, kinds, language, time_zone FROM order_contact
                 WHERE shop_id = $1 AND order_id = $2",
            )
            .await?;
        Ok(c.query_opt(&stmt, &[&shop.0, &order.0])
            .await?
            .map(|r| choice_of((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))))
            .unwrap_or_default())
    }

    async fn set_contact_choice(
        &self,
        shop: ShopId,
        order: OrderId,
        choice: ContactChoice,
        now: DateTime<Utc>,
    ) -> Result<ContactChoice> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&pg(UPSERT_CHOICE)).await?;
        let p = choice_row(&choice);
        let r = c
            .query_one(
                &stmt,
                &[&shop.0, &order.0, &p.0, &p.1, &p.2, &p.3, &p.4, &now],
            )
            .await
            .map_err(pg_fk)?;
        Ok(choice_of((
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
        )))
    }

    async fn notify_settings(&self, shop: ShopId) -> Result<NotifySettings> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&pg(SELECT_SETTINGS)).await?;
        Ok(c.query_opt(&stmt, &[&shop.0])
            .await?
            .map(|r| {
                settings_of((
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                ))
            })
            .unwrap_or_default())
    }

    async fn set_notify_settings(
        &self,
        shop: ShopId,
        settings: NotifySettings,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&pg(UPSERT_SETTINGS)).await?;
        let p = settings_params(&settings);
        c.execute(
            &stmt,
            &[
                &shop.0, &p.0, &p.1, &p.2, &p.3, &p.4, &p.5, &p.6, &p.7, &now,
            ],
        )
        .await
        .map_err(pg_fk)?;
        Ok(())
    }
}
