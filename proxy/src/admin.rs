//! The admin listener: liveness, readiness (with each instance's table generation).

use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::json;

use crate::instance::InstanceSet;

/// Serves `/healthz` and `/readyz`.
pub struct AdminApp {
    instances: Arc<InstanceSet>,
}

impl AdminApp {
    /// An admin app reporting on `instances`.
    pub fn new(instances: Arc<InstanceSet>) -> Self {
        Self { instances }
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
        let body = json!({ "ready": ready, "instances": instances }).to_string();
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
            _ => reply(StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec()),
        }
    }
}
