//! A route whose Service has no ready endpoint answers 503 without trying to connect.

use std::ops::ControlFlow;

use super::{Answer, Flow};
use crate::service::RequestCtx;

/// Answers 503 when the matched backend has no ready endpoint.
pub fn step(ctx: &RequestCtx) -> Flow {
    if !ctx
        .target
        .as_ref()
        .is_some_and(|t| t.backend.is_unavailable())
    {
        return ControlFlow::Continue(());
    }
    ControlFlow::Break(Answer::Text {
        status: 503,
        body: "503 no ready endpoint for this service\n",
    })
}
