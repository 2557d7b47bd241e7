//! The object store: current objects, the global resourceVersion, retained history and open watches.

use std::collections::{btree_map, BTreeMap, VecDeque};
use std::iter::Peekable;
use std::ops::{Bound, RangeBounds};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use crate::resources::ResourceKey;
use crate::status::ApiError;
use crate::watch::Watcher;

/// Address of one stored object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The collection it belongs to.
    pub resource: ResourceKey,
    /// Namespace, "" for cluster-scoped objects.
    pub namespace: String,
    /// metadata.name.
    pub name: String,
}

/// Watch event types the API server emits for object changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventType {
    /// The wire name ("ADDED", …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One retained change, enough to replay it to a watch and to undo it for a past snapshot.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Which object changed.
    pub key: ObjectKey,
    /// What happened.
    pub event: EventType,
    /// State after the change (for deletes: the last state, stamped with the delete's RV).
    pub object: Value,
    /// State before the change, `None` for creates.
    pub prev: Option<Value>,
}

/// Everything behind the store lock.
#[derive(Debug)]
pub struct State {
    /// Current objects.
    pub objects: BTreeMap<ObjectKey, Value>,
    /// Latest resourceVersion handed out.
    pub rv: u64,
    /// Changes newer than `floor`, oldest first.
    pub history: VecDeque<HistoryEntry>,
    /// Requests for resourceVersions below this are answered with 410 Gone.
    pub floor: u64,
    /// Most history entries kept before the oldest are dropped.
    pub history_limit: usize,
    /// Open watch streams.
    pub watchers: Vec<Watcher>,
    /// Next watch id.
    pub next_watch_id: u64,
}

/// Thread-safe store shared by the HTTP handlers and the test handle.
#[derive(Debug)]
pub struct Store {
    state: Mutex<State>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                objects: BTreeMap::new(),
                rv: 1,
                history: VecDeque::new(),
                floor: 1,
                history_limit: 10_000,
                watchers: Vec::new(),
                next_watch_id: 1,
            }),
        }
    }
}

impl Store {
    /// Locks the state; a panic in another holder does not make the data unusable for tests.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Stores `new` (or removes the object when `None`) under a fresh resourceVersion,
    /// records history and notifies watches. Returns the object as stored/deleted.
    pub fn commit(&mut self, key: ObjectKey, new: Option<Value>) -> Option<Value> {
        let prev = self.objects.get(&key).cloned();
        let (event, mut object) = match (new, &prev) {
            (Some(obj), None) => (EventType::Added, obj),
            (Some(obj), Some(_)) => (EventType::Modified, obj),
            (None, Some(old)) => (EventType::Deleted, old.clone()),
            (None, None) => return None,
        };
        self.rv += 1;
        set_resource_version(&mut object, self.rv);
        if event == EventType::Deleted {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key.clone(), object.clone());
        }
        let entry = HistoryEntry {
            rv: self.rv,
            key,
            event,
            object: object.clone(),
            prev,
        };
        self.notify(&entry);
        self.history.push_back(entry);
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.floor = dropped.rv;
            }
        }
        Some(object)
    }

    /// Objects of one resource (optionally one namespace) as they were at `at`
    /// (current state when `None` or not older than now). 410 when `at` predates the history.
    pub fn snapshot(
        &self,
        resource: &ResourceKey,
        namespace: Option<&str>,
        at: Option<u64>,
    ) -> Result<(u64, Vec<Value>), ApiError> {
        let (rv, scan) = self.scan(resource, namespace, at, None)?;
        Ok((rv, scan.map(|(_, obj)| obj.clone()).collect()))
    }

    /// Like [`State::snapshot`] but lazy and borrowed: the objects in key (namespace/name)
    /// order, starting strictly after `after` (namespace, name) when given. Costs O(log N) to
    /// start plus O(changes since `at`) for a past version, then O(1) per object taken, so a
    /// LIST page costs about its own size however many objects are stored.
    pub fn scan<'a>(
        &'a self,
        resource: &ResourceKey,
        namespace: Option<&str>,
        at: Option<u64>,
        after: Option<(&str, &str)>,
    ) -> Result<(u64, Scan<'a>), ApiError> {
        let scope = Scope {
            resource: resource.clone(),
            namespace: namespace.map(str::to_string),
        };
        let from = scope.lower_bound(after);
        let range = (from.as_ref(), Bound::Unbounded);
        let current = self.objects.range(range).peekable();
        let at = match at {
            Some(at) if at < self.rv => at,
            _ => {
                let overlay = BTreeMap::new().into_iter().peekable();
                let rv = self.rv;
                return Ok((
                    rv,
                    Scan {
                        scope,
                        current,
                        overlay,
                    },
                ));
            }
        };
        if at < self.floor {
            return Err(ApiError::gone(format!(
                "too old resource version: {at} ({})",
                self.floor
            )));
        }
        // Undo newer changes, newest first, so the oldest change's `prev` (the state at `at`)
        // wins; the scan lays these over the current objects.
        let mut overlay: BTreeMap<&ObjectKey, Option<&Value>> = BTreeMap::new();
        for entry in self.history.iter().rev().take_while(|e| e.rv > at) {
            if scope.contains(&entry.key) && range.contains(&entry.key) {
                overlay.insert(&entry.key, entry.prev.as_ref());
            }
        }
        let overlay = overlay.into_iter().peekable();
        Ok((
            at,
            Scan {
                scope,
                current,
                overlay,
            },
        ))
    }

    /// Drops all retained history: older resourceVersions now get 410, open watches get an ERROR
    /// 410. Returns how many open watches were sent that ERROR event.
    pub fn compact(&mut self) -> usize {
        self.history.clear();
        self.floor = self.rv;
        let status = crate::watch::expired_status(self.floor);
        let expired = self.watchers.len();
        for watcher in self.watchers.drain(..) {
            watcher.send_error(&status);
        }
        expired
    }
}

