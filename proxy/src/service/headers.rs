//! Request and response header handling: forwarded headers and hop-by-hop removal (RFC 9110
//! section 7.6.1).

use gatehouse_metrics::access_log::{write_v4, V4_LEN};
use http::header::{HeaderName, CONNECTION, HOST};
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;

use super::upstream_head::{
    HeaderSets, CF_CONNECTING_IP, HOST_NAME, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PORT,
    X_FORWARDED_PROTO, X_REAL_IP,
};

/// Names made once: a `&str` name is parsed and hashed again on every call.
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
/// Headers an upstream response's `Connection` header can never remove: the response's framing
/// and the request id gatehouse passes through. (Requests are guarded by the
/// `connection_header` step and Pingora's sanitiser.)
const NEVER_HOP_BY_HOP: &[&str] = &["content-length", "transfer-encoding", "x-request-id"];

/// The Host the client asked for: the Host header, else the URI's authority (HTTP/2).
pub fn request_host(req: &RequestHeader) -> &str {
    req.headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
}

/// What the forwarded headers say about the client.
#[derive(Clone, Copy, Debug)]
pub struct Forwarding {
    /// The client's address (see `client_address`).
    pub client_ip: Option<std::net::IpAddr>,
    /// The client used HTTPS.
    pub https: bool,
    /// The peer is a trusted proxy: its `X-Forwarded-For` chain is kept and extended and its
    /// `CF-Connecting-IP` passed on; from anyone else both are replaced.
    pub via_trusted_proxy: bool,
    /// `--forwarded-port`: overrides the `X-Forwarded-Port` taken from the client's Host.
    pub forwarded_port: Option<u16>,
}

/// The headers to set upstream: Host (if HTTP/2 left it in the authority), the X-Forwarded-*
/// and X-Real-IP headers, and CF-Connecting-IP when a client made one up (Pingora has already
/// dropped the hop-by-hop ones). Read from the client's request.
pub fn forwarded_headers(
    session: &Session,
    req: &RequestHeader,
    fwd: &Forwarding,
) -> Result<HeaderSets> {
    let mut sets = HeaderSets::new();
    let host = request_host(req);
    if req.headers.get(HOST).is_none() && !host.is_empty() {
        sets.set(&HOST_NAME, header_value(host)?);
    }
    // Hop-by-hop headers, Connection nominations and non-WebSocket upgrades were already
    // removed by Pingora's upstream-request sanitiser (HttpUpstreamRequestPolicy::standard)
    // before this filter runs; doing it again here would only cost time.

    if let Some(client) = fwd.client_ip.map(ip_value) {
        // A trusted proxy's chain is kept and the proxy itself appended, as every proxy does;
        // anyone else's is replaced, never appended to (the common case: no second string).
        let peer = fwd
            .via_trusted_proxy
            .then(|| session.client_addr().and_then(|a| a.as_inet()))
            .flatten()
            .map(|a| a.ip().to_canonical().to_string());
        let chain = match peer {
            Some(peer) => {
                let incoming: Vec<&str> = req
                    .headers
                    .get_all(X_FORWARDED_FOR.name())
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                if incoming.is_empty() {
                    header_value(&peer)?
                } else {
                    header_value(&format!("{}, {peer}", incoming.join(", ")))?
                }
            }
            None => client.clone(),
        };
        sets.set(&X_FORWARDED_FOR, chain);
        // Only a trusted proxy's CF-Connecting-IP is passed on; one a client made up is
        // replaced by its real address.
        let replace_cf =
            !fwd.via_trusted_proxy && req.headers.contains_key(CF_CONNECTING_IP.name());
        if replace_cf {
            sets.set(&X_REAL_IP, client.clone());
            sets.set(&CF_CONNECTING_IP, client);
        } else {
            sets.set(&X_REAL_IP, client);
        }
    }
    sets.set(
        &X_FORWARDED_PROTO,
        HeaderValue::from_static(if fwd.https { "https" } else { "http" }),
    );
    if !host.is_empty() {
        sets.set(&X_FORWARDED_HOST, header_value(host)?);
    }
    // The port the client used, not the listener's (8443 behind a Service on 443): apps build
    // their own URLs from it.
    let port = fwd
        .forwarded_port
        .unwrap_or_else(|| client_port(host, fwd.https));
    let port = match port {
        80 => HeaderValue::from_static("80"),
        443 => HeaderValue::from_static("443"),
        port => HeaderValue::from(port),
    };
    sets.set(&X_FORWARDED_PORT, port);
    Ok(sets)
}

