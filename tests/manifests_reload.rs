//! The manifests directory is watched: changes route within 1 s, a bad file keeps the last good
//! state serving and is named on stderr, deleting an object removes its route.

use std::path::Path;
use std::time::{Duration, Instant};

use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, EchoBackend, Fixture, InstanceSpec};

const NS: &str = "default";
const CLASS: &str = "web";
/// The propagation promise under test.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(1);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn route(name: &str, host: &str, service: &str) -> String {
    Ingress::new(NS, name)
        .class(CLASS)
        .path(host, "/", PathType::Prefix, service, "http")
        .yaml()
}

/// Services "one" and "two" exist from the start; only Ingress "one" (one.test -> one) routes.
async fn setup(ip_base: u8) -> anyhow::Result<(Fixture, EchoBackend, EchoBackend)> {
    let (one, svc_one) = echo_service(NS, "one", &format!("127.0.6.{ip_base}")).await?;
    let (two, svc_two) = echo_service(NS, "two", &format!("127.0.6.{}", ip_base + 1)).await?;
    let fixture = Fixture::start(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &[
            ("services.yaml", yaml::documents(&[svc_one, svc_two])),
            ("one.yaml", route("one", "one.test", "one")),
        ],
    )
    .await?;
    Ok((fixture, one, two))
}

/// Writes `file` and measures until `host` is answered by `backend`.
async fn time_until_routed(
    fixture: &Fixture,
    file: &str,
    yaml: &str,
    host: &str,
    backend: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    fixture.manifests.write(file, yaml)?;
    fixture
        .wait_for_reply(CLASS, host, "/", Duration::from_secs(20), |reply| {
            reply.status == 200 && reply.backend().as_deref() == Some(backend)
        })
        .await?;
    Ok(started.elapsed())
}

#[tokio::test]
async fn change_is_routed_within_one_second() -> anyhow::Result<()> {
    let (fixture, _one, _two) = setup(1).await?;
    let before = fixture.get(CLASS, "two.test", "/").await?;
    assert_eq!(
        (before.status, before.backend()),
        (404, None),
        "{}",
        before.summary()
    );

    let added = time_until_routed(
        &fixture,
        "two.yaml",
        &route("two", "two.test", "two"),
        "two.test",
        "two",
    )
    .await?;
    println!("new Ingress routed after {added:?}");
    assert!(
        added < PROPAGATION_LIMIT,
        "new Ingress took {added:?} to route"
    );

    // Retarget an existing Ingress to the other service.
    let changed = time_until_routed(
        &fixture,
        "one.yaml",
        &route("one", "one.test", "two"),
        "one.test",
        "two",
    )
    .await?;
    println!("changed Ingress routed after {changed:?}");
    assert!(
        changed < PROPAGATION_LIMIT,
        "changed Ingress took {changed:?} to route"
    );
    Ok(())
}

#[tokio::test]
async fn bad_manifest_keeps_last_good_routes_and_is_named_on_stderr() -> anyhow::Result<()> {
    let (fixture, one, _two) = setup(3).await?;
    let ok = fixture.get(CLASS, "one.test", "/").await?;
    assert_eq!((ok.status, ok.backend().as_deref()), (200, Some("one")));

    // A new file that does not parse (unclosed flow sequence on line 4).
    let broken = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: [broken\n";
    let mark = fixture.gatehouse.stderr_mark();
    fixture.manifests.write("broken-new.yaml", broken)?;
    fixture
        .gatehouse
        .wait_for_stderr_since(mark, "broken-new.yaml", Duration::from_secs(10))
        .await?;
    let logged = fixture.gatehouse.stderr_text();
    let line = logged[mark..]
        .lines()
        .find(|l| l.contains("broken-new.yaml"))
        .unwrap_or_default();
    println!("stderr about the bad file: {line}");
    assert!(
        line.to_ascii_lowercase().contains("line"),
        "the parser's line is not in: {line}"
    );

    // Overwrite the file that holds the live route with garbage: the old route keeps serving.
    let mark = fixture.gatehouse.stderr_mark();
    fixture
        .manifests
        .write("one.yaml", "kind: Ingress\nspec: {rules: [\n  - oops\n")?;
    fixture
        .gatehouse
        .wait_for_stderr_since(mark, "one.yaml", Duration::from_secs(10))
        .await?;
    // Anchor for the negative: a later, valid change is published (a new table built from the
    // whole directory, one.yaml still broken), so a reload that dropped the route has happened.
    fixture
        .apply("three.yaml", &route("three", "three.test", "two"), CLASS)
        .await?;
    let three = fixture.get(CLASS, "three.test", "/").await?;
    assert_eq!(
        (three.status, three.backend().as_deref()),
        (200, Some("two"))
    );
    for _ in 0..10 {
        let reply = fixture.get(CLASS, "one.test", "/").await?;
        assert_eq!(
            (reply.status, reply.backend().as_deref()),
            (200, Some("one")),
            "last good route lost after a bad manifest: {}",
            reply.summary()
        );
    }
    assert!(one.hits() >= 11);

    // Fixing the files resumes normal reloads.
    fixture.manifests.remove("broken-new.yaml")?;
    let fixed = time_until_routed(
        &fixture,
        "one.yaml",
        &route("one", "one.test", "two"),
        "one.test",
        "two",
    )
    .await?;
    println!("route after fixing the bad file: {fixed:?}");
    Ok(())
}

#[tokio::test]
async fn deleting_an_object_removes_its_route() -> anyhow::Result<()> {
    let (fixture, _one, _two) = setup(5).await?;
    let generation = fixture
        .apply("two.yaml", &route("two", "two.test", "two"), CLASS)
        .await?;
    let reply = fixture.get(CLASS, "two.test", "/").await?;
    assert_eq!(
        (reply.status, reply.backend().as_deref()),
        (200, Some("two")),
        "{}",
        reply.summary()
    );

    let started = Instant::now();
    fixture.manifests.remove("two.yaml")?;
    fixture
        .wait_for_reply(CLASS, "two.test", "/", Duration::from_secs(20), |reply| {
            reply.status == 404 && reply.backend().is_none()
        })
        .await?;
    println!("deleted Ingress unrouted after {:?}", started.elapsed());
    assert!(fixture.generation(CLASS).await? > generation);
    // The other route is untouched.
    let reply = fixture.get(CLASS, "one.test", "/").await?;
    assert_eq!(
        (reply.status, reply.backend().as_deref()),
        (200, Some("one"))
    );

    // Deleting the Service's objects (not the Ingress) leaves the route without endpoints: 503.
    fixture
        .manifests
        .write("services.yaml", &yaml::service(NS, "one", &[("http", 80)]))?;
    fixture
        .wait_for_reply(CLASS, "one.test", "/", Duration::from_secs(20), |reply| {
            reply.status == 503
        })
        .await?;
    Ok(())
}
