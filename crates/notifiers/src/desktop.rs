//! Desktop notifications through notify-rust: D-Bus `org.freedesktop.Notifications` on Linux
//! and the BSDs, the notification centre on macOS, toasts on Windows.

use std::time::Duration;

use parceltrail_core::carrier::BoxFuture;
use parceltrail_core::notify::{Channel, Message, Notifier, NotifyError};

/// The application name notifications carry by default.
pub const APP_NAME: &str = "Parceltrail";

/// The freedesktop icon name notifications carry (a parcel in most icon themes).
pub const ICON: &str = "package-x-generic";

/// The action a click on the notification invokes (the freedesktop "default" action).
pub const DEFAULT_ACTION: &str = "default";

/// The label of [`DEFAULT_ACTION`], for servers that show actions as buttons.
pub const DEFAULT_ACTION_LABEL: &str = "Open";

/// The hint with which dunst replaces a shown notification carrying the same value.
pub const STACK_TAG_HINT: &str = "x-dunst-stack-tag";

/// The hint with which notify-osd (and dunst) replace a notification with the same value.
pub const SYNCHRONOUS_HINT: &str = "x-canonical-private-synchronous";

/// The longest a send may take by default (connecting, asking the server, showing) before it
/// counts as [`NotifyError::Unavailable`]; see [`DesktopNotifier::with_send_timeout`].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Shows [`Message`]s in the operating system's notification centre ([`Channel::Desktop`]).
///
/// Each message becomes one notification: the title as the summary, the body as plain text
/// (escaped when the server reads markup, see below), the app name, a parcel icon, the urgency,
/// and, on freedesktop servers, the message's dedupe key as the `x-dunst-stack-tag` and
/// `x-canonical-private-synchronous` hints, so a server that knows them replaces a shown copy of
/// the same news instead of stacking a second one. It carries a "default" action labelled
/// "Open" and nothing else; clicks are not waited for (the app handles them).
///
/// Body text comes from carriers and is untrusted. The notification specification lets a server
/// that advertises the `body-markup` capability read a subset of HTML in bodies (dunst does with
/// its default `markup = full`), and says a client must then escape `&`, `<` and `>` to send
/// text. So before each send the server is asked for its capabilities, and the body is escaped
/// exactly when it reads markup (a server without the capability shows the text as it is). The
/// summary (which names the parcel: a label, a store from an imported file) is plain text by the
/// specification; for a server that reads markup anyway, `<` and `>` in it are replaced by
/// look-alikes ([`without_tags`]) whenever the body is escaped.
///
/// Sending never blocks the tokio runtime it is called on: on freedesktop platforms it is
/// zbus's async API on that same runtime (no second executor), elsewhere the platform call runs
/// on tokio's blocking pool. It needs a tokio runtime with the time driver (for
/// [`SEND_TIMEOUT`]). On Linux it talks to the session bus named by `DBUS_SESSION_BUS_ADDRESS`
/// (read at every send).
///
/// Errors: no session bus, no notification server on it, no answer in time ([`SEND_TIMEOUT`]) and
/// other passing failures are [`NotifyError::Unavailable`] with the underlying reason; a server
/// refusing the message itself (invalid arguments, not supported) is [`NotifyError::Rejected`].
/// On platforms without desktop notifications (Android, iOS) every send is rejected.
#[derive(Debug, Clone)]
pub struct DesktopNotifier {
    app_name: String,
    send_timeout: Duration,
    clicks: Option<std::sync::Arc<clicks::Clicks>>,
}

impl DesktopNotifier {
    /// A notifier whose notifications carry `app_name` (normally [`APP_NAME`]).
    pub fn new(app_name: impl Into<String>) -> Self {
        Self {
            app_name: app_name.into(),
            send_timeout: SEND_TIMEOUT,
            clicks: None,
        }
    }

    /// Call `open` with the message's link (`parceltrail://parcel/<id>`) when the user clicks
    /// a notification this notifier showed. On freedesktop platforms a listener on the session
    /// bus follows the server's `ActionInvoked` signals (started with the first notification);
    /// elsewhere clicks are the platform's to route (the app's deep link).
    pub fn on_click(mut self, open: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.clicks = Some(std::sync::Arc::new(clicks::Clicks::new(open)));
        self
    }

    /// The same notifier with a send giving up (as [`NotifyError::Unavailable`]) after
    /// `timeout` instead of [`SEND_TIMEOUT`].
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// The application name the notifications carry.
    pub fn app_name(&self) -> &str {
        &self.app_name
    }

