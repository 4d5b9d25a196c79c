//! The Parceltrail app: a thin Tauri 2 shell over `parceltrail-app`. It maps the UI's
//! commands onto [`App`], forwards the app's events to the window, keeps the tray's count of
//! parcels arriving today, turns notification clicks and `parceltrail://parcel/<id>` links
//! into "open this parcel", and keeps running in the tray when the window closes.

use std::sync::Arc;

use parceltrail_app::api::{
    AddArgs, AddResult, CarrierArgs, CredentialArgs, CredentialCheck, DemoEnded, DemoStarted, Done,
    EditArgs, ExportArgs, Exported, HomeArgs, HomeView, IdArgs, ImportArgs, NoArgs, RefreshArgs,
    Refreshing, SaveSettings, Settings, SyncLoginArgs, SyncState, TextArgs,
};
use parceltrail_app::{App, Error, Event, Options};
use parceltrail_core::domain::ShipmentId;
use parceltrail_core::import::ImportReport;
use parceltrail_core::view::{Detail, Found};
use serde::Deserialize;
use tauri::{AppHandle, Emitter, Manager, State};

/// The main window's label (capabilities/main.json grants it the commands).
const MAIN: &str = "main";

/// Start hidden, in the tray (the login item starts the app this way).
const MINIMIZED_FLAG: &str = "--minimized";

type Shared<'a> = State<'a, Arc<App>>;

/// One Tauri command per UI action, each forwarding to the method of the same name.
macro_rules! forward {
    ($($name:ident($args:ty) -> $ret:ty;)*) => {$(
        #[tauri::command]
        async fn $name(app: Shared<'_>, args: $args) -> Result<$ret, Error> {
            let t = std::time::Instant::now();
            let r = app.$name(args).await;
            tracing::debug!(command = stringify!($name), took = ?t.elapsed());
            r
        }
    )*};
}

forward! {
    home(HomeArgs) -> HomeView;
    detail(IdArgs) -> Detail;
    preview(TextArgs) -> Vec<Found>;
    add(AddArgs) -> AddResult;
    edit(EditArgs) -> Detail;
    remove(IdArgs) -> Done;
    refresh(RefreshArgs) -> Refreshing;
    save_credentials(CredentialArgs) -> Settings;
    test_credentials(CarrierArgs) -> CredentialCheck;
    forget_credentials(CarrierArgs) -> Settings;
    import(ImportArgs) -> ImportReport;
    sync_login(SyncLoginArgs) -> SyncState;
}

#[tauri::command]
async fn settings(handle: AppHandle, app: Shared<'_>, args: NoArgs) -> Result<Settings, Error> {
    let NoArgs {} = args;
    let mut s = app.settings().await?;
    s.autostart = autostart::enabled(&handle);
    Ok(s)
}

#[tauri::command]
async fn save_settings(
    handle: AppHandle,
    app: Shared<'_>,
    args: SaveSettings,
) -> Result<Settings, Error> {
    if let Some(on) = args.autostart {
        autostart::set(&handle, on)?;
    }
    let mut s = app.save_settings(args).await?;
    s.autostart = autostart::enabled(&handle);
    Ok(s)
}

#[tauri::command]
async fn start_demo(app: Shared<'_>, args: NoArgs) -> Result<DemoStarted, Error> {
    let NoArgs {} = args;
    app.start_demo().await
}

#[tauri::command]
async fn end_demo(app: Shared<'_>, args: NoArgs) -> Result<DemoEnded, Error> {
    let NoArgs {} = args;
    app.end_demo().await
}

#[tauri::command]
async fn sync_state(app: Shared<'_>, args: NoArgs) -> Result<SyncState, Error> {
    let NoArgs {} = args;
    app.sync_state().await
}

#[tauri::command]
async fn sync_now(app: Shared<'_>, args: NoArgs) -> Result<parceltrail_app::sync::Round, Error> {
    let NoArgs {} = args;
    app.sync_now().await
}

#[tauri::command]
async fn sync_logout(app: Shared<'_>, args: NoArgs) -> Result<SyncState, Error> {
    let NoArgs {} = args;
    app.sync_logout().await
}

