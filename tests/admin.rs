//! The admin listener: /healthz and the /readyz JSON that tests use to follow route-table swaps;
//! and what keeps /readyz honest at start: a listener that cannot be bound stops gatehouse.

use std::path::Path;
use std::time::{Duration, Instant};

use gatehouse_testkit::admin;
use gatehouse_testkit::process::gatehouse_args;
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, Fixture, Gatehouse, InstanceSpec, ManifestDir};

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

/// Pingora alone retries an address in use for 30 s, then drops the listener while the
/// process (and a 200 from /readyz) goes on; gatehouse binds first and stops, naming it.
#[tokio::test]
async fn a_listener_address_in_use_stops_gatehouse_and_names_it() -> anyhow::Result<()> {
    let held = std::net::TcpListener::bind("127.0.0.1:0")?;
    let taken = held.local_addr()?;
    let manifests = ManifestDir::new()?;
    let args = gatehouse_args(
        manifests.path(),
        &[
            InstanceSpec::http("internal", free_addr("127.0.0.1")),
            InstanceSpec::http("external", taken),
        ],
        free_addr("127.0.0.1"),
        Some(1),
    );
    let gatehouse = Gatehouse::start(bin(), &args)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = gatehouse.exited() {
            break status;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "gatehouse still runs 20 s after start with {taken} taken; stderr:\n{}",
            gatehouse.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(1), "{}", gatehouse.stderr_text());
    let needle = format!("cannot listen on {taken}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gatehouse.stderr_text().contains(&needle) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "stderr does not name the address ({needle}):\n{}",
            gatehouse.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(held);
    Ok(())
}
