//! Builders for the Kubernetes manifests gatehouse reads, rendered as block-style YAML.

use serde_json::{json, Map, Value};

/// The controller name gatehouse uses by default.
pub const CONTROLLER_NAME: &str = "gatehouse.dev/ingress-controller";

/// Ingress path match type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathType {
    /// `Exact`
    Exact,
    /// `Prefix`
    Prefix,
    /// `ImplementationSpecific`
    ImplementationSpecific,
}

impl PathType {
    fn as_str(self) -> &'static str {
        match self {
            PathType::Exact => "Exact",
            PathType::Prefix => "Prefix",
            PathType::ImplementationSpecific => "ImplementationSpecific",
        }
    }
}

/// A Service port reference in an Ingress backend: by name or by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    /// `port.name`
    Name(String),
    /// `port.number`
    Number(u16),
}

impl From<&str> for PortRef {
    fn from(name: &str) -> PortRef {
        PortRef::Name(name.to_string())
    }
}

impl From<u16> for PortRef {
    fn from(number: u16) -> PortRef {
        PortRef::Number(number)
    }
}

fn backend_json(service: &str, port: &PortRef) -> Value {
    let port = match port {
        PortRef::Name(name) => json!({ "name": name }),
        PortRef::Number(number) => json!({ "number": number }),
    };
    json!({ "service": { "name": service, "port": port } })
}

/// Builder for a networking.k8s.io/v1 Ingress.
#[derive(Debug, Clone)]
pub struct Ingress {
    namespace: String,
    name: String,
    class: Option<String>,
    legacy_class: Option<String>,
    created: Option<String>,
    annotations: Map<String, Value>,
    default_backend: Option<Value>,
    /// Rules in insertion order: host ("" = any host) and its paths.
    rules: Vec<(String, Vec<Value>)>,
}

impl Ingress {
    /// An Ingress with no class, rules or default backend.
    pub fn new(namespace: &str, name: &str) -> Ingress {
        Ingress {
            namespace: namespace.to_string(),
            name: name.to_string(),
            class: None,
            legacy_class: None,
            created: None,
            annotations: Map::new(),
            default_backend: None,
            rules: Vec::new(),
        }
    }

    /// Sets `spec.ingressClassName`.
    pub fn class(mut self, class: &str) -> Ingress {
        self.class = Some(class.to_string());
        self
    }

    /// Sets the legacy `kubernetes.io/ingress.class` annotation.
    pub fn legacy_class(mut self, class: &str) -> Ingress {
        self.legacy_class = Some(class.to_string());
        self
    }

    /// Adds the annotation `key: value`.
    pub fn annotation(mut self, key: &str, value: &str) -> Ingress {
        self.annotations.insert(key.to_string(), json!(value));
        self
    }

    /// Sets `metadata.creationTimestamp` (RFC 3339, e.g. "2024-01-01T00:00:00Z").
    pub fn created(mut self, timestamp: &str) -> Ingress {
        self.created = Some(timestamp.to_string());
        self
    }

    /// Sets `spec.defaultBackend`.
    pub fn default_backend(mut self, service: &str, port: impl Into<PortRef>) -> Ingress {
        self.default_backend = Some(backend_json(service, &port.into()));
        self
    }

    /// Adds a path under `host` ("" for a rule without host).
    pub fn path(
        mut self,
        host: &str,
        path: &str,
        path_type: PathType,
        service: &str,
        port: impl Into<PortRef>,
    ) -> Ingress {
        let entry = json!({
            "path": path,
            "pathType": path_type.as_str(),
            "backend": backend_json(service, &port.into()),
        });
        match self.rules.iter_mut().find(|(h, _)| h == host) {
            Some((_, paths)) => paths.push(entry),
            None => self.rules.push((host.to_string(), vec![entry])),
        }
        self
    }

    /// Renders the Ingress as YAML.
    pub fn yaml(&self) -> String {
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!(self.name));
        metadata.insert("namespace".into(), json!(self.namespace));
        if let Some(created) = &self.created {
            metadata.insert("creationTimestamp".into(), json!(created));
        }
        let mut annotations = self.annotations.clone();
        if let Some(class) = &self.legacy_class {
            annotations.insert("kubernetes.io/ingress.class".into(), json!(class));
        }
        if !annotations.is_empty() {
            metadata.insert("annotations".into(), Value::Object(annotations));
        }
        let mut spec = Map::new();
        if let Some(class) = &self.class {
            spec.insert("ingressClassName".into(), json!(class));
        }
        if let Some(backend) = &self.default_backend {
            spec.insert("defaultBackend".into(), backend.clone());
        }
        if !self.rules.is_empty() {
            let rules: Vec<Value> = self
                .rules
                .iter()
                .map(|(host, paths)| {
                    let mut rule = Map::new();
                    if !host.is_empty() {
                        rule.insert("host".into(), json!(host));
                    }
                    rule.insert("http".into(), json!({ "paths": paths }));
                    Value::Object(rule)
                })
                .collect();
            spec.insert("rules".into(), Value::Array(rules));
        }
        to_yaml(&json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": metadata,
            "spec": spec,
        }))
    }
}

