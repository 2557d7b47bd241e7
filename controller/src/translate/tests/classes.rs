use std::sync::Arc;

use serde_json::json;

use super::*;

#[test]
fn ingresses_go_to_their_class() {
    let mut objects = vec![
        service("ns", "s", &[("http", 80)]),
        ingress(
            "ns",
            "int",
            Some("internal"),
            &[("int.example", "/", "Prefix", "s", json!(80))],
        ),
        ingress(
            "ns",
            "ext",
            Some("external"),
            &[("ext.example", "/", "Prefix", "s", json!(80))],
        ),
        ingress(
            "ns",
            "none",
            None,
            &[("none.example", "/", "Prefix", "s", json!(80))],
        ),
        ingress(
            "ns",
            "other",
            Some("nginx"),
            &[("other.example", "/", "Prefix", "s", json!(80))],
        ),
    ];
    let mut legacy = ingress(
        "ns",
        "legacy",
        None,
        &[("legacy.example", "/", "Prefix", "s", json!(80))],
    );
    if let Object::Ingress(i) = &mut legacy {
        Arc::make_mut(i).metadata.annotations = Some(
            [(
                "kubernetes.io/ingress.class".to_string(),
                "external".to_string(),
            )]
            .into(),
        );
    }
    objects.push(legacy);
    let t = translate(&Snapshot::from_objects(objects), &two_classes());

    let cases = [
        ("internal", "int.example", Some("int")),
        ("internal", "ext.example", None),
        ("internal", "none.example", Some("none")), // default class
        ("internal", "other.example", None),        // unknown class: nobody
        ("external", "ext.example", Some("ext")),
        ("external", "int.example", None),
        ("external", "legacy.example", Some("legacy")), // legacy annotation
        ("external", "other.example", None),
    ];
    for (class, host, want) in cases {
        assert_eq!(
            route(&t, class, host, "/").as_deref(),
            want,
            "{class} {host}"
        );
    }
    let refs = |names: &[&str]| -> Vec<gatehouse_routes::IngressRef> {
        names
            .iter()
            .map(|n| gatehouse_routes::IngressRef::new("ns", n))
            .collect()
    };
    assert_eq!(t.members["internal"], refs(&["int", "none"]));
    assert_eq!(t.members["external"], refs(&["ext", "legacy"]));
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}

#[test]
fn ingress_class_objects_decide_ownership_and_default() {
    let objects = vec![
        obj(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "internal"}, "spec": {"controller": "k8s.io/ingress-nginx"}}),
        ),
        obj(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "external",
                "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": DEFAULT_CONTROLLER_NAME}}),
        ),
        service("ns", "s", &[("http", 80)]),
        ingress(
            "ns",
            "int",
            Some("internal"),
            &[("int.example", "/", "Prefix", "s", json!(80))],
        ),
        ingress(
            "ns",
            "none",
            None,
            &[("none.example", "/", "Prefix", "s", json!(80))],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    // `internal` belongs to another controller; the cluster's default class is `external`.
    assert_eq!(route(&t, "internal", "int.example", "/"), None);
    assert_eq!(route(&t, "internal", "none.example", "/"), None);
    assert_eq!(
        route(&t, "external", "none.example", "/").as_deref(),
        Some("none")
    );
    assert_eq!(
        warning_list(&t),
        vec![(
            WarningKind::ForeignIngressClass,
            "IngressClass internal".to_string()
        )]
    );
}

#[test]
fn every_configured_class_gets_a_table() {
    let t = translate(&Snapshot::default(), &two_classes());
    assert_eq!(
        t.tables.keys().collect::<Vec<_>>(),
        ["external", "internal"]
    );
}
