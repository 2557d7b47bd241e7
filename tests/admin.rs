//! The admin listener: /healthz and the /readyz JSON that tests use to follow route-table swaps.

use std::path::Path;

use gatehouse_testkit::admin;
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, Fixture, InstanceSpec};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

#[tokio::test]
async fn healthz_and_readyz_report_every_instance() -> anyhow::Result<()> {
    let (_echo, svc) = echo_service("default", "echo", "127.0.8.1").await?;
    let fixture = Fixture::start(
        bin(),
        vec![
            InstanceSpec::http("internal", free_addr("127.0.0.1")),
            InstanceSpec::http("external", free_addr("127.0.0.1")),
        ],
        &[("svc.yaml", svc)],
    )
    .await?;

    let (status, _) = admin::get(fixture.admin, "/healthz").await?;
    assert_eq!(status, 200);

    let (status, json) = admin::readyz(fixture.admin).await?;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["ready"], serde_json::json!(true), "{json}");
    let internal = fixture.generation("internal").await?;
    let external = fixture.generation("external").await?;
    assert!(internal >= 1 && external >= 1, "{json}");

    // A change for one class bumps that class's generation by at least one.
    let route = Ingress::new("default", "echo")
        .class("internal")
        .path("echo.test", "/", PathType::Prefix, "echo", "http")
        .yaml();
    let after = fixture.apply("route.yaml", &route, "internal").await?;
    assert!(after > internal);
    let reply = fixture.get("internal", "echo.test", "/").await?;
    assert_eq!(
        (reply.status, reply.backend().as_deref()),
        (200, Some("echo"))
    );
    Ok(())
}
