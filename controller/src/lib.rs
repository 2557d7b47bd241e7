//! gatehouse controller: sources that watch objects, the snapshot they produce, the pure
//! translation of a snapshot into route tables, and the loop that publishes them.
#![forbid(unsafe_code)]

pub mod acme;
pub mod events;
pub mod leader;
pub mod publish;
pub mod snapshot;
pub mod sources;
pub mod status;
pub mod translate;

pub use snapshot::{Object, Snapshot};
pub use translate::{translate, ClassConfig, TranslateConfig, Translation, Warning, WarningKind};
