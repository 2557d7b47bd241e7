//! Plain-HTTP requests go to HTTPS with a 308 when their route asks for it (`ssl-redirect` on a
//! host with TLS, `force-ssl-redirect`), or when nothing on a TLS host matched.

use std::ops::ControlFlow;

use pingora::http::RequestHeader;

use super::{Answer, Flow};
use crate::service::{headers, RequestCtx};

/// Redirects a plain-HTTP request whose route or host wants HTTPS.
pub fn step(req: &RequestHeader, ctx: &RequestCtx) -> Flow {
    if ctx.tls {
        return ControlFlow::Continue(());
    }
    let route_wants = ctx.target.as_ref().is_some_and(|t| t.policy.redirect_https);
    if !(route_wants || ctx.host_redirects_https) {
        return ControlFlow::Continue(());
    }
    ControlFlow::Break(Answer::Redirect {
        status: 308,
        location: headers::https_location(req),
    })
}
