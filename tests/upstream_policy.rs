//! Per-Ingress upstream settings through the real binary: `proxy-body-size`,
//! `proxy-read-timeout` and the retries of `proxy-next-upstream` (a request whose upstream
//! exchange fails before any response byte is tried on another endpoint: idempotent requests
//! by default, others only with `non_idempotent`; `off` turns it off; a request whose client
//! has left is not sent again).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{
    any_port, free_addr, free_port_on, raw_http, silent_backend, EchoBackend, Fixture, InstanceSpec,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const NS: &str = "default";
const CLASS: &str = "web";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// A backend that accepts, reads a request head and closes without answering; counts them.
async fn closer(
    addr: SocketAddr,
) -> anyhow::Result<(Arc<AtomicUsize>, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            if matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Ok((seen, task))
}

/// A backend that accepts, reads a request head and never answers, holding the connection;
/// counts the requests it read.
async fn mute(addr: SocketAddr) -> anyhow::Result<(Arc<AtomicUsize>, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            if matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            held.push(stream);
        }
    });
    Ok((seen, task))
}

/// Route `host` → Service `flaky`, whose two endpoints are an echo backend and a closer.
fn flaky_route(host: &str, annotations: &[(&str, &str)]) -> String {
    annotations
        .iter()
        .fold(Ingress::new(NS, host), |i, (k, v)| i.annotation(k, v))
        .class(CLASS)
        .path(host, "/", PathType::Prefix, "flaky", "http")
        .yaml()
}

