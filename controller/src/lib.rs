//! gatehouse controller: sources that watch objects and send snapshots, the pure translation of
//! a snapshot into route tables, and the one reconcile loop that publishes them and acts.
#![forbid(unsafe_code)]

pub mod acme;
pub mod events;
pub mod leader;
pub mod publish;
pub mod reconcile;
pub mod snapshot;
pub mod sources;
pub mod status;
pub mod translate;

pub use snapshot::{Object, Snapshot};
pub use translate::{translate, ClassConfig, TranslateConfig, Translation, Warning, WarningKind};
