// Shared by every target (included with `#[path]`, so it is not a target itself).
//
// The property: `Carrier::parse` — the code path `parceltrail carriers parse` and every
// poll use — never panics and never hangs on any body, and always returns `Ok` or a typed
// `CarrierError`. The result is then rendered the way `carriers parse` prints it (error
// `Display`, results as JSON), so a panic in that formatting counts too.

use parceltrail_core::carrier::{BatchResult, Carrier};

pub fn check(adapter: &dyn Carrier, body: &[u8]) {
    let result: BatchResult = adapter.parse(body);
    match result {
        Ok(entries) => {
            for (_number, r) in entries {
                match r {
                    Ok(t) => {
                        let _ = serde_json::to_vec(&t).expect("a TrackResult serialises");
                    }
                    Err(e) => {
                        let _ = e.to_string();
                    }
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
