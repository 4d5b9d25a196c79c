//! Tracking links' storage: each shop's link key (sealed), its generation and link settings,
//! and each order's link generation. Every query is scoped by the shop's id.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use super::hooks::{ms, pg_fk, sqlite_fk};
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::{Backend, Db, MAX_NAME, trunc};
use crate::links::{DEFAULT_DAYS_AFTER_DELIVERY, LinkPolicy, MAX_DAYS_AFTER_DELIVERY};
use crate::secrets::SecretKey;
use crate::{Error, Result, ShopId, auth};
use parceltrail_core::domain::OrderId;

/// A stored link key row: generation, sealed key, days after delivery, show address.
type Row = (u32, Vec<u8>, u32, bool);

/// What a link key is sealed against: the shop and the generation, so a sealed key copied to
/// another shop's row, or kept from before a rotation, does not open.
fn aad(shop: ShopId, generation: u32) -> Vec<u8> {
    let mut a = b"parceltrail link key\0".to_vec();
    a.extend_from_slice(shop.0.as_bytes());
    a.extend_from_slice(&generation.to_be_bytes());
    a
}

fn fresh(server: &SecretKey, shop: ShopId, generation: u32) -> Vec<u8> {
    let key: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
    server.seal(&key[..], &aad(shop, generation))
}

fn policy(server: &SecretKey, shop: ShopId, row: Row) -> Result<LinkPolicy> {
    let (generation, sealed, days, show_address) = row;
    let opened = server.open(&sealed, &aad(shop, generation)).map_err(|_| {
        Error::invalid(
            "link_key",
            "the shop's link key does not open with this server's key (was the key file replaced?)",
        )
    })?;
    let key: [u8; 32] = opened[..].try_into().map_err(|_| {
        Error::invalid(
            "link_key",
            "the shop's stored link key has the wrong length",
        )
    })?;
    Ok(LinkPolicy {
        key: Zeroizing::new(key),
        generation,
        days_after_delivery: days,
        show_address,
    })
}

/// Link settings a shop changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkSettings {
    /// Days after delivery the links keep working (1 to 3650).
    pub days_after_delivery: Option<u32>,
    /// Whether a link the shop sent shows the delivery address.
    pub show_address: Option<bool>,
}

impl Db {
    /// The shop's link key and settings, made (with the defaults) on first use.
    pub async fn link_policy(
        &self,
        shop: ShopId,
        server: &SecretKey,
        now: DateTime<Utc>,
    ) -> Result<LinkPolicy> {
        let row = match each!(self, db => db.link_row(shop).await)? {
            Some(row) => row,
            None => {
                let sealed = fresh(server, shop, 1);
                // Of two replicas making it at once, one row wins and both read it.
                each!(self, db => db.insert_link_row(shop, sealed, trunc(now)).await)?;
                each!(self, db => db.link_row(shop).await)?.ok_or(Error::NotFound)?
            }
        };
        policy(server, shop, row)
    }

    /// A new link key for the shop: every link it made before stops working.
    pub async fn rotate_link_key(
        &self,
        shop: ShopId,
        server: &SecretKey,
        now: DateTime<Utc>,
    ) -> Result<LinkPolicy> {
        let current = self.link_policy(shop, server, now).await?;
        let generation = current.generation + 1;
        let sealed = fresh(server, shop, generation);
        // Only from the generation read: of two rotations at once, one wins, the other
        // finds the new key made.
        each!(self, db => db.rotate_link_row(shop, current.generation, sealed, trunc(now)).await)?;
        self.link_policy(shop, server, now).await
    }

    /// Changes the shop's link settings.
    pub async fn set_link_settings(
        &self,
        shop: ShopId,
        server: &SecretKey,
        settings: LinkSettings,
        now: DateTime<Utc>,
    ) -> Result<LinkPolicy> {
        if let Some(d) = settings.days_after_delivery
            && !(1..=MAX_DAYS_AFTER_DELIVERY).contains(&d)
        {
            return Err(Error::invalid(
                "days_after_delivery",
                format!("use 1 to {MAX_DAYS_AFTER_DELIVERY} days"),
            ));
        }
        let current = self.link_policy(shop, server, now).await?;
        let days = settings
            .days_after_delivery
            .unwrap_or(current.days_after_delivery);
        let show = settings.show_address.unwrap_or(current.show_address);
        each!(self, db => db.set_link_settings(shop, days, show).await)?;
        self.link_policy(shop, server, now).await
    }

    /// The order's link generation (0 until its links are first withdrawn).
    pub async fn order_link_generation(&self, shop: ShopId, order: OrderId) -> Result<u32> {
        each!(self, db => db.order_link_generation(shop, order).await)
    }

