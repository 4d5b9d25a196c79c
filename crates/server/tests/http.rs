//! The server as a browser (or a hostile page in it) meets it: over HTTP on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parceltrail_app::{App, Options};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HOST, ORIGIN};
use serde_json::{Value, json};

struct Served {
    _dir: tempfile::TempDir,
    app: Arc<App>,
    addr: SocketAddr,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A request as the UI's `transport.js` makes it in Chromium: same-origin, JSON.
    fn ui_post(&self, command: &str, args: Value) -> reqwest::RequestBuilder {
        self.client
            .post(self.url(&format!("/api/{command}")))
            .header(ORIGIN, self.origin())
            .header("sec-fetch-site", "same-origin")
            .header("sec-fetch-mode", "cors")
            .json(&args)
    }
}

fn ui_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui"))
}

async fn serve_ui(ui: PathBuf) -> Served {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::new(dir.path());
    o.credentials_file = true;
    let app = App::open(o, Vec::new()).unwrap();
    let (addr, task) =
        parceltrail_server::serve(app.clone(), "127.0.0.1:0".parse().unwrap(), ui, false)
            .await
            .unwrap();
    Served {
        _dir: dir,
        app,
        addr,
        client: reqwest::Client::new(),
        task,
    }
}

async fn serve() -> Served {
    serve_ui(ui_dir()).await
}

/// A JSON error body's message, checking the shape `docs/api.md` promises.
async fn error_of(res: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(res.status(), status);
    assert_eq!(
        res.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{res:?}"
    );
    let body: Value = res.json().await.unwrap();
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {body}"))
        .to_owned()
}

