//! The lean forwarding loop: a request without a body, to a plain HTTP/1.1 backend, is sent
//! and answered by gatehouse itself on `pingora-core`'s sessions (a client session on a
//! connection from its own keep-alive pool, `idle_pool`, the client's own session for the
//! answer) instead of
//! `pingora-proxy`'s generic loop, which runs every request as two concurrent halves joined by
//! channels, with cache, module and upgrade machinery gatehouse does not use
//! (docs/benchmarks/notes.md has what it costs). Every other request — a body, an upgrade,
//! HTTPS, HTTP/2 or gRPC backends, hop-by-hop headers to sanitise — takes Pingora's loop.
//!
//! Both loops share everything that decides: the endpoint choice, the connect-retry and
//! `proxy-next-upstream` rules (`connect_failed`, `error_while_proxy`), the upstream request's
//! headers, the response's. An error becomes the caller's `Err`, so Pingora answers it as it
//! answers its own loop's (502, 503, 504, or nothing when the client has gone) and logs the
//! request with it.
//!
//! Left to Pingora's loop, on purpose: informational responses are dropped here, as nginx does
//! (a bodiless request without `Expect` rarely gets one; Pingora's loop forwards them).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Version};
use pingora::connectors::{ConnectorOptions, TransportConnector};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::http::authority::validate_request_authority;
use pingora::protocols::http::v1::client::HttpSession as UpstreamSession;
use pingora::protocols::Stream;
use pingora::server::configuration::ServerConf;
use pingora::upstreams::peer::{HttpPeer, Peer};
use tokio::io::AsyncWriteExt;

use super::headers::header_value;
use super::idle_pool::IdlePool;
use super::upstream_head::{HOST_NAME, X_REQUEST_ID};
use super::{connected, upstream_response_arrived, ClassProxy, RequestCtx};

/// The lean loop's upstream connections and retry budget, one per instance.
pub struct Lean {
    /// Opens connections to backends.
    transport: TransportConnector,
    /// Idle connections kept for reuse (sized as Pingora's pool).
    idle: Arc<IdlePool>,
    /// Tries per request, as Pingora's loop counts them (`max_retries` of the server settings).
    max_tries: usize,
}

impl Lean {
    /// The loop's connector, pool and retry budget from the instance's server settings.
    pub fn new(conf: &ServerConf) -> Self {
        let options = ConnectorOptions::from_server_conf(conf);
        Self {
            idle: IdlePool::new(options.keepalive_pool_size),
            // The connector only connects: its own pool stays empty.
            transport: TransportConnector::new(Some(ConnectorOptions {
                keepalive_pool_size: 1,
                ..options
            })),
            max_tries: conf.max_retries.max(1),
        }
    }
}

/// Request headers Pingora's loop would remove or act on (RFC 9110 section 7.6.1, and the
/// connection-specific ones HTTP/2 forbids): a request carrying one takes that loop.
static HOP_BY_HOP: [HeaderName; 10] = [
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
    header::EXPECT,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("http2-settings"),
];

/// True when the request can take the lean loop: [`route_allows`] and [`request_allows`].
pub fn eligible(session: &mut Session, ctx: &RequestCtx) -> bool {
    route_allows(ctx) && request_allows(session)
}

/// True when the request's route has a backend that speaks plain HTTP/1.1.
pub fn route_allows(ctx: &RequestCtx) -> bool {
    let Some(target) = &ctx.target else {
        return false;
    };
    let protocol = target.policy.backend_protocol;
    !protocol.tls(ctx.tls) && !protocol.http2()
}

/// True when the request has no body and asks for no upgrade, its target is in origin form,
/// its `Connection` header (if any) says only `keep-alive` or `close`, it carries no other
/// hop-by-hop header, and an HTTP/2 request's Host agrees with its authority.
pub fn request_allows(session: &mut Session) -> bool {
    !session.is_upgrade_req() && session.is_body_empty() && plain_request(session.req_header())
}

/// The request-side conditions of [`eligible`], on the head alone.
fn plain_request(req: &RequestHeader) -> bool {
    if !req.raw_path().starts_with(b"/") {
        return false;
    }
    for (name, value) in req.headers.iter() {
        if name == header::CONNECTION {
            if !persistence_only(value) {
                return false;
            }
        } else if HOP_BY_HOP.contains(name) {
            return false;
        }
    }
    match (req.uri.authority(), req.headers.get(header::HOST)) {
        // HTTP/2: Pingora's loop would send the authority as Host; so does this one, when they
        // agree or Host is absent (`prepare_upstream_request` adds it).
        (Some(authority), Some(host)) => authority.as_str().as_bytes() == host.as_bytes(),
        _ => true,
    }
}

