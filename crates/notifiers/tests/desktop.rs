//! `DesktopNotifier` against a real notification server (dunst) on a private session bus,
//! observed with `dbus-monitor` (`parceltrail_notifiers::testing`).
//!
//! The notifier reads `DBUS_SESSION_BUS_ADDRESS` from the environment, which a test must not
//! change while other tests' threads run, so each sending half is an ignored `child_*` test
//! that the parent test re-runs in a child process with the bus in its environment.
#![cfg(freedesktop)]

use std::time::Duration;

use parceltrail_core::notify::{LIST_LINK, Message, Notifier, NotifyError, Urgency};
use parceltrail_notifiers::testing::{NotificationBus, in_child_test, run_test_in_child};
use parceltrail_notifiers::{APP_NAME, DesktopNotifier, ICON};
use uuid::Uuid;

/// For each child run and each wait for notifications: generous, for a loaded 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(30);

fn message(n: u128, dedupe_key: u128, title: &str, body: &str, urgency: Urgency) -> Message {
    Message {
        id: Uuid::from_u128(n),
        dedupe_key: Uuid::from_u128(dedupe_key),
        shipment_id: None,
        kind: None,
        title: title.into(),
        body: body.into(),
        link: LIST_LINK.into(),
        urgency,
    }
}

fn three_messages() -> Vec<Message> {
    vec![
        message(
            1,
            101,
            "1Z999AA10123456784 shipped",
            "Expected Friday",
            Urgency::Low,
        ),
        message(
            2,
            102,
            "Headphones out for delivery",
            "Arriving today by 6 pm",
            Urgency::Normal,
        ),
        message(
            3,
            103,
            "Parcel JD014600006281230 held",
            "Address problem: call DHL",
            Urgency::Critical,
        ),
    ]
}

fn markup_message() -> Message {
    message(
        4,
        104,
        "Parcel <b>1</b> & co",
        "<b>x</b> & more",
        Urgency::Normal,
    )
}

/// Sends `messages` one after another through `notifier` on a runtime of its own (as the app's
/// one runtime would); the results.
fn send_with(notifier: &DesktopNotifier, messages: &[Message]) -> Vec<Result<(), NotifyError>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut results = Vec::new();
        for message in messages {
            results.push(notifier.send(message).await);
        }
        results
    })
}

fn send_ok(messages: &[Message]) {
    for result in send_with(&DesktopNotifier::default(), messages) {
        result.expect("the notification server accepts the message");
    }
}

#[test]
fn three_messages_are_observed_once_each() {
    let bus = NotificationBus::start().expect("start the notification bus");
    bus.run_test_in_child("child_sends_three_messages", TIMEOUT)
        .expect("child sends");
    bus.wait_for(3, TIMEOUT).expect("three notifications");
    let observed = bus.notifications();
    assert_eq!(observed.len(), 3, "exactly three: {observed:#?}");
    for (sent, seen) in three_messages().iter().zip(&observed) {
        assert_eq!(seen.app_name, APP_NAME);
        assert_eq!(seen.summary, sent.title);
        assert_eq!(seen.body, sent.body);
        assert_eq!(seen.icon, ICON);
        assert_eq!(seen.actions, ["default", "Open"]);
        assert_eq!(seen.expire_timeout, -1);
        let key = sent.dedupe_key.to_string();
        assert_eq!(seen.stack_tag(), Some(key.as_str()));
        assert_eq!(
            seen.hints.get("x-canonical-private-synchronous"),
            Some(&key)
        );
        let urgency = match sent.urgency {
            Urgency::Low => 0,
            Urgency::Normal => 1,
            Urgency::Critical => 2,
        };
        assert_eq!(seen.urgency(), Some(urgency));
    }
    assert_eq!(
        bus.shown_count().expect("ask dunst"),
        3,
        "dunst shows all three"
    );
}

#[test]
#[ignore = "the sending half of three_messages_are_observed_once_each, run in a child process"]
fn child_sends_three_messages() {
    if in_child_test() {
        send_ok(&three_messages());
    }
}

#[test]
fn a_repeated_copy_replaces_the_shown_one() {
    let bus = NotificationBus::start().expect("start the notification bus");
    bus.run_test_in_child("child_sends_a_message_twice", TIMEOUT)
        .expect("child sends");
    let observed = bus.wait_for(2, TIMEOUT).expect("two notifications");
    assert_eq!(observed.len(), 2);
    assert_eq!(observed[0].stack_tag(), observed[1].stack_tag());
    assert_eq!(
        bus.shown_count().expect("ask dunst"),
        1,
        "the copy replaced the first"
    );
}

