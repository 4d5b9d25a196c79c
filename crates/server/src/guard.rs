//! What a hostile web page in the user's own browser must not be able to do to a local server:
//! a tower layer that refuses such requests before any route sees them.
//!
//! A loopback address keeps other machines out, but not other web sites: any page the user
//! opens can send requests to `http://127.0.0.1:PORT`, and a page whose host name is re-pointed
//! at 127.0.0.1 (DNS rebinding) can even read the answers, because to the browser they come
//! from the page's own origin. So a [`Guard`] refuses:
//!
//! 1. **every request whose `Host` is not one of this server's own names** (the bound address
//!    and port; on loopback also `localhost`, `127.0.0.1` and `[::1]` with that port). A
//!    rebinding page's requests carry its own host name (`evil.example:PORT`).
//! 2. **requests from another site**, when they change something (every method but `GET`,
//!    `HEAD` and `OPTIONS`) or read a private path ([`Guard::private_prefix`], e.g. `/api/`):
//!    an `Origin` that is not this server's own origin (`http://` and the request's `Host`, so
//!    `null` is refused too), or a `Sec-Fetch-Site` other than `same-origin` or `none`.
//!    Requests without those headers (curl, scripts) pass: they come from no web page.
//! 3. **`POST`s that are not JSON** (`Content-Type: application/json`): a page
//!    can send a form, a `text/plain` body or a beacon to another site without asking, but a
//!    JSON body only after a CORS preflight, which this server never grants. This holds even
//!    in browsers that send neither `Origin` nor Fetch Metadata.
//!
//! Refusals answer `403` (the first two) or `415` (the third), with the JSON error body of
//! [`ErrorBody`] (`{"error": "…"}`) and a line in the log.
//!
//! Apply the layer to the whole router, so that it covers every route and the fallback (static
//! files) and runs before any handler reads a body:
//!
//! ```no_run
//! # use axum::Router;
//! # use parceltrail_server::guard::Guard;
//! let addr = "127.0.0.1:8787".parse().unwrap();
//! let app: Router = Router::new() /* routes */
//!     .layer(Guard::serving(addr).private_prefix("/api/").layer());
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Json;
use axum::extract::Request;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, Ready, ready};
use parceltrail_app::ErrorBody;

/// The longest piece of a refused header quoted back in an error.
const QUOTED: usize = 100;

/// Which requests a server accepts: its own host names, its origin's scheme, its private
/// paths. Build one with [`Guard::serving`], adjust it, and apply it with [`Guard::layer`].
#[derive(Debug, Clone)]
pub struct Guard {
    /// `(host, port)`: host lowercased, IPv6 in brackets.
    hosts: Vec<(String, u16)>,
    /// Any IP address literal with this port is one of ours (a server on every interface).
    any_ip_on: Option<u16>,
    /// How clients address the server, for `Origin`: `http` or `https`.
    scheme: String,
    /// Paths (prefixes) whose answers are private: cross-site reads refused as well.
    private: Vec<String>,
    /// How to reach the server, for error messages.
    shown: String,
    /// Refusals as RFC 9457 problem details (the shop server's error shape).
    problems: bool,
    /// Every POST must be JSON (rule 3).
    json_posts: bool,
}

impl Guard {
    /// The rules for a plain-HTTP server bound to `addr` (the address actually bound, with its
    /// real port): `Host` must be that address with its port. On a loopback address
    /// `localhost`, `127.0.0.1` and `[::1]` with the port are accepted as well. On an
    /// unspecified address (`0.0.0.0`, `[::]`: every interface) those loopback names and any IP
    /// address with the port are accepted: a rebinding page always comes with a host *name*,
    /// while a browser that connects to an address literal has that address as its origin.
    /// Host names other machines use to reach such a server are added with
    /// [`Guard::allow_host`].
    pub fn serving(addr: SocketAddr) -> Self {
        let port = addr.port();
        let ip = addr.ip().to_canonical();
        let mut hosts = Vec::new();
        if ip.is_loopback() || ip.is_unspecified() {
            for name in ["localhost", "127.0.0.1", "[::1]"] {
                hosts.push((name.to_owned(), port));
            }
        }
        let shown = if ip.is_unspecified() {
            format!("localhost:{port}, or this machine's IP address with port {port}")
        } else {
            let own = (host_of(ip), port);
            if !hosts.contains(&own) {
                hosts.push(own);
            }
            format!("{}:{port}", host_of(ip))
        };
        Guard {
            hosts,
            any_ip_on: ip.is_unspecified().then_some(port),
            scheme: "http".to_owned(),
            private: Vec::new(),
            shown,
            problems: false,
            json_posts: true,
        }
    }

