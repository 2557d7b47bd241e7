//! gatehouse observability: Prometheus metrics (native `gatehouse_*` names and, optionally,
//! ingress-nginx-compatible `nginx_ingress_controller_*` names) and the JSON access log. The
//! status page is the admin listener's, in `gatehouse_proxy::admin`.
//!
//! The proxy calls [`Metrics::observe_request`] and [`AccessLog::log`] from Pingora's `logging`
//! phase with a borrowed [`RequestRecord`]; the controller calls the `table_swapped`/`set_*`
//! setters. Nothing here does network I/O.
#![forbid(unsafe_code)]

pub mod access_log;
mod build_info;
mod controller_metrics;
mod error;
mod gauge_set;
mod gauge_table;
mod labels;
mod metrics;
mod nginx_compat;
mod options;
mod process_stats;
mod record;
mod registrar;
mod request_metrics;
mod rfc3339;

pub use access_log::{AccessLog, AccessLogFormat, Buffering};
pub use build_info::{BUILD_REVISION, BUILD_VERSION};
pub use error::{MetricsError, Result};
pub use metrics::{InFlightRequest, Metrics};
pub use options::{AcmeOrderResult, CertExpiry, MetricsOptions, ReadyEndpoints};
pub use record::{AuthOutcome, ConnectionRefusal, RequestRecord, UpstreamErrorKind};
pub use request_metrics::{ClassSeries, RouteSeries};
