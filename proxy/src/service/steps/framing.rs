//! Message framing and the request target, decided once, before anything routes: a request
//! whose body length two parsers could read differently is refused with 400 (and the
//! connection closed, see `respond::send`), so no byte of it can become a smuggled request
//! (RFC 9112 §6, §11.2).
//!
//! Pingora 0.9's HTTP/1 reader already refuses unparseable or conflicting `Content-Length`
//! values, `Transfer-Encoding` on HTTP/1.0, a final coding other than `chunked`, and an
//! absolute-form target whose authority differs from `Host`. This step adds what it lets
//! through, nginx's rules:
//! - `Transfer-Encoding` together with `Content-Length` (Pingora drops the length and reads the
//!   body chunked, which a backend that trusts the length reads differently);
//! - `Transfer-Encoding` other than one field line holding exactly the coding `chunked`
//!   (`gzip, chunked`, `chunked, chunked`, two field lines): codings nobody sends but a
//!   smuggler;
//! - `Content-Length` repeated, as two field lines or a list (`5, 5`), even with equal values;
//!   a single one with leading zeros is forwarded in plain decimal (`005` → `5`).
//!
//! What this step cannot see is left to the connection guard: bytes that never form a
//! request head (bare LF line endings, oversized heads, slow heads).
//!
//! An absolute-form target (`GET http://a.test/x HTTP/1.1`) is turned into origin-form with
//! `Host` set to its authority (RFC 9112 §3.2.2: the target's authority wins; Pingora has
//! already refused a `Host` that differs), so routing and the backend see one host only.

use std::ops::ControlFlow;

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderValue, Version};
use pingora::http::authority::{raw_target_authority, RawTargetAuthority};
use pingora::http::RequestHeader;
use pingora::protocols::http::ServerSession;

use super::{Answer, Flow};

/// True when the head as received carried `Content-Length` beside `Transfer-Encoding`: Pingora
/// removes the length from the parsed header map in that case, so only the raw head shows it.
pub fn content_length_dropped(downstream: &ServerSession) -> bool {
    if !downstream
        .req_header()
        .headers
        .contains_key(TRANSFER_ENCODING)
    {
        return false;
    }
    downstream
        .as_http1()
        .is_some_and(|h1| head_names_content_length(&h1.get_headers_raw_bytes()))
}

/// True when a field line of `head` (request line excluded) is named `Content-Length`.
fn head_names_content_length(head: &[u8]) -> bool {
    head.split(|&b| b == b'\n').skip(1).any(|line| {
        line.iter().position(|&b| b == b':').is_some_and(|colon| {
            line[..colon]
                .trim_ascii()
                .eq_ignore_ascii_case(b"content-length")
        })
    })
}

/// Refuses ambiguous framing, writes `Content-Length` in plain decimal and turns an
/// absolute-form target into origin-form.
/// `content_length_dropped` comes from [`content_length_dropped`].
pub fn step(req: &mut RequestHeader, content_length_dropped: bool) -> Flow {
    transfer_encoding(req, content_length_dropped)?;
    content_length(req)?;
    absolute_form(req)
}

fn transfer_encoding(req: &RequestHeader, content_length_dropped: bool) -> Flow {
    let mut codings = req.headers.get_all(TRANSFER_ENCODING).iter();
    let Some(first) = codings.next() else {
        return ControlFlow::Continue(());
    };
    if content_length_dropped || req.headers.contains_key(CONTENT_LENGTH) {
        return refuse("400 Content-Length and Transfer-Encoding together\n");
    }
    if req.version != Version::HTTP_11 {
        return refuse("400 Transfer-Encoding needs HTTP/1.1\n");
    }
    if codings.next().is_some()
        || !first
            .as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"chunked")
    {
        return refuse("400 Transfer-Encoding other than chunked\n");
    }
    ControlFlow::Continue(())
}

