//! A watch-fed store of what gatehouse keeps of each object of one kind: an Ingress as it is
//! (without what [`strip_unused`](crate::snapshot::strip_unused) drops), a Service or an
//! EndpointSlice as what translation reads of it. kube's reflector store would keep the whole
//! API objects, each with a second copy of its name, namespace, uid and resourceVersion as
//! its key: most of a large cluster's memory. It applies watcher events as the reflector
//! does: a (re)list is buffered from `Init` to `InitDone` and then replaces the contents at
//! once, so a re-list after 410 Gone drops what was deleted meanwhile.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use kube::runtime::watcher::Event;
use tokio::sync::watch;

use k8s_openapi::api::networking::v1::Ingress;

use crate::snapshot::{EndpointSliceInfo, ServiceInfo};

/// An object known by namespace and name.
pub trait Named {
    /// Its namespace and name.
    fn key(&self) -> (&str, &str);
}

impl Named for Ingress {
    fn key(&self) -> (&str, &str) {
        let name = self.metadata.name.as_deref().unwrap_or("");
        (crate::snapshot::namespace(&self.metadata), name)
    }
}

impl Named for ServiceInfo {
    fn key(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }
}

impl Named for EndpointSliceInfo {
    fn key(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }
}

/// An object in a set, equal to any other of the same namespace and name (the object holds
/// its key, so the set stores no second copy of it).
struct ByKey<T>(Arc<T>);

impl<T: Named> PartialEq for ByKey<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl<T: Named> Eq for ByKey<T> {}

impl<T: Named> Hash for ByKey<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key().hash(state);
    }
}

struct Contents<T> {
    objects: HashSet<ByKey<T>, foldhash::fast::RandomState>,
    /// A list in progress (from `Init` to `InitDone`).
    listing: Option<HashSet<ByKey<T>, foldhash::fast::RandomState>>,
}

/// The store; clones share it.
pub struct ObjectStore<T> {
    contents: Arc<Mutex<Contents<T>>>,
    /// Becomes true at the first `InitDone`.
    ready: watch::Sender<bool>,
}

impl<T> Clone for ObjectStore<T> {
    fn clone(&self) -> Self {
        Self {
            contents: self.contents.clone(),
            ready: self.ready.clone(),
        }
    }
}

impl<T: Named> Default for ObjectStore<T> {
    fn default() -> Self {
        Self {
            contents: Arc::new(Mutex::new(Contents {
                objects: HashSet::default(),
                listing: None,
            })),
            ready: watch::Sender::new(false),
        }
    }
}

impl<T: Named> ObjectStore<T> {
    /// Applies one watcher event, keeping `convert` of each object.
    pub fn apply<K>(&self, event: Event<K>, convert: impl Fn(K) -> T) {
        // A panic elsewhere while holding the lock leaves consistent contents (every update
        // below is a single set operation), so a poisoned lock is still usable.
        let mut contents = self.contents.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Apply(object) => {
                contents.objects.replace(ByKey(Arc::new(convert(object))));
            }
            Event::Delete(object) => {
                contents.objects.remove(&ByKey(Arc::new(convert(object))));
            }
            Event::Init => contents.listing = Some(HashSet::default()),
            Event::InitApply(object) => {
                let listing = contents.listing.get_or_insert_with(HashSet::default);
                listing.replace(ByKey(Arc::new(convert(object))));
            }
            Event::InitDone => {
                contents.objects = contents.listing.take().unwrap_or_default();
                drop(contents);
                self.ready.send_replace(true);
            }
        }
    }

    /// Every object (shared, not copied).
    pub fn state(&self) -> Vec<Arc<T>> {
        let contents = self.contents.lock().unwrap_or_else(PoisonError::into_inner);
        contents.objects.iter().map(|o| o.0.clone()).collect()
    }

    /// Waits until the first list is complete.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = ready.wait_for(|ready| *ready).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, port: i32) -> ServiceInfo {
        ServiceInfo {
            namespace: "ns".into(),
            name: name.into(),
            external_name: None,
            cluster_ip: None,
            ports: vec![crate::snapshot::ServicePortInfo {
                name: "http".into(),
                port,
                target_port: None,
            }]
            .into(),
        }
    }

    fn names_and_ports(store: &ObjectStore<ServiceInfo>) -> Vec<(String, i32)> {
        let mut all: Vec<_> = store
            .state()
            .iter()
            .map(|s| (s.name.to_string(), s.ports[0].port))
            .collect();
        all.sort();
        all
    }

    #[tokio::test]
    async fn a_list_replaces_the_contents_at_once_and_events_apply_in_between() {
        let store = ObjectStore::default();
        let keep = |s: ServiceInfo| s;
        store.apply(Event::Init, keep);
        store.apply(Event::InitApply(service("a", 80)), keep);
        store.apply(Event::InitApply(service("b", 80)), keep);
        assert!(store.state().is_empty(), "a list in progress is not shown");
        assert!(!*store.ready.borrow());
        store.apply(Event::InitDone, keep);
        store.wait_until_ready().await;
        assert_eq!(
            names_and_ports(&store),
            [("a".into(), 80), ("b".into(), 80)]
        );

        store.apply(Event::Apply(service("a", 81)), keep);
        store.apply(Event::Delete(service("b", 0)), keep);
        store.apply(Event::Apply(service("c", 80)), keep);
        assert_eq!(
            names_and_ports(&store),
            [("a".into(), 81), ("c".into(), 80)]
        );

        // A re-list (after 410 Gone): what it does not list is gone once it is done.
        store.apply(Event::Init, keep);
        store.apply(Event::InitApply(service("c", 82)), keep);
        assert_eq!(
            names_and_ports(&store),
            [("a".into(), 81), ("c".into(), 80)]
        );
        store.apply(Event::InitDone, keep);
        assert_eq!(names_and_ports(&store), [("c".into(), 82)]);
    }
}
