//! Deadlines and limits, against the real binary: the defaults are ingress-nginx's (read back
//! through `--check-config`), per-instance keys override the flags, and each limit does what
//! it says on real sockets, with short values so the tests stay quick. Closures are waited
//! for as conditions with generous bounds; "not before the deadline" is checked only as a
//! lower bound.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures::{SinkExt as _, StreamExt as _};
use gatehouse_testkit::tokio_tungstenite;
use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{
    echo_service, free_addr, prom, silent_backend, EchoBackend, Fixture, InstanceSpec,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

mod deploy_support;

const NS: &str = "default";
const HOST: &str = "app.test";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// Runs `gatehouse --check-config ARGS` and returns its JSON, or its stderr as the error.
fn check_config(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(bin())
        .arg("--check-config")
        .args(args)
        .output()
        .context("running gatehouse --check-config")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("--check-config prints JSON")
}

#[test]
fn defaults_are_ingress_nginx_s_and_instances_override_flags() -> anyhow::Result<()> {
    let config = check_config(&[
        "--instance=class=internal,http=127.0.0.1:1,default=true",
        "--instance=class=external,http=127.0.0.1:2,keep-alive=1h,proxy-body-size=64m",
        "--proxy-read-timeout=120s",
    ])?;
    let internal = &config["instances"][0]["limits"];
    // ingress-nginx's ConfigMap defaults (and nginx's where it has no key).
    for (key, want) in [
        ("keep-alive", "75s"),
        ("keep-alive-requests", "1000"),
        ("client-header-timeout", "60s"),
        ("client-body-timeout", "60s"),
        ("send-timeout", "60s"),
        ("lingering-time", "30s"),
        ("lingering-timeout", "5s"),
        ("http2-max-concurrent-streams", "128"),
        ("large-client-header-buffers", "4 8k"),
        ("proxy-body-size", "1m"),
        ("proxy-connect-timeout", "5s"),
        ("proxy-send-timeout", "60s"),
        ("upstream-keepalive-connections", "320"),
        ("forwarded-port", "client"),
    ] {
        assert_eq!(internal[key], want, "{key} in {internal}");
    }
    // The global flag applies to both instances; the external instance's own keys win.
    assert_eq!(internal["proxy-read-timeout"], "120s");
    let external = &config["instances"][1]["limits"];
    assert_eq!(external["proxy-read-timeout"], "120s");
    assert_eq!(external["keep-alive"], "1h");
    assert_eq!(external["proxy-body-size"], "64m");
    assert_eq!(internal["keep-alive"], "75s");
    assert_eq!(config["shutdown-delay"], "5s");
    // nginx's `access_log … buffer=64k flush=1s`.
    assert_eq!(config["access-log-buffer"], "64k");
    assert_eq!(config["access-log-flush"], "1s");
    assert_eq!(config["work-stealing"], false);
    assert_eq!(config["lean-forwarding"], true);
    let config = check_config(&[
        "--instance=class=internal,http=127.0.0.1:1",
        "--work-stealing=true",
        "--lean-forwarding=false",
    ])?;
    assert_eq!(config["work-stealing"], true);
    assert_eq!(config["lean-forwarding"], false);
    Ok(())
}

#[test]
fn access_log_buffering_flags() -> anyhow::Result<()> {
    let instance = "--instance=class=a,http=127.0.0.1:1";
    let config = check_config(&[instance, "--access-log-buffer=0", "--access-log-flush=0"])?;
    assert_eq!(config["access-log-buffer"], "0");
    assert_eq!(config["access-log-flush"], "0");
    let config = check_config(&[
        instance,
        "--access-log-buffer=1m",
        "--access-log-flush=250ms",
    ])?;
    assert_eq!(config["access-log-buffer"], "1m");
    assert_eq!(config["access-log-flush"], "250ms");
    for bad in [
        "--access-log-buffer=2m",
        "--access-log-flush=2m",
        "--access-log-flush=soon",
    ] {
        let err = check_config(&[instance, bad]).expect_err(bad);
        let flag = bad.split('=').next().unwrap_or(bad);
        assert!(err.to_string().contains(flag), "{bad}: {err}");
    }
    Ok(())
}

#[test]
fn invalid_limits_are_refused_naming_the_setting() {
    for (args, names) in [
        (
            vec!["--instance=class=a,http=127.0.0.1:1", "--keep-alive=soon"],
            "keep-alive",
        ),
        (
            vec!["--instance=class=a,http=127.0.0.1:1,proxy-body-size=1t"],
            "proxy-body-size",
        ),
        (
            vec![
                "--instance=class=a,http=127.0.0.1:1",
                "--large-client-header-buffers=8k",
            ],
            "large-client-header-buffers",
        ),
        (
            vec!["--instance=class=a,http=127.0.0.1:1,upstream-keepalive-connections=0"],
            "upstream-keepalive-connections",
        ),
    ] {
        let err = check_config(&args).expect_err("invalid");
        assert!(err.to_string().contains(names), "{args:?}: {err}");
    }
}

/// The arguments of every gatehouse Deployment that any deploy/ kustomization renders are valid
/// (`--check-config` parses them all and exits 0), the kubelet waits out the drain
/// (terminationGracePeriodSeconds ≥ --shutdown-delay + --shutdown-grace + 5 s), and an external
/// instance behind cloudflared (whose origin connections idle for its keepAliveTimeout, 3600s)
/// keeps connections for an hour, HTTP/2 ones too, believes forwarded headers only from the pod
/// CIDR and reads the client's address from CF-Connecting-IP.
#[test]
fn deploy_arguments_pass_check_config() -> anyhow::Result<()> {
    let Some(kubectl) = deploy_support::kubectl()? else {
        return Ok(());
    };
    let mut checked = 0;
    for dir in deploy_support::kustomizations()? {
        let objects = deploy_support::render(&kubectl, &dir)?;
        for deployment in deploy_support::gatehouse_deployments(&objects) {
            let name = format!(
                "{dir}: {}",
                deployment["metadata"]["name"].as_str().unwrap_or("?")
            );
            let args = deploy_support::args(deployment);
            assert!(!args.is_empty(), "{name}: no arguments");
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let config = check_config(&args).with_context(|| name.clone())?;
            let seconds = |flag: &str, default: u64| {
                args.iter()
                    .find_map(|a| a.strip_prefix(&format!("--{flag}=")))
                    .map(|v| {
                        v.trim_end_matches('s')
                            .parse::<u64>()
                            .expect("whole seconds")
                    })
                    .unwrap_or(default)
            };
            let drain = seconds("shutdown-delay", 5) + seconds("shutdown-grace", 30);
            let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30);
            assert!(
                grace >= drain + 5,
                "{name}: terminationGracePeriodSeconds {grace} < {drain} + 5"
            );
            let tunnel = args.iter().any(|a| {
                a.starts_with("--instance=class=external,") && a.contains(".cfargotunnel.com")
            });
            if tunnel {
                let external = config["instances"]
                    .as_array()
                    .and_then(|all| all.iter().find(|i| i["class"] == "external"))
                    .with_context(|| format!("{name}: an external instance"))?;
                let limits = &external["limits"];
                assert_eq!(limits["keep-alive"], "1h", "{name}");
                // cloudflared's HTTP/2 origin connections are kept as long.
                assert_eq!(limits["http2-idle-timeout"], "keep-alive", "{name}");
                assert_eq!(limits["trusted-proxies"], "10.69.0.0/16", "{name}");
                assert_eq!(limits["real-ip-header"], "CF-Connecting-IP", "{name}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} Deployments rendered");
    Ok(())
}

/// One echo service at `app.test/` on instance `web` with its own `settings`, started with
/// `args`.
async fn start(
    ip: &str,
    settings: &[(&str, &str)],
    args: &[&str],
) -> anyhow::Result<(Fixture, EchoBackend)> {
    let (echo, svc) = echo_service(NS, "echo", ip).await?;
    let route = Ingress::new(NS, "app")
        .class("web")
        .path(HOST, "/", PathType::Prefix, "echo", "http")
        .yaml();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let spec = settings.iter().fold(
        InstanceSpec::http("web", free_addr("127.0.0.1")),
        |spec, (k, v)| spec.setting(k, v),
    );
    let fixture = Fixture::start_with_args(
        bin(),
        vec![spec],
        &[("svc.yaml", svc), ("route.yaml", route)],
        &args,
    )
    .await?;
    Ok((fixture, echo))
}

/// The listener of the instance.
fn listener(fixture: &Fixture) -> anyhow::Result<SocketAddr> {
    Ok(fixture.http("web"))
}

/// Reads one response (head and Content-Length body) from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> anyhow::Result<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Duration::from_secs(10);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .context("status")?;
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                return Ok((status, body));
            }
        }
        let n = tokio::time::timeout(deadline, stream.read(&mut chunk))
            .await
            .context("response timed out")??;
        if n == 0 {
            bail!(
                "closed before a whole response: {:?}",
                String::from_utf8_lossy(&buf)
            );
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits (bounded) until the server closes `stream`, discarding anything it sends; returns
/// when that happened.
async fn wait_closed(stream: &mut TcpStream, bound: Duration) -> anyhow::Result<Instant> {
    let mut sink = [0u8; 1024];
    let until = Instant::now() + bound;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut sink)).await {
            Err(_) => bail!("still open after {bound:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(Instant::now()),
            Ok(Ok(_)) => {}
        }
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n").into_bytes()
}

/// With `--work-stealing true` (Pingora's shared scheduler; every other test runs on the
/// default, a scheduler per thread) the proxy serves the same.
#[tokio::test]
async fn serves_with_work_stealing() -> anyhow::Result<()> {
    let (fixture, echo) = start("127.0.9.10", &[], &["--work-stealing=true"]).await?;
    for _ in 0..4 {
        let reply = fixture.get("web", HOST, "/").await?;
        assert_eq!(reply.status, 200, "{}", reply.summary());
    }
    assert_eq!(echo.hits(), 4);
    Ok(())
}

#[tokio::test]
async fn idle_keep_alive_connections_close_after_keep_alive() -> anyhow::Result<()> {
    let (fixture, _echo) = start("127.0.9.1", &[], &["--keep-alive=1s"]).await?;
    let addr = listener(&fixture)?;
    let mut conn = TcpStream::connect(addr).await?;
    for _ in 0..2 {
        conn.write_all(&get("/")).await?;
        assert_eq!(read_response(&mut conn).await?.0, 200);
    }
    let idle_since = Instant::now();
    let closed = wait_closed(&mut conn, Duration::from_secs(15)).await?;
    assert!(
        closed - idle_since >= Duration::from_millis(900),
        "closed after {:?}, before the keep-alive timeout",
        closed - idle_since
    );
    Ok(())
}

#[tokio::test]
async fn request_heads_have_a_total_deadline() -> anyhow::Result<()> {
    let (fixture, echo) = start("127.0.9.2", &[], &["--client-header-timeout=1s"]).await?;
    let addr = listener(&fixture)?;

    // Connected, nothing sent.
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).await?;
    // A head trickled a header line at a time, each well inside any per-read timeout.
    let mut trickle = TcpStream::connect(addr).await?;
    trickle
        .write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n").as_bytes())
        .await?;
    let mut sent = 0;
    let closed = loop {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(200), trickle.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break Instant::now(),
            Ok(Ok(_)) => bail!("gatehouse answered a head that never ended"),
            Err(_) => {}
        }
        sent += 1;
        if sent > 100 || trickle.write_all(b"x-trickle: 1\r\n").await.is_err() {
            break Instant::now();
        }
    };
    let took = closed - started;
    assert!(sent < 100, "the trickling head was never cut off");
    assert!(took >= Duration::from_millis(900), "cut off after {took:?}");
    wait_closed(&mut silent, Duration::from_secs(15)).await?;

    // A request that arrives in time is served as usual, on a new connection and after an
    // idle pause on a kept-alive one (the deadline starts at its first byte).
    let mut conn = TcpStream::connect(addr).await?;
    conn.write_all(&get("/")).await?;
    assert_eq!(read_response(&mut conn).await?.0, 200);
    assert_eq!(echo.hits(), 1);
    let samples = prom::scrape(fixture.admin).await?;
    let refused = prom::value(
        &samples,
        "gatehouse_downstream_connections_refused_total",
        &[("class", "web"), ("reason", "head_timeout")],
    );
    assert!(refused >= 2.0, "head timeouts counted: {refused}");
    Ok(())
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() -> anyhow::Result<()> {
    let (fixture, echo) = start("127.0.9.3", &[], &["--proxy-body-size=1k"]).await?;
    let addr = listener(&fixture)?;
    let post = |len: usize| {
        let mut req = format!(
            "POST / HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        req.extend(std::iter::repeat_n(b'x', len));
        req
    };
    let reply = gatehouse_testkit::raw_http::send(addr, &post(1024)).await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.body_len(), Some(1024));
    let hits = echo.hits();
    let reply = gatehouse_testkit::raw_http::send(addr, &post(1025)).await?;
    assert_eq!(reply.status, 413, "{}", reply.summary());
    assert_eq!(
        echo.hits(),
        hits,
        "a declared oversized body never goes upstream"
    );

    // Chunked: the size is only known while streaming.
    let mut chunked =
        format!("POST / HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            .into_bytes();
    for _ in 0..3 {
        chunked.extend_from_slice(b"200\r\n");
        chunked.extend(std::iter::repeat_n(b'y', 0x200));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let reply = gatehouse_testkit::raw_http::send(addr, &chunked).await?;
    assert_eq!(reply.status, 413, "{}", reply.summary());
    Ok(())
}

/// A refused body is read and thrown away before the connection closes (nginx's lingering
/// close): closing with the client's bytes unread would reset the connection, and a client
/// still writing its upload would see that reset instead of the 413.
#[tokio::test]
async fn refused_bodies_are_discarded_before_the_connection_closes() -> anyhow::Result<()> {
    let (fixture, echo) = start(
        "127.0.9.9",
        &[],
        &["--proxy-body-size=1k", "--lingering-timeout=1s"],
    )
    .await?;
    let addr = listener(&fixture)?;
    const UPLOAD: usize = 8 << 20;
    let head = format!("POST / HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {UPLOAD}\r\n\r\n");

    // The whole upload after the answer: every write is taken, then the connection closes.
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(head.as_bytes()).await?;
    let (status, _) = read_response(&mut stream).await?;
    assert_eq!(status, 413);
    let chunk = vec![b'x'; 64 << 10];
    for sent in (0..UPLOAD).step_by(chunk.len()) {
        tokio::time::timeout(Duration::from_secs(10), stream.write_all(&chunk))
            .await
            .context("write timed out")?
            .with_context(|| format!("upload refused after {sent} bytes"))?;
    }
    wait_closed(&mut stream, Duration::from_secs(10)).await?;
    assert_eq!(echo.hits(), 0, "nothing of it went upstream");

    // A client that stops sending is not waited on past lingering-timeout.
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(head.as_bytes()).await?;
    let (status, _) = read_response(&mut stream).await?;
    assert_eq!(status, 413);
    wait_closed(&mut stream, Duration::from_secs(20)).await?;
    Ok(())
}

#[tokio::test]
async fn an_upstream_that_stops_answering_gets_504() -> anyhow::Result<()> {
    let (silent, task) = silent_backend("127.0.9.4").await?;
    let svc = yaml::backend(NS, "silent", silent.port(), &[("127.0.9.4", true)]);
    let route = Ingress::new(NS, "slow")
        .class("web")
        .path("slow.test", "/", PathType::Prefix, "silent", "http")
        .yaml();
    let fixture = Fixture::start_with_args(
        bin(),
        vec![InstanceSpec::http("web", free_addr("127.0.0.1"))],
        &[("svc.yaml", svc), ("route.yaml", route)],
        &["--proxy-read-timeout=1s".to_string()],
    )
    .await?;
    let started = Instant::now();
    let reply = gatehouse_testkit::raw_http::get(fixture.http("web"), "slow.test", "/").await?;
    assert_eq!(reply.status, 504, "{}", reply.summary());
    assert!(started.elapsed() >= Duration::from_millis(900));
    let samples = prom::scrape(fixture.admin).await?;
    assert!(
        prom::sum(
            &samples,
            "gatehouse_upstream_errors_total",
            &[("kind", "read_timeout")]
        ) >= 1.0
    );
    task.abort();
    Ok(())
}

/// On an upgraded connection the read timeout is an idle timeout: the WebSocket closes, no
/// 504 is written into it.
#[tokio::test]
async fn idle_websockets_close_at_the_read_timeout() -> anyhow::Result<()> {
    let (fixture, _echo) = start("127.0.9.5", &[], &["--proxy-read-timeout=1s"]).await?;
    let stream = TcpStream::connect(listener(&fixture)?).await?;
    let request = format!("ws://{HOST}/chat").into_client_request()?;
    let (mut ws, response) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .context("websocket handshake timed out")??;
    assert_eq!(response.status(), 101);
    ws.send(Message::text("hi")).await?;
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .context("no reply")?
        .context("closed")??;
    assert_eq!(reply, Message::text("echo:hi"));
    let idle_since = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(15), ws.next())
        .await
        .context("the idle WebSocket was never closed")?;
    assert!(
        matches!(ended, None | Some(Err(_)) | Some(Ok(Message::Close(_)))),
        "unexpected message on an idle socket: {ended:?}"
    );
    assert!(idle_since.elapsed() >= Duration::from_millis(900));
    Ok(())
}

/// Per-instance keys: a connection cap (excess connections are closed at once, and a slot
/// frees when a connection closes), requests per connection, and the X-Forwarded-Port
/// override.
#[tokio::test]
async fn connection_cap_requests_per_connection_and_forwarded_port() -> anyhow::Result<()> {
    let (fixture, echo) = start(
        "127.0.9.6",
        &[
            ("max-connections", "2"),
            ("keep-alive-requests", "2"),
            ("forwarded-port", "443"),
        ],
        &[],
    )
    .await?;
    let addr = listener(&fixture)?;

    let mut first = TcpStream::connect(addr).await?;
    first.write_all(&get("/")).await?;
    let (status, body) = read_response(&mut first).await?;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(json["headers"]["x-forwarded-port"], "443");
    // The second request on the connection is its last.
    first.write_all(&get("/")).await?;
    assert_eq!(read_response(&mut first).await?.0, 200);
    wait_closed(&mut first, Duration::from_secs(10)).await?;

    let mut a = TcpStream::connect(addr).await?;
    a.write_all(&get("/")).await?;
    assert_eq!(read_response(&mut a).await?.0, 200);
    let mut b = TcpStream::connect(addr).await?;
    b.write_all(&get("/")).await?;
    assert_eq!(read_response(&mut b).await?.0, 200);
    // A third while two are open: closed without an answer, and the backend sees nothing.
    let hits = echo.hits();
    let mut over = TcpStream::connect(addr).await?;
    let _ = over.write_all(&get("/")).await;
    wait_closed(&mut over, Duration::from_secs(10)).await?;
    assert_eq!(echo.hits(), hits);
    // Once one closes, its slot is free again.
    drop(a);
    let served = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(mut next) = TcpStream::connect(addr).await {
                if next.write_all(&get("/")).await.is_ok() {
                    if let Ok((200, _)) = read_response(&mut next).await {
                        return;
                    }
                }
            }
            // Pacing between attempts (also after a refused connect, which returns at once).
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "no slot freed after a connection closed");
    let samples = prom::scrape(fixture.admin).await?;
    assert!(
        prom::value(
            &samples,
            "gatehouse_downstream_connections_refused_total",
            &[("class", "web"), ("reason", "max_connections")]
        ) >= 1.0
    );
    Ok(())
}

