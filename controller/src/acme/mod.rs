//! Built-in ACME: which certificates to order (a pure plan), the leader's loop that orders
//! them, and where issued certificates and HTTP-01 answers go (files or the cluster).

pub mod kube_store;
pub mod manager;
pub mod plan;
pub mod sink;

pub use manager::{AcmeFeed, AcmeManager, AcmeMetrics, AcmeObserver, AcmeSettings, Published};
pub use plan::{plan, AcmeWant, Managed, Plan, WantReason, ACME_ANNOTATION};
pub use sink::{CertSink, FileSink, KubeSink};
