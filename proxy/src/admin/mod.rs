//! The admin listener: liveness, readiness (with each instance's table generation), Prometheus
//! metrics, and the status page with the `routes.json` it reads.
//!
//! The page ([`status_page`]) and its document types ([`status_view`]) live here because only
//! the admin listener serves them; `status` builds the document from the instances.

mod status;
pub mod status_page;
pub mod status_view;

pub use status::WarningSource;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::json;

use gatehouse_metrics::Metrics;

use crate::instance::InstanceSet;

/// Prometheus text exposition format 0.0.4.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `/healthz`, `/readyz`, `/metrics`, `/` (status page) and `/routes.json`.
pub struct AdminApp {
    instances: Arc<InstanceSet>,
    metrics: Option<Arc<Metrics>>,
    warnings: Option<Arc<dyn WarningSource>>,
}

impl AdminApp {
    /// An admin app reporting on `instances`.
    pub fn new(instances: Arc<InstanceSet>) -> Self {
        Self {
            instances,
            metrics: None,
            warnings: None,
        }
    }

    /// Serves `metrics` at `/metrics` (404 without).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Shows the controller's translation warnings on the status page.
    pub fn with_warnings(mut self, warnings: Arc<dyn WarningSource>) -> Self {
        self.warnings = Some(warnings);
        self
    }

    fn routes_json(&self) -> (StatusCode, Vec<u8>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let view = status::status_view(&self.instances, self.warnings.as_deref(), now);
        match serde_json::to_vec(&view) {
            Ok(body) => (StatusCode::OK, body),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{{\"error\":\"serialising routes.json: {e}\"}}").into_bytes(),
            ),
        }
    }

    fn readyz(&self) -> (StatusCode, Vec<u8>) {
        let ready = self.instances.ready();
        let instances: serde_json::Map<String, serde_json::Value> = self
            .instances
            .iter()
            .map(|i| {
                let table = i.table().load();
                (
                    i.class.to_string(),
                    json!({
                        "generation": i.generation(),
                        "swapped_at_unix": table.info().swapped_at_unix,
                        "hosts": table.host_count(),
                    }),
                )
            })
            .collect();
        let body = json!({
            "ready": ready,
            "draining": self.instances.draining(),
            "instances": instances,
        })
        .to_string();
        let status = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, body.into_bytes())
    }
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    let len = resp.body().len();
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    resp
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/healthz" => reply(StatusCode::OK, "text/plain", b"ok\n".to_vec()),
            "/readyz" => {
                let (status, body) = self.readyz();
                reply(status, "application/json", body)
            }
            "/metrics" => match &self.metrics {
                Some(m) => reply(
                    StatusCode::OK,
                    METRICS_CONTENT_TYPE,
                    m.encode().into_bytes(),
                ),
                None => reply(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    b"metrics off\n".to_vec(),
                ),
            },
            // The page fetches `routes.json` relative to itself, so both live at the root.
            "/" | "/index.html" => reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                status_page::HTML.as_bytes().to_vec(),
            ),
            "/routes.json" => {
                let (status, body) = self.routes_json();
                reply(status, "application/json", body)
            }
            _ => reply(StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec()),
        }
    }
}
