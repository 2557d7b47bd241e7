//! Sources of objects. Each produces [`crate::Snapshot`]s; everything after is shared.

pub mod kube;
pub mod manifests;
pub mod watch;
