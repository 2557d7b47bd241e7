//! Typed per-route and per-host behaviour. Each field is read by one request step in the proxy;
//! the controller's annotations module is the only place that fills them from Ingresses.

use std::sync::Arc;
use std::time::Duration;

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
    /// The protocol spoken to the backends (`backend-protocol`).
    pub backend_protocol: BackendProtocol,
    /// Verification and server name when that protocol uses TLS (`proxy-ssl-*`).
    pub upstream_tls: UpstreamTls,
    /// The Host header sent to the backends (`upstream-vhost`); `None` keeps the client's.
    /// `X-Forwarded-Host` always carries the client's.
    pub upstream_vhost: Option<Arc<str>>,
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