    /// Also accept `host` (a name or an address; IPv6 in brackets) with `port` in `Host`, e.g.
    /// the public name of a server behind a reverse proxy.
    pub fn allow_host(mut self, host: &str, port: u16) -> Self {
        self.hosts.push((host.to_ascii_lowercase(), port));
        self
    }

    /// The scheme clients use to reach the server (`https` behind a TLS-terminating proxy),
    /// which a same-origin `Origin` carries; `http` by default.
    pub fn scheme(mut self, scheme: &str) -> Self {
        self.scheme = scheme.to_ascii_lowercase();
        self
    }

    /// Treat paths starting with `prefix` (and the path `prefix` without its trailing slash) as
    /// private: a cross-site `GET` of them is refused too, not only cross-site changes.
    pub fn private_prefix(mut self, prefix: &str) -> Self {
        self.private.push(prefix.to_owned());
        self
    }

    /// Answer refusals as RFC 9457 problem details (`application/problem+json`), the shop
    /// server's error shape, instead of `{"error": "…"}`.
    pub fn problem_details(mut self) -> Self {
        self.problems = true;
        self
    }

    /// Leave rule 3 to the routes: for a server whose every change is authenticated by
    /// something no cross-site request can carry (an `Authorization` header, or a CSRF token
    /// in a header beside the cookie), so a form or beacon from another site changes nothing.
    pub fn any_post_body(mut self) -> Self {
        self.json_posts = false;
        self
    }

    /// The tower layer applying these rules to every request.
    pub fn layer(self) -> GuardLayer {
        GuardLayer {
            guard: Arc::new(self),
        }
    }

    /// Whether a request with this method, URI and headers is accepted, and if not why.
    pub fn check(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = self.check_host(uri, headers)?;
        let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes || self.is_private(uri.path()) {
            self.check_same_origin(headers, &host)?;
        }
        // Of the methods that change things, only POST can come from another site without a
        // CORS preflight (PUT, PATCH and DELETE always ask first, and are never granted), so
        // only a POST must prove it is no form, beacon or text/plain send.
        if self.json_posts && *method == Method::POST {
            check_json(headers)?;
        }
        Ok(())
    }

    fn default_port(&self) -> u16 {
        if self.scheme == "https" { 443 } else { 80 }
    }

    fn is_private(&self, path: &str) -> bool {
        self.private
            .iter()
            .any(|p| path.starts_with(p.as_str()) || path == p.trim_end_matches('/'))
    }

    fn check_host(&self, uri: &Uri, headers: &HeaderMap) -> Result<(String, u16), Refusal> {
        let raw = match headers.get(header::HOST) {
            Some(value) => value.to_str().unwrap_or("(unreadable)"),
            // HTTP/2 carries the authority in the URI instead.
            None => match uri.authority() {
                Some(a) => a.as_str(),
                None => return Err(Refusal::NoHost),
            },
        };
        let refused = || Refusal::ForeignHost {
            host: quote(raw),
            served: self.shown.clone(),
        };
        let (host, port) = parse_authority(raw, self.default_port()).ok_or_else(refused)?;
        let ours = self.hosts.iter().any(|(h, p)| *h == host && *p == port)
            || self.any_ip_on.is_some_and(|p| {
                p == port && host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
            });
        if ours {
            Ok((host, port))
        } else {
            Err(refused())
        }
    }

    fn check_same_origin(&self, headers: &HeaderMap, host: &(String, u16)) -> Result<(), Refusal> {
        if let Some(site) = headers.get("sec-fetch-site") {
            let site = text(site);
            if site != "same-origin" && site != "none" {
                return Err(Refusal::CrossSite(quote(site)));
            }
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = text(origin);
            if !self.is_own_origin(origin, host) {
                return Err(Refusal::ForeignOrigin(quote(origin)));
            }
        }
        Ok(())
    }

    /// Whether `origin` is `scheme://` and the request's own host and port.
    fn is_own_origin(&self, origin: &str, host: &(String, u16)) -> bool {
        let Ok(uri) = origin.parse::<Uri>() else {
            return false;
        };
        uri.scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(&self.scheme))
            && matches!(uri.path(), "" | "/")
            && uri.query().is_none()
            && uri
                .authority()
                .and_then(|a| parse_authority(a.as_str(), self.default_port()))
                .is_some_and(|a| a == *host)
    }
}

/// A state-changing request must say its body is JSON.
fn check_json(headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(Refusal::NotJson(None));
    };
    let value = text(value);
    let essence = value.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(Refusal::NotJson(Some(quote(value))))
    }
}

/// `(host lowercased, port)` of a `Host` value or an origin's authority; `None` if it is not
/// one (or carries user information).
fn parse_authority(raw: &str, default_port: u16) -> Option<(String, u16)> {
    let authority: Authority = raw.parse().ok()?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return None;
    }
    let port = match authority.port() {
        Some(p) => p.as_u16(),
        None => default_port,
    };
    Some((authority.host().to_ascii_lowercase(), port))
}

