//! The Pingora service of one ingress class: run the request steps (`steps/`: path
//! normalisation, ACME answers, route match, redirects, …), pick an endpoint, forward with the usual proxy headers; in
//! `logging`, record the request in the metrics and the access log.

pub mod client_address;
pub mod first_pass;
mod forward;
mod headers;
mod idle_pool;
mod observe;
pub mod request_id;
mod respond;
pub mod steps;
mod upstream;
mod upstream_head;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::TimingDigest;
use pingora::upstreams::peer::HttpPeer;

use gatehouse_certs::MemoryChallenges;
use gatehouse_metrics::{
    AccessLog, ClassSeries, InFlightRequest, Metrics, RequestRecord, RouteSeries, UpstreamErrorKind,
};

use crate::instance::LiveTable;
use crate::limits::Limits;
use crate::routes::RouteTarget;
use request_id::RequestId;
use upstream_head::HeaderSets;

/// How long an idle upstream connection stays in the keep-alive pool.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Behaviour shared by every instance of the process.
#[derive(Clone, Default)]
pub struct ProxyOptions {
    /// The Strict-Transport-Security value for HTTPS responses (`None`: no HSTS).
    pub hsts: Option<http::HeaderValue>,
    /// Pending ACME HTTP-01 answers, served before routing.
    pub challenges: MemoryChallenges,
    /// Where finished requests are counted (`None`: not counted).
    pub metrics: Option<Arc<Metrics>>,
    /// Where finished requests are logged (`None`: `--access-log off`).
    pub access_log: Option<Arc<AccessLog>>,
    /// `--lean-forwarding`: bodiless requests to plain HTTP/1.1 backends are forwarded by
    /// gatehouse's own loop on Pingora's sessions (`forward`) instead of Pingora's generic one.
    pub lean_forwarding: bool,
}

/// Serves one ingress class. Cheap to clone: Pingora's proxy and the connection guard (which
/// serves lean requests itself, `first_pass`) share one.
#[derive(Clone)]
pub struct ClassProxy(Arc<ClassShared>);

/// What the clones of a [`ClassProxy`] share.
pub struct ClassShared {
    class: Arc<str>,
    table: Arc<ArcSwap<LiveTable>>,
    options: ProxyOptions,
    /// The instance's metric series handles (with `options.metrics`).
    series: Option<ClassSeries>,
    limits: Arc<Limits>,
    /// The client of auth subrequests, with its pool of connections to auth services.
    auth: steps::forward_auth::client::AuthClient,
    /// The lean forwarding loop's connector and retry budget (`None`: `--lean-forwarding
    /// false`, or not yet given the server settings by [`ClassProxy::use_server_conf`]).
    lean: Option<forward::Lean>,
}

impl ClassProxy {
    /// A proxy reading `table`, which the controller swaps, under the instance's `limits`.
    pub fn new(
        class: Arc<str>,
        table: Arc<ArcSwap<LiveTable>>,
        options: ProxyOptions,
        limits: Arc<Limits>,
    ) -> Self {
        let series = options.metrics.as_ref().map(|m| m.class_series(&class));
        Self(Arc::new(ClassShared {
            class,
            table,
            options,
            series,
            limits,
            auth: Default::default(),
            lean: None,
        }))
    }

    /// Takes what the lean forwarding loop needs from the instance's Pingora settings: its
    /// upstream keep-alive pool size and retry budget (as Pingora's own loop has them).
    /// Called once, before the proxy is shared.
    pub fn use_server_conf(&mut self, conf: &pingora::server::configuration::ServerConf) {
        let Some(shared) = Arc::get_mut(&mut self.0) else {
            tracing::warn!(class = %self.class, "server settings given to a shared proxy; lean forwarding stays off");
            return;
        };
        shared.lean = shared
            .options
            .lean_forwarding
            .then(|| forward::Lean::new(conf));
    }

    /// Whether bodiless requests to plain HTTP/1.1 backends take the lean loop.
    pub fn lean_forwarding(&self) -> bool {
        self.lean.is_some()
    }

    /// The class this proxy serves.
    pub fn class(&self) -> &str {
        &self.class
    }
}

