//! Scaffolding the adapter tests share: the hostile servers and bodies every API is tested
//! against.
#![allow(dead_code)] // each test binary uses its own subset

/// A server that accepts every connection and closes it before answering; its base URL.
pub async fn closing_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            drop(sock);
        }
    });
    format!("http://{addr}")
}

/// A syntactically plausible JSON body padded past 10 MB: `head`, 10 MiB of `x`, `tail`.
pub fn padded_json(head: &str, tail: &str) -> Vec<u8> {
    let mut big = head.as_bytes().to_vec();
    big.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    big.extend_from_slice(tail.as_bytes());
    big
}

/// Answers 401 with the request echoed back, headers and body, after `pad` characters of
/// filler (so a secret can straddle where an excerpt is cut), as a carrier, a sandbox or a
/// proxy may.
pub struct EchoRefusal {
    pub pad: usize,
}

impl wiremock::Respond for EchoRefusal {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        // The headers that carry credentials first, then the body, then the rest.
        let plain = [
            "host",
            "user-agent",
            "accept",
            "accept-encoding",
            "content-type",
            "content-length",
            "transid",
            "transactionsrc",
        ];
        let header = |name: &wiremock::http::HeaderName, value: &wiremock::http::HeaderValue| {
            format!(" {name}: {}", value.to_str().unwrap_or_default())
        };
        let mut text = "x".repeat(self.pad);
        for (name, value) in &req.headers {
            if !plain.contains(&name.as_str()) {
                text += &header(name, value);
            }
        }
        text += " ";
        text += &String::from_utf8_lossy(&req.body);
        for (name, value) in &req.headers {
            if plain.contains(&name.as_str()) {
                text += &header(name, value);
            }
        }
        wiremock::ResponseTemplate::new(401).set_body_string(text)
    }
}

/// Fails when `text` shows any eight consecutive characters of a secret (or of its base64).
/// With `shown`, the echo reached the text, so something must have been cut.
pub fn assert_no_secret(text: &str, secrets: &[&str], shown: bool) {
    for s in secrets {
        let chars: Vec<char> = s.chars().collect();
        for w in chars.windows(8) {
            let w: String = w.iter().collect();
            assert!(!text.contains(&w), "{w:?} of a secret shows in: {text}");
        }
    }
    if shown {
        assert!(
            text.contains("[redacted]"),
            "the echo was cut, not dropped: {text}"
        );
    }
}

/// `base64(id:secret)`, as HTTP Basic auth sends it.
pub fn basic(id: &str, secret: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{id}:{secret}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

/// Everything a tracking call says, errors included, as text.
pub async fn said(carrier: &dyn parceltrail_core::carrier::Carrier, number: &str) -> String {
    match carrier.track(&[number.to_owned()]).await {
        Err(e) => e.to_string(),
        Ok(results) => results
            .into_iter()
            .map(|(_, r)| match r {
                Err(e) => e.to_string(),
                Ok(t) => format!("{t:?}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// An API-key adapter whose every request is refused with the request echoed back.
pub async fn key_echo_never_shows_the_key<C: parceltrail_core::carrier::Carrier>(
    make: impl Fn(&wiremock::MockServer) -> C,
    number: &str,
    key: &str,
) {
    for pad in [0, 140, 150] {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(EchoRefusal { pad })
            .mount(&server)
            .await;
        let text = said(&make(&server), number).await;
        assert!(text.contains("refused our credentials"), "{text}");
        assert_no_secret(&text, &[key], pad == 0);
    }
}

/// An OAuth adapter refused with its request echoed back: at the token endpoint (client id,
/// secret, their Basic form), and at the tracking endpoint (the token it was issued).
pub async fn oauth_echo_never_shows_secrets<C: parceltrail_core::carrier::Carrier>(
    make: impl Fn(&wiremock::MockServer) -> C,
    token_path: &str,
    number: &str,
    id: &str,
    secret: &str,
) {
    use wiremock::matchers::{any, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let basic = basic(id, secret);
    for pad in [0, 140, 150] {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(EchoRefusal { pad })
            .mount(&server)
            .await;
        let text = said(&make(&server), number).await;
        assert!(text.contains("refused our credentials"), "{text}");
        assert_no_secret(&text, &[id, secret, &basic], pad == 0);
    }
    const TOKEN: &str = "tok-Hh3kPq9sXb2Mw7Rz";
    for pad in [0, 140, 150] {
        let server = MockServer::start().await;
        Mock::given(path(token_path))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": TOKEN,
                "token_type": "Bearer",
                "expires_in": 3599,
            })))
            .mount(&server)
            .await;
        Mock::given(any())
            .respond_with(EchoRefusal { pad })
            .with_priority(10)
            .mount(&server)
            .await;
        let text = said(&make(&server), number).await;
        assert!(text.contains("refused our credentials"), "{text}");
        assert_no_secret(&text, &[TOKEN, id, secret], pad == 0);
    }
}
