//! A request that matched no rule and has no default backend gets gatehouse's own 404.

use std::ops::ControlFlow;

use super::{Answer, Flow};
use crate::service::RequestCtx;

/// Answers 404 when no route matched.
pub fn step(ctx: &RequestCtx) -> Flow {
    if ctx.target.is_some() {
        return ControlFlow::Continue(());
    }
    ControlFlow::Break(Answer::Text {
        status: 404,
        body: "404 no route for this host and path\n",
    })
}
