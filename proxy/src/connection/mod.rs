//! The connection guard: what gatehouse does with a client connection before and around
//! Pingora's HTTP handling. It wraps the instance's Pingora app ([`ClassApp`]) and each client
//! stream ([`stream::GuardedStream`]) to
//! - cap the open connections of the instance (`--max-connections`; more are closed at once),
//! - count open connections (HTTP/1 and HTTP/2 alike),
//! - give every request head a total deadline (`--client-header-timeout`: from accept, or from
//!   the first byte of a later request on a kept-alive connection; Pingora only times single
//!   reads, so a byte every 59 s would otherwise hold a connection forever), and
//! - check each HTTP/1 head as it arrives ([`head`]): nginx's line and size limits (414/431)
//!   and the framing RFC 9112 refuses (400), without buffering an oversized head.
//!
//! The stream learns that a request is finished (and that the next bytes start a new head)
//! from [`request_finished`], which the proxy calls in its `logging` phase: the call runs in the
//! connection's task, where the guard has put its state in a task-local.

pub mod head;
mod stream;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::{HttpServerOptions, ServerApp};
use pingora::protocols::http::v2::server::default_h2_options;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::HttpProxy;
use pingora::server::configuration::ServerConf;
use pingora::server::ShutdownWatch;
use tokio::sync::Semaphore;

use gatehouse_metrics::{ConnectionRefusal, Metrics};

use crate::limits::Limits;
use crate::service::ClassProxy;
use head::Refusal;
use stream::GuardedStream;

/// Where the connection is between requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// A request head is being read (against the deadline and the scanner).
    Head = 0,
    /// The head is in; body and response are Pingora's (its read and write timeouts apply).
    Busy = 1,
    /// Between requests on a kept-alive connection (Pingora's keep-alive timeout applies).
    Idle = 2,
    /// HTTP/2: the h2 library frames and limits the connection.
    PassThrough = 3,
}

/// State shared by a connection's stream and the requests on it.
pub struct Shared {
    phase: AtomicU8,
    limits: Arc<Limits>,
    class: Arc<str>,
    metrics: Option<Arc<Metrics>>,
}

impl Shared {
    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Head,
            1 => Phase::Busy,
            2 => Phase::Idle,
            _ => Phase::PassThrough,
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    fn count(&self, reason: ConnectionRefusal) {
        if let Some(m) = &self.metrics {
            m.connection_refused(&self.class, reason);
        }
    }

    fn head_timed_out(&self) {
        tracing::debug!(class = %self.class, "request head deadline passed; closing");
        self.count(ConnectionRefusal::HeadTimeout);
    }

    fn head_refused(&self, refusal: Refusal) {
        self.count(match refusal {
            Refusal::BadRequest(_) => ConnectionRefusal::BadHead,
            Refusal::UriTooLong => ConnectionRefusal::UriTooLong,
            Refusal::HeadersTooLarge => ConnectionRefusal::HeadersTooLarge,
        });
    }
}

tokio::task_local! {
    static CONNECTION: Arc<Shared>;
}

/// Marks the current HTTP/1 request as finished, so that the next bytes on the connection
/// start a new head. A no-op outside a guarded connection's task (HTTP/2 streams run in tasks
/// of their own and need nothing here).
pub fn request_finished() {
    let _ = CONNECTION.try_with(|shared| {
        if shared.phase() == Phase::Busy {
            shared.set_phase(Phase::Idle);
        }
    });
}

/// The Pingora app of one instance behind the connection guard.
pub struct ClassApp {
    proxy: Arc<HttpProxy<ClassProxy>>,
    limits: Arc<Limits>,
    class: Arc<str>,
    metrics: Option<Arc<Metrics>>,
    slots: Arc<Semaphore>,
}

impl ClassApp {
    /// The instance's Pingora app for `proxy`, with the HTTP/1 and HTTP/2 settings of `limits`.
    pub fn new(
        conf: &Arc<ServerConf>,
        proxy: ClassProxy,
        limits: Arc<Limits>,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        let class: Arc<str> = proxy.class().into();
        let mut http = HttpProxy::new(proxy, conf.clone());
        http.handle_init_modules();
        let mut options = HttpServerOptions::default();
        options.h2c = true;
        // Pingora counts reuses after the first request; nginx counts requests.
        options.keepalive_request_limit = limits.keep_alive_requests.checked_sub(1);
        options.h2_idle_timeout = Some(limits.http2_idle_timeout);
        http.server_options = Some(options);
        let mut h2 = default_h2_options();
        h2.max_concurrent_streams(limits.http2_max_concurrent_streams);
        h2.max_header_list_size(u32::try_from(limits.header_total_max).unwrap_or(u32::MAX));
        http.h2_options = Some(h2);
        let slots = Arc::new(Semaphore::new(
            limits.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        Self {
            proxy: Arc::new(http),
            limits,
            class,
            metrics,
            slots,
        }
    }
}

/// Counts a connection as open until dropped.
struct OpenConnection<'a>(&'a ClassApp);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        if let Some(m) = &self.0.metrics {
            m.connection_closed(&self.0.class);
        }
    }
}

#[async_trait]
impl ServerApp for ClassApp {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            // Refused before anything is read: cheaper than serving it, and the client can
            // retry another replica.
            tracing::debug!(class = %self.class, "max-connections reached; closing a new connection");
            if let Some(m) = &self.metrics {
                m.connection_refused(&self.class, ConnectionRefusal::MaxConnections);
            }
            return None;
        };
        if let Some(m) = &self.metrics {
            m.connection_opened(&self.class);
        }
        let _open = OpenConnection(self);
        let h2 = stream.selected_alpn_proto() == Some(ALPN::H2);
        let shared = Arc::new(Shared {
            phase: AtomicU8::new(if h2 { Phase::PassThrough } else { Phase::Head } as u8),
            limits: self.limits.clone(),
            class: self.class.clone(),
            metrics: self.metrics.clone(),
        });
        let guarded: Stream = Box::new(GuardedStream::new(stream, shared.clone()));
        CONNECTION
            .scope(shared, self.proxy.process_new(guarded, shutdown))
            .await
    }

    async fn cleanup(&self) {
        self.proxy.cleanup().await
    }
}