/// Exports go to the Downloads folder (a webview cannot save a file by itself).
#[tauri::command]
async fn export(handle: AppHandle, app: Shared<'_>, args: ExportArgs) -> Result<Exported, Error> {
    let mut out = app.export(args).await?;
    let dir = handle
        .path()
        .download_dir()
        .or_else(|_| handle.path().home_dir())
        .map_err(|e| Error::Internal(format!("no folder to save the export in: {e}")))?;
    let path = dir.join(&out.filename);
    std::fs::write(&path, &out.content).map_err(|source| Error::Io {
        action: "write",
        path: path.clone(),
        source,
    })?;
    out.saved_to = Some(path.display().to_string());
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UrlArgs {
    url: String,
}

/// Open a carrier's tracking page in the user's browser: https links only.
#[tauri::command]
async fn open_external(handle: AppHandle, args: UrlArgs) -> Result<Done, Error> {
    use tauri_plugin_opener::OpenerExt;
    let url = url::Url::parse(&args.url)
        .ok()
        .filter(|u| u.scheme() == "https")
        .ok_or_else(|| Error::invalid("url", format!("{:?} is not an https link", args.url)))?;
    handle
        .opener()
        .open_url(url.as_str(), None::<&str>)
        .map_err(|e| Error::Internal(format!("cannot open the browser: {e}")))?;
    Ok(Done {})
}

/// The UI has painted its first list. Logged (start-up time); with
/// `PARCELTRAIL_EXIT_AFTER_PAINT` set it prints `painted` (and exits unless it is `0`), for
/// `scripts/bench-app`.
#[tauri::command]
fn painted(handle: AppHandle, started: State<'_, Started>, args: Option<PaintedArgs>) {
    if started.1.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let marks = args.map(|a| a.marks).unwrap_or_default();
    tracing::info!(after = ?started.0.elapsed(), ?marks, "first list painted");
    if let Some(v) = std::env::var_os("PARCELTRAIL_EXIT_AFTER_PAINT") {
        println!("painted");
        if v != "0" {
            handle.exit(0);
        }
    }
}

/// `painted`'s argument: the page's start-up marks (ms since the page started).
#[derive(Debug, Default, Deserialize)]
struct PaintedArgs {
    #[serde(default)]
    marks: std::collections::BTreeMap<String, f64>,
}

/// When the process started, and whether the first paint was reported.
struct Started(std::time::Instant, std::sync::atomic::AtomicBool);

/// The parcel a `parceltrail://parcel/<id>` link names.
pub fn parcel_from_link(link: &str) -> Option<ShipmentId> {
    let url = url::Url::parse(link).ok()?;
    if url.scheme() != "parceltrail" || url.host_str() != Some("parcel") {
        return None;
    }
    url.path().trim_matches('/').parse().ok()
}

/// Bring the window forward, creating it if it was closed.
fn show_window(handle: &AppHandle) {
    let window = match handle.get_webview_window(MAIN) {
        Some(w) => w,
        None => match create_window(handle) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "cannot open the window");
                return;
            }
        },
    };
    let _ = window.show();
    #[cfg(desktop)]
    let _ = window.unminimize();
    let _ = window.set_focus();
}

fn create_window(handle: &AppHandle) -> tauri::Result<tauri::WebviewWindow> {
    tauri::WebviewWindowBuilder::new(handle, MAIN, tauri::WebviewUrl::App("index.html".into()))
        .title("Parceltrail")
        .inner_size(1100.0, 760.0)
        .min_inner_size(360.0, 480.0)
        .build()
}

/// Open a parcel from a link: show the window and tell the UI.
fn open_link(handle: &AppHandle, link: &str) {
    show_window(handle);
    if let Some(id) = parcel_from_link(link) {
        let app = handle.state::<Arc<App>>();
        app.emit(Event::Open { id });
    }
}

/// The app's events, to the window; the tray's count after each change.
async fn forward_events(handle: AppHandle, app: Arc<App>) {
    let mut rx = app.subscribe();
    loop {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                Event::Changed { ids: Vec::new() }
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if let Err(e) = handle.emit(event.name(), &event) {
            tracing::warn!(error = %e, "cannot reach the window");
        }
        #[cfg(desktop)]
        if matches!(event, Event::Changed { .. }) {
            tray::update(&handle, &app).await;
        }
    }
}

/// The notification channels of this platform.
fn notifiers(handle: &AppHandle) -> Vec<Arc<dyn parceltrail_core::notify::Notifier>> {
    #[cfg(desktop)]
    {
        let handle = handle.clone();
        vec![Arc::new(
            parceltrail_notifiers::DesktopNotifier::new("Parceltrail").on_click(move |link| {
                let link = link.to_owned();
                let h = handle.clone();
                let _ = handle.run_on_main_thread(move || open_link(&h, &link));
            }),
        )]
    }
    #[cfg(mobile)]
    {
        vec![Arc::new(mobile::PluginNotifier(handle.clone()))]
    }
}