    /// The notification for `message`; `body_markup`: whether the server reads markup in
    /// bodies, in which case the body is escaped and the summary cannot open a tag.
    #[cfg(desktop_notifications)]
    fn notification(&self, message: &Message, body_markup: bool) -> notify_rust::Notification {
        let title = without_nul(&message.title);
        let body = without_nul(&message.body);
        let (title, body) = if body_markup {
            (without_tags(&title), escape_markup(&body))
        } else {
            (title, body)
        };
        let mut notification = notify_rust::Notification::new();
        notification
            .appname(&self.app_name)
            .summary(&title)
            .body(&body)
            .icon(ICON)
            .action(DEFAULT_ACTION, DEFAULT_ACTION_LABEL);
        #[cfg(freedesktop)]
        {
            let key = message.dedupe_key.to_string();
            notification
                .urgency(urgency(message.urgency))
                .hint(notify_rust::Hint::Custom(
                    STACK_TAG_HINT.into(),
                    key.clone(),
                ))
                .hint(notify_rust::Hint::Custom(SYNCHRONOUS_HINT.into(), key));
        }
        #[cfg(windows)]
        notification.urgency(urgency(message.urgency));
        notification
    }

    #[cfg(freedesktop)]
    async fn show(&self, message: &Message) -> Result<(), NotifyError> {
        use std::collections::HashMap;
        use zbus::zvariant::Value;
        // With click routing, one long-lived connection sends and listens: servers such as
        // dunst send `ActionInvoked` to the connection that showed the notification only.
        let connection = match &self.clicks {
            Some(clicks) => clicks.connection().await,
            None => zbus::Connection::session().await,
        }
        .map_err(|e| classify("cannot connect to the D-Bus session bus", &e.to_string()))?;
        let capabilities: Vec<String> = connection
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "GetCapabilities",
                &(),
            )
            .await
            .and_then(|reply| reply.body().deserialize())
            .map_err(|e| classify("no notification server answered", &e.to_string()))?;
        let body_markup = capabilities.iter().any(|c| c == "body-markup");
        tracing::debug!(?capabilities, "notification server capabilities");
        let n = self.notification(message, body_markup);
        let key = message.dedupe_key.to_string();
        let mut hints: HashMap<&str, Value<'_>> = HashMap::new();
        hints.insert("urgency", Value::U8(urgency(message.urgency) as u8));
        hints.insert(STACK_TAG_HINT, Value::from(key.as_str()));
        hints.insert(SYNCHRONOUS_HINT, Value::from(key.as_str()));
        let id: u32 = connection
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "Notify",
                &(
                    n.appname.as_str(),
                    0u32,
                    n.icon.as_str(),
                    n.summary.as_str(),
                    n.body.as_str(),
                    n.actions.clone(),
                    hints,
                    -1i32,
                ),
            )
            .await
            .and_then(|reply| reply.body().deserialize())
            .map_err(|e| classify("the notification server refused", &e.to_string()))?;
        tracing::debug!(id, message = %message.id, "desktop notification shown");
        if let Some(clicks) = &self.clicks {
            clicks.shown(id, &message.link);
        }
        Ok(())
    }

    #[cfg(all(desktop_notifications, not(freedesktop)))]
    async fn show(&self, message: &Message) -> Result<(), NotifyError> {
        // macOS and Windows have no markup in notification bodies: plain text as it is.
        let notification = self.notification(message, false);
        // The platform calls block: run them on tokio's blocking pool. Dropping the handle
        // leaves the notification shown (on macOS it is what sends it; notify-rust reports no
        // error from that).
        let shown = tokio::task::spawn_blocking(move || {
            notification.show().map(drop).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| NotifyError::Unavailable(format!("the notification task failed: {e}")))?;
        shown.map_err(|e| classify("the notification centre refused", &e))
    }

    #[cfg(not(desktop_notifications))]
    async fn show(&self, _message: &Message) -> Result<(), NotifyError> {
        Err(NotifyError::Rejected(
            "desktop notifications are not supported on this platform".into(),
        ))
    }
}

impl Default for DesktopNotifier {
    /// A notifier for [`APP_NAME`].
    fn default() -> Self {
        Self::new(APP_NAME)
    }
}

impl Notifier for DesktopNotifier {
    fn channel(&self) -> Channel {
        Channel::Desktop
    }

    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let result = match tokio::time::timeout(self.send_timeout, self.show(message)).await {
                Ok(result) => result,
                Err(_) => Err(NotifyError::Unavailable(format!(
                    "the notification server did not answer within {:?}",
                    self.send_timeout
                ))),
            };
            if let Err(error) = &result {
                tracing::debug!(message = %message.id, %error, "desktop notification not shown");
            }
            result
        })
    }
}