impl std::ops::Deref for ClassProxy {
    type Target = ClassShared;

    fn deref(&self) -> &ClassShared {
        &self.0
    }
}

/// Per-request state.
pub struct RequestCtx {
    /// The table the request was matched against (with its balancing state), kept for the
    /// whole request even if a new one is swapped in.
    table: Option<Arc<LiveTable>>,
    /// The matched route.
    target: Option<Arc<RouteTarget>>,
    /// No rule of the request's host matched and that host redirects to HTTPS as a whole.
    host_redirects_https: bool,
    /// The request path held an encoded slash (`%2F`, `%5C`), refused unless the route allows.
    encoded_slash: bool,
    /// The head carried `Content-Length` beside `Transfer-Encoding` (Pingora drops the length
    /// from the header map; the framing step refuses the request).
    content_length_dropped: bool,
    /// The endpoint chosen last (for retries and logging).
    peer: Option<SocketAddr>,
    /// Endpoints this request failed on, avoided by the next try.
    tried: Vec<SocketAddr>,
    retries: u32,
    /// The request arrived over TLS.
    tls: bool,
    /// The client used HTTPS: the connection is TLS, or a trusted proxy says so
    /// (`X-Forwarded-Proto`). Redirects, HSTS and `X-Forwarded-Proto` follow it.
    https: bool,
    /// The connection's peer is a trusted proxy, whose forwarded headers were believed.
    via_trusted_proxy: bool,
    /// The client's address, set once per request ([`client_address::resolve`]): the
    /// connection's peer (canonical: an IPv4-mapped IPv6 peer is its IPv4 address), or what a
    /// trusted proxy says. Source-range checks, forward auth and the access log read only this.
    client_ip: Option<IpAddr>,
    /// When the request head had been read.
    started: Instant,
    /// When the first upstream peer was chosen (start of upstream timing).
    upstream_started: Option<Instant>,
    upstream_connect: Option<Duration>,
    upstream_header: Option<Duration>,
    upstream_reused: Option<bool>,
    /// The last upstream failure, also when a retry then succeeded.
    upstream_error: Option<UpstreamErrorKind>,
    request_id: RequestId,
    /// Counts the request in `gatehouse_http_requests_in_flight` until it is logged.
    in_flight: Option<InFlightRequest>,
    /// The request body limit that applies (zero: none), set by the `body_size` step.
    body_max: u64,
    /// Request body bytes seen so far.
    body_seen: u64,
    /// The lean loop failed and logged it (`forward`); Pingora's log line is suppressed.
    lean_failed: bool,
    /// Headers of the auth service's answer to set on the upstream request
    /// (`auth-response-headers`).
    auth_upstream_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The auth service's cookies for the client's response.
    auth_cookies: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl RequestCtx {
    fn new(in_flight: Option<InFlightRequest>) -> Self {
        Self {
            table: None,
            target: None,
            host_redirects_https: false,
            encoded_slash: false,
            content_length_dropped: false,
            peer: None,
            tried: Vec::new(),
            retries: 0,
            tls: false,
            https: false,
            via_trusted_proxy: false,
            client_ip: None,
            started: Instant::now(),
            upstream_started: None,
            upstream_connect: None,
            upstream_header: None,
            upstream_reused: None,
            upstream_error: None,
            request_id: RequestId::default(),
            in_flight,
            body_max: 0,
            body_seen: 0,
            lean_failed: false,
            auth_upstream_headers: Vec::new(),
            auth_cookies: Vec::new(),
        }
    }

    /// The request id sent upstream and logged.
    pub fn request_id(&self) -> &str {
        self.request_id.as_str()
    }
}

/// The connection's peer address, canonical (an IPv4-mapped IPv6 peer is its IPv4 address).
fn peer_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_canonical())
}

