//! Path rules over real HTTP: Exact, Prefix (segment-wise), ImplementationSpecific, precedence
//! and conflicts between Ingresses.

use std::path::Path;

use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, EchoBackend, Fixture, InstanceSpec};

const NS: &str = "default";
const CLASS: &str = "paths";
const HOST: &str = "p.test";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

struct PathSetup {
    fixture: Fixture,
    backends: Vec<EchoBackend>,
}

impl PathSetup {
    async fn start() -> anyhow::Result<PathSetup> {
        let names = [
            "exact-foo",
            "prefix-foo",
            "prefix-foo-bar",
            "exact-only",
            "slash",
            "impl",
            "root",
            "old",
            "new",
            "tie-a",
            "tie-b",
        ];
        let mut backends = Vec::new();
        let mut files = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let (echo, yaml) = echo_service(NS, name, &format!("127.0.2.{}", i + 1)).await?;
            backends.push(echo);
            files.push((format!("svc-{name}.yaml"), yaml));
        }
        let paths = Ingress::new(NS, "paths")
            .class(CLASS)
            .created("2024-01-01T00:00:00Z")
            .path(HOST, "/foo", PathType::Prefix, "prefix-foo", "http")
            .path(HOST, "/foo", PathType::Exact, "exact-foo", "http")
            .path(HOST, "/foo/bar", PathType::Prefix, "prefix-foo-bar", "http")
            .path(HOST, "/exact-only", PathType::Exact, "exact-only", "http")
            .path(HOST, "/slash/", PathType::Prefix, "slash", "http")
            .path(
                HOST,
                "/impl",
                PathType::ImplementationSpecific,
                "impl",
                "http",
            )
            .path("root.test", "/", PathType::Prefix, "root", "http")
            .yaml();
        // Written first and newer: must lose to the older Ingress for the same host+path+type.
        let newer = Ingress::new(NS, "conflict-new")
            .class(CLASS)
            .created("2024-06-01T00:00:00Z")
            .path("c.test", "/conflict", PathType::Prefix, "new", "http")
            .yaml();
        let older = Ingress::new(NS, "conflict-old")
            .class(CLASS)
            .created("2020-01-01T00:00:00Z")
            .path("c.test", "/conflict", PathType::Prefix, "old", "http")
            .yaml();
        // Same creation time: namespace/name decides, "tie-a" before "tie-b".
        let tie_b = Ingress::new(NS, "tie-b")
            .class(CLASS)
            .created("2023-01-01T00:00:00Z")
            .path("c.test", "/tie", PathType::Exact, "tie-b", "http")
            .yaml();
        let tie_a = Ingress::new(NS, "tie-a")
            .class(CLASS)
            .created("2023-01-01T00:00:00Z")
            .path("c.test", "/tie", PathType::Exact, "tie-a", "http")
            .yaml();
        files.push(("a-paths.yaml".to_string(), paths));
        files.push(("b-conflict-new.yaml".to_string(), newer));
        files.push(("c-conflict-old.yaml".to_string(), older));
        files.push(("d-tie-b.yaml".to_string(), tie_b));
        files.push(("e-tie-a.yaml".to_string(), tie_a));
        let files: Vec<(&str, String)> =
            files.iter().map(|(n, y)| (n.as_str(), y.clone())).collect();
        let instances = vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))];
        let fixture = Fixture::start(bin(), instances, &files).await?;
        Ok(PathSetup { fixture, backends })
    }

    fn total_hits(&self) -> u64 {
        self.backends.iter().map(EchoBackend::hits).sum()
    }

    /// Asserts each `(path, backend)`; `None` means gatehouse's own 404.
    async fn expect_all(&self, host: &str, cases: &[(&str, Option<&str>)]) -> anyhow::Result<()> {
        let mut failures = Vec::new();
        for (path, want) in cases {
            let reply = self.fixture.get(CLASS, host, path).await?;
            let want_status = if want.is_some() { 200 } else { 404 };
            if (reply.status, reply.backend().as_deref()) != (want_status, *want) {
                failures.push(format!(
                    "GET {path} Host: {host}: want {want_status} {want:?}, got {}",
                    reply.summary()
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        Ok(())
    }
}

#[tokio::test]
async fn exact_paths_are_exact_and_case_sensitive() -> anyhow::Result<()> {
    let setup = PathSetup::start().await?;
    setup
        .expect_all(
            HOST,
            &[
                ("/exact-only", Some("exact-only")),
                ("/exact-only?q=1", Some("exact-only")),
                ("/exact-only/", None),
                ("/exact-only/x", None),
                ("/Exact-Only", None),
                ("/EXACT-ONLY", None),
                ("/exact-onl", None),
            ],
        )
        .await
}

#[tokio::test]
async fn prefix_matches_whole_segments() -> anyhow::Result<()> {
    let setup = PathSetup::start().await?;
    let before = setup.total_hits();
    setup
        .expect_all(
            HOST,
            &[
                ("/foo/", Some("prefix-foo")),
                ("/foo/baz", Some("prefix-foo")),
                ("/foo/baz/qux?x=y", Some("prefix-foo")),
                ("/foobar", None),
                ("/fo", None),
                ("/FOO/baz", None),
            ],
        )
        .await?;
    assert_eq!(
        setup.total_hits() - before,
        3,
        "only the 3 matched requests reach a backend"
    );
    Ok(())
}

#[tokio::test]
async fn exact_beats_prefix_for_same_path() -> anyhow::Result<()> {
    let setup = PathSetup::start().await?;
    setup
        .expect_all(
            HOST,
            &[
                ("/foo", Some("exact-foo")),
                ("/foo?x=1", Some("exact-foo")),
                ("/foo/", Some("prefix-foo")),
            ],
        )
        .await
}

#[tokio::test]
async fn longest_prefix_wins() -> anyhow::Result<()> {
    let setup = PathSetup::start().await?;
    setup
        .expect_all(
            HOST,
            &[
                ("/foo/bar", Some("prefix-foo-bar")),
                ("/foo/bar/", Some("prefix-foo-bar")),
                ("/foo/bar/baz", Some("prefix-foo-bar")),
                ("/foo/barn", Some("prefix-foo")),
                ("/foo/ba", Some("prefix-foo")),
            ],
        )
        .await?;
    setup
        .expect_all(
            "root.test",
            &[
                ("/", Some("root")),
                ("/anything", Some("root")),
                ("/a/b/c", Some("root")),
            ],
        )
        .await
}

#[tokio::test]
async fn rule_trailing_slash_is_ignored() -> anyhow::Result<()> {
    let setup = PathSetup::start().await?;
    setup
        .expect_all(
            HOST,
            &[
                ("/slash", Some("slash")),
                ("/slash/", Some("slash")),
                ("/slash/x", Some("slash")),
                ("/slashx", None),
            ],
        )
        .await
}

#[tokio::test]
async fn implementation_specific_is_prefix() -> anyhow::Result<()> {
    let setup = PathSetup::start().await?;
    setup
        .expect_all(
            HOST,
            &[
                ("/impl", Some("impl")),
                ("/impl/", Some("impl")),
                ("/impl/a/b", Some("impl")),
                ("/implx", None),
            ],
        )
        .await
}

#[tokio::test]
async fn conflicting_rule_goes_to_oldest_ingress() -> anyhow::Result<()> {
    let setup = PathSetup::start().await?;
    setup
        .expect_all(
            "c.test",
            &[
                ("/conflict", Some("old")),
                ("/conflict/x", Some("old")),
                ("/tie", Some("tie-a")),
            ],
        )
        .await?;
    let new_hits = setup
        .backends
        .iter()
        .find(|b| b.name() == "new")
        .map(EchoBackend::hits);
    let tie_b_hits = setup
        .backends
        .iter()
        .find(|b| b.name() == "tie-b")
        .map(EchoBackend::hits);
    assert_eq!((new_hits, tie_b_hits), (Some(0), Some(0)));
    Ok(())
}
