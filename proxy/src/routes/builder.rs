//! Builds a [`RouteTable`]. The caller adds routes in priority order (oldest Ingress first), so
//! the first route into a slot keeps it and every later one is returned as a [`Conflict`].

use std::sync::Arc;

use super::{HostRoutes, RouteTable, RouteTarget};

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
    table: RouteTable,
}

impl RouteTableBuilder {
    /// A builder with no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route for `host` (already validated: a DNS name, `*.parent`, or empty for all
    /// hosts). Host names are matched case-insensitively.
    pub fn add(&mut self, host: &str, target: Arc<RouteTarget>) -> Result<(), Conflict> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if target.redirect_https && !host.is_empty() {
            match host.strip_prefix("*.") {
                Some(parent) => self.table.https_wildcards.insert(parent.into()),
                None => self.table.https_hosts.insert(host.as_str().into()),
            };
        }
        let group = if host.is_empty() {
            self.table.any_host.get_or_insert_with(HostRoutes::default)
        } else if let Some(parent) = host.strip_prefix("*.") {
            self.table.wildcard_hosts.entry(parent.into()).or_default()
        } else {
            self.table.exact_hosts.entry(host.into()).or_default()
        };
        match group.insert(target.clone()) {
            None => Ok(()),
            Some(winner) => Err(Conflict {
                winner,
                loser: target,
            }),
        }
    }

    /// Sets the class's default backend unless an earlier Ingress already did.
    pub fn set_default(&mut self, target: Arc<RouteTarget>) -> Result<(), Conflict> {
        match &self.table.default_backend {
            Some(winner) => Err(Conflict {
                winner: winner.clone(),
                loser: target,
            }),
            None => {
                self.table.default_backend = Some(target);
                Ok(())
            }
        }
    }

    /// The finished table.
    pub fn build(self) -> RouteTable {
        self.table
    }
}
