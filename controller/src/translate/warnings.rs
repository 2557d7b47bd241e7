//! Problems translation found, each naming the object it is about.

use std::fmt;

/// `Kind namespace/name` of the object a warning is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// The object's kind.
    pub kind: &'static str,
    /// Its namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectRef {
    /// The reference to an Ingress (namespace `default` when unset, as in manifests).
    pub fn ingress(ing: &k8s_openapi::api::networking::v1::Ingress) -> Self {
        Self {
            kind: "Ingress",
            namespace: crate::snapshot::namespace(&ing.metadata).to_string(),
            name: ing.metadata.name.clone().unwrap_or_default(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// What kind of problem a warning reports (a bounded set: used as a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WarningKind {
    /// A rule's host is not a valid DNS name or single-label wildcard.
    InvalidHost,
    /// A path is empty, relative, or of an unknown type.
    InvalidPath,
    /// A backend names no Service, or a resource backend (unsupported).
    InvalidBackend,
    /// The backend's Service does not exist.
    MissingService,
    /// The Service has no port with the given number or name.
    MissingServicePort,
    /// An ExternalName Service's DNS name does not resolve (its routes answer 503).
    UnresolvedName,
    /// The same host, path and type is claimed by an older Ingress.
    RuleConflict,
    /// An older Ingress already set the class's default backend.
    DefaultBackendConflict,
    /// An IngressClass names a class we serve but belongs to another controller.
    ForeignIngressClass,
    /// A `spec.tls` Secret is missing or not usable.
    TlsSecret,
    /// An annotation's value does not parse (its default applies; for access control, the
    /// Ingress is refused instead).
    InvalidAnnotation,
    /// An annotation asks for access control gatehouse does not implement: the Ingress's
    /// routes answer 503 (or, with `--unsupported-annotations=ignore`, serve without it).
    UnsupportedAccessControl,
    /// An annotation gatehouse does not read (unsupported, or unknown), which changes
    /// behaviour but not who gets in.
    UnsupportedAnnotation,
}

impl WarningKind {
    /// A stable name for logs, Events and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::InvalidHost => "InvalidHost",
            WarningKind::InvalidPath => "InvalidPath",
            WarningKind::InvalidBackend => "InvalidBackend",
            WarningKind::MissingService => "MissingService",
            WarningKind::MissingServicePort => "MissingServicePort",
            WarningKind::UnresolvedName => "UnresolvedName",
            WarningKind::RuleConflict => "RuleConflict",
            WarningKind::DefaultBackendConflict => "DefaultBackendConflict",
            WarningKind::ForeignIngressClass => "ForeignIngressClass",
            WarningKind::TlsSecret => "TlsSecret",
            WarningKind::InvalidAnnotation => "InvalidAnnotation",
            WarningKind::UnsupportedAccessControl => "UnsupportedAccessControl",
            WarningKind::UnsupportedAnnotation => "UnsupportedAnnotation",
        }
    }
}

/// One problem: which object, what kind, and a message that says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Warning {
    /// The object at fault.
    pub object: ObjectRef,
    /// The class whose route table it concerns; `None` when it concerns every class (an
    /// IngressClass, the default certificate).
    pub class: Option<String>,
    /// The kind of problem.
    pub kind: WarningKind,
    /// Human-readable detail.
    pub message: String,
}

impl Warning {
    /// A warning about `object` that concerns every class.
    pub fn new(object: ObjectRef, kind: WarningKind, message: String) -> Self {
        Self {
            object,
            class: None,
            kind,
            message,
        }
    }

    /// The same warning, concerning only `class`.
    pub fn in_class(mut self, class: &str) -> Self {
        self.class = Some(class.to_string());
        self
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.message)
    }
}
