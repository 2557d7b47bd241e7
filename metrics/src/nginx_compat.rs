//! ingress-nginx-compatible series (`nginx_ingress_controller_*`), same names and label sets as
//! ingress-nginx's collectors, so its community Grafana dashboards work unchanged.
//!
//! Mapping: a "reload" is a route-table swap; the nginx process is this process; `path` is the
//! Ingress rule's path and `host` the rule's host; unmatched requests get empty
//! namespace/ingress/service like ingress-nginx's default server.

use std::collections::HashMap;

use prometheus::{CounterVec, GaugeVec, HistogramVec, IntCounterVec, Registry};

use crate::error::Result;
use crate::gauge_set::GaugeSet;
use crate::labels::{method_label, status_label};
use crate::options::{CertExpiry, MetricsOptions};
use crate::process_stats::ProcessStats;
use crate::record::RequestRecord;
use crate::registrar::Registrar;

/// ingress-nginx's default time buckets (Prometheus client DefBuckets).
const TIME_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// ingress-nginx's request length buckets (linear 10..100).
const LENGTH_BUCKETS: &[f64] = &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];
/// ingress-nginx's size buckets (exponential 10..10^7); used for responses, which are larger.
const SIZE_BUCKETS: &[f64] = &[10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7];

/// ingress-nginx's request tags plus `host` (its default --metrics-per-host) and the class,
/// which is a constant label there (one class per controller) but varies per instance here.
const REQUEST_LABELS: &[&str] = &[
    "controller_class",
    "status",
    "method",
    "path",
    "namespace",
    "ingress",
    "service",
    "canary",
    "host",
];

/// Per-request histograms sharing [`REQUEST_LABELS`].
struct RequestHistograms {
    request_duration: HistogramVec,
    response_duration: HistogramVec,
    connect_duration: HistogramVec,
    header_duration: HistogramVec,
    request_size: HistogramVec,
    response_size: HistogramVec,
}

/// The ingress-nginx-compatible series.
pub(crate) struct NginxCompat {
    controller_namespace: String,
    requests: IntCounterVec,
    histograms: RequestHistograms,
    config_hash: GaugeVec,
    reload_ok: GaugeVec,
    reload_ok_time: GaugeVec,
    reload_success: IntCounterVec,
    ssl_expire: GaugeSet,
    connections: GaugeVec,
    connections_total: IntCounterVec,
    requests_total: IntCounterVec,
    process_cpu: CounterVec,
    process_gauges: HashMap<&'static str, GaugeVec>,
    process_io: HashMap<&'static str, CounterVec>,
}

/// `nginx_process` gauges and where their value comes from.
const PROCESS_GAUGES: &[(&str, &str)] = &[
    (
        "nginx_ingress_controller_nginx_process_resident_memory_bytes",
        "number of bytes of memory in use",
    ),
    (
        "nginx_ingress_controller_nginx_process_virtual_memory_bytes",
        "number of bytes of memory in use",
    ),
    (
        "nginx_ingress_controller_nginx_process_oldest_start_time_seconds",
        "start time in seconds since 1970/01/01",
    ),
    (
        "nginx_ingress_controller_nginx_process_num_procs",
        "number of processes",
    ),
];

const PROCESS_IO: &[(&str, &str)] = &[
    (
        "nginx_ingress_controller_nginx_process_read_bytes_total",
        "number of bytes read",
    ),
    (
        "nginx_ingress_controller_nginx_process_write_bytes_total",
        "number of bytes written",
    ),
];

