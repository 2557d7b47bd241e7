//! `translate(snapshot, config) -> Translation`: a pure function owning all Ingress semantics.
//! No I/O, no clocks, no globals. A bad object never fails the build: it becomes a [`Warning`]
//! naming it, and only its own routes are skipped.

mod backends;
mod classes;
mod ingress;
mod warnings;

#[cfg(test)]
mod tests;

/// Object constructors shared by the crate's unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use k8s_openapi::api::networking::v1::Ingress;
    use serde_json::json;

    /// An Ingress whose status lists `ips`.
    pub fn ingress_with_status(ns: &str, name: &str, ips: &[&str]) -> Ingress {
        let lb: Vec<_> = ips.iter().map(|ip| json!({"ip": ip})).collect();
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": name},
            "spec": {},
            "status": {"loadBalancer": {"ingress": lb}}
        }))
        .expect("ingress fixture")
    }
}

use std::collections::BTreeMap;

use gatehouse_proxy::{RouteTable, RouteTableBuilder};

use crate::snapshot::{self, Snapshot};
pub use classes::ClassResolver;
pub use warnings::{ObjectRef, Warning, WarningKind};

/// The controller name used when none is configured.
pub const DEFAULT_CONTROLLER_NAME: &str = "gatehouse.dev/ingress-controller";

/// One ingress class this process serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassConfig {
    /// The class name (`spec.ingressClassName`).
    pub name: String,
    /// Whether Ingresses without a class belong to it (unless the cluster marks another
    /// IngressClass as the default).
    pub is_default: bool,
}

/// What translation needs to know about this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslateConfig {
    /// IngressClasses whose `spec.controller` differs from this are not ours.
    pub controller_name: String,
    /// The classes we have instances for.
    pub classes: Vec<ClassConfig>,
}

impl TranslateConfig {
    /// A config for the given classes with the default controller name.
    pub fn new(classes: Vec<ClassConfig>) -> Self {
        Self {
            controller_name: DEFAULT_CONTROLLER_NAME.to_string(),
            classes,
        }
    }
}

/// The result of one translation.
#[derive(Debug, Default)]
pub struct Translation {
    /// One table per configured class (empty tables included).
    pub tables: BTreeMap<String, RouteTable>,
    /// Problems found, sorted, each naming its object.
    pub warnings: Vec<Warning>,
    /// Ingresses (`namespace/name`) that belong to each class.
    pub members: BTreeMap<String, Vec<String>>,
}

/// Translates a snapshot into one route table per configured class.
pub fn translate(snapshot: &Snapshot, config: &TranslateConfig) -> Translation {
    let mut warnings = Vec::new();
    let resolver = ClassResolver::new(config, &snapshot.ingress_classes, &mut warnings);
    let mut backends = backends::BackendResolver::new(snapshot);

    let mut builders: BTreeMap<String, RouteTableBuilder> = config
        .classes
        .iter()
        .map(|c| (c.name.clone(), RouteTableBuilder::new()))
        .collect();
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();

    // Oldest first, so that the oldest Ingress keeps a contested rule.
    let mut ingresses: Vec<_> = snapshot.ingresses.iter().collect();
    ingresses.sort_by(|a, b| {
        let ka = (&a.metadata.creation_timestamp, snapshot::key(&a.metadata));
        let kb = (&b.metadata.creation_timestamp, snapshot::key(&b.metadata));
        ka.cmp(&kb)
    });

    for ing in ingresses {
        let Some(class) = resolver.class_of(ing) else {
            continue;
        };
        let Some(builder) = builders.get_mut(class) else {
            continue;
        };
        members
            .entry(class.to_string())
            .or_default()
            .push(snapshot::key(&ing.metadata));
        ingress::add_ingress(ing, builder, &mut backends, &mut warnings);
    }

    warnings.sort();
    warnings.dedup();
    Translation {
        tables: builders
            .into_iter()
            .map(|(class, b)| (class, b.build()))
            .collect(),
        warnings,
        members,
    }
}
