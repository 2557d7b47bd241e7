//! Live endpoint selection: the round-robin position of every backend of one published table.
//! The route model ([`gatehouse_routes::Backend`]) is pure; this is the only mutable state a
//! request touches, one atomic per backend, indexed by the backend's slot.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatehouse_routes::Backend;

/// Round-robin positions for the backends of one table (all start at the first endpoint,
/// as every new table did when each backend carried its own counter).
#[derive(Debug, Default)]
pub struct RoundRobin {
    turns: Box<[AtomicUsize]>,
}

impl RoundRobin {
    /// Positions for `slots` backends.
    pub fn new(slots: usize) -> Self {
        Self {
            turns: (0..slots).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// The next endpoint of `backend` in round-robin order, avoiding those in `avoid` when
    /// another one exists. A backend from another table (no slot here) starts at its first
    /// endpoint.
    pub fn pick(&self, backend: &Backend, avoid: &[SocketAddr]) -> Option<SocketAddr> {
        let turn = self
            .turns
            .get(backend.slot())
            .map_or(0, |t| t.fetch_add(1, Ordering::Relaxed));
        backend.pick(turn, avoid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_routes::EndpointSet;
    use std::collections::HashMap;

    fn backend(slot: usize, ports: &[u16]) -> Backend {
        let ready = ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect();
        Backend::new(
            "ns",
            "svc",
            "80",
            EndpointSet {
                ready,
                not_ready: vec![],
            },
            slot,
        )
    }

    #[test]
    fn each_backend_rotates_on_its_own() {
        let rr = RoundRobin::new(2);
        let a = backend(0, &[1, 2]);
        let b = backend(1, &[3, 4]);
        let mut seen: HashMap<u16, usize> = HashMap::new();
        // Interleaved requests must still spread evenly within each backend.
        for _ in 0..10 {
            for be in [&a, &b] {
                let addr = rr.pick(be, &[]).expect("ready endpoint");
                *seen.entry(addr.port()).or_default() += 1;
            }
        }
        assert_eq!(seen, HashMap::from([(1, 5), (2, 5), (3, 5), (4, 5)]));
    }

    #[test]
    fn a_backend_without_a_slot_still_gets_an_endpoint() {
        let rr = RoundRobin::new(0);
        assert!(rr.pick(&backend(7, &[1, 2]), &[]).is_some());
    }
}
