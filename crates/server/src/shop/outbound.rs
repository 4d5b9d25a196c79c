//! Webhooks out: the sender. A worker task claims due deliveries from the store with a
//! lease, POSTs them signed as Standard Webhooks, a bounded number at once, and records each
//! outcome with its lease (the store retries failures on its schedule). Every replica on one
//! database runs one; they share the work through the leases, with no leader.
//!
//! Outbound calls are a way into the server's own network, so unless the server was started
//! with `--allow-private-targets` they reach public addresses only: the sender resolves host
//! names itself and refuses loopback, private, link-local, shared, reserved, documentation
//! and multicast addresses (IPv4, IPv6, and IPv4 inside IPv6), and connects only to the
//! addresses it checked, so a name cannot be re-pointed between the check and the
//! connection. URLs with an IP literal are checked before sending (the client does not
//! resolve those). No proxy from the environment is used, and redirects are not followed.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use parceltrail_shop::secrets::SecretKey;
use parceltrail_shop::webhooks::{Claimed, DeliveryId, EndpointId, Outcome, Recorded};
use parceltrail_shop::{Db, ShopId};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use super::observe::WebhookMetrics;

/// How long a claim lasts: a sender that dies leaves its deliveries to be retried then.
pub const LEASE: Duration = Duration::from_secs(60);
/// The most one delivery's request may take, answer included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer's body is read (for the attempt's error).
pub const BODY_EXCERPT: usize = 4096;
/// Deliveries sent at once by one server, by default.
pub const CONCURRENCY: usize = 16;
/// The most a server may be set to send at once.
pub const MAX_CONCURRENCY: usize = 256;
/// The longest the worker sleeps before looking for due work (another replica's, say).
const IDLE: Duration = Duration::from_secs(5);
/// How often finished deliveries past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long a stopping worker waits for the deliveries in flight.
const DRAIN: Duration = Duration::from_secs(15);

/// How the sender behaves.
#[derive(Debug, Clone, Copy)]
pub struct OutboundConfig {
    /// Send to loopback and private addresses too (a test, or a private network the
    /// operator trusts).
    pub allow_private_targets: bool,
    /// Deliveries sent at once; 0: this server sends none (another replica does).
    pub concurrency: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            allow_private_targets: false,
            concurrency: CONCURRENCY,
        }
    }
}

/// The sender of webhooks out, and the door for enqueueing events.
pub struct Outbound {
    db: Db,
    key: Arc<SecretKey>,
    client: reqwest::Client,
    config: OutboundConfig,
    nudge: Notify,
    metrics: WebhookMetrics,
}

/// Why an address is not called.
#[derive(Debug, thiserror::Error)]
#[error("refused: {host} resolves to a private address")]
struct Refused {
    host: String,
}

