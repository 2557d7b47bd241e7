//! `proxy-protocol=true` through the real binary: an L4 load balancer (played by this test,
//! connecting from 127.0.0.1, the one trusted proxy) writes a PROXY v1 or v2 header before the
//! client's bytes, and the header's source is the client everywhere — X-Real-IP and
//! X-Forwarded-For upstream, the access log, allow-lists — on plain and TLS listeners. A
//! header that is missing, malformed or sent by an untrusted peer closes the connection with
//! nothing forwarded, and is counted.

mod obs_support;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context as _};
use gatehouse_testkit::prom::{scrape, value};
use gatehouse_testkit::raw_http::{read_until_closed, Exchange};
use gatehouse_testkit::tls_client::{handshake_over, inspecting_config};
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, EchoBackend, Fixture, InstanceSpec, Reply};
use obs_support::bin;
use pingora::tls::version;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

const NS: &str = "default";
const CLASS: &str = "lb";
/// How long one exchange may take before the test gives up on it.
const WAIT: Duration = Duration::from_secs(10);
/// The trusted proxies: the balancer (this test, on 127.0.0.1) and a documentation range
/// standing for a proxy chain behind it (only ever written inside headers, never connected to).
const TRUSTED: &str = "127.0.0.1;192.0.2.0/24";

/// gatehouse with one instance whose plain (and TLS) listeners take PROXY headers from
/// 127.0.0.1, an echo service at `echo.test/`, and `allow.test/` limited by an allow-list.
async fn start() -> anyhow::Result<(Fixture, EchoBackend, SocketAddr)> {
    let (echo, svc) = echo_service(NS, "echo", "127.0.0.1").await?;
    let open = Ingress::new(NS, "open")
        .class(CLASS)
        .path("echo.test", "/", PathType::Prefix, "echo", "http")
        .yaml();
    let allow = Ingress::new(NS, "allow")
        .class(CLASS)
        .annotation(
            "nginx.ingress.kubernetes.io/whitelist-source-range",
            "2001:db8::7/128,198.51.100.9/32",
        )
        .path("allow.test", "/", PathType::Prefix, "echo", "http")
        .yaml();
    let https = free_addr("127.0.0.1");
    let mut instance = InstanceSpec::http(CLASS, free_addr("127.0.0.1"))
        .setting("proxy-protocol", "true")
        .setting("trusted-proxies", TRUSTED);
    instance.https = Some(https);
    let fixture = Fixture::start(
        bin(),
        vec![instance],
        &[
            ("svc.yaml", svc),
            ("open.yaml", open),
            ("allow.yaml", allow),
        ],
    )
    .await?;
    Ok((fixture, echo, https))
}

/// A PROXY v1 header for a TCP connection from `src` to `dst`.
fn v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// A PROXY v2 header: `PROXY` from `src` to `dst`, or `LOCAL` when `src` is `None`; one TLV
/// (a unique id, as AWS and others send) that gatehouse must skip.
fn v2(src: Option<SocketAddr>, dst: SocketAddr) -> Vec<u8> {
    let mut body = Vec::new();
    let (command, family) = match (src, dst) {
        (None, _) => (0x20, 0x00),
        (Some(SocketAddr::V4(s)), SocketAddr::V4(d)) => {
            body.extend_from_slice(&s.ip().octets());
            body.extend_from_slice(&d.ip().octets());
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
            (0x21, 0x11)
        }
        (Some(s), d) => {
            let six = |a: SocketAddr| match a {
                SocketAddr::V4(a) => a.ip().to_ipv6_mapped().octets(),
                SocketAddr::V6(a) => a.ip().octets(),
            };
            body.extend_from_slice(&six(s));
            body.extend_from_slice(&six(d));
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
            (0x21, 0x21)
        }
    };
    body.extend_from_slice(&[0x05, 0x00, 0x03, b'i', b'd', b'7']);
    let mut header = b"\r\n\r\n\x00\r\nQUIT\n".to_vec();
    header.push(command);
    header.push(family);
    header.extend_from_slice(&u16::try_from(body.len()).unwrap_or(0).to_be_bytes());
    header.extend_from_slice(&body);
    header
}

