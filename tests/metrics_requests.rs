//! /metrics after real traffic through the real binary: request counters and histogram counts
//! move by exactly the number of requests sent, with the route's labels; unmatched requests are
//! counted under `-`; a Service without ready endpoints is counted as 503; upstream failures,
//! open connections and the controller's gauges are visible.

mod obs_support;

use std::time::{Duration, Instant};

use gatehouse_testkit::net::RefusingPort;
use gatehouse_testkit::prom::{histogram_count, scrape, sum, value, Sample};
use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, EchoBackend, Fixture, InstanceSpec};
use obs_support::{bin, scrape_counted};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const CLASS: &str = "web";
const NS: &str = "default";

/// Routes: app.test → echo `app`; down.test → `down` (no ready endpoint); refused.test →
/// `gone` (a ready endpoint where nothing listens).
/// A running gatehouse with three routes: `app.test` (an echo backend), `down.test` (no ready
/// endpoint) and `refused.test` (an endpoint that refuses connections while the fixture lives).
struct Setup {
    fixture: Fixture,
    echo: EchoBackend,
    _refusing: RefusingPort,
}

async fn setup(ip: &str) -> anyhow::Result<Setup> {
    let (echo, app) = echo_service(NS, "app", ip).await?;
    let down = yaml::backend(NS, "down", free_addr(ip).port(), &[(ip, false)]);
    let refusing = RefusingPort::open(ip);
    let gone = yaml::backend(NS, "gone", refusing.addr.port(), &[(ip, true)]);
    let ingress = |name: &str, host: &str, service: &str| {
        Ingress::new(NS, name)
            .class(CLASS)
            .path(host, "/", PathType::Prefix, service, "http")
            .yaml()
    };
    let fixture = Fixture::start(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &[
            ("app.yaml", app),
            ("down.yaml", down),
            ("gone.yaml", gone),
            ("ing-app.yaml", ingress("app", "app.test", "app")),
            ("ing-down.yaml", ingress("down", "down.test", "down")),
            ("ing-gone.yaml", ingress("gone", "refused.test", "gone")),
        ],
    )
    .await?;
    Ok(Setup {
        fixture,
        echo,
        _refusing: refusing,
    })
}

fn route(ingress: &'static str) -> [(&'static str, &'static str); 4] {
    [
        ("class", CLASS),
        ("namespace", NS),
        ("ingress", ingress),
        ("service", ingress),
    ]
}

#[tokio::test]
async fn request_counters_and_histograms_move_by_exactly_the_requests_sent() -> anyhow::Result<()> {
    const N: usize = 7;
    let Setup {
        fixture,
        echo,
        _refusing,
    } = setup("127.0.9.1").await?;
    let before = scrape(fixture.admin).await?;

    for i in 0..N {
        let reply = fixture
            .get(CLASS, "app.test", &format!("/hello/{i}?q={i}"))
            .await?;
        assert_eq!(reply.status, 200, "{}", reply.summary());
    }
    let unmatched = fixture.get(CLASS, "nope.test", "/missing").await?;
    assert_eq!(unmatched.status, 404);
    let down = fixture.get(CLASS, "down.test", "/").await?;
    assert_eq!(down.status, 503);
    assert_eq!(echo.hits(), N as u64, "every 200 reached the backend");

    let counted_before = sum(
        &before,
        "gatehouse_http_requests_total",
        &[("class", CLASS)],
    );
    let after = scrape_counted(fixture.admin, CLASS, counted_before + (N + 2) as f64).await?;
    let delta = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels) - value(&before, metric, labels)
    };
    let hist_delta = |metric: &str, labels: &[(&str, &str)]| {
        histogram_count(&after, metric, labels) - histogram_count(&before, metric, labels)
    };
    let requests = "gatehouse_http_requests_total";
    let app = route("app");
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut l = app.to_vec();
        l.extend_from_slice(extra);
        l
    };
    assert_eq!(
        delta(requests, &with(&[("method", "GET"), ("status", "200")])),
        N as f64
    );
    assert_eq!(
        sum(&after, requests, &app) - sum(&before, requests, &app),
        N as f64,
        "no other status or method for app"
    );
    assert_eq!(
        hist_delta("gatehouse_http_request_duration_seconds", &app),
        N as f64
    );
    assert_eq!(
        hist_delta("gatehouse_upstream_header_duration_seconds", &app),
        N as f64
    );
    // The client keeps its connection, so gatehouse connects to the echo backend at least once
    // and reuses the pooled connection for the rest; every request is one of the two.
    let connects = hist_delta("gatehouse_upstream_connect_duration_seconds", &app);
    assert!((1.0..=N as f64).contains(&connects), "connects {connects}");
    let upstream = "gatehouse_upstream_connections_total";
    let fresh = delta(upstream, &[("class", CLASS), ("reused", "false")]);
    let reused = delta(upstream, &[("class", CLASS), ("reused", "true")]);
    assert_eq!(fresh + reused, N as f64);
    assert_eq!(fresh, connects);
    // Bytes: the request heads (at least "GET /hello/0 HTTP/1.1") and the echoed JSON bodies.
    let req_bytes = delta("gatehouse_http_request_bytes_total", &app);
    let resp_bytes = delta("gatehouse_http_response_bytes_total", &app);
    assert!(req_bytes >= (N * 20) as f64, "request bytes {req_bytes}");
    assert!(
        resp_bytes >= (N * 100) as f64,
        "response bytes {resp_bytes}"
    );

    let unmatched = [
        ("class", CLASS),
        ("namespace", "-"),
        ("ingress", "-"),
        ("service", "-"),
    ];
    let mut unmatched_404 = unmatched.to_vec();
    unmatched_404.push(("status", "404"));
    assert_eq!(delta(requests, &unmatched_404), 1.0);
    assert_eq!(
        hist_delta("gatehouse_http_request_duration_seconds", &unmatched),
        1.0
    );
    let mut down_503 = route("down").to_vec();
    down_503.push(("status", "503"));
    assert_eq!(delta(requests, &down_503), 1.0);
    assert_eq!(
        sum(&after, requests, &[("class", CLASS)]) - sum(&before, requests, &[("class", CLASS)]),
        (N + 2) as f64,
        "nothing else was counted"
    );
    assert_eq!(
        value(
            &after,
            "gatehouse_http_requests_in_flight",
            &[("class", CLASS)]
        ),
        0.0
    );
    Ok(())
}