/// Resolves names to public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| is_public_address(a.ip()))
                .collect();
            if public.is_empty() && !found.is_empty() {
                return Err(Box::new(Refused { host }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

impl Outbound {
    /// A sender on `db`, opening endpoints' secrets with `key`; nothing is sent until
    /// [`spawn`](Self::spawn).
    pub fn new(
        db: Db,
        key: Arc<SecretKey>,
        config: OutboundConfig,
        metrics: WebhookMetrics,
    ) -> Self {
        // One process-wide TLS provider (ring), as for the carriers' client.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("Parceltrail-Webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            // A proxy would resolve and connect on its own, past the address check.
            .no_proxy();
        if !config.allow_private_targets {
            b = b.dns_resolver(PublicOnly);
        }
        let client = b
            .build()
            .expect("the webhook client's configuration is static and valid");
        Outbound {
            db,
            key,
            client,
            config,
            nudge: Notify::new(),
            metrics,
        }
    }

    /// The client for addresses from outside (public ones only, unless allowed otherwise;
    /// no redirects, no proxy): webhooks' and push services'.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Whether private and loopback targets are allowed.
    pub fn allow_private_targets(&self) -> bool {
        self.config.allow_private_targets
    }

    /// Why a URL may not be a target, checked without resolving anything: `None` when it
    /// may (a host name is checked when a delivery is sent).
    pub fn refusal(&self, url: &str) -> Option<String> {
        if self.config.allow_private_targets {
            return None;
        }
        let u = url::Url::parse(url).ok()?;
        let ip = literal_ip(&u)?;
        (!is_public_address(ip)).then(|| {
            format!(
                "{ip} is a loopback, private or reserved address, which this server does not call (an operator may allow it with --allow-private-targets)"
            )
        })
    }

    /// Wakes the worker: something was enqueued.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// Enqueues an event for every enabled endpoint of the shop that takes its type, as
    /// `{"type", "id", "timestamp", "shop_id", "data"}`; how many deliveries are new (the
    /// same event id again adds none). Wakes the worker.
    pub async fn enqueue(
        &self,
        shop: ShopId,
        event_id: &str,
        event_type: &str,
        data: &Value,
    ) -> parceltrail_shop::Result<usize> {
        let now = Utc::now();
        let body = payload(event_type, event_id, shop, now, data);
        let n = self
            .db
            .enqueue(shop, event_id, event_type, &body, now)
            .await?;
        if n > 0 {
            self.nudge();
        }
        Ok(n)
    }

    /// Enqueues an event for one endpoint, whatever its filter (a test); the new delivery.
    pub async fn enqueue_to(
        &self,
        shop: ShopId,
        endpoint: EndpointId,
        event_id: &str,
        event_type: &str,
        data: &Value,
    ) -> parceltrail_shop::Result<Option<DeliveryId>> {
        let now = Utc::now();
        let body = payload(event_type, event_id, shop, now, data);
        let id = self
            .db
            .enqueue_to(shop, endpoint, event_id, event_type, &body, now)
            .await?;
        if id.is_some() {
            self.nudge();
        }
        Ok(id)
    }

    /// Starts the worker; it stops claiming when `shutdown` completes, then waits (up to 15 s)
    /// for the deliveries in flight. What it could not finish is retried when its lease ends.
    pub fn spawn(
        self: &Arc<Self>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.run(shutdown).await })
    }

    async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        let mut in_flight = JoinSet::new();
        let mut pruned: Option<Instant> = None;
        let mut gauged: Option<Instant> = None;
        loop {
            if pruned.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                pruned = Some(Instant::now());
                match self.db.prune_deliveries(Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deliveries = n, "webhooks: pruned old deliveries"),
                    Err(e) => tracing::warn!(error = %e, "webhooks: pruning failed"),
                }
            }
            if gauged.is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                && let Ok(n) = self.db.queue_depth().await
            {
                gauged = Some(Instant::now());
                self.metrics
                    .queue_depth
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            let free = permits.available_permits();
            let mut wait = IDLE;
            if free > 0 {
                let now = Utc::now();
                let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
                match self.db.claim_due(now, lease_until, free).await {
                    Ok(claimed) => {
                        let full = claimed.len() == free;
                        for c in claimed {
                            let Ok(permit) = permits.clone().try_acquire_owned() else {
                                break;
                            };
                            let this = self.clone();
                            in_flight.spawn(async move {
                                this.deliver(c).await;
                                drop(permit);
                            });
                        }
                        if full {
                            // More may be due: look again once a sender is free.
                            wait = Duration::ZERO;
                        } else {
                            wait = match self.db.next_due().await {
                                Ok(Some(t)) => (t - Utc::now())
                                    .to_std()
                                    .unwrap_or(Duration::from_millis(10))
                                    .clamp(Duration::from_millis(10), IDLE),
                                Ok(None) => IDLE,
                                Err(_) => IDLE,
                            };
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "webhooks: claiming deliveries failed"),
                }
            }
            let busy = permits.available_permits() == 0 && self.config.concurrency > 0;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.nudge.notified() => {}
                _ = tokio::time::sleep(wait), if !busy => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
        let drained = tokio::time::timeout(DRAIN, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "webhooks: stopped with deliveries in flight; they are retried when their lease ends"
            );
        }
    }

    /// Sends one claimed delivery and records how it went.
    async fn deliver(&self, c: Claimed) {
        let start = Instant::now();
        let mut outcome = self.send(&c).await;
        outcome.duration_ms = i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX);
        // The log gets the gist; the shop's delivery log has the whole error.
        let gist: String = outcome
            .error
            .as_deref()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let label = match self
            .db
            .record_attempt(c.lease, outcome.clone(), Utc::now())
            .await
        {
            Ok(Recorded::Delivered) => "delivered",
            Ok(Recorded::Retry(at)) => {
                tracing::info!(delivery = %c.lease.delivery_id, attempt = c.lease.attempt, next = %at, status = outcome.status, error = %gist, "webhooks: attempt failed");
                "retry"
            }
            Ok(Recorded::Failed) => {
                tracing::warn!(delivery = %c.lease.delivery_id, status = outcome.status, error = %gist, "webhooks: delivery failed after its last attempt");
                "failed"
            }
            Ok(Recorded::Stale) => "stale",
            Err(e) => {
                tracing::warn!(delivery = %c.lease.delivery_id, error = %e, "webhooks: recording an attempt failed; it is retried when its lease ends");
                "unrecorded"
            }
        };
        self.metrics.inc(label);
    }

    /// One POST of a delivery; its outcome (duration filled in by the caller).
    async fn send(&self, c: &Claimed) -> Outcome {
        let failed = |error: String, status: Option<u16>| Outcome {
            delivered: false,
            status,
            error: Some(error),
            duration_ms: 0,
        };
        let Ok(url) = url::Url::parse(&c.url) else {
            return failed("the endpoint's URL is not valid".into(), None);
        };
        if !matches!(url.scheme(), "http" | "https") {
            return failed("only http and https URLs are called".into(), None);
        }
        if !self.config.allow_private_targets
            && let Some(ip) = literal_ip(&url)
            && !is_public_address(ip)
        {
            return failed(format!("refused: {ip} is a private address"), None);
        }
        let aad = parceltrail_shop::webhooks::secret_aad(c.shop_id, c.endpoint_id);
        let secret = match self.key.open(&c.secret_sealed, &aad) {
            Ok(s) => s,
            Err(_) => {
                return failed(
                    "the endpoint's signing secret cannot be opened with this server's key (was the key file replaced?): rotate the secret".into(),
                    None,
                );
            }
        };
        let Ok(secret) = std::str::from_utf8(&secret) else {
            return failed(
                "the endpoint's signing secret is not text: rotate it".into(),
                None,
            );
        };
        let timestamp = Utc::now().timestamp();
        let signature = match parceltrail_shop::hooks::sign_standard(
            secret,
            &c.event_id,
            timestamp,
            c.payload.as_bytes(),
        ) {
            Ok(s) => s,
            Err(e) => return failed(format!("cannot sign: {e}: rotate the secret"), None),
        };
        let res = self
            .client
            .post(url)
            .header("webhook-id", &c.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(c.payload.clone())
            .send()
            .await;
        let res = match res {
            Ok(r) => r,
            Err(e) => return failed(describe(&e), None),
        };
        let status = res.status();
        if status.is_success() {
            return Outcome {
                delivered: true,
                status: Some(status.as_u16()),
                error: None,
                duration_ms: 0,
            };
        }
        if status.is_redirection() {
            let to = res
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| clean(&String::from_utf8_lossy(v.as_bytes())))
                .unwrap_or_else(|| "nowhere (no Location)".into());
            return failed(
                format!(
                    "HTTP {}: redirected to {to}; redirects are not followed: use the final URL",
                    status.as_u16()
                ),
                Some(status.as_u16()),
            );
        }
        let excerpt = excerpt(res).await;
        let error = if excerpt.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {}: {excerpt}", status.as_u16())
        };
        failed(error, Some(status.as_u16()))
    }
}

