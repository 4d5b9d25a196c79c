//! Customers' notifications: core's pipeline records each piece of news in the shop's outbox
//! (once, across restarts and replicas: a row is claimed before it is sent) and hands it to
//! a channel here, which finds the order's customer, words the message for them and sends it:
//! email over SMTP, SMS through Twilio's API. Each message carries the order's signed tracking
//! link; an email also carries a one-click unsubscribe (RFC 8058), honoured before any send.

use std::sync::Arc;

use chrono::Utc;
use parceltrail_core::domain::{Order, Shipment, Status};
use parceltrail_core::notify::rules::{ChannelPrefs, Kind, KindSet, Prefs, clip};
use parceltrail_core::notify::{Channel, Message, Notifier, NotifyError};
use parceltrail_core::problems::ProblemKind;
use parceltrail_notifiers::email::{Email, Mailer};
use parceltrail_notifiers::sms::Twilio;
use parceltrail_shop::ShopId;
use parceltrail_shop::links::LinkScope;
use parceltrail_shop::requests::{Request, RequestKind, RequestState};
use parceltrail_shop::stores::ShopStore;

use super::ShopState;
use super::track::{link_url, mint};

/// The channels the operator configured: each is on for every shop.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    /// Email, when an SMTP relay is set.
    pub email: Option<Mailer>,
    /// SMS, when a Twilio account is set.
    pub sms: Option<Twilio>,
    /// Web Push to the browsers that ask, when the operator offers it.
    pub push: bool,
}

impl Channels {
    /// The channels on, as core names them.
    pub fn configured(&self) -> Vec<Channel> {
        let mut c = Vec::new();
        if self.email.is_some() {
            c.push(Channel::Email);
        }
        if self.sms.is_some() {
            c.push(Channel::Sms);
        }
        if self.push {
            c.push(Channel::Push);
        }
        c
    }
}

/// A shop's notification settings with the configured channels on (each keeps the kinds of
/// news it had; a new one gets the defaults). Quiet hours stay as the shop set them (none
/// until it does).
pub fn shop_prefs(stored: Option<Prefs>, channels: &Channels) -> Prefs {
    let stored = stored.unwrap_or(Prefs {
        channels: Vec::new(),
        quiet: None,
        tz: chrono_tz::Tz::UTC,
    });
    let channels = channels
        .configured()
        .into_iter()
        .map(|channel| {
            let kinds = stored
                .channels
                .iter()
                .find(|p| p.channel == channel)
                .map_or_else(KindSet::default_kinds, |p| p.kinds);
            ChannelPrefs {
                channel,
                enabled: true,
                kinds,
            }
        })
        .collect();
    Prefs { channels, ..stored }
}

/// The notifiers for one shop's pipeline.
pub fn notifiers(state: &Arc<ShopState>, store: &Arc<ShopStore>) -> Vec<Arc<dyn Notifier>> {
    state
        .channels
        .configured()
        .into_iter()
        .map(|channel| {
            Arc::new(Customer {
                channel,
                state: state.clone(),
                store: store.clone(),
            }) as Arc<dyn Notifier>
        })
        .collect()
}

/// One channel to one shop's customers.
struct Customer {
    channel: Channel,
    state: Arc<ShopState>,
    store: Arc<ShopStore>,
}

/// What a message about a parcel says, in the customer's words.
struct Wording {
    /// "has been delivered".
    headline: &'static str,
    /// For SMS: "delivered".
    short: &'static str,
}

/// The words for the news a message leads with (or, for one without, the parcel's status).
fn wording(kind: Option<Kind>, status: Status) -> Wording {
    let (headline, short) = match kind {
        Some(Kind::Delivered) => ("has been delivered", "delivered"),
        Some(Kind::OutForDelivery) => ("is out for delivery today", "out for delivery today"),
        Some(Kind::ReadyForPickup) => ("is ready for pickup", "ready for pickup"),
        Some(Kind::Shipped) => ("is on its way", "on its way"),
        Some(Kind::Problem(p)) => match p {
            ProblemKind::FailedAttempt => (
                "could not be delivered: the carrier will try again or leave a note",
                "delivery attempt failed",
            ),
            ProblemKind::Late => ("is running late", "running late"),
            ProblemKind::Stuck => ("is taking longer than usual", "taking longer than usual"),
            ProblemKind::CustomsHold => ("is held in customs", "held in customs"),
            ProblemKind::Returned => ("is on its way back to us", "returned to the shop"),
            ProblemKind::Expired => (
                "has had no news from the carrier for a long time",
                "no news from the carrier",
            ),
            ProblemKind::Exception => ("is delayed: the carrier reports a problem", "delayed"),
        },
        None => match status {
            Status::Delivered => ("has been delivered", "delivered"),
            Status::OutForDelivery => ("is out for delivery today", "out for delivery today"),
            _ => ("has news", "has news"),
        },
    };
    Wording { headline, short }
}

