//! Records in, text format out, parsed back: exact counter and histogram-count deltas.

mod common;

use std::time::Duration;

use common::{app_request, scrape, unmatched_request};
use gatehouse_metrics::{
    AcmeOrderResult, CertExpiry, Metrics, MetricsOptions, ReadyEndpoints, RequestRecord,
    UpstreamErrorKind,
};
use gatehouse_testkit::prom::{bucket, exists, value};

fn metrics(compat: bool) -> Metrics {
    Metrics::new(MetricsOptions {
        compat_nginx: compat,
        controller_namespace: "gatehouse-system".into(),
        controller_pod: "gatehouse-0".into(),
        classes: vec!["internal".into(), "external".into()],
    })
    .expect("metrics build")
}

const APP: &[(&str, &str)] = &[
    ("class", "internal"),
    ("namespace", "default"),
    ("ingress", "app"),
    ("service", "app"),
];
const UNMATCHED: &[(&str, &str)] = &[
    ("class", "internal"),
    ("namespace", "-"),
    ("ingress", "-"),
    ("service", "-"),
];

fn with<'a>(base: &[(&'a str, &'a str)], more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    base.iter().chain(more).copied().collect()
}

#[test]
fn request_counters_and_histograms_move_by_exact_amounts() {
    let m = metrics(true);
    // Some traffic before the baseline so deltas, not absolute values, are checked.
    m.observe_request(&app_request(200, 15));
    let before = scrape(&m.encode());

    for _ in 0..3 {
        m.observe_request(&app_request(200, 15));
    }
    m.observe_request(&unmatched_request());
    let failed = RequestRecord {
        upstream_error: Some(UpstreamErrorKind::ConnectRefused),
        retries: 2,
        upstream_header: None,
        upstream_connect: None,
        upstream_reused: None,
        ..app_request(503, 4)
    };
    m.observe_request(&failed);
    let reused = RequestRecord {
        upstream_reused: Some(true),
        upstream_connect: None,
        method: "PROPFIND",
        ..app_request(207, 30)
    };
    m.observe_request(&reused);
    let after = scrape(&m.encode());

    let delta = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels) - value(&before, metric, labels)
    };
    let requests = "gatehouse_http_requests_total";
    let get = [("method", "GET")];
    assert_eq!(
        delta(requests, &with(APP, &[("status", "200"), get[0]])),
        3.0
    );
    assert_eq!(
        delta(requests, &with(APP, &[("status", "503"), get[0]])),
        1.0
    );
    assert_eq!(
        delta(
            requests,
            &with(APP, &[("status", "207"), ("method", "OTHER")])
        ),
        1.0
    );
    assert_eq!(delta(requests, &with(UNMATCHED, &[("status", "404")])), 1.0);

    let count = "gatehouse_http_request_duration_seconds_count";
    assert_eq!(delta(count, APP), 5.0);
    assert_eq!(delta(count, UNMATCHED), 1.0);
    let hist = "gatehouse_http_request_duration_seconds";
    // 3 × 15 ms, 4 ms and 30 ms: only the 4 ms one is under 10 ms, all but 30 ms under 25 ms.
    let b = |s: &[_], le| bucket(s, hist, APP, le);
    assert_eq!(b(&after, 0.01) - b(&before, 0.01), 1.0);
    assert_eq!(b(&after, 0.025) - b(&before, 0.025), 4.0);
    assert_eq!(b(&after, 0.05) - b(&before, 0.05), 5.0);
    assert_eq!(bucket(&after, hist, UNMATCHED, 0.001), 1.0);

    // Connect time only when a new connection was made; header time only when one arrived.
    assert_eq!(
        delta("gatehouse_upstream_connect_duration_seconds_count", APP),
        3.0
    );
    assert_eq!(
        delta("gatehouse_upstream_header_duration_seconds_count", APP),
        4.0
    );
    assert_eq!(
        delta("gatehouse_http_request_bytes_total", APP),
        5.0 * 120.0
    );
    assert_eq!(
        delta("gatehouse_http_response_bytes_total", UNMATCHED),
        150.0
    );
    let pool = "gatehouse_upstream_connections_total";
    assert_eq!(
        delta(pool, &[("class", "internal"), ("reused", "false")]),
        3.0
    );
    assert_eq!(
        delta(pool, &[("class", "internal"), ("reused", "true")]),
        1.0
    );
    assert_eq!(delta("gatehouse_upstream_retries_total", APP), 2.0);
    assert_eq!(
        delta(
            "gatehouse_upstream_errors_total",
            &with(APP, &[("kind", "connect_refused")])
        ),
        1.0
    );
    assert!(!exists(
        &after,
        "gatehouse_upstream_errors_total",
        &[("kind", "reset")]
    ));

    // The ingress-nginx view of the same traffic: rule path and host, empty names when unmatched.
    let nginx = "nginx_ingress_controller_requests";
    let nginx_app = [
        ("controller_class", "internal"),
        ("controller_namespace", "gatehouse-system"),
        ("controller_pod", "gatehouse-0"),
        ("namespace", "default"),
        ("ingress", "app"),
        ("service", "app"),
        ("path", "/"),
        ("host", "app.example"),
        ("method", "GET"),
    ];
    assert_eq!(delta(nginx, &with(&nginx_app, &[("status", "200")])), 3.0);
    assert_eq!(delta(nginx, &with(&nginx_app, &[("status", "503")])), 1.0);
    assert_eq!(
        delta(nginx, &[("status", "404"), ("ingress", ""), ("path", "")]),
        1.0
    );
    assert_eq!(
        delta(
            "nginx_ingress_controller_request_duration_seconds_count",
            &with(&nginx_app, &[("status", "200")])
        ),
        3.0
    );
    assert_eq!(
        delta(
            "nginx_ingress_controller_response_size_sum",
            &with(&nginx_app, &[("status", "200")])
        ),
        3.0 * 2048.0
    );
    // The unmatched 404 never reached an upstream.
    assert_eq!(
        delta(
            "nginx_ingress_controller_response_duration_seconds_count",
            &[("status", "404")]
        ),
        0.0
    );
}

