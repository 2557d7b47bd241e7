//! Watch streams: per-watch filters, event rendering, replay and the chunked response body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::resources::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{EventType, HistoryEntry, ObjectKey, State, Store};

/// What one watch (or list) wants to see.
#[derive(Debug, Clone)]
pub struct WatchFilter {
    /// The watched resource.
    pub info: &'static ResourceInfo,
    /// Namespace from the URL, `None` for all namespaces.
    pub namespace: Option<String>,
    /// labelSelector.
    pub labels: LabelSelector,
    /// fieldSelector.
    pub fields: FieldSelector,
    /// Client asked for PartialObjectMetadata.
    pub metadata_only: bool,
}

impl WatchFilter {
    /// Whether the object is in this watch's scope and matches its selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    fn in_scope(&self, key: &ObjectKey) -> bool {
        key.resource == self.info.key()
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| &key.namespace == ns)
    }

    /// The object as this client asked to receive it.
    pub fn present(&self, obj: &Value) -> Value {
        if self.metadata_only {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
        } else {
            obj.clone()
        }
    }

    /// The watch event (if any) this change means for this watch. A change that moves an
    /// object into or out of the selector becomes ADDED or DELETED, as on the real server.
    fn render(&self, entry: &HistoryEntry) -> Option<Bytes> {
        if !self.in_scope(&entry.key) {
            return None;
        }
        let now = self.matches(&entry.object);
        let before = entry.prev.as_ref().is_some_and(|p| self.matches(p));
        let event = match (entry.event, before, now) {
            (EventType::Added, _, true) => EventType::Added,
            (EventType::Modified, true, true) => EventType::Modified,
            (EventType::Modified, false, true) => EventType::Added,
            (EventType::Modified, true, false) => EventType::Deleted,
            (EventType::Deleted, _, true) => EventType::Deleted,
            _ => return None,
        };
        Some(line(event.as_str(), &self.present(&entry.object)))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let (kind, api_version) = if self.metadata_only {
            (
                "PartialObjectMetadata".to_string(),
                "meta.k8s.io/v1".to_string(),
            )
        } else {
            (self.info.kind.to_string(), self.info.key().api_version())
        };
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            &json!({"kind": kind, "apiVersion": api_version, "metadata": metadata}),
        )
    }
}

fn line(event: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": event, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

/// The Status object sent in an ERROR event when history was compacted.
pub fn expired_status(floor: u64) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("too old resource version: history compacted at {floor}"),
        "reason": "Expired", "code": 410,
    })
}

/// An open watch registered in the store.
#[derive(Debug)]
pub struct Watcher {
    id: u64,
    filter: WatchFilter,
    bookmarks: bool,
    tx: UnboundedSender<Bytes>,
}

impl Watcher {
    /// Sends an ERROR event; the caller drops the watcher afterwards, which ends the stream.
    pub fn send_error(&self, status: &Value) {
        let _ = self.tx.send(line("ERROR", status));
    }
}

/// Where a new watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// resourceVersion unset or "0": synthetic ADDED for current objects first; with
    /// `end_bookmark` (sendInitialEvents) a BOOKMARK annotated `k8s.io/initial-events-end` follows.
    Initial {
        /// Send the initial-events-end bookmark.
        end_bookmark: bool,
    },
    /// Replay retained changes newer than this resourceVersion.
    After(u64),
}

impl State {
    /// Registers a watch and queues its initial/replayed events, atomically with respect to writes.
    /// A start older than the retained history yields a stream holding one ERROR 410 event.
    pub fn subscribe(
        &mut self,
        filter: WatchFilter,
        start: WatchStart,
        bookmarks: bool,
    ) -> (u64, UnboundedReceiver<Bytes>) {
        let (tx, rx) = unbounded_channel();
        self.next_watch_id += 1;
        let id = self.next_watch_id;
        match start {
            WatchStart::After(rv) if rv < self.floor => {
                let _ = tx.send(line("ERROR", &expired_status(self.floor)));
                return (id, rx); // tx dropped here: the stream ends after the error
            }
            WatchStart::After(rv) => {
                for entry in self.history.iter().filter(|e| e.rv > rv) {
                    if let Some(bytes) = filter.render(entry) {
                        let _ = tx.send(bytes);
                    }
                }
            }
            WatchStart::Initial { end_bookmark } => {
                for (key, obj) in &self.objects {
                    if filter.in_scope(key) && filter.matches(obj) {
                        let _ = tx.send(line("ADDED", &filter.present(obj)));
                    }
                }
                if end_bookmark {
                    let _ = tx.send(filter.bookmark(self.rv, true));
                }
            }
        }
        self.watchers.push(Watcher {
            id,
            filter,
            bookmarks,
            tx,
        });
        (id, rx)
    }

    /// Delivers a committed change to every open watch it concerns.
    pub fn notify(&mut self, entry: &HistoryEntry) {
        self.watchers.retain(|w| !w.tx.is_closed());
        for watcher in &self.watchers {
            if let Some(bytes) = watcher.filter.render(entry) {
                let _ = watcher.tx.send(bytes);
            }
        }
    }

    /// Queues a BOOKMARK at the current resourceVersion behind any events already queued.
    pub fn bookmark(&mut self, id: u64) {
        if let Some(w) = self.watchers.iter().find(|w| w.id == id && w.bookmarks) {
            let _ = w.tx.send(w.filter.bookmark(self.rv, false));
        }
    }

    /// Removes a watch whose client went away or whose timeout passed.
    pub fn unsubscribe(&mut self, id: u64) {
        self.watchers.retain(|w| w.id != id);
    }

    /// Watches whose client is still connected.
    pub fn open_watches(&self) -> usize {
        self.watchers.iter().filter(|w| !w.tx.is_closed()).count()
    }
}

/// Unregisters the watch when its response body is dropped (client gone or stream ended).
struct WatchGuard {
    store: Arc<Store>,
    id: u64,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.store.lock().unsubscribe(self.id);
    }
}

/// The response body of a watch: queued event lines until the timeout passes or the store
/// closes the watch, with periodic bookmarks.
pub fn event_stream(
    store: Arc<Store>,
    id: u64,
    rx: UnboundedReceiver<Bytes>,
    timeout: Duration,
    bookmark_every: Duration,
) -> impl Stream<Item = Bytes> + Send + 'static {
    let deadline = tokio::time::Instant::now() + timeout;
    let guard = WatchGuard { store, id };
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + bookmark_every, bookmark_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    futures::stream::unfold(
        (rx, guard, ticker),
        move |(mut rx, guard, mut ticker)| async move {
            loop {
                tokio::select! {
                    biased;
                    msg = rx.recv() => return msg.map(|bytes| (bytes, (rx, guard, ticker))),
                    _ = tokio::time::sleep_until(deadline) => return None,
                    _ = ticker.tick() => guard.store.lock().bookmark(guard.id),
                }
            }
        },
    )
}