/// A GET of `host/` that closes the connection after the answer, with a request id to find
/// its access log line and extra header lines.
fn request(host: &str, id: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET /headers HTTP/1.1\r\nHost: {host}\r\nX-Request-ID: {id}\r\n{extra}Connection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Connects to `to` from the loopback address `from`.
async fn connect_from(from: &str, to: SocketAddr) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.parse()?, 0))?;
    tokio::time::timeout(WAIT, socket.connect(to))
        .await
        .context("connect timed out")?
        .with_context(|| format!("connect {from} → {to}"))
}

/// Writes `bytes` on a connection from `from` and reads until gatehouse closes it.
async fn exchange(from: &str, to: SocketAddr, bytes: &[u8]) -> anyhow::Result<Exchange> {
    let mut stream = connect_from(from, to).await?;
    // A refusing server may close before taking everything: what came back still counts.
    let _ = stream.write_all(bytes).await;
    read_until_closed(&mut stream, WAIT).await
}

/// The one reply of an exchange that must have succeeded.
fn only_reply(exchange: &Exchange) -> anyhow::Result<Reply> {
    let mut replies = exchange.replies();
    if replies.len() != 1 || !exchange.closed {
        bail!("expected one reply and a close: {}", exchange.summary());
    }
    Ok(replies.remove(0))
}

/// Whether `received` holds a whole response framed by its Content-Length.
fn complete(received: &[u8]) -> bool {
    let Some(head_end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    head.split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|length| received.len() >= head_end + 4 + length)
}

async fn refused_count(fixture: &Fixture) -> anyhow::Result<f64> {
    let samples = scrape(fixture.admin).await?;
    Ok(value(
        &samples,
        "gatehouse_downstream_connections_refused_total",
        &[("class", CLASS), ("reason", "proxy_protocol")],
    ))
}

