//! The UI's commands against a real store (and, for the demo, the real simulator and DHL
//! adapter): what a person using the app would notice.

use std::sync::Arc;
use std::time::Duration;

use parceltrail_app::api::{
    AddArgs, AddItem, EditArgs, ExportArgs, ExportFormat, FilterArgs, HomeArgs, IdArgs, ImportArgs,
    TextArgs,
};
use parceltrail_app::{App, Error, Event, Options};
use parceltrail_core::store::{SqliteStore, Store};
use serde_json::json;

fn open() -> (tempfile::TempDir, Arc<App>) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::new(dir.path());
    o.credentials_file = true;
    let app = App::open(o, Vec::new()).unwrap();
    (dir, app)
}

fn item(number: &str) -> AddItem {
    AddItem {
        number: number.into(),
        ..AddItem::default()
    }
}

#[tokio::test]
async fn an_invalid_number_names_itself_and_nothing_is_added() {
    let (_d, app) = open();
    let err = app
        .add(AddArgs {
            items: vec![item("1Z5R89390357567127"), item("1Z5R89390357567128")],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert_eq!(err.field(), Some("items[1].number"));
    assert!(err.to_string().contains("check digit"), "{err}");
    let home = app.home(HomeArgs::default()).await.unwrap();
    assert_eq!(home.total, 0, "all or nothing");
    assert!(home.first_run, "an empty app offers the demo");
}

#[tokio::test]
async fn added_parcels_show_on_home_and_are_known_to_the_preview() {
    let (_d, app) = open();
    let added = app
        .add(AddArgs {
            items: vec![AddItem {
                number: "1Z5R89390357567127".into(),
                label: Some("Running shoes".into()),
                store: Some("Sportshop".into()),
                order: Some("A-1001".into()),
                carrier: None,
            }],
        })
        .await
        .unwrap();
    assert!(added.added[0].created);
    let home = app.home(HomeArgs::default()).await.unwrap();
    assert_eq!(home.total, 1);
    assert!(!home.first_run);
    let card = &home.home.groups[0].cards[0];
    assert_eq!(card.title, "Running shoes");
    assert_eq!(card.carrier.name, "UPS");
    assert_eq!(home.stores, vec!["Sportshop".to_owned()]);
    assert_eq!(home.carriers[0].id, "ups");
    assert_eq!(
        app.counts().unwrap(),
        (home.home.arriving_today, home.home.needs_attention),
        "the tray counts as the home screen does"
    );

    let found = app
        .preview(TextArgs {
            text: "Your order A-1001 shipped: 1Z5R89390357567127. Also 1Z5R89390357567128.".into(),
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].tracked, Some(added.added[0].id));
    assert!(!found[1].valid && found[1].reason.is_some());

    let detail = app
        .detail(IdArgs {
            id: added.added[0].id,
        })
        .await
        .unwrap();
    assert_eq!(detail.order.store.as_deref(), Some("Sportshop"));
    assert_eq!(detail.order.order_number.as_deref(), Some("A-1001"));
}

#[tokio::test]
async fn edits_apply_and_are_announced() {
    let (_d, app) = open();
    let id = app
        .add(AddArgs {
            items: vec![item("1Z5R89390357567127")],
        })
        .await
        .unwrap()
        .added[0]
        .id;
    let mut events = app.subscribe();
    let d = app
        .edit(EditArgs {
            id,
            label: Some("Lamp".into()),
            muted: Some(true),
            archived: Some(true),
            notify_kinds: None,
        })
        .await
        .unwrap();
    assert_eq!(d.card.title, "Lamp");
    assert!(d.card.muted && d.card.archived);
    assert_eq!(events.try_recv().unwrap(), Event::Changed { ids: vec![id] });
    let home = app.home(HomeArgs::default()).await.unwrap();
    assert_eq!(home.home.shown, 0, "archived parcels leave the home screen");
    let all = app
        .home(HomeArgs {
            all: true,
            ..HomeArgs::default()
        })
        .await
        .unwrap();
    assert_eq!(all.home.shown, 1);
    // Clearing the label falls back to the carrier's name.
    let d = app
        .edit(EditArgs {
            id,
            label: Some("  ".into()),
            muted: None,
            archived: None,
            notify_kinds: None,
        })
        .await
        .unwrap();
    assert_eq!(d.card.title, "UPS parcel");
    app.remove(IdArgs { id }).await.unwrap();
    assert!(matches!(
        app.detail(IdArgs { id }).await.unwrap_err(),
        Error::NotFound(_)
    ));
}

#[tokio::test]
async fn filters_narrow_and_bad_filters_say_which() {
    let (_d, app) = open();
    app.add(AddArgs {
        items: vec![
            AddItem {
                number: "1Z5R89390357567127".into(),
                store: Some("Sportshop".into()),
                ..AddItem::default()
            },
            AddItem {
                number: "9400111899223197428497".into(),
                store: Some("Bookshop".into()),
                ..AddItem::default()
            },
        ],
    })
    .await
    .unwrap();
    let only = |f: FilterArgs| HomeArgs {
        filter: f,
        all: false,
    };
    let h = app
        .home(only(FilterArgs {
            store: Some("bookshop".into()),
            ..FilterArgs::default()
        }))
        .await
        .unwrap();
    assert_eq!(h.home.shown, 1);
    assert_eq!(
        h.stores.len(),
        2,
        "the filter lists every store, not only those shown"
    );
    let err = app
        .home(only(FilterArgs {
            since: Some("yesterday".into()),
            ..FilterArgs::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("filter.since"));
    let err = app
        .home(only(FilterArgs {
            status: Some("lost".into()),
            ..FilterArgs::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("filter.status"));
}

#[tokio::test]
async fn import_keeps_good_rows_and_names_bad_lines_and_export_round_trips() {
    let (_d, app) = open();
    let csv = "tracking_number,carrier,store\n1Z5R89390357567127,ups,Sportshop\nnot-a-number,,\n9400111899223197428497,usps,Bookshop\n";
    let report = app
        .import(ImportArgs {
            filename: "orders.csv".into(),
            content: csv.into(),
        })
        .await
        .unwrap();
    assert_eq!(report.added, 2);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 3);
    let out = app
        .export(ExportArgs {
            format: ExportFormat::Csv,
        })
        .await
        .unwrap();
    assert!(out.filename.ends_with(".csv"));
    assert!(out.content.contains("1Z5R89390357567127"));
    assert!(out.content.contains("9400111899223197428497"));
    let err = app
        .import(ImportArgs {
            filename: "backup.json".into(),
            content: "{}".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("filename"));
}

#[tokio::test]
async fn commands_by_name_check_their_arguments() {
    let (_d, app) = open();
    let err = app.call("launch", json!({})).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)));
    let err = app
        .call("home", json!({"filter": {"colour": "red"}}))
        .await
        .unwrap_err();
    assert!(err.is_caller_error());
    assert!(err.to_string().contains("colour"), "{err}");
    let v = app.call("home", json!(null)).await.unwrap();
    assert_eq!(v["total"], 0);
    let s = app.call("settings", json!({})).await.unwrap();
    assert_eq!(s["theme"], "system");
    assert_eq!(s["carriers"].as_array().unwrap().len(), 5);
    let s = app
        .call("save_settings", json!({"theme": "dark"}))
        .await
        .unwrap();
    assert_eq!(s["theme"], "dark");
    // Credentials go to the credentials store; their values never come back.
    let s = app
        .call(
            "save_credentials",
            json!({"carrier": "dhl", "fields": {"api_key": "s3cr3t-value"}}),
        )
        .await
        .unwrap();
    let dhl = s["carriers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "dhl")
        .unwrap();
    assert_eq!(dhl["configured"], true);
    assert!(!s.to_string().contains("s3cr3t-value"));
    let err = app
        .call(
            "save_credentials",
            json!({"carrier": "ups", "fields": {"client_id": "x"}}),
        )
        .await
        .unwrap_err();
    assert!(err.is_caller_error(), "{err}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_moves_parcels_along_through_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::new(dir.path());
    o.credentials_file = true;
    o.demo_speed = Some(3000.0);
    let app = App::open(o, Vec::new()).unwrap();
    let mut events = app.subscribe();
    let started = app.start_demo().await.unwrap();
    assert_eq!(started.added, 12);
    let home = app.home(HomeArgs::default()).await.unwrap();
    assert!(home.demo && !home.first_run);
    // The poller asks the simulator (through the real DHL adapter); the changes it stores
    // reach followers as events, and the parcels gain carrier events.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut changed = 0;
    let mut with_events = 0;
    // Until the polls have reached most parcels: how many a round of polls reaches before
    // the third announcement depends on how busy the machine is.
    while (changed < 3 || with_events < 6) && tokio::time::Instant::now() < deadline {
        if let Ok(Ok(Event::Changed { ids })) =
            tokio::time::timeout(Duration::from_secs(5), events.recv()).await
            && !ids.is_empty()
        {
            changed += 1;
        }
        let home = app.home(HomeArgs::default()).await.unwrap();
        with_events = home
            .home
            .groups
            .iter()
            .flat_map(|g| &g.cards)
            .filter(|c| c.last_event_at.is_some())
            .count();
    }
    assert!(changed >= 3, "changes were announced");
    assert!(
        with_events >= 6,
        "{with_events} demo parcels have carrier events"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_in_an_empty_app_and_the_first_own_parcel_ends_it() {
    let (_d, app) = open();
    app.start_demo().await.unwrap();
    let home = app.home(HomeArgs::default()).await.unwrap();
    assert!(home.demo);
    assert_eq!(home.total, 12);
    let added = app
        .add(AddArgs {
            items: vec![item("1Z5R89390357567127")],
        })
        .await
        .unwrap();
    assert!(
        added.demo_ended,
        "the demo's fast clock must not rule real parcels"
    );
    let home = app.home(HomeArgs::default()).await.unwrap();
    assert!(!home.demo);
    assert_eq!(home.total, 1, "only the own parcel is left");
    let err = app.start_demo().await.unwrap_err();
    assert_eq!(err.field(), Some("demo"));
    assert!(err.to_string().contains("empty app"), "{err}");
    app.shutdown().await;
}

#[tokio::test]
async fn stopping_leaves_no_database_log_for_the_next_start_to_read() {
    let (dir, app) = open();
    app.add(AddArgs {
        items: vec![item("1Z5R89390357567127"), item("9400111899223197428497")],
    })
    .await
    .unwrap();
    let wal = dir.path().join("parceltrail.db-wal");
    let logged = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(
        logged > 0,
        "the additions went to the write-ahead log first"
    );
    app.shutdown().await;
    // The app's process can end here without closing the database: the log is empty and
    // everything added is in the database file itself.
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    let copy = dir.path().join("copy.db");
    std::fs::copy(dir.path().join("parceltrail.db"), &copy).unwrap();
    let db = SqliteStore::open(&copy).unwrap();
    assert_eq!(db.count().unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_import_leaves_the_demo_running_and_a_good_one_ends_it() {
    let (_d, app) = open();
    app.start_demo().await.unwrap();
    let err = app
        .import(ImportArgs {
            filename: "orders.csv".into(),
            content: "order,store\nA-1,Acme\n".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("content"), "{err}");
    let home = app.home(HomeArgs::default()).await.unwrap();
    assert!(home.demo, "the file was checked before the demo ended");
    assert_eq!(home.total, 12);

    let report = app
        .import(ImportArgs {
            filename: "orders.csv".into(),
            content: "tracking_number\n1Z5R89390357567127\n".into(),
        })
        .await
        .unwrap();
    assert_eq!(report.added, 1);
    let home = app.home(HomeArgs::default()).await.unwrap();
    assert!(!home.demo, "the first own parcel ends the demo");
    assert_eq!(home.total, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn text_fields_are_bounded_and_the_error_names_the_field() {
    let (_d, app) = open();
    let long = "x".repeat(2001);
    for (name, bad) in [
        (
            "items[1].label",
            AddItem {
                label: Some(long.clone()),
                ..item("1Z5R89390357567127")
            },
        ),
        (
            "items[1].store",
            AddItem {
                store: Some(long.clone()),
                ..item("1Z5R89390357567127")
            },
        ),
        (
            "items[1].order",
            AddItem {
                order: Some(long.clone()),
                ..item("1Z5R89390357567127")
            },
        ),
    ] {
        let err = app
            .add(AddArgs {
                items: vec![item("9400111899223197428497"), bad],
            })
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some(name), "{err}");
        assert!(err.to_string().contains("at most 2000"), "{err}");
    }
    assert_eq!(app.home(HomeArgs::default()).await.unwrap().total, 0);
    let id = app
        .add(AddArgs {
            items: vec![item("1Z5R89390357567127")],
        })
        .await
        .unwrap()
        .added[0]
        .id;
    let err = app
        .edit(EditArgs {
            id,
            label: Some(long),
            muted: None,
            archived: None,
            notify_kinds: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("label"), "{err}");
}

#[tokio::test]
async fn adding_a_tracked_number_applies_its_label_and_names_what_was_kept() {
    let (_d, app) = open();
    let first = app
        .add(AddArgs {
            items: vec![AddItem {
                store: Some("Acme".into()),
                ..item("1Z5R89390357567127")
            }],
        })
        .await
        .unwrap();
    let again = app
        .add(AddArgs {
            items: vec![AddItem {
                label: Some("Shoes".into()),
                store: Some("Other".into()),
                ..item("1Z5R89390357567127")
            }],
        })
        .await
        .unwrap();
    assert!(!again.added[0].created);
    assert_eq!(again.added[0].unchanged, ["store"]);
    let d = app
        .detail(IdArgs {
            id: first.added[0].id,
        })
        .await
        .unwrap();
    assert_eq!(d.card.title, "Shoes");
    assert_eq!(d.order.store.as_deref(), Some("Acme"));
}

#[test]
fn a_speed_no_clock_can_run_at_is_refused() {
    for speed in [f64::NAN, -1.0, 1e-7, f64::INFINITY] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Options::new(dir.path());
        o.demo_speed = Some(speed);
        let err = App::open(o, Vec::new()).err().unwrap();
        assert_eq!(err.field(), Some("speed"), "{speed}: {err}");
        assert!(!dir.path().join("demo.json").exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_demo_settings_never_leave_the_app_stuck() {
    let (dir, app) = open();
    app.start_demo().await.unwrap();
    app.shutdown().await;
    std::fs::write(dir.path().join("demo.json"), "{\"speed\": null").unwrap();
    // It starts (without the demo), offers to end it, and ending it clears its parcels.
    app.start().await.unwrap();
    let home = app.home(HomeArgs::default()).await.unwrap();
    assert!(home.demo && home.total == 12);
    let ended = app.call("end_demo", serde_json::Value::Null).await.unwrap();
    assert_eq!(ended["removed"], 12);
    let home = app.home(HomeArgs::default()).await.unwrap();
    assert!(!home.demo && home.total == 0 && home.first_run);
    app.shutdown().await;
}
