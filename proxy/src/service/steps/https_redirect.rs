//! Plain-HTTP requests (by the client's scheme: a trusted proxy's `X-Forwarded-Proto` counts) go to HTTPS with a 308 when their route asks for it (`ssl-redirect` on a
//! host with TLS, `force-ssl-redirect`), or when nothing on a TLS host matched. The ACME
//! HTTP-01 path is never redirected, on any host (as in ingress-nginx): the CA validates over
//! plain HTTP, and a solver that is not gatehouse (cert-manager's) must receive the request.

use std::ops::ControlFlow;

use gatehouse_certs::challenge::HTTP01_PREFIX;
use pingora::http::RequestHeader;

use super::{Answer, Flow};
use crate::service::{headers, RequestCtx};

/// Redirects a plain-HTTP request whose route or host wants HTTPS.
pub fn step(req: &RequestHeader, ctx: &RequestCtx) -> Flow {
    if ctx.https || req.uri.path().starts_with(HTTP01_PREFIX) {
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

#[cfg(test)]
mod tests {
    use gatehouse_routes::RoutePolicy;

    use super::*;
    use crate::service::steps::tests::ctx_with;

    fn request(path: &str) -> RequestHeader {
        let mut req = match RequestHeader::build("GET", path.as_bytes(), None) {
            Ok(req) => req,
            Err(e) => panic!("build request {path}: {e}"),
        };
        if let Err(e) = req.insert_header("host", "app.test") {
            panic!("host header: {e}");
        }
        req
    }

    #[test]
    fn challenge_path_is_never_redirected() {
        let redirecting = RoutePolicy {
            redirect_https: true,
            ..RoutePolicy::default()
        };
        let cases = [
            // (path, route redirects, host redirects, redirected)
            ("/app", true, false, true),
            ("/app", false, true, true),
            ("/app", false, false, false),
            ("/.well-known/acme-challenge/tok", true, false, false),
            ("/.well-known/acme-challenge/tok", false, true, false),
            ("/.well-known/acme-challengex", true, false, true),
        ];
        for (path, route, host, want) in cases {
            let mut ctx = if route {
                ctx_with(redirecting.clone())
            } else {
                ctx_with(RoutePolicy::default())
            };
            ctx.host_redirects_https = host;
            let got = step(&request(path), &ctx).is_break();
            assert_eq!(got, want, "{path} route={route} host={host}");
        }
    }
}
