//! Translation that reuses the previous one's work where its inputs are the same objects.
//!
//! Snapshots share unchanged objects (`Arc`), so "the same object" is a pointer comparison.
//! What is reused: a backend (its endpoints) whose Service and EndpointSlices are the same
//! objects, renumbered if its slot moved; and an Ingress's route targets when the Ingress is the
//! same object and each route resolves to the same backend and policy. Everything else (class
//! resolution, TLS, conflicts, host owners, warnings) is recomputed, so the result is always
//! what [`translate`](super::translate) gives for the same snapshot and config.

use super::{translate_with, Memo, TranslateConfig, Translation};
use crate::snapshot::Snapshot;

/// Translates snapshot after snapshot, reusing what the previous translation built.
#[derive(Default)]
pub struct IncrementalTranslator {
    memo: Memo,
}

impl IncrementalTranslator {
    /// A translator with nothing to reuse yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The translation of `snapshot` under `config`: equal to `translate(snapshot, config)`,
    /// cheaper when much of `snapshot` is the same objects as the previous call's.
    pub fn translate(&mut self, snapshot: &Snapshot, config: &TranslateConfig) -> Translation {
        translate_with(snapshot, config, Some(&mut self.memo))
    }
}
