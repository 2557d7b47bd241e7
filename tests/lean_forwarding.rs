//! The lean forwarding loop (`--lean-forwarding`, on by default) against Pingora's generic loop
//! (`--lean-forwarding false`): the same requests through two gatehouses in front of one
//! scripted backend must give the client the same bytes and the backend the same request
//! heads (but for the request id), whatever the response's framing — Content-Length, chunked,
//! HTTP/1.0 until close, none (HEAD, 204, 304), cut short — over HTTP/1.1 and HTTP/2; and the
//! lean loop keeps its upstream connections alive and gets past one the backend closed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_testkit::client::client_builder;
use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{any_port, free_addr, raw_http, Fixture, InstanceSpec};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const NS: &str = "default";
const CLASS: &str = "web";
const HOST: &str = "lean.test";
/// Bound on one raw exchange's wait for the server to close.
const WAIT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// What the scripted backend has seen: each request head, and how many connections.
#[derive(Default)]
struct Seen {
    heads: Vec<String>,
    connections: usize,
}

/// A backend that answers by path, with the framing each path names; keeps connections alive
/// unless the path says otherwise.
async fn scripted(
    addr: SocketAddr,
) -> anyhow::Result<(u16, Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let port = listener.local_addr()?.port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if let Ok(mut s) = record.lock() {
                s.connections += 1;
            }
            tokio::spawn(serve(stream, record.clone()));
        }
    });
    Ok((port, seen, task))
}

