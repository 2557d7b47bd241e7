use std::net::SocketAddr;

use serde_json::json;

use super::*;

fn endpoints(t: &Translation, host: &str) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let r = t.tables["internal"]
        .lookup(host, "/")
        .expect("route exists");
    let e = r.backend.endpoints();
    (e.ready.clone(), e.not_ready.clone())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

#[test]
fn ports_by_name_and_number_resolve_through_slices() {
    let objects = vec![
        service("ns", "s", &[("http", 80), ("admin", 9000)]),
        slice(
            "ns",
            "s-1",
            "s",
            "http",
            8080,
            &[("10.0.0.1", true), ("10.0.0.2", false)],
        ),
        slice("ns", "s-2", "s", "http", 8080, &[("10.0.0.3", true)]),
        slice("ns", "s-3", "s", "admin", 9090, &[("10.0.0.1", true)]),
        slice("other", "s-x", "s", "http", 8080, &[("10.9.9.9", true)]),
        ingress(
            "ns",
            "by-number",
            Some("internal"),
            &[("num.example", "/", "Prefix", "s", json!(80))],
        ),
        ingress(
            "ns",
            "by-name",
            Some("internal"),
            &[("name.example", "/", "Prefix", "s", json!("admin"))],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    assert_eq!(
        endpoints(&t, "num.example"),
        (
            vec![addr("10.0.0.1:8080"), addr("10.0.0.3:8080")],
            vec![addr("10.0.0.2:8080")]
        )
    );
    assert_eq!(
        endpoints(&t, "name.example"),
        (vec![addr("10.0.0.1:9090")], vec![])
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}

#[test]
fn unresolvable_backends_route_to_nothing_and_warn() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        ingress(
            "ns",
            "no-svc",
            Some("internal"),
            &[("a.example", "/", "Prefix", "missing", json!(80))],
        ),
        ingress(
            "ns",
            "no-port",
            Some("internal"),
            &[("b.example", "/", "Prefix", "s", json!(81))],
        ),
        ingress(
            "ns",
            "no-eps",
            Some("internal"),
            &[("c.example", "/", "Prefix", "s", json!("http"))],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    for host in ["a.example", "b.example", "c.example"] {
        let r = t.tables["internal"].lookup(host, "/").expect("route kept");
        assert!(r.backend.is_unavailable(), "{host}");
    }
    assert_eq!(
        warning_list(&t),
        vec![
            (
                WarningKind::MissingServicePort,
                "Ingress ns/no-port".to_string()
            ),
            (WarningKind::MissingService, "Ingress ns/no-svc".to_string()),
        ]
    );
}

#[test]
fn routes_to_one_service_port_share_a_backend() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        slice("ns", "s-1", "s", "http", 8080, &[("10.0.0.1", true)]),
        ingress(
            "ns",
            "a",
            Some("internal"),
            &[
                ("a.example", "/", "Prefix", "s", json!(80)),
                ("b.example", "/", "Prefix", "s", json!(80)),
            ],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let a = t.tables["internal"].lookup("a.example", "/").expect("a");
    let b = t.tables["internal"].lookup("b.example", "/").expect("b");
    assert!(std::sync::Arc::ptr_eq(&a.backend, &b.backend));
}

#[test]
fn external_name_services_route_to_what_their_name_resolved_to() {
    let external = |name: &str, target: &str, ports: serde_json::Value| {
        obj(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": "ns", "name": name},
            "spec": {"type": "ExternalName", "externalName": target, "ports": ports}}))
    };
    let objects = vec![
        external(
            "listed",
            "API.Example.",
            json!([{"name": "http", "port": 80, "targetPort": 8080}]),
        ),
        external("unlisted", "api.example", json!([])),
        external("down", "down.example", json!([])),
        external("pending", "new.example", json!([])),
        ingress(
            "ns",
            "listed",
            Some("internal"),
            &[("listed.example", "/", "Prefix", "listed", json!("http"))],
        ),
        ingress(
            "ns",
            "unlisted",
            Some("internal"),
            &[("unlisted.example", "/", "Prefix", "unlisted", json!(443))],
        ),
        ingress(
            "ns",
            "down",
            Some("internal"),
            &[("down.example", "/", "Prefix", "down", json!(80))],
        ),
        ingress(
            "ns",
            "pending",
            Some("internal"),
            &[("pending.example", "/", "Prefix", "pending", json!(80))],
        ),
    ];
    let mut snapshot = Snapshot::from_objects(objects);
    snapshot.external_names = [
        (
            "api.example".to_string(),
            Ok(vec![
                "192.0.2.1".parse().expect("ip"),
                "2001:db8::1".parse().expect("ip"),
            ]),
        ),
        ("down.example".to_string(), Err("no such host".to_string())),
    ]
    .into_iter()
    .collect();
    let t = translate(&snapshot, &two_classes());
    // (host, ready endpoints)
    let cases: [(&str, Vec<SocketAddr>); 4] = [
        (
            "listed.example",
            vec![addr("192.0.2.1:8080"), addr("[2001:db8::1]:8080")],
        ),
        (
            "unlisted.example",
            vec![addr("192.0.2.1:443"), addr("[2001:db8::1]:443")],
        ),
        ("down.example", vec![]),
        ("pending.example", vec![]),
    ];
    for (host, ready) in cases {
        assert_eq!(endpoints(&t, host), (ready, vec![]), "{host}");
    }
    let listed = t.tables["internal"]
        .lookup("listed.example", "/")
        .expect("route");
    assert_eq!(listed.backend.external_name(), Some("api.example"));
    assert_eq!(
        warning_list(&t),
        vec![
            (WarningKind::UnresolvedName, "Ingress ns/down".to_string()),
            (
                WarningKind::UnresolvedName,
                "Ingress ns/pending".to_string()
            ),
        ]
    );
}

#[test]
fn service_upstream_routes_to_the_cluster_ip_per_ingress() {
    const SERVICE_UPSTREAM: &str = "nginx.ingress.kubernetes.io/service-upstream";
    let with_cluster_ip = |name: &str, cluster_ip: &str| {
        obj(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": "ns", "name": name},
            "spec": {"clusterIP": cluster_ip, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}))
    };
    let objects = vec![
        with_cluster_ip("s", "10.96.0.10"),
        with_cluster_ip("headless", "None"),
        slice("ns", "s-1", "s", "http", 8080, &[("10.0.0.1", true)]),
        slice("ns", "h-1", "headless", "http", 8080, &[("10.0.0.2", true)]),
        annotated(
            ingress(
                "ns",
                "via-ip",
                Some("internal"),
                &[("ip.example", "/", "Prefix", "s", json!(80))],
            ),
            &[(SERVICE_UPSTREAM, "true")],
        ),
        ingress(
            "ns",
            "direct",
            Some("internal"),
            &[("direct.example", "/", "Prefix", "s", json!(80))],
        ),
        annotated(
            ingress(
                "ns",
                "headless",
                Some("internal"),
                &[("headless.example", "/", "Prefix", "headless", json!("http"))],
            ),
            &[(SERVICE_UPSTREAM, "true")],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    // (host, ready endpoints)
    let cases = [
        ("ip.example", vec![addr("10.96.0.10:80")]),
        ("direct.example", vec![addr("10.0.0.1:8080")]),
        ("headless.example", vec![addr("10.0.0.2:8080")]),
    ];
    for (host, ready) in cases {
        assert_eq!(endpoints(&t, host), (ready, vec![]), "{host}");
    }
    let table = &t.tables["internal"];
    let slot = |host: &str| table.lookup(host, "/").expect("route").backend.slot();
    assert_ne!(slot("ip.example"), slot("direct.example"));
    assert_eq!(
        warning_list(&t),
        vec![(
            WarningKind::InvalidAnnotation,
            "Ingress ns/headless".to_string()
        )]
    );
}
