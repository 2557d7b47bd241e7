//! The route model of one ingress class: an immutable table, built once per change and read on
//! every request. Pure data and lookups — no I/O, no clocks, no runtime — so the controller's
//! translation builds it without compiling the proxy, and its tests are plain tables.
//!
//! A route is a match plus a target plus a policy: the table finds the host entry (exact, then
//! one-label wildcard, then host-less rules), the entry's path matcher finds the
//! [`RouteTarget`], and the target carries its [`RoutePolicy`]. The matcher knows nothing of
//! policies; host-wide behaviour sits on the host entry ([`HostPolicy`]).
#![forbid(unsafe_code)]

mod backend;
mod basic_auth;
mod builder;
pub mod forward_auth;
pub mod host;
mod path;
mod policy;
pub mod request_path;
mod source;
mod table;
mod target;
#[cfg(test)]
mod tests;
mod upstream;

pub use backend::{Backend, EndpointSet};
pub use basic_auth::{BasicAuth, PasswordHash, Satisfy};
pub use builder::{Conflict, RouteTableBuilder};
pub use forward_auth::{ForwardAuth, Template};
pub use host::{host_without_port, normalize_host, normalized_host, wildcard_parent, HostBuf};
/// One address range of a [`SourceRanges`] (re-exported so users need no `ipnet` of their own).
pub use ipnet::IpNet;
pub use path::HostRoutes;
pub use policy::{HostPolicy, RetryPolicy, RoutePolicy};
pub use request_path::{normalize_path, NormalPath, PathError};
pub use source::SourceRanges;
pub use table::{RouteMatch, RouteTable, TableInfo};
pub use target::{IngressRef, PathType, RouteTarget};
pub use upstream::{BackendProtocol, ClientCert, Prepared, UpstreamCa, UpstreamTls};
