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
