//! Access control end to end, through the real binary: an Ingress asking for access control
//! gatehouse does not implement fails closed (503 naming the annotation, and a warning) unless
//! `--unsupported-annotations=ignore`; source allow- and deny-lists answer 403 to clients
//! they do not admit, told apart by the loopback source address they connect from; cert-manager's
//! admit-everyone solver Ingress keeps serving; other unsupported annotations only warn.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use gatehouse_testkit::client::{self, client_builder, Reply};
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, Fixture, InstanceSpec};

const NS: &str = "default";
const CLASS: &str = "web";
const NGINX: &str = "nginx.ingress.kubernetes.io/";
const WARN_TIMEOUT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// An Ingress `name` for host `<name>.test` → Service `echo`, with one nginx annotation.
fn annotated(name: &str, key: &str, value: &str) -> (String, String) {
    let yaml = Ingress::new(NS, name)
        .class(CLASS)
        .annotation(&format!("{NGINX}{key}"), value)
        .path(
            &format!("{name}.test"),
            "/",
            PathType::Prefix,
            "echo",
            "http",
        )
        .yaml();
    (format!("{name}.yaml"), yaml)
}

/// GET `host/` through `fixture`'s listener from the loopback source address `from`.
async fn get_from(fixture: &Fixture, from: &str, host: &str) -> anyhow::Result<Reply> {
    let source: IpAddr = from.parse()?;
    let client = client_builder().local_address(source).build()?;
    client::get(&client, fixture.http(CLASS), host, "/").await
}

async fn start(files: Vec<(String, String)>, extra: &[&str]) -> anyhow::Result<Fixture> {
    let files: Vec<(&str, String)> = files.iter().map(|(n, y)| (n.as_str(), y.clone())).collect();
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    Fixture::start_with_args(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &files,
        &extra,
    )
    .await
}

#[tokio::test]
async fn unsupported_access_control_fails_closed_and_lists_are_enforced() -> anyhow::Result<()> {
    let (echo, echo_yaml) = echo_service(NS, "echo", "127.0.0.1").await?;
    let files = vec![
        ("echo.yaml".to_string(), echo_yaml),
        annotated("auth", "auth-tls-secret", "default/client-ca"),
        annotated("allow", "whitelist-source-range", "127.0.0.2/32"),
        annotated("deny", "denylist-source-range", "127.0.0.1"),
        annotated("solver", "whitelist-source-range", "0.0.0.0/0,::/0"),
        annotated("broken", "whitelist-source-range", "127.0.0.0/8,intranet"),
        annotated("rewrite", "rewrite-target", "/"),
    ];
    let fixture = start(files, &[]).await?;

    // auth-tls-secret (client certificates): 503 naming the annotation, and the backend is never reached.
    let hits = echo.hits();
    let reply = fixture.get(CLASS, "auth.test", "/").await?;
    assert_eq!(reply.status, 503, "{}", reply.summary());
    assert!(
        reply
            .body
            .contains("nginx.ingress.kubernetes.io/auth-tls-secret"),
        "the body names the annotation: {}",
        reply.summary()
    );
    assert_eq!(echo.hits(), hits, "a refused route reaches no backend");
    fixture
        .gatehouse
        .wait_for_stderr("UnsupportedAccessControl", WARN_TIMEOUT)
        .await?;
    let stderr = fixture.gatehouse.stderr_text();
    assert!(
        stderr.contains("default/auth")
            && stderr.contains("nginx.ingress.kubernetes.io/auth-tls-secret"),
        "the warning names the Ingress and the annotation: {stderr}"
    );

    // The allow-list admits 127.0.0.2 only.
    let outside = get_from(&fixture, "127.0.0.1", "allow.test").await?;
    assert_eq!(outside.status, 403, "{}", outside.summary());
    let inside = get_from(&fixture, "127.0.0.2", "allow.test").await?;
    assert_eq!(inside.status, 200, "{}", inside.summary());
    assert_eq!(inside.backend().as_deref(), Some("echo"));

    // The deny-list refuses 127.0.0.1 (a bare address is that one address).
    let denied = get_from(&fixture, "127.0.0.1", "deny.test").await?;
    assert_eq!(denied.status, 403, "{}", denied.summary());
    let other = get_from(&fixture, "127.0.0.3", "deny.test").await?;
    assert_eq!(other.status, 200, "{}", other.summary());

    // cert-manager's HTTP-01 solver Ingress admits everyone.
    let solver = fixture.get(CLASS, "solver.test", "/").await?;
    assert_eq!(solver.status, 200, "{}", solver.summary());

    // An invalid allow-list fails closed, not open.
    let broken = get_from(&fixture, "127.0.0.1", "broken.test").await?;
    assert_eq!(broken.status, 503, "{}", broken.summary());
    assert!(
        broken.body.contains("whitelist-source-range"),
        "{}",
        broken.summary()
    );

    // rewrite-target is served as it is, with one warning.
    let rewrite = fixture.get(CLASS, "rewrite.test", "/").await?;
    assert_eq!(rewrite.status, 200, "{}", rewrite.summary());
    fixture
        .gatehouse
        .wait_for_stderr("rewrite-target", WARN_TIMEOUT)
        .await?;
    let stderr = fixture.gatehouse.stderr_text();
    let rewrite_warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("UnsupportedAnnotation") && l.contains("rewrite-target"))
        .collect();
    assert_eq!(rewrite_warnings.len(), 1, "{stderr}");
    assert!(
        rewrite_warnings[0].contains("default/rewrite"),
        "{}",
        rewrite_warnings[0]
    );
    drop(echo);
    Ok(())
}

#[tokio::test]
async fn ignore_flag_serves_unsupported_access_control_and_still_warns() -> anyhow::Result<()> {
    let (echo, echo_yaml) = echo_service(NS, "echo", "127.0.0.1").await?;
    let files = vec![
        ("echo.yaml".to_string(), echo_yaml),
        annotated("auth", "auth-tls-secret", "default/client-ca"),
        annotated("broken", "denylist-source-range", "not-an-address"),
    ];
    let fixture = start(files, &["--unsupported-annotations=ignore"]).await?;
    let reply = fixture.get(CLASS, "auth.test", "/").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.backend().as_deref(), Some("echo"));
    fixture
        .gatehouse
        .wait_for_stderr("UnsupportedAccessControl", WARN_TIMEOUT)
        .await?;
    assert!(fixture
        .gatehouse
        .stderr_text()
        .contains("nginx.ingress.kubernetes.io/auth-tls-secret"));
    // The flag is about unsupported annotations: an invalid list still fails closed.
    let broken = fixture.get(CLASS, "broken.test", "/").await?;
    assert_eq!(broken.status, 503, "{}", broken.summary());
    drop(echo);
    Ok(())
}
