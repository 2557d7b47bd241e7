//! Every metric and label our Grafana dashboard (deploy/components/monitoring) queries exists in the real
//! binary's /metrics after real traffic, and the ServiceMonitor scrapes what we serve.

mod obs_support;

use std::path::PathBuf;

use anyhow::Context as _;
use gatehouse_testkit::prom::as_scraped;
use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, free_port_on, Fixture, InstanceSpec};
use obs_support::{bin, dashboard_problems, scrape_counted};
use serde::Deserialize as _;

fn monitoring(file: &str) -> anyhow::Result<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/components/monitoring")
        .join(file);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

#[tokio::test]
async fn every_metric_in_our_dashboard_is_exported() -> anyhow::Result<()> {
    let (_echo, svc) = echo_service("default", "app", "127.0.11.1").await?;
    let route = Ingress::new("default", "app")
        .class("web")
        .path("app.test", "/", PathType::Prefix, "app", "http")
        .yaml();
    let broken = Ingress::new("default", "broken")
        .class("web")
        .path("broken.test", "/", PathType::Prefix, "nowhere", "http")
        .yaml();
    // Two ready endpoints where nothing listens: a refused connect, a retry, a 502.
    let port = free_port_on(&["127.0.11.2", "127.0.11.3"]);
    let gone = yaml::backend(
        "default",
        "gone",
        port,
        &[("127.0.11.2", true), ("127.0.11.3", true)],
    );
    let gone_route = Ingress::new("default", "gone")
        .class("web")
        .path("gone.test", "/", PathType::Prefix, "gone", "http")
        .yaml();
    let fixture = Fixture::start(
        bin(),
        vec![InstanceSpec::http("web", free_addr("127.0.0.1"))],
        &[
            ("svc.yaml", svc),
            ("route.yaml", route),
            ("broken.yaml", broken),
            ("gone.yaml", gone),
            ("gone-route.yaml", gone_route),
        ],
    )
    .await?;
    for _ in 0..3 {
        assert_eq!(fixture.get("web", "app.test", "/").await?.status, 200);
    }
    assert_eq!(fixture.get("web", "nope.test", "/").await?.status, 404);
    assert_eq!(fixture.get("web", "gone.test", "/").await?.status, 502);

    let dashboard = monitoring("grafana-dashboard.json")?;
    let series = as_scraped(&scrape_counted(fixture.admin, "web", 5.0).await?);
    let problems = dashboard_problems("grafana-dashboard.json", &dashboard, &series)?;
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check has teeth: a misspelt metric is reported.
    let typo = dashboard.replace(
        "gatehouse_http_requests_total",
        "gatehouse_http_request_total",
    );
    let problems = dashboard_problems("typo", &typo, &series)?;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("gatehouse_http_request_total missing")),
        "{problems:?}"
    );
    Ok(())
}

#[test]
fn service_monitor_scrapes_the_admin_port_at_metrics() -> anyhow::Result<()> {
    let sm: serde_yaml::Value = serde_yaml::from_str(&monitoring("servicemonitor.yaml")?)?;
    assert_eq!(sm["kind"], "ServiceMonitor");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        "gatehouse"
    );
    let endpoint = &sm["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "admin");
    assert_eq!(endpoint["path"], "/metrics");
    // The port name must be the gatehouse-admin Service's.
    let services = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/base/services.yaml"),
    )?;
    let admin = serde_yaml::Deserializer::from_str(&services)
        .map(serde_yaml::Value::deserialize)
        .filter_map(Result::ok)
        .find(|s| s["metadata"]["name"] == "gatehouse-admin")
        .context("no gatehouse-admin Service in deploy/base")?;
    assert_eq!(admin["spec"]["ports"][0]["name"], "admin");
    assert_eq!(
        admin["metadata"]["labels"]["app.kubernetes.io/name"],
        "gatehouse"
    );
    Ok(())
}
