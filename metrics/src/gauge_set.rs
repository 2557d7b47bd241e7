//! A gauge vector whose whole set of series is replaced at once, so stale series disappear.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use prometheus::GaugeVec;

/// A [`GaugeVec`] plus the label sets last written, grouped by a scope (e.g. the class).
pub(crate) struct GaugeSet {
    vec: GaugeVec,
    current: Mutex<HashMap<String, HashSet<Vec<String>>>>,
}

impl GaugeSet {
    pub(crate) fn new(vec: GaugeVec) -> Self {
        Self {
            vec,
            current: Mutex::new(HashMap::new()),
        }
    }

    /// Sets every row (full label values, value) and removes the series of `scope` not in `rows`.
    /// Values are set before stale series go, so a scrape never sees the set half-empty.
    pub(crate) fn replace<'r>(
        &self,
        scope: &str,
        rows: impl IntoIterator<Item = (Vec<&'r str>, f64)>,
    ) {
        // One writer at a time per set, so concurrent replaces cannot leave a mix behind.
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = HashSet::new();
        for (labels, value) in rows {
            self.vec.with_label_values(&labels).set(value);
            next.insert(labels.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        }
        let previous = current.insert(scope.to_owned(), next.clone());
        for stale in previous.iter().flatten().filter(|l| !next.contains(*l)) {
            let refs: Vec<&str> = stale.iter().map(String::as_str).collect();
            // Already gone is fine: the goal is absence.
            let _ = self.vec.remove_label_values(&refs);
        }
    }

    /// Sets one series without touching the others.
    pub(crate) fn set_one(&self, scope: &str, labels: &[&str], value: f64) {
        self.vec.with_label_values(labels).set(value);
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        current
            .entry(scope.to_owned())
            .or_default()
            .insert(labels.iter().map(|s| (*s).to_owned()).collect());
    }

    /// Removes one series.
    pub(crate) fn remove_one(&self, scope: &str, labels: &[&str]) {
        let _ = self.vec.remove_label_values(labels);
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(set) = current.get_mut(scope) {
            set.retain(|l| !l.iter().map(String::as_str).eq(labels.iter().copied()));
        }
    }
}
