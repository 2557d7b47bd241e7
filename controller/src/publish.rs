//! The one door from translation to the proxy: translate a snapshot and swap each class's
//! table into its instance. Warnings are logged once per distinct problem; metrics (when
//! given) follow every publish.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use gatehouse_certs::{CertInfo, CertSet};
use gatehouse_metrics::{CertExpiry, Metrics, ReadyEndpoints};
use gatehouse_routes::{Backend, IngressRef, RouteTable};

use crate::snapshot::Snapshot;
use crate::translate::{Findings, HostOwners, IncrementalTranslator, TranslateConfig, Warning};

/// What the last publish produced, for the admin pages.
#[derive(Debug, Default, Clone)]
pub struct PublishReport {
    /// The translation's warnings.
    pub warnings: Vec<Warning>,
    /// The warnings that concern each class: those translation attributed to a class go to it,
    /// the others (IngressClasses, the default certificate) to every class.
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
    /// Per class, the Ingress that owns each host (what built-in ACME may order for).
    pub host_owners: BTreeMap<String, HostOwners>,
    /// Problems found.
    pub warnings: Vec<Warning>,
}

/// Where published tables and certificates go: the proxy's instances, connected by the binary,
/// so the controller never depends on the proxy (nor compiles Pingora).
pub trait TableSink: Send + Sync {
    /// Swaps in `class`'s certificates, then its table; returns the table's generation, or
    /// `None` when no instance serves `class`.
    fn publish(&self, class: &str, table: RouteTable, certs: CertSet) -> Option<u64>;
}

/// Translates snapshots and publishes their tables.
pub struct Publisher {
    instances: Arc<dyn TableSink>,
    config: TranslateConfig,
    reported: BTreeSet<Warning>,
    last: Arc<ArcSwap<PublishReport>>,
    metrics: Option<Arc<Metrics>>,
    /// Reuses the previous publish's backends and routes for unchanged objects (its output
    /// equals `translate()`'s; see the property test in `translate::tests::incremental`).
    translator: IncrementalTranslator,
}

