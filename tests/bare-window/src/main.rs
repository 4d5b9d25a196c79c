//! A bare Tauri 2 window: the baseline for the app's benchmarks (`scripts/bench-app`). With
//! `PARCELTRAIL_EXIT_AFTER_PAINT=1` it prints `painted` and exits once its page has painted,
//! as the app does. With the `shell-plugins` feature it also registers the plugins and the
//! tray the app's shell needs, and nothing else of the app.

#[tauri::command]
fn painted(app: tauri::AppHandle, now: Option<f64>) {
    println!("painted");
    // The page's own clock, as the app logs its marks: how long the page took, apart from
    // the process and window start-up.
    if let Some(now) = now {
        eprintln!("marks={{\"now\": {now}}}");
    }
    if std::env::var_os("PARCELTRAIL_EXIT_AFTER_PAINT").is_some_and(|v| v != "0") {
        app.exit(0);
    }
}

fn main() {
    let builder = tauri::Builder::default();
    #[cfg(feature = "shell-plugins")]
    let builder = builder
        .plugin(tauri_plugin_single_instance::init(|_, _, _| {}))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .setup(|app| {
            use tauri::menu::{Menu, MenuItem};
            let open = MenuItem::with_id(app, "open", "Open", true, None::<&str>)?;
            let menu = Menu::with_items(app, &[&open])?;
            let icon = app.default_window_icon().cloned();
            let mut tray = tauri::tray::TrayIconBuilder::new().menu(&menu);
            if let Some(icon) = icon {
                tray = tray.icon(icon);
            }
            tray.build(app)?;
            Ok(())
        });
    builder
        .invoke_handler(tauri::generate_handler![painted])
        .run(tauri::generate_context!())
        .expect("the window cannot open");
}
