//! One ingress class's immutable routes. Lookup is a hash on the host, then a per-host path
//! structure, so its cost does not grow with the number of routes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::host::{normalize_host, wildcard_parent, HostBuf};
use crate::{HostPolicy, HostRoutes, RouteTarget};

/// Facts about a table that the admin and status pages show.
#[derive(Clone, Debug, Default)]
pub struct TableInfo {
    /// Increases by one on every swap of this class's table (0 = no table yet).
    pub generation: u64,
    /// When the table was swapped in (unix seconds).
    pub swapped_at_unix: u64,
}

/// The rules of one host group and the group's host-wide policy.
#[derive(Debug, Default)]
pub(crate) struct HostEntry {
    pub(crate) policy: HostPolicy,
    pub(crate) paths: HostRoutes,
}

/// What a request matched.
#[derive(Clone, Copy, Debug)]
pub struct RouteMatch<'a> {
    /// The route, if a rule or the class's default backend matched.
    pub target: Option<&'a Arc<RouteTarget>>,
    /// The policy of the host group that answered (empty when no group did).
    pub host: &'a HostPolicy,
    /// No rule of the request's host group matched: the target (if any) is the class's
    /// default backend, so host-wide behaviour applies.
    pub fallback: bool,
}

/// One ingress class's immutable routes.
///
/// Host groups are shared (`Arc`), so a clone is one pointer copy per host and a table can be
/// [patched](RouteTable::patched) for a change without rebuilding its other hosts.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    pub(crate) info: TableInfo,
    pub(crate) exact_hosts: HashMap<Arc<str>, Arc<HostEntry>>,
    /// `*.foo.com` rules keyed by `foo.com`.
    pub(crate) wildcard_hosts: HashMap<Arc<str>, Arc<HostEntry>>,
    /// Rules without a host match every host that has no rules of its own.
    pub(crate) any_host: Option<Arc<HostEntry>>,
    pub(crate) default_backend: Option<Arc<RouteTarget>>,
    /// One more than the highest [`crate::Backend::slot`] in the table.
    pub(crate) backend_slots: usize,
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

    /// How many round-robin positions the proxy needs for this table's backends.
    pub fn backend_slots(&self) -> usize {
        self.backend_slots
    }

    /// Finds what serves a request's Host header (or authority) and path (without query).
    ///
    /// The most specific host group that exists decides: exact host, then wildcard, then
    /// host-less rules. Within it Exact paths beat prefixes and the longest prefix wins; a
    /// request that matches no path falls to the class's default backend.
    pub fn find(&self, host: &str, path: &str) -> RouteMatch<'_> {
        let mut buf = HostBuf::new();
        let host = normalize_host(host, &mut buf);
        let entry = self.host_entry(host);
        let rule = entry.and_then(|e| e.paths.find(path));
        RouteMatch {
            target: rule.or(self.default_backend.as_ref()),
            host: entry.map_or(&HostPolicy::NONE, |e| &e.policy),
            fallback: rule.is_none(),
        }
    }

    /// The route for a host and path ([`RouteTable::find`] without the host policy).
    pub fn lookup(&self, host: &str, path: &str) -> Option<&Arc<RouteTarget>> {
        self.find(host, path).target
    }

    fn host_entry(&self, host: &str) -> Option<&HostEntry> {
        if let Some(entry) = self.exact_hosts.get(host) {
            return Some(entry);
        }
        if let Some(entry) = wildcard_parent(host).and_then(|p| self.wildcard_hosts.get(p)) {
            return Some(entry);
        }
        self.any_host.as_deref()
    }

    /// This table with the host groups named in `replaced` (normalised, as written: `foo.com`,
    /// `*.foo.com`, or `""` for host-less rules) taken from `rebuilt` instead — absent there,
    /// the group is dropped — and `backend_slots` slots. Every other group is shared with
    /// `self`, so a change costs its own hosts plus one pointer copy per host.
    pub fn patched<'h>(
        &self,
        mut rebuilt: RouteTable,
        replaced: impl IntoIterator<Item = &'h str>,
        backend_slots: usize,
    ) -> RouteTable {
        let mut table = self.clone();
        for host in replaced {
            if host.is_empty() {
                table.any_host = rebuilt.any_host.take();
            } else if let Some(parent) = host.strip_prefix("*.") {
                match rebuilt.wildcard_hosts.remove_entry(parent) {
                    Some((key, entry)) => table.wildcard_hosts.insert(key, entry),
                    None => table.wildcard_hosts.remove(parent),
                };
            } else {
                match rebuilt.exact_hosts.remove_entry(host) {
                    Some((key, entry)) => table.exact_hosts.insert(key, entry),
                    None => table.exact_hosts.remove(host),
                };
            }
        }
        table.backend_slots = backend_slots;
        table
    }

    /// Every route with its host as written (`*` for host-less rules), sorted, for display.
    pub fn routes(&self) -> Vec<(String, Arc<RouteTarget>)> {
        let mut out = Vec::new();
        for (host, entry) in &self.exact_hosts {
            entry.paths.collect_into(host, &mut out);
        }
        for (parent, entry) in &self.wildcard_hosts {
            entry.paths.collect_into(&format!("*.{parent}"), &mut out);
        }
        if let Some(entry) = &self.any_host {
            entry.paths.collect_into("*", &mut out);
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

    /// Every host group with its host as written (`*.foo.com` for a wildcard, `*` for host-less
    /// rules) and its routes, in no particular order: for whole-table passes on every publish,
    /// which need neither the sort nor the per-route `String` of [`RouteTable::routes`].
    pub fn host_groups(&self) -> impl Iterator<Item = (Cow<'_, str>, &HostRoutes)> {
        let exact = self
            .exact_hosts
            .iter()
            .map(|(host, entry)| (Cow::Borrowed(&**host), &entry.paths));
        let wildcard = self
            .wildcard_hosts
            .iter()
            .map(|(parent, entry)| (Cow::Owned(format!("*.{parent}")), &entry.paths));
        let any = self
            .any_host
            .iter()
            .map(|entry| (Cow::Borrowed("*"), &entry.paths));
        exact.chain(wildcard).chain(any)
    }

    /// The host-wide policy stored for a host as written (`*.foo.com` for a wildcard, `""`
    /// for host-less rules), for display and tests.
    pub fn host_policy(&self, host: &str) -> Option<&HostPolicy> {
        self.group(host).map(|e| &e.policy)
    }

    /// The routes of the host group named as for [`RouteTable::host_policy`].
    pub fn host_routes(&self, host: &str) -> Option<&HostRoutes> {
        self.group(host).map(|e| &e.paths)
    }

    fn group(&self, host: &str) -> Option<&HostEntry> {
        let host = crate::normalized_host(host);
        let entry = if host.is_empty() {
            self.any_host.as_ref()
        } else if let Some(parent) = host.strip_prefix("*.") {
            self.wildcard_hosts.get(parent)
        } else {
            self.exact_hosts.get(host.as_str())
        };
        entry.map(|e| &**e)
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
