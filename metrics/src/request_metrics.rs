//! Native per-request and per-connection series (`gatehouse_http_*`, `gatehouse_upstream_*`).

use std::sync::{OnceLock, RwLock};

use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use crate::error::Result;
use crate::labels::{method_label, or_unmatched, status_label};
use crate::record::{AuthOutcome, ConnectionRefusal, RequestRecord, UpstreamErrorKind};
use crate::registrar::Registrar;

/// Request latency buckets: 1 ms .. 10 s, roughly 1-2.5-5 per decade.
pub(crate) const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upstream connect buckets: connects on a LAN are sub-millisecond, so start at 100 µs.
const CONNECT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

const ROUTE: &[&str] = &["class", "namespace", "ingress", "service"];

/// One series of a vector, looked up by its labels the first time it is needed and kept: a
/// lookup hashes every label value and takes the vector's lock, an increment is one atomic
/// add. Looked up lazily, so a series still appears in the output when it first moves.
type Lazy<T> = OnceLock<T>;

/// The series of one instance (class), resolved once: see [`RouteSeries`].
pub struct ClassSeries {
    class: Box<str>,
    in_flight: Lazy<IntGauge>,
    /// `gatehouse_upstream_connections_total{reused="false"}`, `{reused="true"}`.
    upstream_connections: [Lazy<IntCounter>; 2],
    /// The series of requests that matched no route (`-` labels).
    unmatched: RouteSeries,
}

impl ClassSeries {
    /// Empty handles for `class`.
    pub(crate) fn new(class: &str) -> Self {
        Self {
            class: class.into(),
            in_flight: Lazy::new(),
            upstream_connections: Default::default(),
            unmatched: RouteSeries::new(class, "", "", ""),
        }
    }

    /// The class these series are for.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// The series of requests that matched no route.
    pub fn unmatched(&self) -> &RouteSeries {
        &self.unmatched
    }
}

/// The per-request series of one route (class, namespace, ingress, service), each resolved on
/// first use and then kept, so that recording a request costs atomic adds instead of a label
/// lookup per series. Keep one per route, next to the route.
pub struct RouteSeries {
    /// class, namespace, ingress, service (`-` when no route matched).
    labels: [Box<str>; 4],
    duration: Lazy<Histogram>,
    upstream_connect: Lazy<Histogram>,
    upstream_header: Lazy<Histogram>,
    request_bytes: Lazy<IntCounter>,
    response_bytes: Lazy<IntCounter>,
    retries: Lazy<IntCounter>,
    upstream_errors: [Lazy<IntCounter>; UpstreamErrorKind::ALL.len()],
    /// `gatehouse_http_requests_total` by method and status: the few a route sees.
    requests: RwLock<Vec<(&'static str, u16, IntCounter)>>,
}

impl RouteSeries {
    /// Empty handles for a route; empty namespace, ingress and service mean unmatched.
    pub(crate) fn new(class: &str, namespace: &str, ingress: &str, service: &str) -> Self {
        Self {
            labels: [
                class.into(),
                or_unmatched(namespace).into(),
                or_unmatched(ingress).into(),
                or_unmatched(service).into(),
            ],
            duration: Lazy::new(),
            upstream_connect: Lazy::new(),
            upstream_header: Lazy::new(),
            request_bytes: Lazy::new(),
            response_bytes: Lazy::new(),
            retries: Lazy::new(),
            upstream_errors: Default::default(),
            requests: RwLock::new(Vec::new()),
        }
    }

    /// The class these series are for.
    pub fn class(&self) -> &str {
        &self.labels[0]
    }

    fn route(&self) -> [&str; 4] {
        let [c, n, i, s] = &self.labels;
        [c, n, i, s]
    }
}

/// The native request-path series.
pub(crate) struct RequestMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    upstream_connect: HistogramVec,
    upstream_header: HistogramVec,
    request_bytes: IntCounterVec,
    response_bytes: IntCounterVec,
    upstream_connections: IntCounterVec,
    retries: IntCounterVec,
    upstream_errors: IntCounterVec,
    pub(crate) connections_open: IntGaugeVec,
    connections_total: IntCounterVec,
    connections_refused: IntCounterVec,
    auth_requests: IntCounterVec,
    pub(crate) in_flight: IntGaugeVec,
}