/// The customer's address or number for a channel, or why there is none.
fn recipient(field: &Option<String>, what: &str) -> Result<String, NotifyError> {
    field
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| NotifyError::Rejected(format!("the order has no {what}")))
}

/// Text for an HTML part.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Carrier, shop and customer text, on one line.
fn line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Customer {
    async fn parcel(&self, message: &Message) -> Result<(Shipment, Order), NotifyError> {
        let Some(id) = message.shipment_id else {
            return Err(NotifyError::Rejected(
                "a summary is not about one customer's order".into(),
            ));
        };
        self.store
            .read(move |s| {
                let shipment = s.shipment(id)?;
                let order = s.order(shipment.order_id)?;
                Ok((shipment, order))
            })
            .await
            .map_err(|e| match e {
                parceltrail_core::Error::NotFound(_) => {
                    NotifyError::Rejected("the order was removed".into())
                }
                e => NotifyError::Unavailable(format!("the shop's store: {e}")),
            })
    }

    async fn link(&self, order: &Order, scope: LinkScope) -> Result<String, NotifyError> {
        let shop = self.store.shop();
        let (token, _) = mint(&self.state, shop, order.id, scope, None)
            .await
            .map_err(|p| NotifyError::Unavailable(format!("the tracking link: {}", p.title)))?;
        Ok(match scope {
            LinkScope::Unsubscribe => {
                format!("{}/u/{token}", self.state.public_url.trim_end_matches('/'))
            }
            _ => link_url(&self.state.public_url, &token),
        })
    }

    async fn send_email(
        &self,
        mailer: &Mailer,
        shop_name: &str,
        shipment: &Shipment,
        order: &Order,
        kind: Option<Kind>,
    ) -> Result<(), NotifyError> {
        let to = recipient(&order.customer.email, "an email address")?;
        let link = self.link(order, LinkScope::Link).await?;
        let unsubscribe = self.link(order, LinkScope::Unsubscribe).await?;
        let shop = line(shop_name);
        let number = order.order_number.as_deref().map(line).unwrap_or_default();
        let first = order
            .customer
            .name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
            .map(line);
        let w = wording(kind, shipment.status);
        let carrier =
            parceltrail_core::view::CarrierBadge::new(&shipment.carrier, &shipment.tracking_number)
                .name;
        let order_words = if number.is_empty() {
            "Your order".to_owned()
        } else {
            format!("Your order {number}")
        };
        let estimate = shipment
            .estimate
            .as_ref()
            .filter(|_| !shipment.status.is_terminal() && kind != Some(Kind::Delivered))
            .map(|e| parceltrail_core::eta::describe(e, Utc::now(), chrono_tz::Tz::UTC));
        let greeting = first
            .as_deref()
            .map_or_else(|| "Hello,".to_owned(), |n| format!("Hello {n},"));
        let mut text = format!(
            "{greeting}\n\n{order_words} {}.\nParcel: {carrier} {}\n",
            w.headline, shipment.tracking_number
        );
        if let Some(e) = &estimate {
            text.push_str(&format!("Expected: {e}\n"));
        }
        // The one ask for feedback: with the delivery's news.
        let rate = (kind == Some(Kind::Delivered)).then(|| format!("{link}#feedback"));
        if let Some(r) = &rate {
            text.push_str(&format!("\nHow did the delivery go? Rate it: {r}\n"));
        }
        text.push_str(&format!(
            "\nTrack your order: {link}\n\n{shop}\n\n--\nYou get this email about an order you placed with {shop}. Stop emails about this order: {unsubscribe}\n"
        ));
        let html = format!(
            concat!(
                "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#181b20\">",
                "<p>{greeting}</p><p><strong>{order_words} {headline}.</strong></p>",
                "<p>Parcel: {carrier} <code>{number}</code>{estimate}</p>{rate}",
                "<p><a href=\"{link}\" style=\"display:inline-block;padding:10px 18px;background:#1f5fd1;color:#fff;border-radius:8px;text-decoration:none\">Track your order</a></p>",
                "<p>{shop}</p><hr><p style=\"font-size:12px;color:#55606d\">You get this email about an order you placed with {shop}. ",
                "<a href=\"{unsubscribe}\">Stop emails about this order</a>.</p></body></html>"
            ),
            greeting = esc(&greeting),
            order_words = esc(&order_words),
            headline = esc(w.headline),
            carrier = esc(&carrier),
            number = esc(&shipment.tracking_number),
            estimate = estimate
                .as_ref()
                .map(|e| format!("<br>Expected: {}", esc(e)))
                .unwrap_or_default(),
            rate = rate
                .as_ref()
                .map(|r| format!(
                    "<p>How did the delivery go? <a href=\"{}\">Rate it</a></p>",
                    esc(r)
                ))
                .unwrap_or_default(),
            link = esc(&link),
            shop = esc(&shop),
            unsubscribe = esc(&unsubscribe),
        );
        let mut subject = clip(&format!("{shop}: {order_words} {}", w.headline), 120);
        let (mut text, mut html) = (text, html);
        // The shop's own wording, when it has one for this news (or a default one).
        if let Some(t) = self.template(kind).await? {
            let fields = super::templates::Fields {
                shop: shop.clone(),
                first_name: first.clone().unwrap_or_default(),
                order_number: number.clone(),
                carrier: carrier.to_string(),
                tracking_number: shipment.tracking_number.clone(),
                status: w.headline.to_owned(),
                estimate: estimate.clone().unwrap_or_default(),
                tracking_url: link.clone(),
                feedback_url: rate.clone().unwrap_or_default(),
            };
            match super::templates::render(&t, &fields) {
                Ok(r) => {
                    subject = clip(&r.subject, 200);
                    text = format!(
                        "{}\n\n--\nYou get this email about an order you placed with {shop}. Stop emails about this order: {unsubscribe}\n",
                        r.text.trim_end()
                    );
                    let footer = format!(
                        "<hr><p style=\"font-size:12px;color:#55606d\">You get this email about an order you placed with {}. <a href=\"{}\">Stop emails about this order</a>.</p>",
                        esc(&shop),
                        esc(&unsubscribe)
                    );
                    html = match r.html.rfind("</body>") {
                        Some(at) => format!("{}{footer}{}", &r.html[..at], &r.html[at..]),
                        None => format!(
                            "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#181b20\">{}{footer}</body></html>",
                            r.html
                        ),
                    };
                }
                // A template that no longer renders (a field gone): the server's wording.
                Err(e) => {
                    tracing::warn!(shop = %self.store.shop(), error = %e, "the shop's email template did not render")
                }
            }
        }
        mailer
            .send(&Email {
                to,
                to_name: order.customer.name.as_deref().map(line),
                from_name: Some(shop.clone()),
                subject,
                text,
                html,
                unsubscribe: Some(unsubscribe),
            })
            .await
    }

    async fn send_sms(
        &self,
        twilio: &Twilio,
        shop_name: &str,
        shipment: &Shipment,
        order: &Order,
        message: &Message,
    ) -> Result<(), NotifyError> {
        let kind = message.kind;
        let to = recipient(&order.customer.phone, "a phone number")?;
        // A number that replied STOP gets nothing more (Twilio would refuse it anyway).
        if let Some(phone) = parceltrail_shop::sms::phone_key(&to)
            && self
                .state
                .db
                .sms_opted_out(&phone)
                .await
                .map_err(|e| NotifyError::Unavailable(format!("the shop database: {e}")))?
        {
            return Err(NotifyError::Rejected(
                "the customer replied STOP to this shop's texts".into(),
            ));
        }
        let link = self.link(order, LinkScope::Link).await?;
        let number = order.order_number.as_deref().map(line).unwrap_or_default();
        let w = wording(kind, shipment.status);
        // At most 160 characters, the link whole: the words give way.
        let room = 160usize.saturating_sub(link.chars().count() + 1);
        let words = clip(
            &format!("{}: order {number} {}.", line(shop_name), w.short),
            room,
        );
        let body = format!("{words} {link}");
        let callback = super::twilio::status_url(&self.state.public_url);
        let sid = twilio.send(to.trim(), &body, Some(&callback)).await?;
        // Kept for Twilio's reports on it; a failure to keep it loses only those.
        if let Err(e) = self
            .state
            .db
            .record_sms(
                self.store.shop(),
                order.id,
                message.id,
                &sid,
                to.trim(),
                Utc::now(),
            )
            .await
        {
            tracing::warn!(error = %e, "recording a sent SMS failed");
        }
        Ok(())
    }
}

