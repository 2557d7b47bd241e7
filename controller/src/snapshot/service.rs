//! What gatehouse keeps of a v1 Service: the few fields translation reads, instead of the API
//! object (at 10k Services the parsed objects held 13 MiB; these hold under 2).

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A Service as translation reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Namespace (`default` when unset, as in manifests).
    pub namespace: Box<str>,
    /// Name.
    pub name: Box<str>,
    /// `spec.externalName` (`""` when unset) when the Service is of type ExternalName.
    pub external_name: Option<Box<str>>,
    /// `spec.clusterIP` when it is an address (`None` for a headless Service).
    pub cluster_ip: Option<IpAddr>,
    /// `spec.ports`, in order.
    pub ports: Box<[ServicePortInfo]>,
}

/// One port of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePortInfo {
    /// The port's name (`""` when unset).
    pub name: Box<str>,
    /// The Service port.
    pub port: i32,
    /// `targetPort` when it is a number (a named target port is the endpoints' business).
    pub target_port: Option<i32>,
}

impl ServiceInfo {
    /// What translation reads of `service`.
    pub fn from_api(service: &Service) -> Self {
        let meta = &service.metadata;
        let spec = service.spec.as_ref();
        let is_external = spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName");
        let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
        Self {
            namespace: super::namespace(meta).into(),
            name: meta.name.as_deref().unwrap_or("").into(),
            external_name: is_external
                .then(|| spec.and_then(|s| s.external_name.as_deref()).unwrap_or(""))
                .map(Into::into),
            cluster_ip: spec
                .and_then(|s| s.cluster_ip.as_deref())
                .and_then(|ip| ip.parse().ok()),
            ports: ports
                .iter()
                .map(|p| ServicePortInfo {
                    name: p.name.as_deref().unwrap_or("").into(),
                    port: p.port,
                    target_port: match p.target_port {
                        Some(IntOrString::Int(target)) => Some(target),
                        _ => None,
                    },
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(value: serde_json::Value) -> ServiceInfo {
        ServiceInfo::from_api(&serde_json::from_value(value).expect("Service fixture"))
    }

    #[test]
    fn keeps_what_translation_reads() {
        let plain = service(serde_json::json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"clusterIP": "10.96.0.7", "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"port": 443, "targetPort": "https"},
            ]},
        }));
        assert_eq!(
            plain,
            ServiceInfo {
                namespace: "default".into(),
                name: "web".into(),
                external_name: None,
                cluster_ip: Some("10.96.0.7".parse().expect("address")),
                ports: vec![
                    ServicePortInfo {
                        name: "http".into(),
                        port: 80,
                        target_port: Some(8080)
                    },
                    ServicePortInfo {
                        name: "".into(),
                        port: 443,
                        target_port: None
                    },
                ]
                .into(),
            }
        );
        let headless = service(serde_json::json!({
            "metadata": {"namespace": "apps", "name": "db"},
            "spec": {"clusterIP": "None"},
        }));
        assert_eq!((&*headless.namespace, headless.cluster_ip), ("apps", None));
        let external = service(serde_json::json!({
            "metadata": {"name": "ext"},
            "spec": {"type": "ExternalName", "externalName": "db.example.com"},
        }));
        assert_eq!(external.external_name.as_deref(), Some("db.example.com"));
        let nameless = service(serde_json::json!({
            "metadata": {"name": "ext"}, "spec": {"type": "ExternalName"},
        }));
        assert_eq!(nameless.external_name.as_deref(), Some(""));
    }
}
