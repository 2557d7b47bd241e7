//! Route policies from annotations: every route of an Ingress carries what its annotations ask
//! for, invalid values are reported and fall back to defaults, and host-wide redirects sit on
//! the host entry.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;

fn with_default_backend(o: Object, service: &str) -> Object {
    let Object::Ingress(mut i) = o else {
        panic!("ingress expected")
    };
    if let Some(spec) = Arc::make_mut(&mut i).spec.as_mut() {
        spec.default_backend = Some(
            serde_json::from_value(json!({"service": {"name": service, "port": {"number": 80}}}))
                .expect("backend"),
        );
    }
    Object::Ingress(i)
}

const TIMEOUT: &str = "nginx.ingress.kubernetes.io/proxy-connect-timeout";

#[test]
fn connect_timeout_reaches_every_route_of_its_ingress() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        with_default_backend(
            annotated(
                ingress(
                    "ns",
                    "slow",
                    Some("internal"),
                    &[
                        ("slow.example", "/", "Prefix", "s", json!(80)),
                        ("slow.example", "/api", "Exact", "s", json!(80)),
                    ],
                ),
                &[(TIMEOUT, "2")],
            ),
            "s",
        ),
        annotated(
            ingress(
                "ns",
                "bad",
                Some("internal"),
                &[("bad.example", "/", "Prefix", "s", json!(80))],
            ),
            &[(TIMEOUT, "later")],
        ),
        ingress(
            "ns",
            "plain",
            Some("internal"),
            &[("plain.example", "/", "Prefix", "s", json!(80))],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let timeout = |host: &str, path: &str| {
        table
            .lookup(host, path)
            .expect("route")
            .policy
            .connect_timeout
    };
    // (host, path, connect timeout)
    let cases = [
        ("slow.example", "/", Some(Duration::from_secs(2))),
        ("slow.example", "/api", Some(Duration::from_secs(2))),
        ("other.example", "/", Some(Duration::from_secs(2))), // the default backend
        ("bad.example", "/", None),
        ("plain.example", "/", None),
    ];
    for (host, path, want) in cases {
        assert_eq!(timeout(host, path), want, "{host}{path}");
    }
    let a = table.lookup("slow.example", "/").expect("route");
    let b = table.lookup("slow.example", "/api").expect("route");
    assert!(
        Arc::ptr_eq(&a.policy, &b.policy),
        "routes of one Ingress that behave alike share one policy"
    );
    assert_eq!(
        warning_list(&t),
        vec![(WarningKind::InvalidAnnotation, "Ingress ns/bad".to_string())]
    );
}

#[test]
fn tls_hosts_redirect_as_a_whole() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        obj(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"namespace": "ns", "name": "secure"},
            "spec": {"ingressClassName": "internal",
                "tls": [{"hosts": ["Secure.Example"]}],
                "rules": [{"host": "secure.example", "http": {"paths": [{"path": "/app", "pathType": "Prefix",
                    "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}}),
        ),
        ingress(
            "ns",
            "plain",
            Some("internal"),
            &[("plain.example", "/", "Prefix", "s", json!(80))],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let redirects = |host: &str| table.host_policy(host).map(|p| p.redirect_https);
    assert_eq!(redirects("secure.example"), Some(true));
    assert_eq!(redirects("plain.example"), Some(false));
    assert_eq!(redirects("absent.example"), None);
    let unmatched = table.find("secure.example", "/elsewhere");
    assert!(unmatched.fallback && unmatched.host.redirect_https);
}

#[test]
fn allow_encoded_slashes_is_per_ingress_and_gatehouse_only() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        annotated(
            ingress(
                "ns",
                "gitlab",
                Some("internal"),
                &[("git.example", "/api", "Prefix", "s", json!(80))],
            ),
            &[("gatehouse.dev/allow-encoded-slashes", "true")],
        ),
        // ingress-nginx has no such key; under its prefix it turns nothing on.
        annotated(
            ingress(
                "ns",
                "web",
                Some("internal"),
                &[("git.example", "/", "Prefix", "s", json!(80))],
            ),
            &[("nginx.ingress.kubernetes.io/allow-encoded-slashes", "true")],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let allowed = |path: &str| {
        table
            .lookup("git.example", path)
            .expect("route")
            .policy
            .allow_encoded_slashes
    };
    assert!(allowed("/api/v4/projects/group%2Fproject"));
    assert!(!allowed("/"));
    assert!(!allowed("/apiary"));
    assert!(warning_list(&t).is_empty(), "{:?}", warning_list(&t));
}