fn content_length(req: &mut RequestHeader) -> Flow {
    let mut lengths = req.headers.get_all(CONTENT_LENGTH).iter();
    let Some(first) = lengths.next() else {
        return ControlFlow::Continue(());
    };
    if lengths.next().is_some() {
        return refuse("400 repeated Content-Length\n");
    }
    let Some(length) = decimal(first.as_bytes().trim_ascii()) else {
        return refuse("400 invalid Content-Length\n");
    };
    // Pingora forwards the value as sent: leading zeros are dropped here, as some backends
    // read `010` as octal.
    let canonical = length.to_string();
    if first.as_bytes() != canonical.as_bytes()
        && req.insert_header(CONTENT_LENGTH, canonical).is_err()
    {
        return refuse("400 invalid Content-Length\n");
    }
    ControlFlow::Continue(())
}

/// A Content-Length value: ASCII digits only (no sign, no list), fitting in a u64.
fn decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn absolute_form(req: &mut RequestHeader) -> Flow {
    // HTTP/2 names the host in `:authority`; only HTTP/1's absolute-form is rewritten.
    if !matches!(req.version, Version::HTTP_10 | Version::HTTP_11) {
        return ControlFlow::Continue(());
    }
    // Pingora keeps an absolute-form target verbatim for the wire and only its path in the
    // URI; its reader has refused an ambiguous authority and a Host that differs from it.
    let authority = match raw_target_authority(req.raw_path()) {
        RawTargetAuthority::Absolute {
            scheme, authority, ..
        } => {
            if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
                return refuse("400 unsupported request target\n");
            }
            HeaderValue::from_bytes(authority).ok()
        }
        RawTargetAuthority::AmbiguousAuthority => return refuse("400 invalid request target\n"),
        RawTargetAuthority::None => return ControlFlow::Continue(()),
    };
    let Some(authority) = authority.filter(|a| !a.is_empty()) else {
        return refuse("400 invalid request target\n");
    };
    // A target that is not UTF-8 is left for path normalisation to refuse (the URI only
    // holds a lossy copy of it).
    if !req.raw_path_is_utf8() {
        return ControlFlow::Continue(());
    }
    if !req.headers.contains_key(HOST) && req.insert_header(HOST, authority).is_err() {
        return refuse("400 invalid request target\n");
    }
    // The URI already holds the target's path and query; setting it drops the verbatim copy,
    // so the backend gets origin-form.
    let uri = req.uri.clone();
    req.set_uri(uri);
    ControlFlow::Continue(())
}

