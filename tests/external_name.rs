//! ExternalName Services through the real binary: a Service pointing at `localhost` routes to
//! the backend listening on 127.0.0.1 (the name is resolved by the controller, not per
//! request), and one pointing at a name that does not resolve answers 503 and is reported as
//! an `UnresolvedName` warning.

use std::path::Path;

use gatehouse_testkit::prom::{scrape, value};
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{any_port, free_addr, EchoBackend, Fixture, InstanceSpec};

const NS: &str = "default";
const CLASS: &str = "web";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn external_service(name: &str, external_name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: {NS}\n  name: {name}\nspec:\n  type: ExternalName\n  externalName: {external_name}\n"
    )
}

#[tokio::test]
async fn external_name_services_route_to_the_resolved_name() -> anyhow::Result<()> {
    let echo = EchoBackend::start("outside", any_port("127.0.0.1")).await?;
    let port = echo.addr().port();
    let files = vec![
        ("local-svc.yaml", external_service("local", "localhost")),
        (
            "gone-svc.yaml",
            external_service("gone", "no-such-name.invalid"),
        ),
        (
            "local.yaml",
            Ingress::new(NS, "local")
                .class(CLASS)
                .path("local.test", "/", PathType::Prefix, "local", port)
                .yaml(),
        ),
        (
            "gone.yaml",
            Ingress::new(NS, "gone")
                .class(CLASS)
                .path("gone.test", "/", PathType::Prefix, "gone", 80u16)
                .yaml(),
        ),
    ];
    let fixture = Fixture::start(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &files,
    )
    .await?;

    // `localhost` may also resolve to ::1, where nothing listens: the connect there fails
    // and the request is retried on 127.0.0.1, so every request is answered by the echo.
    for _ in 0..4 {
        let reply = fixture.get(CLASS, "local.test", "/").await?;
        assert_eq!(reply.status, 200, "{}", reply.summary());
        assert_eq!(
            reply.json.as_ref().and_then(|j| j["backend"].as_str()),
            Some("outside")
        );
    }
    assert_eq!(fixture.get(CLASS, "gone.test", "/").await?.status, 503);
    let samples = scrape(fixture.admin).await?;
    assert_eq!(
        value(
            &samples,
            "gatehouse_translate_warnings",
            &[("class", CLASS), ("kind", "UnresolvedName")]
        ),
        1.0
    );
    Ok(())
}