/// The body of an event.
pub fn payload(
    event_type: &str,
    event_id: &str,
    shop: ShopId,
    timestamp: DateTime<Utc>,
    data: &Value,
) -> String {
    json!({
        "type": event_type,
        "id": event_id,
        "timestamp": timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        "shop_id": shop,
        "data": data,
    })
    .to_string()
}

/// A new event id: `evt_` and a UUIDv7's 32 hex digits.
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// The URL's host when it is an IP address.
fn literal_ip(u: &url::Url) -> Option<IpAddr> {
    match u.host()? {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    }
}

/// At most [`BODY_EXCERPT`] bytes of an answer's body, as one line of text.
async fn excerpt(mut res: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < BODY_EXCERPT {
        match res.chunk().await {
            Ok(Some(chunk)) => {
                let room = BODY_EXCERPT - buf.len();
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    clean(&String::from_utf8_lossy(&buf))
}

/// Control characters as spaces, trimmed.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// What went wrong with a request, without its URL (the shop sees the URL beside it).
fn describe(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return r.to_string();
        }
        // Boxed on the way up, it may be seen only as text.
        let text = s.to_string();
        if text.starts_with("refused: ") && text.ends_with("resolves to a private address") {
            return text;
        }
        innermost = Some(s);
        source = s.source();
    }
    if e.is_timeout() {
        return format!("timed out after {} s", TIMEOUT.as_secs());
    }
    let why = innermost
        .map(|s| s.to_string())
        .unwrap_or_else(|| e.to_string());
    if e.is_connect() {
        format!("could not connect: {why}")
    } else {
        format!("the request failed: {why}")
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local,
/// shared (CGNAT), reserved, documentation, benchmarking, multicast or unspecified, for
/// IPv4, IPv6, and IPv4 carried in IPv6 (mapped, NAT64, 6to4).
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => public_v4(a),
        IpAddr::V6(a) => public_v6(a),
    }
}

fn public_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    let special = a.is_unspecified()
        || o0 == 0 // 0.0.0.0/8: this network
        || a.is_loopback() // 127.0.0.0/8
        || a.is_private() // 10/8, 172.16/12, 192.168/16
        || a.is_link_local() // 169.254/16, cloud metadata among them
        || (o0 == 100 && (o1 & 0xc0) == 64) // 100.64/10: shared, CGNAT
        || (o0 == 192 && o1 == 0 && o2 == 0) // 192.0.0/24: IETF protocol assignments
        || a.is_documentation() // 192.0.2/24, 198.51.100/24, 203.0.113/24
        || (o0 == 192 && o1 == 88 && o2 == 99) // 192.88.99/24: 6to4 relays (deprecated)
        || (o0 == 198 && (o1 & 0xfe) == 18) // 198.18/15: benchmarking
        || a.is_multicast() // 224/4
        || o0 >= 240; // 240/4: reserved, and the broadcast address
    !special
}

