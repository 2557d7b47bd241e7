//! gatehouse request path: the Pingora service that serves one ingress class (its request
//! steps), live endpoint balancing, the per-class instances, and the admin listener (health,
//! readiness, metrics and the status page with its `routes.json`). The route model and
//! matcher are the `gatehouse-routes` crate, re-exported as [`routes`].
#![forbid(unsafe_code)]

pub mod admin;
pub mod balance;
pub mod connection;
pub mod instance;
pub mod limits;
pub mod service;

/// The observability crate, re-exported so the controller and binary share its types.
pub use gatehouse_metrics as metrics;

/// The pure route model and matcher.
pub use gatehouse_routes as routes;

pub use connection::proxy_protocol::PreTlsProxyProtocol;
pub use connection::ClassApp;
pub use instance::{Instance, InstanceSet, ListenerSpec, LiveTable};
pub use limits::Limits;
pub use routes::{
    Backend, EndpointSet, HostPolicy, HostRoutes, IngressRef, PathType, RoutePolicy, RouteTable,
    RouteTableBuilder, RouteTarget, TableInfo,
};
pub use service::{ClassProxy, ProxyOptions};
