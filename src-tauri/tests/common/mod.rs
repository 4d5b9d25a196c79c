//! What the app's window and tray tests share.

use std::process::Child;

/// A child process (the app, tauri-driver) killed when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