/// Serves one connection's requests (bodiless ones: heads only) until a path closes it.
async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Seen>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        buf.drain(..head_end);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        if let Ok(mut s) = seen.lock() {
            s.heads.push(head);
        }
        let (answer, close): (&[u8], bool) = match path.as_str() {
            "/length" => (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: length\r\n\r\nhello", false),
            "/chunked" => (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
                false,
            ),
            "/until-close" => (b"HTTP/1.0 200 OK\r\nX-Kind: old\r\n\r\nuntil the end", true),
            "/no-content" => (b"HTTP/1.1 204 No Content\r\n\r\n", false),
            "/not-modified" => (b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", false),
            "/early-hints" => (
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                false,
            ),
            "/cut" => (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b", true),
            "/hop" => (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, x-drop\r\nX-Drop: 1\r\nKeep-Alive: timeout=5\r\n\r\nok",
                false,
            ),
            // Answers, then closes without saying so: the next request on this connection
            // finds it gone.
            "/then-close" => (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngone", true),
            _ => (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false),
        };
        if stream.write_all(answer).await.is_err() || close {
            return;
        }
    }
}

/// The request head with the request id's value masked (it differs per request).
fn masked(head: &str) -> String {
    head.split("\r\n")
        .map(|line| match line.split_once(':') {
            Some((name, _)) if name.eq_ignore_ascii_case("x-request-id") => "x-request-id: *",
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A raw response as the client would read it: the head with `Date` masked (the two loops
/// answer in different seconds now and then), and the body with chunked framing decoded (chunk
/// boundaries are the writer's choice; Pingora's loop joins chunks it read together).
fn normalised(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head: Vec<&str> = head
        .split("\r\n")
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("date:") {
                "date: *"
            } else {
                l
            }
        })
        .collect();
    let chunked = head
        .iter()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    format!("{}\r\n\r\n{body}", head.join("\r\n"))
}

/// The data of a chunked body; a malformed or unfinished one is marked as such.
fn dechunk(mut body: &str) -> String {
    let mut data = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else {
            return data + "<unfinished>";
        };
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            return data + "<malformed>";
        };
        if size == 0 {
            return data + if rest == "\r\n" { "" } else { "<trailing>" };
        }
        let Some(chunk) = rest.get(..size) else {
            return data + "<unfinished>";
        };
        data.push_str(chunk);
        body = rest.get(size + 2..).unwrap_or("");
    }
}

fn last_head(seen: &Arc<Mutex<Seen>>) -> String {
    seen.lock()
        .map(|s| s.heads.last().cloned().unwrap_or_default())
        .unwrap_or_default()
}

async fn start(backend_port: u16, extra: &[&str]) -> anyhow::Result<Fixture> {
    start_at(backend_port, "127.0.14.1", extra).await
}

/// A gatehouse routing [`HOST`] to the backend at `backend_ip:backend_port`.
async fn start_at(backend_port: u16, backend_ip: &str, extra: &[&str]) -> anyhow::Result<Fixture> {
    let route = Ingress::new(NS, "lean")
        .class(CLASS)
        .path(HOST, "/", PathType::Prefix, "scripted", "http")
        .yaml();
    let svc = yaml::backend(NS, "scripted", backend_port, &[(backend_ip, true)]);
    let args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    Fixture::start_with_args(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.14.2"))],
        &[("svc.yaml", svc), ("route.yaml", route)],
        &args,
    )
    .await
}

/// Sends `method path` with `Connection: close` and returns every byte that came back.
async fn raw(fixture: &Fixture, method: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: lean-test\r\nConnection: close\r\n\r\n"
    );
    let exchange = raw_http::exchange_raw(fixture.http(CLASS), request.as_bytes(), WAIT).await?;
    anyhow::ensure!(
        exchange.closed,
        "{method} {path}: not closed: {}",
        exchange.summary()
    );
    Ok(exchange.received)
}

#[tokio::test]
async fn both_loops_give_the_same_answers_and_send_the_same_requests() -> anyhow::Result<()> {
    let (port, seen, task) = scripted(any_port("127.0.14.1")).await?;
    let lean = start(port, &[]).await?;
    let generic = start(port, &["--lean-forwarding=false"]).await?;
    let cases = [
        ("GET", "/length"),
        ("HEAD", "/length"),
        ("GET", "/chunked"),
        ("GET", "/until-close"),
        ("GET", "/no-content"),
        ("GET", "/not-modified"),
        ("GET", "/hop"),
        ("GET", "/cut"),
        ("GET", "/missing"),
    ];
    for (method, path) in cases {
        let by_lean = raw(&lean, method, path).await?;
        let lean_head = masked(&last_head(&seen));
        let by_generic = raw(&generic, method, path).await?;
        let generic_head = masked(&last_head(&seen));
        assert_eq!(
            normalised(&by_lean),
            normalised(&by_generic),
            "{method} {path}: the client's responses differ (left: lean loop)"
        );
        assert_eq!(
            lean_head, generic_head,
            "{method} {path}: the backend's request heads differ (left: lean loop)"
        );
        assert!(
            lean_head.starts_with(&format!("{method} {path} HTTP/1.1\r\n")),
            "{lean_head}"
        );
        println!("{method} {path}: {:?}", String::from_utf8_lossy(&by_lean));
    }
    // What the lean loop made of them, spelled out for the cases that differ from the
    // backend's bytes: HTTP/1.0 until close becomes chunked, hop-by-hop headers go, a body cut
    // short leaves the client's connection closed without the rest.
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).to_ascii_lowercase();
    let old = text(raw(&lean, "GET", "/until-close").await?);
    assert!(
        old.starts_with("http/1.1 200") && old.contains("transfer-encoding: chunked"),
        "{old}"
    );
    assert!(old.contains("until the end"), "{old}");
    let hop = text(raw(&lean, "GET", "/hop").await?);
    assert!(
        !hop.contains("x-drop") && !hop.contains("timeout=5"),
        "{hop}"
    );
    assert_eq!(dechunk("3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"), "abcdefg");
    let cut = text(raw(&lean, "GET", "/cut").await?);
    assert!(
        cut.starts_with("http/1.1 200") && cut.ends_with("only ten b"),
        "{cut}"
    );
    // The one difference, on purpose: informational responses. Pingora's loop passes a 103
    // on; the lean loop drops it, as nginx does. (Also the proof that GETs take the lean loop.)
    let early = text(raw(&lean, "GET", "/early-hints").await?);
    assert!(
        early.starts_with("http/1.1 200") && early.ends_with("ok"),
        "{early}"
    );
    let early = text(raw(&generic, "GET", "/early-hints").await?);
    assert!(early.starts_with("http/1.1 103"), "{early}");
    // A body cut short on a kept-alive connection: the client's connection is closed too, so it
    // does not wait for the rest.
    let request = format!("GET /cut HTTP/1.1\r\nHost: {HOST}\r\n\r\n");
    let kept = raw_http::exchange_raw(lean.http(CLASS), request.as_bytes(), WAIT).await?;
    assert!(kept.closed, "{}", kept.summary());
    let head = last_head(&seen);
    assert!(
        !head.to_ascii_lowercase().contains("connection:"),
        "Connection is not forwarded: {head}"
    );

    // HTTP/2 from the client (prior knowledge, the host in the authority), HTTP/1.1 to the
    // backend.
    for (path, want) in [
        ("/length", 200),
        ("/chunked", 200),
        ("/until-close", 200),
        ("/no-content", 204),
    ] {
        let mut answers = Vec::new();
        for fixture in [&lean, &generic] {
            let addr = fixture.http(CLASS);
            let h2 = client_builder()
                .http2_prior_knowledge()
                .resolve(HOST, addr)
                .build()?;
            let url = format!("http://{HOST}:{}{path}", addr.port());
            let reply = h2.get(url).send().await?;
            let status = reply.status().as_u16();
            assert_eq!(status, want, "HTTP/2 {path}");
            assert_eq!(reply.version(), reqwest::Version::HTTP_2);
            let mut headers: Vec<String> = reply
                .headers()
                .iter()
                .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
                .collect();
            headers.retain(|h| !h.starts_with("date:"));
            headers.sort();
            let body = reply.bytes().await?;
            // The two gatehouses listen on different ports, which the authority names.
            let head = masked(&last_head(&seen)).replace(&addr.port().to_string(), "PORT");
            answers.push((status, headers, body, head));
        }
        assert_eq!(answers[0], answers[1], "HTTP/2 {path} (left: lean loop)");
        println!("h2 {path}: {:?}", answers[0]);
    }
    task.abort();
    Ok(())
}

#[tokio::test]
async fn the_lean_loop_keeps_upstream_connections_and_gets_past_a_closed_one() -> anyhow::Result<()>
{
    let (port, seen, task) = scripted(any_port("127.0.14.3")).await?;
    let fixture = start_at(port, "127.0.14.3", &[]).await?;
    let url = format!("http://{}/length", fixture.http(CLASS));
    let before = seen.lock().map(|s| s.connections).unwrap_or(0);
    for _ in 0..5 {
        let reply = fixture.client.get(&url).header("host", HOST).send().await?;
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.text().await?, "hello");
    }
    let opened = seen.lock().map(|s| s.connections).unwrap_or(0) - before;
    assert_eq!(
        opened, 1,
        "five requests in a row share one upstream connection"
    );

    // The backend closes after each answer without saying so: the pooled connection is gone
    // (or about to be) when the next request takes it, and that request is sent again.
    let url = format!("http://{}/then-close", fixture.http(CLASS));
    for i in 0..5 {
        let reply = fixture.client.get(&url).header("host", HOST).send().await?;
        assert_eq!(reply.status(), 200, "request {i}");
        assert_eq!(reply.text().await?, "gone");
    }
    task.abort();
    Ok(())
}
