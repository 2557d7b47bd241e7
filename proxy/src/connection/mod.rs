//! The connection guard: what gatehouse does with a client connection before and around
//! Pingora's HTTP handling. [`ClassApp`] wraps the instance's Pingora app and runs the HTTP/1
//! keep-alive loop itself, so that it can
//! - cap the open connections of the instance (`--max-connections`; more are closed at once),
//! - count open connections (HTTP/1 and HTTP/2 alike),
//! - read each request head before Pingora builds any request state ([`reader`]): an idle or
//!   half-open connection holds a few hundred bytes instead of Pingora's ~20 KiB of request
//!   future, session and head buffer,
//! - give every head a total deadline (`--client-header-timeout`: from accept, or from the
//!   first byte of a later request; Pingora only times single reads, so a byte every 59 s
//!   would otherwise hold a connection forever), and
//! - check each head as it arrives ([`head`]): nginx's line and size limits (414/431) and the
//!   framing RFC 9112 refuses (400), without buffering an oversized head.
//!
//! With `proxy-protocol`, a plain connection's PROXY header is read first, under the same
//! deadline ([`proxy_protocol`]; TLS listeners read it before the handshake instead).
//!
//! The complete head is handed to Pingora's session as its pipelined prefix; HTTP/2 (ALPN, or
//! the h2c preface) goes to Pingora's own loop.

pub mod head;
pub mod proxy_protocol;
mod reader;
mod stream;

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, HttpServerOptions, ServerApp};
use pingora::protocols::http::v2::server::default_h2_options;
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::HttpProxy;
use pingora::server::configuration::ServerConf;
use pingora::server::ShutdownWatch;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use gatehouse_metrics::{ConnectionRefusal, Metrics};

use crate::limits::Limits;
use crate::service::ClassProxy;
use reader::{next_head, Head};
use stream::GuardedStream;

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
        mut proxy: ClassProxy,
        limits: Arc<Limits>,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        proxy.use_server_conf(conf);
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

impl ClassApp {
    fn refused(&self, reason: ConnectionRefusal) {
        if let Some(m) = &self.metrics {
            m.connection_refused(&self.class, reason);
        }
    }

    /// The HTTP/1 keep-alive loop: read a head, let Pingora serve that request, repeat.
    async fn serve_http1(
        self: &Arc<Self>,
        mut stream: Box<GuardedStream>,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let mut stop = shutdown.clone();
        let mut kept: Option<HttpPersistentSettings> = None;
        let mut idle_until = None;
        loop {
            let refused = |reason| self.refused(reason);
            let head =
                match next_head(&mut stream, &self.limits, idle_until, &mut stop, refused).await {
                    Head::Http1(head) => head,
                    Head::Http2 => return self.proxy.process_new(stream, shutdown).await,
                    Head::Gone => return None,
                };
            let mut session = ServerSession::new_http1(stream);
            match kept.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => {
                    // What Pingora's own loop sets on a new connection.
                    session.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
                    session.set_keepalive_reuses_remaining(
                        self.proxy
                            .server_options()
                            .and_then(|o| o.keepalive_request_limit),
                    );
                }
            }
            // Pingora parses the head from this prefix without reading again. The kept
            // settings carry no prefix of their own: gatehouse never enables pipelining.
            session.set_pipelined_prefix(head);
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            let (next, settings) = reused.consume();
            stream = next.into_any().downcast::<GuardedStream>().ok()?;
            kept = settings;
            idle_until = Some(Instant::now() + self.limits.keep_alive);
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
            self.refused(ConnectionRefusal::MaxConnections);
            return None;
        };
        if let Some(m) = &self.metrics {
            m.connection_opened(&self.class);
        }
        let _open = OpenConnection(self);
        let h2 = stream.selected_alpn_proto() == Some(ALPN::H2);
        let deadline = Instant::now() + self.limits.client_header_timeout;
        let mut stream = Box::new(GuardedStream::new(stream, deadline));
        if self.limits.proxy_protocol {
            if let Err(refused) = proxy_protocol::accept_guarded(&mut stream, &self.limits).await {
                tracing::debug!(class = %self.class, %refused, "PROXY header refused; closing");
                if refused.counted() {
                    self.refused(ConnectionRefusal::ProxyProtocol);
                }
                return None;
            }
        }
        if h2 {
            return self.proxy.process_new(stream, shutdown).await;
        }
        self.serve_http1(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.proxy.cleanup().await
    }
}