#[tokio::test]
async fn the_proxy_header_source_is_the_client() -> anyhow::Result<()> {
    let (fixture, _echo, _https) = start().await?;
    let listener = fixture.http(CLASS);
    let v4: SocketAddr = "198.51.100.9:51000".parse()?;
    let v6: SocketAddr = "[2001:db8::7]:51001".parse()?;
    let cases: [(&str, Vec<u8>, SocketAddr); 4] = [
        ("v1-tcp4", v1(v4, listener), v4),
        ("v1-tcp6", v1(v6, "[2001:db8::1]:80".parse()?), v6),
        ("v2-ipv4", v2(Some(v4), listener), v4),
        ("v2-ipv6", v2(Some(v6), "[2001:db8::1]:80".parse()?), v6),
    ];
    for (name, header, source) in cases {
        let client = source.ip().to_string();
        // A client-sent X-Forwarded-For is not believed: the header's source is no trusted
        // proxy, so the client is the source itself.
        let mut bytes = header.clone();
        bytes.extend(request(
            "echo.test",
            name,
            "X-Forwarded-For: 203.0.113.66\r\nX-Real-IP: 203.0.113.66\r\n",
        ));
        let reply = only_reply(&exchange("127.0.0.1", listener, &bytes).await?)
            .with_context(|| name.to_string())?;
        assert_eq!(reply.status, 200, "{name}: {}", reply.summary());
        assert_eq!(
            reply.echoed_header("x-real-ip"),
            Some(client.clone()),
            "{name}"
        );
        assert_eq!(
            reply.echoed_header("x-forwarded-for"),
            Some(client.clone()),
            "{name}"
        );
        let line = fixture.access_log_line(name).await?;
        assert_eq!(line["client_ip"], client.as_str(), "{name}: {line}");

        // The allow-list (2001:db8::7 and 198.51.100.9) admits these sources…
        let mut bytes = header;
        bytes.extend(request("allow.test", &format!("{name}-allow"), ""));
        let reply = only_reply(&exchange("127.0.0.1", listener, &bytes).await?)?;
        assert_eq!(reply.status, 200, "{name} allowed: {}", reply.summary());
    }
    // …and refuses their neighbours, even though the TCP peer (127.0.0.1) is the same.
    for source in ["198.51.100.10:5000", "[2001:db8::8]:5000"] {
        let source: SocketAddr = source.parse()?;
        let mut bytes = v2(Some(source), listener);
        bytes.extend(request("allow.test", &format!("deny-{source}"), ""));
        let reply = only_reply(&exchange("127.0.0.1", listener, &bytes).await?)?;
        assert_eq!(reply.status, 403, "{source}: {}", reply.summary());
    }

    // A source that is itself a trusted proxy (a chain behind the balancer): its
    // X-Forwarded-For is read as usual.
    let chain: SocketAddr = "192.0.2.10:6000".parse()?;
    let mut bytes = v1(chain, listener);
    bytes.extend(request(
        "echo.test",
        "chain",
        "X-Forwarded-For: 198.51.100.77\r\n",
    ));
    let reply = only_reply(&exchange("127.0.0.1", listener, &bytes).await?)?;
    assert_eq!(
        reply.echoed_header("x-real-ip").as_deref(),
        Some("198.51.100.77")
    );
    assert_eq!(
        reply.echoed_header("x-forwarded-for").as_deref(),
        Some("198.51.100.77, 192.0.2.10"),
        "the trusted source's X-Forwarded-For is kept and the source appended"
    );

    // v2 LOCAL (the balancer's own health check): the TCP peer is the client.
    let mut bytes = v2(None, listener);
    bytes.extend(request("echo.test", "local", ""));
    let reply = only_reply(&exchange("127.0.0.1", listener, &bytes).await?)?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(
        reply.echoed_header("x-real-ip").as_deref(),
        Some("127.0.0.1")
    );

    // Keep-alive: one header, then two requests on the connection, both from the source.
    let mut stream = connect_from("127.0.0.1", listener).await?;
    let mut bytes = v2(Some(v6), listener);
    bytes.extend_from_slice(b"GET /headers HTTP/1.1\r\nHost: echo.test\r\n\r\n");
    stream.write_all(&bytes).await?;
    let mut first = Exchange {
        received: Vec::new(),
        closed: false,
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !complete(&first.received) {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .context("first keep-alive reply timed out")??;
        if n == 0 {
            bail!("closed after the first keep-alive request");
        }
        first.received.extend_from_slice(&chunk[..n]);
    }
    let replies = first.replies();
    assert_eq!(replies.len(), 1, "{}", first.summary());
    assert_eq!(
        replies[0].echoed_header("x-real-ip").as_deref(),
        Some("2001:db8::7")
    );
    stream
        .write_all(&request("echo.test", "second", ""))
        .await?;
    let second = read_until_closed(&mut stream, WAIT).await?;
    let reply = only_reply(&second)?;
    assert_eq!(
        reply.echoed_header("x-real-ip").as_deref(),
        Some("2001:db8::7")
    );
    assert_eq!(refused_count(&fixture).await?, 0.0);
    Ok(())
}

#[tokio::test]
async fn a_missing_malformed_or_untrusted_header_closes_the_connection() -> anyhow::Result<()> {
    let (fixture, echo, https) = start().await?;
    let listener = fixture.http(CLASS);
    let source: SocketAddr = "198.51.100.9:51000".parse()?;
    let get = request("echo.test", "refused", "");
    let with = |header: &[u8]| [header, &get].concat();
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("missing", "127.0.0.1", get.clone()),
        (
            "malformed v1",
            "127.0.0.1",
            with(b"PROXY TCP4 198.51.100.9 127.0.0.1 51000\r\n"),
        ),
        (
            "v1 address of the wrong family",
            "127.0.0.1",
            with(b"PROXY TCP4 2001:db8::7 127.0.0.1 51000 80\r\n"),
        ),
        (
            "v2 of another version",
            "127.0.0.1",
            with(&{
                let mut h = v2(Some(source), listener);
                h[12] = 0x31;
                h
            }),
        ),
        (
            "v2 over 4 KiB",
            "127.0.0.1",
            with(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x20\x00"),
        ),
        ("untrusted peer", "127.0.0.2", with(&v1(source, listener))),
    ];
    let hits = echo.hits();
    for (n, (name, from, bytes)) in cases.iter().enumerate() {
        let seen = exchange(from, listener, bytes).await?;
        assert!(
            seen.closed && seen.received.is_empty(),
            "{name}: {}",
            seen.summary()
        );
        assert_eq!(refused_count(&fixture).await?, (n + 1) as f64, "{name}");
    }

    // The TLS listener refuses the same way, before any handshake.
    let tls = inspecting_config(&[&version::TLS13])?;
    for (name, from, header) in [
        ("tls missing", "127.0.0.1", Vec::new()),
        ("tls untrusted", "127.0.0.2", v2(Some(source), https)),
    ] {
        let mut tcp = connect_from(from, https).await?;
        tcp.write_all(&header).await?;
        let handshake = handshake_over(tcp, tls.clone(), Some("echo.test"), WAIT).await;
        assert!(handshake.is_err(), "{name}: handshake succeeded");
    }
    assert_eq!(refused_count(&fixture).await?, (cases.len() + 2) as f64);
    assert_eq!(echo.hits(), hits, "nothing was forwarded");
    Ok(())
}

#[tokio::test]
async fn tls_listeners_read_the_header_before_the_client_hello() -> anyhow::Result<()> {
    let (fixture, _echo, https) = start().await?;
    let tls = inspecting_config(&[&version::TLS13, &version::TLS12])?;
    let cases: [(&str, SocketAddr, bool); 3] = [
        ("tls-v2-ipv6", "[2001:db8::7]:40000".parse()?, true),
        ("tls-v2-ipv4", "198.51.100.9:40001".parse()?, true),
        ("tls-v1-ipv4", "198.51.100.9:40002".parse()?, false),
    ];
    for (name, source, binary) in cases {
        let mut tcp = connect_from("127.0.0.1", https).await?;
        let header = if binary {
            v2(Some(source), https)
        } else {
            v1(source, https)
        };
        tcp.write_all(&header).await?;
        let mut stream = handshake_over(tcp, tls.clone(), Some("echo.test"), WAIT)
            .await
            .with_context(|| name.to_string())?;
        stream.write_all(&request("echo.test", name, "")).await?;
        let mut received = Vec::new();
        let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut received)).await;
        // rustls reports a peer that closes without close_notify as an error after the data.
        if !matches!(read, Ok(Ok(_)) | Ok(Err(_))) {
            bail!("{name}: reply timed out");
        }
        let reply = only_reply(&Exchange {
            received,
            closed: true,
        })
        .with_context(|| name.to_string())?;
        assert_eq!(reply.status, 200, "{name}: {}", reply.summary());
        let client = source.ip().to_string();
        assert_eq!(
            reply.echoed_header("x-real-ip"),
            Some(client.clone()),
            "{name}"
        );
        assert_eq!(
            reply.echoed_header("x-forwarded-proto").as_deref(),
            Some("https"),
            "{name}"
        );
        let line = fixture.access_log_line(name).await?;
        assert_eq!(line["client_ip"], client.as_str(), "{name}: {line}");
    }
    // LOCAL over TLS: the TCP peer.
    let mut tcp = connect_from("127.0.0.1", https).await?;
    tcp.write_all(&v2(None, https)).await?;
    let mut stream = handshake_over(tcp, tls.clone(), Some("echo.test"), WAIT).await?;
    stream
        .write_all(&request("echo.test", "tls-local", ""))
        .await?;
    let mut received = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut received)).await;
    let reply = only_reply(&Exchange {
        received,
        closed: true,
    })?;
    assert_eq!(
        reply.echoed_header("x-real-ip").as_deref(),
        Some("127.0.0.1")
    );
    Ok(())
}