impl Publisher {
    /// A publisher into `instances`.
    pub fn new(instances: Arc<dyn TableSink>, config: TranslateConfig) -> Self {
        Self {
            instances,
            config,
            reported: BTreeSet::new(),
            last: Arc::new(ArcSwap::from_pointee(PublishReport::default())),
            metrics: None,
            translator: IncrementalTranslator::new(),
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

    /// Translates `snapshot`, swaps every instance's table, and returns which Ingresses
    /// belong to which class (for status) and the warnings (for Events).
    pub fn publish(&mut self, snapshot: &Arc<Snapshot>) -> PublishOutcome {
        let started = Instant::now();
        self.translator.update(snapshot, &self.config);
        let translate_time = started.elapsed();
        // The tables go to the proxy first; the findings (warnings, members, host owners) are
        // copied out after the swap, so a change is routed without waiting for them.
        let mut swapped = Vec::new();
        for (class, table, certs) in self.translator.published() {
            if let Some(generation) = self.instances.publish(class, table.clone(), certs.clone()) {
                tracing::debug!(class, generation, "route table swapped");
                swapped.push((class.to_string(), generation));
            }
        }
        let swap_time = started.elapsed() - translate_time;
        // The metrics walk the tables the translator keeps (the same ones the proxy now serves)
        // after the swap: a change is routed without waiting for it (at 50k Ingresses it took
        // longer than the patch itself).
        let observed = self.metrics.as_ref().map(|_| Observed {
            backends: self.translator.backends_if_changed(),
            certs: Observed::certs(self.translator.published()),
        });
        let Findings {
            warnings,
            members,
            host_owners,
        } = self.translator.findings();
        let by_class = warnings_by_class(&warnings, members.keys());
        if let (Some(m), Some(observed)) = (&self.metrics, observed) {
            observed.record(m, &by_class, snapshot);
            for (class, generation) in &swapped {
                m.table_swapped(class, *generation, translate_time);
            }
        }
        let current: BTreeSet<Warning> = warnings.iter().cloned().collect();
        for w in current.difference(&self.reported) {
            tracing::warn!(object = %w.object, kind = w.kind.as_str(), "{}", w.message);
        }
        self.reported = current;
        self.last.store(Arc::new(PublishReport {
            warnings: warnings.clone(),
            by_class,
            object_counts: snapshot.counts().to_vec(),
            translate_seconds: translate_time.as_secs_f64(),
        }));
        tracing::debug!(
            patched = self.translator.patched(),
            translate_ms = translate_time.as_secs_f64() * 1e3,
            swap_ms = swap_time.as_secs_f64() * 1e3,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            "published"
        );
        PublishOutcome {
            members,
            host_owners,
            warnings,
        }
    }
}

/// Groups warnings by the class they concern (see [`PublishReport::by_class`]); a warning
/// without a class goes to every class.
fn warnings_by_class<'a>(
    warnings: &[Warning],
    classes: impl Iterator<Item = &'a String>,
) -> BTreeMap<String, Vec<Warning>> {
    let mut out: BTreeMap<String, Vec<Warning>> =
        classes.map(|c| (c.clone(), Vec::new())).collect();
    for w in warnings {
        match &w.class {
            Some(class) => out.entry(class.clone()).or_default().push(w.clone()),
            None => out.values_mut().for_each(|list| list.push(w.clone())),
        }
    }
    out
}

/// What the metrics of a translation need, read from the translator after the swap.
struct Observed {
    /// Each backend the tables route to, once (routes share one per Service port), when that
    /// set changed (else the ready-endpoint gauges stand as they are).
    backends: Option<Vec<Arc<Backend>>>,
    /// Per class, its certificates and the Ingress name that labels each.
    certs: Vec<(String, Vec<(CertInfo, String)>)>,
}

impl Observed {
    /// Per class, its certificates and the Ingress name that labels each.
    fn certs<'t>(
        published: impl Iterator<Item = (&'t str, &'t RouteTable, &'t CertSet)>,
    ) -> Vec<(String, Vec<(CertInfo, String)>)> {
        let mut certs = Vec::new();
        for (class, table, set) in published {
            let infos = set.infos();
            // The Ingress whose rule serves a host names the certificate (ingress-nginx's
            // label): the host's first route in `RouteTable::routes` order (by path, then path
            // type). Only when there are certificates to label.
            let mut ingress_of: HashMap<Cow<'_, str>, &str> = HashMap::new();
            if !infos.is_empty() {
                for (host, routes) in table.host_groups() {
                    let first = routes.targets().min_by(|a, b| {
                        (&*a.rule_path, a.path_type).cmp(&(&*b.rule_path, b.path_type))
                    });
                    if let Some(t) = first {
                        ingress_of.insert(host, &t.ingress.name);
                    }
                }
            }
            let labelled = infos
                .into_iter()
                .map(|c| {
                    let ingress = ingress_of.get(c.host.as_str()).copied().unwrap_or("");
                    let ingress = ingress.to_string();
                    (c, ingress)
                })
                .collect();
            certs.push((class.to_string(), labelled));
        }
        certs
    }

    /// Sets the metrics that describe a translation (all but the swap itself).
    fn record(&self, m: &Metrics, by_class: &BTreeMap<String, Vec<Warning>>, snapshot: &Snapshot) {
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
        let Some(backends) = &self.backends else {
            self.record_certs(m);
            return;
        };
        let mut ready: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for b in backends {
            let n = b.endpoints().ready.len() as u64;
            let slot = ready.entry((&*b.namespace, &*b.service)).or_default();
            *slot = (*slot).max(n);
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
        self.record_certs(m);
    }

    /// Sets the certificate expiry metrics.
    fn record_certs(&self, m: &Metrics) {
        for (class, infos) in &self.certs {
            let expiry: Vec<CertExpiry<'_>> = infos
                .iter()
                .map(|(c, ingress)| CertExpiry {
                    host: &c.host,
                    not_after_unix: c.not_after,
                    secret: if c.default { "" } else { &c.source },
                    ingress,
                })
                .collect();
            m.set_cert_expiry(class, &expiry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{ObjectRef, WarningKind};

    fn warning(kind: &'static str, name: &str) -> Warning {
        Warning::new(
            ObjectRef {
                kind,
                namespace: "default".into(),
                name: name.into(),
            },
            WarningKind::MissingService,
            "m".into(),
        )
    }

    #[test]
    fn warnings_go_to_their_class_others_to_all() {
        let classes = ["a".to_string(), "b".to_string()];
        let ws = [
            warning("Ingress", "one").in_class("a"),
            warning("Secret", "tls"),
        ];
        let by = warnings_by_class(&ws, classes.iter());
        assert_eq!(by["a"].len(), 2);
        assert_eq!(by["b"], [ws[1].clone()]);
    }
}
