//! The per-request facts the proxy hands over in its `logging` phase.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Why gatehouse closed a client connection itself (a bounded label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionRefusal {
    /// The instance already had `--max-connections` open.
    MaxConnections,
    /// The request head did not arrive within `--client-header-timeout`.
    HeadTimeout,
    /// The request head was malformed (answered 400).
    BadHead,
    /// The request line was too long (answered 414).
    UriTooLong,
    /// A header line or the whole head was too long (answered 431).
    HeadersTooLarge,
    /// `proxy-protocol`: the PROXY header was missing, malformed, late, or sent by a peer
    /// outside `trusted-proxies`.
    ProxyProtocol,
}

impl ConnectionRefusal {
    /// The label value used in `gatehouse_downstream_connections_refused_total{reason=...}`.
    pub fn as_label(self) -> &'static str {
        match self {
            ConnectionRefusal::MaxConnections => "max_connections",
            ConnectionRefusal::HeadTimeout => "head_timeout",
            ConnectionRefusal::BadHead => "bad_head",
            ConnectionRefusal::UriTooLong => "uri_too_long",
            ConnectionRefusal::HeadersTooLarge => "headers_too_large",
            ConnectionRefusal::ProxyProtocol => "proxy_protocol",
        }
    }
}

/// How an external authentication subrequest (`auth-url`) ended (a bounded label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthOutcome {
    /// 2xx: the request went on.
    Allowed,
    /// 401: redirected to the sign-in URL, or answered 401.
    SignIn,
    /// 403.
    Forbidden,
    /// The auth service could not be reached, timed out, or answered another status (500).
    Failed,
}

impl AuthOutcome {
    /// The label value used in `gatehouse_auth_requests_total{result=...}`.
    pub fn as_label(self) -> &'static str {
        match self {
            AuthOutcome::Allowed => "allowed",
            AuthOutcome::SignIn => "sign_in",
            AuthOutcome::Forbidden => "forbidden",
            AuthOutcome::Failed => "failed",
        }
    }
}

/// How talking to the upstream failed, as far as metrics care (a bounded label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamErrorKind {
    /// The upstream refused the TCP connection.
    ConnectRefused,
    /// Connecting to the upstream timed out.
    ConnectTimeout,
    /// The upstream accepted but did not answer in time.
    ReadTimeout,
    /// The upstream reset or closed the connection mid-exchange.
    Reset,
    /// Anything else (TLS, protocol errors, ...).
    Other,
}

impl UpstreamErrorKind {
    /// Every kind, for pre-registering series.
    pub const ALL: [UpstreamErrorKind; 5] = [
        UpstreamErrorKind::ConnectRefused,
        UpstreamErrorKind::ConnectTimeout,
        UpstreamErrorKind::ReadTimeout,
        UpstreamErrorKind::Reset,
        UpstreamErrorKind::Other,
    ];

    /// The label value used in `gatehouse_upstream_errors_total{kind=...}`.
    pub fn as_label(self) -> &'static str {
        match self {
            UpstreamErrorKind::ConnectRefused => "connect_refused",
            UpstreamErrorKind::ConnectTimeout => "connect_timeout",
            UpstreamErrorKind::ReadTimeout => "read_timeout",
            UpstreamErrorKind::Reset => "reset",
            UpstreamErrorKind::Other => "other",
        }
    }
}

/// One finished request, borrowed from the proxy's per-request context.
///
/// `Default` gives an unmatched, zero-length request so callers and tests can fill only what
/// they know with `..Default::default()`.
#[derive(Debug, Clone, Default)]
pub struct RequestRecord<'a> {
    /// Ingress class / instance name.
    pub class: &'a str,
    /// Namespace of the matched Ingress; "" when no route matched.
    pub namespace: &'a str,
    /// Name (without namespace) of the matched Ingress; "" when no route matched.
    pub ingress: &'a str,
    /// Backend Service name; "" when no route matched.
    pub service: &'a str,
    /// Backend Service port (name or number).
    pub service_port: &'a str,
    /// The Ingress rule's host ("" for a host-less rule / unmatched).
    pub rule_host: &'a str,
    /// The Ingress rule's path, never the request's ("" when unmatched).
    pub rule_path: &'a str,
    /// Request method as received.
    pub method: &'a str,
    /// Request Host header (access log only).
    pub host: &'a str,
    /// Request path without query (access log only).
    pub path: &'a str,
    /// Request query (access log only, when enabled).
    pub query: Option<&'a str>,
    /// Status sent downstream.
    pub status: u16,
    /// Request header + body bytes.
    pub request_bytes: u64,
    /// Response header + body bytes.
    pub response_bytes: u64,
    /// Total time from request start to the last byte sent.
    pub duration: Duration,
    /// Time to connect to the upstream, when a new connection was made.
    pub upstream_connect: Option<Duration>,
    /// Time to the upstream response header.
    pub upstream_header: Option<Duration>,
    /// The upstream peer used (last one when retried).
    pub upstream_addr: Option<SocketAddr>,
    /// The downstream client's address.
    pub client_ip: Option<IpAddr>,
    /// The request id (X-Request-Id) sent upstream.
    pub request_id: &'a str,
    /// How many times the upstream request was retried.
    pub retries: u32,
    /// Why the upstream exchange failed, if it did.
    pub upstream_error: Option<UpstreamErrorKind>,
    /// Whether the upstream connection came from the keep-alive pool.
    pub upstream_reused: Option<bool>,
    /// Whether the downstream connection was TLS.
    pub tls: bool,
}

impl RequestRecord<'_> {
    /// True when a route matched (the proxy leaves `ingress` empty otherwise).
    pub fn matched(&self) -> bool {
        !self.ingress.is_empty()
    }
}