/// Ask for the right to notify where the platform asks (macOS, Android, iOS; on Linux and
/// Windows it is granted).
fn ask_notification_permission(handle: &AppHandle) {
    use tauri_plugin_notification::{NotificationExt, PermissionState};
    let n = handle.notification();
    match n.permission_state() {
        Ok(PermissionState::Granted) => {}
        Ok(PermissionState::Denied) => {
            tracing::warn!("notifications are turned off for Parceltrail in the system settings");
        }
        Ok(_) => match n.request_permission() {
            Ok(PermissionState::Granted) => {}
            Ok(state) => tracing::warn!(?state, "notifications not allowed"),
            Err(e) => tracing::warn!(error = %e, "cannot ask to notify"),
        },
        Err(e) => tracing::warn!(error = %e, "cannot tell whether notifications are allowed"),
    }
}

fn options() -> Result<Options, String> {
    let dir = std::env::var_os("PARCELTRAIL_HOME")
        .map(std::path::PathBuf::from)
        .or_else(parceltrail_app::default_data_dir)
        .ok_or("cannot find a home directory; set PARCELTRAIL_HOME")?;
    let mut o = Options::new(dir);
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // As the CLI's `--credentials-file`, `--sim`, `--sim-key` and `--speed`: keep credentials
    // in a file, and follow a running `parceltrail sim` (development and end-to-end tests).
    o.credentials_file = match var("PARCELTRAIL_CREDENTIALS_FILE") {
        Some(v) => parceltrail_app::parse_flag("PARCELTRAIL_CREDENTIALS_FILE", &v)
            .map_err(|e| e.to_string())?
            .unwrap_or(false),
        None => false,
    };
    let speed = var("PARCELTRAIL_SPEED").and_then(|s| s.parse().ok());
    o.demo_speed = speed;
    if let Some(url) = var("PARCELTRAIL_SIM_URL") {
        o.sim = Some((
            url,
            var("PARCELTRAIL_SIM_KEY").unwrap_or_else(|| "demo".into()),
        ));
        o.sim_speed = speed;
    }
    Ok(o)
}

/// The app's entry point (desktop `main`, and the mobile entry point).
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    let args: Vec<String> = std::env::args().collect();
    let minimized = args.iter().any(|a| a == MINIMIZED_FLAG);
    let demo = args.iter().any(|a| a == "--demo");
    let started = Started(std::time::Instant::now(), Default::default());
    // Only the desktop adds plugins to it.
    #[cfg_attr(mobile, allow(unused_mut))]
    let mut builder = tauri::Builder::default().manage(started);
    #[cfg(desktop)]
    {
        // First: a second launch (or a clicked link) goes to the running app.
        builder = builder
            .plugin(tauri_plugin_single_instance::init(
                |handle, argv, _cwd| match argv.iter().find(|a| a.starts_with("parceltrail:")) {
                    Some(link) => open_link(handle, link),
                    None => show_window(handle),
                },
            ))
            .plugin(
                tauri_plugin_window_state::Builder::default()
                    .with_state_flags(window_state::FLAGS)
                    .build(),
            )
            .plugin(tauri_plugin_autostart::init(
                tauri_plugin_autostart::MacosLauncher::LaunchAgent,
                Some(vec![MINIMIZED_FLAG]),
            ));
    }
    builder
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![
            home,
            detail,
            preview,
            add,
            edit,
            remove,
            refresh,
            settings,
            save_settings,
            save_credentials,
            test_credentials,
            forget_credentials,
            export,
            import,
            start_demo,
            end_demo,
            sync_state,
            sync_login,
            sync_now,
            sync_logout,
            open_external,
            painted
        ])
        .setup(move |tauri_app| {
            let handle = tauri_app.handle().clone();
            let since = || handle.state::<Started>().0.elapsed();
            tracing::debug!(after = ?since(), "setting up");
            let opts = options()?;
            // The store opens on another thread while the window is created here, and WebKit's
            // processes start while the rest is set up. (The page's commands wait for this
            // function: they are served on this thread.)
            let opening = {
                let h = handle.clone();
                std::thread::spawn(move || App::open(opts, notifiers(&h)))
            };
            if !minimized {
                create_window(&handle)?;
            }
            tracing::debug!(after = ?since(), "window created");
            let app = opening
                .join()
                .map_err(|_| "the store could not be opened (its thread panicked)")??;
            tauri_app.manage(app.clone());
            tracing::debug!(after = ?since(), "store open");
            #[cfg(desktop)]
            tray::create(&handle)?;
            tracing::debug!(after = ?since(), "tray created");
            ask_notification_permission(&handle);
            links::follow(&handle);
            #[cfg(desktop)]
            window_state::follow(&handle);
            tracing::debug!(after = ?since(), "set up");
            tauri::async_runtime::spawn(forward_events(handle.clone(), app.clone()));
            #[cfg(all(desktop, unix))]
            tauri::async_runtime::spawn(exit_on_signal(handle.clone()));
            tauri::async_runtime::spawn(async move {
                // `--demo` (scripts/run): the demo, unless this app tracks parcels already.
                let refused = app
                    .store()
                    .lock()
                    .ok()
                    .and_then(|db| {
                        parceltrail_app::sources::demo_refused(&*db, &app.options().dir).ok()
                    })
                    .flatten();
                let started = if demo && refused.is_none() {
                    app.start_demo().await.map(drop)
                } else {
                    app.start().await
                };
                if let Err(e) = started {
                    tracing::error!(error = %e, "the background work did not start");
                }
            });
            Ok(())
        })
        .on_window_event(|window, event| {
            #[cfg(desktop)]
            match event {
                // Closing the window leaves the app in the tray, following parcels.
                tauri::WindowEvent::CloseRequested { api, .. } => {
                    api.prevent_close();
                    let _ = window.hide();
                    window_state::save(window.app_handle());
                }
                tauri::WindowEvent::Moved(_) | tauri::WindowEvent::Resized(_) => {
                    window_state::save_soon(window.app_handle());
                }
                _ => {}
            }
            #[cfg(mobile)]
            let _ = (window, event);
        })
        .build(tauri::generate_context!())
        .expect("the app cannot start")
        .run(|handle, event| {
            if let tauri::RunEvent::Exit = event {
                let app = handle.state::<Arc<App>>().inner().clone();
                tauri::async_runtime::block_on(app.shutdown());
            }
        });
}