/// nginx's `large-client-header-buffers` sizes: a request line or header line up to SIZE, the
/// head up to NUMBER×SIZE; beyond, 414 or 431 and the connection closes (the rest of the head
/// is never read as a request). Checked as the head arrives.
#[tokio::test]
async fn head_size_limits_answer_414_and_431() -> anyhow::Result<()> {
    let (fixture, echo) = start("127.0.9.7", &[], &["--large-client-header-buffers=2 1k"]).await?;
    let addr = listener(&fixture)?;
    // "GET " + path + " HTTP/1.1" is 1024 bytes exactly: the longest request line allowed.
    let path_at_limit = format!("/{}", "a".repeat(1024 - 4 - 9 - 1));
    let line = |path: &str, headers: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{headers}Connection: close\r\n\r\n")
    };
    let header = |n: usize| format!("x-big: {}\r\n", "b".repeat(n - 7));
    let cases = [
        (line(&path_at_limit, ""), 200),
        (line(&format!("{path_at_limit}a"), ""), 414),
        (line("/", &header(1024)), 200),
        (line("/", &header(1025)), 431),
        (line("/", &header(800).repeat(3)), 431),
    ];
    for (request, want) in cases {
        let hits = echo.hits();
        let mut conn = TcpStream::connect(addr).await?;
        conn.write_all(request.as_bytes()).await?;
        let (status, _) = read_response(&mut conn).await?;
        assert_eq!(status, want, "{}…", &request[..request.len().min(60)]);
        wait_closed(&mut conn, Duration::from_secs(10)).await?;
        assert_eq!(echo.hits(), hits + u64::from(want == 200));
    }
    let samples = prom::scrape(fixture.admin).await?;
    for (reason, n) in [("uri_too_long", 1.0), ("headers_too_large", 2.0)] {
        assert_eq!(
            prom::value(
                &samples,
                "gatehouse_downstream_connections_refused_total",
                &[("class", "web"), ("reason", reason)]
            ),
            n,
            "{reason}"
        );
    }
    Ok(())
}

