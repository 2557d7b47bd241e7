//! gatehouse-testapi: an in-process Kubernetes API server for tests, speaking the real wire
//! protocol (list, watch with bookmarks and 410 Gone, create/replace/patch/delete, status
//! subresources, discovery) so kube-rs clients run against it unmodified.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let server = gatehouse_testapi::TestApiServer::start().await?;
//! server.write_kubeconfig("/tmp/kubeconfig")?;
//! server.apply(serde_json::json!({
//!     "apiVersion": "v1", "kind": "Secret",
//!     "metadata": {"name": "tls", "namespace": "default"}, "type": "kubernetes.io/tls",
//! }))?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod discovery;
pub mod error;
mod http;
pub mod kubeconfig;
pub mod list;
mod meta;
pub mod patch;
pub mod requests;
pub mod resources;
pub mod routes;
pub mod selectors;
mod server;
pub mod status;
pub mod store;
pub mod watch;
pub mod writes;

pub use error::{Error, Result};
pub use requests::RequestRecord;
pub use resources::{ResourceInfo, ResourceKey, RESOURCES};
pub use server::TestApiServer;
pub use status::ApiError;