/// An address as a header value; IPv4 without `core::fmt` (`write_v4`), which cost 1.3k
/// instructions per request here.
fn ip_value(ip: std::net::IpAddr) -> HeaderValue {
    let value = match ip {
        std::net::IpAddr::V4(v4) => HeaderValue::from_str(write_v4(v4, None, &mut [0; V4_LEN])),
        std::net::IpAddr::V6(_) => HeaderValue::from_str(&ip.to_string()),
    };
    // An address is digits, dots and colons: always a valid value.
    value.unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A header value from text the request or gatehouse made.
pub fn header_value(text: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(text).or_err(ErrorType::InvalidHTTPHeader, "invalid header value")
}

/// The port in the client's Host (or authority), else the scheme's default.
fn client_port(host: &str, tls: bool) -> u16 {
    let after_name = match host.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(_, tail)| tail),
        None => host,
    };
    after_name
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(if tls { 443 } else { 80 })
}

/// True when a Host value can name a host: visible ASCII without the characters that would
/// make it a path, a user or a second authority (gatehouse routes on it, and so do backends).
pub fn is_valid_host(value: &[u8]) -> bool {
    value
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'[' | b']'))
}

/// The header names a response's `Connection` value lists as hop-by-hop and `headers` holds,
/// less the ones it may not remove. Usually none (`Connection: keep-alive` names no header
/// that is there), and then nothing is allocated.
fn connection_tokens(value: Option<&HeaderValue>, headers: &http::HeaderMap) -> Vec<HeaderName> {
    value
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
                .filter(|name| !NEVER_HOP_BY_HOP.contains(&name.as_str()))
                .filter(|name| headers.contains_key(name))
                .collect()
        })
        .unwrap_or_default()
}

/// Drops hop-by-hop headers from an upstream response (kept on a 101 switch).
pub fn strip_response_hop_by_hop(resp: &mut ResponseHeader) {
    if resp.status.as_u16() == 101 {
        return;
    }
    for name in connection_tokens(resp.headers.get(CONNECTION), &resp.headers) {
        resp.remove_header(&name);
    }
    // Looked up before removing: a removal also searches the header-case map.
    for name in [&KEEP_ALIVE, &PROXY_CONNECTION] {
        if resp.headers.contains_key(name) {
            resp.remove_header(name);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_connection_header_cannot_strip_framing() {
        let mut resp = ResponseHeader::build(200, None).expect("response");
        for (name, value) in [
            ("content-length", "5"),
            ("x-drop", "1"),
            ("connection", "keep-alive, content-length, x-drop"),
        ] {
            resp.append_header(name, value).expect("header");
        }
        strip_response_hop_by_hop(&mut resp);
        assert!(resp.headers.contains_key("content-length"));
        assert!(!resp.headers.contains_key("x-drop"));
    }

    #[test]
    fn forwarded_port_is_the_clients() {
        let cases = [
            ("a.test", false, 80),
            ("a.test", true, 443),
            ("a.test:8443", false, 8443),
            ("[::1]:9000", true, 9000),
            ("[::1]", true, 443),
            ("a.test:x", false, 80),
        ];
        for (host, tls, want) in cases {
            assert_eq!(client_port(host, tls), want, "{host} tls={tls}");
        }
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let cases = [
            "0.0.0.0",
            "1.2.3.4",
            "10.0.0.255",
            "192.168.100.9",
            "255.255.255.255",
            "99.100.9.10",
            "::1",
            "2001:db8::7",
            "::ffff:192.0.2.1",
        ];
        for text in cases {
            let ip: std::net::IpAddr = text.parse().expect("address");
            assert_eq!(ip_value(ip).as_bytes(), ip.to_string().as_bytes(), "{text}");
        }
    }

    #[test]
    fn host_values() {
        for ok in ["a.test", "A-b_c.test:8080", "[::1]:80", ""] {
            assert!(is_valid_host(ok.as_bytes()), "{ok:?}");
        }
        for bad in ["a test", "a/b", "a@b", "caf\u{e9}.test", "a\\b", "a\tb"] {
            assert!(!is_valid_host(bad.as_bytes()), "{bad:?}");
        }
    }
}
