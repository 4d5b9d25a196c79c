//! Names the platform groups the crate's code is split by, so each is spelled once. They must
//! match the target tables in Cargo.toml.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(freedesktop)");
    println!("cargo::rustc-check-cfg=cfg(desktop_notifications)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // Notifications over D-Bus (org.freedesktop.Notifications).
    let freedesktop = matches!(
        os.as_str(),
        "linux" | "freebsd" | "dragonfly" | "openbsd" | "netbsd"
    );
    if freedesktop {
        println!("cargo::rustc-cfg=freedesktop");
    }
    // Platforms notify-rust serves.
    if freedesktop || os == "macos" || os == "windows" {
        println!("cargo::rustc-cfg=desktop_notifications");
    }
}
