//! The snapshot: plain data, the objects as a source saw them. Both sources produce it, so
//! everything after it is shared and testable without a cluster. Services and EndpointSlices
//! are kept as what translation reads of them ([`ServiceInfo`], [`EndpointSliceInfo`]): they
//! are most of a large cluster's objects, and most of each is never read.

mod endpoint_slice;
mod service;

pub use endpoint_slice::EndpointSliceInfo;
pub use service::{ServiceInfo, ServicePortInfo};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use gatehouse_routes::IngressRef;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// One object of a kind gatehouse reads.
/// Objects are shared (`Arc`): a snapshot is rebuilt on every change, and copying every object
/// each time would cost more than translating them.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// networking.k8s.io/v1 IngressClass.
    IngressClass(Arc<IngressClass>),
    /// networking.k8s.io/v1 Ingress.
    Ingress(Arc<Ingress>),
    /// v1 Service (what translation reads of it).
    Service(Arc<ServiceInfo>),
    /// discovery.k8s.io/v1 EndpointSlice (what translation reads of it).
    EndpointSlice(Arc<EndpointSliceInfo>),
    /// v1 Secret (only `kubernetes.io/tls` ones are used).
    Secret(Arc<Secret>),
}

impl Object {
    /// The object's kind as the API names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::IngressClass(_) => "IngressClass",
            Object::Ingress(_) => "Ingress",
            Object::Service(_) => "Service",
            Object::EndpointSlice(_) => "EndpointSlice",
            Object::Secret(_) => "Secret",
        }
    }

    /// The object's namespace (`default` when unset) and name.
    pub fn key(&self) -> (&str, &str) {
        fn of(meta: &ObjectMeta) -> (&str, &str) {
            (namespace(meta), meta.name.as_deref().unwrap_or(""))
        }
        match self {
            Object::IngressClass(o) => of(&o.metadata),
            Object::Ingress(o) => of(&o.metadata),
            Object::Service(o) => (&o.namespace, &o.name),
            Object::EndpointSlice(o) => (&o.namespace, &o.name),
            Object::Secret(o) => of(&o.metadata),
        }
    }
}

impl From<Service> for Object {
    fn from(service: Service) -> Self {
        Object::Service(Arc::new(ServiceInfo::from_api(&service)))
    }
}

impl From<EndpointSlice> for Object {
    fn from(slice: EndpointSlice) -> Self {
        Object::EndpointSlice(Arc::new(EndpointSliceInfo::from_api(&slice)))
    }
}

/// Every object gatehouse reads, as one consistent picture.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// IngressClass objects.
    pub ingress_classes: Vec<Arc<IngressClass>>,
    /// Ingress objects.
    pub ingresses: Vec<Arc<Ingress>>,
    /// Services.
    pub services: Vec<Arc<ServiceInfo>>,
    /// EndpointSlices.
    pub endpoint_slices: Vec<Arc<EndpointSliceInfo>>,
    /// TLS Secrets.
    pub secrets: Vec<Arc<Secret>>,
    /// What the DNS names of ExternalName Services resolved to (filled by
    /// `sources::external_names` between the source and the reconciler, not by sources).
    pub external_names: ResolvedNames,
}

/// DNS names (lower case, no trailing dot) and their addresses, or why they did not resolve.
pub type ResolvedNames = BTreeMap<String, Result<Vec<IpAddr>, String>>;

/// The form an ExternalName is looked up and keyed in.
pub fn external_name_key(name: &str) -> String {
    let name = name.trim();
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl Snapshot {
    /// Builds a snapshot from objects of any supported kind.
    pub fn from_objects(objects: impl IntoIterator<Item = Object>) -> Self {
        let mut s = Snapshot::default();
        for o in objects {
            s.push(o);
        }
        s
    }

    /// Adds one object.
    pub fn push(&mut self, object: Object) {
        match object {
            Object::IngressClass(o) => self.ingress_classes.push(o),
            Object::Ingress(o) => self.ingresses.push(o),
            Object::Service(o) => self.services.push(o),
            Object::EndpointSlice(o) => self.endpoint_slices.push(o),
            Object::Secret(o) => self.secrets.push(o),
        }
    }

    /// Number of objects per kind, for metrics and the status page.
    pub fn counts(&self) -> [(&'static str, usize); 5] {
        [
            ("IngressClass", self.ingress_classes.len()),
            ("Ingress", self.ingresses.len()),
            ("Service", self.services.len()),
            ("EndpointSlice", self.endpoint_slices.len()),
            ("Secret", self.secrets.len()),
        ]
    }
}

/// The typed reference to an Ingress (`default` namespace when unset, as in manifests).
pub fn ingress_ref(meta: &ObjectMeta) -> IngressRef {
    IngressRef::new(namespace(meta), meta.name.as_deref().unwrap_or(""))
}

/// The annotation `kubectl apply` keeps a whole copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what gatehouse never reads but the API server sends with every object:
/// `managedFields` and `kubectl apply`'s last-applied copy, often more than half of an
/// object's size. Sources call it before they keep an object (memory at 10k Ingresses).
pub fn strip_unused(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = &mut meta.annotations {
        annotations.remove(LAST_APPLIED);
    }
}

/// The object's namespace, `default` when unset.
pub fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripping_drops_managed_fields_and_the_last_applied_copy_only() {
        let mut meta: ObjectMeta = serde_json::from_value(serde_json::json!({
            "name": "web",
            "annotations": {
                LAST_APPLIED: "{\"kind\":\"Ingress\"}",
                "nginx.ingress.kubernetes.io/ssl-redirect": "false",
            },
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        }))
        .expect("metadata fixture");
        strip_unused(&mut meta);
        assert!(meta.managed_fields.is_none());
        let annotations = meta.annotations.expect("other annotations kept");
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["nginx.ingress.kubernetes.io/ssl-redirect"]
        );
        assert_eq!(meta.name.as_deref(), Some("web"));
    }
}
