//! Endpoint sets and their selection: round-robin over ready endpoints, with the ability to
//! skip an endpoint that just failed so a retry lands elsewhere.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The addresses behind one Service port.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EndpointSet {
    /// Endpoints that may receive traffic.
    pub ready: Vec<SocketAddr>,
    /// Endpoints that exist but are not ready (shown, never used).
    pub not_ready: Vec<SocketAddr>,
}

/// A Service port as the proxy sees it: identity for metrics plus its endpoints.
#[derive(Debug)]
pub struct Backend {
    /// Namespace of the Service.
    pub namespace: Arc<str>,
    /// Name of the Service.
    pub service: Arc<str>,
    /// The Service port as the Ingress named it (a number or a name).
    pub port: Arc<str>,
    endpoints: EndpointSet,
    next: AtomicUsize,
}

impl Backend {
    /// A backend with the given endpoints.
    pub fn new(namespace: &str, service: &str, port: &str, endpoints: EndpointSet) -> Self {
        Self {
            namespace: namespace.into(),
            service: service.into(),
            port: port.into(),
            endpoints,
            next: AtomicUsize::new(0),
        }
    }

    /// The endpoints behind this backend.
    pub fn endpoints(&self) -> &EndpointSet {
        &self.endpoints
    }

    /// True when no endpoint is ready (the proxy answers 503).
    pub fn is_unavailable(&self) -> bool {
        self.endpoints.ready.is_empty()
    }

    /// The next endpoint in round-robin order, avoiding `avoid` when another one exists.
    pub fn pick(&self, avoid: Option<SocketAddr>) -> Option<SocketAddr> {
        let ready = &self.endpoints.ready;
        if ready.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..ready.len() {
            let addr = ready[(start + i) % ready.len()];
            if Some(addr) != avoid {
                return Some(addr);
            }
        }
        Some(ready[start % ready.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn addrs(n: u16) -> Vec<SocketAddr> {
        (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 9000 + i)))
            .collect()
    }

    #[test]
    fn round_robin_visits_every_endpoint() {
        let set = EndpointSet {
            ready: addrs(10),
            not_ready: vec![],
        };
        let b = Backend::new("ns", "svc", "80", set);
        let seen: HashSet<_> = (0..10).filter_map(|_| b.pick(None)).collect();
        assert_eq!(seen.len(), 10);
    }

    #[test]
    fn pick_avoids_the_failed_endpoint_when_it_can() {
        let ready = addrs(2);
        let b = Backend::new(
            "ns",
            "svc",
            "80",
            EndpointSet {
                ready: ready.clone(),
                not_ready: vec![],
            },
        );
        for _ in 0..5 {
            assert_eq!(b.pick(Some(ready[0])), Some(ready[1]));
        }
        let single = Backend::new(
            "ns",
            "svc",
            "80",
            EndpointSet {
                ready: vec![ready[0]],
                not_ready: vec![],
            },
        );
        assert_eq!(single.pick(Some(ready[0])), Some(ready[0]));
    }

    #[test]
    fn no_ready_endpoint_means_unavailable() {
        let b = Backend::new(
            "ns",
            "svc",
            "80",
            EndpointSet {
                ready: vec![],
                not_ready: addrs(1),
            },
        );
        assert!(b.is_unavailable());
        assert_eq!(b.pick(None), None);
    }
}