impl ClassProxy {
    /// Applies the instance's client-side deadlines to this request: body read and write
    /// timeouts, and the keep-alive time after it (the connection guard times the head).
    fn apply_client_limits(&self, session: &mut Session) {
        let limits = &self.limits;
        // On an upgraded connection (WebSocket) the client side idles as long as the upstream
        // side may, as with nginx's proxy-read-timeout there.
        let read = if session.is_upgrade_req() {
            limits.proxy_read_timeout
        } else {
            limits.client_body_timeout
        };
        session.set_read_timeout(Some(read));
        session.set_write_timeout(Some(limits.send_timeout));
        if session.get_keepalive().is_some() {
            session.set_keepalive(limits.keep_alive_secs());
        }
    }

    /// Reads and discards the body of a request answered without it, within `lingering-time`
    /// and `lingering-timeout`, so the client reads the answer before the connection closes
    /// (nginx's lingering close). Errors only end the discarding early.
    async fn linger(&self, session: &mut Session) {
        let limits = &self.limits;
        if limits.lingering_time.is_zero() {
            return;
        }
        session.set_read_timeout(Some(limits.lingering_timeout));
        session.set_total_drain_timeout(Some(limits.lingering_time));
        if let Err(e) = session.drain_request_body().await {
            tracing::debug!(class = %self.class, "unread request body not drained: {e}");
        }
    }

    /// Whether the route's retry policy allows one more try on an endpoint this request has
    /// not failed on; if so, the failed one is remembered and the try counted.
    fn try_another(&self, ctx: &mut RequestCtx) -> bool {
        let Some(target) = &ctx.target else {
            return false;
        };
        let elapsed = ctx.upstream_started.map_or(Duration::ZERO, |s| s.elapsed());
        if !target.policy.retry.allows_another(ctx.retries + 1, elapsed) {
            return false;
        }
        if let Some(failed) = ctx.peer {
            if !ctx.tried.contains(&failed) {
                ctx.tried.push(failed);
            }
        }
        let untried = target
            .backend
            .endpoints()
            .ready
            .iter()
            .any(|a| !ctx.tried.contains(a));
        if untried {
            ctx.retries += 1;
        }
        untried
    }

