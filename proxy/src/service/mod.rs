//! The Pingora service of one ingress class: match the request against the class's current
//! route table, pick an endpoint, forward with the usual proxy headers.

mod headers;
mod respond;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::upstreams::peer::HttpPeer;

use gatehouse_certs::challenge::HTTP01_PREFIX;
use gatehouse_certs::MemoryChallenges;

use crate::routes::{RouteTable, RouteTarget};

/// How long a connect to an endpoint may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle upstream connection stays in the keep-alive pool.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Behaviour shared by every instance of the process.
#[derive(Clone, Default)]
pub struct ProxyOptions {
    /// The Strict-Transport-Security value for HTTPS responses (`None`: no HSTS).
    pub hsts: Option<http::HeaderValue>,
    /// Pending ACME HTTP-01 answers, served before routing.
    pub challenges: MemoryChallenges,
}

/// Serves one ingress class.
pub struct ClassProxy {
    class: Arc<str>,
    table: Arc<ArcSwap<RouteTable>>,
    options: ProxyOptions,
}

impl ClassProxy {
    /// A proxy reading `table`, which the controller swaps.
    pub fn new(class: Arc<str>, table: Arc<ArcSwap<RouteTable>>, options: ProxyOptions) -> Self {
        Self {
            class,
            table,
            options,
        }
    }

    /// The class this proxy serves.
    pub fn class(&self) -> &str {
        &self.class
    }
}

/// Per-request state.
#[derive(Default)]
pub struct RequestCtx {
    /// The matched route; holding it keeps the table's backend alive for this request.
    target: Option<Arc<RouteTarget>>,
    /// The endpoint chosen last (for retries and logging).
    peer: Option<SocketAddr>,
    /// An endpoint whose connect failed, to be avoided on retry.
    failed: Option<SocketAddr>,
    retries: u32,
    /// The request arrived over TLS.
    tls: bool,
}

#[async_trait]
impl ProxyHttp for ClassProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> Self::CTX {
        RequestCtx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
        ctx.tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        // ACME HTTP-01 answers never reach a backend, whatever the routes say.
        let path = session.req_header().uri.path();
        if path.starts_with(HTTP01_PREFIX) {
            match self.options.challenges.answer_for_path(path) {
                Some(answer) => respond::owned(session, 200, answer.as_bytes().to_vec()).await?,
                None => respond::text(session, 404, "404 no such ACME challenge\n").await?,
            }
            return Ok(true);
        }
        let target = {
            let table = self.table.load();
            let req = session.req_header();
            let host = headers::request_host(req);
            table.lookup(host, req.uri.path()).cloned()
        };
        let Some(target) = target else {
            respond::text(session, 404, "404 no route for this host and path\n").await?;
            return Ok(true);
        };
        if target.redirect_https && !ctx.tls {
            let location = headers::https_location(session.req_header());
            ctx.target = Some(target);
            respond::redirect(session, 308, &location).await?;
            return Ok(true);
        }
        if target.backend.is_unavailable() {
            ctx.target = Some(target);
            respond::text(session, 503, "503 no ready endpoint for this service\n").await?;
            return Ok(true);
        }
        ctx.target = Some(target);
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        let target = ctx
            .target
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route in context"))?;
        let addr = target.backend.pick(ctx.failed).ok_or_else(|| {
            Error::explain(ErrorType::HTTPStatus(503), "no ready endpoint for service")
        })?;
        ctx.peer = Some(addr);
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
        peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Self::CTX,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // One retry, on another endpoint when there is one.
        let others = ctx
            .target
            .as_ref()
            .is_some_and(|t| t.backend.endpoints().ready.len() > 1);
        if ctx.retries == 0 && others {
            ctx.retries += 1;
            ctx.failed = ctx.peer;
            e.set_retry(true);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        _ctx: &mut Self::CTX,
    ) -> Result<()> {
        headers::prepare_upstream_request(session, upstream_request)
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        _ctx: &mut Self::CTX,
    ) -> Result<()> {
        headers::strip_response_hop_by_hop(upstream_response);
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        if ctx.tls {
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
}