/// True when a `Connection` value nominates nothing but `keep-alive` and `close`.
fn persistence_only(value: &HeaderValue) -> bool {
    value.as_bytes().split(|b| *b == b',').all(|token| {
        let token = token.trim_ascii();
        token.eq_ignore_ascii_case(b"keep-alive") || token.eq_ignore_ascii_case(b"close")
    })
}

impl ClassProxy {
    /// Forwards the request on the lean loop and writes the answer; retries on another
    /// endpoint as the route allows. `Err`: nothing (or not all) was answered, and Pingora
    /// answers and logs it as it does its own loop's errors.
    pub(super) async fn forward_lean(
        &self,
        lean: &Lean,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let mut tries = 0;
        loop {
            tries += 1;
            let Err(e) = self.forward_once(lean, session, ctx).await else {
                return Ok(());
            };
            if !e.retry() || tries >= lean.max_tries {
                return Err(e);
            }
            tracing::warn!(
                class = %self.class,
                "Fail to proxy: {e}, tries: {tries}, retry: true, {}",
                session.as_downstream().request_summary()
            );
        }
    }

    /// One try: an endpoint, a connection to it, the exchange; the connection goes back to
    /// the pool when the response was whole and the backend keeps it alive.
    async fn forward_once(
        &self,
        lean: &Lean,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let peer = self.choose_peer(ctx)?;
        let (stream, reused) = match lean.idle.take(peer.reuse_hash()) {
            Some(pooled) => (pooled, true),
            // A new connection's future (connect, timeouts, TLS states) is several KiB: boxed,
            // it is paid for by the requests that connect, not copied with every request's.
            None => match Box::pin(lean.transport.new_stream(&peer)).await {
                Ok(stream) => (stream, false),
                Err(mut e) => {
                    e.as_up();
                    return Err(self.connect_failed(ctx, e).into_up());
                }
            },
        };
        let timing = if reused {
            Vec::new()
        } else {
            stream.get_timing_digest()
        };
        connected(ctx, reused, &timing);
        match self.exchange(session, stream, &peer, ctx).await {
            Ok(upstream) => {
                release(lean, upstream, &peer);
                Ok(())
            }
            Err(e) => Err(self.error_while_proxy(&peer, session, e, ctx, reused)),
        }
    }

    /// Writes the request head upstream, then streams the response to the client; returns
    /// the upstream session for the pool.
    async fn exchange(
        &self,
        session: &mut Session,
        mut stream: Stream,
        peer: &HttpPeer,
        ctx: &mut RequestCtx,
    ) -> Result<UpstreamSession> {
        let mut upstream = match self.wire_head(session, ctx)? {
            Some(wire) => {
                write_head(&mut stream, &wire, peer.options.write_timeout).await?;
                upstream_session(stream, peer)
            }
            None => {
                let req = self.lean_request(session, ctx)?;
                let mut upstream = upstream_session(stream, peer);
                upstream
                    .write_request_header(Box::new(req))
                    .await
                    .map_err(|e| e.into_up())?;
                upstream
            }
        };
        self.relay_response(session, &mut upstream, ctx).await?;
        Ok(upstream)
    }

    /// Streams the response to the client.
    async fn relay_response(
        &self,
        session: &mut Session,
        upstream: &mut UpstreamSession,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let mut resp = read_final_head(upstream).await?;
        let end = upstream.is_body_done();
        upstream_response_arrived(ctx, &mut resp);
        let head_request = session.req_header().method == Method::HEAD;
        frame_for_client(&mut resp, head_request, end)?;
        self.prepare_client_response(&mut resp, ctx)?;
        session
            .write_response_header(resp, end)
            .await
            .map_err(|e| e.into_down())?;
        if end {
            return session
                .write_response_body(None, true)
                .await
                .map_err(|e| e.into_down());
        }
        loop {
            let data: Option<Bytes> = upstream.read_body_bytes().await.map_err(|e| e.into_up())?;
            let done = data.is_none() || upstream.is_body_done();
            session
                .write_response_body(data, done)
                .await
                .map_err(|e| e.into_down())?;
            if done {
                return Ok(());
            }
        }
    }

