fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build");
}

/// Every command the UI may call (each gets an `allow-<command>` permission, granted in
/// capabilities/main.json).
const COMMANDS: &[&str] = &[
    "home",
    "detail",
    "preview",
    "add",
    "edit",
    "remove",
    "refresh",
    "settings",
    "save_settings",
    "save_credentials",
    "test_credentials",
    "forget_credentials",
    "export",
    "import",
    "start_demo",
    "end_demo",
    "sync_state",
    "sync_login",
    "sync_now",
    "sync_logout",
    "open_external",
    "painted",
];
