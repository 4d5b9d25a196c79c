//! SMS to customers, the carrier's side: Twilio's delivery reports and the replies customers
//! send (STOP). Both arrive signed with `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed by
//! the account's auth token, over the URL Twilio called followed by every form parameter,
//! sorted by name, as name and value with nothing between. The signature is checked before a
//! parameter is read for its meaning.

use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;

/// The `X-Twilio-Signature` of a request to `url` with `params`, under `auth_token`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // By name; a name given twice keeps Twilio's order of its values (a stable sort).
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` (the `X-Twilio-Signature` header) signs `url` and `params` with
/// `auth_token`.
pub fn signature_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    sign(auth_token, url, params)
        .as_bytes()
        .ct_eq(signature.trim().as_bytes())
        .into()
}

/// A phone number as Twilio writes it (E.164): `+` and digits, the rest of how a person
/// typed it dropped. None when it holds no digits.
pub fn phone_key(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    Some(format!("+{}", digits.trim_start_matches("00")))
}

/// What a reply asks, by the keywords Twilio itself honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// No more messages (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE).
    Stop,
    /// Messages again (START, UNSTOP, YES).
    Start,
    /// Anything else: kept for nobody (the shop's customer service is elsewhere).
    Other,
}

/// The reply's meaning: its first word, in any case.
pub fn reply(body: &str) -> Reply {
    let word = body
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_ascii_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "OPTOUT" | "REVOKE" => {
            Reply::Stop
        }
        "START" | "UNSTOP" | "YES" => Reply::Start,
        _ => Reply::Other,
    }
}

/// How far along a message is, by Twilio's statuses: a report arriving late (Twilio does not
/// promise their order) never moves a message back.
pub fn status_rank(status: &str) -> Option<u8> {
    Some(match status {
        "accepted" | "scheduled" | "queued" => 0,
        "sending" => 1,
        "sent" => 2,
        "delivered" | "undelivered" | "failed" | "read" | "canceled" => 3,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn twilios_documented_example_verifies() {
        // From Twilio's security documentation.
        let params = p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(signature_valid(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!signature_valid(
            "12346",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        let mut changed = params.clone();
        changed[2].1 = "1235".into();
        assert!(!signature_valid(
            "12345",
            url,
            &changed,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!signature_valid(
            "12345",
            "https://mycompany.com/myapp.php",
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn replies_and_numbers_are_read_as_twilio_reads_them() {
        assert_eq!(reply("stop"), Reply::Stop);
        assert_eq!(reply("  Stop please"), Reply::Stop);
        assert_eq!(reply("STOP."), Reply::Stop);
        assert_eq!(reply("unstop"), Reply::Start);
        assert_eq!(reply("Where is my parcel?"), Reply::Other);
        assert_eq!(
            phone_key("+44 20 7946-0000").as_deref(),
            Some("+442079460000")
        );
        assert_eq!(
            phone_key("0044 (20) 7946 0000").as_deref(),
            Some("+442079460000")
        );
        assert_eq!(phone_key("none"), None);
        assert!(status_rank("delivered") > status_rank("sent"));
        assert_eq!(status_rank("bogus"), None);
    }
}
