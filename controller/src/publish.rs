//! The one door from translation to the proxy: translate a snapshot and swap each class's
//! table into its instance. Warnings are logged once per distinct problem; metrics (when
//! given) follow every publish.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use gatehouse_proxy::admin::status_view::WarningView;
use gatehouse_proxy::admin::WarningSource;
use gatehouse_proxy::metrics::{CertExpiry, Metrics, ReadyEndpoints};
use gatehouse_proxy::{IngressRef, InstanceSet};

use crate::snapshot::Snapshot;
use crate::translate::{translate, TranslateConfig, Translation, Warning};

/// What the last publish produced, for the admin pages.
#[derive(Debug, Default, Clone)]
pub struct PublishReport {
    /// The translation's warnings.
    pub warnings: Vec<Warning>,
    /// The warnings that concern each class: an Ingress's go to its class, warnings about
    /// other objects (Secrets, IngressClasses) or unclassed Ingresses to every class.
    pub by_class: BTreeMap<String, Vec<Warning>>,
    /// Objects per kind in the snapshot.
    pub object_counts: Vec<(&'static str, usize)>,
    /// How long translation took.
    pub translate_seconds: f64,
}

/// What one publish decided, for the side effects that follow it (status, Events).
#[derive(Debug, Default, Clone)]
pub struct PublishOutcome {
    /// Ingresses per class.
    pub members: BTreeMap<String, Vec<IngressRef>>,
    /// Problems found.
    pub warnings: Vec<Warning>,
}

/// Translates snapshots and publishes their tables.
pub struct Publisher {
    instances: Arc<InstanceSet>,
    config: TranslateConfig,
    reported: BTreeSet<Warning>,
    last: Arc<ArcSwap<PublishReport>>,
    metrics: Option<Arc<Metrics>>,
}

impl Publisher {
    /// A publisher for `instances`.
    pub fn new(instances: Arc<InstanceSet>, config: TranslateConfig) -> Self {
        Self {
            instances,
            config,
            reported: BTreeSet::new(),
            last: Arc::new(ArcSwap::from_pointee(PublishReport::default())),
            metrics: None,
        }
    }

    /// Also records every publish in `metrics` (swaps, warnings, objects, endpoints, certs).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// A handle on the last report (readers see each new one).
    pub fn report(&self) -> Arc<ArcSwap<PublishReport>> {
        self.last.clone()
    }

    /// The last report's warnings per class, for the status page.
    pub fn warning_source(&self) -> Arc<dyn WarningSource> {
        Arc::new(ReportWarnings(self.last.clone()))
    }