    /// Picks the request's next endpoint (avoiding those it failed on) and the peer to reach
    /// it under the route's policy and the instance's timeouts.
    fn choose_peer(&self, ctx: &mut RequestCtx) -> Result<HttpPeer> {
        let (Some(table), Some(target)) = (&ctx.table, &ctx.target) else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "no route in context",
            ));
        };
        let addr = table
            .balance
            .pick(&target.backend, &ctx.tried)
            .ok_or_else(|| {
                Error::explain(ErrorType::HTTPStatus(503), "no ready endpoint for service")
            })?;
        ctx.peer = Some(addr);
        ctx.upstream_started.get_or_insert_with(Instant::now);
        // AUTO_HTTP follows the connection's own scheme, as ingress-nginx's `$scheme` does.
        let mut peer = upstream::peer(&target.policy, &target.backend, addr, ctx.tls);
        let policy = &target.policy;
        peer.options.connection_timeout = Some(
            policy
                .connect_timeout
                .unwrap_or(self.limits.proxy_connect_timeout),
        );
        peer.options.read_timeout = Some(
            policy
                .read_timeout
                .unwrap_or(self.limits.proxy_read_timeout),
        );
        peer.options.write_timeout = Some(
            policy
                .send_timeout
                .unwrap_or(self.limits.proxy_send_timeout),
        );
        peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
        Ok(peer)
    }

    /// A failed connect: recorded, and marked for another endpoint when the route's retry
    /// policy allows (nothing reached the upstream, so any request may go elsewhere).
    fn connect_failed(&self, ctx: &mut RequestCtx, mut e: Box<Error>) -> Box<Error> {
        ctx.upstream_error = Some(observe::upstream_error_kind(&e));
        let on = ctx.target.as_ref().map(|t| t.policy.retry);
        let wanted = on.is_some_and(|r| {
            if e.etype() == &ErrorType::ConnectTimedout {
                r.on_timeout
            } else {
                r.on_error
            }
        });
        if wanted && self.try_another(ctx) {
            e.set_retry(true);
        }
        e
    }

    /// The upstream request's headers: forwarded headers, the route's Host override and auth
    /// headers, the request id.
    fn prepare_upstream_request(
        &self,
        session: &Session,
        upstream_request: &mut RequestHeader,
        ctx: &RequestCtx,
    ) -> Result<()> {
        self.forwarded_headers(session, upstream_request, ctx)?
            .apply(upstream_request)?;
        if let Some(target) = &ctx.target {
            upstream::apply_vhost(&target.policy, upstream_request)?;
            if let Some(auth) = &target.policy.forward_auth {
                steps::forward_auth::subrequest::apply_to_upstream(
                    auth,
                    &ctx.auth_upstream_headers,
                    upstream_request,
                )?;
            }
        }
        // Last, so neither an auth service's copied headers nor the forwarded ones replace it
        // (the lean loop's written head sets it among the others: no auth headers there).
        upstream_request.insert_header(request_id::HEADER, ctx.request_id.as_str())?;
        Ok(())
    }

    /// The forwarded headers for this request (`headers::forwarded_headers`), read from `req`:
    /// the upstream copy in Pingora's loop, the client's own head in the lean loop.
    fn forwarded_headers(
        &self,
        session: &Session,
        req: &RequestHeader,
        ctx: &RequestCtx,
    ) -> Result<HeaderSets> {
        let client = headers::Forwarding {
            client_ip: ctx.client_ip,
            https: ctx.https,
            via_trusted_proxy: ctx.via_trusted_proxy,
            forwarded_port: self.limits.forwarded_port,
        };
        headers::forwarded_headers(session, req, &client)
    }

    /// The client's response headers gatehouse adds: the auth service's cookies, HSTS.
    fn prepare_client_response(
        &self,
        response: &mut ResponseHeader,
        ctx: &RequestCtx,
    ) -> Result<()> {
        if !ctx.auth_cookies.is_empty() {
            let always = ctx
                .target
                .as_ref()
                .and_then(|t| t.policy.forward_auth.as_ref())
                .is_some_and(|a| a.always_set_cookie);
            steps::forward_auth::add_cookies(always, &ctx.auth_cookies, response)?;
        }
        if ctx.https {
            if let Some(hsts) = &self.options.hsts {
                if !response
                    .headers
                    .contains_key(http::header::STRICT_TRANSPORT_SECURITY)
                {
                    response
                        .insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
                }
            }
        }
        Ok(())
    }

    /// What every request starts with, once its head is read: TLS, the client's address and
    /// scheme, the request id, the framing note, the client-side deadlines.
    fn begin(&self, session: &mut Session, ctx: &mut RequestCtx) {
        ctx.tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        ctx.https = ctx.tls;
        if let Some(peer) = peer_ip(session) {
            let client =
                client_address::resolve(peer, ctx.tls, &session.req_header().headers, &self.limits);
            ctx.client_ip = Some(client.ip);
            ctx.https = client.https;
            ctx.via_trusted_proxy = client.via_trusted_proxy;
        }
        ctx.request_id = RequestId::for_request(session.req_header());
        ctx.content_length_dropped = steps::content_length_dropped(session.as_downstream());
        self.apply_client_limits(session);
    }

    /// Writes a step's answer (and reads away an unread body, nginx's lingering close).
    async fn answer(
        &self,
        session: &mut Session,
        answer: steps::Answer,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let hsts = self.options.hsts.as_ref().filter(|_| ctx.https);
        let unread = respond::answer(session, answer, hsts).await?;
        if unread == respond::Unread::Body {
            self.linger(session).await;
        }
        Ok(())
    }

    /// A request is done: it leaves the in-flight gauge before it is counted as done, so no
    /// scrape sees it both ways (the context itself is dropped a moment later).
    fn finished(&self, session: &Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        ctx.in_flight = None;
        self.record(session, e, ctx);
    }

    /// Counts and logs one finished request; borrows everything from the session and context.
    fn record(&self, session: &Session, e: Option<&Error>, ctx: &RequestCtx) {
        let metrics = self.options.metrics.as_deref();
        let access_log = self.options.access_log.as_deref();
        if metrics.is_none() && access_log.is_none() {
            return;
        }
        let req = session.req_header();
        let written = session.response_written();
        let mut rec = RequestRecord {
            class: &self.class,
            method: req.method.as_str(),
            host: headers::request_host(req),
            path: req.uri.path(),
            status: observe::status(written, e),
            request_bytes: observe::request_head_bytes(req) + session.body_bytes_read() as u64,
            response_bytes: written.map_or(0, observe::response_head_bytes)
                + session.body_bytes_sent() as u64,
            duration: ctx.started.elapsed(),
            upstream_connect: ctx.upstream_connect,
            upstream_header: ctx.upstream_header,
            upstream_addr: ctx.peer,
            // Requests that failed before `early_request_filter` have no client_ip yet.
            client_ip: ctx.client_ip.or_else(|| peer_ip(session)),
            request_id: ctx.request_id.as_str(),
            retries: ctx.retries,
            upstream_error: ctx
                .upstream_error
                .or_else(|| e.and_then(observe::upstream_failure)),
            upstream_reused: ctx.upstream_reused,
            tls: ctx.tls,
            ..RequestRecord::default()
        };
        if let Some(t) = &ctx.target {
            rec.namespace = &t.ingress.namespace;
            rec.ingress = &t.ingress.name;
            rec.service = &t.backend.service;
            rec.service_port = &t.backend.port;
            rec.rule_host = &t.rule_host;
            rec.rule_path = &t.rule_path;
        }
        if let Some(m) = metrics {
            self.observe(m, &rec, ctx.target.as_deref());
        }
        if let Some(log) = access_log {
            log.log(&rec);
        }
    }
}

