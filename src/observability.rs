//! Wiring for metrics and the access log from the command line.

use std::sync::Arc;

use anyhow::{Context, Result};
use gatehouse_proxy::metrics::{AccessLog, AccessLogFormat, Buffering, Metrics, MetricsOptions};

use crate::cli::{Cli, MetricsCompat};

/// The process's metrics registry, with ingress-nginx names when `--metrics-compat` asks.
pub fn metrics(cli: &Cli) -> Result<Arc<Metrics>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let opts = MetricsOptions {
        compat_nginx: cli.metrics_compat == Some(MetricsCompat::IngressNginx),
        controller_namespace: env("POD_NAMESPACE").unwrap_or_else(|| "default".into()),
        controller_pod: env("POD_NAME").unwrap_or_else(|| "gatehouse".into()),
        classes: cli.instances.iter().map(|i| i.class.clone()).collect(),
    };
    Ok(Arc::new(
        Metrics::new(opts).context("building the metrics registry")?,
    ))
}

/// The stdout access log, unless `--access-log off`, buffered as `--access-log-buffer` and
/// `--access-log-flush` say.
pub fn access_log(cli: &Cli) -> Option<Arc<AccessLog>> {
    match cli.access_log {
        AccessLogFormat::Off => None,
        AccessLogFormat::Json => Some(Arc::new(AccessLog::stdout(Buffering {
            size: cli.access_log_buffer,
            flush: cli.access_log_flush,
        }))),
    }
}
