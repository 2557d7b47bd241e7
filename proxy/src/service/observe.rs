//! Turning a finished request into a [`RequestRecord`]: status and byte figures from the
//! session, upstream error kinds from Pingora's error types.

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;

use gatehouse_metrics::UpstreamErrorKind;

/// The bounded metric kind of an upstream failure.
pub fn upstream_error_kind(e: &Error) -> UpstreamErrorKind {
    match e.etype() {
        ErrorType::ConnectRefused => UpstreamErrorKind::ConnectRefused,
        ErrorType::ConnectTimedout => UpstreamErrorKind::ConnectTimeout,
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => UpstreamErrorKind::ReadTimeout,
        ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError => {
            UpstreamErrorKind::Reset
        }
        _ => UpstreamErrorKind::Other,
    }
}

/// The kind of `e` when it is the upstream's fault (not the client's, not ours).
pub fn upstream_failure(e: &Error) -> Option<UpstreamErrorKind> {
    (e.esource() == &ErrorSource::Upstream).then(|| upstream_error_kind(e))
}

/// The status reported for a request: what was written downstream, else what the error means
/// (499 when the client went away before an answer, as nginx logs it).
pub fn status(written: Option<&ResponseHeader>, e: Option<&Error>) -> u16 {
    if let Some(resp) = written {
        return resp.status.as_u16();
    }
    match e.map(|e| (e.esource(), e.etype())) {
        Some((_, ErrorType::HTTPStatus(code))) => *code,
        Some((ErrorSource::Upstream, _)) => 502,
        Some((ErrorSource::Internal, _)) => 500,
        _ => 499,
    }
}

/// HTTP/1.1 wire size of the request head (request line, headers, blank line). HTTP/2 heads
/// are HPACK-compressed; this is the uncompressed figure, as nginx's `request_length` is.
pub fn request_head_bytes(req: &RequestHeader) -> u64 {
    let line = req.method.as_str().len()
        + 1
        + req.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n".len();
    (line + headers_bytes(&req.headers) + 2) as u64
}

/// HTTP/1.1 wire size of the response head (status line, headers, blank line).
pub fn response_head_bytes(resp: &ResponseHeader) -> u64 {
    let line = "HTTP/1.1 200 ".len() + resp.status.canonical_reason().map_or(0, str::len) + 2;
    (line + headers_bytes(&resp.headers) + 2) as u64
}

fn headers_bytes(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_map_to_bounded_kinds() {
        let kind = |t| upstream_error_kind(&Error::new(t));
        assert_eq!(
            kind(ErrorType::ConnectRefused),
            UpstreamErrorKind::ConnectRefused
        );
        assert_eq!(
            kind(ErrorType::ConnectTimedout),
            UpstreamErrorKind::ConnectTimeout
        );
        assert_eq!(
            kind(ErrorType::ReadTimedout),
            UpstreamErrorKind::ReadTimeout
        );
        assert_eq!(kind(ErrorType::ConnectionClosed), UpstreamErrorKind::Reset);
        assert_eq!(kind(ErrorType::H1Error), UpstreamErrorKind::Other);
        let mut e = Error::new(ErrorType::ConnectRefused);
        assert_eq!(
            upstream_failure(&e),
            None,
            "source unset: not the upstream's fault"
        );
        e.esource = ErrorSource::Upstream;
        assert_eq!(
            upstream_failure(&e),
            Some(UpstreamErrorKind::ConnectRefused)
        );
    }

    #[test]
    fn status_prefers_what_was_written() {
        let resp = ResponseHeader::build(204, None).expect("resp");
        assert_eq!(status(Some(&resp), None), 204);
        assert_eq!(
            status(None, Some(&Error::new(ErrorType::HTTPStatus(503)))),
            503
        );
        let mut e = Error::new(ErrorType::ReadError);
        e.esource = ErrorSource::Upstream;
        assert_eq!(status(None, Some(&e)), 502);
        assert_eq!(status(None, None), 499);
    }

    #[test]
    fn head_sizes_match_the_http1_wire_form() {
        let mut req = RequestHeader::build("GET", b"/a?b=1", None).expect("req");
        req.insert_header("host", "x.test").expect("header");
        // "GET /a?b=1 HTTP/1.1\r\n" + "host: x.test\r\n" + "\r\n"
        assert_eq!(request_head_bytes(&req), 21 + 14 + 2);
        let mut resp = ResponseHeader::build(200, None).expect("resp");
        resp.insert_header("content-length", "5").expect("header");
        // "HTTP/1.1 200 OK\r\n" + "content-length: 5\r\n" + "\r\n"
        assert_eq!(response_head_bytes(&resp), 17 + 19 + 2);
    }
}
