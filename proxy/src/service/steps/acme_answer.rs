//! ACME HTTP-01 answers: gatehouse's own pending challenges are answered before routing and
//! never reach a backend, whatever the routes say.

use std::ops::ControlFlow;

use bytes::Bytes;
use gatehouse_certs::challenge::HTTP01_PREFIX;
use gatehouse_certs::MemoryChallenges;
use pingora::http::RequestHeader;

use super::{Answer, Flow};

/// Answers a request for the HTTP-01 path: the key authorisation if gatehouse holds the
/// token, else 404.
pub fn step(challenges: &MemoryChallenges, req: &RequestHeader) -> Flow {
    let path = req.uri.path();
    if !path.starts_with(HTTP01_PREFIX) {
        return ControlFlow::Continue(());
    }
    ControlFlow::Break(match challenges.answer_for_path(path) {
        Some(answer) => Answer::Body {
            status: 200,
            body: Bytes::copy_from_slice(answer.as_bytes()),
            content_type: "text/plain",
        },
        None => Answer::Text {
            status: 404,
            body: "404 no such ACME challenge\n",
        },
    })
}
