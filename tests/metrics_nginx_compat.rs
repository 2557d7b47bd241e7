//! With `--metrics-compat ingress-nginx`, every metric and label queried by the two community
//! ingress-nginx dashboards (testkit/fixtures/ingress-nginx-dashboards) is in the real binary's
//! /metrics after real traffic, once Prometheus's target labels are applied.

mod obs_support;

use gatehouse_testkit::prom::{as_scraped, value};
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, Fixture, InstanceSpec};
use obs_support::{bin, dashboard_problems, scrape_counted};

const DASHBOARDS: [&str; 2] = gatehouse_testkit::dashboards::INGRESS_NGINX_DASHBOARDS;

fn fixture_file(name: &str) -> anyhow::Result<String> {
    gatehouse_testkit::dashboards::ingress_nginx_dashboard(name)
}

async fn start(compat: bool) -> anyhow::Result<(Fixture, gatehouse_testkit::EchoBackend)> {
    let ip = if compat { "127.0.12.1" } else { "127.0.12.2" };
    let (echo, svc) = echo_service("default", "app", ip).await?;
    let route = Ingress::new("default", "app")
        .class("web")
        .path("app.test", "/api", PathType::Prefix, "app", "http")
        .yaml();
    let args: Vec<String> = if compat {
        vec!["--metrics-compat".into(), "ingress-nginx".into()]
    } else {
        vec![]
    };
    let fixture = Fixture::start_with_args(
        bin(),
        vec![InstanceSpec::http("web", free_addr("127.0.0.1"))],
        &[("svc.yaml", svc), ("route.yaml", route)],
        &args,
    )
    .await?;
    for i in 0..4 {
        let reply = fixture.get("web", "app.test", &format!("/api/{i}")).await?;
        assert_eq!(reply.status, 200, "{}", reply.summary());
    }
    assert_eq!(fixture.get("web", "nope.test", "/").await?.status, 404);
    Ok((fixture, echo))
}

#[tokio::test]
async fn both_ingress_nginx_dashboards_are_satisfied() -> anyhow::Result<()> {
    let (fixture, _echo) = start(true).await?;
    let samples = scrape_counted(fixture.admin, "web", 5.0).await?;
    let series = as_scraped(&samples);
    let mut problems = Vec::new();
    for name in DASHBOARDS {
        problems.extend(dashboard_problems(name, &fixture_file(name)?, &series)?);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The requests carry ingress-nginx's labels: the rule's path and host, never the request's.
    let labels = [
        ("ingress", "app"),
        ("namespace", "default"),
        ("service", "app"),
        ("path", "/api"),
        ("host", "app.test"),
        ("status", "200"),
        ("method", "GET"),
        ("controller_class", "web"),
    ];
    assert_eq!(
        value(&samples, "nginx_ingress_controller_requests", &labels),
        4.0
    );
    assert!(
        !samples
            .iter()
            .any(|s| s.labels.get("path").is_some_and(|p| p.starts_with("/api/"))),
        "a request path leaked into a label"
    );
    Ok(())
}

#[tokio::test]
async fn without_the_flag_no_ingress_nginx_names_are_exported() -> anyhow::Result<()> {
    let (fixture, _echo) = start(false).await?;
    let samples = scrape_counted(fixture.admin, "web", 5.0).await?;
    assert!(!samples
        .iter()
        .any(|s| s.metric.starts_with("nginx_ingress_controller_")));
    let problems = dashboard_problems(
        "nginx.json",
        &fixture_file("nginx.json")?,
        &as_scraped(&samples),
    )?;
    assert!(!problems.is_empty(), "the check must notice missing names");
    Ok(())
}
