//! Per-route annotations end to end, through the real binary: `proxy-connect-timeout` (under
//! ingress-nginx's prefix and gatehouse's own) bounds how long gatehouse waits for a backend
//! that never completes a TCP connect; an invalid value is reported and the route keeps
//! serving with the default.

use std::path::Path;
use std::time::{Duration, Instant};

use gatehouse_testkit::net::BlackHole;
use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, Fixture, InstanceSpec};

const NS: &str = "default";
const CLASS: &str = "web";
/// Without the annotation gatehouse waits 5 s for a connect; every bound below is far under it.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn timed_route(name: &str, host: &str, key: &str, value: &str) -> String {
    Ingress::new(NS, name)
        .class(CLASS)
        .annotation(key, value)
        .path(host, "/", PathType::Prefix, "hole", "http")
        .yaml()
}

#[tokio::test]
async fn proxy_connect_timeout_bounds_the_wait_for_a_hanging_backend() -> anyhow::Result<()> {
    let hole = BlackHole::open("127.0.0.1");
    let (echo, echo_yaml) = echo_service(NS, "echo", "127.0.0.1").await?;
    let mut files = vec![
        (
            "hole.yaml",
            yaml::backend(NS, "hole", hole.addr.port(), &[("127.0.0.1", true)]),
        ),
        ("echo.yaml", echo_yaml),
    ];
    files.push((
        "nginx-key.yaml",
        timed_route(
            "nginx-key",
            "nginx.test",
            "nginx.ingress.kubernetes.io/proxy-connect-timeout",
            "1",
        ),
    ));
    files.push((
        "own-key.yaml",
        timed_route(
            "own-key",
            "own.test",
            "gatehouse.dev/proxy-connect-timeout",
            "500ms",
        ),
    ));
    files.push((
        "invalid.yaml",
        Ingress::new(NS, "invalid")
            .class(CLASS)
            .annotation("nginx.ingress.kubernetes.io/proxy-connect-timeout", "soon")
            .path("invalid.test", "/", PathType::Prefix, "echo", "http")
            .yaml(),
    ));
    let fixture = Fixture::start(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &files,
    )
    .await?;

    // Both timed requests run at once; each must fail after its own timeout, not the default.
    let timed = |host: &'static str| {
        let fixture = &fixture;
        async move {
            let started = Instant::now();
            let reply = fixture.get(CLASS, host, "/").await?;
            anyhow::Ok((reply, started.elapsed()))
        }
    };
    let (nginx, own) = tokio::join!(timed("nginx.test"), timed("own.test"));
    for (host, (reply, took), floor) in [
        ("nginx.test", nginx?, Duration::from_millis(900)),
        ("own.test", own?, Duration::from_millis(400)),
    ] {
        assert_eq!(reply.status, 502, "{host}: {}", reply.summary());
        assert!(
            took >= floor,
            "{host}: answered after {took:?}, before its connect timeout: the connect did not hang"
        );
        assert!(
            took < DEFAULT_CONNECT_TIMEOUT - Duration::from_secs(1),
            "{host}: answered after {took:?}: the annotation's timeout was not applied"
        );
        println!("{host}: 502 after {took:?}");
    }

    // The invalid value is reported by name, and its route still serves.
    fixture
        .gatehouse
        .wait_for_stderr("InvalidAnnotation", Duration::from_secs(10))
        .await?;
    let stderr = fixture.gatehouse.stderr_text();
    assert!(
        stderr.contains("default/invalid")
            && stderr.contains("nginx.ingress.kubernetes.io/proxy-connect-timeout"),
        "the warning names the Ingress and the key: {stderr}"
    );
    let reply = fixture.get(CLASS, "invalid.test", "/").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    drop(echo);
    Ok(())
}
