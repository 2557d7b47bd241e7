//! The fixed table of API resources this server knows, and lookups into it.

/// Identity of a collection of objects: API group ("" for core), version and plural name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    /// API group, "" for the core group.
    pub group: String,
    /// API version, e.g. "v1".
    pub version: String,
    /// Lower-case plural resource name, e.g. "ingresses".
    pub plural: String,
}

impl ResourceKey {
    /// Builds a key from its three parts.
    pub fn new(group: &str, version: &str, plural: &str) -> Self {
        Self {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
        }
    }

    /// The `apiVersion` string objects of this resource carry ("v1" or "group/v1").
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// "plural.group" as the real server names resources in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// Static description of one served resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group, "" for core.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural resource name used in URLs.
    pub plural: &'static str,
    /// Singular resource name (discovery).
    pub singular: &'static str,
    /// Kind of a single object.
    pub kind: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether `.status` is a subresource (main writes ignore it).
    pub has_status: bool,
    /// Field selector labels the real server accepts beyond metadata.name/namespace.
    pub extra_fields: &'static [&'static str],
}

impl ResourceInfo {
    /// The key of this resource's collection.
    pub fn key(&self) -> ResourceKey {
        ResourceKey::new(self.group, self.version, self.plural)
    }

    /// Kind of the list type ("ServiceList").
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether a field selector label is supported for this resource.
    pub fn supports_field(&self, field: &str) -> bool {
        field == "metadata.name"
            || field == "metadata.namespace"
            || self.extra_fields.contains(&field)
    }
}

const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "reason",
    "reportingComponent",
    "reportingController",
    "source",
    "type",
];

/// Every resource the server serves.
pub const RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        has_status: true,
        extra_fields: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        has_status: false,
        extra_fields: &["type"],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        has_status: false,
        extra_fields: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        has_status: true,
        extra_fields: &["status.phase"],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        has_status: false,
        extra_fields: EVENT_FIELDS,
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        plural: "ingresses",
        singular: "ingress",
        kind: "Ingress",
        namespaced: true,
        has_status: true,
        extra_fields: &[],
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        plural: "ingressclasses",
        singular: "ingressclass",
        kind: "IngressClass",
        namespaced: false,
        has_status: false,
        extra_fields: &[],
    },
    ResourceInfo {
        group: "discovery.k8s.io",
        version: "v1",
        plural: "endpointslices",
        singular: "endpointslice",
        kind: "EndpointSlice",
        namespaced: true,
        has_status: false,
        extra_fields: &[],
    },
    ResourceInfo {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        has_status: false,
        extra_fields: &[],
    },
    ResourceInfo {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        has_status: false,
        extra_fields: EVENT_FIELDS,
    },
];

/// Finds a resource by group, version and plural.
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a resource by the `apiVersion` and `kind` an object carries.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    let (group, version) = split_api_version(api_version);
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// Splits "group/version" (or plain "v1") into group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_core_and_grouped_resources() {
        assert_eq!(by_kind("v1", "Secret").map(|r| r.plural), Some("secrets"));
        assert_eq!(
            by_kind("networking.k8s.io/v1", "Ingress").map(|r| r.plural),
            Some("ingresses")
        );
        assert!(
            by_plural("networking.k8s.io", "v1", "ingressclasses").is_some_and(|r| !r.namespaced)
        );
        assert!(by_plural("apps", "v1", "deployments").is_none());
        assert_eq!(ResourceKey::new("", "v1", "secrets").qualified(), "secrets");
        assert_eq!(
            ResourceKey::new("coordination.k8s.io", "v1", "leases").api_version(),
            "coordination.k8s.io/v1"
        );
    }
}
