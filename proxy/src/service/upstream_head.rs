//! The headers gatehouse sets on an upstream request, decided once and carried out two ways:
//! inserted into Pingora's `RequestHeader` (Pingora's loop, and the lean loop's fallback), or
//! written with the client's head straight to the wire (the lean loop's common case), which
//! spares copying the client's head into a second pair of header maps and growing them a
//! header at a time (about 12k instructions per request, docs/benchmarks/notes.md).

use bytes::{BufMut, BytesMut};
use http::header::{HeaderName, HeaderValue, CONNECTION, HOST};
use pingora::http::RequestHeader;
use pingora::prelude::*;

/// A header name with the spelling Pingora gives it on the wire when gatehouse inserts it
/// (a `&str` name as written; a standard name titled).
pub struct Name {
    name: HeaderName,
    spelling: &'static str,
}

impl Name {
    /// The name.
    pub fn name(&'static self) -> &'static HeaderName {
        &self.name
    }

    /// A lowercase name, sent as written.
    const fn lower(spelling: &'static str) -> Self {
        Self {
            name: HeaderName::from_static(spelling),
            spelling,
        }
    }
}

/// `Host`, titled as Pingora titles the standard name.
pub static HOST_NAME: Name = Name {
    name: HOST,
    spelling: "Host",
};
/// `X-Forwarded-For`.
pub static X_FORWARDED_FOR: Name = Name::lower("x-forwarded-for");
/// `X-Real-IP`.
pub static X_REAL_IP: Name = Name::lower("x-real-ip");
/// `CF-Connecting-IP`.
pub static CF_CONNECTING_IP: Name = Name::lower("cf-connecting-ip");
/// `X-Forwarded-Proto`.
pub static X_FORWARDED_PROTO: Name = Name::lower("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub static X_FORWARDED_HOST: Name = Name::lower("x-forwarded-host");
/// `X-Forwarded-Port`.
pub static X_FORWARDED_PORT: Name = Name::lower("x-forwarded-port");
/// `X-Request-ID`.
pub static X_REQUEST_ID: Name = Name::lower(super::request_id::HEADER);

/// Headers to set, in the order first set; each replaces every value the client sent under its
/// name (Pingora's `insert_header`).
#[derive(Default)]
pub struct HeaderSets(Vec<(&'static Name, HeaderValue)>);

impl HeaderSets {
    /// Room for the forwarded headers and the request id.
    pub fn new() -> Self {
        Self(Vec::with_capacity(8))
    }

    /// Sets a header; setting it again replaces the value in place. (Names are the statics
    /// above, so they are told apart by address, without comparing bytes.)
    pub fn set(&mut self, name: &'static Name, value: HeaderValue) {
        match self.0.iter_mut().find(|(n, _)| std::ptr::eq(*n, name)) {
            Some(entry) => entry.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// True when the header is set.
    pub fn sets(&self, name: &'static Name) -> bool {
        self.0.iter().any(|(n, _)| std::ptr::eq(*n, name))
    }

    /// Inserts the headers into a request head, in order.
    pub fn apply(self, req: &mut RequestHeader) -> Result<()> {
        for (name, value) in self.0 {
            req.insert_header(name.spelling, value)?;
        }
        Ok(())
    }

    /// The upstream request head as HTTP/1.1 bytes: the client's request line and headers,
    /// without `Connection`, with these headers set. Byte for byte what [`Self::apply`] on a
    /// copy of `req` (as HTTP/1.1, `Connection` removed) would put on the wire: headers in the
    /// map's order and the client's spelling, a set header in place of the first value of its
    /// name, the others after the client's. `None` when the head keeps no spelling (only
    /// HTTP/1 heads do) or its target holds a byte a request line cannot carry (Pingora's
    /// parser lets none through; checked again, as Pingora's writer does).
    pub fn h1_wire(&self, req: &RequestHeader) -> Option<BytesMut> {
        const CRLF: &[u8] = b"\r\n";
        // A bit per set header says it was written in place (gatehouse sets at most eight).
        if !req.has_case() || self.0.len() > 32 {
            return None;
        }
        let path = req.raw_path();
        if path
            .iter()
            .any(|b| matches!(b, 0x00 | b'\n' | b'\r' | b' '))
        {
            return None;
        }
        let mut buf = BytesMut::with_capacity(512);
        buf.put_slice(req.method.as_str().as_bytes());
        buf.put_u8(b' ');
        buf.put_slice(path);
        buf.put_slice(b" HTTP/1.1\r\n");
        let mut put = |name: &[u8], value: &HeaderValue| {
            buf.put_slice(name);
            buf.put_slice(b": ");
            buf.put_slice(value.as_bytes());
            buf.put_slice(CRLF);
        };
        let mut written = 0u32;
        for ((name, value), (spelling, _)) in req.headers.iter().zip(req.case_header_iter()) {
            if name == CONNECTION {
                continue;
            }
            match self.0.iter().position(|(n, _)| n.name == name) {
                None => put(spelling.as_slice(), value),
                Some(i) if written & (1 << i) == 0 => {
                    written |= 1 << i;
                    let (set, value) = &self.0[i];
                    put(set.spelling.as_bytes(), value);
                }
                Some(_) => {}
            }
        }
        for (i, (name, value)) in self.0.iter().enumerate() {
            if written & (1 << i) == 0 {
                put(name.spelling.as_bytes(), value);
            }
        }
        buf.put_slice(CRLF);
        Some(buf)
    }
}

/// The HTTP/1.1 head Pingora writes for a request.
#[cfg(test)]
fn pingora_wire(req: &RequestHeader) -> Vec<u8> {
    use pingora::protocols::http::v1::client::http_req_header_to_wire;
    http_req_header_to_wire(req).expect("wire").to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Version;

    /// A head as Pingora's HTTP/1 server builds it from the wire: the names keep their spelling.
    fn parsed(head: &str) -> RequestHeader {
        let mut lines = head.split("\r\n");
        let start = lines.next().expect("request line");
        let mut parts = start.split(' ');
        let (method, path, version) = (
            parts.next().expect("method"),
            parts.next().expect("path"),
            parts.next().expect("version"),
        );
        let mut req = RequestHeader::build(method, path.as_bytes(), Some(4)).expect("request");
        req.set_version(match version {
            "HTTP/1.0" => Version::HTTP_10,
            _ => Version::HTTP_11,
        });
        for line in lines.take_while(|l| !l.is_empty()) {
            let (name, value) = line.split_once(": ").expect("header line");
            req.append_header(name.to_string(), value).expect("header");
        }
        req
    }

    fn value(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    #[test]
    fn the_wire_head_is_what_pingora_writes_for_the_edited_copy() {
        // (client head, headers set in order)
        let cases: &[(&str, &[(&Name, &str)])] = &[
            ("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", &[]),
            (
                "GET /a?b=c HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n",
                &[(&X_FORWARDED_FOR, "192.0.2.1"), (&X_FORWARDED_PROTO, "http")],
            ),
            (
                // Spoofed headers are replaced in place; repeated ones go with their first.
                "GET / HTTP/1.0\r\nX-Forwarded-For: 1.2.3.4\r\nhost: a.test\r\nX-Forwarded-For: 5.6.7.8\r\nx-request-id: abc\r\n\r\n",
                &[
                    (&X_FORWARDED_FOR, "192.0.2.1"),
                    (&X_REAL_IP, "192.0.2.1"),
                    (&X_FORWARDED_PORT, "80"),
                    (&X_REQUEST_ID, "abc"),
                ],
            ),
            (
                // Repeated names keep their values together, in the map's order.
                "DELETE /x HTTP/1.1\r\nA: 1\r\nB: 2\r\na: 3\r\nHOST: a.test\r\n\r\n",
                &[(&X_FORWARDED_HOST, "a.test"), (&HOST_NAME, "b.test")],
            ),
        ];
        for (head, sets) in cases {
            let req = parsed(head);
            let mut ours = HeaderSets::new();
            let mut theirs = HeaderSets::new();
            for (name, v) in sets.iter() {
                ours.set(name, value(v));
                theirs.set(name, value(v));
            }
            let wire = ours.h1_wire(&req).expect("HTTP/1 head");
            let mut copy = req.clone();
            copy.set_version(Version::HTTP_11);
            copy.remove_header(&CONNECTION);
            theirs.apply(&mut copy).expect("apply");
            assert_eq!(
                String::from_utf8_lossy(&wire),
                String::from_utf8_lossy(&pingora_wire(&copy)),
                "{head:?}"
            );
        }
    }

    #[test]
    fn setting_twice_keeps_the_first_place_and_the_last_value() {
        let mut sets = HeaderSets::new();
        sets.set(&X_FORWARDED_FOR, value("a"));
        sets.set(&X_REAL_IP, value("b"));
        sets.set(&X_FORWARDED_FOR, value("c"));
        assert!(sets.sets(&X_FORWARDED_FOR) && !sets.sets(&HOST_NAME));
        let wire = sets
            .h1_wire(&parsed("GET / HTTP/1.1\r\n\r\n"))
            .expect("wire");
        assert_eq!(
            &wire[..],
            b"GET / HTTP/1.1\r\nx-forwarded-for: c\r\nx-real-ip: b\r\n\r\n"
        );
    }

    #[test]
    fn heads_without_spelling_are_left_to_pingora() {
        let h2 = RequestHeader::build_no_case("GET", b"/", None).expect("request");
        assert!(HeaderSets::new().h1_wire(&h2).is_none());
    }
}
