//! Builds a [`RouteTable`]. The caller adds routes in priority order (oldest Ingress first), so
//! the first route into a slot keeps it and every later one is returned as a [`Conflict`].

use std::collections::HashMap;
use std::sync::Arc;

use crate::table::HostEntry;
use crate::{normalize_host, normalized_host, HostBuf, HostPolicy, RouteTable, RouteTarget};

/// A route that lost its slot to an earlier one.
#[derive(Debug, Clone)]
pub struct Conflict {
    /// The route that keeps the slot.
    pub winner: Arc<RouteTarget>,
    /// The route that was dropped.
    pub loser: Arc<RouteTarget>,
}

/// Collects routes for one class.
#[derive(Debug, Default)]
pub struct RouteTableBuilder {
    /// Everything but the host groups, which are collected unshared below.
    table: RouteTable,
    exact_hosts: HashMap<Arc<str>, HostEntry>,
    wildcard_hosts: HashMap<Arc<str>, HostEntry>,
    any_host: Option<HostEntry>,
}

impl RouteTableBuilder {
    /// A builder with no routes.
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, host: &str) -> &mut HostEntry {
        // Normalised on the stack and looked up before inserting: one route after another
        // lands in an existing group, and allocating its name each time was most of an add.
        let mut buf = HostBuf::new();
        let long;
        let mut host = normalize_host(host, &mut buf);
        if host.len() > 253 {
            // Too long for the stack buffer (never for a validated host): the slow way.
            long = normalized_host(host);
            host = &long;
        }
        if host.is_empty() {
            return self.any_host.get_or_insert_with(HostEntry::default);
        }
        let (map, key) = match host.strip_prefix("*.") {
            Some(parent) => (&mut self.wildcard_hosts, parent),
            None => (&mut self.exact_hosts, host),
        };
        if !map.contains_key(key) {
            map.insert(key.into(), HostEntry::default());
        }
        map.get_mut(key).expect("inserted above")
    }

    /// Adds a route for `host` (already validated: a DNS name, `*.parent`, or empty for all
    /// hosts). Host names are matched case-insensitively.
    pub fn add(&mut self, host: &str, target: Arc<RouteTarget>) -> Result<(), Conflict> {
        self.count_backend(&target);
        match self.entry(host).paths.insert(target.clone()) {
            None => Ok(()),
            Some(winner) => Err(Conflict {
                winner,
                loser: target,
            }),
        }
    }

    /// The host-wide policy of a host that has routes (named as for
    /// [`RouteTableBuilder::add`]), to adjust; `None` for a host without routes, which must
    /// not get an entry (it would hide the host-less rules).
    pub fn host_policy(&mut self, host: &str) -> Option<&mut HostPolicy> {
        let host = normalized_host(host);
        let entry = if host.is_empty() {
            self.any_host.as_mut()
        } else if let Some(parent) = host.strip_prefix("*.") {
            self.wildcard_hosts.get_mut(parent)
        } else {
            self.exact_hosts.get_mut(host.as_str())
        };
        entry.map(|e| &mut e.policy)
    }

    /// Sets the class's default backend unless an earlier Ingress already did.
    pub fn set_default(&mut self, target: Arc<RouteTarget>) -> Result<(), Conflict> {
        match &self.table.default_backend {
            Some(winner) => Err(Conflict {
                winner: winner.clone(),
                loser: target,
            }),
            None => {
                self.count_backend(&target);
                self.table.default_backend = Some(target);
                Ok(())
            }
        }
    }

    fn count_backend(&mut self, target: &RouteTarget) {
        self.table.backend_slots = self.table.backend_slots.max(target.backend.slot() + 1);
    }

    /// The finished table.
    pub fn build(self) -> RouteTable {
        let shared = |map: HashMap<Arc<str>, HostEntry>| {
            map.into_iter()
                .map(|(host, entry)| (host, Arc::new(entry)))
                .collect()
        };
        RouteTable {
            exact_hosts: shared(self.exact_hosts),
            wildcard_hosts: shared(self.wildcard_hosts),
            any_host: self.any_host.map(Arc::new),
            ..self.table
        }
    }
}