impl NginxCompat {
    pub(crate) fn register(registry: &Registry, opts: &MetricsOptions) -> Result<Self> {
        let const_labels = HashMap::from([
            (
                "controller_namespace".to_owned(),
                opts.controller_namespace.clone(),
            ),
            ("controller_pod".to_owned(), opts.controller_pod.clone()),
        ]);
        let r = Registrar::new(registry, const_labels);
        let class = &["controller_class"];
        let hist = |name, help, buckets| r.histogram_vec(name, help, REQUEST_LABELS, buckets);
        let histograms = RequestHistograms {
            request_duration: hist(
                "nginx_ingress_controller_request_duration_seconds",
                "The request processing time in seconds",
                TIME_BUCKETS,
            )?,
            response_duration: hist(
                "nginx_ingress_controller_response_duration_seconds",
                "The time spent on receiving the response from the upstream server",
                TIME_BUCKETS,
            )?,
            connect_duration: hist(
                "nginx_ingress_controller_connect_duration_seconds",
                "The time spent on establishing a connection with the upstream server",
                TIME_BUCKETS,
            )?,
            header_duration: hist(
                "nginx_ingress_controller_header_duration_seconds",
                "The time spent on receiving first header from the upstream server",
                TIME_BUCKETS,
            )?,
            request_size: hist(
                "nginx_ingress_controller_request_size",
                "The request length (including request line, header, and request body)",
                LENGTH_BUCKETS,
            )?,
            response_size: hist(
                "nginx_ingress_controller_response_size",
                "The response length (including request line, header, and request body)",
                SIZE_BUCKETS,
            )?,
        };
        let mut process_gauges = HashMap::new();
        for (name, help) in PROCESS_GAUGES {
            process_gauges.insert(*name, r.gauge_vec(name, help, class)?);
        }
        let mut process_io = HashMap::new();
        for (name, help) in PROCESS_IO {
            process_io.insert(*name, r.counter_vec(name, help, class)?);
        }
        // ssl_expire_time_seconds has no constant labels in ingress-nginx; `namespace` is the
        // controller's. `ingress` and `secret_name` are additions the dashboards filter on.
        let unlabelled = Registrar::new(registry, HashMap::new());
        let m = Self {
            controller_namespace: opts.controller_namespace.clone(),
            requests: r.int_counter_vec(
                "nginx_ingress_controller_requests",
                "The total number of client requests",
                REQUEST_LABELS,
            )?,
            histograms,
            config_hash: r.gauge_vec(
                "nginx_ingress_controller_config_hash",
                "Running configuration hash actually running",
                class,
            )?,
            reload_ok: r.gauge_vec(
                "nginx_ingress_controller_config_last_reload_successful",
                "Whether the last configuration reload attempt was successful",
                class,
            )?,
            reload_ok_time: r.gauge_vec(
                "nginx_ingress_controller_config_last_reload_successful_timestamp_seconds",
                "Timestamp of the last successful configuration reload.",
                class,
            )?,
            reload_success: r.int_counter_vec(
                "nginx_ingress_controller_success",
                "Cumulative number of Ingress controller reload operations",
                class,
            )?,
            ssl_expire: GaugeSet::new(unlabelled.gauge_vec(
                "nginx_ingress_controller_ssl_expire_time_seconds",
                "Number of seconds since 1970 to the SSL Certificate expire.",
                &["namespace", "class", "host", "ingress", "secret_name"],
            )?),
            connections: r.gauge_vec(
                "nginx_ingress_controller_nginx_process_connections",
                "current number of client connections with state {active, reading, writing, waiting}",
                &["controller_class", "state"],
            )?,
            connections_total: r.int_counter_vec(
                "nginx_ingress_controller_nginx_process_connections_total",
                "total number of connections with state {accepted, handled}",
                &["controller_class", "state"],
            )?,
            requests_total: r.int_counter_vec(
                "nginx_ingress_controller_nginx_process_requests_total",
                "total number of client requests",
                class,
            )?,
            process_cpu: r.counter_vec(
                "nginx_ingress_controller_nginx_process_cpu_seconds_total",
                "Cpu usage in seconds",
                class,
            )?,
            process_gauges,
            process_io,
        };
        let errors = r.int_counter_vec(
            "nginx_ingress_controller_errors",
            "Cumulative number of Ingress controller errors during reload operations",
            class,
        )?;
        for class in &opts.classes {
            // Reload errors cannot happen (translation never fails as a whole): a constant 0.
            errors.with_label_values(&[class]);
            // Like ingress-nginx's plain gauges, these exist (at 0) before the first "reload".
            m.config_hash.with_label_values(&[class]);
            m.reload_ok.with_label_values(&[class]);
            m.reload_ok_time.with_label_values(&[class]);
            m.reload_success.with_label_values(&[class]);
            m.requests_total.with_label_values(&[class]);
            for state in ["accepted", "handled"] {
                m.connections_total.with_label_values(&[class, state]);
            }
        }
        Ok(m)
    }