#[tokio::test]
async fn upstream_failures_are_counted_by_kind() -> anyhow::Result<()> {
    let Setup {
        fixture,
        echo: _echo,
        _refusing,
    } = setup("127.0.9.2").await?;
    let before = scrape(fixture.admin).await?;
    let reply = fixture.get(CLASS, "refused.test", "/").await?;
    assert_eq!(reply.status, 502, "{}", reply.summary());
    let counted_before = sum(
        &before,
        "gatehouse_http_requests_total",
        &[("class", CLASS)],
    );
    let after = scrape_counted(fixture.admin, CLASS, counted_before + 1.0).await?;
    let mut refused = route("gone").to_vec();
    refused.push(("kind", "connect_refused"));
    let errors = "gatehouse_upstream_errors_total";
    assert_eq!(
        value(&after, errors, &refused) - value(&before, errors, &refused),
        1.0
    );
    let mut status = route("gone").to_vec();
    status.push(("status", "502"));
    let requests = "gatehouse_http_requests_total";
    assert_eq!(
        value(&after, requests, &status) - value(&before, requests, &status),
        1.0
    );
    Ok(())
}

#[tokio::test]
async fn open_connections_follow_a_keepalive_client() -> anyhow::Result<()> {
    let Setup {
        fixture,
        echo: _echo,
        _refusing,
    } = setup("127.0.9.3").await?;
    let open = |s: &[Sample]| {
        value(
            s,
            "gatehouse_downstream_connections_open",
            &[("class", CLASS)],
        )
    };
    // Every accepted connection counts, the readiness probe's included: it was made before
    // /readyz turned 200 and is counted once its close has been seen.
    let accepted = |s: &[Sample]| {
        value(
            s,
            "gatehouse_downstream_connections_total",
            &[("class", CLASS)],
        )
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let before = loop {
        let s = scrape(fixture.admin).await?;
        if accepted(&s) >= 1.0 && open(&s) == 0.0 {
            break s;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the readiness probe was never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let accepted_before = accepted(&before);

    let mut conn = tokio::net::TcpStream::connect(fixture.http(CLASS)).await?;
    for _ in 0..2 {
        conn.write_all(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
            .await?;
        read_one_response(&mut conn).await?;
    }
    let s = scrape_counted(fixture.admin, CLASS, 2.0).await?;
    assert_eq!(open(&s), 1.0, "one keep-alive connection, two requests");
    assert_eq!(accepted(&s) - accepted_before, 1.0);

    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now_open = open(&scrape(fixture.admin).await?);
        if now_open == 0.0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "still {now_open} open 10 s after close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Reads one HTTP/1.1 response with a Content-Length body (bounded: 5 s, 64 KiB).
async fn read_one_response(conn: &mut tokio::net::TcpStream) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let len = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + len {
                return Ok(text);
            }
        }
        anyhow::ensure!(buf.len() < 65536, "response too large");
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline.into(), conn.read(&mut chunk)).await??;
        anyhow::ensure!(n > 0, "connection closed mid-response: {text}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn controller_gauges_describe_the_published_tables() -> anyhow::Result<()> {
    let Setup {
        fixture,
        echo: _echo,
        _refusing,
    } = setup("127.0.9.4").await?;
    let s = scrape(fixture.admin).await?;
    let class = [("class", CLASS)];
    assert!(value(&s, "gatehouse_route_table_generation", &class) >= 1.0);
    assert!(value(&s, "gatehouse_route_table_swaps_total", &class) >= 1.0);
    assert!(
        value(
            &s,
            "gatehouse_route_table_last_swap_timestamp_seconds",
            &class
        ) > 1.6e9
    );
    assert!(
        histogram_count(
            &s,
            "gatehouse_route_table_translate_duration_seconds",
            &class
        ) >= 1.0
    );
    assert_eq!(
        value(&s, "gatehouse_snapshot_objects", &[("kind", "Ingress")]),
        3.0
    );
    assert_eq!(
        value(&s, "gatehouse_snapshot_objects", &[("kind", "Service")]),
        3.0
    );
    let ready = |svc| {
        value(
            &s,
            "gatehouse_service_ready_endpoints",
            &[("namespace", NS), ("service", svc)],
        )
    };
    assert_eq!(
        (ready("app"), ready("down"), ready("gone")),
        (1.0, 0.0, 1.0)
    );
    // The built-in default certificate is served for any name.
    let not_after = value(
        &s,
        "gatehouse_certificate_not_after_timestamp_seconds",
        &[("class", CLASS), ("host", "*")],
    );
    assert!(not_after > 1.6e9, "default certificate expiry {not_after}");
    assert!(s.iter().any(|x| x.metric == "gatehouse_build_info"));

    // A broken Ingress shows up as a warning of its kind.
    let broken = Ingress::new(NS, "broken")
        .class(CLASS)
        .path("broken.test", "/", PathType::Prefix, "nowhere", "http")
        .yaml();
    fixture.apply("broken.yaml", &broken, CLASS).await?;
    let s = scrape(fixture.admin).await?;
    assert_eq!(
        value(
            &s,
            "gatehouse_translate_warnings",
            &[("class", CLASS), ("kind", "MissingService")]
        ),
        1.0
    );
    Ok(())
}

/// `upstream-keepalive-connections` sizes each instance's pool of idle upstream connections:
/// two requests in flight at once use two upstream connections; a pool of one keeps one of
/// them for the next pair, the default pool keeps both.
#[tokio::test]
async fn the_upstream_pool_is_sized_per_instance() -> anyhow::Result<()> {
    let (echo, app) = echo_service(NS, "app", "127.0.9.12").await?;
    let route = |class: &str, host: &str| {
        Ingress::new(NS, host)
            .class(class)
            .path(host, "/", PathType::Prefix, "app", "http")
            .yaml()
    };
    let fixture = Fixture::start(
        bin(),
        vec![
            InstanceSpec::http(CLASS, free_addr("127.0.0.1")),
            InstanceSpec::http("small", free_addr("127.0.0.1"))
                .setting("upstream-keepalive-connections", "1"),
        ],
        &[
            ("app.yaml", app),
            ("pooled.yaml", route(CLASS, "pooled.test")),
            ("small.yaml", route("small", "small.test")),
        ],
    )
    .await?;
    // Each answer streams for about a second, so the two of a pair overlap at the backend
    // (checked below with its most-in-flight count).
    let slow = "/stream?chunks=2&size=8&delay_ms=1000";
    for (class, host, fresh_want, reused_want) in [
        (CLASS, "pooled.test", 2.0, 2.0),
        ("small", "small.test", 3.0, 1.0),
    ] {
        for _pair in 0..2 {
            let (a, b) = tokio::join!(
                fixture.get(class, host, slow),
                fixture.get(class, host, slow)
            );
            for reply in [a?, b?] {
                assert_eq!(reply.status, 200, "{}", reply.summary());
            }
        }
        let samples = scrape_counted(fixture.admin, class, 4.0).await?;
        let upstream = "gatehouse_upstream_connections_total";
        let fresh = value(&samples, upstream, &[("class", class), ("reused", "false")]);
        let reused = value(&samples, upstream, &[("class", class), ("reused", "true")]);
        assert_eq!((fresh, reused), (fresh_want, reused_want), "{class}");
    }
    assert_eq!(
        echo.most_in_flight(),
        2,
        "the requests of a pair overlapped"
    );
    Ok(())
}
