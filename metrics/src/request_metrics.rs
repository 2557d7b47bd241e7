//! Native per-request and per-connection series (`gatehouse_http_*`, `gatehouse_upstream_*`).

use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};

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

    pub(crate) fn observe(&self, rec: &RequestRecord<'_>) {
        let route = [
            rec.class,
            or_unmatched(rec.namespace),
            or_unmatched(rec.ingress),
            or_unmatched(rec.service),
        ];
        let mut status_buf = [0u8; 3];
        let status = status_label(rec.status, &mut status_buf);
        let [class, namespace, ingress, service] = route;
        self.duration
            .with_label_values(&route)
            .observe(rec.duration.as_secs_f64());
        if let Some(connect) = rec.upstream_connect {
            self.upstream_connect
                .with_label_values(&route)
                .observe(connect.as_secs_f64());
        }
        if let Some(header) = rec.upstream_header {
            self.upstream_header
                .with_label_values(&route)
                .observe(header.as_secs_f64());
        }
        self.request_bytes
            .with_label_values(&route)
            .inc_by(rec.request_bytes);
        self.response_bytes
            .with_label_values(&route)
            .inc_by(rec.response_bytes);
        if let Some(reused) = rec.upstream_reused {
            let reused = if reused { "true" } else { "false" };
            self.upstream_connections
                .with_label_values(&[class, reused])
                .inc();
        }
        if rec.retries > 0 {
            self.retries
                .with_label_values(&route)
                .inc_by(u64::from(rec.retries));
        }
        if let Some(kind) = rec.upstream_error {
            self.upstream_error(&route, kind);
        }
        // Counted last: a scrape that sees the request counted sees all of its other series
        // too (a reader waiting on the request count never reads a half-recorded request).
        self.requests
            .with_label_values(&[
                class,
                namespace,
                ingress,
                service,
                method_label(rec.method),
                status,
            ])
            .inc();
    }

    fn upstream_error(&self, route: &[&str; 4], kind: UpstreamErrorKind) {
        let [class, namespace, ingress, service] = *route;
        self.upstream_errors
            .with_label_values(&[class, namespace, ingress, service, kind.as_label()])
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
