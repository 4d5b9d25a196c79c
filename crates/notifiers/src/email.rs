//! Email over SMTP (lettre): a transport from a URL, and one message with a plain-text and an
//! HTML part and, for mail about an order, RFC 8058 one-click unsubscribe headers.
//!
//! URLs are lettre's: `smtp://host:port` (no TLS: loopback relays), `smtp://host:port?tls=required`
//! (STARTTLS), `smtps://user:password@host:port` (TLS from the first byte). The password is part
//! of the transport and never printed: [`Mailer`]'s `Debug` shows the host only.

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use parceltrail_core::notify::NotifyError;

/// How long one SMTP conversation may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Why a mailer cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL is unusable.
    #[error("the SMTP URL: {0}")]
    Url(String),
    /// The sender's address is not an address.
    #[error("the sender address {0:?}: {1}")]
    From(String, String),
}

/// An SMTP relay and the address mail comes from.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.host)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// One email to one person.
#[derive(Debug, Clone)]
pub struct Email {
    /// The address.
    pub to: String,
    /// The person's name, when known.
    pub to_name: Option<String>,
    /// The sender's display name (the shop's), beside the configured address.
    pub from_name: Option<String>,
    /// One line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part (already escaped by whoever made it).
    pub html: String,
    /// The one-click unsubscribe address (`https://…`), sent as `List-Unsubscribe` with
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
    pub unsubscribe: Option<String>,
}

#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned(),
        ))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

impl Mailer {
    /// A mailer for the relay at `url`, sending from `from` (`shop@example.com` or
    /// `Example <shop@example.com>`).
    pub fn new(url: &str, from: &str) -> Result<Mailer, MailError> {
        let parsed = url::Url::parse(url).map_err(|e| MailError::Url(e.to_string()))?;
        if !matches!(parsed.scheme(), "smtp" | "smtps") {
            return Err(MailError::Url(format!(
                "{}: use smtp://HOST:PORT, smtp://HOST:PORT?tls=required or smtps://USER:PASSWORD@HOST:PORT",
                parsed.scheme()
            )));
        }
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            // lettre's message names the URL's parts, not the password itself.
            .map_err(|e| MailError::Url(e.to_string()))?
            .timeout(Some(TIMEOUT))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| MailError::From(from.to_owned(), e.to_string()))?;
        Ok(Mailer {
            transport,
            from,
            host,
        })
    }

    /// Sends `email`: `Rejected` when the relay refuses it for good (a 5xx, an address that
    /// is not one), `Unavailable` when a retry may succeed (no connection, a 4xx).
    pub async fn send(&self, email: &Email) -> Result<(), NotifyError> {
        let to = Mailbox::new(
            email.to_name.clone(),
            email.to.parse().map_err(|e| {
                NotifyError::Rejected(format!("{:?} is not an email address: {e}", email.to))
            })?,
        );
        let from = Mailbox::new(email.from_name.clone(), self.from.email.clone());
        let mut builder = Message::builder()
            .from(from)
            .to(to)
            .subject(email.subject.clone());
        if let Some(url) = &email.unsubscribe {
            builder = builder
                .header(ListUnsubscribe(url.clone()))
                .header(ListUnsubscribePost);
        }
        let message = builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(email.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(email.html.clone()),
                    ),
            )
            .map_err(|e| NotifyError::Rejected(format!("the email cannot be built: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(NotifyError::Rejected(format!(
                "the mail server {} refused it: {e}",
                self.host
            ))),
            Err(e) => Err(NotifyError::Unavailable(format!(
                "the mail server {}: {e}",
                self.host
            ))),
        }
    }
}
