//! The request steps, run in order by `request_filter`: each is a small function in its own
//! module that reads only what it needs (the request, its own policy field) and either lets
//! the request continue or answers it now. Adding a step is one module and one line in
//! [`run`]; no step knows about the others.
//!
//! Order matters and is decided here: ambiguous framing is refused first (nothing else may
//! look at a request whose end two parsers could see differently) and an absolute-form
//! target becomes origin-form with its authority as Host, then the path is normalised
//! (every later step, and the backend, sees the normal form), a Host that cannot name a host
//! is refused, `Connection` loses nominations of the body's framing and gatehouse's own
//! headers, then
//! gatehouse's own ACME answers (only for tokens it holds; other challenge requests route
//! normally, so cert-manager's solver gets them), then the route match, then access control —
//! a route refused for access control gatehouse cannot give (503), the source allow/deny lists
//! (403), basic authentication (401; with `satisfy: any` the lists and the credentials are
//! decided together there) — then the refusal of encoded slashes the route does not allow, then the HTTPS
//! redirect (it applies even where nothing matched, never to the ACME challenge path, so a
//! CA's plain-HTTP validation reaches its solver on a TLS host), then the answers for requests
//! that have nowhere to go, then the body size limit (only a request that would be
//! forwarded is refused for its size, as nginx checks it per location), and last external
//! authentication ([`run_all`]; ingress-nginx's `auth_request` also runs after the redirect
//! and the allow-lists). Access control comes before the redirect so that a refused route
//! or client gets nothing but the refusal: not even a redirect that tells it the route exists
//! with TLS.

mod acme_answer;
mod basic_auth;
mod body_size;
mod connection_header;
mod encoded_slashes;
pub mod forward_auth;
mod framing;
mod https_redirect;
mod no_endpoint;
mod normalize_path;
mod not_found;
mod refuse;
mod route;
mod source_range;
mod valid_host;

use std::ops::ControlFlow;

use bytes::Bytes;
use pingora::http::RequestHeader;

use super::{ClassProxy, RequestCtx};

pub use framing::content_length_dropped;

/// What gatehouse answers itself when a step ends the request.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// A short plain-text response.
    Text {
        /// The status code.
        status: u16,
        /// The body.
        body: &'static str,
    },
    /// A response with a body of its own (an ACME key authorisation).
    Body {
        /// The status code.
        status: u16,
        /// The body.
        body: Bytes,
        /// Its content type.
        content_type: &'static str,
    },
    /// 401 with a `WWW-Authenticate` challenge.
    Unauthorized {
        /// The `WWW-Authenticate` value (`Basic realm="…"`).
        challenge: String,
    },
    /// An answer decided by the auth service (`auth-url`): a 302 to the sign-in URL, a 401 or
    /// a 403, with headers taken from its answer (`Set-Cookie`, `WWW-Authenticate`).
    Auth {
        /// The status code.
        status: u16,
        /// The body (empty for the redirect).
        body: &'static str,
        /// The `Location` value of a redirect.
        location: Option<String>,
        /// Headers from the auth service's answer.
        headers: Vec<(http::HeaderName, http::HeaderValue)>,
    },
    /// A redirect without a body.
    Redirect {
        /// The status code (308 keeps the method and body).
        status: u16,
        /// The `Location` value.
        location: String,
    },
}

/// A step's decision: `Continue(())` or `Break(answer)`.
pub type Flow = ControlFlow<Answer>;

/// Runs the steps in order until one answers; framing, path normalisation and the
/// `Connection` guard are the ones that change the request.
pub fn run(proxy: &ClassProxy, req: &mut RequestHeader, ctx: &mut RequestCtx) -> Flow {
    framing::step(req, ctx.content_length_dropped)?;
    normalize_path::step(req, ctx)?;
    valid_host::step(req)?;
    connection_header::step(req)?;
    acme_answer::step(&proxy.options.challenges, req)?;
    route::step(&proxy.table, req, ctx)?;
    refuse::step(ctx)?;
    source_range::step(ctx)?;
    basic_auth::step(req, ctx)?;
    encoded_slashes::step(ctx)?;
    https_redirect::step(req, ctx)?;
    not_found::step(ctx)?;
    no_endpoint::step(ctx)?;
    body_size::step(req, ctx, proxy.limits.body_max)?;
    ControlFlow::Continue(())
}

/// Runs [`run`]'s steps, then, for a request that would be forwarded, external
/// authentication: the one step that waits on the network, so it comes last (a request
/// answered above never costs an auth subrequest).
pub async fn run_all(proxy: &ClassProxy, req: &mut RequestHeader, ctx: &mut RequestCtx) -> Flow {
    run(proxy, req, ctx)?;
    let auth = ctx
        .target
        .as_ref()
        .is_some_and(|t| t.policy.forward_auth.is_some());
    if !auth {
        return ControlFlow::Continue(());
    }
    // Boxed: the subrequest's future is several KiB, and inline it would be part of every
    // request's `request_filter` future, which Pingora moves into a box on each request.
    Box::pin(forward_auth::step(proxy, req, ctx)).await
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use gatehouse_routes::{Backend, EndpointSet, IngressRef, PathType, RoutePolicy, RouteTarget};

    use crate::service::RequestCtx;

    /// A request context that matched a route with `policy`.
    pub fn ctx_with(policy: RoutePolicy) -> RequestCtx {
        let mut ctx = RequestCtx::new(None);
        ctx.target = Some(Arc::new(RouteTarget {
            ingress: IngressRef::new("ns", "app"),
            rule_host: "app.test".into(),
            rule_path: "/".into(),
            path_type: PathType::Prefix,
            backend: Arc::new(Backend::new("ns", "s", "80", EndpointSet::default(), 0)),
            policy: Arc::new(policy),
            observed: Default::default(),
        }));
        ctx
    }
}
