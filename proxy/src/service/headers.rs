//! Request and response header handling: forwarded headers and hop-by-hop removal (RFC 9110
//! section 7.6.1).

use http::header::{HeaderName, CONNECTION, HOST, TE, UPGRADE};
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;

const KEEP_ALIVE: &str = "keep-alive";
const PROXY_CONNECTION: &str = "proxy-connection";

/// The Host the client asked for: the Host header, else the URI's authority (HTTP/2).
pub fn request_host(req: &RequestHeader) -> &str {
    req.headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
}

/// Sets Host (if HTTP/2 left it in the authority), the X-Forwarded-* and X-Real-IP headers, and
/// drops hop-by-hop headers.
pub fn prepare_upstream_request(session: &Session, req: &mut RequestHeader) -> Result<()> {
    let host = request_host(req).to_owned();
    if req.headers.get(HOST).is_none() && !host.is_empty() {
        req.insert_header(HOST, host.as_str())?;
    }
    strip_request_hop_by_hop(req);

    let client_ip = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_string());
    let local_port = session
        .server_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.port());
    let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());

    // Client-supplied forwarding headers are not trusted yet: they are replaced, not appended.
    if let Some(ip) = &client_ip {
        req.insert_header("x-forwarded-for", ip.as_str())?;
        req.insert_header("x-real-ip", ip.as_str())?;
    }
    req.insert_header("x-forwarded-proto", if tls { "https" } else { "http" })?;
    if !host.is_empty() {
        req.insert_header("x-forwarded-host", host.as_str())?;
    }
    if let Some(port) = local_port {
        req.insert_header("x-forwarded-port", port)?;
    }
    Ok(())
}

fn connection_tokens(value: Option<&HeaderValue>) -> Vec<HeaderName> {
    value
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn strip_request_hop_by_hop(req: &mut RequestHeader) {
    let upgrade = req.headers.contains_key(UPGRADE);
    for name in connection_tokens(req.headers.get(CONNECTION)) {
        // An upgrade (WebSocket) keeps its Upgrade header: Pingora tunnels it end to end.
        if upgrade && name == UPGRADE {
            continue;
        }
        req.remove_header(&name);
    }
    if !upgrade {
        req.remove_header(&CONNECTION);
    }
    req.remove_header(KEEP_ALIVE);
    req.remove_header(PROXY_CONNECTION);
    let te_trailers = req
        .headers
        .get(TE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("trailers"));
    if !te_trailers {
        req.remove_header(&TE);
    }
}

/// Drops hop-by-hop headers from an upstream response (kept on a 101 switch).
pub fn strip_response_hop_by_hop(resp: &mut ResponseHeader) {
    if resp.status.as_u16() == 101 {
        return;
    }
    for name in connection_tokens(resp.headers.get(CONNECTION)) {
        resp.remove_header(&name);
    }
    resp.remove_header(KEEP_ALIVE);
    resp.remove_header(PROXY_CONNECTION);
}

/// `https://` + the request's host (without port) + path and query, for the HTTPS redirect.
pub fn https_location(req: &RequestHeader) -> String {
    let host = request_host(req);
    let host = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    format!("https://{host}{path}")
}