/// The words for a decided request: (subject's end, the first line).
fn decision_words(r: &Request) -> (&'static str, &'static str) {
    use RequestKind::*;
    use RequestState::*;
    match (r.kind, r.state) {
        (Address, Approved) => (
            "new delivery address confirmed",
            "We have changed the delivery address of your order, as you asked.",
        ),
        (Address, _) => (
            "delivery address unchanged",
            "We could not change the delivery address of your order.",
        ),
        (Instructions, Approved) => (
            "delivery instructions passed on",
            "We have passed your delivery instructions on.",
        ),
        (Instructions, _) => (
            "delivery instructions not passed on",
            "We could not pass your delivery instructions on.",
        ),
        (Cancel, Approved) => (
            "order cancelled",
            "We have cancelled your order, as you asked.",
        ),
        (Cancel, _) => (
            "order not cancelled",
            "We could not cancel your order: it is on its way to you.",
        ),
    }
}

impl Customer {
    /// The email telling a customer what the shop decided on their request.
    async fn send_decision(&self, id: &str) -> Result<(), NotifyError> {
        if self.channel != Channel::Email {
            return Err(NotifyError::Rejected(
                "a request's decision goes by email".into(),
            ));
        }
        let Some(mailer) = &self.state.channels.email else {
            return Err(NotifyError::Unavailable("email is not configured".into()));
        };
        let id: uuid::Uuid = id
            .parse()
            .map_err(|_| NotifyError::Rejected("not a request's id".into()))?;
        let shop = self.store.shop();
        let db = |e: parceltrail_shop::Error| match e {
            parceltrail_shop::Error::NotFound => NotifyError::Rejected("no such request".into()),
            e => NotifyError::Unavailable(format!("the shop database: {e}")),
        };
        let request = self.state.db.request(shop, id).await.map_err(db)?;
        if matches!(request.state, RequestState::Withdrawn | RequestState::Open) {
            return Err(NotifyError::Rejected(format!(
                "the request is {}: no decision to tell",
                request.state.as_str()
            )));
        }
        let order_id = request.order_id;
        let order = self
            .store
            .read(move |s| s.order(order_id))
            .await
            .map_err(|e| match e {
                parceltrail_core::Error::NotFound(_) => {
                    NotifyError::Rejected("the order was removed".into())
                }
                e => NotifyError::Unavailable(format!("the shop's store: {e}")),
            })?;
        let choice = self
            .state
            .db
            .contact_choice(shop, order.id)
            .await
            .map_err(db)?;
        if choice.email_off {
            return Err(NotifyError::Rejected(
                "the customer unsubscribed from this order's emails".into(),
            ));
        }
        let to = recipient(&order.customer.email, "an email address")?;
        let shop_name = super::track::shop_side(&self.state, shop)
            .await
            .map_err(db)?
            .shop
            .name
            .clone();
        let shop_name = line(&shop_name);
        let link = self.link(&order, LinkScope::Link).await?;
        let unsubscribe = self.link(&order, LinkScope::Unsubscribe).await?;
        let number = order.order_number.as_deref().map(line).unwrap_or_default();
        let (subject_end, first_line) = decision_words(&request);
        let note = request.history.last().and_then(|h| h.note.clone());
        let greeting = order
            .customer
            .name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
            .map(line)
            .map_or_else(|| "Hello,".to_owned(), |n| format!("Hello {n},"));
        let mut text = format!("{greeting}\n\n{first_line}\n");
        if let Some(n) = &note {
            text.push_str(&format!("\n{shop_name}: \u{201c}{n}\u{201d}\n"));
        }
        text.push_str(&format!(
            "\nYour order: {link}\n\n{shop_name}\n\n--\nYou get this email about an order you placed with {shop_name}. Stop emails about this order: {unsubscribe}\n"
        ));
        let html = format!(
            concat!(
                "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#181b20\">",
                "<p>{greeting}</p><p><strong>{first}</strong></p>{note}",
                "<p><a href=\"{link}\" style=\"display:inline-block;padding:10px 18px;background:#1f5fd1;color:#fff;border-radius:8px;text-decoration:none\">See your order</a></p>",
                "<p>{shop}</p><hr><p style=\"font-size:12px;color:#55606d\">You get this email about an order you placed with {shop}. ",
                "<a href=\"{unsubscribe}\">Stop emails about this order</a>.</p></body></html>"
            ),
            greeting = esc(&greeting),
            first = esc(first_line),
            note = note
                .map(|n| format!(
                    "<blockquote style=\"white-space:pre-line\">{}</blockquote>",
                    esc(&n)
                ))
                .unwrap_or_default(),
            link = esc(&link),
            shop = esc(&shop_name),
            unsubscribe = esc(&unsubscribe),
        );
        let order_words = if number.is_empty() {
            "your order".to_owned()
        } else {
            format!("order {number}")
        };
        mailer
            .send(&Email {
                to,
                to_name: order.customer.name.as_deref().map(line),
                from_name: Some(shop_name.clone()),
                subject: clip(&format!("{shop_name}: {order_words}, {subject_end}"), 120),
                text,
                html,
                unsubscribe: Some(unsubscribe),
            })
            .await
    }
}

