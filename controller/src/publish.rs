//! The one door from translation to the proxy: translate a snapshot and swap each class's
//! table into its instance. Warnings are logged once per distinct problem.

use std::collections::BTreeSet;
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

    /// Translates `snapshot` and swaps every instance's table.
    pub fn publish(&mut self, snapshot: &Snapshot) {
        let started = Instant::now();
        let translation = translate(snapshot, &self.config);
        let translate_seconds = started.elapsed().as_secs_f64();
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
            warnings: translation.warnings,
            object_counts: snapshot.counts().to_vec(),
            translate_seconds,
        }));
    }
}
