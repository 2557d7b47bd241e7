//! Every metric and label queried by ingress-nginx's two community dashboards exists in our
//! output once Prometheus has scraped it.
//!
//! A scrape adds target labels and, with the default `honor_labels: false`, renames exposed
//! labels that clash with them to `exported_<name>`: that is where the dashboards'
//! `exported_namespace` (the Ingress namespace) and `namespace` (the controller pod's) come
//! from. `kubernetes_pod_name` is the pod label of the widespread `kubernetes-pods` scrape job.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{app_request, scrape, unmatched_request};
use gatehouse_metrics::{CertExpiry, Metrics, MetricsOptions};
use gatehouse_testkit::dashboards::{self, queries};
use gatehouse_testkit::prom::as_scraped;

fn fixture(name: &str) -> String {
    gatehouse_testkit::dashboards::ingress_nginx_dashboard(name).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Series name → label names as stored by Prometheus after scraping our output.
fn scraped(compat_nginx: bool) -> BTreeMap<String, BTreeSet<String>> {
    let m = Metrics::new(MetricsOptions {
        compat_nginx,
        controller_namespace: "gatehouse-system".into(),
        controller_pod: "gatehouse-0".into(),
        classes: vec!["internal".into()],
    })
    .expect("metrics build");
    m.connection_opened("internal");
    for status in [200, 200, 404, 503] {
        m.observe_request(&app_request(status, 12));
    }
    m.observe_request(&unmatched_request());
    m.table_swapped("internal", 1, Duration::from_millis(2));
    m.set_cert_expiry(
        "internal",
        &[CertExpiry {
            host: "app.example",
            not_after_unix: 1_900_000_000,
            secret: "default/app-tls",
            ingress: "app",
        }],
    );
    as_scraped(&scrape(&m.encode()))
}

/// What the dashboard asks for that the scraped series lack.
fn problems(dashboard: &str, min_queries: usize, compat_nginx: bool) -> Vec<String> {
    let qs = queries(&fixture(dashboard)).expect("dashboard parses");
    assert!(
        qs.len() >= min_queries,
        "{dashboard}: only {} queries found",
        qs.len()
    );
    for q in &qs {
        assert!(
            !q.metrics.is_empty(),
            "{dashboard} {}: no metric in {}",
            q.location,
            q.expr
        );
    }
    dashboards::problems(dashboard, &qs, &scraped(compat_nginx))
}

#[test]
fn nginx_dashboard_is_satisfied() {
    let p = problems("nginx.json", 25, true);
    assert!(p.is_empty(), "{}", p.join("\n"));
}

#[test]
fn request_handling_performance_dashboard_is_satisfied() {
    let p = problems("request-handling-performance.json", 14, true);
    assert!(p.is_empty(), "{}", p.join("\n"));
}

#[test]
fn without_compat_every_dashboard_query_misses() {
    // Guards the check itself: with native names only, every query must be reported.
    for (dashboard, min) in [
        ("nginx.json", 25),
        ("request-handling-performance.json", 14),
    ] {
        let found = problems(dashboard, min, false);
        for q in queries(&fixture(dashboard)).expect("parses") {
            let at = format!("{dashboard} {}:", q.location);
            assert!(
                found.iter().any(|p| p.starts_with(&at)),
                "{at} not reported"
            );
        }
    }
}

#[test]
fn dashboard_queries_name_what_the_panels_use() {
    let qs = queries(&fixture("request-handling-performance.json")).expect("parses");
    let q = qs
        .iter()
        .find(|q| q.location == "/panels/3/targets/0/expr")
        .expect("panel 3 query");
    let want: BTreeSet<String> = ["host", "ingress", "le", "method", "path"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(q.labels, want);
    assert_eq!(
        q.metrics.iter().collect::<Vec<_>>(),
        ["nginx_ingress_controller_response_duration_seconds_bucket"]
    );
    let nginx = queries(&fixture("nginx.json")).expect("parses");
    let variable = nginx
        .iter()
        .find(|q| q.location == "/templating/list/4/query")
        .expect("exported_namespace variable");
    assert!(variable.labels.contains("exported_namespace"));
    assert!(variable
        .metrics
        .contains("nginx_ingress_controller_requests"));
    // The datasource variable's "prometheus" is a plugin id, not PromQL.
    assert!(!nginx.iter().any(|q| q.expr == "prometheus"));
}
