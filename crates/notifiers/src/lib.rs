//! Parceltrail's notification channels: implementations of
//! [`parceltrail_core::notify::Notifier`].
//!
//! - [`DesktopNotifier`]: the operating system's notification centre, through notify-rust
//!   (D-Bus `org.freedesktop.Notifications` on Linux and the BSDs, the notification centre on
//!   macOS, toasts on Windows).
//! - [`email`] and [`sms`] (cargo feature `shop`): the shop server's channels to its
//!   customers, email over SMTP (lettre) and SMS through Twilio's Messages API.
//! - `testing` (cargo feature `testing`, Linux and the BSDs): `NotificationBus`, a private
//!   session bus with a real notification server (dunst on Xvfb) and `dbus-monitor`, so tests
//!   here and in other crates can assert which notifications were raised, once each.
//!
//! ```no_run
//! use parceltrail_core::notify::{Message, Notifier, Urgency, LIST_LINK};
//! use parceltrail_notifiers::DesktopNotifier;
//!
//! # async fn demo() -> Result<(), parceltrail_core::notify::NotifyError> {
//! let notifier = DesktopNotifier::default();
//! let message = Message {
//!     id: uuid::Uuid::now_v7(),
//!     dedupe_key: uuid::Uuid::now_v7(),
//!     shipment_id: None,
//!     kind: None,
//!     title: "1Z999AA10123456784 delivered".into(),
//!     body: "Left at the front door".into(),
//!     link: LIST_LINK.into(),
//!     urgency: Urgency::Normal,
//! };
//! notifier.send(&message).await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod desktop;
#[cfg(feature = "shop")]
pub mod email;
#[cfg(feature = "shop")]
pub mod sms;

pub use desktop::{
    APP_NAME, DEFAULT_ACTION, DEFAULT_ACTION_LABEL, DesktopNotifier, ICON, SEND_TIMEOUT,
    STACK_TAG_HINT, SYNCHRONOUS_HINT, escape_markup, without_tags,
};

#[cfg(all(feature = "testing", freedesktop))]
pub mod testing;
