//! Per-host path matching: an exact map, and a prefix map probed from the longest candidate
//! prefix of the request path down to `/`, so a lookup costs one probe per path segment.

use std::collections::HashMap;
use std::sync::Arc;

use crate::{PathType, RouteTarget};

/// The paths of one host group.
#[derive(Debug, Default)]
pub struct HostRoutes {
    /// Keys share the route's `rule_path` where they are equal to it (no copy per route).
    exact: HashMap<Arc<str>, Arc<RouteTarget>>,
    /// Keys are rule paths without trailing slashes; `/` is stored as the empty string.
    prefix: HashMap<Arc<str>, Arc<RouteTarget>>,
}

/// The key a Prefix rule is stored under: trailing slashes are ignored.
pub(crate) fn prefix_key(path: &str) -> &str {
    path.trim_end_matches('/')
}

impl HostRoutes {
    /// Adds a route; returns the target already there if the slot was taken (it is kept).
    pub(crate) fn insert(&mut self, target: Arc<RouteTarget>) -> Option<Arc<RouteTarget>> {
        let (map, key) = match target.path_type {
            PathType::Exact => (&mut self.exact, &*target.rule_path),
            PathType::Prefix => (&mut self.prefix, prefix_key(&target.rule_path)),
        };
        if let Some(existing) = map.get(key) {
            return Some(existing.clone());
        }
        let key: Arc<str> = if key.len() == target.rule_path.len() {
            target.rule_path.clone()
        } else {
            key.into()
        };
        map.insert(key, target);
        None
    }

    /// The route for a request path: Exact first, then the longest segment-wise prefix.
    pub fn find(&self, path: &str) -> Option<&Arc<RouteTarget>> {
        if let Some(target) = self.exact.get(path) {
            return Some(target);
        }
        if self.prefix.is_empty() {
            return None;
        }
        let mut candidate = prefix_key(path);
        loop {
            if let Some(target) = self.prefix.get(candidate) {
                return Some(target);
            }
            match candidate.rfind('/') {
                Some(cut) => candidate = &candidate[..cut],
                None => return None,
            }
        }
    }

    /// Every route of this group, in no particular order.
    pub fn targets(&self) -> impl Iterator<Item = &Arc<RouteTarget>> {
        self.exact.values().chain(self.prefix.values())
    }

    pub(crate) fn collect_into(&self, host: &str, out: &mut Vec<(String, Arc<RouteTarget>)>) {
        for target in self.exact.values().chain(self.prefix.values()) {
            out.push((host.to_string(), target.clone()));
        }
    }

    /// Number of paths in this group.
    pub fn len(&self) -> usize {
        self.exact.len() + self.prefix.len()
    }

    /// True when the group has no paths.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