mod clicks {
    //! Routing clicks on shown notifications back to the app.

    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// Links of the notifications shown recently, by server id.
    const REMEMBERED: usize = 256;

    type OpenFn = Box<dyn Fn(&str) + Send + Sync>;

    pub(super) struct Clicks {
        open: OpenFn,
        shown: Mutex<VecDeque<(u32, String)>>,
        #[cfg(freedesktop)]
        connection: tokio::sync::OnceCell<zbus::Connection>,
    }

    impl std::fmt::Debug for Clicks {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Clicks").finish_non_exhaustive()
        }
    }

    impl Clicks {
        pub(super) fn new(open: impl Fn(&str) + Send + Sync + 'static) -> Self {
            Self {
                open: Box::new(open),
                shown: Mutex::new(VecDeque::new()),
                #[cfg(freedesktop)]
                connection: tokio::sync::OnceCell::new(),
            }
        }

        #[cfg_attr(not(freedesktop), allow(dead_code))]
        pub(super) fn shown(&self, id: u32, link: &str) {
            if let Ok(mut shown) = self.shown.lock() {
                shown.retain(|(i, _)| *i != id);
                shown.push_back((id, link.to_owned()));
                while shown.len() > REMEMBERED {
                    shown.pop_front();
                }
            }
        }

        #[cfg_attr(not(freedesktop), allow(dead_code))]
        fn clicked(&self, id: u32) {
            let link = self
                .shown
                .lock()
                .ok()
                .and_then(|s| s.iter().find(|(i, _)| *i == id).map(|(_, l)| l.clone()));
            if let Some(link) = link {
                (self.open)(&link);
            }
        }

        /// The connection notifications are shown on, following `ActionInvoked` on it from
        /// the start (so no click comes too early). Made at the first notification; a failed
        /// attempt is tried again at the next.
        #[cfg(freedesktop)]
        pub(super) async fn connection(
            self: &std::sync::Arc<Self>,
        ) -> zbus::Result<zbus::Connection> {
            let me = self.clone();
            self.connection
                .get_or_try_init(|| async move {
                    let (connection, stream) = subscribe().await?;
                    tokio::spawn(follow(stream, std::sync::Arc::downgrade(&me)));
                    Ok(connection)
                })
                .await
                .cloned()
        }
    }

    #[cfg(freedesktop)]
    async fn subscribe() -> zbus::Result<(zbus::Connection, zbus::MessageStream)> {
        let connection = zbus::Connection::session().await?;
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface("org.freedesktop.Notifications")?
            .member("ActionInvoked")?
            .build();
        let stream = zbus::MessageStream::for_match_rule(rule, &connection, None).await?;
        Ok((connection, stream))
    }

    #[cfg(freedesktop)]
    async fn follow(mut stream: zbus::MessageStream, clicks: std::sync::Weak<Clicks>) {
        use futures_util::StreamExt;
        while let Some(Ok(msg)) = stream.next().await {
            let Some(clicks) = clicks.upgrade() else {
                return;
            };
            if let Ok((id, action)) = msg.body().deserialize::<(u32, String)>()
                && action == super::DEFAULT_ACTION
            {
                clicks.clicked(id);
            }
        }
    }
}

#[cfg(any(freedesktop, windows))]
fn urgency(urgency: parceltrail_core::notify::Urgency) -> notify_rust::Urgency {
    use parceltrail_core::notify::Urgency;
    match urgency {
        Urgency::Low => notify_rust::Urgency::Low,
        Urgency::Normal => notify_rust::Urgency::Normal,
        Urgency::Critical => notify_rust::Urgency::Critical,
    }
}