/// An address as it appears in a `Host`: IPv6 in brackets.
fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn text(value: &HeaderValue) -> &str {
    value.to_str().unwrap_or("(unreadable)")
}

/// A header value as quoted in an error: clipped (header values are printable ASCII already).
fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTED) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}

/// Why a [`Guard`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Host` at all (HTTP/1.0).
    #[error("refused: the request names no host; send it to this server's address")]
    NoHost,
    /// `Host` is not one of this server's names: a page reaching the server through another
    /// name (DNS rebinding), or a misdirected request.
    #[error(
        "refused: the request is addressed to the host \"{host}\", which is not this server \
         (it answers at {served}); open Parceltrail at that address"
    )]
    ForeignHost {
        /// The `Host` sent (clipped).
        host: String,
        /// This server's own address, as shown to the user.
        served: String,
    },
    /// `Origin` names another site.
    #[error(
        "refused: a request from another site (Origin \"{0}\") may not use this server; \
         open Parceltrail at its own address"
    )]
    ForeignOrigin(String),
    /// `Sec-Fetch-Site` says another site sent it.
    #[error(
        "refused: a request from another site (Sec-Fetch-Site: {0}) may not use this server; \
         open Parceltrail at its own address"
    )]
    CrossSite(String),
    /// A state-changing request without a JSON body.
    #[error(
        "{}: send the arguments as a JSON body with `Content-Type: application/json` (`{{}}` \
         when there are none)",
        match .0 { Some(t) => format!("unsupported content type \"{t}\""), None => "no content type".to_owned() }
    )]
    NotJson(Option<String>),
}

impl Refusal {
    /// The HTTP status the refusal answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::NotJson(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.to_string(),
            field: None,
        };
        (self.status(), Json(body)).into_response()
    }
}

/// The tower layer of a [`Guard`] (see [`Guard::layer`]).
#[derive(Debug, Clone)]
pub struct GuardLayer {
    guard: Arc<Guard>,
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            guard: self.guard.clone(),
            inner,
        }
    }
}