async fn total(s: &Served) -> u64 {
    let home: Value = s
        .ui_post("home", json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    home["total"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_under_another_host_name_reaches_nothing() {
    let s = serve().await;
    s.ui_post(
        "add",
        json!({ "items": [{ "number": "1Z5R89390357567127" }] }),
    )
    .send()
    .await
    .unwrap()
    .error_for_status()
    .unwrap();
    let evil = format!("evil.example:{}", s.addr.port());

    // A DNS-rebinding page asks for the export as the UI would.
    let res = s
        .client
        .post(s.url("/api/export"))
        .header(HOST, &evil)
        .json(&json!({ "format": "csv" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let e = error_of(res, StatusCode::FORBIDDEN).await;
    assert!(
        e.contains("evil.example") && e.contains(&s.addr.to_string()),
        "{e}"
    );

    // Nor the event stream, nor the UI's files.
    for path in ["/api/events", "/", "/js/transport.js"] {
        let res = s
            .client
            .get(s.url(path))
            .header(HOST, &evil)
            .send()
            .await
            .unwrap();
        error_of(res, StatusCode::FORBIDDEN).await;
    }

    // The server's own names, as a browser sends them, are answered.
    for host in [
        s.addr.to_string(),
        format!("localhost:{}", s.addr.port()),
        format!("[::1]:{}", s.addr.port()),
    ] {
        let res = s
            .client
            .post(s.url("/api/export"))
            .header(HOST, &host)
            .json(&json!({ "format": "csv" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{host}");
        let export: Value = res.json().await.unwrap();
        assert!(
            export["content"]
                .as_str()
                .unwrap()
                .contains("1Z5R89390357567127")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_site_cannot_end_the_demo() {
    let s = serve().await;
    s.app.start_demo().await.unwrap();
    assert_eq!(total(&s).await, 12);

    // A body-less `fetch(url, {method: 'POST', mode: 'no-cors'})` or a beacon from a page.
    let res = s
        .client
        .post(s.url("/api/end_demo"))
        .header(ORIGIN, "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    let e = error_of(res, StatusCode::FORBIDDEN).await;
    assert!(e.contains("another site"), "{e}");

    // Each sign of another site is enough alone, even with a JSON body.
    let same_site = s
        .client
        .post(s.url("/api/end_demo"))
        .header("sec-fetch-site", "same-site")
        .json(&json!({}));
    let foreign_origin = s
        .client
        .post(s.url("/api/end_demo"))
        .header(ORIGIN, "http://localhost:3000")
        .json(&json!({}));
    for request in [same_site, foreign_origin] {
        error_of(request.send().await.unwrap(), StatusCode::FORBIDDEN).await;
    }

    // A browser that sends neither header still cannot send JSON to another site without a
    // preflight, and a form or a text body is refused.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = s.client.post(s.url("/api/end_demo")).body("{}");
        if let Some(ct) = content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        let e = error_of(
            request.send().await.unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        )
        .await;
        assert!(e.contains("application/json"), "{e}");
    }
    assert_eq!(total(&s).await, 12, "the demo's parcels are all there");

    // The UI itself ends it.
    let res = s.ui_post("end_demo", json!({})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({ "removed": 12 }));
    s.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_is_for_the_ui_only() {
    let s = serve().await;
    let res = s
        .client
        .get(s.url("/api/events"))
        .header(ORIGIN, "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    error_of(res, StatusCode::FORBIDDEN).await;

    // The UI's EventSource, and its page loaded from a link on another site.
    let res = s
        .client
        .get(s.url("/api/events"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "text/event-stream");
    drop(res);
    let res = s
        .client
        .get(s.url("/"))
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("<html"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_a_json_error() {
    let s = serve().await;
    let post = |path: &str| {
        s.client
            .post(s.url(path))
            .header(CONTENT_TYPE, "application/json")
    };

    let e = error_of(
        post("/api/no_such_command")
            .body("{}")
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(e.contains("no_such_command"), "{e}");

    let e = error_of(
        post("/api/add").body("{\"items\": [").send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        e.contains("EOF while parsing") && e.contains("line 1 column 11"),
        "{e}"
    );
    // A body-less command still needs its `{}`.
    let e = error_of(
        post("/api/end_demo").send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(e.contains("EOF while parsing"), "{e}");

    let res = s.client.get(s.url("/api/home")).send().await.unwrap();
    assert_eq!(res.headers()["allow"], "POST");
    let e = error_of(res, StatusCode::METHOD_NOT_ALLOWED).await;
    assert!(e.contains("POST"), "{e}");
    let res = post("/api/events").body("{}").send().await.unwrap();
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    error_of(res, StatusCode::METHOD_NOT_ALLOWED).await;

    for path in ["/api", "/api/", "/api/home/extra", "/api/a/b/c"] {
        let res = s.client.get(s.url(path)).send().await.unwrap();
        let e = error_of(res, StatusCode::NOT_FOUND).await;
        assert!(e.contains("no such API route"), "{path}: {e}");
    }

    let e = error_of(
        s.client
            .post(s.url("/api/home"))
            .body("{}")
            .send()
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert!(e.contains("no content type"), "{e}");
}

/// Past the body limit the server answers before reading the rest, so over a socket the
/// answer races the client's writing; handed to the routes directly it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_past_the_limit_is_a_json_error() {
    use tower::ServiceExt;
    let s = serve().await;
    let routes = parceltrail_server::router(
        s.app.clone(),
        ui_dir(),
        parceltrail_server::guard::Guard::serving(s.addr),
    );
    // 32 MiB is the most an import may be.
    let big = format!(
        "{{\"filename\": \"a.csv\", \"content\": \"{}\"}}",
        "x".repeat(33 << 20)
    );
    let request = axum::http::Request::post("/api/import")
        .header(HOST, s.addr.to_string())
        .header(CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(big))
        .unwrap();
    let res = routes.oneshot(request).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["error"].as_str().unwrap().contains("32 MiB"), "{body}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_link_leads_out_of_the_ui_folder() {
    use std::os::unix::fs::symlink;
    let ui = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let write = |dir: &Path, name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(ui.path(), "index.html", "<!doctype html><html>home</html>");
    std::fs::create_dir(ui.path().join("js")).unwrap();
    write(&ui.path().join("js"), "app.js", "// app");
    write(outside.path(), "secret.txt", "secret");
    write(outside.path(), "index.html", "secret page");
    symlink("/", ui.path().join("root")).unwrap();
    symlink(outside.path(), ui.path().join("elsewhere")).unwrap();
    symlink(
        outside.path().join("secret.txt"),
        ui.path().join("leak.txt"),
    )
    .unwrap();
    symlink(
        outside.path().join("index.html"),
        ui.path().join("js/index.html"),
    )
    .unwrap();
    // Links within the folder are fine.
    symlink("js", ui.path().join("scripts")).unwrap();
    let s = serve_ui(ui.path().to_path_buf()).await;

    for path in [
        "/root/etc/passwd",
        "/%72oot/etc/passwd",
        "/root/",
        "/elsewhere/secret.txt",
        "/elsewhere/",
        "/leak.txt",
        "/js/",
        "/js/index.html",
    ] {
        let res = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("root:") && !body.contains("secret"),
            "{path}: {body}"
        );
    }
    for (path, text) in [
        ("/", "home"),
        ("/index.html", "home"),
        ("/scripts/app.js", "// app"),
    ] {
        let res = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(res.text().await.unwrap().contains(text), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_interface_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::new(dir.path());
    o.credentials_file = true;
    let app = App::open(o, Vec::new()).unwrap();
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let err = parceltrail_server::serve(app.clone(), any, ui_dir(), false)
        .await
        .map(|_| ())
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("0.0.0.0")
            && message.contains("--allow-remote")
            && message.contains("no accounts"),
        "{message}"
    );

    let (addr, task) = parceltrail_server::serve(app, any, ui_dir(), true)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/api/settings", addr.port());
    let ask = |host: String| client.post(&url).header(HOST, host).json(&json!({})).send();
    assert_eq!(
        ask(format!("127.0.0.1:{}", addr.port()))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(format!("192.0.2.7:{}", addr.port()))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(format!("evil.example:{}", addr.port()))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    task.abort();
}
