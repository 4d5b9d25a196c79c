fn main() {
    // tauri.conf.json lives at the repository root (one config for the app and its tools):
    // tauri-build reads it from the current directory.
    let crate_dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    std::env::set_current_dir(crate_dir.join("..")).expect("the repository root");
    println!("cargo:rerun-if-changed=../tauri.conf.json");
    println!("cargo:rerun-if-changed=capabilities");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("src-tauri/capabilities/**/*")
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
    "open_external",
    "painted",
];
