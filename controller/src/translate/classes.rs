//! Which class an Ingress belongs to, and which classes are ours.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use super::annotations::{is_default_class, legacy_class};
use super::{ObjectRef, TranslateConfig, Warning, WarningKind};

/// Decides class membership from the configuration and the cluster's IngressClass objects.
#[derive(Debug)]
pub struct ClassResolver {
    ours: Vec<String>,
    default: Option<String>,
}

impl ClassResolver {
    /// Resolves which configured classes are ours and which one is the default.
    pub fn new(
        config: &TranslateConfig,
        classes: &[std::sync::Arc<IngressClass>],
        warnings: &mut Vec<Warning>,
    ) -> Self {
        let by_name: BTreeMap<&str, &IngressClass> = classes
            .iter()
            .filter_map(|c| c.metadata.name.as_deref().map(|n| (n, &**c)))
            .collect();
        let controller_of = |c: &IngressClass| {
            c.spec
                .as_ref()
                .and_then(|s| s.controller.clone())
                .unwrap_or_default()
        };

        let mut ours = Vec::new();
        for class in &config.classes {
            match by_name.get(class.name.as_str()) {
                Some(obj) if controller_of(obj) != config.controller_name => {
                    warnings.push(Warning::new(
                        ObjectRef {
                            kind: "IngressClass",
                            namespace: String::new(),
                            name: class.name.clone(),
                        },
                        WarningKind::ForeignIngressClass,
                        format!(
                            "belongs to controller {:?}, not {:?}; its Ingresses are left to that controller",
                            controller_of(obj),
                            config.controller_name
                        ),
                    ));
                }
                _ => ours.push(class.name.clone()),
            }
        }

        // A cluster-wide default IngressClass decides; only without one does our flag count.
        let marked_default = classes.iter().find(|c| is_default_class(c));
        let default = match marked_default {
            Some(c) => c.metadata.name.clone().filter(|n| ours.contains(n)),
            None => config
                .classes
                .iter()
                .find(|c| c.is_default && ours.contains(&c.name))
                .map(|c| c.name.clone()),
        };
        Self { ours, default }
    }

    /// The class (of ours) an Ingress belongs to, or `None` if it is not ours.
    pub fn class_of<'a>(&'a self, ing: &'a Ingress) -> Option<&'a str> {
        let named = ing
            .spec
            .as_ref()
            .and_then(|s| s.ingress_class_name.as_deref())
            .or_else(|| legacy_class(ing));
        match named {
            Some(name) => self.ours.iter().find(|c| *c == name).map(String::as_str),
            None => self.default.as_deref(),
        }
    }

    /// The default class, if it is ours.
    pub fn default_class(&self) -> Option<&str> {
        self.default.as_deref()
    }
}
