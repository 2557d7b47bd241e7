//! Table tests of translation: objects in, routes and warnings out. Split by feature.

mod backends;
mod basic_auth;
mod classes;
mod incremental;
mod owners;
mod policies;
mod proxy_ssl;
mod rules;
mod tls;

use serde_json::{json, Value};

use super::*;
use crate::snapshot::Object;

/// Parses a JSON object of a supported kind.
pub fn obj(v: Value) -> Object {
    crate::sources::manifests::parse_value(v).expect("valid fixture object")
}

/// An Ingress with `rules` as `(host, path, pathType, service, port)`; port is a number or name.
pub fn ingress(
    ns: &str,
    name: &str,
    class: Option<&str>,
    rules: &[(&str, &str, &str, &str, Value)],
) -> Object {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(host, path, ty, svc, port)| {
            let port = if port.is_number() {
                json!({"number": port})
            } else {
                json!({"name": port})
            };
            let mut r = json!({"http": {"paths": [{"path": path, "pathType": ty,
                "backend": {"service": {"name": svc, "port": port}}}]}});
            if !host.is_empty() {
                r["host"] = json!(host);
            }
            r
        })
        .collect();
    let mut spec = json!({ "rules": rules });
    if let Some(c) = class {
        spec["ingressClassName"] = json!(c);
    }
    obj(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"namespace": ns, "name": name}, "spec": spec}),
    )
}

/// `o` (an Ingress) with `annotations` as its only annotations.
pub fn annotated(o: Object, annotations: &[(&str, &str)]) -> Object {
    let Object::Ingress(mut i) = o else {
        panic!("ingress expected")
    };
    std::sync::Arc::make_mut(&mut i).metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    Object::Ingress(i)
}

/// A Service with named ports `(name, port)`.
pub fn service(ns: &str, name: &str, ports: &[(&str, i32)]) -> Object {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p)| json!({"name": n, "port": p}))
        .collect();
    obj(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": ns, "name": name}, "spec": {"ports": ports}}))
}

/// An EndpointSlice for `service` with one port and `(ip, ready)` endpoints.
pub fn slice(
    ns: &str,
    name: &str,
    service: &str,
    port_name: &str,
    port: i32,
    eps: &[(&str, bool)],
) -> Object {
    let endpoints: Vec<Value> = eps
        .iter()
        .map(|(ip, ready)| json!({"addresses": [ip], "conditions": {"ready": ready}}))
        .collect();
    obj(
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": ns, "name": name, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "ports": [{"name": port_name, "port": port}], "endpoints": endpoints}),
    )
}

/// Config with classes `internal` (default) and `external`.
pub fn two_classes() -> TranslateConfig {
    TranslateConfig::new(vec![
        ClassConfig {
            name: "internal".into(),
            is_default: true,
            has_https: true,
        },
        ClassConfig {
            name: "external".into(),
            is_default: false,
            has_https: false,
        },
    ])
}

/// `(host, path) -> ingress name` as the table answers it.
pub fn route(t: &Translation, class: &str, host: &str, path: &str) -> Option<String> {
    t.tables[class]
        .lookup(host, path)
        .map(|r| r.ingress.name.to_string())
}

/// Warning kinds with the object they name, for whole comparisons.
pub fn warning_list(t: &Translation) -> Vec<(WarningKind, String)> {
    t.warnings
        .iter()
        .map(|w| (w.kind, w.object.to_string()))
        .collect()
}
