//! `parceltrail server --demo`: a demo shop whose orders the built-in carrier simulator
//! moves along, as the app's demo does.
//!
//! - **One demo shop per database**, found again by its name and its owner's address (an
//!   address has one account), so a second `--demo` start, or a replica, reuses it. Its
//!   orders are saved with "merge": a restart adds none twice.
//! - **The journeys keep their timeline**: the simulator's start time and speed are kept in
//!   the demo shop's own store (a setting), so the same parcels answer the same way after a
//!   restart, on SQLite or PostgreSQL, on every replica, and nothing is stored twice. The
//!   shop's maker writes it; a replica starting at the same moment waits for it.
//! - **A fresh API key each start**, printed: the database keeps only keys' digests, so the
//!   one printed at the first start cannot be shown again. Earlier keys keep working
//!   (`parceltrail server key list|revoke` manage them). The owner's one-time set-up link is
//!   printed when the shop is made; later starts point to the sign-in page.
//! - **Demo numbers only reach the simulator**: the demo shop's poller has only the
//!   simulator's adapter, which answers for demo numbers alone, and every carrier account's
//!   adapter refuses them (`parceltrail_app::sources`). A server started without `--demo` on
//!   the same database leaves the demo shop alone (it has no simulator to ask).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, FixedOffset, Utc};
use parceltrail_app::sources::{self, DEMO_PARCELS, DEMO_SEED, DEMO_SPEED, DemoEpoch};
use parceltrail_core::domain::{Customer, OrderId, OrderStage};
use parceltrail_core::store::{NewOrder, NewShipment, OnExisting, OrderInfo};
use parceltrail_server::shop::background::DemoSource;
use parceltrail_shop::stores::Stores;
use parceltrail_shop::{Db, Scopes, ShopId};
use parceltrail_sim::SimParcel;

/// The demo shop's name.
pub const SHOP_NAME: &str = "Parceltrail Demo Shop";
/// Its owner's sign-in address (`.invalid`: no mail is ever sent there).
pub const OWNER: &str = "demo@parceltrail.invalid";
/// The setting in the demo shop's store that holds the simulator's epoch.
const EPOCH_SETTING: &str = parceltrail_server::shop::background::DEMO_EPOCH_SETTING;

/// The demo, ready to serve.
pub struct Demo {
    /// The demo shop.
    pub shop: ShopId,
    /// An API key for it (read, write, ingest), made at this start.
    pub api_key: String,
    /// The owner's one-time set-up link token, when the shop was made at this start.
    pub setup_token: Option<String>,
    /// The demo's orders.
    pub orders: Vec<OrderId>,
    /// How many times faster than real time its journeys run.
    pub speed: f64,
    /// What the background work polls the demo shop with.
    pub source: DemoSource,
    sim: tokio::task::JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.sim.abort();
    }
}

/// A customer of the demo shop: name, email, phone, postcode, address, sales channel, and how
/// many parcels their order has (12 in all: the simulator's demo parcels).
const CUSTOMERS: [(&str, &str, &str, &str, &str, &str, usize); 9] = [
    (
        "Ada Lovelace",
        "ada.lovelace@example.com",
        "+44 20 7946 0001",
        "NW1 6XE",
        "12 Dorset St, London",
        "web",
        2,
    ),
    (
        "Grace Hopper",
        "grace.hopper@example.com",
        "+1 202 555 0102",
        "10001",
        "350 5th Ave, New York",
        "web",
        1,
    ),
    (
        "Katherine Johnson",
        "k.johnson@example.com",
        "+1 757 555 0103",
        "23666",
        "1 Langley Blvd, Hampton",
        "marketplace",
        1,
    ),
    (
        "Hedy Lamarr",
        "hedy@example.com",
        "+43 1 555 0104",
        "1010",
        "Graben 21, Wien",
        "web",
        2,
    ),
    (
        "Alan Turing",
        "alan.turing@example.com",
        "+44 161 555 0105",
        "M1 3BB",
        "7 Sackville St, Manchester",
        "phone",
        1,
    ),
    (
        "Emmy Noether",
        "emmy.noether@example.com",
        "+49 551 555 0106",
        "37073",
        "Bunsenstraße 3, Göttingen",
        "marketplace",
        1,
    ),
    (
        "Margaret Hamilton",
        "m.hamilton@example.com",
        "+1 617 555 0107",
        "02139",
        "77 Massachusetts Ave, Cambridge",
        "web",
        2,
    ),
    (
        "Tim Berners-Lee",
        "timbl@example.com",
        "+41 22 555 0108",
        "1211",
        "Route de Meyrin 385, Genève",
        "web",
        1,
    ),
    (
        "Marie Curie",
        "marie.curie@example.com",
        "+33 1 55 50 01 09",
        "75005",
        "11 Rue Pierre et Marie Curie, Paris",
        "phone",
        1,
    ),
];

