//! What gatehouse keeps of a discovery.k8s.io/v1 EndpointSlice: its Service, its ports and its
//! addresses with their readiness, instead of the API object (at 10k slices of three endpoints
//! the parsed objects held 30 MiB; these hold about 2).

use std::net::IpAddr;

use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// An EndpointSlice as translation reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSliceInfo {
    /// Namespace (`default` when unset, as in manifests).
    pub namespace: Box<str>,
    /// Name.
    pub name: Box<str>,
    /// The Service it belongs to (its `kubernetes.io/service-name` label); a slice without one
    /// belongs to no Service.
    pub service: Option<Box<str>>,
    /// `(name, port)` of each port (`""` for an unnamed one; `None` for a port number that is
    /// missing or out of range), in order.
    pub ports: Box<[(Box<str>, Option<u16>)]>,
    /// Every address and whether its endpoint is ready (`conditions.ready`, ready when unset).
    /// FQDN slices and addresses that are not IPs are left out: gatehouse routes to IPs.
    pub endpoints: Box<[(IpAddr, bool)]>,
}

impl EndpointSliceInfo {
    /// What translation reads of `slice`.
    pub fn from_api(slice: &EndpointSlice) -> Self {
        let meta = &slice.metadata;
        let labels = meta.labels.as_ref();
        let endpoints = if slice.address_type == "FQDN" {
            Box::default()
        } else {
            let mut endpoints = Vec::new();
            for endpoint in slice.endpoints.iter().flatten() {
                let ready = endpoint
                    .conditions
                    .as_ref()
                    .and_then(|c| c.ready)
                    .unwrap_or(true);
                let ips = endpoint.addresses.iter().filter_map(|a| a.parse().ok());
                endpoints.extend(ips.map(|ip| (ip, ready)));
            }
            endpoints.into_boxed_slice()
        };
        Self {
            namespace: super::namespace(meta).into(),
            name: meta.name.as_deref().unwrap_or("").into(),
            service: labels
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
                .map(|s| s.as_str().into()),
            ports: slice
                .ports
                .iter()
                .flatten()
                .map(|p| {
                    let number = p.port.and_then(|n| u16::try_from(n).ok());
                    (p.name.as_deref().unwrap_or("").into(), number)
                })
                .collect(),
            endpoints,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(value: serde_json::Value) -> EndpointSliceInfo {
        EndpointSliceInfo::from_api(&serde_json::from_value(value).expect("EndpointSlice fixture"))
    }

    #[test]
    fn keeps_the_service_ports_and_ip_endpoints() {
        let kept = slice(serde_json::json!({
            "metadata": {"name": "web-abc", "labels": {SERVICE_NAME_LABEL: "web", "x": "y"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}, {"port": 70000}],
            "endpoints": [
                {"addresses": ["10.0.0.1", "10.0.0.2"], "conditions": {"ready": true},
                 "nodeName": "n1", "targetRef": {"kind": "Pod", "name": "web-1"}},
                {"addresses": ["10.0.0.3"], "conditions": {"ready": false}},
                {"addresses": ["10.0.0.4"]},
                {"addresses": ["not-an-ip"]},
            ],
        }));
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        assert_eq!(
            kept,
            EndpointSliceInfo {
                namespace: "default".into(),
                name: "web-abc".into(),
                service: Some("web".into()),
                ports: vec![("http".into(), Some(8080)), ("".into(), None)].into(),
                endpoints: vec![
                    (ip("10.0.0.1"), true),
                    (ip("10.0.0.2"), true),
                    (ip("10.0.0.3"), false),
                    (ip("10.0.0.4"), true),
                ]
                .into(),
            }
        );
        let fqdn = slice(serde_json::json!({
            "metadata": {"namespace": "apps", "name": "ext"},
            "addressType": "FQDN",
            "endpoints": [{"addresses": ["db.example.com"]}],
        }));
        assert_eq!((fqdn.service, fqdn.endpoints.len()), (None, 0));
    }
}