impl ClassProxy {
    /// Counts `rec` in the series of its route, looked up on the route's first request and
    /// kept beside it (the unmatched series: kept by the instance).
    fn observe(&self, m: &Metrics, rec: &RequestRecord<'_>, target: Option<&RouteTarget>) {
        let Some(class) = &self.series else {
            return m.observe_request(rec);
        };
        let route = match target {
            None => Some(class.unmatched()),
            Some(t) => t
                .observed
                .get_or_init_ref(|| {
                    m.route_series(&self.class, rec.namespace, rec.ingress, rec.service)
                })
                // A route is served by one instance; another's handles are not used.
                .filter(|r: &&RouteSeries| r.class() == class.class()),
        };
        match route {
            Some(route) => m.observe_request_in(rec, class, route),
            None => m.observe_request(rec),
        }
    }
}

/// Records how the upstream connection was had: reused from the pool, or connected (and how
/// long that took: the TCP layer's own measurement, else the time since the peer was chosen).
fn connected(ctx: &mut RequestCtx, reused: bool, timing: &[Option<TimingDigest>]) {
    ctx.upstream_reused = Some(reused);
    ctx.upstream_connect = if reused {
        None
    } else {
        timing
            .first()
            .and_then(|t| t.as_ref())
            .and_then(|t| t.establishment_duration)
            .or_else(|| ctx.upstream_started.map(|s| s.elapsed()))
    };
}

/// The upstream's response head has arrived: time it, drop its hop-by-hop headers.
fn upstream_response_arrived(ctx: &mut RequestCtx, upstream_response: &mut ResponseHeader) {
    if !upstream_response.status.is_informational() && ctx.upstream_header.is_none() {
        ctx.upstream_header = ctx.upstream_started.map(|s| s.elapsed());
    }
    headers::strip_response_hop_by_hop(upstream_response);
}

#[async_trait]
impl ProxyHttp for ClassProxy {
    type CTX = RequestCtx;