/// HTTP/2 (prior knowledge on the plain listener): the server announces the stream limit, and a
/// connection without streams is closed after the idle timeout.
#[tokio::test]
async fn http2_stream_limit_and_idle_timeout() -> anyhow::Result<()> {
    let (fixture, _echo) = start(
        "127.0.9.8",
        &[("http2-max-concurrent-streams", "7")],
        &["--http2-idle-timeout=1s"],
    )
    .await?;
    let tcp = TcpStream::connect(listener(&fixture)?).await?;
    let (mut client, mut conn) = h2::client::handshake(tcp).await?;
    let request = http::Request::get(format!("http://{HOST}/"))
        .body(())
        .context("request")?;
    let status = tokio::time::timeout(Duration::from_secs(10), async {
        let (response, _) = client.send_request(request, true)?;
        tokio::select! {
            r = &mut conn => bail!("connection ended before the response: {r:?}"),
            response = response => Ok(response?.status()),
        }
    })
    .await
    .context("HTTP/2 request timed out")??;
    assert_eq!(status, 200);
    assert_eq!(conn.max_concurrent_send_streams(), 7);
    // `client` stays alive, so only the server can end the connection now.
    let idle_since = Instant::now();
    tokio::time::timeout(Duration::from_secs(15), &mut conn)
        .await
        .context("the idle HTTP/2 connection was never closed")?
        .ok();
    assert!(idle_since.elapsed() >= Duration::from_millis(900));
    drop(client);
    Ok(())
}