fn refuse(body: &'static str) -> Flow {
    ControlFlow::Break(Answer::Text { status: 400, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request with `headers`, as Pingora would hand it over.
    fn request(version: Version, target: &str, headers: &[(&str, &[u8])]) -> RequestHeader {
        let mut req = RequestHeader::build("POST", target.as_bytes(), None).expect("request");
        req.set_version(version);
        for (name, value) in headers {
            let value = HeaderValue::from_bytes(value).expect("value");
            req.append_header(name.to_string(), value).expect("header");
        }
        req
    }

    fn refused(flow: &Flow) -> bool {
        matches!(flow, ControlFlow::Break(Answer::Text { status: 400, .. }))
    }

    #[test]
    fn framing_table() {
        const V11: Version = Version::HTTP_11;
        // (version, header lines, Content-Length dropped by Pingora, passes)
        let cases: &[(Version, &str, bool, bool)] = &[
            (V11, "", false, true),
            (V11, "content-length: 5", false, true),
            (V11, "content-length: 0", false, true),
            (V11, "content-length: 005", false, true),
            (V11, "transfer-encoding: chunked", false, true),
            (V11, "transfer-encoding: ChUnKeD", false, true),
            (V11, "content-length: 5\ncontent-length: 5", false, false),
            (V11, "content-length: 5\ncontent-length: 6", false, false),
            (V11, "content-length: 5, 5", false, false),
            (V11, "content-length: 5, 6", false, false),
            (V11, "content-length: +5", false, false),
            (V11, "content-length: -1", false, false),
            (V11, "content-length: 0x5", false, false),
            (V11, "content-length: 5 5", false, false),
            (V11, "content-length: ", false, false),
            (V11, "content-length: 99999999999999999999999", false, false),
            // Pingora dropped the Content-Length it saw beside Transfer-Encoding.
            (V11, "transfer-encoding: chunked", true, false),
            (
                V11,
                "transfer-encoding: chunked\ncontent-length: 5",
                false,
                false,
            ),
            (V11, "transfer-encoding: chunked, identity", false, false),
            (V11, "transfer-encoding: gzip, chunked", false, false),
            (V11, "transfer-encoding: chunked, chunked", false, false),
            (V11, "transfer-encoding: xchunked", false, false),
            (V11, "transfer-encoding: identity", false, false),
            (
                V11,
                "transfer-encoding: chunked\ntransfer-encoding: chunked",
                false,
                false,
            ),
            (Version::HTTP_10, "transfer-encoding: chunked", false, false),
        ];
        for (version, lines, dropped, passes) in cases {
            let headers: Vec<(&str, &[u8])> = lines
                .lines()
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name, value.trim().as_bytes()))
                .collect();
            let mut req = request(*version, "/", &headers);
            let flow = step(&mut req, *dropped);
            assert_eq!(!refused(&flow), *passes, "{version:?} {lines:?}: {flow:?}");
        }
    }

    #[test]
    fn content_length_is_forwarded_in_plain_decimal() {
        for (sent, forwarded) in [("5", "5"), ("005", "5"), ("0", "0"), ("000", "0")] {
            let mut req = request(
                Version::HTTP_11,
                "/",
                &[("content-length", sent.as_bytes())],
            );
            assert!(step(&mut req, false).is_continue(), "{sent}");
            let got = req
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok());
            assert_eq!(got, Some(forwarded), "{sent}");
        }
    }

    #[test]
    fn absolute_form_becomes_origin_form() {
        // (target, Host sent, target afterwards, Host afterwards); Pingora has already refused
        // a Host that differs from the authority.
        let cases = [
            ("http://a.test/x?q=1", None, "/x?q=1", "a.test"),
            (
                "http://a.test:8080/x",
                Some("a.test:8080"),
                "/x",
                "a.test:8080",
            ),
            ("HTTPS://a.test", None, "/", "a.test"),
            ("http://a.test?q", None, "/?q", "a.test"),
            ("/x", Some("b.test"), "/x", "b.test"),
        ];
        for (target, host, want_target, want_host) in cases {
            let headers: Vec<(&str, &[u8])> = host.iter().map(|h| ("host", h.as_bytes())).collect();
            let mut req = request(Version::HTTP_11, target, &headers);
            assert_eq!(step(&mut req, false), ControlFlow::Continue(()), "{target}");
            assert_eq!(req.raw_path(), want_target.as_bytes(), "{target}");
            let host = req.headers.get(HOST).and_then(|v| v.to_str().ok());
            assert_eq!(host, Some(want_host), "{target}");
        }
    }

    #[test]
    fn other_schemes_and_empty_authorities_are_refused() {
        for target in ["ftp://a.test/x", "ws://a.test/", "http:///x"] {
            let mut req = request(Version::HTTP_11, target, &[]);
            assert!(refused(&step(&mut req, false)), "{target}");
        }
    }

    #[test]
    fn finds_content_length_in_the_raw_head() {
        let cases: &[(&[u8], bool)] = &[
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true),
            (b"POST / HTTP/1.1\r\nhost: a\r\nCONTENT-LENGTH: 5\r\n\r\n", true),
            (b"POST / HTTP/1.1\nContent-Length:5\n\n", true),
            (b"POST /content-length: HTTP/1.1\r\nX-A: content-length: 1\r\n\r\n", false),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", false),
        ];
        for (head, want) in cases {
            assert_eq!(
                head_names_content_length(head),
                *want,
                "{}",
                head.escape_ascii()
            );
        }
    }
}