impl Customer {
    /// The shop's template for the news, else its default one.
    async fn template(
        &self,
        kind: Option<Kind>,
    ) -> Result<Option<parceltrail_shop::db::Template>, NotifyError> {
        let shop = self.store.shop();
        let db = |e: parceltrail_shop::Error| {
            NotifyError::Unavailable(format!("the shop database: {e}"))
        };
        if let Some(k) = kind
            && let Some(t) = self.state.db.template(shop, k.as_str()).await.map_err(db)?
        {
            return Ok(Some(t));
        }
        self.state.db.template(shop, "default").await.map_err(db)
    }
}

impl Notifier for Customer {
    fn channel(&self) -> Channel {
        self.channel
    }

    fn send<'a>(
        &'a self,
        message: &'a Message,
    ) -> futures_util::future::BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            if let Some(id) = message.link.strip_prefix(super::requests::REQUEST_LINK) {
                return self.send_decision(id).await;
            }
            let (shipment, order) = self.parcel(message).await?;
            let shop: ShopId = self.store.shop();
            let choice = self
                .state
                .db
                .contact_choice(shop, order.id)
                .await
                .map_err(|e| NotifyError::Unavailable(format!("the shop database: {e}")))?;
            // The name as the tracking pages read it (kept a moment per process).
            let shop_name = super::track::shop_side(&self.state, shop)
                .await
                .map_err(|e| NotifyError::Unavailable(format!("the shop database: {e}")))?
                .shop
                .name
                .clone();
            match self.channel {
                Channel::Email => {
                    if choice.email_off {
                        return Err(NotifyError::Rejected(
                            "the customer unsubscribed from this order's emails".into(),
                        ));
                    }
                    let Some(mailer) = &self.state.channels.email else {
                        return Err(NotifyError::Unavailable("email is not configured".into()));
                    };
                    self.send_email(mailer, &shop_name, &shipment, &order, message.kind)
                        .await
                }
                Channel::Sms => {
                    if choice.sms_off {
                        return Err(NotifyError::Rejected(
                            "the customer asked for no more SMS about this order".into(),
                        ));
                    }
                    let Some(twilio) = &self.state.channels.sms else {
                        return Err(NotifyError::Unavailable("SMS is not configured".into()));
                    };
                    self.send_sms(twilio, &shop_name, &shipment, &order, message)
                        .await
                }
                Channel::Push => {
                    let subs = self
                        .state
                        .db
                        .order_push(shop, order.id)
                        .await
                        .map_err(|e| NotifyError::Unavailable(format!("the shop database: {e}")))?;
                    if subs.is_empty() {
                        return Err(NotifyError::NotWanted(
                            "no browser asked for notifications about this order".into(),
                        ));
                    }
                    let link = self.link(&order, LinkScope::Link).await?;
                    let number = order.order_number.as_deref().map(line).unwrap_or_default();
                    let w = wording(message.kind, shipment.status);
                    let body = if number.is_empty() {
                        format!("Your order {}.", w.headline)
                    } else {
                        format!("Your order {number} {}.", w.headline)
                    };
                    super::push::send(
                        &self.state,
                        &subs,
                        &super::push::Payload {
                            title: &line(&shop_name),
                            body: &body,
                            url: &link,
                            tag: message.dedupe_key.to_string(),
                        },
                    )
                    .await
                }
                other => Err(NotifyError::Rejected(format!(
                    "the shop server does not send {other} notifications"
                ))),
            }
        })
    }
}
