//! The deadlines, size limits and client-address settings of one instance, typed. The binary builds them from its flags
//! (defaults, names and ingress-nginx equivalents are in its settings table); the connection
//! guard and the request steps read them.

use std::time::Duration;

use crate::routes::SourceRanges;

/// Client- and upstream-side limits of one instance, and whom it trusts for client addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long an idle keep-alive connection stays open (zero: no keep-alive).
    pub keep_alive: Duration,
    /// Requests served on one HTTP/1 connection before it is closed (zero: no limit).
    pub keep_alive_requests: u32,
    /// Total time a request head may take to arrive: from accept, or from the first byte of a
    /// later request on a kept-alive connection.
    pub client_header_timeout: Duration,
    /// Longest pause between two reads of a request body.
    pub client_body_timeout: Duration,
    /// Longest a write to the client may wait.
    pub send_timeout: Duration,
    /// How long the unread body of a request gatehouse answered itself is discarded before
    /// the connection closes (zero: close at once).
    pub lingering_time: Duration,
    /// Longest pause between two reads of such a body.
    pub lingering_timeout: Duration,
    /// How long an HTTP/2 connection without streams stays open.
    pub http2_idle_timeout: Duration,
    /// Streams a client may have open at once on one HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// Open client connections of the instance; more are closed at once.
    pub max_connections: usize,
    /// The request line and each header line may be this long (414 / 431 beyond).
    pub header_line_max: usize,
    /// The whole request head may be this long (431 beyond).
    pub header_total_max: usize,
    /// Largest request body (413 beyond; zero: no limit), unless the route says otherwise.
    pub body_max: u64,
    /// Connect timeout to an endpoint, unless the route says otherwise.
    pub proxy_connect_timeout: Duration,
    /// Longest pause between two reads from an upstream (504 before its answer has begun).
    pub proxy_read_timeout: Duration,
    /// Longest pause between two writes to an upstream.
    pub proxy_send_timeout: Duration,
    /// Idle upstream connections kept for reuse, per worker thread.
    pub upstream_keepalive_connections: usize,
    /// Longest an auth subrequest (`auth-url`) may take, connect included (500 beyond).
    pub auth_timeout: Duration,
    /// `X-Forwarded-Port` sent upstream instead of the port the client used.
    pub forwarded_port: Option<u16>,
    /// Peers whose forwarded headers (and PROXY protocol headers) are believed (`None`: none).
    pub trusted_proxies: Option<SourceRanges>,
    /// The header a trusted proxy puts the client's address in (`CF-Connecting-IP`); `None`:
    /// the right-most untrusted address of `X-Forwarded-For`.
    pub real_ip_header: Option<http::HeaderName>,
    /// Connections start with a PROXY protocol header (from trusted proxies only).
    pub proxy_protocol: bool,
}

impl Limits {
    /// Whether a request body of `length` bytes is over the limit `max` (zero: no limit).
    pub fn body_too_large(max: u64, length: u64) -> bool {
        max != 0 && length > max
    }

    /// The keep-alive timeout as Pingora takes it: whole seconds, rounded up, `None` for off.
    pub fn keep_alive_secs(&self) -> Option<u64> {
        if self.keep_alive.is_zero() {
            return None;
        }
        let secs = self.keep_alive.as_secs() + u64::from(self.keep_alive.subsec_nanos() > 0);
        Some(secs.max(1))
    }
}