    /// The upstream head as bytes, when gatehouse changes nothing but headers and Pingora's
    /// client session does not need the request to read the response: an HTTP/1 head (its
    /// target in origin form, its spelling kept) for a route without a Host override or
    /// authentication headers, and not HEAD (the session must know a HEAD response has no
    /// body). `None`: [`Self::lean_request`] builds it. Checked as `lean_request` checks it.
    fn wire_head(&self, session: &Session, ctx: &RequestCtx) -> Result<Option<BytesMut>> {
        let req = session.req_header();
        let plain_route = ctx
            .target
            .as_ref()
            .is_some_and(|t| t.policy.upstream_vhost.is_none() && t.policy.forward_auth.is_none());
        if !plain_route || req.method == Method::HEAD || req.uri.authority().is_some() {
            return Ok(None);
        }
        let mut sets = self.forwarded_headers(session, req, ctx)?;
        if sets.sets(&HOST_NAME) {
            return Ok(None);
        }
        sets.set(&X_REQUEST_ID, header_value(ctx.request_id.as_str())?);
        validate_request_authority(req).map_err(|e| e.into_in())?;
        Ok(sets.h1_wire(req))
    }

    /// The upstream request: the client's, as HTTP/1.1, without its `Connection` header (it
    /// nominated nothing: [`eligible`]), with gatehouse's headers, its authority checked as
    /// Pingora's loop checks it.
    fn lean_request(&self, session: &Session, ctx: &RequestCtx) -> Result<RequestHeader> {
        let mut req = session.req_header().clone();
        req.set_version(Version::HTTP_11);
        if req.headers.contains_key(header::CONNECTION) {
            req.remove_header(&header::CONNECTION);
        }
        self.prepare_upstream_request(session, &mut req, ctx)?;
        validate_request_authority(&req).map_err(|e| e.into_in())?;
        Ok(req)
    }
}

/// A client session on the connection, with the peer's read and write timeouts.
fn upstream_session(stream: Stream, peer: &HttpPeer) -> UpstreamSession {
    let mut upstream = UpstreamSession::new_with_options(stream, peer);
    upstream.read_timeout = peer.options.read_timeout;
    upstream.write_timeout = peer.options.write_timeout;
    upstream
}

/// Writes a request head as Pingora's client session writes one (`write_request_header`):
/// whole, flushed, within the write timeout.
async fn write_head(stream: &mut Stream, wire: &[u8], limit: Option<Duration>) -> Result<()> {
    let write = async {
        stream.write_all(wire).await?;
        stream.flush().await
    };
    let written = match limit {
        Some(limit) => timeout(limit, write)
            .await
            .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut))),
        None => write.await,
    };
    written.map_err(|e| {
        let etype = match e.kind() {
            io::ErrorKind::TimedOut => ErrorType::WriteTimedout,
            _ => ErrorType::WriteError,
        };
        Error::because(etype, "while writing request headers", e).into_up()
    })
}

/// Returns the connection to the pool when its response was read to its end and both sides
/// keep it alive (as Pingora's `release_http_session` decides); otherwise drops it, which
/// closes it.
fn release(lean: &Lean, mut upstream: UpstreamSession, peer: &impl Peer) {
    // Off for HTTP/1.0 without keep-alive, `Connection: close`, a body delimited by the close,
    // bytes beyond the body, or an upgrade.
    upstream.respect_keepalive();
    if upstream.will_keepalive() && upstream.is_body_done() {
        lean.idle.put(
            peer.reuse_hash(),
            upstream.into_inner(),
            peer.idle_timeout(),
        );
    }
}

/// Reads response heads until the final one (informational ones are dropped, as nginx does).
async fn read_final_head(upstream: &mut UpstreamSession) -> Result<Box<ResponseHeader>> {
    loop {
        upstream.read_response().await.map_err(|e| e.into_up())?;
        let status = upstream.get_status().map(|s| s.as_u16());
        match status {
            // Only an upgrade request may be switched, and those take Pingora's loop.
            Some(101) => {
                return Err(Error::explain(
                    ErrorType::InvalidHTTPHeader,
                    "upstream switched protocols on a request without Upgrade",
                )
                .into_up())
            }
            Some(100..=199) => continue,
            _ => {}
        }
        return match upstream.resp_header() {
            Some(head) => Ok(Box::new(head.clone())),
            None => Err(Error::explain(ErrorType::InvalidHTTPHeader, "no response head").into_up()),
        };
    }
}