/// SIGTERM (the session ending), SIGINT and SIGHUP end the app as Quit does, so that the
/// background work stops cleanly and the window's place is saved.
#[cfg(all(desktop, unix))]
async fn exit_on_signal(handle: AppHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!(
            "cannot follow the session's end: quitting on a signal may lose the window's place"
        );
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
    }
    tracing::info!("asked to quit");
    handle.exit(0);
}

/// How WebKitGTK paints pages. Its default paints with Skia on the GPU, and without one
/// that GPU is Mesa's software rasteriser: each new kind of shape compiles a shader through
/// LLVM first, and the page took about twice as long to show the first list as on the CPU
/// (see BENCHMARKS.md). So without a GPU the pages are painted on the CPU, where Skia is fast.
/// The variable is inherited by what the app starts (a browser for a carrier's page), for
/// which the same holds on this machine.
#[cfg(target_os = "linux")]
pub mod renderer {
    /// WebKitGTK's switch for painting with Skia on the CPU (read by its web processes).
    pub const CPU_RENDERING: &str = "WEBKIT_SKIA_ENABLE_CPU_RENDERING";

    /// Whether pages should be painted on the CPU: not when the person chose already, and
    /// otherwise when there is no GPU to paint with.
    pub fn paint_on_cpu(chosen: Option<&str>, software_gl: Option<&str>, gpu: bool) -> bool {
        if chosen.is_some() {
            return false;
        }
        let forced_software = software_gl.is_some_and(|v| !v.is_empty() && v != "0");
        forced_software || !gpu
    }

    /// Whether the machine has a GPU render node (`/dev/dri/renderD*`), as Mesa needs for
    /// anything but software rendering.
    pub fn has_gpu() -> bool {
        std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
    }

    /// Sets [`CPU_RENDERING`] when [`paint_on_cpu`] says so.
    ///
    /// # Safety
    /// Changes the environment: call it before any other thread starts.
    pub unsafe fn choose() {
        let var = |name| std::env::var(name).ok();
        if paint_on_cpu(
            var(CPU_RENDERING).as_deref(),
            var("LIBGL_ALWAYS_SOFTWARE").as_deref(),
            has_gpu(),
        ) {
            // SAFETY: the caller promises no other thread runs yet.
            unsafe { std::env::set_var(CPU_RENDERING, "1") };
        }
    }
}

#[cfg(desktop)]
mod window_state {
    //! The window's size and place, saved as soon as they settle: the plugin alone saves them
    //! only when the app exits, and an app that lives in the tray may never exit cleanly.
    use std::time::Duration;