#[test]
fn compat_series_are_absent_without_the_option() {
    let m = metrics(false);
    m.observe_request(&app_request(200, 5));
    let text = m.encode();
    assert!(text.contains("gatehouse_http_requests_total"));
    assert!(!text.contains("nginx_ingress_controller"));
}

#[test]
fn connections_and_in_flight_requests() {
    let m = metrics(true);
    for _ in 0..3 {
        m.connection_opened("internal");
    }
    m.connection_closed("internal");
    let busy = m.request_started("internal");
    let s = scrape(&m.encode());
    let open = "gatehouse_downstream_connections_open";
    assert_eq!(value(&s, open, &[("class", "internal")]), 2.0);
    assert_eq!(value(&s, open, &[("class", "external")]), 0.0);
    assert_eq!(
        value(
            &s,
            "gatehouse_downstream_connections_total",
            &[("class", "internal")]
        ),
        3.0
    );
    let conns = "nginx_ingress_controller_nginx_process_connections";
    let state = |s: &[_], st| value(s, conns, &[("controller_class", "internal"), ("state", st)]);
    assert_eq!(state(&s, "active"), 2.0);
    assert_eq!(state(&s, "writing"), 1.0);
    assert_eq!(state(&s, "waiting"), 1.0);
    assert_eq!(state(&s, "reading"), 0.0);
    drop(busy);
    let s = scrape(&m.encode());
    assert_eq!(state(&s, "writing"), 0.0);
    assert_eq!(state(&s, "waiting"), 2.0);
    assert_eq!(
        value(
            &s,
            "gatehouse_http_requests_in_flight",
            &[("class", "internal")]
        ),
        0.0
    );
}

