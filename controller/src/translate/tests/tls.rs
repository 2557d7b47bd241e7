use std::sync::Arc;

use gatehouse_testkit::tlsgen::{self, LeafSpec};
use serde_json::{json, Value};

use super::*;

fn tls_secret(ns: &str, name: &str, hosts: &[&str]) -> Object {
    let leaf = tlsgen::self_signed(&LeafSpec::new(hosts)).expect("test certificate");
    obj(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"namespace": ns, "name": name},
        "stringData": {"tls.crt": leaf.chain_pem, "tls.key": leaf.key_pem}}),
    )
}

fn with_tls(o: Object, tls: Value, annotations: &[(&str, &str)]) -> Object {
    let Object::Ingress(mut i) = annotated(o, annotations) else {
        panic!("ingress expected")
    };
    if let Some(spec) = Arc::make_mut(&mut i).spec.as_mut() {
        spec.tls = Some(serde_json::from_value(tls).expect("tls"));
    }
    Object::Ingress(i)
}

fn redirects(t: &Translation, class: &str, host: &str) -> bool {
    t.tables[class]
        .lookup(host, "/")
        .expect("route")
        .policy
        .redirect_https
}

#[test]
fn certificates_per_class_and_redirects() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        tls_secret("ns", "secure-tls", &["secure.example"]),
        with_tls(
            ingress(
                "ns",
                "secure",
                Some("internal"),
                &[("secure.example", "/", "Prefix", "s", json!(80))],
            ),
            json!([{"hosts": ["secure.example"], "secretName": "secure-tls"}]),
            &[],
        ),
        with_tls(
            ingress(
                "ns",
                "no-redirect",
                Some("internal"),
                &[("quiet.example", "/", "Prefix", "s", json!(80))],
            ),
            json!([{"hosts": ["quiet.example"], "secretName": "secure-tls"}]),
            &[("nginx.ingress.kubernetes.io/ssl-redirect", "false")],
        ),
        with_tls(
            ingress(
                "ns",
                "forced",
                Some("internal"),
                &[("forced.example", "/", "Prefix", "s", json!(80))],
            ),
            json!([]),
            &[("nginx.ingress.kubernetes.io/force-ssl-redirect", "true")],
        ),
        ingress(
            "ns",
            "plain",
            Some("internal"),
            &[("plain.example", "/", "Prefix", "s", json!(80))],
        ),
        with_tls(
            ingress(
                "ns",
                "ext",
                Some("external"),
                &[("ext.example", "/", "Prefix", "s", json!(80))],
            ),
            json!([{"hosts": ["ext.example"], "secretName": "secure-tls"}]),
            &[("nginx.ingress.kubernetes.io/force-ssl-redirect", "true")],
        ),
        with_tls(
            ingress(
                "ns",
                "broken",
                Some("internal"),
                &[("broken.example", "/", "Prefix", "s", json!(80))],
            ),
            json!([{"hosts": ["broken.example"], "secretName": "missing-tls"}]),
            &[],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());

    for (host, want) in [
        ("secure.example", true),
        ("quiet.example", false), // ssl-redirect: "false"
        ("forced.example", true), // force-ssl-redirect without TLS
        ("plain.example", false),
        ("broken.example", true), // TLS with the default certificate still redirects
    ] {
        assert_eq!(redirects(&t, "internal", host), want, "{host}");
    }
    // `external` has no HTTPS listener: nothing may redirect there.
    assert!(!redirects(&t, "external", "ext.example"));

    let internal: Vec<String> = t.certs["internal"]
        .infos()
        .iter()
        .map(|i| i.host.clone())
        .collect();
    assert_eq!(internal, ["quiet.example", "secure.example"]);
    let external: Vec<String> = t.certs["external"]
        .infos()
        .iter()
        .map(|i| i.host.clone())
        .collect();
    assert_eq!(
        external,
        ["ext.example"],
        "each class gets only its own certificates"
    );
    assert_eq!(
        warning_list(&t),
        vec![(WarningKind::TlsSecret, "Ingress ns/broken".to_string())]
    );
}

#[test]
fn secrets_that_are_not_tls_or_do_not_parse_are_reported() {
    let mut objects = vec![service("ns", "s", &[("http", 80)])];
    objects.push(obj(json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"namespace": "ns", "name": "opaque"}, "stringData": {"tls.crt": "x", "tls.key": "y"}})));
    objects.push(obj(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"namespace": "ns", "name": "garbage"}, "stringData": {"tls.crt": "not pem", "tls.key": "nope"}})));
    for (name, secret) in [("a", "opaque"), ("b", "garbage")] {
        objects.push(with_tls(
            ingress(
                "ns",
                name,
                Some("internal"),
                &[(&format!("{name}.example"), "/", "Prefix", "s", json!(80))],
            ),
            json!([{"hosts": [format!("{name}.example")], "secretName": secret}]),
            &[],
        ));
    }
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let messages: Vec<&str> = t.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains("ns/opaque") && messages[0].contains("Opaque"),
        "{}",
        messages[0]
    );
    assert!(messages[1].contains("ns/garbage"), "{}", messages[1]);
    assert!(t.certs["internal"].infos().is_empty());
    // Routing is unaffected.
    assert_eq!(
        route(&t, "internal", "a.example", "/").as_deref(),
        Some("a")
    );
}
