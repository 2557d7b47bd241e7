//! Prometheus text exposition as tests read it: parse a scrape (histogram buckets grouped per
//! series, as `prometheus-parse` does), look series up by labels, and list series names with
//! their label names as Prometheus stores them after scraping.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use anyhow::{ensure, Context as _};
pub use prometheus_parse::{Sample, Value};

use crate::admin;

/// Parses Prometheus text format into samples (histogram buckets grouped per series).
pub fn parse(text: &str) -> anyhow::Result<Vec<Sample>> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Ok(prometheus_parse::Scrape::parse(lines)
        .context("parsing /metrics as Prometheus text")?
        .samples)
}

/// GET /metrics on the admin listener `admin`, parsed.
pub async fn scrape(admin: SocketAddr) -> anyhow::Result<Vec<Sample>> {
    let (status, text) = admin::get(admin, "/metrics").await?;
    ensure!(status == 200, "/metrics answered {status}: {text}");
    parse(&text)
}

fn matches(sample: &Sample, metric: &str, labels: &[(&str, &str)]) -> bool {
    sample.metric == metric && labels.iter().all(|(k, v)| sample.labels.get(k) == Some(*v))
}

/// The value of the one series of `metric` whose labels include `labels`; 0 when absent.
/// Panics when more than one series matches (the test's labels are not specific enough) or
/// when the series is not a counter, gauge or untyped value.
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

/// Sum of every scalar series of `metric` whose labels include `labels`.
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

/// Whether any series of `metric` has labels including `labels`.
pub fn exists(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> bool {
    samples.iter().any(|s| matches(s, metric, labels))
}

/// Cumulative bucket count at `le` of the one histogram series of `metric` matching `labels`;
/// 0 when there is none. Panics when several match or the bucket does not exist.
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

/// Observation count (the +Inf bucket) of the one histogram series matching `labels`.
pub fn histogram_count(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    bucket(samples, metric, labels, f64::INFINITY)
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# TYPE req_total counter
req_total{class=\"a\",status=\"200\"} 3
req_total{class=\"a\",status=\"404\"} 1
# TYPE dur_seconds histogram
dur_seconds_bucket{class=\"a\",le=\"0.1\"} 2
dur_seconds_bucket{class=\"a\",le=\"+Inf\"} 4
dur_seconds_sum{class=\"a\"} 0.9
dur_seconds_count{class=\"a\"} 4
";

    #[test]
    fn looks_up_scalars_and_buckets_by_labels() -> anyhow::Result<()> {
        let s = parse(TEXT)?;
        assert_eq!(value(&s, "req_total", &[("status", "404")]), 1.0);
        assert_eq!(value(&s, "req_total", &[("status", "500")]), 0.0);
        assert_eq!(sum(&s, "req_total", &[("class", "a")]), 4.0);
        assert!(exists(&s, "dur_seconds", &[("class", "a")]));
        assert_eq!(bucket(&s, "dur_seconds", &[("class", "a")], 0.1), 2.0);
        assert_eq!(histogram_count(&s, "dur_seconds", &[("class", "a")]), 4.0);
        Ok(())
    }

    #[test]
    #[should_panic(expected = "matches 2 series")]
    fn value_refuses_ambiguous_labels() {
        let s = parse(TEXT).expect("parses");
        value(&s, "req_total", &[("class", "a")]);
    }

    #[test]
    fn as_scraped_adds_target_labels_and_renames_clashes() -> anyhow::Result<()> {
        let s = parse("# TYPE up gauge\nup{namespace=\"ns\",x=\"1\"} 1\n")?;
        let series = as_scraped(&s);
        let up = &series["up"];
        assert!(up.contains("exported_namespace") && up.contains("namespace"));
        assert!(up.contains("x") && up.contains("job"));
        let names = label_names(&parse(TEXT)?);
        assert!(names["dur_seconds_bucket"].contains("le"));
        assert!(!names["dur_seconds_count"].contains("le"));
        Ok(())
    }
}
