//! The route model: an immutable table per ingress class, built once per change and read on
//! every request. Lookup is a hash on the host, then a per-host path structure, so its cost does
//! not grow with the number of routes.

mod builder;
mod host;
mod path;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

pub use builder::{Conflict, RouteTableBuilder};
pub use host::{normalize_host, HostBuf};
pub use path::HostRoutes;

use crate::balance::Backend;

/// Which Ingress a route came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IngressRef {
    /// Namespace of the Ingress.
    pub namespace: Arc<str>,
    /// Name of the Ingress.
    pub name: Arc<str>,
}

impl IngressRef {
    /// Builds a reference from namespace and name.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for IngressRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Ingress v1 path types (`ImplementationSpecific` is treated as `Prefix`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathType {
    /// Case-sensitive whole-path match.
    Exact,
    /// Element-wise prefix match on `/`-separated segments.
    Prefix,
}

impl PathType {
    /// The spec's name for this type.
    pub fn as_str(self) -> &'static str {
        match self {
            PathType::Exact => "Exact",
            PathType::Prefix => "Prefix",
        }
    }
}

/// Where a matched request goes, and what it is reported as.
#[derive(Debug)]
pub struct RouteTarget {
    /// The Ingress that owns the rule.
    pub ingress: IngressRef,
    /// The rule's host as written (`""` for a host-less rule or a default backend).
    pub rule_host: Arc<str>,
    /// The rule's path as written (`""` for a default backend).
    pub rule_path: Arc<str>,
    /// The rule's path type.
    pub path_type: PathType,
    /// The Service port the rule names, with its endpoints.
    pub backend: Arc<Backend>,
    /// Plain-HTTP requests get a 308 to HTTPS (the host has TLS, or the Ingress forces it).
    pub redirect_https: bool,
}

/// Facts about a table that the admin and status pages show.
#[derive(Clone, Debug, Default)]
pub struct TableInfo {
    /// Increases by one on every swap of this class's table (0 = no table yet).
    pub generation: u64,
    /// When the table was swapped in (unix seconds).
    pub swapped_at_unix: u64,
}

/// One ingress class's immutable routes.
#[derive(Debug, Default)]
pub struct RouteTable {
    info: TableInfo,
    exact_hosts: HashMap<Box<str>, HostRoutes>,
    /// `*.foo.com` rules keyed by `foo.com`.
    wildcard_hosts: HashMap<Box<str>, HostRoutes>,
    /// Rules without a host match every host that has no rules of its own.
    any_host: Option<HostRoutes>,
    default_backend: Option<Arc<RouteTarget>>,
    /// Hosts (exact, or `*.parent` as `parent`) whose plain-HTTP requests are redirected even
    /// when no path matches, as ingress-nginx does for a host with TLS.
    https_hosts: std::collections::HashSet<Box<str>>,
    https_wildcards: std::collections::HashSet<Box<str>>,
}

impl RouteTable {
    /// An empty table (every request answers 404).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Generation and swap time of this table.
    pub fn info(&self) -> &TableInfo {
        &self.info
    }

    /// Stamps the table with its generation and swap time before it is published.
    pub fn set_info(&mut self, info: TableInfo) {
        self.info = info;
    }

    /// Finds the route for a request's Host header (or authority) and path (without query).
    ///
    /// The most specific host group that exists decides: exact host, then wildcard, then
    /// host-less rules. Within it Exact paths beat prefixes and the longest prefix wins; a
    /// request that matches no path falls to the class's default backend.
    pub fn lookup(&self, host: &str, path: &str) -> Option<&Arc<RouteTarget>> {
        let mut buf = HostBuf::new();
        let host = normalize_host(host, &mut buf);
        self.host_routes(host)
            .and_then(|routes| routes.find(path))
            .or(self.default_backend.as_ref())
    }

    /// True when plain-HTTP requests for `host` go to HTTPS, whatever their path.
    pub fn redirects_host(&self, host: &str) -> bool {
        if self.https_hosts.is_empty() && self.https_wildcards.is_empty() {
            return false;
        }
        let mut buf = HostBuf::new();
        let host = normalize_host(host, &mut buf);
        self.https_hosts.contains(host)
            || host
                .split_once('.')
                .is_some_and(|(_, parent)| self.https_wildcards.contains(parent))
    }

    fn host_routes(&self, host: &str) -> Option<&HostRoutes> {
        if let Some(routes) = self.exact_hosts.get(host) {
            return Some(routes);
        }
        if let Some((_, parent)) = host.split_once('.') {
            if let Some(routes) = self.wildcard_hosts.get(parent) {
                return Some(routes);
            }
        }
        self.any_host.as_ref()
    }

    /// Every route with its host as written (`*` for host-less rules), sorted, for display.
    pub fn routes(&self) -> Vec<(String, Arc<RouteTarget>)> {
        let mut out = Vec::new();
        for (host, routes) in &self.exact_hosts {
            routes.collect_into(host, &mut out);
        }
        for (parent, routes) in &self.wildcard_hosts {
            routes.collect_into(&format!("*.{parent}"), &mut out);
        }
        if let Some(routes) = &self.any_host {
            routes.collect_into("*", &mut out);
        }
        out.sort_by(|a, b| {
            (a.0.as_str(), &*a.1.rule_path, a.1.path_type).cmp(&(
                b.0.as_str(),
                &*b.1.rule_path,
                b.1.path_type,
            ))
        });
        out
    }

    /// The class's default backend, if any Ingress declared one.
    pub fn default_backend(&self) -> Option<&Arc<RouteTarget>> {
        self.default_backend.as_ref()
    }

    /// Number of hosts with rules (exact and wildcard).
    pub fn host_count(&self) -> usize {
        self.exact_hosts.len() + self.wildcard_hosts.len()
    }
}
