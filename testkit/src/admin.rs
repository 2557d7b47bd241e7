//! Reads gatehouse's admin API (/readyz) over a fresh loopback connection per call.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;

/// Bound on one admin request, so a hung admin server cannot hang a test.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// GETs `path` on `addr` with a one-shot HTTP/1.1 connection; returns status and body text.
///
/// A connection per call avoids sharing pooled connections across test runtimes.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    tokio::time::timeout(ADMIN_TIMEOUT, get_inner(addr, path))
        .await
        .map_err(|_| anyhow!("GET http://{addr}{path}: timed out after {ADMIN_TIMEOUT:?}"))?
}

async fn get_inner(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to admin {addr}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("admin handshake")?;
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .context("build admin request")?;
    let response = sender
        .send_request(request)
        .await
        .with_context(|| format!("GET http://{addr}{path}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .context("read admin body")?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// GET /readyz: status code and parsed JSON body (`Null` if the body is not JSON).
pub async fn readyz(addr: SocketAddr) -> anyhow::Result<(u16, serde_json::Value)> {
    let (status, body) = get(addr, "/readyz").await?;
    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    Ok((status, json))
}

/// The route-table generation of `class` as reported by /readyz.
pub async fn generation(addr: SocketAddr, class: &str) -> anyhow::Result<u64> {
    let (status, json) = readyz(addr).await?;
    json.get("instances")
        .and_then(|instances| instances.get(class))
        .and_then(|instance| instance.get("generation"))
        .and_then(|generation| generation.as_u64())
        .ok_or_else(|| anyhow!("/readyz ({status}) has no generation for class {class}: {json}"))
}
