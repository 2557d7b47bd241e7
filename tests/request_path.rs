//! The request path over real sockets: forwarded headers, hop-by-hop stripping, h2c, WebSocket,
//! streamed responses and large request bodies.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{SinkExt as _, StreamExt as _};
use gatehouse_testkit::client::client_builder;
use gatehouse_testkit::tokio_tungstenite;
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{
    echo_service, free_addr, raw_http, EchoBackend, Fixture, InstanceSpec, Reply,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

const NS: &str = "default";
const CLASS: &str = "web";
const HOST: &str = "echo.test";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// One echo service routed at `echo.test/`.
async fn setup(ip: &str) -> anyhow::Result<(Fixture, EchoBackend)> {
    setup_with_args(ip, &[]).await
}

/// The same, with extra gatehouse flags.
async fn setup_with_args(ip: &str, args: &[&str]) -> anyhow::Result<(Fixture, EchoBackend)> {
    let (echo, svc) = echo_service(NS, "echo", ip).await?;
    let route = Ingress::new(NS, "echo")
        .class(CLASS)
        .path(HOST, "/", PathType::Prefix, "echo", "http")
        .yaml();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let fixture = Fixture::start_with_args(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &[("svc.yaml", svc), ("route.yaml", route)],
        &args,
    )
    .await?;
    Ok((fixture, echo))
}

#[tokio::test]
async fn forwarded_headers_and_host_are_set() -> anyhow::Result<()> {
    let (fixture, _echo) = setup("127.0.5.1").await?;
    let listener = fixture.http(CLASS);
    // Connect from a distinct loopback address so the client IP is checkable.
    let client_ip: IpAddr = "127.0.0.9".parse()?;
    let client = client_builder().local_address(client_ip).build()?;
    let response = client
        .get(format!("http://{listener}/headers?a=b"))
        .header("host", "Echo.Test:8443")
        .header("x-end-to-end", "kept")
        // Spoofed forwarding headers: no proxy is trusted, so each is replaced, not appended to.
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-real-ip", "203.0.113.7")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await?;
    let reply = Reply::read(response).await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    let header = |name: &str| reply.echoed_header(name);
    assert_eq!(
        header("host").as_deref(),
        Some("Echo.Test:8443"),
        "Host preserved"
    );
    assert_eq!(header("x-forwarded-for").as_deref(), Some("127.0.0.9"));
    assert_eq!(header("x-real-ip").as_deref(), Some("127.0.0.9"));
    assert_eq!(header("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        header("x-forwarded-host").as_deref(),
        Some("Echo.Test:8443")
    );
    assert_eq!(
        header("x-forwarded-port").as_deref(),
        Some("8443"),
        "X-Forwarded-Port is the port the client used (its Host's), not the listener's"
    );
    assert_eq!(header("x-end-to-end").as_deref(), Some("kept"));
    assert_eq!(reply.echoed("uri").as_deref(), Some("/headers?a=b"));
    Ok(())
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() -> anyhow::Result<()> {
    let (fixture, _echo) = setup("127.0.5.2").await?;
    let response = fixture
        .client
        .get(format!("http://{}/hop", fixture.http(CLASS)))
        .header("host", HOST)
        .header("connection", "x-foo")
        .header("x-foo", "1")
        .header("keep-alive", "timeout=5")
        .header("x-bar", "2")
        .send()
        .await?;
    let reply = Reply::read(response).await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(
        reply.echoed_header("x-foo"),
        None,
        "header named by Connection leaked: {}",
        reply.body
    );
    assert_eq!(
        reply.echoed_header("keep-alive"),
        None,
        "Keep-Alive leaked: {}",
        reply.body
    );
    let connection = reply.echoed_header("connection").unwrap_or_default();
    assert!(
        !connection.to_ascii_lowercase().contains("x-foo"),
        "Connection forwarded as {connection:?}"
    );
    assert_eq!(
        reply.echoed_header("x-bar").as_deref(),
        Some("2"),
        "end-to-end header dropped"
    );
    Ok(())
}

#[tokio::test]
async fn h2c_prior_knowledge_request_works() -> anyhow::Result<()> {
    let (fixture, echo) = setup("127.0.5.3").await?;
    let listener = fixture.http(CLASS);
    let client = client_builder()
        .http2_prior_knowledge()
        .resolve(HOST, listener)
        .build()?;
    for i in 0..3 {
        let response = client
            .get(format!("http://{HOST}:{}/h2/{i}", listener.port()))
            .send()
            .await
            .context("h2c request")?;
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        let reply = Reply::read(response).await?;
        assert_eq!(
            (reply.status, reply.backend().as_deref()),
            (200, Some("echo")),
            "{}",
            reply.summary()
        );
        assert_eq!(reply.echoed("uri"), Some(format!("/h2/{i}")));
    }
    let post = client
        .post(format!("http://{HOST}:{}/h2-post", listener.port()))
        .body(vec![1u8; 100_000])
        .send()
        .await?;
    let reply = Reply::read(post).await?;
    assert_eq!(reply.body_len(), Some(100_000), "{}", reply.summary());
    assert_eq!(echo.hits(), 4);
    Ok(())
}

#[tokio::test]
async fn websocket_round_trip_through_proxy() -> anyhow::Result<()> {
    let (fixture, echo) = setup("127.0.5.4").await?;
    let stream = tokio::net::TcpStream::connect(fixture.http(CLASS)).await?;
    let request = format!("ws://{HOST}/chat").into_client_request()?;
    let (mut ws, response) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .context("websocket handshake timed out")??;
    assert_eq!(response.status(), 101);
    for text in ["hello", "second message"] {
        ws.send(Message::text(text)).await?;
        let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .context("no websocket reply")?
            .context("websocket closed")??;
        assert_eq!(reply, Message::text(format!("echo:{text}")));
    }
    ws.send(Message::binary(vec![0u8, 255])).await?;
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .context("no websocket reply")?
        .context("websocket closed")??;
    assert_eq!(reply, Message::binary(b"echo:\x00\xff".to_vec()));
    ws.close(None).await?;
    assert_eq!(echo.hits(), 1);
    Ok(())
}

#[tokio::test]
async fn streamed_response_arrives_chunk_by_chunk() -> anyhow::Result<()> {
    let (fixture, _echo) = setup("127.0.5.5").await?;
    let started = Instant::now();
    let mut response = fixture
        .client
        .get(format!(
            "http://{}/stream?chunks=5&size=64&delay_ms=300",
            fixture.http(CLASS)
        ))
        .header("host", HOST)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let mut first_at = None;
    let mut total = 0usize;
    while let Some(chunk) = response.chunk().await? {
        first_at.get_or_insert_with(|| started.elapsed());
        total += chunk.len();
    }
    let done_at = started.elapsed();
    let first_at = first_at.context("no body received")?;
    println!("first chunk after {first_at:?}, last after {done_at:?}");
    assert_eq!(total, 5 * 64);
    // The backend spends 4 x 300 ms between its first and last chunk; a buffering proxy
    // would deliver everything at once.
    assert!(
        done_at.saturating_sub(first_at) >= Duration::from_millis(900),
        "first chunk at {first_at:?}, end at {done_at:?}: response was buffered"
    );
    Ok(())
}

#[tokio::test]
async fn large_post_bodies_arrive_whole() -> anyhow::Result<()> {
    // Over the 1m default body limit, so the limit is raised as an operator would.
    let (fixture, _echo) = setup_with_args("127.0.5.6", &["--proxy-body-size=16m"]).await?;
    let url = format!("http://{}/upload", fixture.http(CLASS));
    const SIZE: usize = 8 * 1024 * 1024;

    let fixed = fixture
        .client
        .post(&url)
        .header("host", HOST)
        .body(vec![b'x'; SIZE])
        .send()
        .await?;
    let reply = Reply::read(fixed).await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.body_len(), Some(SIZE as u64));

    // The same size sent as a chunked stream of 128 KiB pieces.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..SIZE / 131_072)
        .map(|_| Ok(vec![b'y'; 131_072]))
        .collect();
    let streamed = fixture
        .client
        .post(&url)
        .header("host", HOST)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await?;
    let reply = Reply::read(streamed).await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.body_len(), Some(SIZE as u64));
    Ok(())
}

/// What a `Connection` header names is hop-by-hop, except what it must never remove: the Host,
/// the body's framing and gatehouse's own headers. Only WebSocket upgrades are forwarded; a
/// Host that cannot name a host is refused; X-Forwarded-Port is the client's port.
#[tokio::test]
async fn header_hygiene() -> anyhow::Result<()> {
    let (fixture, echo) = setup("127.0.5.9").await?;
    let listener = fixture.http(CLASS);
    let raw = |request: String| async move { raw_http::send(listener, request.as_bytes()).await };

    // Naming Host or a forwarding header in Connection is an attempt to strip it on the way:
    // refused with 400 (Pingora's own check, as Envoy does), and the backend sees nothing.
    let hits = echo.hits();
    for nominated in [
        "host",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
    ] {
        let reply = raw(format!(
            "GET /c HTTP/1.1\r\nHost: {HOST}\r\nConnection: close, {nominated}\r\n\r\n"
        ))
        .await?;
        assert_eq!(
            reply.status,
            400,
            "Connection: {nominated}: {}",
            reply.summary()
        );
    }
    assert_eq!(echo.hits(), hits, "no refused request reached the backend");
    let reply = raw(format!(
        "GET /c HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    ))
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(
        reply.echoed_header("x-forwarded-port").as_deref(),
        Some("80")
    );

    // Naming Content-Length must not strip it and turn the body chunked.
    let reply = raw(format!(
        "POST /cl HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 5\r\n\
         Connection: close, keep-alive, content-length, x-request-id\r\n\r\nhello"
    ))
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.echoed_header("content-length").as_deref(), Some("5"));
    assert_eq!(
        reply.echoed_header("transfer-encoding"),
        None,
        "not re-chunked"
    );
    let body_len = reply
        .json
        .as_ref()
        .and_then(|j| j.get("body_len"))
        .and_then(|v| v.as_u64());
    assert_eq!(body_len, Some(5), "the backend got the whole body");
    assert!(
        reply.echoed_header("x-request-id").is_some(),
        "gatehouse's own header kept"
    );

    // An upgrade other than WebSocket stays between the client and gatehouse.
    let reply = raw(format!(
        "GET /u HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\
         Connection: close, Upgrade, HTTP2-Settings\r\n\r\n"
    ))
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.echoed_header("upgrade"), None, "{}", reply.body);
    assert_eq!(
        reply.echoed_header("http2-settings"),
        None,
        "{}",
        reply.body
    );

    // Hosts that cannot name a host are refused before routing; the backend never sees them.
    let hits = echo.hits();
    for host in [
        "caf\u{e9}.test",
        "a b.test",
        "evil.test/x",
        "user@evil.test",
    ] {
        let reply = raw(format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ))
        .await?;
        assert_eq!(reply.status, 400, "Host {host:?}: {}", reply.summary());
    }
    let reply = raw(format!(
        "GET / HTTP/1.1\r\nHost: {HOST}\r\nHost: other.test\r\nConnection: close\r\n\r\n"
    ))
    .await?;
    assert_eq!(reply.status, 400, "two Host headers: {}", reply.summary());
    assert_eq!(echo.hits(), hits, "no refused request reached the backend");
    Ok(())
}