#[test]
#[ignore = "the sending half of a_repeated_copy_replaces_the_shown_one, run in a child process"]
fn child_sends_a_message_twice() {
    if in_child_test() {
        let first = three_messages().remove(0);
        let copy = Message {
            id: Uuid::from_u128(11),
            ..first.clone()
        };
        send_ok(&[first, copy]);
    }
}

#[test]
fn markup_in_a_body_arrives_escaped() {
    let bus = NotificationBus::start().expect("start the notification bus");
    bus.run_test_in_child("child_sends_markup", TIMEOUT)
        .expect("child sends");
    let observed = bus.wait_for(1, TIMEOUT).expect("one notification");
    assert_eq!(observed.len(), 1);
    assert_eq!(observed[0].body, "&lt;b&gt;x&lt;/b&gt; &amp; more");
    // The summary is plain text by the specification (dunst escapes it itself), so no
    // entities; but no tag can open in it either.
    assert_eq!(
        observed[0].summary,
        "Parcel \u{FF1C}b\u{FF1E}1\u{FF1C}/b\u{FF1E} & co"
    );
}

#[test]
fn a_server_without_markup_gets_the_body_as_it_is() {
    let bus = NotificationBus::builder()
        .body_markup(false)
        .start()
        .expect("start the notification bus");
    bus.run_test_in_child("child_sends_markup", TIMEOUT)
        .expect("child sends");
    let observed = bus.wait_for(1, TIMEOUT).expect("one notification");
    assert_eq!(observed[0].body, "<b>x</b> & more");
    assert_eq!(observed[0].summary, "Parcel <b>1</b> & co");
}

#[test]
#[ignore = "the sending half of the markup tests, run in a child process"]
fn child_sends_markup() {
    if in_child_test() {
        send_ok(&[markup_message()]);
    }
}

#[test]
fn no_session_bus_is_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let address = format!("unix:path={}", dir.path().join("no-bus").display());
    let output = run_test_in_child(
        "child_expects_unavailable",
        &[("DBUS_SESSION_BUS_ADDRESS", &address)],
        TIMEOUT,
    )
    .expect("child sees Unavailable");
    assert!(
        output.contains("unavailable: cannot connect to the D-Bus session bus"),
        "{output}"
    );
}

#[test]
fn no_notification_server_is_unavailable() {
    let bus = NotificationBus::builder()
        .server(false)
        .start()
        .expect("start the bus");
    let output = bus
        .run_test_in_child("child_expects_unavailable", TIMEOUT)
        .expect("child sees Unavailable");
    assert!(
        output.contains("unavailable: no notification server answered: org.freedesktop.DBus.Error.ServiceUnknown"),
        "{output}"
    );
    assert!(bus.notifications().is_empty());
}

#[test]
fn a_hung_server_is_unavailable_after_the_timeout() {
    let bus = NotificationBus::start().expect("start the notification bus");
    bus.stall_server().expect("stop dunst");
    let output = bus
        .run_test_in_child("child_expects_unavailable", TIMEOUT)
        .expect("child sees Unavailable");
    assert!(
        output.contains("unavailable: the notification server did not answer within 1s"),
        "{output}"
    );
}

#[test]
#[ignore = "the sending half of the Unavailable tests, run in a child process"]
fn child_expects_unavailable() {
    if in_child_test() {
        let notifier = DesktopNotifier::default().with_send_timeout(Duration::from_secs(1));
        match send_with(&notifier, &[markup_message()]).remove(0) {
            Err(NotifyError::Unavailable(reason)) => println!("unavailable: {reason}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}

#[test]
fn a_click_on_a_notification_opens_its_link() {
    let bus = NotificationBus::start().expect("start the notification bus");
    let output = bus
        .run_test_in_child("child_is_clicked", TIMEOUT)
        .expect("the click reaches the notifier");
    assert!(
        output.contains("opened parceltrail://parcel/"),
        "the link of the clicked notification: {output}"
    );
}

#[test]
#[ignore = "the clicked half of a_click_on_a_notification_opens_its_link, run in a child process"]
fn child_is_clicked() {
    if !in_child_test() {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let notifier = DesktopNotifier::default().on_click(move |link| {
        let _ = tx.send(link.to_owned());
    });
    let mut m = message(
        7,
        7,
        "Delivered: Running shoes",
        "Left at the door",
        Urgency::Normal,
    );
    let id = parceltrail_core::domain::ShipmentId::new();
    m.link = parceltrail_core::notify::parcel_link(id);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        notifier.send(&m).await.expect("shown");
        // The person clicks it: dunst invokes its default action.
        let clicked = std::process::Command::new("dunstctl")
            .args(["action", "0"])
            .status()
            .expect("dunstctl");
        assert!(clicked.success());
        for _ in 0..100 {
            if let Ok(link) = rx.try_recv() {
                assert_eq!(link, parceltrail_core::notify::parcel_link(id));
                println!("opened {link}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no click arrived");
    });
}
