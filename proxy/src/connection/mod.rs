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
//! The complete head is handed to a session as its pipelined prefix: first the first pass's
//! (`service::first_pass`, with `--lean-forwarding`), which serves lean requests and step
//! answers without Pingora's per-request state, then, for a request it declines, Pingora's,
//! on the same stream (`shared`). HTTP/2 (ALPN, or the h2c preface) goes to Pingora's own
//! loop.

pub mod head;
pub mod proxy_protocol;
mod reader;
mod shared;
mod stream;

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, HttpServerOptions, ServerApp};
use pingora::protocols::http::v2::server::default_h2_options;
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::{HttpProxy, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::ShutdownWatch;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use gatehouse_metrics::{ConnectionRefusal, Metrics};

use crate::limits::Limits;
use crate::service::first_pass::{self, FirstPass};
use crate::service::ClassProxy;
use reader::{next_head, Head};
use shared::SharedStream;
use stream::GuardedStream;

/// The Pingora app of one instance behind the connection guard.
pub struct ClassApp {
    proxy: Arc<HttpProxy<ClassProxy>>,
    /// The same class proxy, for the first pass over HTTP/1 requests (`None`: no lean loop).
    first_pass: Option<ClassProxy>,
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
        let first_pass = proxy.lean_forwarding().then(|| proxy.clone());
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
            first_pass,
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

    /// The HTTP/1 keep-alive loop: read a head; serve the request in the first pass, or let
    /// Pingora serve it; repeat.
    async fn serve_http1(
        self: &Arc<Self>,
        stream: Box<GuardedStream>,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let mut stop = shutdown.clone();
        let mut shared = SharedStream::new(*stream);
        let mut kept: Option<Kept> = None;
        let mut idle_until = None;
        loop {
            // Every session of the last request is gone, so the guard holds the only handle.
            let stream = shared.get_mut()?;
            let refused = |reason| self.refused(reason);
            let head = match next_head(stream, &self.limits, idle_until, &mut stop, refused).await {
                Head::Http1(head) => head,
                Head::Http2 => return self.proxy.process_new(shared.into_inner()?, shutdown).await,
                Head::Gone => return None,
            };
            let mut kept_now = kept.take();
            let first_pass = self
                .first_pass
                .as_ref()
                .filter(|_| !first_pass::declines_unparsed(&head));
            if let Some(class) = first_pass {
                let mut session = Session::new_h1_with_modules(
                    Box::new(shared.clone()),
                    &self.proxy.downstream_modules,
                );
                let reuse = self.carry(kept_now, &mut session.downstream_session, shutdown);
                // Pingora parses the head from this prefix without reading again. Gatehouse
                // never enables pipelining, so no request carries a prefix of its own.
                session.set_pipelined_prefix(head.clone());
                match class.first_pass(&mut session, shutdown).await {
                    FirstPass::Served => {
                        let next = Reuse::after(&session);
                        session.downstream_session.finish().await.ok()??;
                        kept = Some(Kept::Values(next));
                        idle_until = Some(Instant::now() + self.limits.keep_alive);
                        continue;
                    }
                    FirstPass::Failed => return None,
                    // Pingora gets the request with the state it would have started with.
                    FirstPass::Declined => kept_now = Some(Kept::Values(reuse)),
                }
            }
            let mut session = ServerSession::new_http1(Box::new(shared.clone()));
            self.carry(kept_now, &mut session, shutdown);
            session.set_pipelined_prefix(head);
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            let (_handle, settings) = reused.consume();
            kept = settings.map(Kept::Pingora);
            idle_until = Some(Instant::now() + self.limits.keep_alive);
        }
    }

    /// Starts a request's session with the keep-alive state `kept` from the connection's last
    /// request, or Pingora's for a new connection; returns that state as applied.
    fn carry(
        &self,
        kept: Option<Kept>,
        session: &mut ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Reuse {
        let reuse = match kept {
            Some(Kept::Pingora(settings)) => {
                // Pingora's own bookkeeping (one reuse fewer), read back.
                settings.apply_to_session(session);
                return Reuse {
                    keepalive: session.get_keepalive(),
                    reuses_remaining: session.get_keepalive_reuses_remaining(),
                };
            }
            Some(Kept::Values(reuse)) => reuse,
            // What Pingora's own loop sets on a new connection.
            None => Reuse {
                keepalive: if *shutdown.borrow() { None } else { Some(60) },
                reuses_remaining: self
                    .proxy
                    .server_options()
                    .and_then(|o| o.keepalive_request_limit),
            },
        };
        session.set_keepalive(reuse.keepalive);
        session.set_keepalive_reuses_remaining(reuse.reuses_remaining);
        reuse
    }
}

/// The keep-alive state a connection's next request starts with.
enum Kept {
    /// As Pingora's loop left it.
    Pingora(HttpPersistentSettings),
    /// As the first pass left it, or as a declined request was given it.
    Values(Reuse),
}

/// Keep-alive timeout and reuses left, as a session holds them.
#[derive(Clone, Copy)]
struct Reuse {
    keepalive: Option<u64>,
    reuses_remaining: Option<u32>,
}

impl Reuse {
    /// The state the next request starts with after `session`'s (one reuse fewer, as
    /// Pingora's `HttpPersistentSettings` counts).
    fn after(session: &ServerSession) -> Self {
        Reuse {
            keepalive: session.get_keepalive(),
            reuses_remaining: session
                .get_keepalive_reuses_remaining()
                .map(|r| r.saturating_sub(1)),
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
