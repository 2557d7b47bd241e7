//! Typed per-route and per-host behaviour. Each field is read by one request step in the proxy;
//! the controller's annotations module is the only place that fills them from Ingresses.

use std::sync::Arc;
use std::time::Duration;

use crate::basic_auth::{BasicAuth, Satisfy};
use crate::forward_auth::ForwardAuth;
use crate::source::SourceRanges;
use crate::upstream::{BackendProtocol, UpstreamTls};

/// How requests on one route are handled. `Default` is gatehouse's behaviour with no
/// annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RoutePolicy {
    /// Plain-HTTP requests get a 308 to HTTPS (the host has TLS, or the Ingress forces it).
    pub redirect_https: bool,
    /// Upstream connect timeout (`proxy-connect-timeout`); `None` uses the proxy's default.
    pub connect_timeout: Option<Duration>,
    /// Paths holding `%2F` / `%5C` are routed (`gatehouse.dev/allow-encoded-slashes`) instead
    /// of refused with 400; APIs such as GitLab's put encoded slashes in paths.
    pub allow_encoded_slashes: bool,
    /// Every request is refused with 503 and this reason: the Ingress asks for access control
    /// gatehouse cannot give (or gives it an invalid value), and serving it open is never the
    /// fallback.
    pub refuse: Option<Arc<str>>,
    /// Only clients in these ranges are served (`whitelist-source-range`); others get 403.
    pub allow_sources: Option<SourceRanges>,
    /// Clients in these ranges get 403 (`denylist-source-range`); it wins over the allow-list.
    pub deny_sources: Option<SourceRanges>,
    /// Largest request body (`proxy-body-size`, zero: no limit); `None` uses the instance's.
    pub body_max: Option<u64>,
    /// Longest pause between two reads from the upstream (`proxy-read-timeout`); `None` uses
    /// the instance's.
    pub read_timeout: Option<Duration>,
    /// Longest pause between two writes to the upstream (`proxy-send-timeout`); `None` uses
    /// the instance's.
    pub send_timeout: Option<Duration>,
    /// When a failed upstream exchange is tried again on another endpoint
    /// (`proxy-next-upstream*`).
    pub retry: RetryPolicy,
    /// Requests need valid credentials (`auth-type: basic`); others get 401 with the realm.
    pub basic_auth: Option<BasicAuth>,
    /// How the source lists and basic authentication combine (`satisfy`).
    pub satisfy: Satisfy,
    /// Requests pass only when an auth service says so (`auth-url`, or the global auth URL).
    pub forward_auth: Option<Arc<ForwardAuth>>,
    /// The protocol spoken to the backends (`backend-protocol`).
    pub backend_protocol: BackendProtocol,
    /// Verification and server name when that protocol uses TLS (`proxy-ssl-*`).
    pub upstream_tls: UpstreamTls,
    /// The Host header sent to the backends (`upstream-vhost`); `None` keeps the client's.
    /// `X-Forwarded-Host` always carries the client's.
    pub upstream_vhost: Option<Arc<str>>,
}

/// When a request whose upstream exchange failed before any response byte arrived is tried
/// again on another endpoint, as ingress-nginx's `proxy-next-upstream` does. `Default` is
/// ingress-nginx's: `error timeout`, 3 tries, no time limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RetryPolicy {
    /// Retry when connecting, sending the request or reading the response head fails
    /// (`error`).
    pub on_error: bool,
    /// Retry when the upstream times out (`timeout`).
    pub on_timeout: bool,
    /// Retry non-idempotent requests (POST, PATCH…) too (`non_idempotent`).
    pub non_idempotent: bool,
    /// Tries in all, the first included (`proxy-next-upstream-tries`; zero: as many as there
    /// are endpoints).
    pub tries: u32,
    /// No new try starts after this long since the first (`proxy-next-upstream-timeout`).
    pub timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            on_error: true,
            on_timeout: true,
            non_idempotent: false,
            tries: 3,
            timeout: None,
        }
    }
}

impl RetryPolicy {
    /// Whether another try may start after `tries_so_far` tries that began `elapsed` ago.
    pub fn allows_another(&self, tries_so_far: u32, elapsed: Duration) -> bool {
        (self.tries == 0 || tries_so_far < self.tries)
            && self.timeout.is_none_or(|limit| elapsed < limit)
    }
}

/// Behaviour of a whole host, for requests that no rule of that host matched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostPolicy {
    /// Plain-HTTP requests for this host go to HTTPS whatever their path, as ingress-nginx's
    /// per-server redirect does for a host with TLS.
    pub redirect_https: bool,
}

impl HostPolicy {
    /// The policy of hosts without one of their own.
    pub const NONE: HostPolicy = HostPolicy {
        redirect_https: false,
    };
}