    /// None: Pingora's default is a response-compression module left disabled, which gatehouse
    /// never enables (it passes bodies as the backend sent them), and which still costs every
    /// request a context, an allocation and its header filter.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    fn new_ctx(&self) -> Self::CTX {
        let in_flight = match (&self.options.metrics, &self.series) {
            (Some(m), Some(class)) => Some(m.request_started_in(class)),
            _ => None,
        };
        RequestCtx::new(in_flight)
    }

    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<()> {
        self.begin(session, ctx);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
        match steps::run_all(self, session.req_header_mut(), ctx).await {
            std::ops::ControlFlow::Continue(()) => {
                let Some(lean) = &self.lean else {
                    return Ok(false);
                };
                if !forward::eligible(session, ctx) {
                    return Ok(false);
                }
                match self.forward_lean(lean, session, ctx).await {
                    Ok(()) => Ok(true),
                    Err(e) => {
                        // As Pingora's loop logs its final error (its own line would name the
                        // request filter).
                        tracing::error!(
                            class = %self.class,
                            "Fail to proxy: {e}, retries: {}, {}",
                            ctx.retries,
                            session.as_downstream().request_summary()
                        );
                        ctx.lean_failed = true;
                        Err(e)
                    }
                }
            }
            std::ops::ControlFlow::Break(answer) => {
                // Boxed, as the auth subrequest in `run_all`: inline, these futures would make
                // every request's `request_filter` future large, and Pingora boxes (copies) it
                // on every request, answered here or not.
                Box::pin(self.answer(session, answer, ctx)).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        self.choose_peer(ctx).map(Box::new)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Self::CTX,
        e: Box<Error>,
    ) -> Box<Error> {
        self.connect_failed(ctx, e)
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        reused: bool,
        _peer: &HttpPeer,
        #[cfg(unix)] _fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        digest: Option<&pingora::protocols::Digest>,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        connected(ctx, reused, digest.map_or(&[], |d| &d.timing_digest[..]));
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        self.prepare_upstream_request(session, upstream_request, ctx)
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        upstream_response_arrived(ctx, upstream_response);
        Ok(())
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &Self::CTX, _error: &Error) -> bool {
        ctx.lean_failed
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Self::CTX) {
        self.finished(session, e, ctx);
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        // Content-Length was checked before the request went upstream; this catches chunked
        // bodies (and anything else that streams past the limit).
        if let Some(chunk) = body {
            ctx.body_seen += chunk.len() as u64;
            if Limits::body_too_large(ctx.body_max, ctx.body_seen) {
                return Err(Error::explain(
                    ErrorType::HTTPStatus(413),
                    "request body larger than the proxy-body-size limit",
                ));
            }
        }
        Ok(())
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Self::CTX,
        client_reused: bool,
    ) -> Box<Error> {
        // An upstream that stops answering is a gateway timeout (504), as nginx reports it,
        // not Pingora's generic 502.
        let timed_out = e.esource() == &ErrorSource::Upstream
            && matches!(
                e.etype(),
                ErrorType::ReadTimedout | ErrorType::WriteTimedout
            );
        // The client closed or reset its connection while the upstream had not answered yet
        // (Pingora reports it from the downstream side): not the endpoint's failure, and nobody
        // is left to answer, so the request goes nowhere else (nginx: 499, no next upstream).
        let client_left = e.esource() == &ErrorSource::Downstream;
        let mut e = e.more_context(format!("peer {peer}"));
        let idempotent = session.req_header().method.is_idempotent();
        let body_kept = !session.as_ref().retry_buffer_truncated();
        if client_left || !idempotent || !body_kept {
            e.set_retry(false);
        } else {
            // Pingora's own rule: a pooled connection the upstream had closed is retried.
            e.retry.decide_reuse(client_reused);
        }
        // proxy-next-upstream: before any response byte, on another endpoint.
        let policy = ctx.target.as_ref().map(|t| t.policy.retry);
        let wanted = policy.is_some_and(|r| {
            (if timed_out { r.on_timeout } else { r.on_error }) && (idempotent || r.non_idempotent)
        });
        if wanted
            && !client_left
            && body_kept
            && ctx.upstream_header.is_none()
            && self.try_another(ctx)
        {
            ctx.upstream_error = Some(observe::upstream_error_kind(&e));
            e.set_retry(true);
            return e;
        }
        if timed_out {
            ctx.upstream_error = Some(UpstreamErrorKind::ReadTimeout);
            let mut timeout = Error::because(
                ErrorType::HTTPStatus(504),
                "upstream did not answer within proxy-read-timeout / proxy-send-timeout",
                e,
            );
            timeout.set_retry(false);
            return timeout;
        }
        e
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        self.prepare_client_response(response, ctx)
    }
}
