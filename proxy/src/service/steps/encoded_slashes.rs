//! Encoded slashes (`%2F`, `%5C`, a raw `\`) stay encoded in the normal form, but many backends
//! decode them into separators and would then serve a path no route matched. They are refused
//! with 400 unless the matched route allows them (`gatehouse.dev/allow-encoded-slashes`, for
//! APIs such as GitLab's that put them in paths).

use std::ops::ControlFlow;

use super::{Answer, Flow};
use crate::service::RequestCtx;

/// Answers 400 when the path held an encoded slash and the route does not allow them.
pub fn step(ctx: &RequestCtx) -> Flow {
    let allowed = ctx
        .target
        .as_ref()
        .is_some_and(|t| t.policy.allow_encoded_slashes);
    if !ctx.encoded_slash || allowed {
        return ControlFlow::Continue(());
    }
    ControlFlow::Break(Answer::Text {
        status: 400,
        body: "400 encoded slash in the request path\n",
    })
}
