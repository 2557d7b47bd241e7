//! The one door from translation to the proxy: translate a snapshot and swap each class's
//! table into its instance. Warnings are logged once per distinct problem.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use gatehouse_proxy::InstanceSet;

use crate::snapshot::Snapshot;
use crate::translate::{translate, TranslateConfig, Warning};

/// What the last publish produced, for the admin pages.
#[derive(Debug, Default, Clone)]
pub struct PublishReport {
    /// The translation's warnings.
    pub warnings: Vec<Warning>,
    /// Objects per kind in the snapshot.
    pub object_counts: Vec<(&'static str, usize)>,
    /// How long translation took.
    pub translate_seconds: f64,
}

/// What one publish decided, for the side effects that follow it (status, Events).
#[derive(Debug, Default, Clone)]
pub struct PublishOutcome {
    /// Ingresses (`namespace/name`) per class.
    pub members: BTreeMap<String, Vec<String>>,
    /// Problems found.
    pub warnings: Vec<Warning>,
}

/// Translates snapshots and publishes their tables.
pub struct Publisher {
    instances: Arc<InstanceSet>,
    config: TranslateConfig,
    reported: BTreeSet<Warning>,
    last: Arc<ArcSwap<PublishReport>>,
}

impl Publisher {
    /// A publisher for `instances`.
    pub fn new(instances: Arc<InstanceSet>, config: TranslateConfig) -> Self {
        Self {
            instances,
            config,
            reported: BTreeSet::new(),
            last: Arc::new(ArcSwap::from_pointee(PublishReport::default())),
        }
    }

    /// A handle on the last report (readers see each new one).
    pub fn report(&self) -> Arc<ArcSwap<PublishReport>> {
        self.last.clone()
    }

    /// Translates `snapshot`, swaps every instance's table, and returns which Ingresses
    /// belong to which class (for status) and the warnings (for Events).
    pub fn publish(&mut self, snapshot: &Snapshot) -> PublishOutcome {
        let started = Instant::now();
        let translation = translate(snapshot, &self.config);
        let translate_seconds = started.elapsed().as_secs_f64();
        for (class, certs) in translation.certs {
            if let Some(instance) = self.instances.get(&class) {
                instance.publish_certs(certs);
            }
        }
        for (class, table) in translation.tables {
            if let Some(instance) = self.instances.get(&class) {
                let generation = instance.publish(table);
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
            object_counts: snapshot.counts().to_vec(),
            translate_seconds,
        }));
        PublishOutcome {
            members: translation.members,
            warnings: translation.warnings,
        }
    }
}
