//! Customers' notifications: core's pipeline records each piece of news in the shop's outbox
//! (once, across restarts and replicas: a row is claimed before it is sent) and hands it to
//! a channel here, which finds the order's customer, words the message for them and sends it:
//! email over SMTP, SMS through Twilio's API. Each message carries the order's signed tracking
//! link; an email also carries a one-click unsubscribe (RFC 8058), honoured before any send.

use std::sync::Arc;

use chrono::Utc;
use parceltrail_core::domain::{Order, Shipment};
use parceltrail_core::notify::rules::{ChannelPrefs, Kind, KindSet, Prefs, clip};
use parceltrail_core::notify::{Channel, Message, Notifier, NotifyError};
use parceltrail_core::store::OutboxState;
use parceltrail_notifiers::email::{Email, Mailer};
use parceltrail_notifiers::sms::Twilio;
use parceltrail_shop::ShopId;
use parceltrail_shop::links::LinkScope;
use parceltrail_shop::prefs::Effective;
use parceltrail_shop::requests::RequestState;
use parceltrail_shop::stores::ShopStore;

use super::track::{link_url, mint};
use super::{ShopState, words};

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

/// The pipeline's settings for a shop: every configured channel on, for every kind of news.
/// Whom each message reaches, which news and when is the customer's (over the shop's
/// defaults), decided as it is sent: quiet hours are read in each customer's zone, not the
/// store's, so the pipeline holds nothing itself.
pub fn shop_prefs(channels: &Channels) -> Prefs {
    Prefs {
        channels: channels
            .configured()
            .into_iter()
            .map(|channel| ChannelPrefs {
                channel,
                enabled: true,
                kinds: KindSet::all(),
            })
            .collect(),
        quiet: None,
        tz: chrono_tz::Tz::UTC,
    }
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
pub(crate) fn esc(s: &str) -> String {
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
pub(crate) fn line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The customer's first name, on one line.
fn first_name(order: &Order) -> Option<String> {
    order
        .customer
        .name
        .as_deref()
        .and_then(|n| n.split_whitespace().next())
        .map(line)
}

/// The footer every email ends with: why it came, and the one-click way to stop them.
fn footer_html(p: &words::Phrases, shop: &str, unsubscribe: &str) -> String {
    format!(
        "<hr><p style=\"font-size:12px;color:#55606d\">{} <a href=\"{}\">{}</a>.</p>",
        esc(&p.why(shop)),
        esc(unsubscribe),
        esc(p.stop)
    )
}

/// Whether the parcel's `log` holds later news than message `id` on `channel`, of a kind the
/// customer wants, that went or is going to them (ids are UUIDv7: later is greater).
fn overtaken(
    id: uuid::Uuid,
    channel: Channel,
    kinds: KindSet,
    log: &[parceltrail_core::store::OutboxEntry],
) -> bool {
    log.iter().any(|n| {
        n.id > id
            && n.channel == channel
            && matches!(
                n.state,
                OutboxState::Pending | OutboxState::Sent | OutboxState::Held
            )
            && n.kind.is_some_and(|k| kinds.contains(k))
    })
}

/// A message that waits for the customer's quiet hours to end.
fn quiet(until: chrono::DateTime<Utc>) -> NotifyError {
    NotifyError::Later {
        until,
        reason: format!(
            "waiting for the end of the customer's quiet hours ({})",
            until.format("%Y-%m-%d %H:%M UTC")
        ),
    }
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
        who: &Effective,
    ) -> Result<(), NotifyError> {
        let to = recipient(&order.customer.email, "an email address")?;
        let link = self.link(order, LinkScope::Link).await?;
        let unsubscribe = self.link(order, LinkScope::Unsubscribe).await?;
        let shop = line(shop_name);
        let number = order.order_number.as_deref().map(line).unwrap_or_default();
        let first = first_name(order);
        let p = words::phrases(who.language);
        let w = words::wording(who.language, kind, shipment.status);
        let carrier =
            parceltrail_core::view::CarrierBadge::new(&shipment.carrier, &shipment.tracking_number)
                .name;
        let order_words = p.order_words(&number);
        let estimate = shipment
            .estimate
            .as_ref()
            .filter(|_| !shipment.status.is_terminal() && kind != Some(Kind::Delivered))
            .map(|e| words::estimate(who.language, e, Utc::now(), who.time_zone));
        let greeting = p.greeting(first.as_deref());
        let mut text = format!(
            "{greeting}\n\n{order_words} {}.\n{}: {carrier} {}\n",
            w.headline, p.parcel, shipment.tracking_number
        );
        if let Some(e) = &estimate {
            text.push_str(&format!("{}: {e}\n", p.expected));
        }
        // The one ask for feedback: with the delivery's news.
        let rate = (kind == Some(Kind::Delivered)).then(|| format!("{link}#feedback"));
        if let Some(r) = &rate {
            text.push_str(&format!("\n{} {}: {r}\n", p.rate_question, p.rate_it));
        }
        let why = p.why(&shop);
        text.push_str(&format!(
            "\n{}: {link}\n\n{shop}\n\n--\n{why} {}: {unsubscribe}\n",
            p.track, p.stop
        ));
        let html = format!(
            concat!(
                "<!doctype html><html lang=\"{lang}\"><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#181b20\">",
                "<p>{greeting}</p><p><strong>{order_words} {headline}.</strong></p>",
                "<p>{parcel}: {carrier} <code>{number}</code>{estimate}</p>{rate}",
                "<p><a href=\"{link}\" style=\"display:inline-block;padding:10px 18px;background:#1f5fd1;color:#fff;border-radius:8px;text-decoration:none\">{track}</a></p>",
                "<p>{shop}</p>{footer}</body></html>"
            ),
            lang = who.language.code(),
            greeting = esc(&greeting),
            order_words = esc(&order_words),
            headline = esc(w.headline),
            parcel = esc(p.parcel),
            carrier = esc(&carrier),
            number = esc(&shipment.tracking_number),
            estimate = estimate
                .as_ref()
                .map(|e| format!("<br>{}: {}", esc(p.expected), esc(e)))
                .unwrap_or_default(),
            rate = rate
                .as_ref()
                .map(|r| format!(
                    "<p>{} <a href=\"{}\">{}</a></p>",
                    esc(p.rate_question),
                    esc(r),
                    esc(p.rate_it)
                ))
                .unwrap_or_default(),
            link = esc(&link),
            track = esc(p.track),
            shop = esc(&shop),
            footer = footer_html(p, &shop, &unsubscribe),
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
                        "{}\n\n--\n{why} {}: {unsubscribe}\n",
                        r.text.trim_end(),
                        p.stop
                    );
                    let footer = footer_html(p, &shop, &unsubscribe);
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
        who: &Effective,
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
        let w = words::wording(who.language, kind, shipment.status);
        // At most 160 characters, the link whole: the words give way. (The German words
        // stay within GSM-7, so 160 characters are one message there too.)
        let room = 160usize.saturating_sub(link.chars().count() + 1);
        let order_words = if number.is_empty() {
            words::phrases(who.language).subject_order.to_owned()
        } else {
            words::phrases(who.language)
                .order_number
                .replace("{number}", &number)
        };
        let words = clip(
            &format!("{}: {order_words} {}.", line(shop_name), w.short),
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
        let who = self.who(order.id).await?;
        if !who.email {
            return Err(NotifyError::Rejected(
                "the customer unsubscribed from this order's emails".into(),
            ));
        }
        if let Some(until) = who.quiet_until(None, Utc::now()) {
            return Err(quiet(until));
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
        let p = words::phrases(who.language);
        let (subject_end, first_line) = words::decision(who.language, request.kind, request.state);
        let note = request.history.last().and_then(|h| h.note.clone());
        let greeting = p.greeting(first_name(&order).as_deref());
        let mut text = format!("{greeting}\n\n{first_line}\n");
        if let Some(n) = &note {
            text.push_str(&format!("\n{shop_name}: \u{201c}{n}\u{201d}\n"));
        }
        text.push_str(&format!(
            "\n{}: {link}\n\n{shop_name}\n\n--\n{} {}: {unsubscribe}\n",
            p.see_order,
            p.why(&shop_name),
            p.stop
        ));
        let html = format!(
            concat!(
                "<!doctype html><html lang=\"{lang}\"><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#181b20\">",
                "<p>{greeting}</p><p><strong>{first}</strong></p>{note}",
                "<p><a href=\"{link}\" style=\"display:inline-block;padding:10px 18px;background:#1f5fd1;color:#fff;border-radius:8px;text-decoration:none\">{see}</a></p>",
                "<p>{shop}</p>{footer}</body></html>"
            ),
            lang = who.language.code(),
            greeting = esc(&greeting),
            first = esc(first_line),
            note = note
                .map(|n| format!(
                    "<blockquote style=\"white-space:pre-line\">{}</blockquote>",
                    esc(&n)
                ))
                .unwrap_or_default(),
            link = esc(&link),
            see = esc(p.see_order),
            shop = esc(&shop_name),
            footer = footer_html(p, &shop_name, &unsubscribe),
        );
        let order_words = if number.is_empty() {
            p.subject_order.to_owned()
        } else {
            p.order_number.replace("{number}", &number)
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
    /// The order's customer's notifications: their choice over the shop's defaults.
    async fn who(
        &self,
        order: parceltrail_core::domain::OrderId,
    ) -> Result<Effective, NotifyError> {
        let shop = self.store.shop();
        let db = |e: parceltrail_shop::Error| {
            NotifyError::Unavailable(format!("the shop database: {e}"))
        };
        // The defaults as the tracking pages read them (kept a moment per process).
        let settings = &super::track::shop_side(&self.state, shop)
            .await
            .map_err(db)?
            .notify;
        let choice = self
            .state
            .db
            .contact_choice(shop, order)
            .await
            .map_err(db)?;
        Ok(choice.over(settings))
    }

    /// Whether later news about the parcel, that the customer wants on this channel, was
    /// already sent or is waiting to be: this message would then tell them less than it,
    /// after it (a delivery let through quiet hours, before the "out for delivery" they held).
    async fn superseded(&self, message: &Message, who: &Effective) -> Result<bool, NotifyError> {
        let Some(id) = message.shipment_id else {
            return Ok(false);
        };
        let log = self
            .store
            .read(move |s| s.shipment_notifications(&[id], 50))
            .await
            .map_err(|e| NotifyError::Unavailable(format!("the shop's store: {e}")))?;
        Ok(overtaken(message.id, self.channel, who.kinds, &log))
    }

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
            if let Some(rest) = message.link.strip_prefix(super::alerts::ALERT_LINK) {
                return super::alerts::send(&self.state, &self.store, self.channel, rest).await;
            }
            if let Some(day) = message.link.strip_prefix(super::alerts::DIGEST_LINK) {
                return super::alerts::send_digest(&self.state, &self.store, self.channel, day)
                    .await;
            }
            let (shipment, order) = self.parcel(message).await?;
            let shop: ShopId = self.store.shop();
            let who = self.who(order.id).await?;
            let on = match self.channel {
                Channel::Email => who.email,
                Channel::Sms => who.sms,
                _ => true,
            };
            if !on {
                return Err(NotifyError::NotWanted(format!(
                    "the customer has {} off for this order",
                    self.channel
                )));
            }
            if let Some(kind) = message.kind
                && !who.kinds.contains(kind)
            {
                return Err(NotifyError::NotWanted(format!(
                    "the customer chose not to hear of {kind}"
                )));
            }
            if let Some(until) = who.quiet_until(message.kind, Utc::now()) {
                return Err(quiet(until));
            }
            if self.superseded(message, &who).await? {
                return Err(NotifyError::NotWanted(
                    "later news about the parcel went to the customer instead".into(),
                ));
            }
            // The name as the tracking pages read it (kept a moment per process).
            let shop_name = super::track::shop_side(&self.state, shop)
                .await
                .map_err(|e| NotifyError::Unavailable(format!("the shop database: {e}")))?
                .shop
                .name
                .clone();
            match self.channel {
                Channel::Email => {
                    let Some(mailer) = &self.state.channels.email else {
                        return Err(NotifyError::Unavailable("email is not configured".into()));
                    };
                    self.send_email(mailer, &shop_name, &shipment, &order, message.kind, &who)
                        .await
                }
                Channel::Sms => {
                    let Some(twilio) = &self.state.channels.sms else {
                        return Err(NotifyError::Unavailable("SMS is not configured".into()));
                    };
                    self.send_sms(twilio, &shop_name, &shipment, &order, message, &who)
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
                    let w = words::wording(who.language, message.kind, shipment.status);
                    let body = format!(
                        "{} {}.",
                        words::phrases(who.language).order_words(&number),
                        w.headline
                    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use parceltrail_core::notify::Urgency;
    use parceltrail_core::store::OutboxEntry;

    fn entry(channel: Channel, kind: Kind, state: OutboxState) -> OutboxEntry {
        OutboxEntry {
            id: uuid::Uuid::now_v7(),
            dedupe_key: uuid::Uuid::now_v7(),
            channel,
            shipment_id: None,
            kind: Some(kind),
            title: String::new(),
            body: String::new(),
            link: String::new(),
            urgency: Urgency::Normal,
            state,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            created_at: Utc::now(),
            sent_at: None,
        }
    }

    #[test]
    fn a_held_message_is_overtaken_only_by_later_wanted_news_on_its_channel() {
        let held = entry(Channel::Email, Kind::OutForDelivery, OutboxState::Pending);
        let all = KindSet::all();
        // Nothing later: it goes.
        assert!(!overtaken(
            held.id,
            Channel::Email,
            all,
            std::slice::from_ref(&held)
        ));
        // "Delivered", let through quiet hours and sent: the older news would come after it.
        let delivered = entry(Channel::Email, Kind::Delivered, OutboxState::Sent);
        assert!(overtaken(
            held.id,
            Channel::Email,
            all,
            &[held.clone(), delivered.clone()]
        ));
        // Not on this channel, not wanted, or given up: it still goes.
        assert!(!overtaken(
            held.id,
            Channel::Sms,
            all,
            &[held.clone(), delivered.clone()]
        ));
        let only_ofd = KindSet::NONE.with(Kind::OutForDelivery);
        assert!(!overtaken(
            held.id,
            Channel::Email,
            only_ofd,
            &[held.clone(), delivered]
        ));
        let failed = entry(Channel::Email, Kind::Delivered, OutboxState::Failed);
        assert!(!overtaken(
            held.id,
            Channel::Email,
            all,
            &[held.clone(), failed]
        ));
        // Earlier news never overtakes.
        let later = entry(Channel::Email, Kind::Delivered, OutboxState::Pending);
        assert!(!overtaken(
            later.id,
            Channel::Email,
            all,
            &[held, later.clone()]
        ));
    }
}
