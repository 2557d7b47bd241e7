//! Request smuggling and header abuse (RFC 9112 §6 and §11): requests are written byte for
//! byte on raw loopback connections to the real binary, and every case asserts both what the
//! client got and how many requests the backend saw. The backend is a `RecordingBackend`,
//! which splits what reaches it with a lenient reader of its own, so a request smuggled
//! inside another one's body would show up as an extra request.
//!
//! Each case has one of two required outcomes:
//! - **refused**: a 4xx from gatehouse itself, the connection closed after it (so no byte the
//!   client sent after the head is ever read as a request), and no request at the backend;
//! - **forwarded normalised**: exactly one request at the backend, in one unambiguous form.
//!
//! Decisions documented here (and in docs/hostile-input.md):
//! - `Content-Length` repeated with equal values (two field lines, or `5, 5`) is refused, as
//!   nginx does, rather than collapsed (RFC 9110 §8.6 allows either).
//! - `Transfer-Encoding` is accepted only as one field line holding exactly `chunked` (any
//!   case, OWS around it, so `Transfer-Encoding:\tchunked` is fine); a final coding other
//!   than chunked is refused as RFC 9112 §6.1 requires, and so are codings before it
//!   (`gzip, chunked`) and a second TE field line, which nginx answers with 501.
//! - An absolute-form target is routed by its authority, and the backend gets origin-form
//!   with `Host` set to that authority (RFC 9112 §3.2.2). A `Host` that differs from the
//!   authority (even only in case or port) is refused with 400 (Pingora's reader does that),
//!   so no request ever has two hosts. An HTTP/1.1 request with neither is refused (§3.2).
//! - Every 400 gatehouse answers itself closes the connection, as nginx does.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use gatehouse_testkit::raw_http::{self, exchange_raw, Exchange};
use gatehouse_testkit::recording::RecordingBackend;
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{free_addr, recording_service, Fixture, InstanceSpec};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const NS: &str = "default";
const CLASS: &str = "web";
const APP: &str = "app.test";
const A: &str = "a.test";
const B: &str = "b.test";
/// How long a case waits for gatehouse to close the connection.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// gatehouse with one class routing `app.test`, `a.test` and `b.test` to one recording backend
/// each (on their own loopback address, `last` picks it so tests run side by side).
struct Setup {
    fixture: Fixture,
    app: RecordingBackend,
    a: RecordingBackend,
    b: RecordingBackend,
}

impl Setup {
    async fn start(last: u8, extra_args: &[String]) -> anyhow::Result<Setup> {
        let ip = format!("127.0.9.{last}");
        let (app, app_svc) = recording_service(NS, "app", &ip).await?;
        let (a, a_svc) = recording_service(NS, "a", &ip).await?;
        let (b, b_svc) = recording_service(NS, "b", &ip).await?;
        let ingress = Ingress::new(NS, "sites")
            .class(CLASS)
            .path(APP, "/", PathType::Prefix, "app", "http")
            .path(A, "/", PathType::Prefix, "a", "http")
            .path(B, "/", PathType::Prefix, "b", "http")
            .yaml();
        let fixture = Fixture::start_with_args(
            bin(),
            vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
            &[
                ("app.yaml", app_svc),
                ("a.yaml", a_svc),
                ("b.yaml", b_svc),
                ("sites.yaml", ingress),
            ],
            extra_args,
        )
        .await?;
        Ok(Setup { fixture, app, a, b })
    }

    fn listener(&self) -> SocketAddr {
        self.fixture.http(CLASS)
    }

    /// Requests seen by all backends together.
    fn seen(&self) -> usize {
        self.app.count() + self.a.count() + self.b.count()
    }

