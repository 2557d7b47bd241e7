//! Endpoints over real HTTP: round-robin spread, readiness, port by name/number, 503, 502, retry.

use std::path::Path;

use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{
    any_port, echo_service, free_addr, free_port_on, EchoBackend, Fixture, InstanceSpec,
};

const NS: &str = "default";
const CLASS: &str = "web";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn route(name: &str, host: &str, service: &str, port: yaml::PortRef) -> String {
    Ingress::new(NS, name)
        .class(CLASS)
        .path(host, "/", PathType::Prefix, service, port)
        .yaml()
}

async fn start(files: &[(&str, String)]) -> anyhow::Result<Fixture> {
    Fixture::start(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        files,
    )
    .await
}

#[tokio::test]
async fn ten_ready_endpoints_all_serve_and_not_ready_never_serves() -> anyhow::Result<()> {
    let ips: Vec<String> = (1..=11).map(|i| format!("127.0.4.{i}")).collect();
    let ip_refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    let port = free_port_on(&ip_refs);
    let mut backends = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        backends
            .push(EchoBackend::start(&format!("ep{i}"), format!("{ip}:{port}").parse()?).await?);
    }
    // The 11th endpoint is listed but not ready: it must never receive traffic.
    let endpoints: Vec<(&str, bool)> = ip_refs
        .iter()
        .enumerate()
        .map(|(i, ip)| (*ip, i < 10))
        .collect();
    let fixture = start(&[
        (
            "spread-svc.yaml",
            yaml::backend(NS, "spread", port, &endpoints),
        ),
        (
            "spread.yaml",
            route("spread", "spread.test", "spread", "http".into()),
        ),
    ])
    .await?;

    let mut failures = Vec::new();
    for i in 0..100 {
        let reply = fixture
            .get(CLASS, "spread.test", &format!("/r/{i}"))
            .await?;
        if reply.status != 200 {
            failures.push(reply.summary());
        }
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    let hits: Vec<u64> = backends.iter().map(EchoBackend::hits).collect();
    println!("hits per endpoint after 100 requests: {hits:?}");
    assert!(
        hits[..10].iter().all(|h| *h > 0),
        "not every ready endpoint served: {hits:?}"
    );
    assert_eq!(
        hits[10], 0,
        "the not-ready endpoint served traffic: {hits:?}"
    );
    assert_eq!(hits.iter().sum::<u64>(), 100);
    Ok(())
}

#[tokio::test]
async fn service_port_by_name_and_by_number() -> anyhow::Result<()> {
    // Service "multi": port "http" (80) and port "admin" (81), each with its own EndpointSlice.
    let web = EchoBackend::start("web-port", any_port("127.0.4.21")).await?;
    let admin = EchoBackend::start("admin-port", any_port("127.0.4.22")).await?;
    let manifests = yaml::documents(&[
        yaml::service(NS, "multi", &[("http", 80), ("admin", 81)]),
        yaml::endpoint_slice(
            NS,
            "multi-http",
            "multi",
            "http",
            web.addr().port(),
            &[("127.0.4.21", true)],
        ),
        yaml::endpoint_slice(
            NS,
            "multi-admin",
            "multi",
            "admin",
            admin.addr().port(),
            &[("127.0.4.22", true)],
        ),
        route("by-name-http", "name-http.test", "multi", "http".into()),
        route("by-name-admin", "name-admin.test", "multi", "admin".into()),
        route("by-number-80", "number-80.test", "multi", 80.into()),
        route("by-number-81", "number-81.test", "multi", 81.into()),
    ]);
    let fixture = start(&[("multi.yaml", manifests)]).await?;
    for (host, want) in [
        ("name-http.test", "web-port"),
        ("name-admin.test", "admin-port"),
        ("number-80.test", "web-port"),
        ("number-81.test", "admin-port"),
    ] {
        let reply = fixture.get(CLASS, host, "/").await?;
        assert_eq!(
            (reply.status, reply.backend().as_deref()),
            (200, Some(want)),
            "Host {host}: {}",
            reply.summary()
        );
    }
    Ok(())
}

#[tokio::test]
async fn no_ready_endpoint_is_503() -> anyhow::Result<()> {
    let idle = EchoBackend::start("idle", any_port("127.0.4.31")).await?;
    let manifests = yaml::documents(&[
        // A Service without any EndpointSlice.
        yaml::service(NS, "empty", &[("http", 80)]),
        // A Service whose only endpoint is not ready.
        yaml::backend(NS, "unready", idle.addr().port(), &[("127.0.4.31", false)]),
        route("empty", "empty.test", "empty", "http".into()),
        route("unready", "unready.test", "unready", "http".into()),
    ]);
    let fixture = start(&[("empty.yaml", manifests)]).await?;
    for host in ["empty.test", "unready.test"] {
        let reply = fixture.get(CLASS, host, "/").await?;
        assert_eq!(
            (reply.status, reply.backend()),
            (503, None),
            "Host {host}: {}",
            reply.summary()
        );
    }
    assert_eq!(idle.hits(), 0);
    Ok(())
}

