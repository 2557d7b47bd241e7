//! A Service port as routes see it: its identity and its endpoints. Pure data: the live
//! round-robin position lives in the proxy, keyed by [`Backend::slot`], so a table can be
//! built, compared and tested without any shared mutable state.

use std::net::SocketAddr;
use std::sync::Arc;

/// The addresses behind one Service port.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EndpointSet {
    /// Endpoints that may receive traffic.
    pub ready: Vec<SocketAddr>,
    /// Endpoints that exist but are not ready (shown, never used).
    pub not_ready: Vec<SocketAddr>,
}

/// One Service port with its endpoints.
#[derive(Debug, PartialEq, Eq)]
pub struct Backend {
    /// Namespace of the Service.
    pub namespace: Arc<str>,
    /// Name of the Service.
    pub service: Arc<str>,
    /// The Service port as the Ingress named it (a number or a name).
    pub port: Arc<str>,
    endpoints: EndpointSet,
    slot: usize,
    /// The DNS name of an ExternalName Service (its endpoints are what that name resolved to).
    external_name: Option<Arc<str>>,
}

impl Backend {
    /// A backend with the given endpoints. `slot` is a small index, unique per backend within
    /// one translation, where the proxy keeps this backend's round-robin position.
    pub fn new(
        namespace: &str,
        service: &str,
        port: &str,
        endpoints: EndpointSet,
        slot: usize,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            service: service.into(),
            port: port.into(),
            endpoints,
            slot,
            external_name: None,
        }
    }

    /// The same backend, marked as the ExternalName Service pointing at `name`.
    pub fn with_external_name(mut self, name: &str) -> Self {
        self.external_name = Some(name.into());
        self
    }

    /// The DNS name of an ExternalName Service; `None` for endpoints from EndpointSlices.
    pub fn external_name(&self) -> Option<&str> {
        self.external_name.as_deref()
    }

    /// The endpoints behind this backend.
    pub fn endpoints(&self) -> &EndpointSet {
        &self.endpoints
    }

    /// Where the proxy keeps this backend's round-robin position.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// True when no endpoint is ready (the proxy answers 503).
    pub fn is_unavailable(&self) -> bool {
        self.endpoints.ready.is_empty()
    }

    /// The ready endpoint at round-robin position `turn`, or the next one after it that is not
    /// in `avoid` (endpoints this request already tried), if there is one.
    pub fn pick(&self, turn: usize, avoid: &[SocketAddr]) -> Option<SocketAddr> {
        let ready = &self.endpoints.ready;
        if ready.is_empty() {
            return None;
        }
        for i in 0..ready.len() {
            let addr = ready[turn.wrapping_add(i) % ready.len()];
            if !avoid.contains(&addr) {
                return Some(addr);
            }
        }
        Some(ready[turn % ready.len()])
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

    fn backend(ready: Vec<SocketAddr>, not_ready: Vec<SocketAddr>) -> Backend {
        Backend::new("ns", "svc", "80", EndpointSet { ready, not_ready }, 0)
    }

    #[test]
    fn consecutive_turns_visit_every_endpoint() {
        let b = backend(addrs(10), vec![]);
        let seen: HashSet<_> = (0..10).filter_map(|turn| b.pick(turn, &[])).collect();
        assert_eq!(seen.len(), 10);
    }

    #[test]
    fn pick_avoids_the_failed_endpoint_when_it_can() {
        let ready = addrs(2);
        let b = backend(ready.clone(), vec![]);
        for turn in 0..5 {
            assert_eq!(b.pick(turn, &[ready[0]]), Some(ready[1]));
        }
        let single = backend(vec![ready[0]], vec![]);
        assert_eq!(single.pick(3, &[ready[0]]), Some(ready[0]));
    }

    #[test]
    fn no_ready_endpoint_means_unavailable() {
        let b = backend(vec![], addrs(1));
        assert!(b.is_unavailable());
        assert_eq!(b.pick(0, &[]), None);
    }

    #[test]
    fn turns_wrap_without_overflow() {
        let b = backend(addrs(3), vec![]);
        assert!(b.pick(usize::MAX, &[]).is_some());
        assert!(b.pick(usize::MAX, &[addrs(3)[0]]).is_some());
    }
}
