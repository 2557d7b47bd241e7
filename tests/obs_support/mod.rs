//! Shared parts of the black-box observability tests: the binary, dashboards checked against a
//! scrape, and a scrape that waits for requests to be counted. Parsing and series lookups are
//! `gatehouse_testkit::prom`'s.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{ensure, Context as _};
use gatehouse_testkit::prom::{scrape, sum, Sample};

/// The gatehouse binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// What a Grafana dashboard queries that `series` lacks: one line per missing metric or label.
pub fn dashboard_problems(
    name: &str,
    dashboard_json: &str,
    series: &BTreeMap<String, BTreeSet<String>>,
) -> anyhow::Result<Vec<String>> {
    let queries = gatehouse_testkit::dashboards::queries(dashboard_json)
        .with_context(|| format!("parsing dashboard {name}"))?;
    ensure!(!queries.is_empty(), "{name}: no queries found");
    Ok(gatehouse_testkit::dashboards::problems(
        name, &queries, series,
    ))
}

/// Scrapes until `gatehouse_http_requests_total` of `class` sums to at least `requests` (at
/// most 5 s). Pingora's `logging` phase, where requests are counted, runs after the response
/// has reached the client, so a scrape right after a reply may not see it yet.
pub async fn scrape_counted(
    admin: SocketAddr,
    class: &str,
    requests: f64,
) -> anyhow::Result<Vec<Sample>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let samples = scrape(admin).await?;
        let counted = sum(
            &samples,
            "gatehouse_http_requests_total",
            &[("class", class)],
        );
        if counted >= requests {
            return Ok(samples);
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "only {counted} of {requests} requests counted after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
