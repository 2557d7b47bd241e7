//! A client cannot strip the body's framing or gatehouse's own headers by naming them in
//! `Connection`: Pingora removes every header the request's `Connection` nominates before the
//! upstream request is built (and answers 400 itself for `Host` and the `X-Forwarded-*` it
//! protects), so naming `Content-Length` used to turn a sized body into a chunked one, which
//! backends that read only Content-Length lose. Such nominations are dropped here, first.

use std::ops::ControlFlow;

use http::header::CONNECTION;
use http::HeaderValue;
use pingora::http::RequestHeader;

use super::{Answer, Flow};

/// Headers a `Connection` header may not nominate (besides those Pingora refuses outright).
const KEPT: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "x-forwarded-port",
    "x-real-ip",
    "x-request-id",
];

/// Removes the nominations of [`KEPT`] headers from the request's `Connection` header.
pub fn step(req: &mut RequestHeader) -> Flow {
    let Some(value) = req.headers.get(CONNECTION) else {
        return ControlFlow::Continue(());
    };
    let Ok(text) = value.to_str() else {
        return ControlFlow::Continue(()); // Pingora refuses malformed nominations itself.
    };
    let kept = |token: &&str| !KEPT.iter().any(|k| token.trim().eq_ignore_ascii_case(k));
    if text.split(',').all(|t| kept(&t)) {
        return ControlFlow::Continue(());
    }
    let rebuilt: Vec<&str> = text.split(',').map(str::trim).filter(kept).collect();
    let Ok(value) = HeaderValue::from_str(&rebuilt.join(", ")) else {
        return ControlFlow::Break(Answer::Text {
            status: 400,
            body: "400 invalid Connection header\n",
        });
    };
    if req.insert_header(CONNECTION, value).is_err() {
        return ControlFlow::Break(Answer::Text {
            status: 400,
            body: "400 invalid Connection header\n",
        });
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_and_own_headers_cannot_be_nominated() {
        // (Connection value, value afterwards)
        let cases = [
            ("keep-alive", "keep-alive"),
            ("keep-alive, Content-Length", "keep-alive"),
            ("close, x-request-id, x-custom", "close, x-custom"),
            ("transfer-encoding", ""),
        ];
        for (value, want) in cases {
            let mut req = RequestHeader::build("POST", b"/", None).expect("request");
            req.insert_header(CONNECTION, value).expect("header");
            assert!(step(&mut req).is_continue(), "{value}");
            let got = req.headers.get(CONNECTION).and_then(|v| v.to_str().ok());
            assert_eq!(got, Some(want), "{value}");
        }
    }
}
