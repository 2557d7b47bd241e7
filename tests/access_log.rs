//! The JSON access log on stdout of the real binary: one line per request with the documented
//! fields; the request id the upstream saw is the logged one; a client's X-Request-ID is kept;
//! `--access-log off` writes nothing; `--log-format json` makes stderr JSON.

mod obs_support;

use anyhow::Context as _;
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, EchoBackend, Fixture, InstanceSpec, Reply};
use obs_support::{bin, scrape_counted};
use serde_json::Value;

const CLASS: &str = "web";
const NS: &str = "shop";

async fn setup(ip: &str, args: &[&str]) -> anyhow::Result<(Fixture, EchoBackend)> {
    let (echo, svc) = echo_service(NS, "cart", ip).await?;
    let route = Ingress::new(NS, "storefront")
        .class(CLASS)
        .path("shop.test", "/cart", PathType::Prefix, "cart", "http")
        .yaml();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let fixture = Fixture::start_with_args(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &[("svc.yaml", svc), ("route.yaml", route)],
        &args,
    )
    .await?;
    Ok((fixture, echo))
}

async fn get_with_id(fixture: &Fixture, path: &str, id: Option<&str>) -> anyhow::Result<Reply> {
    let mut req = fixture
        .client
        .get(format!("http://{}{path}", fixture.http(CLASS)))
        .header("host", "shop.test");
    if let Some(id) = id {
        req = req.header("x-request-id", id);
    }
    Reply::read(req.send().await?).await
}

#[tokio::test]
async fn one_json_line_per_request_with_the_id_the_upstream_saw() -> anyhow::Result<()> {
    let (fixture, echo) = setup("127.0.10.1", &[]).await?;
    let reply = get_with_id(&fixture, "/cart/items?secret=token", None).await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    let id = reply
        .echoed_header("x-request-id")
        .context("the upstream received no X-Request-ID")?;
    assert_eq!(id.len(), 32, "generated id: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");

    let line = fixture.access_log_line(&id).await?;
    assert_eq!(line["class"], CLASS);
    assert_eq!(line["namespace"], NS);
    assert_eq!(line["ingress"], "storefront");
    assert_eq!(line["service"], "cart");
    assert_eq!(line["upstream_addr"], echo.addr().to_string());
    assert_eq!(line["method"], "GET");
    assert_eq!(line["host"], "shop.test");
    assert_eq!(line["path"], "/cart/items", "no query string: {line}");
    assert!(line.get("query").is_none(), "{line}");
    assert!(!line.to_string().contains("secret=token"), "{line}");
    assert_eq!(line["status"], 200);
    assert_eq!(line["client_ip"], "127.0.0.1");
    assert_eq!(
        line["response_bytes"].as_u64(),
        Some(reply.body.len() as u64 + response_head_len(&reply)),
        "{line}"
    );
    assert!(
        line["request_bytes"].as_u64().is_some_and(|n| n > 30),
        "{line}"
    );
    let total = line["duration_ms"].as_f64().context("duration_ms")?;
    let upstream = line["upstream_duration_ms"]
        .as_f64()
        .context("upstream_duration_ms")?;
    assert!(upstream > 0.0 && upstream <= total, "{line}");
    let time = line["time"].as_str().context("time")?;
    assert!(
        time.ends_with('Z') && time.len() >= 20 && &time[10..11] == "T",
        "{time}"
    );
    Ok(())
}

/// The response head as gatehouse accounts it: status line, headers, blank line.
fn response_head_len(reply: &Reply) -> u64 {
    let status = reqwest::StatusCode::from_u16(reply.status).expect("status");
    let line = format!(
        "HTTP/1.1 {} {}\r\n",
        reply.status,
        status.canonical_reason().unwrap_or("")
    );
    let headers: usize = reply
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
        .sum();
    (line.len() + headers + 2) as u64
}

#[tokio::test]
async fn a_client_request_id_is_propagated_and_unmatched_requests_are_logged() -> anyhow::Result<()>
{
    let (fixture, _echo) = setup("127.0.10.2", &[]).await?;
    let reply = get_with_id(&fixture, "/cart", Some("client-chosen-42")).await?;
    assert_eq!(
        reply.echoed_header("x-request-id").as_deref(),
        Some("client-chosen-42")
    );
    let line = fixture.access_log_line("client-chosen-42").await?;
    assert_eq!(line["status"], 200);

    let reply = get_with_id(&fixture, "/elsewhere", Some("unmatched-1")).await?;
    assert_eq!(reply.status, 404);
    let line = fixture.access_log_line("unmatched-1").await?;
    assert_eq!(line["status"], 404);
    assert_eq!(line["ingress"], Value::Null);
    assert_eq!(line["upstream_addr"], Value::Null);
    assert_eq!(line["path"], "/elsewhere");
    Ok(())
}

#[tokio::test]
async fn access_log_off_writes_nothing_and_log_format_json_is_json() -> anyhow::Result<()> {
    let (fixture, echo) = setup(
        "127.0.10.3",
        &["--access-log", "off", "--log-format", "json"],
    )
    .await?;
    for _ in 0..3 {
        assert_eq!(get_with_id(&fixture, "/cart", None).await?.status, 200);
    }
    assert_eq!(echo.hits(), 3);
    // Anchor for the negative: the three requests are counted, and the counting and the
    // access-log line happen in the same call of the logging phase (metrics first).
    scrape_counted(fixture.admin, CLASS, 3.0).await?;
    assert_eq!(fixture.gatehouse.stdout_lines(), Vec::<String>::new());

    let stderr = fixture.gatehouse.stderr_text();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "gatehouse logged nothing on stderr");
    for line in &lines {
        let json: Value = serde_json::from_str(line)
            .with_context(|| format!("--log-format json wrote a non-JSON line: {line}"))?;
        assert!(
            json.get("level").is_some() && json.get("timestamp").is_some(),
            "{line}"
        );
    }
    assert!(stderr.contains("gatehouse starting"), "{stderr}");
    Ok(())
}

#[tokio::test]
async fn buffered_lines_are_written_at_shutdown() -> anyhow::Result<()> {
    // The flush timer is a minute away (the longest allowed) and the buffer far from full:
    // only the flush on the way out can write the line.
    let (fixture, _echo) = setup(
        "127.0.10.4",
        &[
            "--access-log-flush",
            "1m",
            "--shutdown-delay",
            "1s",
            "--shutdown-grace",
            "1s",
        ],
    )
    .await?;
    let reply = get_with_id(&fixture, "/cart", Some("kept-until-exit")).await?;
    assert_eq!(reply.status, 200);
    // Anchor: the request was recorded (metrics and the access log line, in one call).
    scrape_counted(fixture.admin, CLASS, 1.0).await?;
    assert_eq!(fixture.gatehouse.stdout_lines(), Vec::<String>::new());
    fixture.gatehouse.terminate()?;
    let line = fixture.access_log_line("kept-until-exit").await?;
    assert_eq!(line["status"], 200);
    Ok(())
}