    /// Withdraws every link of the order made so far; its new link generation.
    pub async fn revoke_order_links(
        &self,
        shop: ShopId,
        order: OrderId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<u32> {
        let by = auth::normalise_name("revoked_by", by, MAX_NAME)?;
        each!(self, db => db.revoke_order_links(shop, order, by, trunc(now)).await)
    }
}

fn generation(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl SqliteDb {
    async fn link_row(&self, shop: ShopId) -> Result<Option<Row>> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT generation, sealed, days_after_delivery, show_address FROM link_keys WHERE shop_id = ?1",
                [shop.0],
                |r| {
                    Ok((
                        generation(r.get(0)?),
                        r.get(1)?,
                        generation(r.get(2)?),
                        r.get::<_, i64>(3)? != 0,
                    ))
                },
            )
            .optional()?)
        })
        .await
    }

    async fn insert_link_row(
        &self,
        shop: ShopId,
        sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO link_keys (shop_id, generation, sealed, days_after_delivery, show_address, rotated_at)
                 VALUES (?1, 1, ?2, ?3, 1, ?4) ON CONFLICT DO NOTHING",
                params![shop.0, sealed, DEFAULT_DAYS_AFTER_DELIVERY, ms(now)],
            )
            .map_err(sqlite_fk)?;
            Ok(())
        })
        .await
    }

    async fn rotate_link_row(
        &self,
        shop: ShopId,
        from: u32,
        sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "UPDATE link_keys SET generation = ?2 + 1, sealed = ?3, rotated_at = ?4 WHERE shop_id = ?1 AND generation = ?2",
                params![shop.0, from, sealed, ms(now)],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_link_settings(&self, shop: ShopId, days: u32, show: bool) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "UPDATE link_keys SET days_after_delivery = ?2, show_address = ?3 WHERE shop_id = ?1",
                params![shop.0, days, show],
            )?;
            Ok(())
        })
        .await
    }

    async fn order_link_generation(&self, shop: ShopId, order: OrderId) -> Result<u32> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT generation FROM order_links WHERE shop_id = ?1 AND order_id = ?2",
                params![shop.0, order.0],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(generation)
            .unwrap_or(0))
        })
        .await
    }

    async fn revoke_order_links(
        &self,
        shop: ShopId,
        order: OrderId,
        by: String,
        now: DateTime<Utc>,
    ) -> Result<u32> {
        self.run(move |c| {
            Ok(generation(
                c.query_row(
                    "INSERT INTO order_links (shop_id, order_id, generation, revoked_at, revoked_by) VALUES (?1, ?2, 1, ?3, ?4)
                     ON CONFLICT (shop_id, order_id) DO UPDATE SET generation = generation + 1,
                         revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by
                     RETURNING generation",
                    params![shop.0, order.0, ms(now), by],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(sqlite_fk)?,
            ))
        })
        .await
    }
}

impl PgDb {
    async fn link_row(&self, shop: ShopId) -> Result<Option<Row>> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "SELECT generation, sealed, days_after_delivery, show_address FROM link_keys WHERE shop_id = $1",
            )
            .await?;
        Ok(c.query_opt(&stmt, &[&shop.0]).await?.map(|r| {
            (
                generation(r.get::<_, i32>(0).into()),
                r.get(1),
                generation(r.get::<_, i32>(2).into()),
                r.get(3),
            )
        }))
    }

    async fn insert_link_row(
        &self,
        shop: ShopId,
        sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO link_keys (shop_id, generation, sealed, days_after_delivery, show_address, rotated_at)
                 VALUES ($1, 1, $2, $3, true, $4) ON CONFLICT DO NOTHING",
            )
            .await?;
        c.execute(
            &stmt,
            &[
                &shop.0,
                &sealed,
                &(DEFAULT_DAYS_AFTER_DELIVERY as i32),
                &now,
            ],
        )
        .await
        .map_err(pg_fk)?;
        Ok(())
    }

    async fn rotate_link_row(
        &self,
        shop: ShopId,
        from: u32,
        sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE link_keys SET generation = $2 + 1, sealed = $3, rotated_at = $4 WHERE shop_id = $1 AND generation = $2",
            )
            .await?;
        c.execute(&stmt, &[&shop.0, &(from as i32), &sealed, &now])
            .await?;
        Ok(())
    }

    async fn set_link_settings(&self, shop: ShopId, days: u32, show: bool) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE link_keys SET days_after_delivery = $2, show_address = $3 WHERE shop_id = $1",
            )
            .await?;
        c.execute(&stmt, &[&shop.0, &(days as i32), &show]).await?;
        Ok(())
    }

    async fn order_link_generation(&self, shop: ShopId, order: OrderId) -> Result<u32> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "SELECT generation FROM order_links WHERE shop_id = $1 AND order_id = $2",
            )
            .await?;
        Ok(c.query_opt(&stmt, &[&shop.0, &order.0])
            .await?
            .map(|r| generation(r.get::<_, i32>(0).into()))
            .unwrap_or(0))
    }

    async fn revoke_order_links(
        &self,
        shop: ShopId,
        order: OrderId,
        by: String,
        now: DateTime<Utc>,
    ) -> Result<u32> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO order_links (shop_id, order_id, generation, revoked_at, revoked_by) VALUES ($1, $2, 1, $3, $4)
                 ON CONFLICT (shop_id, order_id) DO UPDATE SET generation = order_links.generation + 1,
                     revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by
                 RETURNING generation",
            )
            .await?;
        let row = c
            .query_one(&stmt, &[&shop.0, &order.0, &now, &by])
            .await
            .map_err(pg_fk)?;
        Ok(generation(row.get::<_, i32>(0).into()))
    }
}

