//! Test support for gatehouse: echo and recording backends, a cloudflared-like origin client, forward-auth emulators (`auth_server`), the gatehouse process harness, manifests helpers,
//! test certificates and TLS clients, Prometheus scrape readers, and the Grafana dashboard
//! reader tests check the metrics against; and `tools`, the one rule for a missing external
//! program (skipped, or failed under `CI=true`).
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth_server;
pub mod base64;
pub mod browser;
pub mod client;
pub mod cloudflared;
pub mod dashboards;
pub mod echo;
pub mod fixture;
pub mod manifests;
pub mod net;
pub mod pebble;
pub mod process;
pub mod prom;
pub mod raw_http;
pub mod recording;
pub mod tls_client;
pub mod tlsgen;
pub mod tools;
pub mod yaml;

pub use auth_server::{AuthKind, AuthServer};
pub use client::{get, h2c_client, http_client, Reply};
pub use echo::EchoBackend;
pub use fixture::{echo_service, recording_service, Fixture};
pub use manifests::ManifestDir;
pub use net::{any_port, free_addr, free_port_on, loopback, silent_backend};
pub use process::{Gatehouse, InstanceSpec};
pub use recording::RecordingBackend;
pub use tools::require_tool;

/// Re-exported so black-box tests can drive WebSockets without their own dependency.
pub use tokio_tungstenite;