/// A networking.k8s.io/v1 IngressClass; `is_default` sets the is-default-class annotation.
pub fn ingress_class(name: &str, controller: &str, is_default: bool) -> String {
    let mut metadata = json!({ "name": name });
    if is_default {
        metadata["annotations"] = json!({ "ingressclass.kubernetes.io/is-default-class": "true" });
    }
    to_yaml(&json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": metadata,
        "spec": { "controller": controller },
    }))
}

/// A v1 Service with `(port name, port number)` pairs (targetPort = port).
pub fn service(namespace: &str, name: &str, ports: &[(&str, u16)]) -> String {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(port_name, port)| {
            json!({ "name": port_name, "port": port, "targetPort": port, "protocol": "TCP" })
        })
        .collect();
    to_yaml(&json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": name, "namespace": namespace },
        "spec": { "ports": ports },
    }))
}

/// A discovery.k8s.io/v1 EndpointSlice for `service` with one named port and `(ip, ready)` endpoints.
pub fn endpoint_slice(
    namespace: &str,
    name: &str,
    service: &str,
    port_name: &str,
    port: u16,
    endpoints: &[(&str, bool)],
) -> String {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(ip, ready)| json!({ "addresses": [ip], "conditions": { "ready": ready } }))
        .collect();
    to_yaml(&json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": { "kubernetes.io/service-name": service },
        },
        "addressType": "IPv4",
        "ports": [{ "name": port_name, "port": port, "protocol": "TCP" }],
        "endpoints": endpoints,
    }))
}

/// Service `name` (port "http" = 80) plus one EndpointSlice `<name>-1` whose endpoints listen on `port`.
pub fn backend(namespace: &str, name: &str, port: u16, endpoints: &[(&str, bool)]) -> String {
    documents(&[
        service(namespace, name, &[("http", 80)]),
        endpoint_slice(
            namespace,
            &format!("{name}-1"),
            name,
            "http",
            port,
            endpoints,
        ),
    ])
}

/// A v1 Secret of type kubernetes.io/tls.
pub fn tls_secret(namespace: &str, name: &str, cert_pem: &str, key_pem: &str) -> String {
    to_yaml(&json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": namespace },
        "type": "kubernetes.io/tls",
        "stringData": { "tls.crt": cert_pem, "tls.key": key_pem },
    }))
}

/// Joins YAML documents into one multi-document file.
pub fn documents(docs: &[String]) -> String {
    docs.iter()
        // Nested results of `documents` already start with a separator.
        .map(|doc| {
            if doc.starts_with("---\n") {
                doc.clone()
            } else {
                format!("---\n{doc}")
            }
        })
        .collect::<Vec<_>>()
        .join("")
}

/// Renders JSON as block-style YAML; every string is double-quoted (JSON escapes are valid YAML).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    emit(value, 0, &mut out);
    out
}

fn scalar(value: &Value) -> String {
    // serde_json renders strings, numbers, bools and null as valid YAML flow scalars.
    value.to_string()
}

fn is_collection(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

fn emit(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let key = Value::String(key.clone()).to_string();
                if is_collection(child) {
                    out.push_str(&format!("{pad}{key}:\n"));
                    let child_indent = if child.is_array() { indent } else { indent + 2 };
                    emit(child, child_indent, out);
                } else {
                    out.push_str(&format!("{pad}{key}: {}\n", scalar(child)));
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                if is_collection(item) {
                    // Render the item at indent+2, then turn its first line's padding into "- ".
                    let mut nested = String::new();
                    let nested_indent = indent + 2;
                    emit(item, nested_indent, &mut nested);
                    let first_pad = " ".repeat(nested_indent);
                    let nested = nested.replacen(&first_pad, &format!("{pad}- "), 1);
                    out.push_str(&nested);
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_block_yaml() {
        let yaml = to_yaml(&json!({
            "a": { "b": [ { "c": 1, "d": ["x", "y"] }, 2 ], "e": {} },
            "f": "*.foo.com",
        }));
        assert_eq!(
            yaml,
            "\"a\":\n  \"b\":\n  - \"c\": 1\n    \"d\":\n    - \"x\"\n    - \"y\"\n  - 2\n  \"e\": {}\n\"f\": \"*.foo.com\"\n"
        );
    }

    #[test]
    fn ingress_groups_paths_by_host() {
        let yaml = Ingress::new("default", "web")
            .class("internal")
            .path("a.test", "/x", PathType::Exact, "svc", "http")
            .path("a.test", "/y", PathType::Prefix, "svc", 80)
            .yaml();
        assert_eq!(yaml.matches("\"host\"").count(), 1);
        assert!(yaml.contains("\"number\": 80"));
        assert!(yaml.contains("\"name\": \"http\""));
    }
}