impl RequestMetrics {
    pub(crate) fn register(r: &Registrar<'_>, classes: &[String]) -> Result<Self> {
        let route_status: Vec<&str> = ROUTE.iter().copied().chain(["method", "status"]).collect();
        let route_kind: Vec<&str> = ROUTE.iter().copied().chain(["kind"]).collect();
        let m = Self {
            requests: r.int_counter_vec(
                "gatehouse_http_requests_total",
                "Requests handled, by matched route and response status.",
                &route_status,
            )?,
            duration: r.histogram_vec(
                "gatehouse_http_request_duration_seconds",
                "Time from request start to the last response byte.",
                ROUTE,
                LATENCY_BUCKETS,
            )?,
            upstream_connect: r.histogram_vec(
                "gatehouse_upstream_connect_duration_seconds",
                "Time to establish a new upstream connection.",
                ROUTE,
                CONNECT_BUCKETS,
            )?,
            upstream_header: r.histogram_vec(
                "gatehouse_upstream_header_duration_seconds",
                "Time until the upstream response header arrived.",
                ROUTE,
                LATENCY_BUCKETS,
            )?,
            request_bytes: r.int_counter_vec(
                "gatehouse_http_request_bytes_total",
                "Request header and body bytes received from clients.",
                ROUTE,
            )?,
            response_bytes: r.int_counter_vec(
                "gatehouse_http_response_bytes_total",
                "Response header and body bytes sent to clients.",
                ROUTE,
            )?,
            upstream_connections: r.int_counter_vec(
                "gatehouse_upstream_connections_total",
                "Upstream connections used, by whether they came from the keep-alive pool.",
                &["class", "reused"],
            )?,
            retries: r.int_counter_vec(
                "gatehouse_upstream_retries_total",
                "Upstream request retries.",
                ROUTE,
            )?,
            upstream_errors: r.int_counter_vec(
                "gatehouse_upstream_errors_total",
                "Failed upstream exchanges, by kind.",
                &route_kind,
            )?,
            connections_open: r.int_gauge_vec(
                "gatehouse_downstream_connections_open",
                "Client connections currently open.",
                &["class"],
            )?,
            connections_total: r.int_counter_vec(
                "gatehouse_downstream_connections_total",
                "Client connections accepted.",
                &["class"],
            )?,
            connections_refused: r.int_counter_vec(
                "gatehouse_downstream_connections_refused_total",
                "Client connections closed by a limit, by reason: max_connections, head_timeout, bad_head (400), uri_too_long (414), headers_too_large (431), proxy_protocol (a PROXY header missing, malformed, late or untrusted).",
                &["class", "reason"],
            )?,
            auth_requests: r.int_counter_vec(
                "gatehouse_auth_requests_total",
                "External authentication subrequests (auth-url), by result: allowed (2xx), sign_in (401), forbidden (403), failed (unreachable, timed out or another status: the request got 500).",
                &["class", "result"],
            )?,
            in_flight: r.int_gauge_vec(
                "gatehouse_http_requests_in_flight",
                "Requests whose response has not finished yet.",
                &["class"],
            )?,
        };
        for class in classes {
            m.connections_open.with_label_values(&[class]);
            m.connections_total.with_label_values(&[class]);
            m.in_flight.with_label_values(&[class]);
            for reused in ["true", "false"] {
                m.upstream_connections.with_label_values(&[class, reused]);
            }
        }
        Ok(m)
    }