    pub(crate) fn observe(&self, rec: &RequestRecord<'_>) {
        let mut status_buf = [0u8; 3];
        let labels = [
            rec.class,
            status_label(rec.status, &mut status_buf),
            method_label(rec.method),
            rec.rule_path,
            rec.namespace,
            rec.ingress,
            rec.service,
            "",
            rec.rule_host,
        ];
        self.requests.with_label_values(&labels).inc();
        self.requests_total.with_label_values(&[rec.class]).inc();
        let h = &self.histograms;
        h.request_duration
            .with_label_values(&labels)
            .observe(rec.duration.as_secs_f64());
        // nginx's upstream_response_time runs to the upstream's last byte; Pingora streams the
        // body to the client as it arrives, so the whole request time is the closest figure.
        if rec.upstream_addr.is_some() || rec.upstream_header.is_some() {
            h.response_duration
                .with_label_values(&labels)
                .observe(rec.duration.as_secs_f64());
        }
        if let Some(connect) = rec.upstream_connect {
            h.connect_duration
                .with_label_values(&labels)
                .observe(connect.as_secs_f64());
        }
        if let Some(header) = rec.upstream_header {
            h.header_duration
                .with_label_values(&labels)
                .observe(header.as_secs_f64());
        }
        h.request_size
            .with_label_values(&labels)
            .observe(rec.request_bytes as f64);
        h.response_size
            .with_label_values(&labels)
            .observe(rec.response_bytes as f64);
    }

    pub(crate) fn connection_opened(&self, class: &str) {
        for state in ["accepted", "handled"] {
            self.connections_total
                .with_label_values(&[class, state])
                .inc();
        }
    }

    pub(crate) fn table_swapped(&self, class: &str, generation: u64, now_unix: f64) {
        // The generation identifies the running configuration just as nginx's hash does.
        self.config_hash
            .with_label_values(&[class])
            .set(generation as f64);
        self.reload_ok.with_label_values(&[class]).set(1.0);
        self.reload_ok_time
            .with_label_values(&[class])
            .set(now_unix);
        self.reload_success.with_label_values(&[class]).inc();
    }

    pub(crate) fn set_cert_expiry(&self, class: &str, certs: &[CertExpiry<'_>]) {
        let ns = self.controller_namespace.as_str();
        let rows = certs.iter().map(|c| {
            let secret_name = c.secret.rsplit('/').next().unwrap_or(c.secret);
            (
                vec![ns, class, c.host, c.ingress, secret_name],
                c.not_after_unix as f64,
            )
        });
        self.ssl_expire.replace(class, rows);
    }

    /// Refreshes connection states from the native gauges: nginx's "writing" is a request in
    /// progress, "waiting" an idle keep-alive connection; header reading is not observable.
    pub(crate) fn set_connections(&self, class: &str, open: i64, in_flight: i64) {
        let open = open.max(0);
        let writing = in_flight.clamp(0, open);
        let states = [
            ("active", open),
            ("reading", 0),
            ("writing", writing),
            ("waiting", open - writing),
        ];
        for (state, n) in states {
            self.connections
                .with_label_values(&[class, state])
                .set(n as f64);
        }
    }

    pub(crate) fn set_process(&self, class: &str, stats: &ProcessStats) {
        bump_counter(&self.process_cpu, class, stats.cpu_seconds);
        let gauges = [
            (PROCESS_GAUGES[0].0, stats.resident_bytes as f64),
            (PROCESS_GAUGES[1].0, stats.virtual_bytes as f64),
            (PROCESS_GAUGES[2].0, stats.start_time_unix),
            (PROCESS_GAUGES[3].0, 1.0),
        ];
        for (name, value) in gauges {
            if let Some(g) = self.process_gauges.get(name) {
                g.with_label_values(&[class]).set(value);
            }
        }
        let io = [
            (PROCESS_IO[0].0, stats.read_bytes),
            (PROCESS_IO[1].0, stats.write_bytes),
        ];
        for (name, value) in io {
            if let (Some(c), Some(v)) = (self.process_io.get(name), value) {
                bump_counter(c, class, v as f64);
            }
        }
    }
}

/// Raises a counter to an absolute total read from the OS (never down).
fn bump_counter(vec: &CounterVec, class: &str, total: f64) {
    let c = vec.with_label_values(&[class]);
    let delta = total - c.get();
    if delta > 0.0 {
        c.inc_by(delta);
    }
}