#[test]
fn controller_side_series_and_stale_removal() {
    let m = metrics(true);
    m.table_swapped("internal", 7, Duration::from_millis(3));
    m.table_swapped("internal", 8, Duration::from_millis(2));
    m.set_warnings("internal", &[("MissingService", 2), ("BadAnnotation", 1)]);
    m.set_warnings("internal", &[("MissingService", 1)]);
    m.set_objects(&[("Ingress", 4), ("Service", 3)]);
    m.set_ready_endpoints(&[
        ReadyEndpoints {
            namespace: "default",
            service: "app",
            ready: 2,
        },
        ReadyEndpoints {
            namespace: "default",
            service: "old",
            ready: 1,
        },
    ]);
    m.set_ready_endpoints(&[ReadyEndpoints {
        namespace: "default",
        service: "app",
        ready: 3,
    }]);
    let cert = |host, not_after| CertExpiry {
        host,
        not_after_unix: not_after,
        secret: "default/app-tls",
        ingress: "app",
    };
    m.set_cert_expiry(
        "internal",
        &[cert("a.example", 1_800_000_000), cert("b.example", 1)],
    );
    m.set_cert_expiry("internal", &[cert("a.example", 1_900_000_000)]);
    m.set_cert_expiry("external", &[cert("c.example", 1_700_000_000)]);
    m.acme_order(AcmeOrderResult::Issued);
    m.acme_order(AcmeOrderResult::Issued);
    m.set_next_renewal("a.example", Some(1_850_000_000));
    m.set_next_renewal("b.example", Some(1_850_000_000));
    m.set_next_renewal("b.example", None);
    let s = scrape(&m.encode());

    let class = [("class", "internal")];
    assert_eq!(value(&s, "gatehouse_route_table_generation", &class), 8.0);
    assert_eq!(value(&s, "gatehouse_route_table_swaps_total", &class), 2.0);
    assert_eq!(
        value(
            &s,
            "gatehouse_route_table_translate_duration_seconds_count",
            &class
        ),
        2.0
    );
    assert!(
        value(
            &s,
            "gatehouse_route_table_last_swap_timestamp_seconds",
            &class
        ) > 1.7e9
    );
    let warnings = "gatehouse_translate_warnings";
    assert_eq!(value(&s, warnings, &[("kind", "MissingService")]), 1.0);
    assert!(!exists(&s, warnings, &[("kind", "BadAnnotation")]));
    assert_eq!(
        value(&s, "gatehouse_snapshot_objects", &[("kind", "Ingress")]),
        4.0
    );
    let ready = "gatehouse_service_ready_endpoints";
    assert_eq!(value(&s, ready, &[("service", "app")]), 3.0);
    assert!(!exists(&s, ready, &[("service", "old")]));
    let not_after = "gatehouse_certificate_not_after_timestamp_seconds";
    assert_eq!(value(&s, not_after, &[("host", "a.example")]), 1.9e9);
    assert!(!exists(&s, not_after, &[("host", "b.example")]));
    assert_eq!(value(&s, not_after, &[("class", "external")]), 1.7e9);
    let ssl = "nginx_ingress_controller_ssl_expire_time_seconds";
    assert_eq!(
        value(
            &s,
            ssl,
            &[
                ("host", "a.example"),
                ("class", "internal"),
                ("namespace", "gatehouse-system"),
                ("ingress", "app"),
                ("secret_name", "app-tls")
            ]
        ),
        1.9e9
    );
    assert!(!exists(&s, ssl, &[("host", "b.example")]));
    let acme = "gatehouse_acme_orders_total";
    assert_eq!(value(&s, acme, &[("result", "issued")]), 2.0);
    assert_eq!(value(&s, acme, &[("result", "error")]), 0.0);
    assert!(exists(&s, acme, &[("result", "invalid")]));
    let renewal = "gatehouse_certificate_next_renewal_timestamp_seconds";
    assert_eq!(value(&s, renewal, &[("host", "a.example")]), 1.85e9);
    assert!(!exists(&s, renewal, &[("host", "b.example")]));

    let nginx_class = [("controller_class", "internal")];
    assert_eq!(
        value(&s, "nginx_ingress_controller_config_hash", &nginx_class),
        8.0
    );
    assert_eq!(
        value(
            &s,
            "nginx_ingress_controller_config_last_reload_successful",
            &nginx_class
        ),
        1.0
    );
    assert_eq!(
        value(&s, "nginx_ingress_controller_success", &nginx_class),
        2.0
    );
    // The external instance has not swapped a table yet: not (yet) successfully loaded.
    assert_eq!(
        value(
            &s,
            "nginx_ingress_controller_config_last_reload_successful",
            &[("controller_class", "external")]
        ),
        0.0
    );
    assert_eq!(
        value(&s, "nginx_ingress_controller_errors", &nginx_class),
        0.0
    );
}

#[test]
fn build_info_and_process_figures() {
    let m = metrics(true);
    let s = scrape(&m.encode());
    assert!(exists(
        &s,
        "gatehouse_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))]
    ));
    assert_eq!(value(&s, "gatehouse_build_info", &[]), 1.0);
    if cfg!(target_os = "linux") {
        assert!(value(&s, "process_resident_memory_bytes", &[]) > 0.0);
        let rss = "nginx_ingress_controller_nginx_process_resident_memory_bytes";
        assert!(value(&s, rss, &[("controller_class", "internal")]) > 0.0);
        assert_eq!(
            value(
                &s,
                "nginx_ingress_controller_nginx_process_num_procs",
                &[("controller_class", "external")]
            ),
            1.0
        );
        // CPU only goes up between scrapes.
        let cpu = "nginx_ingress_controller_nginx_process_cpu_seconds_total";
        let first = value(&s, cpu, &[("controller_class", "internal")]);
        let mut spin = 0u64;
        for i in 0..20_000_000u64 {
            spin = spin.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(spin);
        let s2 = scrape(&m.encode());
        assert!(value(&s2, cpu, &[("controller_class", "internal")]) >= first);
    }
}

/// The request-path series of an encoding (process figures move between two scrapes).
fn request_series(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("gatehouse_http_") || l.starts_with("gatehouse_upstream_"))
        .collect()
}

#[test]
fn kept_handles_record_exactly_what_label_lookups_record() {
    let records = [
        app_request(200, 15),
        app_request(200, 3),
        app_request(503, 4),
        RequestRecord {
            method: "PROPFIND",
            status: 1000,
            retries: 2,
            upstream_error: Some(UpstreamErrorKind::ReadTimeout),
            upstream_reused: Some(true),
            upstream_connect: None,
            ..app_request(504, 60)
        },
        unmatched_request(),
        unmatched_request(),
    ];
    let looked_up = metrics(false);
    let kept = metrics(false);
    let class = kept.class_series("internal");
    let route = kept.route_series("internal", "default", "app", "app");
    // Nothing is registered before a request moves it, as with lookups.
    assert_eq!(
        request_series(&looked_up.encode()),
        request_series(&kept.encode())
    );
    for rec in &records {
        looked_up.observe_request(rec);
        let series = if rec.matched() {
            &route
        } else {
            class.unmatched()
        };
        kept.observe_request_in(rec, &class, series);
    }
    drop((
        looked_up.request_started("internal"),
        kept.request_started_in(&class),
    ));
    assert_eq!(
        request_series(&looked_up.encode()),
        request_series(&kept.encode())
    );
}
