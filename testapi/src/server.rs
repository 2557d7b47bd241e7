//! `TestApiServer`: the handle tests hold — lifecycle, direct object access and fault controls.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::http::{serve, Shared};
use crate::kubeconfig::kubeconfig_yaml;
use crate::requests::RequestRecord;
use crate::resources::{self, ResourceInfo};
use crate::store::ObjectKey;
use crate::writes;

/// A running accept loop.
struct Running {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// An in-process Kubernetes API server on 127.0.0.1 for tests. Cheap to clone; the server
/// shuts down when the last clone is dropped.
#[derive(Clone)]
pub struct TestApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    running: Arc<Mutex<Option<Running>>>,
}

impl std::fmt::Debug for TestApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApiServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    resources::by_plural(group, version, plural)
}

impl TestApiServer {
    /// Starts a server on an ephemeral port of 127.0.0.1 (plain HTTP, no auth).
    pub async fn start() -> Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let server = Self {
            shared: Arc::new(Shared::default()),
            addr,
            running: Arc::new(Mutex::new(None)),
        };
        server.spawn(listener);
        Ok(server)
    }

    fn spawn(&self, listener: TcpListener) {
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, self.shared.clone(), rx));
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Running { shutdown, task });
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address (kept across stop/restart).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Kubeconfig YAML pointing at this server (credential-less user, namespace `default`).
    pub fn kubeconfig(&self) -> String {
        kubeconfig_yaml(&self.url())
    }

    /// Writes [`Self::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.kubeconfig()).map_err(|source| Error::WriteKubeconfig {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Closes the listener and every open connection and watch stream; objects and history stay.
    pub async fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Running { shutdown, task }) = running {
            let _ = shutdown.send(true);
            if let Err(e) = task.await {
                tracing::debug!("test API server task ended abnormally: {e}");
            }
        }
    }

    /// Listens again on the same port after [`Self::stop`]; a no-op while running.
    pub async fn restart(&self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        // The old socket may take a moment to release the port; retry briefly.
        let mut last_err = None;
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.spawn(listener);
                    return Ok(());
                }
                Err(e) => last_err = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(Error::Bind {
            addr: self.addr,
            source: last_err.unwrap_or_else(|| std::io::Error::other("bind retries exhausted")),
        })
    }

    /// Whether the listener is up.
    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Creates or replaces an object (apiVersion/kind pick the resource; namespaced objects
    /// without a namespace go to `default`). Status is stored as given; watches are notified.
    pub fn apply(&self, obj: Value) -> Result<Value> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let info = resources::by_kind(api_version, kind).ok_or_else(|| Error::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })?;
        let namespace = match obj["metadata"]["namespace"].as_str() {
            Some(ns) if !ns.is_empty() => ns.to_string(),
            _ if info.namespaced => "default".to_string(),
            _ => String::new(),
        };
        Ok(writes::upsert(
            &mut self.shared.store.lock(),
            info,
            &namespace,
            obj,
        )?)
    }

    /// Removes an object at once (finalizers are not honoured); returns it if it existed.
    /// `namespace` is `None` for cluster-scoped resources; group is "" for core.
    pub fn delete(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let info = lookup(group, version, plural)?;
        let key = writes::object_key(info, namespace.unwrap_or(""), name);
        self.shared.store.lock().commit(key, None)
    }

    /// The stored object, if any.
    pub fn get(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let info = lookup(group, version, plural)?;
        let key: ObjectKey = writes::object_key(info, namespace.unwrap_or(""), name);
        self.shared.store.lock().objects.get(&key).cloned()
    }

    /// All stored objects of a resource, in one namespace or (with `None`) all, sorted by namespace/name.
    pub fn list(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Vec<Value> {
        let Some(info) = lookup(group, version, plural) else {
            return Vec::new();
        };
        self.shared
            .store
            .lock()
            .snapshot(&info.key(), namespace, None)
            .map(|(_, objects)| objects)
            .unwrap_or_default()
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.snapshot()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Drops all history: requests for older resourceVersions get 410 Gone, and every open
    /// watch receives an ERROR event with a 410 Status and is closed.
    /// Returns how many open watches received the ERROR 410.
    pub fn compact(&self) -> usize {
        self.shared.store.lock().compact()
    }

    /// Ends every open watch stream cleanly, as a server-side watch timeout would.
    pub fn expire_watches(&self) {
        self.shared.store.lock().watchers.clear();
    }

    /// Makes the next `n` requests fail with `status` (a `kind: Status` body).
    pub fn set_fail_next(&self, n: u32, status: u16) {
        *self
            .shared
            .fail_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (n, status);
    }

    /// How often open watches that allow bookmarks get a BOOKMARK (default 1s).
    pub fn set_bookmark_interval(&self, every: Duration) {
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
        self.shared.bookmark_ms.store(ms, Ordering::Relaxed);
    }

    /// Keeps at most `n` history entries; older resourceVersions then get 410 (default 10 000).
    pub fn set_history_limit(&self, n: usize) {
        self.shared.store.lock().history_limit = n;
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.lock().rv
    }

    /// Number of watch streams currently open.
    pub fn open_watches(&self) -> usize {
        self.shared.store.lock().open_watches()
    }
}