/// Make (or find) the demo shop, its epoch, key and orders, and start the simulator on a
/// loopback port. `speed` applies when the demo is made.
pub async fn prepare(db: &Db, stores: &Stores, speed: Option<f64>, sim_rate: u32) -> Result<Demo> {
    let now = Utc::now();
    let (shop, api_key, setup_token) = match find(db).await? {
        Some(shop) => (shop, None, None),
        None => match db.create_shop(SHOP_NAME, OWNER, now).await {
            Ok(new) => (new.shop.id, Some(new.api_key), Some(new.setup_token)),
            // Another replica made it a moment ago (or the address is someone else's).
            Err(parceltrail_shop::Error::Conflict(_)) => match find(db).await? {
                Some(shop) => (shop, None, None),
                None => {
                    bail!("the demo shop's owner address {OWNER} belongs to another shop's account")
                }
            },
            Err(e) => return Err(e).context("cannot make the demo shop"),
        },
    };
    let made = setup_token.is_some();
    let api_key = match api_key {
        Some(k) => k,
        None => {
            let name = format!("demo (started {})", now.format("%Y-%m-%d %H:%M UTC"));
            db.create_key(shop, &name, Scopes::ALL, now).await?.1
        }
    };
    let store = stores
        .get(shop)
        .await
        .context("cannot open the demo shop's store")?;
    let epoch = epoch(&store, made, speed).await?;
    let sim = Arc::new(sources::demo_sim(&epoch));
    let orders = demo_orders(sim.parcels(), epoch.speed);
    let ids = store
        .write(move |s| {
            orders
                .iter()
                .map(|o| Ok(s.save_order(o, OnExisting::Merge, Utc::now())?.order.id))
                .collect::<parceltrail_core::Result<Vec<_>>>()
        })
        .await
        .context("cannot save the demo orders")?;
    let (addr, task) = parceltrail_sim::serve(sim, ([127, 0, 0, 1], 0).into())
        .await
        .context("cannot start the demo's carrier simulator")?;
    Ok(Demo {
        shop,
        api_key,
        setup_token,
        orders: ids,
        speed: epoch.speed,
        source: DemoSource {
            shop,
            adapter: sources::demo_adapter(&format!("http://{addr}"), sim_rate),
            time_scale: epoch.speed,
        },
        sim: task,
    })
}

/// The demo shop: the shop of that name whose staff has the demo owner's address.
async fn find(db: &Db) -> Result<Option<ShopId>> {
    for shop in db.shops().await? {
        if shop.name == SHOP_NAME && db.staff(shop.id).await?.iter().any(|m| m.email == OWNER) {
            return Ok(Some(shop.id));
        }
    }
    Ok(None)
}

/// The simulator's epoch, as kept in the demo shop's store; its maker writes a new one.
async fn epoch(
    store: &Arc<parceltrail_shop::stores::ShopStore>,
    made: bool,
    speed: Option<f64>,
) -> Result<DemoEpoch> {
    let read = || store.read(|s| s.setting(EPOCH_SETTING));
    // A replica that did not make the shop waits for its maker to write the epoch (a few
    // seconds at most), so both run one timeline.
    let mut stored = read().await?;
    for _ in 0..(if made { 0 } else { 20 }) {
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        stored = read().await?;
    }
    if let Some(json) = stored {
        let e: DemoEpoch = serde_json::from_str(&json)
            .context("the demo shop's simulator settings (setting demo_epoch) are unreadable")?;
        if (e.seed, e.parcels) != (DEMO_SEED, DEMO_PARCELS)
            || parceltrail_sim::check_speed(e.speed).is_err()
        {
            bail!("the demo shop's simulator settings (setting demo_epoch) are not the demo's");
        }
        return Ok(e);
    }
    let e = DemoEpoch {
        seed: DEMO_SEED,
        parcels: DEMO_PARCELS,
        speed: speed.unwrap_or(DEMO_SPEED),
        start: Utc::now(),
    };
    let json = serde_json::to_string(&e)?;
    store
        .write(move |s| s.set_setting(EPOCH_SETTING, &json, Utc::now()))
        .await?;
    Ok(e)
}

