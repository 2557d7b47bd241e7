//! The first pass over an HTTP/1 request, run by the connection guard before `pingora-proxy`
//! sees it: a request the lean loop can carry (`forward`), or one a step answers, is
//! served here whole — the same steps, answers, forwarding, error answers and logging as
//! through `request_filter` — and Pingora's per-request machinery is never built for it (its
//! request future alone is ~14 KiB, copied into a box for every request). Anything else
//! (a body, an upgrade, a backend over TLS or HTTP/2, external authentication, a head Pingora
//! must refuse) is declined before anything is written or read past the head, and the guard
//! hands the same head to Pingora; a head naming a body or an upgrade is declined before it is
//! parsed ([`declines_unparsed`]), the others are parsed again by Pingora.

use std::ops::ControlFlow;

use pingora::prelude::*;
use pingora::server::ShutdownWatch;

use super::{forward, steps, ClassProxy};

/// What the first pass did with a request.
pub enum FirstPass {
    /// Served: answered, and the connection may carry the next request.
    Served,
    /// Ended with an error (answered with one if it could be); the connection closes.
    Failed,
    /// Not for this pass: nothing was written, nothing read but the head.
    Declined,
}

impl ClassProxy {
    /// Serves the request whose head is `session`'s pipelined prefix, or declines it.
    pub async fn first_pass(&self, session: &mut Session, shutdown: &ShutdownWatch) -> FirstPass {
        let Some(lean) = &self.lean else {
            return FirstPass::Declined;
        };
        // A head Pingora would refuse is declined, so that Pingora refuses it as it does.
        if !matches!(session.downstream_session.read_request().await, Ok(true)) {
            return FirstPass::Declined;
        }
        if *shutdown.borrow() {
            // As Pingora's loop: no more requests on this connection while shutting down.
            session.set_keepalive(None);
        }
        // What the lean loop never carries, checked before any step runs (so those requests
        // pay for one parse more, not for the steps twice).
        if session.req_header().method == http::Method::CONNECT || !forward::request_allows(session)
        {
            return FirstPass::Declined;
        }
        let mut ctx = self.new_ctx();
        self.begin(session, &mut ctx);
        let result = match steps::run(self, session.req_header_mut(), &mut ctx) {
            ControlFlow::Break(answer) => self.answer(session, answer, &ctx).await,
            ControlFlow::Continue(()) => {
                let auth = ctx
                    .target
                    .as_ref()
                    .is_some_and(|t| t.policy.forward_auth.is_some());
                if auth || !forward::route_allows(&ctx) {
                    return FirstPass::Declined;
                }
                self.forward_lean(lean, session, &mut ctx).await
            }
        };
        match result {
            Ok(()) => {
                self.finished(session, None, &mut ctx);
                FirstPass::Served
            }
            Err(e) => {
                let status = error_status(&e);
                if status > 0 {
                    if let Err(write) = session.respond_error(status).await {
                        tracing::debug!(class = %self.class, "error answer not written: {write}");
                    }
                }
                tracing::error!(
                    class = %self.class,
                    "Fail to proxy: {e}, status: {status}, retries: {}, {}",
                    ctx.retries,
                    session.as_downstream().request_summary()
                );
                self.finished(session, Some(&e), &mut ctx);
                FirstPass::Failed
            }
        }
    }
}

/// True when the raw head names a header that makes the first pass decline anyway (a body's
/// framing, an upgrade), so the guard can hand it to Pingora without parsing it first. A quick
/// scan of the line starts, not a parse: what it misses is declined after the parse.
pub fn declines_unparsed(head: &[u8]) -> bool {
    head.split(|b| *b == b'\n').skip(1).any(|line| {
        let named = |name: &[u8]| {
            line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name)
                && line[name.len()] == b':'
        };
        if named(b"content-length") {
            let value = &line[b"content-length:".len()..];
            return value.trim_ascii() != b"0";
        }
        named(b"transfer-encoding") || named(b"upgrade") || named(b"expect")
    })
}

/// The status Pingora's `fail_to_proxy` answers an error with (0: none, the client is gone).
fn error_status(e: &Error) -> u16 {
    match e.etype() {
        ErrorType::HTTPStatus(code) => *code,
        _ => match e.esource() {
            ErrorSource::Upstream => 502,
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                _ => 400,
            },
            ErrorSource::Internal | ErrorSource::Unset => 500,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_with_a_body_or_an_upgrade_are_declined_unparsed() {
        let cases: &[(&str, bool)] = &[
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", false),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
                true,
            ),
            (
                "POST / HTTP/1.1\r\nhost: a\r\ncontent-length:12\r\n\r\n",
                true,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                true,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nUPGRADE: websocket\r\n\r\n",
                true,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
                true,
            ),
            // Not a header of that name: left to the parse.
            (
                "GET /content-length: HTTP/1.1\r\nX-Upgrade: 1\r\n\r\n",
                false,
            ),
        ];
        for (head, declined) in cases {
            assert_eq!(declines_unparsed(head.as_bytes()), *declined, "{head:?}");
        }
    }

    #[test]
    fn errors_are_answered_as_pingora_answers_them() {
        let cases = [
            (Error::explain(ErrorType::HTTPStatus(504), "t"), 504),
            (Error::explain(ErrorType::HTTPStatus(503), "t"), 503),
            (
                Error::explain(ErrorType::ConnectRefused, "t").into_up(),
                502,
            ),
            (Error::explain(ErrorType::ReadError, "t").into_down(), 0),
            (Error::explain(ErrorType::WriteError, "t").into_down(), 0),
            (
                Error::explain(ErrorType::InvalidHTTPHeader, "t").into_down(),
                400,
            ),
            (Error::explain(ErrorType::InternalError, "t").into_in(), 500),
        ];
        for (e, want) in cases {
            assert_eq!(error_status(&e), want, "{e}");
        }
    }
}