/// `text` escaped for a notification body that a server reads as markup: `&`, `<` and `>`
/// become entities, so the text shows as it is (the specification's markup is XML-like; quotes
/// only matter inside attributes, which escaped text cannot open).
pub fn escape_markup(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `text` for a summary shown by a server that reads markup in bodies: `<` and `>` become the
/// look-alikes `＜` and `＞`, so no tag can open whether or not the server reads markup in
/// summaries too.
///
/// Entities are no answer here: the specification makes the summary plain text, and the servers
/// that read markup in bodies (dunst, mako, GNOME Shell) escape the summary themselves, so an
/// escaped `&amp;` would show as it is. An `&` left alone is harmless: at worst a server that
/// reads markup shows an entity as the character it names.
pub fn without_tags(text: &str) -> String {
    text.replace('<', "\u{FF1C}").replace('>', "\u{FF1E}")
}

/// D-Bus strings cannot hold NUL: drop any, rather than fail a message for good over one.
#[cfg(desktop_notifications)]
fn without_nul(text: &str) -> String {
    text.replace('\0', "")
}

/// The D-Bus errors that say the message itself is refused: retrying the same message cannot
/// help. Every other failure (no bus, no server, no reply, I/O) is passing.
const PERMANENT_ERRORS: [&str; 8] = [
    "org.freedesktop.DBus.Error.InvalidArgs",
    "org.freedesktop.DBus.Error.InvalidSignature",
    "org.freedesktop.DBus.Error.NotSupported",
    "org.freedesktop.DBus.Error.UnknownMethod",
    "org.freedesktop.DBus.Error.UnknownInterface",
    "org.freedesktop.DBus.Error.UnknownObject",
    "org.freedesktop.DBus.Error.AccessDenied",
    "org.freedesktop.DBus.Error.InconsistentMessage",
];

/// Sorts a failure into passing and permanent. notify-rust's error keeps its kind private, so
/// the decision reads the D-Bus error name that starts zbus's rendering of a method error
/// (`org.freedesktop.DBus.Error.ServiceUnknown: …`); anything without a permanent error name is
/// passing.
#[cfg_attr(not(desktop_notifications), allow(dead_code))]
fn classify(context: &str, detail: &str) -> NotifyError {
    let name = detail.split(':').next().unwrap_or_default().trim();
    let reason = format!("{context}: {detail}");
    if PERMANENT_ERRORS.contains(&name) {
        NotifyError::Rejected(reason)
    } else {
        NotifyError::Unavailable(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_characters_only() {
        assert_eq!(
            escape_markup(r#"<b>x</b> & "y" 'z' → ok"#),
            r#"&lt;b&gt;x&lt;/b&gt; &amp; "y" 'z' → ok"#
        );
        assert_eq!(escape_markup("&amp;"), "&amp;amp;");
        assert_eq!(escape_markup(""), "");
    }

    #[test]
    fn classifies_dbus_errors() {
        let e = classify(
            "no notification server answered",
            "org.freedesktop.DBus.Error.ServiceUnknown: The name is not activatable",
        );
        assert!(matches!(&e, NotifyError::Unavailable(r) if r.contains("ServiceUnknown")));
        let e = classify("x", "I/O error: No such file or directory (os error 2)");
        assert!(matches!(e, NotifyError::Unavailable(_)));
        let e = classify("x", "org.freedesktop.DBus.Error.InvalidArgs: bad hints");
        assert!(
            matches!(&e, NotifyError::Rejected(r) if r == "x: org.freedesktop.DBus.Error.InvalidArgs: bad hints")
        );
    }

    #[cfg(freedesktop)]
    #[test]
    fn maps_a_message() {
        use notify_rust::Hint;
        use parceltrail_core::notify::Urgency;
        let message = Message {
            id: uuid_from(1),
            dedupe_key: uuid_from(2),
            shipment_id: None,
            kind: None,
            title: "Parcel <i>1Z99\0</i> & co delivered".into(),
            body: "Left <b>at</b> the door & signed".into(),
            link: parceltrail_core::notify::LIST_LINK.into(),
            urgency: Urgency::Critical,
        };
        let notifier = DesktopNotifier::default();
        let n = notifier.notification(&message, true);
        assert_eq!(n.appname, "Parceltrail");
        assert_eq!(
            n.summary,
            "Parcel \u{FF1C}i\u{FF1E}1Z99\u{FF1C}/i\u{FF1E} & co delivered"
        );
        assert_eq!(n.body, "Left &lt;b&gt;at&lt;/b&gt; the door &amp; signed");
        assert_eq!(n.icon, ICON);
        assert_eq!(n.actions, ["default", "Open"]);
        assert_eq!(n.timeout, notify_rust::Timeout::Default);
        // notify-rust keeps custom hints (the stack tags) out of `hints`; tests/desktop.rs
        // checks them on the bus.
        assert_eq!(
            n.hints.iter().collect::<Vec<_>>(),
            [&Hint::Urgency(notify_rust::Urgency::Critical)]
        );

        let plain = notifier.notification(&message, false);
        assert_eq!(plain.body, "Left <b>at</b> the door & signed");
        assert_eq!(plain.summary, "Parcel <i>1Z99</i> & co delivered");
    }

    #[cfg(freedesktop)]
    fn uuid_from(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }
}
