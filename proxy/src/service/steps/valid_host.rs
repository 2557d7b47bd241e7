//! The Host header decides the route, so one that cannot name a host is refused with 400
//! before anything looks at it: non-ASCII bytes (routed as if absent while the backend still
//! saw them), spaces, `/`, `@`, and more than one Host header (RFC 9112 §3.2).

use std::ops::ControlFlow;

use http::header::HOST;
use pingora::http::RequestHeader;

use super::{Answer, Flow};
use crate::service::headers::is_valid_host;

/// Answers 400 for a missing-in-effect, repeated or malformed Host.
pub fn step(req: &RequestHeader) -> Flow {
    let mut hosts = req.headers.get_all(HOST).iter();
    let valid = match (hosts.next(), hosts.next()) {
        (None, _) => true,
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

    fn with_hosts(hosts: &[&[u8]]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        for host in hosts {
            let value = http::HeaderValue::from_bytes(host).expect("header value");
            req.append_header(HOST, value).expect("header");
        }
        req
    }

    #[test]
    fn refuses_malformed_and_repeated_hosts() {
        let cases: &[(&[&[u8]], bool)] = &[
            (&[], true),
            (&[b"a.test"], true),
            (&[b"a.test:8080"], true),
            (&[b"caf\xc3\xa9.test"], false),
            (&[b"a b"], false),
            (&[b"evil.test/x"], false),
            (&[b"a.test", b"b.test"], false),
        ];
        for (hosts, passes) in cases {
            let flow = step(&with_hosts(hosts));
            assert_eq!(flow.is_continue(), *passes, "{hosts:?}");
        }
    }
}