    /// Translates `snapshot`, swaps every instance's table, and returns which Ingresses
    /// belong to which class (for status) and the warnings (for Events).
    pub fn publish(&mut self, snapshot: &Snapshot) -> PublishOutcome {
        let started = Instant::now();
        let translation = translate(snapshot, &self.config);
        let translate_time = started.elapsed();
        let by_class = warnings_by_class(&translation.warnings, &translation.members);
        if let Some(m) = &self.metrics {
            observe_translation(m, &translation, &by_class, snapshot);
        }
        for (class, certs) in translation.certs {
            if let Some(instance) = self.instances.get(&class) {
                instance.publish_certs(certs);
            }
        }
        for (class, table) in translation.tables {
            if let Some(instance) = self.instances.get(&class) {
                let generation = instance.publish(table);
                if let Some(m) = &self.metrics {
                    m.table_swapped(&class, generation, translate_time);
                }
                tracing::debug!(class, generation, "route table swapped");
            }
        }
        let current: BTreeSet<Warning> = translation.warnings.iter().cloned().collect();
        for w in current.difference(&self.reported) {
            tracing::warn!(object = %w.object, kind = w.kind.as_str(), "{}", w.message);
        }
        self.reported = current;
        self.last.store(Arc::new(PublishReport {
            warnings: translation.warnings.clone(),
            by_class,
            object_counts: snapshot.counts().to_vec(),
            translate_seconds: translate_time.as_secs_f64(),
        }));
        PublishOutcome {
            members: translation.members,
            warnings: translation.warnings,
        }
    }
}

/// Attributes each warning to the classes it concerns (see [`PublishReport::by_class`]).
fn warnings_by_class(
    warnings: &[Warning],
    members: &BTreeMap<String, Vec<IngressRef>>,
) -> BTreeMap<String, Vec<Warning>> {
    let mut out: BTreeMap<String, Vec<Warning>> =
        members.keys().map(|c| (c.clone(), Vec::new())).collect();
    // Ingress (namespace, name) → its classes, so each warning is attributed in O(1) without
    // building a key string per warning.
    let mut class_of: HashMap<(&str, &str), Vec<&String>> = HashMap::new();
    for (class, list) in members {
        for ingress in list {
            class_of
                .entry((&ingress.namespace, &ingress.name))
                .or_default()
                .push(class);
        }
    }
    for w in warnings {
        let owners = match w.object.kind {
            "Ingress" => class_of
                .get(&(w.object.namespace.as_str(), w.object.name.as_str()))
                .map(Vec::as_slice)
                .unwrap_or_default(),
            _ => &[],
        };
        if owners.is_empty() {
            for list in out.values_mut() {
                list.push(w.clone());
            }
        } else {
            for class in owners {
                out.entry((*class).clone()).or_default().push(w.clone());
            }
        }
    }
    out
}

/// Sets the metrics that describe a translation (all but the swap itself).
fn observe_translation(
    m: &Metrics,
    translation: &Translation,
    by_class: &BTreeMap<String, Vec<Warning>>,
    snapshot: &Snapshot,
) {
    let objects: Vec<(&str, u64)> = snapshot
        .counts()
        .iter()
        .map(|(kind, n)| (*kind, *n as u64))
        .collect();
    m.set_objects(&objects);
    for (class, warnings) in by_class {
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for w in warnings {
            *counts.entry(w.kind.as_str()).or_default() += 1;
        }
        m.set_warnings(class, &counts.into_iter().collect::<Vec<_>>());
    }
    // A Service reached through several ports or classes reports its best-served port.
    let mut ready: BTreeMap<(String, String), u64> = BTreeMap::new();
    for table in translation.tables.values() {
        let targets = table.routes().into_iter().map(|(_, t)| t);
        for t in targets.chain(table.default_backend().cloned()) {
            let n = t.backend.endpoints().ready.len() as u64;
            let key = (
                t.backend.namespace.to_string(),
                t.backend.service.to_string(),
            );
            let slot = ready.entry(key).or_default();
            *slot = (*slot).max(n);
        }
    }
    let ready: Vec<ReadyEndpoints<'_>> = ready
        .iter()
        .map(|((namespace, service), n)| ReadyEndpoints {
            namespace,
            service,
            ready: *n,
        })
        .collect();
    m.set_ready_endpoints(&ready);
    for (class, certs) in &translation.certs {
        // The Ingress whose rule serves a host names the certificate (ingress-nginx's label).
        let mut ingress_of: BTreeMap<String, String> = BTreeMap::new();
        if let Some(table) = translation.tables.get(class) {
            for (host, t) in table.routes() {
                ingress_of
                    .entry(host)
                    .or_insert_with(|| t.ingress.name.to_string());
            }
        }
        let infos = certs.infos();
        let expiry: Vec<CertExpiry<'_>> = infos
            .iter()
            .map(|c| CertExpiry {
                host: &c.host,
                not_after_unix: c.not_after,
                secret: if c.default { "" } else { &c.source },
                ingress: ingress_of.get(&c.host).map_or("", String::as_str),
            })
            .collect();
        m.set_cert_expiry(class, &expiry);
    }
}

/// [`WarningSource`] over the publisher's last report.
struct ReportWarnings(Arc<ArcSwap<PublishReport>>);

impl WarningSource for ReportWarnings {
    fn warnings(&self, class: &str) -> Vec<WarningView> {
        let report = self.0.load();
        report
            .by_class
            .get(class)
            .map(|list| {
                list.iter()
                    .map(|w| WarningView {
                        object: w.object.to_string(),
                        kind: w.kind.as_str().to_string(),
                        message: w.message.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{ObjectRef, WarningKind};

    fn warning(kind: &'static str, name: &str) -> Warning {
        Warning {
            object: ObjectRef {
                kind,
                namespace: "default".into(),
                name: name.into(),
            },
            kind: WarningKind::MissingService,
            message: "m".into(),
        }
    }

    #[test]
    fn ingress_warnings_go_to_their_class_others_to_all() {
        let members = BTreeMap::from([
            ("a".to_string(), vec![IngressRef::new("default", "one")]),
            ("b".to_string(), vec![]),
        ]);
        let ws = [warning("Ingress", "one"), warning("Secret", "tls")];
        let by = warnings_by_class(&ws, &members);
        assert_eq!(by["a"].len(), 2);
        assert_eq!(by["b"], [ws[1].clone()]);
    }
}
