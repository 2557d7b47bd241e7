//! Open downstream connections, counted without a connection hook (Pingora's `ProxyHttp` has
//! none): the first request on a connection creates a [`ConnectionGuard`]; for HTTP/1.x the
//! guard is carried from request to request through `persist_connection_context` and drops,
//! closing the count, when Pingora drops the idle or finished connection. HTTP/2 streams share
//! no per-connection state we can reach, so an HTTP/2 connection counts only while one of its
//! streams is in flight (each stream then holds its own guard). Connections that never send a
//! request (failed TLS handshakes, idle probes) are not counted.

use std::any::Any;
use std::sync::Arc;

use gatehouse_metrics::Metrics;

/// Counts one downstream connection of `class` as open until dropped.
pub struct ConnectionGuard {
    metrics: Arc<Metrics>,
    class: Arc<str>,
}

impl ConnectionGuard {
    /// Marks a connection of `class` as opened.
    pub fn open(metrics: &Arc<Metrics>, class: &Arc<str>) -> Arc<Self> {
        metrics.connection_opened(class);
        Arc::new(Self {
            metrics: metrics.clone(),
            class: class.clone(),
        })
    }

    /// Recovers the guard from the previous request's persisted context, if it is one.
    pub fn from_persisted(prev: Box<dyn Any + Send + Sync>) -> Option<Arc<Self>> {
        prev.downcast::<Arc<Self>>().ok().map(|b| *b)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.metrics.connection_closed(&self.class);
    }
}
