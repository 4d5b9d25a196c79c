//! Shops' email templates: storage. What a template may say is checked by the server, which
//! renders it; here it is kept per shop and kind.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::hooks::{ms, pg_fk, sqlite_fk};
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Backend, Db, trunc};
use crate::{Result, ShopId};

/// A shop's wording of one kind of email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// `default`, or a kind of news (`delivered`, `out_for_delivery`, …).
    pub kind: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part (none: the text's, as paragraphs).
    pub html: Option<String>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

fn at(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

impl Db {
    /// The shop's templates, by kind.
    pub async fn templates(&self, shop: ShopId) -> Result<Vec<Template>> {
        each!(self, db => db.templates(shop, None).await)
    }

    /// The shop's template for `kind`, if it has one.
    pub async fn template(&self, shop: ShopId, kind: &str) -> Result<Option<Template>> {
        let kind = kind.to_owned();
        Ok(each!(self, db => db.templates(shop, Some(kind)).await)?.pop())
    }

    /// Keeps the shop's template for its kind (replacing one).
    pub async fn set_template(
        &self,
        shop: ShopId,
        t: Template,
        now: DateTime<Utc>,
    ) -> Result<Template> {
        let kind = t.kind.clone();
        each!(self, db => db.set_template(shop, t, trunc(now)).await)?;
        self.template(shop, &kind)
            .await?
            .ok_or(crate::Error::NotFound)
    }

    /// Forgets the shop's template for `kind` (the built-in wording again); whether it had one.
    pub async fn remove_template(&self, shop: ShopId, kind: &str) -> Result<bool> {
        let kind = kind.to_owned();
        each!(self, db => db.remove_template(shop, kind).await)
    }
}

impl SqliteDb {
    async fn templates(&self, shop: ShopId, kind: Option<String>) -> Result<Vec<Template>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT kind, subject, text, html, updated_at FROM message_templates
                 WHERE shop_id = ?1 AND (?2 IS NULL OR kind = ?2) ORDER BY kind",
            )?;
            let rows = stmt.query_map(params![shop.0, kind], |r| {
                Ok(Template {
                    kind: r.get(0)?,
                    subject: r.get(1)?,
                    text: r.get(2)?,
                    html: r.get(3)?,
                    updated_at: at(r.get(4)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn set_template(&self, shop: ShopId, t: Template, now: DateTime<Utc>) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO message_templates (shop_id, kind, subject, text, html, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (shop_id, kind) DO UPDATE SET subject = excluded.subject,
                     text = excluded.text, html = excluded.html, updated_at = excluded.updated_at",
                params![shop.0, t.kind, t.subject, t.text, t.html, ms(now)],
            )
            .map_err(sqlite_fk)?;
            Ok(())
        })
        .await
    }

    async fn remove_template(&self, shop: ShopId, kind: String) -> Result<bool> {
        self.run(move |c| {
            Ok(c.query_row(
                "DELETE FROM message_templates WHERE shop_id = ?1 AND kind = ?2 RETURNING 1",
                params![shop.0, kind],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
        .await
    }
}

impl PgDb {
    async fn templates(&self, shop: ShopId, kind: Option<String>) -> Result<Vec<Template>> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "SELECT kind, subject, text, html, updated_at FROM message_templates
                 WHERE shop_id = $1 AND ($2::text IS NULL OR kind = $2) ORDER BY kind",
            )
            .await?;
        Ok(c.query(&stmt, &[&shop.0, &kind])
            .await?
            .iter()
            .map(|r| Template {
                kind: r.get(0),
                subject: r.get(1),
                text: r.get(2),
                html: r.get(3),
                updated_at: r.get(4),
            })
            .collect())
    }

    async fn set_template(&self, shop: ShopId, t: Template, now: DateTime<Utc>) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO message_templates (shop_id, kind, subject, text, html, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (shop_id, kind) DO UPDATE SET subject = excluded.subject,
                     text = excluded.text, html = excluded.html, updated_at = excluded.updated_at",
            )
            .await?;
        c.execute(
            &stmt,
            &[&shop.0, &t.kind, &t.subject, &t.text, &t.html, &now],
        )
        .await
        .map_err(pg_fk)?;
        Ok(())
    }

    async fn remove_template(&self, shop: ShopId, kind: String) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached("DELETE FROM message_templates WHERE shop_id = $1 AND kind = $2")
            .await?;
        Ok(c.execute(&stmt, &[&shop.0, &kind]).await? > 0)
    }
}
