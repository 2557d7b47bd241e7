//! A check of an HTTP/1 request head as it arrives, before Pingora parses it:
//! nginx's size limits (a request line or header line over the buffer size, a head over all
//! buffers) and the framing RFC 9112 says to refuse (bare CR or LF line ends, obs-fold,
//! control bytes). Checking while reading means an oversized head is refused after at most
//! its limit in bytes, never buffered whole.

/// Why a head is refused; the answer's status and a short reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed framing (400).
    BadRequest(&'static str),
    /// The request line is over the line limit (414).
    UriTooLong,
    /// A header line, or the head as a whole, is over its limit (431).
    HeadersTooLarge,
}

impl Refusal {
    /// The status code answered.
    pub fn status(self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::UriTooLong => 414,
            Refusal::HeadersTooLarge => 431,
        }
    }

    /// The reason, for the answer's body and the log.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::BadRequest(why) => why,
            Refusal::UriTooLong => "request line too long",
            Refusal::HeadersTooLarge => "request header fields too large",
        }
    }

    /// The complete HTTP/1.1 answer, closing the connection.
    pub fn response(self) -> Vec<u8> {
        let (status, phrase) = match self {
            Refusal::BadRequest(_) => (400, "Bad Request"),
            Refusal::UriTooLong => (414, "URI Too Long"),
            Refusal::HeadersTooLarge => (431, "Request Header Fields Too Large"),
        };
        let body = format!("{}\n", self.reason());
        format!(
            "HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// What the bytes fed so far amount to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The head is not complete yet.
    More,
    /// The head ended after this many bytes of the last chunk (the rest is body or the next
    /// request, and is not looked at).
    Complete(usize),
    /// The connection speaks HTTP/2 with prior knowledge (h2c): nothing more to check here.
    Http2,
    /// The head is refused.
    Refuse(Refusal),
}

/// Bytes that end a run of ordinary head bytes: CR, LF and control characters but tab.
fn is_special(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// The HTTP/2 connection preface's first line.
const H2_PREFACE_LINE: &[u8] = b"PRI * HTTP/2.0";

/// The scanner's state for one request head.
#[derive(Clone, Debug)]
pub struct HeadScan {
    line_max: usize,
    total_max: usize,
    line_len: usize,
    total: usize,
    request_line: bool,
    after_cr: bool,
    /// The request line's first bytes, to spot the HTTP/2 preface.
    start: [u8; H2_PREFACE_LINE.len()],
}

impl HeadScan {
    /// A scanner for a new head with these limits.
    pub fn new(line_max: usize, total_max: usize) -> Self {
        Self {
            line_max,
            total_max,
            line_len: 0,
            total: 0,
            request_line: true,
            after_cr: false,
            start: [0; H2_PREFACE_LINE.len()],
        }
    }

    /// Starts over for the next request's head.
    pub fn reset(&mut self) {
        *self = Self::new(self.line_max, self.total_max);
    }

    /// Looks at the next bytes of the head.
    ///
    /// Runs of ordinary bytes (anything but CR, LF and control characters other than tab) are
    /// taken a run at a time: one limit check per run instead of per byte. The verdict is the
    /// byte-at-a-time one (`tests::reference_feed`).
    pub fn feed(&mut self, data: &[u8]) -> Verdict {
        let mut i = 0;
        while let Some(&b) = data.get(i) {
            if self.after_cr {
                if let Some(verdict) = self.count(1) {
                    return verdict;
                }
                self.after_cr = false;
                if b != b'\n' {
                    return Verdict::Refuse(Refusal::BadRequest("bare CR in the request head"));
                }
                if let Some(verdict) = self.end_of_line(i) {
                    return verdict;
                }
                i += 1;
                continue;
            }
            if (b == b' ' || b == b'\t') && self.line_len == 0 && !self.request_line {
                if let Some(verdict) = self.count(1) {
                    return verdict;
                }
                return Verdict::Refuse(Refusal::BadRequest("obsolete line folding in a header"));
            }
            let rest = &data[i..];
            let run = rest
                .iter()
                .position(|&b| is_special(b))
                .unwrap_or(rest.len());
            if run == 0 {
                if let Some(verdict) = self.count(1) {
                    return verdict;
                }
                if b == b'\r' {
                    self.after_cr = true;
                    i += 1;
                    continue;
                }
                return Verdict::Refuse(Refusal::BadRequest(if b == b'\n' {
                    "bare LF line end in the request head"
                } else {
                    "control character in the request head"
                }));
            }
            if let Some(verdict) = self.take_run(&rest[..run]) {
                return verdict;
            }
            i += run;
        }
        Verdict::More
    }

    /// Counts `n` more bytes of the head; the refusal once it is over its limit.
    fn count(&mut self, n: usize) -> Option<Verdict> {
        self.total += n;
        (self.total > self.total_max).then_some(Verdict::Refuse(Refusal::HeadersTooLarge))
    }

    /// Takes a run of ordinary bytes into the current line: the refusal of the first byte
    /// that goes over a limit (the head's before the line's, as byte by byte).
    fn take_run(&mut self, run: &[u8]) -> Option<Verdict> {
        let head_room = self.total_max.saturating_sub(self.total);
        let line_room = self.line_max.saturating_sub(self.line_len);
        if run.len() > head_room.min(line_room) {
            return Some(Verdict::Refuse(if head_room <= line_room {
                Refusal::HeadersTooLarge
            } else if self.request_line {
                Refusal::UriTooLong
            } else {
                Refusal::HeadersTooLarge
            }));
        }
        if self.request_line && self.line_len < self.start.len() {
            let n = (self.start.len() - self.line_len).min(run.len());
            self.start[self.line_len..self.line_len + n].copy_from_slice(&run[..n]);
        }
        self.total += run.len();
        self.line_len += run.len();
        None
    }

    /// A CRLF at index `i` of the current chunk ended a line.
    fn end_of_line(&mut self, i: usize) -> Option<Verdict> {
        let len = std::mem::take(&mut self.line_len);
        if self.request_line {
            // Empty lines before the request line are ignored (RFC 9112 section 2.2).
            if len == 0 {
                return None;
            }
            self.request_line = false;
            if len == H2_PREFACE_LINE.len() && self.start == *H2_PREFACE_LINE {
                return Some(Verdict::Http2);
            }
            return None;
        }
        (len == 0).then_some(Verdict::Complete(i + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte-at-a-time scan `feed` must agree with.
    fn reference_feed(s: &mut HeadScan, data: &[u8]) -> Verdict {
        for (i, &b) in data.iter().enumerate() {
            s.total += 1;
            if s.total > s.total_max {
                return Verdict::Refuse(Refusal::HeadersTooLarge);
            }
            if s.after_cr {
                s.after_cr = false;
                if b != b'\n' {
                    return Verdict::Refuse(Refusal::BadRequest("bare CR in the request head"));
                }
                if let Some(verdict) = s.end_of_line(i) {
                    return verdict;
                }
                continue;
            }
            match b {
                b'\r' => {
                    s.after_cr = true;
                    continue;
                }
                b'\n' => {
                    return Verdict::Refuse(Refusal::BadRequest(
                        "bare LF line end in the request head",
                    ))
                }
                b' ' | b'\t' if s.line_len == 0 && !s.request_line => {
                    return Verdict::Refuse(Refusal::BadRequest(
                        "obsolete line folding in a header",
                    ))
                }
                b'\t' => {}
                0..=0x1f | 0x7f => {
                    return Verdict::Refuse(Refusal::BadRequest(
                        "control character in the request head",
                    ))
                }
                _ => {}
            }
            if s.request_line && s.line_len < s.start.len() {
                s.start[s.line_len] = b;
            }
            s.line_len += 1;
            if s.line_len > s.line_max {
                return Verdict::Refuse(if s.request_line {
                    Refusal::UriTooLong
                } else {
                    Refusal::HeadersTooLarge
                });
            }
        }
        Verdict::More
    }

    /// Heads made mostly of the bytes that matter: line ends, folds, controls, the preface.
    fn head_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"GET / HTTP/1.1".to_vec()),
            Just(b"PRI * HTTP/2.0".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"Host: a".to_vec()),
            Just(b" ".to_vec()),
            Just(b"\t".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(vec![0u8]),
            Just(vec![0x7f]),
            Just(vec![0x80, 0xff]),
            proptest::collection::vec(b'a'..=b'z', 1..20),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn feed_agrees_with_the_byte_at_a_time_scan(
            head in head_bytes(),
            cuts in proptest::collection::vec(0usize..64, 0..6),
            line_max in 1usize..40,
            total_max in 1usize..120,
        ) {
            let mut fast = HeadScan::new(line_max, total_max);
            let mut slow = fast.clone();
            let mut rest: &[u8] = &head;
            let mut chunks = Vec::new();
            for cut in cuts {
                let (chunk, tail) = rest.split_at(cut.min(rest.len()));
                chunks.push(chunk);
                rest = tail;
            }
            chunks.push(rest);
            for chunk in chunks {
                let (a, b) = (fast.feed(chunk), reference_feed(&mut slow, chunk));
                prop_assert_eq!(a, b, "{:?} in {:?}", chunk, head);
                if a != Verdict::More {
                    break;
                }
            }
        }
    }

    fn scan(chunks: &[&[u8]]) -> Verdict {
        let mut s = HeadScan::new(64, 256);
        for chunk in chunks {
            match s.feed(chunk) {
                Verdict::More => {}
                other => return other,
            }
        }
        Verdict::More
    }

    #[test]
    fn verdicts() {
        let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(64));
        let long_header = format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "a".repeat(64));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "x-a: 0123456789\r\n".repeat(20));
        let cases: &[(&[&[u8]], Verdict)] = &[
            (
                &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"],
                Verdict::Complete(27),
            ),
            (
                &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY"],
                Verdict::Complete(27),
            ),
            (
                &[b"GET / HT", b"TP/1.1\r", b"\nHost: a\r\n\r", b"\nX"],
                Verdict::Complete(1),
            ),
            (&[b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"], Verdict::Complete(22)),
            (&[b"GET / HTTP/1.1\r\nHost: a\r\n"], Verdict::More),
            (&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], Verdict::Http2),
            (
                &[b"GET / HTTP/1.1\nHost: a\n\n"],
                Verdict::Refuse(Refusal::BadRequest("bare LF line end in the request head")),
            ),
            (
                &[b"GET / HTTP/1.1\r\nHost: a\rX"],
                Verdict::Refuse(Refusal::BadRequest("bare CR in the request head")),
            ),
            (
                &[b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"],
                Verdict::Refuse(Refusal::BadRequest("obsolete line folding in a header")),
            ),
            (
                &[b"GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n"],
                Verdict::Refuse(Refusal::BadRequest("obsolete line folding in a header")),
            ),
            (
                &[b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n"],
                Verdict::Refuse(Refusal::BadRequest("control character in the request head")),
            ),
            (
                &[b"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n"],
                Verdict::Refuse(Refusal::BadRequest("control character in the request head")),
            ),
            (
                &[b"GET / HTTP/1.1\r\nA: b\tc\r\n\r\n"],
                Verdict::Complete(26),
            ),
            (
                &[long_line.as_bytes()],
                Verdict::Refuse(Refusal::UriTooLong),
            ),
            (
                &[long_header.as_bytes()],
                Verdict::Refuse(Refusal::HeadersTooLarge),
            ),
            (
                &[many.as_bytes()],
                Verdict::Refuse(Refusal::HeadersTooLarge),
            ),
        ];
        for (chunks, want) in cases {
            assert_eq!(scan(chunks), *want, "{chunks:?}");
        }
    }

    #[test]
    fn a_line_exactly_at_the_limit_passes() {
        let line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(64 - 14));
        assert_eq!(line.find('\r'), Some(64));
        assert_eq!(scan(&[line.as_bytes()]), Verdict::Complete(line.len()));
    }

    #[test]
    fn reset_starts_a_new_head() {
        let mut s = HeadScan::new(64, 40);
        assert_eq!(s.feed(b"GET / HTTP/1.1\r\n\r\n"), Verdict::Complete(18));
        s.reset();
        assert_eq!(s.feed(b"GET / HTTP/1.1\r\n\r\n"), Verdict::Complete(18));
        s.reset();
        assert_eq!(
            s.feed(b"GET / HTTP/1.1\r\nx-long: 0123456789012345678\r\n"),
            Verdict::Refuse(Refusal::HeadersTooLarge)
        );
    }
}
