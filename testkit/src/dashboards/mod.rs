//! Reads a Grafana dashboard's JSON and lists its PromQL queries with the names they use, so
//! tests can check that our metrics satisfy a dashboard.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use serde_json::Value;

mod promql;

pub use promql::{names, Names};

/// One PromQL expression found in a dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// JSON pointer to where it was found, e.g. `/panels/3/targets/0/expr`.
    pub location: String,
    /// The expression text.
    pub expr: String,
    /// Metric names it selects.
    pub metrics: BTreeSet<String>,
    /// Label names it matches on or groups by.
    pub labels: BTreeSet<String>,
}

impl Query {
    fn new(location: String, expr: &str) -> Self {
        let Names { metrics, labels } = names(expr);
        Self {
            location,
            expr: expr.to_owned(),
            metrics,
            labels,
        }
    }
}

/// Every PromQL expression in a dashboard: panel targets' `expr` at any depth (rows nest
/// panels), annotation `expr`s, and query variables' `query`/`definition`.
pub fn queries(dashboard_json: &str) -> anyhow::Result<Vec<Query>> {
    let root: Value =
        serde_json::from_str(dashboard_json).context("reading Grafana dashboard JSON")?;
    let mut out = Vec::new();
    walk(&root, String::new(), &mut out);
    Ok(out)
}

/// What `queries` of dashboard `name` ask for that `series` (series name → label names, as
/// Prometheus stores them) lacks: one line per query without a metric, per missing metric and
/// per missing label, each starting `{name} {location}:`.
pub fn problems(
    name: &str,
    queries: &[Query],
    series: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for q in queries {
        if q.metrics.is_empty() {
            problems.push(format!("{name} {}: no metric in {}", q.location, q.expr));
        }
        for metric in &q.metrics {
            let Some(labels) = series.get(metric) else {
                problems.push(format!("{name} {}: metric {metric} missing", q.location));
                continue;
            };
            for label in q.labels.iter().filter(|l| !labels.contains(*l)) {
                problems.push(format!(
                    "{name} {}: {metric} has no label {label}",
                    q.location
                ));
            }
        }
    }
    problems
}

fn walk(value: &Value, at: String, out: &mut Vec<Query>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(expr)) = map.get("expr") {
                if !expr.trim().is_empty() {
                    out.push(Query::new(format!("{at}/expr"), expr));
                }
            }
            if map.get("type").and_then(Value::as_str) == Some("query") {
                variable_queries(map, &at, out);
            }
            for (key, child) in map {
                if key != "expr" {
                    walk(child, format!("{at}/{}", escape(key)), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A query variable's `query` (a string, or an object holding `query`) and its `definition`
/// when that says something different.
fn variable_queries(map: &serde_json::Map<String, Value>, at: &str, out: &mut Vec<Query>) {
    let query = match map.get("query") {
        Some(Value::String(q)) => Some((format!("{at}/query"), q.as_str())),
        Some(Value::Object(o)) => o
            .get("query")
            .and_then(Value::as_str)
            .map(|q| (format!("{at}/query/query"), q)),
        _ => None,
    };
    let query = query.filter(|(_, q)| !q.trim().is_empty());
    if let Some((location, q)) = &query {
        out.push(Query::new(location.clone(), q));
    }
    if let Some(def) = map.get("definition").and_then(Value::as_str) {
        let same = query.as_ref().is_some_and(|(_, q)| q.trim() == def.trim());
        if !def.trim().is_empty() && !same {
            out.push(Query::new(format!("{at}/definition"), def));
        }
    }
}

/// JSON pointer escaping (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The ingress-nginx community dashboards kept in the repository (`testkit/fixtures/`), by
/// file name (`nginx.json`, `request-handling-performance.json`): the tests need no checkout
/// beside the repository.
pub fn ingress_nginx_dashboard(name: &str) -> anyhow::Result<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/ingress-nginx-dashboards")
        .join(name);
    std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("reading dashboard fixture {}: {e}", path.display()))
}

/// File names of the ingress-nginx dashboards in [`ingress_nginx_dashboard`].
pub const INGRESS_NGINX_DASHBOARDS: [&str; 2] = ["nginx.json", "request-handling-performance.json"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_panel_row_annotation_and_variable_queries() {
        let json = r#"{
          "annotations": {"list": [{"expr": "sum(changes(a_ts{instance!=\"unknown\"}[30s])) by (controller_class)"}]},
          "panels": [
            {"type": "row", "panels": [{"targets": [{"expr": "sum(rate(b_total{x=\"1\"}[5m])) by (y)"}]}]},
            {"targets": [{"expr": ""}, {"expr": "c"}]}
          ],
          "templating": {"list": [
            {"type": "datasource", "query": "prometheus"},
            {"type": "query", "definition": "", "query": "label_values(d, lbl)"},
            {"type": "query", "definition": "label_values(e, l2) ", "query": {"query": "label_values(e, l2) ", "refId": "x"}}
          ]}
        }"#;
        let qs = queries(json).expect("valid json");
        let locations: Vec<&str> = qs.iter().map(|q| q.location.as_str()).collect();
        assert_eq!(
            locations,
            [
                "/annotations/list/0/expr",
                "/panels/0/panels/0/targets/0/expr",
                "/panels/1/targets/1/expr",
                "/templating/list/1/query",
                "/templating/list/2/query/query",
            ]
        );
        assert!(qs[0].metrics.contains("a_ts"));
        assert!(qs[0].labels.contains("instance") && qs[0].labels.contains("controller_class"));
        assert!(qs[1].labels.contains("x") && qs[1].labels.contains("y"));
        assert!(qs[3].metrics.contains("d") && qs[3].labels.contains("lbl"));
        assert!(qs[4].metrics.contains("e") && qs[4].labels.contains("l2"));
    }

    #[test]
    fn problems_name_missing_metrics_and_labels() {
        let qs = queries(
            r#"{"panels": [{"targets": [
              {"expr": "sum(rate(a_total{x=\"1\"}[5m])) by (y)"},
              {"expr": "b"},
              {"expr": "$var"}
            ]}]}"#,
        )
        .expect("valid json");
        let series = BTreeMap::from([("a_total".to_owned(), BTreeSet::from(["x".to_owned()]))]);
        assert_eq!(
            problems("d", &qs, &series),
            [
                "d /panels/0/targets/0/expr: a_total has no label y",
                "d /panels/0/targets/1/expr: metric b missing",
                "d /panels/0/targets/2/expr: no metric in $var",
            ]
        );
    }

    #[test]
    fn rejects_invalid_json() {
        assert!(queries("{not json").is_err());
    }
}
