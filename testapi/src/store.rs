//! The object store: current objects, the global resourceVersion, retained history and open watches.

use std::collections::{BTreeMap, VecDeque};
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
        let in_scope =
            |k: &ObjectKey| &k.resource == resource && namespace.is_none_or(|ns| k.namespace == ns);
        let mut objects: BTreeMap<&ObjectKey, &Value> =
            self.objects.iter().filter(|(k, _)| in_scope(k)).collect();
        let at = match at {
            Some(at) if at < self.rv => at,
            _ => return Ok((self.rv, objects.into_values().cloned().collect())),
        };
        if at < self.floor {
            return Err(ApiError::gone(format!(
                "too old resource version: {at} ({})",
                self.floor
            )));
        }
        // Undo newer changes, newest first, to recover the state at `at`.
        for entry in self.history.iter().rev().take_while(|e| e.rv > at) {
            if !in_scope(&entry.key) {
                continue;
            }
            match &entry.prev {
                Some(prev) => objects.insert(&entry.key, prev),
                None => objects.remove(&entry.key),
            };
        }
        Ok((at, objects.into_values().cloned().collect()))
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
