//! The Host header decides the route, so one that cannot name a host is refused with 400
//! before anything looks at it: non-ASCII bytes (routed as if absent while the backend still
//! saw them), spaces, `/`, `@`, more than one Host header, and an HTTP/1.1 request without
//! one (RFC 9112 §3.2; an absolute-form target has given its authority as Host by now).

use std::ops::ControlFlow;

use http::header::HOST;
use http::Version;
use pingora::http::RequestHeader;

use super::{Answer, Flow};
use crate::service::headers::is_valid_host;

/// Answers 400 for a missing (HTTP/1.1), repeated or malformed Host.
pub fn step(req: &RequestHeader) -> Flow {
    let mut hosts = req.headers.get_all(HOST).iter();
    let valid = match (hosts.next(), hosts.next()) {
        // HTTP/1.0 may omit it; HTTP/2 names the host in its `:authority`.
        (None, _) => req.version != Version::HTTP_11,
        (Some(host), None) => is_valid_host(host.as_bytes()),
        (Some(_), Some(_)) => false,
    };
    if valid {
        return ControlFlow::Continue(());
    }
    ControlFlow::Break(Answer::Text {
        status: 400,
        body: "400 invalid Host header\n",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_hosts(version: Version, hosts: &[&[u8]]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        req.set_version(version);
        for host in hosts {
            let value = http::HeaderValue::from_bytes(host).expect("header value");
            req.append_header(HOST, value).expect("header");
        }
        req
    }

    #[test]
    fn refuses_malformed_and_repeated_hosts() {
        let cases: &[(&[&[u8]], bool)] = &[
            (&[], false),
            (&[b"a.test"], true),
            (&[b"a.test:8080"], true),
            (&[b"caf\xc3\xa9.test"], false),
            (&[b"a b"], false),
            (&[b"evil.test/x"], false),
            (&[b"a.test", b"b.test"], false),
        ];
        for (hosts, passes) in cases {
            let flow = step(&with_hosts(Version::HTTP_11, hosts));
            assert_eq!(flow.is_continue(), *passes, "{hosts:?}");
        }
    }

    #[test]
    fn only_http11_must_send_a_host() {
        assert!(step(&with_hosts(Version::HTTP_10, &[])).is_continue());
        assert!(step(&with_hosts(Version::HTTP_2, &[])).is_continue());
        assert!(step(&with_hosts(Version::HTTP_11, &[])).is_break());
    }
}