/// A response the backend delimits by closing (HTTP/1.0 style, no length) goes to the client
/// chunked, so the client's connection stays open (as Pingora's loop does it).
fn frame_for_client(resp: &mut ResponseHeader, head_request: bool, end: bool) -> Result<()> {
    let no_body = head_request || matches!(resp.status.as_u16(), 204 | 304);
    if no_body
        || end
        || resp.headers.contains_key(header::TRANSFER_ENCODING)
        || resp.headers.contains_key(header::CONTENT_LENGTH)
    {
        return Ok(());
    }
    resp.set_version(Version::HTTP_11);
    resp.insert_header(header::TRANSFER_ENCODING, "chunked")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header lines of a case.
    type Headers<'a> = &'a [(&'a str, &'a str)];

    fn request(version: Version, uri: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", uri.as_bytes(), None).expect("request");
        req.set_version(version);
        if version == Version::HTTP_2 {
            req.set_uri(uri.parse().expect("uri"));
        }
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).expect("header");
        }
        req
    }

    #[test]
    fn which_requests_take_the_lean_loop() {
        const HTTP_11: Version = Version::HTTP_11;
        const HTTP_2: Version = Version::HTTP_2;
        // (version, target, headers, lean)
        let cases: &[(Version, &str, Headers, bool)] = &[
            (HTTP_11, "/", &[("host", "a.test")], true),
            (
                HTTP_11,
                "/a?b",
                &[("host", "a.test"), ("connection", "keep-alive")],
                true,
            ),
            (
                HTTP_11,
                "/",
                &[("host", "a.test"), ("connection", "Keep-Alive, close")],
                true,
            ),
            (
                HTTP_11,
                "/",
                &[("host", "a.test"), ("connection", "keep-alive, x-a")],
                false,
            ),
            (
                HTTP_11,
                "/",
                &[("host", "a.test"), ("keep-alive", "timeout=5")],
                false,
            ),
            (
                HTTP_11,
                "/",
                &[("host", "a.test"), ("te", "trailers")],
                false,
            ),
            (
                HTTP_11,
                "/",
                &[("host", "a.test"), ("proxy-connection", "x")],
                false,
            ),
            (
                HTTP_11,
                "/",
                &[("host", "a.test"), ("expect", "100-continue")],
                false,
            ),
            (
                HTTP_11,
                "/",
                &[("host", "a.test"), ("proxy-authorization", "x")],
                false,
            ),
            (HTTP_11, "*", &[("host", "a.test")], false),
            (HTTP_2, "https://a.test/x", &[], true),
            (HTTP_2, "https://a.test/x", &[("host", "a.test")], true),
            (HTTP_2, "https://a.test/x", &[("host", "b.test")], false),
            (
                HTTP_2,
                "https://a.test/x",
                &[("http2-settings", "x")],
                false,
            ),
        ];
        for (version, uri, headers, lean) in cases {
            let req = request(*version, uri, headers);
            assert_eq!(plain_request(&req), *lean, "{version:?} {uri} {headers:?}");
        }
    }

    #[test]
    fn close_delimited_responses_are_chunked_for_the_client() {
        // (status, headers, HEAD request, ended with the head, chunked afterwards)
        let cases: &[(u16, Headers, bool, bool, bool)] = &[
            (200, &[], false, false, true),
            (200, &[("content-length", "3")], false, false, false),
            (
                200,
                &[("transfer-encoding", "chunked")],
                false,
                false,
                false,
            ),
            (200, &[], true, false, false),
            (200, &[], false, true, false),
            (204, &[], false, false, false),
            (304, &[], false, false, false),
        ];
        for (status, headers, head, end, chunked) in cases {
            let mut resp = ResponseHeader::build(*status, None).expect("response");
            resp.set_version(Version::HTTP_10);
            for (name, value) in *headers {
                resp.append_header(name.to_string(), *value)
                    .expect("header");
            }
            frame_for_client(&mut resp, *head, *end).expect("framing");
            // Only a response made chunked is raised to HTTP/1.1.
            let raised = resp.version == Version::HTTP_11;
            assert_eq!(
                raised, *chunked,
                "{status} {headers:?} head={head} end={end}"
            );
            if *chunked {
                assert_eq!(
                    resp.headers
                        .get(header::TRANSFER_ENCODING)
                        .map(|v| v.as_bytes()),
                    Some(&b"chunked"[..])
                );
            }
        }
    }
}