fn public_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = carried_v4(a) {
        return public_v4(v4);
    }
    let s = a.segments();
    let special = a.is_unspecified()
        || a.is_loopback()
        || s[0] == 0 // ::/16 otherwise: IPv4-compatible and -translated, reserved
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // 100::/64: discard
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // 64:ff9b:1::/48: local NAT64
        || (s[0] == 0x2001 && s[1] == 0) // 2001::/32: Teredo
        || (s[0] == 0x2001 && s[1] == 2 && s[2] == 0) // 2001:2::/48: benchmarking
        || (s[0] == 0x2001 && matches!(s[1] & 0xfff0, 0x10 | 0x20)) // ORCHID
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32: documentation
        || (s[0] == 0x3fff && s[1] & 0xf000 == 0) // 3fff::/20: documentation
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7: unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10: link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10: site-local (deprecated)
        || a.is_multicast(); // ff00::/8
    !special
}

/// The IPv4 address an IPv6 one carries: mapped (`::ffff:a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`).
fn carried_v4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = a.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = a.segments();
    let pair =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(pair(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(pair(s[1], s[2]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public_address(s.parse().unwrap())
    }

    #[test]
    fn ipv4_private_and_special_ranges_are_refused() {
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            "169.254.169.254", // cloud metadata
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!public(a), "{a} was taken for public");
        }
    }

    #[test]
    fn ipv4_public_addresses_pass() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.255.255",
            "192.167.1.1",
            "192.169.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
        ] {
            assert!(public(a), "{a} was refused");
        }
    }

    #[test]
    fn ipv6_private_and_special_ranges_are_refused() {
        for a in [
            "::",
            "::1",
            "::2",
            "::127.0.0.1",      // IPv4-compatible (deprecated)
            "::ffff:0:1.2.3.4", // IPv4-translated
            "100::1",
            "64:ff9b:1::1",
            "2001::1",
            "2001:2::1",
            "2001:10::1",
            "2001:20::1",
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(!public(a), "{a} was taken for public");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_as_ipv4() {
        for a in [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:192.168.1.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "64:ff9b::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe", // 169.254.169.254
            "2002:7f00:1::",      // 6to4 of 127.0.0.1
            "2002:c0a8:101::1",   // 6to4 of 192.168.1.1
        ] {
            assert!(!public(a), "{a} was taken for public");
        }
        for a in ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"] {
            assert!(public(a), "{a} was refused");
        }
    }

    #[test]
    fn ipv6_public_addresses_pass() {
        for a in [
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "2001:db9::1",
            "2001:1::1",
        ] {
            assert!(public(a), "{a} was refused");
        }
    }

    #[test]
    fn url_hosts_are_read_as_the_client_reads_them() {
        // The WHATWG parser (the client's) reads these hosts as IPv4 addresses.
        for (url, ip) in [
            ("http://127.1/", "127.0.0.1"),
            ("http://0x7f.0.0.1/", "127.0.0.1"),
            ("http://2130706433/", "127.0.0.1"),
            ("http://0/", "0.0.0.0"),
            ("http://[::ffff:7f00:1]/", "::ffff:127.0.0.1"),
        ] {
            let u = url::Url::parse(url).unwrap();
            assert_eq!(literal_ip(&u), Some(ip.parse().unwrap()), "{url}");
            assert!(!is_public_address(literal_ip(&u).unwrap()));
        }
        assert_eq!(
            literal_ip(&url::Url::parse("http://localhost/").unwrap()),
            None
        );
    }

    #[test]
    fn payloads_carry_type_id_time_shop_and_data() {
        let shop = ShopId::new();
        let t: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let p: Value = serde_json::from_str(&payload(
            "order.created",
            "evt_1",
            shop,
            t,
            &json!({"order": {"id": "o1"}}),
        ))
        .unwrap();
        assert_eq!(p["type"], "order.created");
        assert_eq!(p["id"], "evt_1");
        assert_eq!(p["timestamp"], "2026-12-01T10:00:00.000Z");
        assert_eq!(p["shop_id"], shop.to_string());
        assert_eq!(p["data"]["order"]["id"], "o1");
        assert!(new_event_id().starts_with("evt_") && new_event_id().len() == 36);
    }
}
