//! Who the client is: the connection's peer, unless that peer is a proxy the operator trusts
//! (`trusted-proxies`), in which case the client's address is read from what the proxy says —
//! the `real-ip-header` (cloudflared's `CF-Connecting-IP`) or else the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy — and its scheme from
//! `X-Forwarded-Proto`. Nothing a client sends directly is believed. The allow- and deny-lists,
//! the access log, forward auth and the headers sent upstream all read the result.
//!
//! With `proxy-protocol`, the peer is the PROXY header's source (the connection guard replaced
//! the socket digest before the session began), so a balancer's client is untrusted like a
//! direct one unless that source is itself in `trusted-proxies`.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use crate::limits::Limits;

/// The client as gatehouse believes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress {
    /// The client's address.
    pub ip: IpAddr,
    /// The client used HTTPS (the connection is TLS, or a trusted proxy says so).
    pub https: bool,
    /// The connection's peer is a trusted proxy (its forwarded headers were read).
    pub via_trusted_proxy: bool,
}

/// The client behind a connection from `peer` (`tls`: the connection is TLS).
pub fn resolve(peer: IpAddr, tls: bool, headers: &HeaderMap, limits: &Limits) -> ClientAddress {
    let untrusted = ClientAddress {
        ip: peer,
        https: tls,
        via_trusted_proxy: false,
    };
    let Some(trusted) = limits.trusted_proxies.as_ref() else {
        return untrusted;
    };
    if !trusted.contains(peer) {
        return untrusted;
    }
    let from_header = limits
        .real_ip_header
        .as_ref()
        .and_then(|name| headers.get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(parse_ip);
    let ip = from_header
        .or_else(|| forwarded_for(headers, |ip| trusted.contains(ip)))
        .unwrap_or(peer);
    let https = match forwarded_proto(headers) {
        Some(proto) => proto,
        None => tls,
    };
    ClientAddress {
        ip: ip.to_canonical(),
        https,
        via_trusted_proxy: true,
    }
}

/// The right-most address of `X-Forwarded-For` (all its fields, in order) that `trusted` does
/// not contain, skipping trusted hops; the left-most one when every hop is trusted. An entry
/// that is not an address stops the walk: what lies left of it cannot be trusted.
fn forwarded_for(headers: &HeaderMap, trusted: impl Fn(IpAddr) -> bool) -> Option<IpAddr> {
    let values: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut candidate = None;
    for entry in values.iter().rev().flat_map(|v| v.rsplit(',')) {
        let Some(ip) = parse_ip(entry) else {
            break;
        };
        candidate = Some(ip);
        if !trusted(ip) {
            break;
        }
    }
    candidate
}

/// `X-Forwarded-Proto` (the first value): `Some(true)` for `https`, `Some(false)` for `http`.
fn forwarded_proto(headers: &HeaderMap) -> Option<bool> {
    let value = headers.get("x-forwarded-proto")?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    if first.eq_ignore_ascii_case("https") {
        Some(true)
    } else if first.eq_ignore_ascii_case("http") {
        Some(false)
    } else {
        None
    }
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, with or
/// without a port.
fn parse_ip(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    t.parse::<IpAddr>()
        .ok()
        .or_else(|| t.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            t.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{IpNet, SourceRanges};

    fn limits(trusted: &[&str], header: Option<&str>) -> Limits {
        let nets: Vec<IpNet> = trusted.iter().map(|n| n.parse().unwrap()).collect();
        Limits {
            keep_alive: Default::default(),
            keep_alive_requests: 0,
            client_header_timeout: Default::default(),
            client_body_timeout: Default::default(),
            send_timeout: Default::default(),
            lingering_time: Default::default(),
            lingering_timeout: Default::default(),
            http2_idle_timeout: Default::default(),
            http2_max_concurrent_streams: 0,
            max_connections: 0,
            header_line_max: 0,
            header_total_max: 0,
            body_max: 0,
            proxy_connect_timeout: Default::default(),
            proxy_read_timeout: Default::default(),
            proxy_send_timeout: Default::default(),
            upstream_keepalive_connections: Default::default(),
            auth_timeout: Default::default(),
            forwarded_port: None,
            trusted_proxies: SourceRanges::new(nets),
            real_ip_header: header.map(|h| h.parse().unwrap()),
            proxy_protocol: false,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// (limits, peer, connection tls, headers, want ip, want https, via trusted proxy)
    type Case<'a> = (
        &'a Limits,
        &'a str,
        bool,
        Vec<(&'a str, &'a str)>,
        &'a str,
        bool,
        bool,
    );

    #[test]
    fn the_client_address_by_case() {
        let cf = limits(&["10.69.0.0/16"], Some("cf-connecting-ip"));
        let xff = limits(&["10.69.0.0/16", "192.0.2.0/28"], None);
        let nobody = limits(&[], None);
        let cases: Vec<Case> = vec![
            // cloudflared: CF-Connecting-IP wins; the client's own XFF entry is ignored.
            (
                &cf,
                "10.69.3.4",
                false,
                vec![
                    ("cf-connecting-ip", "203.0.113.9"),
                    ("x-forwarded-for", "6.6.6.6, 203.0.113.9"),
                    ("x-forwarded-proto", "https"),
                ],
                "203.0.113.9",
                true,
                true,
            ),
            // Without the header: the right-most untrusted XFF hop.
            (
                &cf,
                "10.69.3.4",
                false,
                vec![("x-forwarded-for", "6.6.6.6, 203.0.113.9")],
                "203.0.113.9",
                false,
                true,
            ),
            // An invalid CF-Connecting-IP falls back to XFF.
            (
                &cf,
                "10.69.3.4",
                true,
                vec![
                    ("cf-connecting-ip", "not an address"),
                    ("x-forwarded-for", "203.0.113.9"),
                ],
                "203.0.113.9",
                true,
                true,
            ),
            // Trusted hops are skipped, over several header lines.
            (
                &xff,
                "192.0.2.1",
                false,
                vec![
                    ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
                    ("x-forwarded-for", "10.69.0.5, 192.0.2.3"),
                ],
                "198.51.100.7",
                false,
                true,
            ),
            // Every hop trusted: the left-most.
            (
                &xff,
                "192.0.2.1",
                false,
                vec![("x-forwarded-for", "10.69.0.9, 192.0.2.3")],
                "10.69.0.9",
                false,
                true,
            ),
            // Garbage right of the client: stop at the last good hop.
            (
                &xff,
                "192.0.2.1",
                false,
                vec![("x-forwarded-for", "198.51.100.7, junk, 10.69.0.5")],
                "10.69.0.5",
                false,
                true,
            ),
            // Ports and brackets as proxies write them; IPv6.
            (
                &xff,
                "192.0.2.1",
                false,
                vec![("x-forwarded-for", "[2001:db8::7]:4711")],
                "2001:db8::7",
                false,
                true,
            ),
            // No forwarded headers from a trusted proxy: the proxy itself.
            (&xff, "192.0.2.1", false, vec![], "192.0.2.1", false, true),
            // An untrusted peer's headers count for nothing.
            (
                &cf,
                "198.51.100.1",
                false,
                vec![
                    ("cf-connecting-ip", "10.0.0.1"),
                    ("x-forwarded-for", "10.0.0.1"),
                    ("x-forwarded-proto", "https"),
                ],
                "198.51.100.1",
                false,
                false,
            ),
            (
                &nobody,
                "10.69.3.4",
                true,
                vec![("x-forwarded-proto", "http")],
                "10.69.3.4",
                true,
                false,
            ),
            // A trusted proxy on TLS that says the client used plain HTTP.
            (
                &xff,
                "192.0.2.1",
                true,
                vec![("x-forwarded-proto", "http")],
                "192.0.2.1",
                false,
                true,
            ),
            // An IPv4-mapped peer is its IPv4 address for the trust check.
            (
                &xff,
                "::ffff:192.0.2.1",
                false,
                vec![("x-forwarded-for", "198.51.100.7")],
                "198.51.100.7",
                false,
                true,
            ),
        ];
        for (limits, peer, tls, hs, want, https, trusted) in cases {
            let got = resolve(ip(peer), tls, &headers(&hs), limits);
            assert_eq!(
                got,
                ClientAddress {
                    ip: ip(want),
                    https,
                    via_trusted_proxy: trusted
                },
                "{peer} {hs:?}"
            );
        }
    }
}