    /// The in-flight gauge of `class`.
    pub(crate) fn in_flight<'s>(&self, class: &'s ClassSeries) -> &'s IntGauge {
        class
            .in_flight
            .get_or_init(|| self.in_flight.with_label_values(&[&*class.class]))
    }

    pub(crate) fn observe(&self, rec: &RequestRecord<'_>) {
        let class = ClassSeries::new(rec.class);
        let route = RouteSeries::new(rec.class, rec.namespace, rec.ingress, rec.service);
        self.observe_in(rec, &class, &route);
    }

    /// Records `rec` in the series of `class` and `route` (which must be `rec`'s).
    pub(crate) fn observe_in(
        &self,
        rec: &RequestRecord<'_>,
        class: &ClassSeries,
        series: &RouteSeries,
    ) {
        let route = series.route();
        series
            .duration
            .get_or_init(|| self.duration.with_label_values(&route))
            .observe(rec.duration.as_secs_f64());
        if let Some(connect) = rec.upstream_connect {
            series
                .upstream_connect
                .get_or_init(|| self.upstream_connect.with_label_values(&route))
                .observe(connect.as_secs_f64());
        }
        if let Some(header) = rec.upstream_header {
            series
                .upstream_header
                .get_or_init(|| self.upstream_header.with_label_values(&route))
                .observe(header.as_secs_f64());
        }
        series
            .request_bytes
            .get_or_init(|| self.request_bytes.with_label_values(&route))
            .inc_by(rec.request_bytes);
        series
            .response_bytes
            .get_or_init(|| self.response_bytes.with_label_values(&route))
            .inc_by(rec.response_bytes);
        if let Some(reused) = rec.upstream_reused {
            let label = if reused { "true" } else { "false" };
            class.upstream_connections[usize::from(reused)]
                .get_or_init(|| {
                    self.upstream_connections
                        .with_label_values(&[&*class.class, label])
                })
                .inc();
        }
        if rec.retries > 0 {
            series
                .retries
                .get_or_init(|| self.retries.with_label_values(&route))
                .inc_by(u64::from(rec.retries));
        }
        if let Some(kind) = rec.upstream_error {
            self.upstream_error(series, kind);
        }
        // Counted last: a scrape that sees the request counted sees all of its other series
        // too (a reader waiting on the request count never reads a half-recorded request).
        self.count_request(series, method_label(rec.method), rec.status);
    }

    /// Counts one request in `gatehouse_http_requests_total` of a route, method and status.
    fn count_request(&self, series: &RouteSeries, method: &'static str, status: u16) {
        // Codes outside 100..=999 share the label "000", so they share one entry too.
        let status = if (100..=999).contains(&status) {
            status
        } else {
            0
        };
        let find = |seen: &[(&'static str, u16, IntCounter)]| {
            seen.iter()
                .find(|(m, s, _)| *m == method && *s == status)
                .map(|(_, _, counter)| counter.inc())
                .is_some()
        };
        let read = series
            .requests
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if find(&read) {
            return;
        }
        drop(read);
        let mut write = series
            .requests
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if find(&write) {
            return;
        }
        let mut status_buf = [0u8; 3];
        let [class, namespace, ingress, service] = series.route();
        let counter = self.requests.with_label_values(&[
            class,
            namespace,
            ingress,
            service,
            method,
            status_label(status, &mut status_buf),
        ]);
        counter.inc();
        write.push((method, status, counter));
    }

    fn upstream_error(&self, series: &RouteSeries, kind: UpstreamErrorKind) {
        let [class, namespace, ingress, service] = series.route();
        let slot = UpstreamErrorKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(UpstreamErrorKind::ALL.len() - 1);
        series.upstream_errors[slot]
            .get_or_init(|| {
                self.upstream_errors.with_label_values(&[
                    class,
                    namespace,
                    ingress,
                    service,
                    kind.as_label(),
                ])
            })
            .inc();
    }

    pub(crate) fn connection_opened(&self, class: &str) {
        self.connections_open.with_label_values(&[class]).inc();
        self.connections_total.with_label_values(&[class]).inc();
    }

    pub(crate) fn connection_closed(&self, class: &str) {
        self.connections_open.with_label_values(&[class]).dec();
    }

    pub(crate) fn auth_request(&self, class: &str, outcome: AuthOutcome) {
        self.auth_requests
            .with_label_values(&[class, outcome.as_label()])
            .inc();
    }

    pub(crate) fn connection_refused(&self, class: &str, reason: ConnectionRefusal) {
        self.connections_refused
            .with_label_values(&[class, reason.as_label()])
            .inc();
    }
}
