//! A bare Tauri 2 window: the baseline for the app's benchmarks (`scripts/bench-app`). With
//! `PARCELTRAIL_EXIT_AFTER_PAINT=1` it prints `painted` and exits once its page has painted,
//! as the app does.

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
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![painted])
        .run(tauri::generate_context!())
        .expect("the window cannot open");
}