#[tokio::test]
async fn refused_connection_is_502() -> anyhow::Result<()> {
    // Nothing listens on this address once free_addr has released it.
    let dead = free_addr("127.0.4.41");
    let manifests = yaml::documents(&[
        yaml::backend(NS, "dead", dead.port(), &[("127.0.4.41", true)]),
        route("dead", "dead.test", "dead", "http".into()),
    ]);
    let fixture = start(&[("dead.yaml", manifests)]).await?;
    for _ in 0..3 {
        let reply = fixture.get(CLASS, "dead.test", "/").await?;
        assert_eq!(
            (reply.status, reply.backend()),
            (502, None),
            "{}",
            reply.summary()
        );
    }
    Ok(())
}

#[tokio::test]
async fn failed_connect_is_retried_on_another_endpoint() -> anyhow::Result<()> {
    let port = free_port_on(&["127.0.4.51", "127.0.4.52"]);
    // 127.0.4.51 stays dead (connection refused); 127.0.4.52 is live on the same port.
    let live = EchoBackend::start("live", format!("127.0.4.52:{port}").parse()?).await?;
    let manifests = yaml::documents(&[
        yaml::backend(
            NS,
            "half",
            port,
            &[("127.0.4.51", true), ("127.0.4.52", true)],
        ),
        route("half", "half.test", "half", "http".into()),
    ]);
    let fixture = start(&[("half.yaml", manifests)]).await?;
    let mut failures = Vec::new();
    for i in 0..20 {
        let reply = fixture.get(CLASS, "half.test", &format!("/{i}")).await?;
        if (reply.status, reply.backend().as_deref()) != (200, Some("live")) {
            failures.push(format!("request {i}: {}", reply.summary()));
        }
    }
    assert!(
        failures.is_empty(),
        "requests failed despite a live endpoint:\n{}",
        failures.join("\n")
    );
    assert_eq!(live.hits(), 20);
    Ok(())
}

#[tokio::test]
async fn backend_error_status_passes_through() -> anyhow::Result<()> {
    let (echo, svc) = echo_service(NS, "statuses", "127.0.4.61").await?;
    let fixture = start(&[
        ("svc.yaml", svc),
        (
            "route.yaml",
            route("statuses", "status.test", "statuses", "http".into()),
        ),
    ])
    .await?;
    for code in [404u16, 500, 503] {
        let reply = fixture
            .get(CLASS, "status.test", &format!("/status/{code}"))
            .await?;
        assert_eq!(
            (reply.status, reply.backend().as_deref()),
            (code, Some("statuses")),
            "{}",
            reply.summary()
        );
    }
    assert_eq!(echo.hits(), 3);
    Ok(())
}

/// `service-upstream: "true"` sends requests to the Service's cluster IP and port, not to its
/// endpoints (here a refusing port): an Ingress without it gets 502 from the same Service.
#[tokio::test]
async fn service_upstream_goes_to_the_cluster_ip() -> anyhow::Result<()> {
    let echo = EchoBackend::start("cluster-ip", any_port("127.0.0.1")).await?;
    let refusing = gatehouse_testkit::net::RefusingPort::open("127.0.0.1");
    let service = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: {NS}\n  name: svc\nspec:\n  clusterIP: 127.0.0.1\n  ports:\n  - name: http\n    port: {}\n",
        echo.addr().port()
    );
    let slice = yaml::endpoint_slice(
        NS,
        "svc-1",
        "svc",
        "http",
        refusing.addr.port(),
        &[("127.0.0.1", true)],
    );
    let via_ip = Ingress::new(NS, "via-ip")
        .class(CLASS)
        .annotation("nginx.ingress.kubernetes.io/service-upstream", "true")
        .path("ip.test", "/", PathType::Prefix, "svc", "http")
        .yaml();
    let files = [
        ("svc.yaml", yaml::documents(&[service, slice])),
        ("via-ip.yaml", via_ip),
        (
            "direct.yaml",
            route("direct", "direct.test", "svc", "http".into()),
        ),
    ];
    let fixture = start(&files).await?;
    let reply = fixture.get(CLASS, "ip.test", "/").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(
        reply
            .headers
            .get("x-echo-backend")
            .and_then(|v| v.to_str().ok()),
        Some("cluster-ip")
    );
    assert_eq!(fixture.get(CLASS, "direct.test", "/").await?.status, 502);
    Ok(())
}
