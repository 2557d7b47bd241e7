//! HTTP clients for tests and a parsed view of echo backend replies.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;

use crate::echo::BACKEND_HEADER;

/// Per-request timeout for test clients: generous for a slow 2-core machine.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// An HTTP/1.1 client that ignores proxy environment variables.
pub fn http_client() -> reqwest::Client {
    client_builder()
        .build()
        .unwrap_or_else(|e| panic!("build reqwest client: {e}"))
}

/// A client builder with the test defaults (no proxy, timeouts), for further tweaks.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
}

/// An h2c client (HTTP/2 with prior knowledge, cleartext).
pub fn h2c_client() -> reqwest::Client {
    client_builder()
        .http2_prior_knowledge()
        .build()
        .unwrap_or_else(|e| panic!("build h2c client: {e}"))
}

/// A response read whole: status, headers, body; `json` is set when the body is JSON.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as text (lossy).
    pub body: String,
    /// Body parsed as JSON, if it is JSON.
    pub json: Option<serde_json::Value>,
}

impl Reply {
    /// Reads `response` to the end.
    pub async fn read(response: reqwest::Response) -> anyhow::Result<Reply> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.context("read response body")?;
        Ok(Reply::from_parts(status, headers, &bytes))
    }

    /// A reply from a response read by another client: the body as text (lossy), and parsed
    /// when it is JSON.
    pub fn from_parts(status: u16, headers: reqwest::header::HeaderMap, body: &[u8]) -> Reply {
        let body = String::from_utf8_lossy(body).into_owned();
        let json = serde_json::from_str(&body).ok();
        Reply {
            status,
            headers,
            body,
            json,
        }
    }

    /// The echo backend that answered, if any.
    pub fn backend(&self) -> Option<String> {
        if let Some(name) = self.headers.get(BACKEND_HEADER) {
            return name.to_str().ok().map(str::to_string);
        }
        self.json
            .as_ref()
            .and_then(|json| json.get("backend"))
            .and_then(|name| name.as_str())
            .map(str::to_string)
    }

    /// A request header as the echo backend received it (name lowercase).
    pub fn echoed_header(&self, name: &str) -> Option<String> {
        self.json
            .as_ref()
            .and_then(|json| json.get("headers"))
            .and_then(|headers| headers.get(name))
            .and_then(|value| value.as_str())
            .map(str::to_string)
    }

    /// A string field of the echo JSON (e.g. "uri", "method", "version").
    pub fn echoed(&self, field: &str) -> Option<String> {
        self.json
            .as_ref()
            .and_then(|json| json.get(field))
            .and_then(|value| value.as_str())
            .map(str::to_string)
    }

    /// The request body length the echo backend counted.
    pub fn body_len(&self) -> Option<u64> {
        self.json
            .as_ref()
            .and_then(|json| json.get("body_len"))
            .and_then(|value| value.as_u64())
    }

    /// One-line summary for assertion messages.
    pub fn summary(&self) -> String {
        let body: String = self.body.chars().take(300).collect();
        format!("{} backend={:?} body={body}", self.status, self.backend())
    }
}

/// GET `http://addr{path}` with the given Host header.
pub async fn get(
    client: &reqwest::Client,
    addr: SocketAddr,
    host: &str,
    path: &str,
) -> anyhow::Result<Reply> {
    let response = client
        .get(format!("http://{addr}{path}"))
        .header(reqwest::header::HOST, host)
        .send()
        .await
        .with_context(|| format!("GET http://{addr}{path} Host: {host}"))?;
    Reply::read(response).await
}
