//! The `routes.json` document the status page renders; the proxy serialises exactly this.

use serde::{Deserialize, Serialize};

/// The whole status document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StatusView {
    /// When the document was produced, Unix seconds.
    pub generated_at: i64,
    /// One entry per instance (ingress class).
    pub instances: Vec<InstanceView>,
}

/// One instance (ingress class) and what it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InstanceView {
    /// The ingress class / instance name.
    pub class: String,
    /// Generation of the route table in use.
    pub generation: u64,
    /// When that table was swapped in, Unix seconds.
    pub last_swap_unix: i64,
    /// Where the instance listens.
    pub listeners: ListenersView,
    /// Hosts, sorted; `*` for host-less rules.
    pub hosts: Vec<HostView>,
    /// Where requests matching no rule go, if anywhere.
    pub default_backend: Option<BackendView>,
    /// Serving certificates.
    pub certificates: Vec<CertificateView>,
    /// Translation warnings for this instance.
    pub warnings: Vec<WarningView>,
}

/// Listener addresses; `None` when that listener is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ListenersView {
    /// Plain HTTP listener address.
    pub http: Option<String>,
    /// TLS listener address.
    pub https: Option<String>,
}

/// One host and its paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HostView {
    /// Host name, `*.example.com` for wildcards, `*` for host-less rules.
    pub host: String,
    /// Paths in match order.
    pub paths: Vec<PathView>,
}

/// One path rule and its backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PathView {
    /// The rule's path.
    pub path: String,
    /// `Exact`, `Prefix` or `ImplementationSpecific`.
    pub path_type: String,
    /// `namespace/name` of the Ingress the rule came from.
    pub ingress: String,
    /// Backend Service name.
    pub service: String,
    /// Backend Service port (name or number).
    pub port: String,
    /// The Service's endpoints.
    pub endpoints: Vec<EndpointView>,
}

/// The default backend of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BackendView {
    /// `namespace/name` of the Ingress that set it ("" when set by flag).
    pub ingress: String,
    /// Backend Service name.
    pub service: String,
    /// Backend Service port (name or number).
    pub port: String,
    /// The Service's endpoints.
    pub endpoints: Vec<EndpointView>,
}

/// One endpoint address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EndpointView {
    /// `ip:port`.
    pub address: String,
    /// Whether it receives traffic.
    pub ready: bool,
}

/// One serving certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CertificateView {
    /// Host it serves.
    pub host: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// `namespace/name` of the Secret, or e.g. `default` for the built-in certificate.
    pub source: String,
}

/// One translation warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WarningView {
    /// `namespace/name` of the object it is about.
    pub object: String,
    /// Machine-readable kind, e.g. `MissingService`.
    pub kind: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_shape() {
        let json = r#"{"generated_at": 1700000100, "instances":[{"class":"internal","generation":3,"last_swap_unix":1700000000,
          "listeners":{"http":"127.0.0.1:8080","https":null},
          "hosts":[{"host":"app.example","paths":[{"path":"/","path_type":"Prefix","ingress":"default/app","service":"app",
          "port":"http","endpoints":[{"address":"127.0.0.1:9001","ready":true}]}]}],
          "default_backend":null,
          "certificates":[{"host":"app.example","not_after":1700000000,"source":"default/app-tls"}],
          "warnings":[{"object":"default/bad","kind":"MissingService","message":"..."}]}]}"#;
        let view: StatusView = serde_json::from_str(json).expect("documented shape parses");
        let inst = &view.instances[0];
        assert_eq!(inst.class, "internal");
        assert_eq!(inst.listeners.https, None);
        assert_eq!(
            inst.hosts[0].paths[0].endpoints[0].address,
            "127.0.0.1:9001"
        );
        assert_eq!(inst.warnings[0].kind, "MissingService");
        let back: StatusView =
            serde_json::from_str(&serde_json::to_string(&view).expect("serialise")).expect("parse");
        assert_eq!(back, view);
    }
}