/// The demo orders: the simulator's parcels, one or two to an order, for the customers
/// above; placed shortly before their first label, promised three (simulated) days later.
fn demo_orders(parcels: &[SimParcel], speed: f64) -> Vec<NewOrder> {
    // A simulated span in real time.
    let real = |hours: f64| chrono::Duration::milliseconds((hours * 3_600_000.0 / speed) as i64);
    let mut rest = parcels;
    CUSTOMERS
        .iter()
        .enumerate()
        .map(|(i, (name, email, phone, postcode, address, channel, n))| {
            let (mine, others) = rest.split_at((*n).min(rest.len()));
            rest = others;
            let first = mine
                .iter()
                .map(|p| p.starts_at)
                .min()
                .unwrap_or_else(Utc::now);
            let placed: DateTime<FixedOffset> = (first - real(6.0)).fixed_offset();
            let items: Vec<&str> = mine.iter().map(|p| p.items).collect();
            NewOrder {
                id: OrderId::new(),
                info: OrderInfo {
                    store: Some((*channel).to_owned()),
                    order_number: Some(format!("DEMO-{}", 1001 + i)),
                    items: Some(items.join(", ")),
                    placed_at: Some(placed),
                    notes: Some(
                        "Demo order: the built-in carrier simulator moves its parcels along".into(),
                    ),
                    promised_at: Some(placed + real(72.0)),
                },
                customer: Customer {
                    name: Some((*name).to_owned()),
                    email: Some((*email).to_owned()),
                    phone: Some((*phone).to_owned()),
                    postcode: Some((*postcode).to_owned()),
                    address: Some((*address).to_owned()),
                },
                stage: OrderStage::default(),
                actor: "demo".into(),
                shipments: mine
                    .iter()
                    .map(|p| NewShipment {
                        tracking_number: p.number.clone(),
                        carrier: "dhl".into(),
                        service: None,
                        label: Some(p.items.to_owned()),
                        order: OrderInfo::default(),
                        events: Vec::new(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// What `--demo` prints after the server's address: the shop, its key, the owner's link,
/// and requests to try.
pub fn print(demo: &Demo, base: &str) {
    use std::io::Write;
    let key = &demo.api_key;
    let mut lines = vec![
        format!(
            "Demo shop {SHOP_NAME:?} ({}): {} orders, moved along by the built-in carrier simulator at {}× real time.",
            demo.shop,
            demo.orders.len(),
            demo.speed
        ),
        format!("API key (read, write, ingest; made at this start): {key}"),
    ];
    match &demo.setup_token {
        Some(token) => lines.push(format!(
            "The owner {OWNER} sets a password at (valid {} days, once): {base}/setup#{token}",
            parceltrail_shop::db::SETUP_LINK_DAYS
        )),
        None => lines.push(format!(
            "Sign in as {OWNER} at {base}/login (the set-up link was printed when the demo shop was made)."
        )),
    }
    lines.push("Try:".into());
    lines.push(format!(
        "  curl -s {base}/api/v1/orders -H \"Authorization: Bearer {key}\""
    ));
    if let Some(first) = demo.orders.first() {
        lines.push(format!(
            "  curl -s {base}/api/v1/orders/{first} -H \"Authorization: Bearer {key}\""
        ));
    }
    lines.push(format!(
        "  curl -N {base}/api/v1/events -H \"Authorization: Bearer {key}\"    # changes as they happen"
    ));
    // Standard output may be closed (a supervisor that reads the first line only): the
    // server keeps running.
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_orders_hold_every_demo_parcel_once() {
        let epoch = DemoEpoch {
            seed: DEMO_SEED,
            parcels: DEMO_PARCELS,
            speed: DEMO_SPEED,
            start: Utc::now(),
        };
        let sim = sources::demo_sim(&epoch);
        let orders = demo_orders(sim.parcels(), epoch.speed);
        let numbers: Vec<&str> = orders
            .iter()
            .flat_map(|o| o.shipments.iter().map(|s| s.tracking_number.as_str()))
            .collect();
        assert_eq!(numbers.len(), DEMO_PARCELS);
        for n in &numbers {
            assert!(sources::demo_numbers().contains(*n), "{n}");
        }
        assert!(orders.iter().filter(|o| o.shipments.len() == 2).count() >= 3);
        for o in &orders {
            let placed = o.info.placed_at.unwrap();
            assert!(o.info.promised_at.unwrap() > placed);
            assert!(
                o.customer
                    .email
                    .as_deref()
                    .unwrap()
                    .ends_with("@example.com")
            );
        }
    }
}
