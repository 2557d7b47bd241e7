//! gatehouse request path: the route model and matcher, endpoint balancing, and the Pingora
//! service that serves one ingress class.
#![forbid(unsafe_code)]

pub mod admin;
pub mod balance;
pub mod instance;
pub mod routes;
pub mod service;
pub mod status;

/// The observability crate, re-exported so the controller and binary share its types.
pub use gatehouse_metrics as metrics;

pub use balance::{Backend, EndpointSet};
pub use instance::{Instance, InstanceSet, ListenerSpec};
pub use routes::{
    HostRoutes, IngressRef, PathType, RouteTable, RouteTableBuilder, RouteTarget, TableInfo,
};
pub use service::{ClassProxy, ProxyOptions};
