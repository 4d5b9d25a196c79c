// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // SAFETY: the first thing the process does, before any thread starts.
    #[cfg(target_os = "linux")]
    unsafe {
        parceltrail_desktop::renderer::choose()
    };
    parceltrail_desktop::run();
}
