//! Host rules over real HTTP: exact (case-insensitive, port ignored), wildcard depth, precedence,
//! hostless rules, defaultBackend and the built-in 404.

use std::path::Path;

use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, EchoBackend, Fixture, InstanceSpec};

const NS: &str = "default";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// One gatehouse with class "a" (host rules + defaultBackend) and class "b" (no defaultBackend).
struct HostSetup {
    fixture: Fixture,
    backends: Vec<EchoBackend>,
}

impl HostSetup {
    async fn start() -> anyhow::Result<HostSetup> {
        let mut backends = Vec::new();
        let mut files = Vec::new();
        for (i, name) in ["exact", "wild", "special", "fallback", "only", "hostless"]
            .iter()
            .enumerate()
        {
            let (echo, yaml) = echo_service(NS, name, &format!("127.0.1.{}", i + 1)).await?;
            backends.push(echo);
            files.push((format!("svc-{name}.yaml"), yaml));
        }
        let class_a = Ingress::new(NS, "hosts-a")
            .class("a")
            .path("exact.test", "/", PathType::Prefix, "exact", "http")
            .path("*.wild.test", "/", PathType::Prefix, "wild", "http")
            .path(
                "special.wild.test",
                "/",
                PathType::Prefix,
                "special",
                "http",
            )
            .path("pathy.test", "/only", PathType::Exact, "exact", "http")
            .default_backend("fallback", "http")
            .yaml();
        let class_b = Ingress::new(NS, "hosts-b")
            .class("b")
            .path("only.test", "/", PathType::Prefix, "only", "http")
            .path("", "/anyhost", PathType::Prefix, "hostless", "http")
            .yaml();
        files.push(("ingress-a.yaml".to_string(), class_a));
        files.push(("ingress-b.yaml".to_string(), class_b));
        let files: Vec<(&str, String)> =
            files.iter().map(|(n, y)| (n.as_str(), y.clone())).collect();
        let instances = vec![
            InstanceSpec::http("a", free_addr("127.0.0.1")),
            InstanceSpec::http("b", free_addr("127.0.0.1")),
        ];
        let fixture = Fixture::start(bin(), instances, &files).await?;
        Ok(HostSetup { fixture, backends })
    }

    fn total_hits(&self) -> u64 {
        self.backends.iter().map(EchoBackend::hits).sum()
    }

    /// Sends the request and asserts which backend (None = gatehouse itself) and status answered.
    async fn check(
        &self,
        class: &str,
        host: &str,
        path: &str,
        want_status: u16,
        want_backend: Option<&str>,
    ) -> anyhow::Result<()> {
        let reply = self.fixture.get(class, host, path).await?;
        assert_eq!(
            (reply.status, reply.backend().as_deref()),
            (want_status, want_backend),
            "class {class}: GET {path} Host: {host} -> {}",
            reply.summary()
        );
        Ok(())
    }
}

#[tokio::test]
async fn exact_host_is_case_insensitive_and_ignores_port() -> anyhow::Result<()> {
    let setup = HostSetup::start().await?;
    for host in [
        "exact.test",
        "EXACT.TEST",
        "Exact.Test",
        "exact.test:8080",
        "EXACT.test:1",
    ] {
        setup.check("a", host, "/x", 200, Some("exact")).await?;
    }
    Ok(())
}

#[tokio::test]
async fn wildcard_matches_exactly_one_label() -> anyhow::Result<()> {
    let setup = HostSetup::start().await?;
    setup
        .check("a", "bar.wild.test", "/", 200, Some("wild"))
        .await?;
    setup
        .check("a", "BAR.Wild.TEST", "/", 200, Some("wild"))
        .await?;
    setup
        .check("a", "bar.wild.test:9999", "/", 200, Some("wild"))
        .await?;
    // The parent domain itself and deeper names are not covered by `*.wild.test`.
    setup
        .check("a", "wild.test", "/", 200, Some("fallback"))
        .await?;
    setup
        .check("a", "baz.bar.wild.test", "/", 200, Some("fallback"))
        .await?;
    setup
        .check("a", "barwild.test", "/", 200, Some("fallback"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn exact_host_beats_wildcard() -> anyhow::Result<()> {
    let setup = HostSetup::start().await?;
    setup
        .check("a", "special.wild.test", "/", 200, Some("special"))
        .await?;
    setup
        .check("a", "SPECIAL.wild.test:80", "/", 200, Some("special"))
        .await?;
    setup
        .check("a", "other.wild.test", "/", 200, Some("wild"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn default_backend_catches_unmatched_hosts() -> anyhow::Result<()> {
    let setup = HostSetup::start().await?;
    setup
        .check("a", "unknown.test", "/", 200, Some("fallback"))
        .await?;
    setup
        .check("a", "unknown.test", "/deep/path?q=1", 200, Some("fallback"))
        .await?;
    // The host matches a rule but no path of it does: still the default backend.
    setup
        .check("a", "pathy.test", "/only", 200, Some("exact"))
        .await?;
    setup
        .check("a", "pathy.test", "/other", 200, Some("fallback"))
        .await?;
    // Without a Host header match on any rule, the default backend still answers.
    setup
        .check("a", "127.0.0.1", "/", 200, Some("fallback"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn unmatched_without_default_backend_is_404_from_gatehouse() -> anyhow::Result<()> {
    let setup = HostSetup::start().await?;
    setup
        .check("b", "only.test", "/", 200, Some("only"))
        .await?;
    let before = setup.total_hits();
    setup.check("b", "unknown.test", "/", 404, None).await?;
    setup.check("b", "exact.test", "/x", 404, None).await?;
    setup.check("b", "sub.only.test", "/", 404, None).await?;
    assert_eq!(
        setup.total_hits(),
        before,
        "a 404 from gatehouse must not touch any backend"
    );
    Ok(())
}

#[tokio::test]
async fn rule_without_host_matches_any_host() -> anyhow::Result<()> {
    let setup = HostSetup::start().await?;
    setup
        .check("b", "whatever.test", "/anyhost", 200, Some("hostless"))
        .await?;
    setup
        .check("b", "another.example", "/anyhost/x", 200, Some("hostless"))
        .await?;
    setup
        .check("b", "whatever.test", "/elsewhere", 404, None)
        .await?;
    Ok(())
}
