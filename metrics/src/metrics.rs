//! [`Metrics`]: the one registry the proxy and controller write into and `/metrics` reads.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::core::Collector;
use prometheus::{Encoder, IntGauge, IntGaugeVec, Registry, TextEncoder};

use crate::controller_metrics::ControllerMetrics;
use crate::error::{MetricsError, Result};
use crate::nginx_compat::NginxCompat;
use crate::options::{AcmeOrderResult, CertExpiry, MetricsOptions, ReadyEndpoints};
use crate::process_stats;
use crate::record::{AuthOutcome, ConnectionRefusal, RequestRecord};
use crate::registrar::Registrar;
use crate::request_metrics::{ClassSeries, RequestMetrics, RouteSeries};

/// All gatehouse metrics, owning their [`Registry`]. Share it behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    requests: RequestMetrics,
    controller: ControllerMetrics,
    nginx: Option<NginxCompat>,
    classes: Vec<String>,
    /// Serialises scrape-time refreshes so absolute-to-counter conversions don't race.
    refresh: Mutex<()>,
}

/// Counts a request as in flight until dropped; keep it in the proxy's per-request context.
#[must_use = "the request counts as in flight only while this guard lives"]
pub struct InFlightRequest {
    gauge: IntGauge,
}

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl Metrics {
    /// Builds and registers every series (ingress-nginx ones too when `compat_nginx`).
    pub fn new(opts: MetricsOptions) -> Result<Self> {
        let registry = Registry::new();
        let native = Registrar::new(&registry, HashMap::new());
        let requests = RequestMetrics::register(&native, &opts.classes)?;
        let controller = ControllerMetrics::register(&native, &opts.classes)?;
        let nginx = if opts.compat_nginx {
            Some(NginxCompat::register(&registry, &opts)?)
        } else {
            None
        };
        Ok(Self {
            registry,
            requests,
            controller,
            nginx,
            classes: opts.classes,
            refresh: Mutex::new(()),
        })
    }

    /// The registry, for registering extra collectors next to ours.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records one finished request (call from the proxy's `logging` phase).
    pub fn observe_request(&self, rec: &RequestRecord<'_>) {
        self.requests.observe(rec);
        if let Some(nginx) = &self.nginx {
            nginx.observe(rec);
        }
    }

    /// Marks a request of `class` as in flight until the returned guard drops.
    pub fn request_started(&self, class: &str) -> InFlightRequest {
        self.request_started_in(&ClassSeries::new(class))
    }

    /// Handles for the per-request series of instance `class`, for [`Metrics::request_started_in`]
    /// and [`Metrics::observe_request_in`]; keep it as long as the instance (series are looked
    /// up on first use only).
    pub fn class_series(&self, class: &str) -> ClassSeries {
        ClassSeries::new(class)
    }

    /// Handles for the per-request series of one route of instance `class`; keep it next to
    /// the route. Empty namespace, ingress and service: the unmatched requests' series.
    pub fn route_series(
        &self,
        class: &str,
        namespace: &str,
        ingress: &str,
        service: &str,
    ) -> RouteSeries {
        RouteSeries::new(class, namespace, ingress, service)
    }

    /// [`Metrics::request_started`] with the instance's kept handles.
    pub fn request_started_in(&self, class: &ClassSeries) -> InFlightRequest {
        let gauge = self.requests.in_flight(class).clone();
        gauge.inc();
        InFlightRequest { gauge }
    }

    /// [`Metrics::observe_request`] with kept handles: `class` and `route` must be the
    /// record's (made by this `Metrics` for its class and route), and series are then looked up
    /// once, not per request.
    pub fn observe_request_in(
        &self,
        rec: &RequestRecord<'_>,
        class: &ClassSeries,
        route: &RouteSeries,
    ) {
        self.requests.observe_in(rec, class, route);
        if let Some(nginx) = &self.nginx {
            nginx.observe(rec);
        }
    }

    /// A downstream connection to instance `class` was accepted.
    pub fn connection_opened(&self, class: &str) {
        self.requests.connection_opened(class);
        if let Some(nginx) = &self.nginx {
            nginx.connection_opened(class);
        }
    }

    /// An auth subrequest of instance `class` ended so.
    pub fn auth_request(&self, class: &str, outcome: AuthOutcome) {
        self.requests.auth_request(class, outcome);
    }

    /// A downstream connection to instance `class` was closed by a limit.
    pub fn connection_refused(&self, class: &str, reason: ConnectionRefusal) {
        self.requests.connection_refused(class, reason);
    }

    /// A downstream connection to instance `class` closed.
    pub fn connection_closed(&self, class: &str) {
        self.requests.connection_closed(class);
    }

    /// A new route table (`generation`, built in `translate_duration`) now serves `class`.
    pub fn table_swapped(&self, class: &str, generation: u64, translate_duration: Duration) {
        let now = unix_now();
        self.controller
            .table_swapped(class, generation, translate_duration, now);
        if let Some(nginx) = &self.nginx {
            nginx.table_swapped(class, generation, now);
        }
    }

    /// Replaces `class`'s translation warning counts (`(kind, count)`); kinds not listed vanish.
    pub fn set_warnings(&self, class: &str, counts: &[(&str, u64)]) {
        self.controller.set_warnings(class, counts);
    }

    /// Replaces the snapshot object counts (`(kind, count)`); kinds not listed vanish.
    pub fn set_objects(&self, counts: &[(&str, u64)]) {
        self.controller.set_objects(counts);
    }

    /// Replaces the ready-endpoint counts of every backend Service; Services not listed vanish.
    pub fn set_ready_endpoints(&self, services: &[ReadyEndpoints<'_>]) {
        self.controller.set_ready_endpoints(services);
    }

    /// Replaces `class`'s serving certificates' expiry; hosts not listed vanish.
    pub fn set_cert_expiry(&self, class: &str, certs: &[CertExpiry<'_>]) {
        self.controller.set_cert_expiry(class, certs);
        if let Some(nginx) = &self.nginx {
            nginx.set_cert_expiry(class, certs);
        }
    }

    /// Counts a finished ACME order.
    pub fn acme_order(&self, result: AcmeOrderResult) {
        self.controller.acme_order(result);
    }

    /// Sets when `host`'s next ACME renewal is due (`None` removes it).
    pub fn set_next_renewal(&self, host: &str, unix: Option<i64>) {
        self.controller.set_next_renewal(host, unix);
    }

    /// Renders every series in the Prometheus text format 0.0.4.
    pub fn try_encode(&self) -> Result<String> {
        self.refresh_scrape_time_values();
        let mut out = Vec::with_capacity(64 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(MetricsError::Encode)?;
        String::from_utf8(out).map_err(|e| {
            MetricsError::Encode(prometheus::Error::Msg(format!("non-UTF-8 output: {e}")))
        })
    }

    /// Like [`Metrics::try_encode`], but a failure becomes a comment line in the output so a
    /// scrape handler never has to fail (the text encoder cannot fail on an in-memory buffer).
    pub fn encode(&self) -> String {
        self.try_encode()
            .unwrap_or_else(|e| format!("# gatehouse: {e}\n"))
    }

    /// Values read only at scrape time: process figures and nginx connection states.
    fn refresh_scrape_time_values(&self) {
        let _serial = self
            .refresh
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let stats = process_stats::read_self();
        if let Some(stats) = &stats {
            self.controller.set_process(stats);
        }
        let Some(nginx) = &self.nginx else {
            return;
        };
        let open = gauge_values(&self.requests.connections_open);
        let in_flight = gauge_values(&self.requests.in_flight);
        let classes: BTreeSet<&str> = self
            .classes
            .iter()
            .map(String::as_str)
            .chain(open.keys().map(String::as_str))
            .collect();
        for class in classes {
            let n_open = open.get(class).copied().unwrap_or(0);
            let n_busy = in_flight.get(class).copied().unwrap_or(0);
            nginx.set_connections(class, n_open, n_busy);
            if let Some(stats) = &stats {
                nginx.set_process(class, stats);
            }
        }
    }
}

/// Current values of a one-label (`class`) gauge vector, keyed by that label.
fn gauge_values(vec: &IntGaugeVec) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    for family in vec.collect() {
        for m in family.get_metric() {
            if let Some(label) = m.get_label().first() {
                out.insert(label.value().to_owned(), m.get_gauge().value() as i64);
            }
        }
    }
    out
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_across_threads<T: Send + Sync>() {}

    #[test]
    fn metrics_and_access_log_are_shareable() {
        shared_across_threads::<Metrics>();
        shared_across_threads::<crate::AccessLog>();
        shared_across_threads::<InFlightRequest>();
    }
}
