//! gatehouse request path: the route model and matcher, endpoint balancing, the Pingora
//! service that serves one ingress class, and the admin listener (health, readiness, metrics
//! and the status page with its `routes.json`).
#![forbid(unsafe_code)]

pub mod admin;
pub mod balance;
pub mod instance;
pub mod routes;
pub mod service;

/// The observability crate, re-exported so the controller and binary share its types.
pub use gatehouse_metrics as metrics;

pub use balance::{Backend, EndpointSet};
pub use instance::{Instance, InstanceSet, ListenerSpec};
pub use routes::{
    HostRoutes, IngressRef, PathType, RouteTable, RouteTableBuilder, RouteTarget, TableInfo,
};
pub use service::{ClassProxy, ProxyOptions};
