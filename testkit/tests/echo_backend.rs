//! The echo backend itself, exercised with real clients on loopback.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{SinkExt as _, StreamExt as _};
use gatehouse_testkit::{free_addr, free_port_on, http_client, EchoBackend, Reply};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn describes_get_request() -> anyhow::Result<()> {
    let echo = EchoBackend::start("alpha", free_addr("127.0.0.1")).await?;
    let client = http_client();
    let response = client
        .get(format!("http://{}/some/path?x=1&y=2", echo.addr()))
        .header("x-multi", "one")
        .header("X-Multi", "two")
        .header("X-Custom", "Value")
        .send()
        .await?;
    let reply = Reply::read(response).await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.backend().as_deref(), Some("alpha"));
    assert_eq!(reply.echoed("method").as_deref(), Some("GET"));
    assert_eq!(reply.echoed("uri").as_deref(), Some("/some/path?x=1&y=2"));
    assert_eq!(reply.echoed("version").as_deref(), Some("HTTP/1.1"));
    assert_eq!(reply.echoed_header("x-multi").as_deref(), Some("one, two"));
    assert_eq!(reply.echoed_header("x-custom").as_deref(), Some("Value"));
    assert_eq!(
        reply.echoed_header("host"),
        Some(echo.addr().to_string()),
        "host header echoed"
    );
    assert_eq!(reply.body_len(), Some(0));
    assert_eq!(echo.hits(), 1);
    Ok(())
}

#[tokio::test]
async fn keep_alive_and_hit_count() -> anyhow::Result<()> {
    let echo = EchoBackend::start("ka", free_addr("127.0.0.2")).await?;
    let client = http_client();
    for i in 0..20 {
        let reply = Reply::read(
            client
                .get(format!("http://{}/n/{i}", echo.addr()))
                .send()
                .await?,
        )
        .await?;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.echoed("uri"), Some(format!("/n/{i}")));
    }
    assert_eq!(echo.hits(), 20);
    Ok(())
}

#[tokio::test]
async fn counts_streamed_post_body() -> anyhow::Result<()> {
    let echo = EchoBackend::start("body", free_addr("127.0.0.1")).await?;
    let client = http_client();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|_| Ok(vec![7u8; 65_536])).collect();
    let response = client
        .post(format!("http://{}/upload", echo.addr()))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await?;
    let reply = Reply::read(response).await?;
    assert_eq!(reply.echoed("method").as_deref(), Some("POST"));
    assert_eq!(reply.body_len(), Some(64 * 65_536));
    assert_eq!(
        reply.echoed_header("transfer-encoding").as_deref(),
        Some("chunked")
    );
    Ok(())
}

#[tokio::test]
async fn status_path_sets_status() -> anyhow::Result<()> {
    let echo = EchoBackend::start("st", free_addr("127.0.0.1")).await?;
    let client = http_client();
    for code in [201u16, 404, 418, 503] {
        let reply = Reply::read(
            client
                .get(format!("http://{}/status/{code}", echo.addr()))
                .send()
                .await?,
        )
        .await?;
        assert_eq!(reply.status, code);
        assert_eq!(reply.backend().as_deref(), Some("st"));
        assert_eq!(reply.echoed("uri"), Some(format!("/status/{code}")));
    }
    Ok(())
}

#[tokio::test]
async fn stream_sends_chunks_over_time() -> anyhow::Result<()> {
    let echo = EchoBackend::start("str", free_addr("127.0.0.1")).await?;
    let client = http_client();
    let started = Instant::now();
    let mut response = client
        .get(format!(
            "http://{}/stream?chunks=4&size=1000&delay_ms=200",
            echo.addr()
        ))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let mut received = Vec::new();
    let mut first_at = None;
    while let Some(chunk) = response.chunk().await? {
        first_at.get_or_insert_with(|| started.elapsed());
        received.extend_from_slice(&chunk);
    }
    let total = started.elapsed();
    let first_at = first_at.context("no chunk received")?;
    assert_eq!(received.len(), 4000);
    assert!(received[..1000].iter().all(|b| *b == b'a'));
    assert!(received[3000..].iter().all(|b| *b == b'd'));
    assert!(
        total - first_at >= Duration::from_millis(500),
        "first chunk at {first_at:?}, end at {total:?}: not streamed"
    );
    Ok(())
}

#[tokio::test]
async fn websocket_round_trip() -> anyhow::Result<()> {
    let echo = EchoBackend::start("ws", free_addr("127.0.0.1")).await?;
    let (mut ws, response) =
        tokio_tungstenite::connect_async(format!("ws://{}/chat", echo.addr())).await?;
    assert_eq!(response.status(), 101);
    ws.send(Message::text("hello")).await?;
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await?
        .context("socket closed")??;
    assert_eq!(reply, Message::text("ws:hello"));
    ws.send(Message::binary(vec![1u8, 2, 3])).await?;
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await?
        .context("socket closed")??;
    assert_eq!(reply, Message::binary(b"ws:\x01\x02\x03".to_vec()));
    ws.close(None).await?;
    assert_eq!(echo.hits(), 1);
    Ok(())
}

#[tokio::test]
async fn drop_stops_listener() -> anyhow::Result<()> {
    let echo = EchoBackend::start("gone", free_addr("127.0.0.1")).await?;
    let addr = echo.addr();
    let client = http_client();
    assert_eq!(
        client.get(format!("http://{addr}/")).send().await?.status(),
        200
    );
    drop(echo);
    // The accept loop notices the shutdown asynchronously; allow it a bounded moment.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "listener still accepting after drop");
    Ok(())
}

#[tokio::test]
async fn shared_port_on_several_ips() -> anyhow::Result<()> {
    let ips = ["127.0.0.61", "127.0.0.62", "127.0.0.63"];
    let port = free_port_on(&ips);
    let mut backends = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        backends.push(EchoBackend::start(&format!("b{i}"), format!("{ip}:{port}").parse()?).await?);
    }
    let client = http_client();
    for (i, backend) in backends.iter().enumerate() {
        assert_eq!(backend.addr().port(), port);
        let reply = Reply::read(
            client
                .get(format!("http://{}/", backend.addr()))
                .send()
                .await?,
        )
        .await?;
        assert_eq!(reply.backend(), Some(format!("b{i}")));
    }
    Ok(())
}

#[tokio::test]
async fn process_harness_captures_output_and_kills() -> anyhow::Result<()> {
    let script = "echo out-line; echo err-line >&2; exec sleep 30".to_string();
    let process = gatehouse_testkit::Gatehouse::start(
        std::path::Path::new("/bin/sh"),
        &["-c".to_string(), script],
    )?;
    process
        .wait_for_stderr("err-line", Duration::from_secs(10))
        .await?;
    for _ in 0..100 {
        if !process.stdout_lines().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(process.stdout_lines(), vec!["out-line".to_string()]);
    assert!(process.exited().is_none());
    let missing = process
        .wait_for_stderr("never printed", Duration::from_millis(100))
        .await;
    assert!(missing.is_err());
    drop(process);
    Ok(())
}