/// The service a [`GuardLayer`] wraps around the routes.
#[derive(Debug, Clone)]
pub struct GuardService<S> {
    guard: Arc<Guard>,
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for GuardService<S>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match self.guard.check(req.method(), req.uri(), req.headers()) {
            Ok(()) => Either::Right(self.inner.call(req)),
            Err(refusal) => {
                tracing::warn!(method = %req.method(), path = req.uri().path(), %refusal, "request refused");
                let res = if self.guard.problems {
                    let (kind, title) = match &refusal {
                        Refusal::NotJson(_) => ("unsupported-media-type", "The body must be JSON"),
                        Refusal::NoHost | Refusal::ForeignHost { .. } => {
                            ("foreign-host", "Not this server's address")
                        }
                        Refusal::ForeignOrigin(_) | Refusal::CrossSite(_) => {
                            ("cross-site", "Refused from another site")
                        }
                    };
                    crate::shop::Problem::new(refusal.status(), kind, title)
                        .detail(refusal.to_string())
                        .into_response()
                } else {
                    refusal.into_response()
                };
                Either::Left(ready(Ok(res)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn get(guard: &Guard, path: &str, pairs: &[(&str, &str)]) -> Result<(), Refusal> {
        guard.check(&Method::GET, &path.parse().unwrap(), &headers(pairs))
    }

    fn post(guard: &Guard, pairs: &[(&str, &str)]) -> Result<(), Refusal> {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(pairs);
        guard.check(&Method::POST, &"/api/home".parse().unwrap(), &headers(&all))
    }

    fn loopback() -> Guard {
        Guard::serving("127.0.0.1:8787".parse().unwrap()).private_prefix("/api/")
    }

    #[test]
    fn loopback_names_with_the_port_only() {
        let g = loopback();
        for host in [
            "127.0.0.1:8787",
            "localhost:8787",
            "LocalHost:8787",
            "[::1]:8787",
        ] {
            assert_eq!(get(&g, "/", &[("host", host)]), Ok(()), "{host}");
        }
        for host in [
            "evil.example:8787",
            "127.0.0.1:8788",
            "127.0.0.1",
            "localhost.:8787",
            "user@127.0.0.1:8787",
            "192.168.1.2:8787",
            "",
        ] {
            assert!(
                matches!(
                    get(&g, "/", &[("host", host)]),
                    Err(Refusal::ForeignHost { .. })
                ),
                "{host}"
            );
        }
        assert_eq!(get(&g, "/", &[]), Err(Refusal::NoHost));
    }

    #[test]
    fn another_loopback_address_is_its_own_name() {
        let g = Guard::serving("127.0.0.2:80".parse().unwrap());
        assert_eq!(get(&g, "/", &[("host", "127.0.0.2")]), Ok(()));
        assert_eq!(get(&g, "/", &[("host", "localhost:80")]), Ok(()));
        let g = Guard::serving("[::1]:9000".parse().unwrap());
        assert_eq!(get(&g, "/", &[("host", "[::1]:9000")]), Ok(()));
        assert_eq!(get(&g, "/", &[("host", "127.0.0.1:9000")]), Ok(()));
    }

    #[test]
    fn a_remote_address_is_its_own_name_only() {
        let g = Guard::serving("192.168.1.5:8787".parse().unwrap());
        assert_eq!(get(&g, "/", &[("host", "192.168.1.5:8787")]), Ok(()));
        assert!(get(&g, "/", &[("host", "localhost:8787")]).is_err());
        assert!(get(&g, "/", &[("host", "nas.local:8787")]).is_err());
        let g = g.allow_host("NAS.local", 8787);
        assert_eq!(get(&g, "/", &[("host", "nas.local:8787")]), Ok(()));
    }

    #[test]
    fn every_interface_takes_addresses_but_no_names() {
        let g = Guard::serving("0.0.0.0:8787".parse().unwrap());
        for host in [
            "192.168.1.5:8787",
            "localhost:8787",
            "[fe80::1]:8787",
            "10.0.0.1:8787",
        ] {
            assert_eq!(get(&g, "/", &[("host", host)]), Ok(()), "{host}");
        }
        for host in ["evil.example:8787", "10.0.0.1:8788", "0x7f.1:8787"] {
            assert!(get(&g, "/", &[("host", host)]).is_err(), "{host}");
        }
    }

    #[test]
    fn changes_and_private_reads_must_be_same_origin() {
        let g = loopback();
        let host = ("host", "127.0.0.1:8787");
        // The UI's own requests, and those of no page at all.
        assert_eq!(post(&g, &[host]), Ok(()));
        assert_eq!(
            post(
                &g,
                &[
                    host,
                    ("origin", "http://127.0.0.1:8787"),
                    ("sec-fetch-site", "same-origin")
                ]
            ),
            Ok(())
        );
        assert_eq!(
            get(
                &g,
                "/api/events",
                &[host, ("sec-fetch-site", "same-origin")]
            ),
            Ok(())
        );
        assert_eq!(
            get(&g, "/api/events", &[host, ("sec-fetch-site", "none")]),
            Ok(())
        );
        for origin in [
            "http://evil.example",
            "http://localhost:8787",
            "https://127.0.0.1:8787",
            "http://127.0.0.1:8788",
            "null",
            "http://127.0.0.1:8787/x",
        ] {
            assert!(
                matches!(
                    post(&g, &[host, ("origin", origin)]),
                    Err(Refusal::ForeignOrigin(_))
                ),
                "{origin}"
            );
            assert!(
                get(&g, "/api/events", &[host, ("origin", origin)]).is_err(),
                "{origin}"
            );
        }
        for site in ["cross-site", "same-site", "bogus"] {
            assert_eq!(
                post(&g, &[host, ("sec-fetch-site", site)]),
                Err(Refusal::CrossSite(site.into()))
            );
            assert!(get(&g, "/api/events", &[host, ("sec-fetch-site", site)]).is_err());
            assert!(get(&g, "/api", &[host, ("sec-fetch-site", site)]).is_err());
        }
        // Public files may be linked to and loaded from anywhere.
        assert_eq!(
            get(&g, "/", &[host, ("sec-fetch-site", "cross-site")]),
            Ok(())
        );
        assert_eq!(
            get(&g, "/apix", &[host, ("origin", "http://evil.example")]),
            Ok(())
        );
    }

    #[test]
    fn changes_must_be_json() {
        let g = loopback();
        let check = |ct: Option<&str>| {
            let mut pairs = vec![("host", "localhost:8787")];
            if let Some(ct) = ct {
                pairs.push(("content-type", ct));
            }
            g.check(
                &Method::POST,
                &"/api/end_demo".parse().unwrap(),
                &headers(&pairs),
            )
        };
        assert_eq!(check(Some("application/json")), Ok(()));
        assert_eq!(check(Some("Application/JSON; charset=utf-8")), Ok(()));
        assert_eq!(check(None), Err(Refusal::NotJson(None)));
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            let refusal = check(Some(ct)).unwrap_err();
            assert_eq!(refusal.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert!(
                refusal.to_string().contains("application/json"),
                "{refusal}"
            );
        }
    }

    #[test]
    fn refusals_quote_little() {
        let long = format!("{}.example:8787", "a".repeat(5000));
        let e = get(&loopback(), "/", &[("host", &long)]).unwrap_err();
        assert!(e.to_string().len() < 400, "{e}");
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
    }
}
