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

use crate::routes::{RouteTable, RouteTarget};

/// How long a connect to an endpoint may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle upstream connection stays in the keep-alive pool.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves one ingress class.
pub struct ClassProxy {
    class: Arc<str>,
    table: Arc<ArcSwap<RouteTable>>,
}

impl ClassProxy {
    /// A proxy reading `table`, which the controller swaps.
    pub fn new(class: Arc<str>, table: Arc<ArcSwap<RouteTable>>) -> Self {
        Self { class, table }
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
}

#[async_trait]
impl ProxyHttp for ClassProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> Self::CTX {
        RequestCtx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
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
}
