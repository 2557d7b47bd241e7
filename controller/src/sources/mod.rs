//! Sources of objects. Each only produces [`SourceUpdate`]s into a watch channel; the
//! reconciler ([`crate::reconcile`]) does everything after that.

pub mod external_names;
pub mod kube;
pub mod manifests;
pub mod named_secrets;
mod object_store;
pub mod watch;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;

use crate::snapshot::Snapshot;

/// What a source sends: the objects as it sees them now, and what status needs from the cluster.
#[derive(Debug, Default)]
pub struct SourceUpdate {
    /// Every object translation reads (shared with the ACME loop, not copied).
    pub snapshot: Arc<Snapshot>,
    /// The LoadBalancer Services whose addresses Ingress status publishes (cluster mode only).
    pub publish_services: Vec<Arc<Service>>,
}

/// The source's side of the channel: a source replaces the value with each new picture.
pub type UpdateSender = tokio::sync::watch::Sender<Option<Arc<SourceUpdate>>>;
/// The reconciler's side: it only ever needs the latest picture, so a watch channel fits.
pub type UpdateReceiver = tokio::sync::watch::Receiver<Option<Arc<SourceUpdate>>>;

/// A channel from a source to the reconciler; `None` until the source's first complete picture.
pub fn channel() -> (UpdateSender, UpdateReceiver) {
    tokio::sync::watch::channel(None)
}