    use tauri::{AppHandle, Manager};
    use tauri_plugin_window_state::{AppHandleExt, StateFlags};
    use tokio::sync::mpsc;

    /// Size, place, maximized and so on; not visibility: the window is saved as it closes to
    /// the tray, and it must still open the next time.
    pub const FLAGS: StateFlags = StateFlags::all().difference(StateFlags::VISIBLE);

    /// How long the window must stay put before it is saved (a drag sends many events).
    const SETTLE: Duration = Duration::from_millis(500);

    /// Where [`save_soon`] reports a move.
    struct Moves(mpsc::UnboundedSender<()>);

    pub fn save(handle: &AppHandle) {
        if let Err(e) = handle.save_window_state(FLAGS) {
            tracing::debug!(error = %e, "cannot save the window's place");
        }
    }

    /// Starts the task that saves the window once it has settled after moves.
    pub fn follow(handle: &AppHandle) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        handle.manage(Moves(tx));
        let handle = handle.clone();
        tauri::async_runtime::spawn(async move {
            while rx.recv().await.is_some() {
                // Each further move restarts the wait.
                loop {
                    match tokio::time::timeout(SETTLE, rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                save(&handle);
            }
        });
    }

    /// The window moved or was resized: save it once it settles.
    pub fn save_soon(handle: &AppHandle) {
        if let Some(moves) = handle.try_state::<Moves>() {
            let _ = moves.0.send(());
        }
    }
}

mod links {
    //! `parceltrail://parcel/<id>` links, on every platform.
    use tauri::AppHandle;
    use tauri_plugin_deep_link::DeepLinkExt;

    pub fn follow(handle: &AppHandle) {
        let dl = handle.deep_link();
        // Linux and Windows learn the scheme from the app itself (macOS and mobile from the
        // bundle); registering again is harmless.
        // It writes a .desktop file and runs the desktop database tools: off the start-up path.
        #[cfg(any(target_os = "linux", windows))]
        {
            let h = handle.clone();
            std::thread::spawn(move || {
                if let Err(e) = h.deep_link().register_all() {
                    tracing::debug!(error = %e, "cannot register the parceltrail:// scheme");
                }
            });
        }
        if let Ok(Some(urls)) = dl.get_current() {
            for u in urls {
                super::open_link(handle, u.as_str());
            }
        }
        let h = handle.clone();
        dl.on_open_url(move |event| {
            for u in event.urls() {
                super::open_link(&h, u.as_str());
            }
        });
    }
}

mod autostart {
    //! Start at login (desktop only; `None` elsewhere).
    use parceltrail_app::Error;
    use tauri::AppHandle;

    #[cfg(desktop)]
    pub fn enabled(handle: &AppHandle) -> Option<bool> {
        use tauri_plugin_autostart::ManagerExt;
        handle.autolaunch().is_enabled().ok()
    }

    #[cfg(desktop)]
    pub fn set(handle: &AppHandle, on: bool) -> Result<(), Error> {
        use tauri_plugin_autostart::ManagerExt;
        let l = handle.autolaunch();
        if on { l.enable() } else { l.disable() }
            .map_err(|e| Error::Internal(format!("cannot change start at login: {e}")))
    }

    #[cfg(mobile)]
    pub fn enabled(_: &AppHandle) -> Option<bool> {
        None
    }

    #[cfg(mobile)]
    pub fn set(_: &AppHandle, _: bool) -> Result<(), Error> {
        Err(Error::invalid(
            "autostart",
            "start at login is for desktops",
        ))
    }
}

#[cfg(desktop)]
mod tray {
    //! The tray icon: how many parcels arrive today; Refresh all / Open / Quit.
    use std::sync::Arc;

    use parceltrail_app::App;
    use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
    use tauri::tray::TrayIconBuilder;
    use tauri::{AppHandle, Manager, Wry};

    const TRAY: &str = "parceltrail";

    /// The menu's first line, kept to update it.
    pub struct Summary(MenuItem<Wry>);

