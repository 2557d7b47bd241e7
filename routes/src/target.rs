//! What a route points at: the Ingress it came from, the rule as written, the backend and the
//! route's policy.

use std::sync::Arc;

use crate::{Backend, Prepared, RoutePolicy};

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

/// Where a matched request goes, what it is reported as, and how it is handled.
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
    /// Per-route behaviour, shared by the routes of one Ingress that behave alike.
    pub policy: Arc<RoutePolicy>,
    /// The proxy's per-route state (its metric series handles), made on the route's first
    /// request.
    pub observed: Prepared,
}
