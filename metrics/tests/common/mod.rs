//! Test support: parse `Metrics::encode()` output and build request records.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use gatehouse_metrics::RequestRecord;
use prometheus_parse::{Sample, Scrape, Value};

/// Parses Prometheus text format into samples (histogram buckets grouped per series).
pub fn scrape(text: &str) -> Vec<Sample> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Scrape::parse(lines).expect("valid exposition text").samples
}

fn matches(sample: &Sample, metric: &str, labels: &[(&str, &str)]) -> bool {
    sample.metric == metric && labels.iter().all(|(k, v)| sample.labels.get(k) == Some(*v))
}

/// The value of the one series of `metric` whose labels include `labels`; 0 when absent.
/// Panics when more than one series matches (the test's labels are not specific enough).
pub fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| matches(s, metric, labels))
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

/// Whether any series of `metric` has labels including `labels`.
pub fn exists(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> bool {
    samples.iter().any(|s| matches(s, metric, labels))
}

/// Cumulative bucket count at `le` of the one histogram series matching `labels`.
pub fn bucket(samples: &[Sample], metric: &str, labels: &[(&str, &str)], le: f64) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| matches(s, metric, labels) && matches!(s.value, Value::Histogram(_)))
        .collect();
    assert!(found.len() <= 1, "{metric}{labels:?} not specific enough");
    match found.first().map(|s| &s.value) {
        Some(Value::Histogram(buckets)) => buckets
            .iter()
            .find(|b| b.less_than == le)
            .map(|b| b.count)
            .unwrap_or_else(|| panic!("{metric} has no bucket le={le}")),
        _ => 0.0,
    }
}

/// Series names as Prometheus stores them (`_bucket` for histogram buckets) → label names.
pub fn label_names(samples: &[Sample]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in samples {
        let (name, extra) = match s.value {
            Value::Histogram(_) => (format!("{}_bucket", s.metric), Some("le")),
            _ => (s.metric.clone(), None),
        };
        let entry = out.entry(name).or_default();
        entry.extend(s.labels.keys().cloned());
        entry.extend(extra.map(str::to_owned));
    }
    out
}

/// A matched GET to default/app → Service app, rule `app.example` `/`.
pub fn app_request(status: u16, millis: u64) -> RequestRecord<'static> {
    RequestRecord {
        class: "internal",
        namespace: "default",
        ingress: "app",
        service: "app",
        service_port: "http",
        rule_host: "app.example",
        rule_path: "/",
        method: "GET",
        host: "app.example",
        path: "/hello",
        status,
        request_bytes: 120,
        response_bytes: 2048,
        duration: Duration::from_millis(millis),
        upstream_connect: Some(Duration::from_micros(400)),
        upstream_header: Some(Duration::from_millis(millis.saturating_sub(1))),
        upstream_addr: Some("127.0.0.1:9001".parse().expect("addr")),
        client_ip: Some("127.0.0.2".parse().expect("ip")),
        request_id: "req-1",
        upstream_reused: Some(false),
        ..Default::default()
    }
}

/// A request no route matched, answered 404 by the proxy itself.
pub fn unmatched_request() -> RequestRecord<'static> {
    RequestRecord {
        class: "internal",
        method: "GET",
        host: "nope.example",
        path: "/missing",
        status: 404,
        request_bytes: 80,
        response_bytes: 150,
        duration: Duration::from_micros(300),
        client_ip: Some("127.0.0.3".parse().expect("ip")),
        request_id: "req-404",
        ..Default::default()
    }
}