    pub fn create(handle: &AppHandle) -> tauri::Result<()> {
        let summary = MenuItem::with_id(handle, "summary", "Parceltrail", false, None::<&str>)?;
        let refresh = MenuItem::with_id(handle, "refresh", "Refresh all", true, None::<&str>)?;
        let open = MenuItem::with_id(handle, "open", "Open Parceltrail", true, None::<&str>)?;
        let quit = MenuItem::with_id(handle, "quit", "Quit", true, None::<&str>)?;
        let sep = PredefinedMenuItem::separator(handle)?;
        let menu = Menu::with_items(handle, &[&summary, &sep, &refresh, &open, &quit])?;
        let icon = tauri::image::Image::from_bytes(include_bytes!("../../icons/tray.png"))?;
        TrayIconBuilder::with_id(TRAY)
            .icon(icon)
            .tooltip("Parceltrail")
            .menu(&menu)
            .show_menu_on_left_click(true)
            .on_menu_event(|handle, event| match event.id().as_ref() {
                "refresh" => {
                    let app = handle.state::<Arc<App>>().inner().clone();
                    tauri::async_runtime::spawn(async move {
                        if let Err(e) = app.poll_now(None).await {
                            tracing::warn!(error = %e, "refresh failed");
                        }
                    });
                }
                "open" => super::show_window(handle),
                "quit" => handle.exit(0),
                _ => {}
            })
            .build(handle)?;
        handle.manage(Summary(summary));
        Ok(())
    }

    /// Words for the count.
    pub fn summary(arriving_today: usize, needs_attention: usize) -> String {
        let mut s = match arriving_today {
            0 => "Nothing arrives today".to_owned(),
            1 => "1 parcel arrives today".to_owned(),
            n => format!("{n} parcels arrive today"),
        };
        match needs_attention {
            0 => {}
            1 => s.push_str(" · 1 needs attention"),
            n => s.push_str(&format!(" · {n} need attention")),
        }
        s
    }

    pub async fn update(handle: &AppHandle, app: &Arc<App>) {
        let Ok((n, attention)) = app.counts() else {
            return;
        };
        let text = summary(n, attention);
        if let Some(s) = handle.try_state::<Summary>() {
            let _ = s.0.set_text(&text);
        }
        if let Some(tray) = handle.tray_by_id(TRAY) {
            let _ = tray.set_tooltip(Some(format!("Parceltrail: {text}")));
            // Shown beside the icon where the panel allows (Linux app indicators).
            let _ = tray.set_title((n > 0).then(|| n.to_string()));
        }
    }
}

#[cfg(mobile)]
mod mobile {
    //! Notifications through the platform's notification centre (tauri-plugin-notification).
    use parceltrail_core::carrier::BoxFuture;
    use parceltrail_core::notify::{Channel, Message, Notifier, NotifyError};
    use tauri::AppHandle;
    use tauri_plugin_notification::NotificationExt;

    pub struct PluginNotifier(pub AppHandle);

    impl Notifier for PluginNotifier {
        fn channel(&self) -> Channel {
            Channel::Mobile
        }

        fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>> {
            Box::pin(async move {
                self.0
                    .notification()
                    .builder()
                    .title(&message.title)
                    .body(&message.body)
                    .show()
                    .map_err(|e| NotifyError::Unavailable(e.to_string()))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parcel_links_name_one_parcel() {
        let id = ShipmentId::new();
        assert_eq!(
            parcel_from_link(&format!("parceltrail://parcel/{id}")),
            Some(id)
        );
        assert_eq!(
            parcel_from_link(&format!("parceltrail://parcel/{id}/")),
            Some(id)
        );
        assert_eq!(parcel_from_link("parceltrail://parcels"), None);
        assert_eq!(parcel_from_link("https://parcel/x"), None);
        assert_eq!(parcel_from_link("parceltrail://parcel/not-an-id"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pages_are_painted_on_the_cpu_only_without_a_gpu_unless_chosen() {
        use renderer::paint_on_cpu;
        assert!(paint_on_cpu(None, None, false), "no GPU");
        assert!(!paint_on_cpu(None, None, true), "a GPU");
        assert!(paint_on_cpu(None, Some("1"), true), "software GL forced");
        assert!(!paint_on_cpu(None, Some("0"), true));
        assert!(
            !paint_on_cpu(Some("0"), None, false),
            "the person's choice stands"
        );
        assert!(!paint_on_cpu(Some("1"), None, true));
    }

    #[test]
    fn the_tray_says_how_many_arrive_today() {
        assert_eq!(tray::summary(0, 0), "Nothing arrives today");
        assert_eq!(tray::summary(1, 0), "1 parcel arrives today");
        assert_eq!(
            tray::summary(3, 2),
            "3 parcels arrive today · 2 need attention"
        );
        assert_eq!(
            tray::summary(2, 1),
            "2 parcels arrive today · 1 needs attention"
        );
    }
}