fn request(method: &str, host: &str) -> Vec<u8> {
    format!(
        "{method} / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    )
    .into_bytes()
}

#[tokio::test]
async fn failed_exchanges_are_retried_as_proxy_next_upstream_says() -> anyhow::Result<()> {
    let port = free_port_on(&["127.0.10.1", "127.0.10.2"]);
    let echo = EchoBackend::start("good", SocketAddr::from(([127, 0, 10, 1], port))).await?;
    let (closed, task) = closer(SocketAddr::from(([127, 0, 10, 2], port))).await?;
    let svc = yaml::backend(
        NS,
        "flaky",
        port,
        &[("127.0.10.1", true), ("127.0.10.2", true)],
    );
    let fixture = Fixture::start(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &[
            ("svc.yaml", svc),
            ("default.test.yaml", flaky_route("default.test", &[])),
            (
                "off.test.yaml",
                flaky_route(
                    "off.test",
                    &[("nginx.ingress.kubernetes.io/proxy-next-upstream", "off")],
                ),
            ),
            (
                "any.test.yaml",
                flaky_route(
                    "any.test",
                    &[(
                        "nginx.ingress.kubernetes.io/proxy-next-upstream",
                        "error timeout non_idempotent",
                    )],
                ),
            ),
        ],
    )
    .await?;
    let addr = fixture.http(CLASS);
    // Round-robin alternates the two endpoints, so of every two requests one meets the closer
    // first; `statuses` are what 4 requests got, `closed` how many the closer swallowed.
    let run = |method: &'static str, host: &'static str| {
        let closed = closed.clone();
        async move {
            let before = closed.load(Ordering::SeqCst);
            let mut statuses = Vec::new();
            for _ in 0..4 {
                statuses.push(raw_http::send(addr, &request(method, host)).await?.status);
            }
            anyhow::Ok((statuses, closed.load(Ordering::SeqCst) - before))
        }
    };
    let (statuses, swallowed) = run("GET", "default.test").await?;
    assert_eq!(statuses, [200; 4], "idempotent requests are retried");
    assert!(swallowed >= 1, "the closer was tried");
    let (statuses, swallowed) = run("POST", "default.test").await?;
    assert_eq!(
        statuses.iter().filter(|s| **s == 502).count(),
        swallowed,
        "{statuses:?}"
    );
    assert!(
        swallowed >= 1,
        "a POST is not retried by default: {statuses:?}"
    );
    let (statuses, swallowed) = run("GET", "off.test").await?;
    assert!(
        swallowed >= 1 && statuses.contains(&502),
        "off: {statuses:?}"
    );
    let (statuses, swallowed) = run("POST", "any.test").await?;
    assert_eq!(statuses, [200; 4], "non_idempotent retries POSTs too");
    assert!(swallowed >= 1);
    assert!(echo.hits() >= 8);
    task.abort();
    Ok(())
}

/// The client closing its connection while the upstream has not answered yet is the client's
/// failure (Pingora reports it from the downstream side), not the endpoint's: the request is
/// not sent to another endpoint for nobody (nginx answers 499 and tries no other).
#[tokio::test]
async fn a_request_whose_client_left_is_not_retried() -> anyhow::Result<()> {
    let port = free_port_on(&["127.0.10.6", "127.0.10.7"]);
    let (a, task_a) = mute(SocketAddr::from(([127, 0, 10, 6], port))).await?;
    let (b, task_b) = mute(SocketAddr::from(([127, 0, 10, 7], port))).await?;
    let svc = yaml::backend(
        NS,
        "mute",
        port,
        &[("127.0.10.6", true), ("127.0.10.7", true)],
    );
    let route = Ingress::new(NS, "gone.test")
        .class(CLASS)
        .path("gone.test", "/", PathType::Prefix, "mute", "http")
        .yaml();
    let fixture = Fixture::start(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &[("svc.yaml", svc), ("gone.test.yaml", route)],
    )
    .await?;
    let seen = || a.load(Ordering::SeqCst) + b.load(Ordering::SeqCst);
    let mut client = tokio::net::TcpStream::connect(fixture.http(CLASS)).await?;
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: gone.test\r\n\r\n")
        .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen() == 0 {
        assert!(Instant::now() < deadline, "no endpoint got the request");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(client);
    // A retry would reach the other endpoint within milliseconds; give it a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        seen(),
        1,
        "the request was sent to the other endpoint after its client had left"
    );
    task_a.abort();
    task_b.abort();
    Ok(())
}

#[tokio::test]
async fn body_size_and_read_timeout_per_ingress() -> anyhow::Result<()> {
    let echo = EchoBackend::start("echo", any_port("127.0.10.3")).await?;
    let (quiet, task) = silent_backend("127.0.10.4").await?;
    let ingress = |host: &str, service: &str, key: &str, value: &str| {
        Ingress::new(NS, host)
            .class(CLASS)
            .annotation(&format!("nginx.ingress.kubernetes.io/{key}"), value)
            .path(host, "/", PathType::Prefix, service, "http")
            .yaml()
    };
    let fixture = Fixture::start(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &[
            (
                "echo.yaml",
                yaml::backend(NS, "echo", echo.addr().port(), &[("127.0.10.3", true)]),
            ),
            (
                "quiet.yaml",
                yaml::backend(NS, "quiet", quiet.port(), &[("127.0.10.4", true)]),
            ),
            (
                "open.yaml",
                ingress("open.test", "echo", "proxy-body-size", "0"),
            ),
            (
                "small.yaml",
                ingress("small.test", "echo", "proxy-body-size", "1k"),
            ),
            (
                "slow.yaml",
                ingress("slow.test", "quiet", "proxy-read-timeout", "1"),
            ),
        ],
    )
    .await?;
    let addr = fixture.http(CLASS);
    let post = |host: &str, len: usize| {
        let mut req = format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        req.extend(std::iter::repeat_n(b'x', len));
        req
    };
    // Over the instance's 1m default, allowed by `0`.
    let reply = raw_http::send(addr, &post("open.test", 2 << 20)).await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.body_len(), Some(2 << 20));
    let reply = raw_http::send(addr, &post("small.test", 2048)).await?;
    assert_eq!(reply.status, 413, "{}", reply.summary());
    // The instance's read timeout is 60 s; this Ingress's is 1 s.
    let started = Instant::now();
    let reply = raw_http::get(addr, "slow.test", "/").await?;
    assert_eq!(reply.status, 504, "{}", reply.summary());
    assert!(started.elapsed() >= Duration::from_millis(900));
    task.abort();
    Ok(())
}
