//! Shared helpers for the observability tests: scrape and parse /metrics, look up series.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _};
use gatehouse_testkit::admin;
use prometheus_parse::{Sample, Scrape, Value};

/// The gatehouse binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// GET /metrics on `admin`, parsed (histogram buckets grouped per series).
pub async fn scrape(admin: SocketAddr) -> anyhow::Result<Vec<Sample>> {
    let (status, text) = admin::get(admin, "/metrics").await?;
    ensure!(status == 200, "/metrics answered {status}: {text}");
    parse(&text)
}

/// Parses Prometheus text format.
pub fn parse(text: &str) -> anyhow::Result<Vec<Sample>> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Ok(Scrape::parse(lines)
        .context("parsing /metrics as Prometheus text")?
        .samples)
}

fn matches(sample: &Sample, metric: &str, labels: &[(&str, &str)]) -> bool {
    sample.metric == metric && labels.iter().all(|(k, v)| sample.labels.get(k) == Some(*v))
}

/// The value of the one series of `metric` whose labels include `labels`; 0 when absent.
/// Panics when several series match (the labels are not specific enough).
pub fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| matches(s, metric, labels) && !matches!(s.value, Value::Histogram(_)))
        .collect();
    assert!(
        found.len() <= 1,
        "{metric}{labels:?} matches {} series: {found:#?}",
        found.len()
    );
    match found.first().map(|s| &s.value) {
        None => 0.0,
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(other) => panic!("{metric} is not a scalar: {other:?}"),
    }
}

/// Sum of every series of `metric` whose labels include `labels`.
pub fn sum(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| matches(s, metric, labels))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            _ => 0.0,
        })
        .sum()
}

/// Observation count (the +Inf bucket) of the one histogram series matching `labels`.
pub fn histogram_count(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| matches(s, metric, labels) && matches!(s.value, Value::Histogram(_)))
        .collect();
    assert!(found.len() <= 1, "{metric}{labels:?} not specific enough");
    match found.first().map(|s| &s.value) {
        Some(Value::Histogram(buckets)) => buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .map(|b| b.count)
            .unwrap_or_else(|| panic!("{metric} has no +Inf bucket")),
        _ => 0.0,
    }
}

/// Series names as Prometheus stores them → label names. A histogram `x` gives `x_bucket`
/// (with `le`), `x_count` and `x_sum`.
pub fn label_names(samples: &[Sample]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in samples {
        let labels: BTreeSet<String> = s.labels.keys().cloned().collect();
        if let Value::Histogram(_) = s.value {
            let mut with_le = labels.clone();
            with_le.insert("le".into());
            out.entry(format!("{}_bucket", s.metric))
                .or_default()
                .extend(with_le);
            for suffix in ["_count", "_sum"] {
                out.entry(format!("{}{suffix}", s.metric))
                    .or_default()
                    .extend(labels.iter().cloned());
            }
        } else {
            out.entry(s.metric.clone()).or_default().extend(labels);
        }
    }
    out
}

/// `target/test-artifacts` (honouring CARGO_TARGET_DIR), created.
pub fn artifacts_dir() -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// Target labels Prometheus adds on scrape. With `honor_labels: false` an exposed label of the
/// same name becomes `exported_<name>` (where ingress-nginx dashboards' `exported_namespace`
/// comes from); `kubernetes_pod_name` is the pod label of the common `kubernetes-pods` job.
pub const TARGET_LABELS: &[&str] = &["job", "instance", "namespace", "pod", "kubernetes_pod_name"];

/// Series name → label names as Prometheus stores them after scraping `samples`.
pub fn as_scraped(samples: &[Sample]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = label_names(samples);
    for labels in out.values_mut() {
        let exposed: Vec<String> = std::mem::take(labels).into_iter().collect();
        for label in exposed {
            if TARGET_LABELS.contains(&label.as_str()) {
                labels.insert(format!("exported_{label}"));
            } else {
                labels.insert(label);
            }
        }
        labels.extend(TARGET_LABELS.iter().map(|s| (*s).to_owned()));
    }
    out
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
