//! Routes whose Ingress asks for access control gatehouse cannot give (not implemented, or an
//! invalid value) answer 503 naming the annotations: serving them open is never the fallback.
//! This runs right after the route match, before the HTTPS redirect, so a refused route
//! answers nothing but the refusal and no request of it reaches a backend.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::{Answer, Flow};
use crate::service::RequestCtx;

/// Answers 503 with the policy's reason when the matched route is refused.
pub fn step(ctx: &RequestCtx) -> Flow {
    let Some(reason) = ctx.target.as_ref().and_then(|t| t.policy.refuse.as_deref()) else {
        return ControlFlow::Continue(());
    };
    ControlFlow::Break(refusal(reason))
}

/// The 503 answer for `reason` (built per request: refused routes are rare and cheap to
/// answer, and this keeps the route model free of HTTP types).
fn refusal(reason: &str) -> Answer {
    Answer::Body {
        status: 503,
        body: Bytes::from(format!("503 {reason}\n")),
        content_type: "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::steps::tests::ctx_with;
    use gatehouse_routes::RoutePolicy;

    #[test]
    fn refused_routes_answer_503_with_the_reason() {
        let ctx = ctx_with(RoutePolicy {
            refuse: Some("access control: nginx.ingress.kubernetes.io/auth-url".into()),
            ..RoutePolicy::default()
        });
        let ControlFlow::Break(Answer::Body { status, body, .. }) = step(&ctx) else {
            panic!("a refused route answers");
        };
        assert_eq!(status, 503);
        assert_eq!(
            body,
            Bytes::from_static(b"503 access control: nginx.ingress.kubernetes.io/auth-url\n")
        );
    }

    #[test]
    fn other_routes_and_unmatched_requests_continue() {
        assert_eq!(
            step(&ctx_with(RoutePolicy::default())),
            ControlFlow::Continue(())
        );
        let unmatched = RequestCtx::new(None);
        assert_eq!(step(&unmatched), ControlFlow::Continue(()));
    }
}