/// Which objects a scan covers: one resource, optionally one namespace.
#[derive(Debug, Clone)]
struct Scope {
    resource: ResourceKey,
    namespace: Option<String>,
}

impl Scope {
    fn contains(&self, key: &ObjectKey) -> bool {
        key.resource == self.resource
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| &key.namespace == ns)
    }

    /// Where a scan starts: the scope's first possible key, or just past `after` when that
    /// lies inside or beyond it (one scope's keys are contiguous in `ObjectKey` order).
    fn lower_bound(&self, after: Option<(&str, &str)>) -> Bound<ObjectKey> {
        let first = ObjectKey {
            resource: self.resource.clone(),
            namespace: self.namespace.clone().unwrap_or_default(),
            name: String::new(),
        };
        match after {
            Some((namespace, name)) => {
                let past = ObjectKey {
                    resource: self.resource.clone(),
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                };
                if past >= first {
                    Bound::Excluded(past)
                } else {
                    Bound::Included(first)
                }
            }
            None => Bound::Included(first),
        }
    }
}

/// Lazy, ordered view of one scope's objects at one version: the current objects merged with
/// the undone changes (key → state at that version, `None` = absent then) of a past version.
#[derive(Debug)]
pub struct Scan<'a> {
    scope: Scope,
    current: Peekable<btree_map::Range<'a, ObjectKey, Value>>,
    overlay: Peekable<btree_map::IntoIter<&'a ObjectKey, Option<&'a Value>>>,
}

impl<'a> Iterator for Scan<'a> {
    type Item = (&'a ObjectKey, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // The current range runs past the scope; its first key outside ends it.
            let current = self
                .current
                .peek()
                .map(|(k, _)| *k)
                .filter(|k| self.scope.contains(k));
            let past = self.overlay.peek().map(|(k, _)| *k);
            let from_overlay = match (current, past) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(c), Some(p)) => {
                    if c == p {
                        self.current.next(); // replaced by its past state
                    }
                    p <= c
                }
            };
            if !from_overlay {
                return self.current.next();
            }
            if let Some((key, Some(obj))) = self.overlay.next() {
                return Some((key, obj));
            }
        }
    }
}

/// Writes `metadata.resourceVersion` as the string the API uses.
pub fn set_resource_version(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// Parses a resourceVersion query value; "" means unset.
pub fn parse_rv(text: &str) -> Result<Option<u64>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            resource: ResourceKey::new("", "v1", "secrets"),
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn names(objs: &[Value]) -> Vec<&str> {
        objs.iter()
            .filter_map(|o| o["metadata"]["name"].as_str())
            .collect()
    }

    #[test]
    fn snapshots_undo_newer_history_and_compaction_makes_410() -> Result<(), ApiError> {
        let store = Store::default();
        let mut st = store.lock();
        let res = ResourceKey::new("", "v1", "secrets");
        st.commit(key("a"), Some(json!({"metadata": {"name": "a"}, "v": 1})));
        let after_a = st.rv;
        st.commit(key("b"), Some(json!({"metadata": {"name": "b"}})));
        st.commit(key("a"), Some(json!({"metadata": {"name": "a"}, "v": 2})));
        st.commit(key("b"), None);
        let (rv, now) = st.snapshot(&res, None, None)?;
        assert_eq!(rv, st.rv);
        assert_eq!(names(&now), ["a"]);
        assert_eq!(now[0]["v"], 2);
        let (_, then) = st.snapshot(&res, Some("ns"), Some(after_a))?;
        assert_eq!(names(&then), ["a"]);
        assert_eq!(then[0]["v"], 1);
        assert_eq!(then[0]["metadata"]["resourceVersion"], after_a.to_string());
        st.compact();
        assert_eq!(
            st.snapshot(&res, None, Some(after_a))
                .map_err(|e| e.code)
                .err(),
            Some(410)
        );
        Ok(())
    }
}