/// How a shop's tracking page looks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Branding {
    /// `#rrggbb`.
    pub color: Option<String>,
    /// The logo's bytes and media type (`image/png`, `image/jpeg`, `image/webp`).
    pub logo: Option<(Vec<u8>, String)>,
}

/// The largest logo kept.
pub const MAX_LOGO: usize = 100 * 1024;

/// The media type of a logo's bytes, by their signature (what the bytes are, not what a
/// caller says they are).
pub fn logo_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

impl Db {
    /// The shop's branding (none set: the defaults).
    pub async fn branding(&self, shop: ShopId) -> Result<Branding> {
        each!(self, db => db.branding(shop).await)
    }

    /// Sets the shop's branding, checked: a colour `#rrggbb`, a logo of at most 100 KiB that
    /// is a PNG, JPEG or WebP image.
    pub async fn set_branding(&self, shop: ShopId, b: Branding, now: DateTime<Utc>) -> Result<()> {
        if let Some(c) = &b.color
            && !(c.len() == 7
                && c.starts_with('#')
                && c[1..].bytes().all(|x| x.is_ascii_hexdigit()))
        {
            return Err(Error::invalid("color", "use #rrggbb, for example #1f5fd1"));
        }
        if let Some((bytes, _)) = &b.logo {
            if bytes.len() > MAX_LOGO {
                return Err(Error::invalid(
                    "logo",
                    format!("at most {} KiB", MAX_LOGO / 1024),
                ));
            }
            if logo_type(bytes).is_none() {
                return Err(Error::invalid("logo", "a PNG, JPEG or WebP image"));
            }
        }
        let b = Branding {
            color: b.color.map(|c| c.to_ascii_lowercase()),
            logo: b.logo.map(|(bytes, _)| {
                let t = logo_type(&bytes).unwrap_or("image/png").to_owned();
                (bytes, t)
            }),
        };
        each!(self, db => db.set_branding(shop, b, trunc(now)).await)
    }
}

impl SqliteDb {
    async fn branding(&self, shop: ShopId) -> Result<Branding> {
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT color, logo, logo_type FROM shop_branding WHERE shop_id = ?1",
                [shop.0],
                |r| {
                    let logo: Option<Vec<u8>> = r.get(1)?;
                    let t: Option<String> = r.get(2)?;
                    Ok(Branding {
                        color: r.get(0)?,
                        logo: logo.zip(t),
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
        })
        .await
    }

    async fn set_branding(&self, shop: ShopId, b: Branding, now: DateTime<Utc>) -> Result<()> {
        self.run(move |c| {
            let (logo, t) = b.logo.map_or((None, None), |(l, t)| (Some(l), Some(t)));
            c.execute(
                "INSERT INTO shop_branding (shop_id, color, logo, logo_type, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (shop_id) DO UPDATE SET color = excluded.color, logo = excluded.logo,
                     logo_type = excluded.logo_type, updated_at = excluded.updated_at",
                params![shop.0, b.color, logo, t, ms(now)],
            )
            .map_err(sqlite_fk)?;
            Ok(())
        })
        .await
    }
}

impl PgDb {
    async fn branding(&self, shop: ShopId) -> Result<Branding> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached("SELECT color, logo, logo_type FROM shop_branding WHERE shop_id = $1")
            .await?;
        Ok(c.query_opt(&stmt, &[&shop.0])
            .await?
            .map(|r| {
                let logo: Option<Vec<u8>> = r.get(1);
                let t: Option<String> = r.get(2);
                Branding {
                    color: r.get(0),
                    logo: logo.zip(t),
                }
            })
            .unwrap_or_default())
    }

    async fn set_branding(&self, shop: ShopId, b: Branding, now: DateTime<Utc>) -> Result<()> {
        let c = self.pool.get().await?;
        let (logo, t) = b.logo.map_or((None, None), |(l, t)| (Some(l), Some(t)));
        let stmt = c
            .prepare_cached(
                "INSERT INTO shop_branding (shop_id, color, logo, logo_type, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (shop_id) DO UPDATE SET color = excluded.color, logo = excluded.logo,
                     logo_type = excluded.logo_type, updated_at = excluded.updated_at",
            )
            .await?;
        c.execute(&stmt, &[&shop.0, &b.color, &logo, &t, &now])
            .await
            .map_err(pg_fk)?;
        Ok(())
    }
}