    /// Waits until no backend holds part of a request, so what a case sent is counted for it.
    async fn settle(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + CLOSE_WAIT;
        while self.app.pending() + self.a.pending() + self.b.pending() > 0 {
            if Instant::now() > deadline {
                anyhow::bail!("a backend still holds part of a request after {CLOSE_WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Runs the cases and fails with every case that did not get its outcome.
    async fn expect(&self, cases: &[Case]) -> anyhow::Result<()> {
        let failures = self.check(cases).await?;
        anyhow::ensure!(failures.is_empty(), "{}", failures.join("\n"));
        Ok(())
    }

    /// Sends each case on its own connection and returns one line per failure.
    async fn check(&self, cases: &[Case]) -> anyhow::Result<Vec<String>> {
        let mut failures = Vec::new();
        for case in cases {
            let before = self.seen();
            let exchange = exchange_raw(self.listener(), &case.request, CLOSE_WAIT).await?;
            self.settle().await?;
            let reached = self.seen() - before;
            println!("| {} | {} | {} |", case.name, outcome(&exchange), reached);
            if let Err(why) = case.want.judge(&exchange, reached) {
                failures.push(format!("{}: {why} ({})", case.name, exchange.summary()));
            }
        }
        Ok(failures)
    }
}

/// "status, closed/open" for the outcome table.
fn outcome(exchange: &Exchange) -> String {
    let statuses: Vec<String> = exchange
        .replies()
        .iter()
        .map(|r| r.status.to_string())
        .collect();
    let statuses = if statuses.is_empty() {
        "no answer".to_string()
    } else {
        statuses.join("+")
    };
    let closed = if exchange.closed { "closed" } else { "open" };
    format!("{statuses}, {closed}")
}

/// One request as written and what it must get.
struct Case {
    name: &'static str,
    request: Vec<u8>,
    want: Want,
}

/// A required outcome.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// One answer with one of these statuses, the connection closed, no request forwarded.
    Refused(&'static [u16]),
    /// Closed, with at most one answer (one of these statuses) and at most one request at the
    /// backend (a body error found while streaming it).
    ClosedAtMostOne(&'static [u16]),
    /// One 200 from the backend, exactly one request there.
    Forwarded,
}

impl Want {
    fn judge(self, exchange: &Exchange, reached: usize) -> Result<(), String> {
        let replies = exchange.replies();
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        match self {
            Want::Refused(allowed) => {
                if statuses.len() != 1 || !allowed.contains(&statuses[0]) {
                    return Err(format!("want one answer in {allowed:?}, got {statuses:?}"));
                }
                if replies[0].backend().is_some() {
                    return Err("the answer came from a backend".into());
                }
                if !exchange.closed {
                    return Err("connection left open".into());
                }
                if reached != 0 {
                    return Err(format!("{reached} request(s) reached the backend"));
                }
            }
            Want::ClosedAtMostOne(allowed) => {
                if statuses.len() > 1 || statuses.iter().any(|s| !allowed.contains(s)) {
                    return Err(format!("want at most one answer in {allowed:?}"));
                }
                if !exchange.closed {
                    return Err("connection left open".into());
                }
                if reached > 1 {
                    return Err(format!("{reached} requests reached the backend"));
                }
            }
            Want::Forwarded => {
                if statuses != [200] || replies[0].backend().is_none() {
                    return Err(format!("want one 200 from a backend, got {statuses:?}"));
                }
                if reached != 1 {
                    return Err(format!("{reached} request(s) reached the backend, want 1"));
                }
            }
        }
        Ok(())
    }
}

/// A request: the head lines (CRLF added), then `body` as given.
fn request(lines: &[&str], body: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in lines {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

/// `POST / HTTP/1.1` to app.test with `framing` header lines and `body`.
fn post(framing: &[&str], body: &str) -> Vec<u8> {
    let mut lines = vec!["POST / HTTP/1.1", "Host: app.test"];
    lines.extend_from_slice(framing);
    request(&lines, body)
}

const CHUNKED_HELLO: &str = "5\r\nhello\r\n0\r\n\r\n";
/// A chunked body that ends early and carries a second request, which a reader framing the
/// message by Content-Length (or by TE) would see.
const SMUGGLING_BODY: &str = "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n";

/// Framing the proxy decides at request level (the `framing` step plus Pingora's reader):
/// Content-Length and Transfer-Encoding together or malformed, TE on HTTP/1.0, a chunk size
/// that overflows, absolute-form targets against Host.
#[tokio::test]
async fn ambiguous_framing_is_refused_and_the_connection_closed() -> anyhow::Result<()> {
    let setup = Setup::start(1, &[]).await?;
    use Want::{ClosedAtMostOne, Refused};
    const BAD: &[u16] = &[400];
    let case = |name, request, want| Case {
        name,
        request,
        want,
    };
    let cases = vec![
        // CL.TE and TE.CL: both framings present, in either order.
        case(
            "CL.TE",
            post(
                &["Content-Length: 6", "Transfer-Encoding: chunked"],
                SMUGGLING_BODY,
            ),
            Refused(BAD),
        ),
        case(
            "TE.CL",
            post(
                &["Transfer-Encoding: chunked", "Content-Length: 3"],
                SMUGGLING_BODY,
            ),
            Refused(BAD),
        ),
        case(
            "CL.TE, CL 0",
            post(
                &["Content-Length: 0", "Transfer-Encoding: chunked"],
                SMUGGLING_BODY,
            ),
            Refused(BAD),
        ),
        // Content-Length values two readers could disagree on.
        case(
            "CL twice, different",
            post(&["Content-Length: 5", "Content-Length: 6"], "hello!"),
            Refused(BAD),
        ),
        case(
            "CL list `5, 6`",
            post(&["Content-Length: 5, 6"], "hello!"),
            Refused(BAD),
        ),
        case(
            "CL twice, equal",
            post(&["Content-Length: 5", "Content-Length: 5"], "hello"),
            Refused(BAD),
        ),
        case(
            "CL list `5, 5`",
            post(&["Content-Length: 5, 5"], "hello"),
            Refused(BAD),
        ),
        case(
            "CL `+5`",
            post(&["Content-Length: +5"], "hello"),
            Refused(BAD),
        ),
        case(
            "CL `-1`",
            post(&["Content-Length: -1"], "hello"),
            Refused(BAD),
        ),
        case(
            "CL `0x5`",
            post(&["Content-Length: 0x5"], "hello"),
            Refused(BAD),
        ),
        case(
            "CL `5 5`",
            post(&["Content-Length: 5 5"], "hello"),
            Refused(BAD),
        ),
        case(
            "CL `5;`",
            post(&["Content-Length: 5;"], "hello"),
            Refused(BAD),
        ),
        case(
            "CL empty",
            post(&["Content-Length: "], "hello"),
            Refused(BAD),
        ),
        case(
            "CL over u64",
            post(&["Content-Length: 18446744073709551621"], "hello"),
            Refused(BAD),
        ),
        case(
            "CL huge",
            post(&["Content-Length: 99999999999999999999999999999"], "hello"),
            Refused(BAD),
        ),
        case(
            "CL, space before colon",
            post(&["Content-Length : 5"], "hello"),
            Refused(BAD),
        ),
        // TE.TE: obfuscated Transfer-Encoding that one reader takes as chunked and another not.
        case(
            "TE `chunked, identity`",
            post(&["Transfer-Encoding: chunked, identity"], CHUNKED_HELLO),
            Refused(BAD),
        ),
        case(
            "TE `identity`",
            post(&["Transfer-Encoding: identity"], "hello"),
            Refused(BAD),
        ),
        case(
            "TE `xchunked`",
            post(&["Transfer-Encoding: xchunked"], CHUNKED_HELLO),
            Refused(BAD),
        ),
        case(
            "TE `gzip, chunked`",
            post(&["Transfer-Encoding: gzip, chunked"], CHUNKED_HELLO),
            Refused(BAD),
        ),
        case(
            "TE `chunked, chunked`",
            post(&["Transfer-Encoding: chunked, chunked"], CHUNKED_HELLO),
            Refused(BAD),
        ),
        case(
            "TE, space before colon",
            post(&["Transfer-Encoding : chunked"], CHUNKED_HELLO),
            Refused(BAD),
        ),
        case(
            "TE twice, chunked last",
            post(
                &["Transfer-Encoding: identity", "Transfer-Encoding: chunked"],
                CHUNKED_HELLO,
            ),
            Refused(BAD),
        ),
        case(
            "TE twice, chunked first",
            post(
                &["Transfer-Encoding: chunked", "Transfer-Encoding: identity"],
                CHUNKED_HELLO,
            ),
            Refused(BAD),
        ),
        case(
            "TE on HTTP/1.0",
            request(
                &[
                    "POST / HTTP/1.0",
                    "Host: app.test",
                    "Transfer-Encoding: chunked",
                ],
                CHUNKED_HELLO,
            ),
            Refused(BAD),
        ),
        // Absolute-form target against Host.
        case(
            "absolute-form, Host differs",
            request(&["GET http://a.test/ HTTP/1.1", "Host: b.test"], ""),
            Refused(BAD),
        ),
        case(
            "absolute-form, Host differs in case",
            request(&["GET http://A.test/ HTTP/1.1", "Host: a.test"], ""),
            Refused(BAD),
        ),
        case(
            "absolute-form, other scheme",
            request(&["GET ftp://a.test/ HTTP/1.1", "Host: a.test"], ""),
            Refused(BAD),
        ),
        // (Longer than the 24-byte HTTP/2 preface: see `a_request_shorter_than_the_h2c_preface_is_answered`.)
        case(
            "HTTP/1.1 without Host",
            request(&["GET /no-host HTTP/1.1"], ""),
            Refused(BAD),
        ),
        // A chunk size no integer holds: refused or cut off, never read as something else.
        // Last: its head may reach the backend after the client already has its answer, and
        // a later case must not count it.
        case(
            "chunk size overflow",
            post(
                &["Transfer-Encoding: chunked"],
                "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
            ),
            ClosedAtMostOne(&[400, 502]),
        ),
    ];
    setup.expect(&cases).await?;
    Ok(())
}

/// Unusual but unambiguous framing is forwarded, in one plain form.
#[tokio::test]
async fn unambiguous_framing_is_forwarded_normalised() -> anyhow::Result<()> {
    let setup = Setup::start(2, &[]).await?;
    // (name, request, backend, what the backend must have seen: request line, Host, TE, CL, body)
    type Seen = (
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );
    let close = "Connection: close";
    let cases: Vec<(&str, Vec<u8>, &RecordingBackend, Seen)> = vec![
        (
            "TE `\\tchunked`",
            post(&["Transfer-Encoding:\tchunked", close], CHUNKED_HELLO),
            &setup.app,
            ("POST / HTTP/1.1", APP, Some("chunked"), None, "hello"),
        ),
        (
            "TE `ChUnKeD`",
            post(&["Transfer-Encoding: ChUnKeD", close], CHUNKED_HELLO),
            &setup.app,
            ("POST / HTTP/1.1", APP, Some("chunked"), None, "hello"),
        ),
        (
            "CL `005`",
            post(&["Content-Length: 005", close], "hello"),
            &setup.app,
            ("POST / HTTP/1.1", APP, None, Some("5"), "hello"),
        ),
        (
            "CL with OWS ` 5 `",
            post(&["Content-Length:  5 ", close], "hello"),
            &setup.app,
            ("POST / HTTP/1.1", APP, None, Some("5"), "hello"),
        ),
        (
            "absolute-form, same Host",
            request(
                &["GET http://a.test/x?q=1 HTTP/1.1", "Host: a.test", close],
                "",
            ),
            &setup.a,
            ("GET /x?q=1 HTTP/1.1", A, None, None, ""),
        ),
        (
            "absolute-form, no Host",
            request(&["GET http://b.test/y HTTP/1.1", close], ""),
            &setup.b,
            ("GET /y HTTP/1.1", B, None, None, ""),
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes, backend, (line, host, te, cl, body)) in cases {
        let before = (setup.seen(), backend.count());
        let exchange = exchange_raw(setup.listener(), &bytes, CLOSE_WAIT).await?;
        setup.settle().await?;
        let reached = setup.seen() - before.0;
        println!("| {name} | {} | {reached} |", outcome(&exchange));
        if let Err(why) = Want::Forwarded.judge(&exchange, reached) {
            failures.push(format!("{name}: {why} ({})", exchange.summary()));
            continue;
        }
        let Some(seen) = backend.requests().get(before.1).cloned() else {
            failures.push(format!("{name}: reached another backend"));
            continue;
        };
        let got = (
            seen.line.as_str(),
            seen.header("host"),
            seen.header("transfer-encoding"),
            seen.header("content-length"),
            String::from_utf8_lossy(&seen.body).into_owned(),
        );
        let want = (
            line,
            Some(host.to_string()),
            te.map(str::to_string),
            cl.map(str::to_string),
            body.to_string(),
        );
        if got != want {
            failures.push(format!("{name}: backend saw {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// A refused request followed by a good one in the same write: only the refusal comes back,
/// the connection closes, and the good request is never processed (nothing at the backend).
#[tokio::test]
async fn nothing_after_a_refused_request_is_processed() -> anyhow::Result<()> {
    let setup = Setup::start(3, &[]).await?;
    let good = "GET /next HTTP/1.1\r\nHost: app.test\r\n\r\n";
    let bad_heads: &[(&str, &str)] = &[
        (
            "CL.TE",
            "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "CL twice",
            "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
        ),
        (
            "TE xchunked",
            "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: xchunked\r\n\r\n",
        ),
        ("bad path", "GET /../x HTTP/1.1\r\nHost: app.test\r\n\r\n"),
        ("bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        ("no Host", "GET /no-host HTTP/1.1\r\n\r\n"),
        (
            "absolute-form, Host differs",
            "GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n",
        ),
        ("garbage", "GET / HTTP/1.1\r\nHost: app.test\r\nno colon here\r\n\r\n"),
    ];
    let cases: Vec<Case> = bad_heads
        .iter()
        .map(|(name, bad)| Case {
            name,
            request: format!("{bad}{good}").into_bytes(),
            want: Want::Refused(&[400]),
        })
        .collect();
    setup.expect(&cases).await?;
    Ok(())
}

/// Bytes no field may hold and line endings that parsers split differently: NUL and other
/// control bytes in names and values, a bare CR inside a value.
#[tokio::test]
async fn control_bytes_in_fields_are_refused() -> anyhow::Result<()> {
    let setup = Setup::start(4, &[]).await?;
    let with = |name: &'static str, field: &[u8]| {
        let mut bytes = b"GET / HTTP/1.1\r\nHost: app.test\r\n".to_vec();
        bytes.extend_from_slice(field);
        bytes.extend_from_slice(b"\r\n\r\n");
        Case {
            name,
            request: bytes,
            want: Want::Refused(&[400]),
        }
    };
    let cases = vec![
        with("NUL in a value", b"X-A: a\x00b"),
        with("NUL in a name", b"X-\x00A: a"),
        with("\\x01 in a value", b"X-A: a\x01b"),
        with("\\x1b in a value", b"X-A: a\x1bb"),
        with("DEL in a value", b"X-A: a\x7fb"),
        with("bare CR in a value", b"X-A: a\rb"),
        with("\\x01 in a name", b"X\x01A: a"),
        with("space in a name", b"X A: a"),
    ];
    setup.expect(&cases).await?;
    Ok(())
}

/// Bare LF line endings: httparse accepts them, nginx refuses them in the head.
#[tokio::test]
async fn bare_lf_line_endings_are_refused() -> anyhow::Result<()> {
    let setup = Setup::start(5, &[]).await?;
    let refuse = |name, request: &[u8]| Case {
        name,
        request: request.to_vec(),
        want: Want::Refused(&[400]),
    };
    let cases = vec![
        refuse("bare LF everywhere", b"GET / HTTP/1.1\nHost: app.test\n\n"),
        refuse(
            "bare LF after one field",
            b"GET / HTTP/1.1\r\nHost: app.test\nX-A: 1\r\n\r\n",
        ),
        refuse(
            "bare LF ending the head",
            b"GET / HTTP/1.1\r\nHost: app.test\r\n\n",
        ),
    ];
    setup.expect(&cases).await?;
    Ok(())
}

/// obs-fold (a field line starting with space or tab continues the previous one in old
/// parsers, and starts a new field in others): refused (RFC 9112 §5.2 allows 400).
#[tokio::test]
async fn obs_fold_is_refused() -> anyhow::Result<()> {
    let setup = Setup::start(6, &[]).await?;
    let refuse = |name, request: &[u8]| Case {
        name,
        request: request.to_vec(),
        want: Want::Refused(&[400]),
    };
    let cases = vec![
        refuse(
            "obs-fold with space",
            b"GET / HTTP/1.1\r\nHost: app.test\r\nX-A: 1\r\n 2\r\n\r\n",
        ),
        refuse(
            "obs-fold with tab",
            b"GET / HTTP/1.1\r\nHost: app.test\r\nX-A: 1\r\n\t2\r\n\r\n",
        ),
        refuse(
            "obs-fold hiding Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\nhello",
        ),
        refuse(
            "space before the first field",
            b"GET / HTTP/1.1\r\n Host: app.test\r\n\r\n",
        ),
    ];
    setup.expect(&cases).await?;
    Ok(())
}

/// `--large-client-header-buffers "4 8k"` (the default): a request line over 8 KiB → 414.
#[tokio::test]
async fn an_oversized_request_line_gets_414() -> anyhow::Result<()> {
    let setup = Setup::start(7, &[]).await?;
    let target = format!("/{}", "a".repeat(9 * 1024));
    let cases = vec![Case {
        name: "request line > 8 KiB",
        request: request(&[&format!("GET {target} HTTP/1.1"), "Host: app.test"], ""),
        want: Want::Refused(&[414]),
    }];
    setup.expect(&cases).await?;
    Ok(())
}

/// One field line over 8 KiB, or a head over 32 KiB of fields each under 8 KiB → 431.
#[tokio::test]
async fn oversized_fields_get_431() -> anyhow::Result<()> {
    let setup = Setup::start(8, &[]).await?;
    let big = format!("X-Big: {}", "a".repeat(9 * 1024));
    let kib = "b".repeat(1024);
    let many: Vec<String> = (0..40).map(|i| format!("X-F{i}: {kib}")).collect();
    let mut many_lines = vec!["GET / HTTP/1.1", "Host: app.test"];
    many_lines.extend(many.iter().map(String::as_str));
    let cases = vec![
        Case {
            name: "one field line > 8 KiB",
            request: request(&["GET / HTTP/1.1", "Host: app.test", &big], ""),
            want: Want::Refused(&[431]),
        },
        Case {
            name: "head > 32 KiB (40 × 1 KiB)",
            request: request(&many_lines, ""),
            want: Want::Refused(&[431]),
        },
    ];
    setup.expect(&cases).await?;
    Ok(())
}

/// Too many fields (300 small ones): refused (Pingora's reader holds at most 256).
#[tokio::test]
async fn too_many_fields_are_refused() -> anyhow::Result<()> {
    let setup = Setup::start(9, &[]).await?;
    let fields: Vec<String> = (0..300).map(|i| format!("X-F{i}: {i}")).collect();
    let mut lines = vec!["GET / HTTP/1.1", "Host: app.test"];
    lines.extend(fields.iter().map(String::as_str));
    let cases = vec![Case {
        name: "300 fields",
        request: request(&lines, ""),
        want: Want::Refused(&[400, 431]),
    }];
    setup.expect(&cases).await?;
    Ok(())
}

/// A whole request shorter than the HTTP/2 preface (24 bytes) must be answered. With h2c on
/// plain listeners, Pingora 0.9.1 first reads exactly 24 bytes to look for the preface
/// (`apps/mod.rs`, `try_peek` is a `read_exact`, without a deadline), so `GET / HTTP/1.0` +
/// an empty line (18 bytes) waits until the client sends more or gives up: a valid request
/// is never answered, and any connection that sends fewer than 24 bytes is held forever.
#[tokio::test]
async fn a_request_shorter_than_the_h2c_preface_is_answered() -> anyhow::Result<()> {
    let setup = Setup::start(11, &[]).await?;
    let exchange = exchange_raw(setup.listener(), b"GET / HTTP/1.0\r\n\r\n", CLOSE_WAIT).await?;
    println!("| 18-byte HTTP/1.0 request | {} |", outcome(&exchange));
    // HTTP/1.0 without Host routes to the host-less rules: there are none, so 404.
    assert_eq!(exchange.status(), Some(404), "{}", exchange.summary());
    Ok(())
}

/// How many slow connections the slowloris test opens (well within the fd limit).
const SLOW_CONNECTIONS: usize = 200;
/// The head deadline the slowloris test sets.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long past the deadline a slow connection may stay open before the test calls it kept.
const CLOSE_SLACK: Duration = Duration::from_secs(10);

/// Slowloris: with `--client-header-timeout 2s`, 200 connections trickling one header byte
/// every 300 ms are each closed (without an answer) once the head deadline has passed and not
/// before, while a legitimate client keeps getting 200s.
#[tokio::test]
async fn slowloris_connections_are_closed_at_the_head_deadline() -> anyhow::Result<()> {
    let args = ["--client-header-timeout".to_string(), "2s".to_string()];
    let setup = Setup::start(10, &args).await?;
    let listener = setup.listener();

    let mut slow = Vec::with_capacity(SLOW_CONNECTIONS);
    for _ in 0..SLOW_CONNECTIONS {
        let stream = TcpStream::connect(listener).await?;
        slow.push(tokio::spawn(trickle(stream)));
    }

    // The legitimate client, on a fresh connection each time, for as long as slow ones are
    // still open: a bounded loop (count and time), paced so it spans the deadline.
    let started = Instant::now();
    let mut served = 0;
    while served < 200
        && started.elapsed() < HEADER_TIMEOUT + CLOSE_SLACK + Duration::from_secs(2)
        && !slow.iter().all(|task| task.is_finished())
    {
        let reply = raw_http::get(listener, APP, "/legit").await?;
        assert_eq!(
            reply.status,
            200,
            "legitimate request {served}: {}",
            reply.summary()
        );
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served > 0, "no legitimate request was made");

    let mut failures = Vec::new();
    for (i, task) in slow.into_iter().enumerate() {
        match task.await? {
            Trickled::Closed { after, answered } => {
                if after < HEADER_TIMEOUT - Duration::from_millis(300) {
                    failures.push(format!("connection {i} closed early, after {after:?}"));
                }
                if answered {
                    failures.push(format!("connection {i} got an answer before the close"));
                }
            }
            Trickled::StillOpen => failures.push(format!(
                "connection {i} still open {:?} after the deadline",
                CLOSE_SLACK
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        setup.seen(),
        served,
        "only the legitimate requests reach the backend"
    );
    Ok(())
}

/// How a trickling connection ended.
enum Trickled {
    /// gatehouse closed it this long after it opened; `answered` if bytes came back first.
    Closed { after: Duration, answered: bool },
    /// Still open at the deadline plus the slack.
    StillOpen,
}

/// Sends a head that never ends, one byte every 300 ms, until gatehouse closes the connection
/// or the deadline plus the slack has passed.
async fn trickle(mut stream: TcpStream) -> Trickled {
    let opened = Instant::now();
    let give_up = opened + HEADER_TIMEOUT + CLOSE_SLACK;
    let head = b"GET / HTTP/1.1\r\nHost: app.test\r\nX-Slow: ";
    let mut answered = false;
    let mut buf = [0u8; 512];
    for i in 0.. {
        let byte = head.get(i).copied().unwrap_or(b'a');
        if stream.write_all(&[byte]).await.is_err() {
            return Trickled::Closed {
                after: opened.elapsed(),
                answered,
            };
        }
        let next = tokio::time::Instant::now() + Duration::from_millis(300);
        // Between two bytes, watch for the close.
        loop {
            match tokio::time::timeout_at(next, stream.read(&mut buf)).await {
                Err(_) => break,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    return Trickled::Closed {
                        after: opened.elapsed(),
                        answered,
                    }
                }
                Ok(Ok(_)) => answered = true,
            }
        }
        if Instant::now() >= give_up {
            return Trickled::StillOpen;
        }
    }
    Trickled::StillOpen
}
