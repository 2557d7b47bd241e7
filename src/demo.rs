//! The built-in demo: example manifests embedded in the binary and small backends for them to
//! route to, so a newcomer sees routed traffic without a cluster.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

/// The example manifests, as shipped in `examples/quickstart/`.
const MANIFESTS: &[(&str, &str)] = &[
    (
        "classes.yaml",
        include_str!("../examples/quickstart/classes.yaml"),
    ),
    (
        "apps.yaml",
        include_str!("../examples/quickstart/apps.yaml"),
    ),
    (
        "ingresses.yaml",
        include_str!("../examples/quickstart/ingresses.yaml"),
    ),
];

/// The demo backends: (name, address). The example EndpointSlices point here.
pub const BACKENDS: &[(&str, &str)] = &[
    ("whoami-1", "127.0.0.1:18081"),
    ("whoami-2", "127.0.0.1:18082"),
    ("whoami-3", "127.0.0.1:18083"),
    ("blog-1", "127.0.0.1:18084"),
];

/// Writes the example manifests into a fresh directory under the system temp dir.
pub fn write_manifests() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("gatehouse-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for (name, text) in MANIFESTS {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(dir)
}

/// True if `dir` holds at least one manifest.
pub fn has_manifests(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// Answers every request with the backend's name and what it received.
pub struct DemoBackend;

#[async_trait]
impl ServeHttp for DemoBackend {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let port = session
            .server_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.port())
            .unwrap_or(0);
        let name = BACKENDS
            .iter()
            .find(|(_, addr)| addr.ends_with(&format!(":{port}")))
            .map_or("demo", |(n, _)| n);
        let req = session.req_header();
        let mut body = format!("hello from {name}\n{} {}\n", req.method, req.uri);
        for (k, v) in &req.headers {
            body.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("<binary>")));
        }
        let mut resp = Response::new(body.into_bytes());
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let len = resp.body().len();
        resp.headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
        resp
    }
}
