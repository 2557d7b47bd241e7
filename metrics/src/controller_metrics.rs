//! Native controller-side series: route-table swaps, translation warnings, snapshot sizes,
//! ready endpoints, certificates, ACME, build info and process figures.

use std::time::Duration;

use prometheus::{Counter, Gauge, GaugeVec, HistogramVec, IntCounterVec, IntGaugeVec};

use crate::build_info::{BUILD_REVISION, BUILD_VERSION};
use crate::error::Result;
use crate::gauge_set::GaugeSet;
use crate::gauge_table::GaugeTable;
use crate::options::{AcmeOrderResult, CertExpiry, ReadyEndpoints};
use crate::process_stats::ProcessStats;
use crate::registrar::Registrar;

/// Translation is pure and in-memory: expect 100 µs .. a few seconds for huge clusters.
const TRANSLATE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The native controller-side series.
pub(crate) struct ControllerMetrics {
    generation: IntGaugeVec,
    last_swap: GaugeVec,
    translate: HistogramVec,
    swaps: IntCounterVec,
    warnings: GaugeSet,
    objects: GaugeSet,
    ready_endpoints: GaugeTable,
    cert_not_after: GaugeSet,
    acme_orders: IntCounterVec,
    next_renewal: GaugeSet,
    process: ProcessSeries,
}

/// The standard `process_*` series every Prometheus client exports.
struct ProcessSeries {
    cpu: Counter,
    resident: Gauge,
    virtual_bytes: Gauge,
    start_time: Gauge,
    threads: Gauge,
}

impl ControllerMetrics {
    pub(crate) fn register(r: &Registrar<'_>, classes: &[String]) -> Result<Self> {
        let m = Self {
            generation: r.int_gauge_vec(
                "gatehouse_route_table_generation",
                "Generation of the route table currently served.",
                &["class"],
            )?,
            last_swap: r.gauge_vec(
                "gatehouse_route_table_last_swap_timestamp_seconds",
                "Unix time the route table was last swapped in.",
                &["class"],
            )?,
            translate: r.histogram_vec(
                "gatehouse_route_table_translate_duration_seconds",
                "Time to translate the snapshot into a route table.",
                &["class"],
                TRANSLATE_BUCKETS,
            )?,
            swaps: r.int_counter_vec(
                "gatehouse_route_table_swaps_total",
                "Route tables swapped in.",
                &["class"],
            )?,
            warnings: GaugeSet::new(r.gauge_vec(
                "gatehouse_translate_warnings",
                "Translation warnings in the current route table, by kind.",
                &["class", "kind"],
            )?),
            objects: GaugeSet::new(r.gauge_vec(
                "gatehouse_snapshot_objects",
                "Objects in the current source snapshot, by kind.",
                &["kind"],
            )?),
            ready_endpoints: r.gauge_table(
                "gatehouse_service_ready_endpoints",
                "Ready endpoints per backend Service.",
                &["namespace", "service"],
            )?,
            cert_not_after: GaugeSet::new(r.gauge_vec(
                "gatehouse_certificate_not_after_timestamp_seconds",
                "Unix time a serving certificate expires, per host.",
                &["class", "host", "secret"],
            )?),
            acme_orders: r.int_counter_vec(
                "gatehouse_acme_orders_total",
                "ACME orders finished, by result.",
                &["result"],
            )?,
            next_renewal: GaugeSet::new(r.gauge_vec(
                "gatehouse_certificate_next_renewal_timestamp_seconds",
                "Unix time the next ACME renewal of a host is due.",
                &["host"],
            )?),
            process: ProcessSeries {
                cpu: r.counter(
                    "process_cpu_seconds_total",
                    "Total user and system CPU time spent in seconds.",
                )?,
                resident: r.gauge(
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes.",
                )?,
                virtual_bytes: r.gauge(
                    "process_virtual_memory_bytes",
                    "Virtual memory size in bytes.",
                )?,
                start_time: r.gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                )?,
                threads: r.gauge("process_threads", "Number of OS threads in the process.")?,
            },
        };
        r.gauge_vec(
            "gatehouse_build_info",
            "Build of the running binary; always 1.",
            &["version", "revision"],
        )?
        .with_label_values(&[BUILD_VERSION, BUILD_REVISION])
        .set(1.0);
        for class in classes {
            m.generation.with_label_values(&[class]);
            m.swaps.with_label_values(&[class]);
        }
        for result in AcmeOrderResult::ALL {
            m.acme_orders.with_label_values(&[result.as_label()]);
        }
        Ok(m)
    }

    pub(crate) fn table_swapped(
        &self,
        class: &str,
        generation: u64,
        translate: Duration,
        now_unix: f64,
    ) {
        let generation = i64::try_from(generation).unwrap_or(i64::MAX);
        self.generation.with_label_values(&[class]).set(generation);
        self.last_swap.with_label_values(&[class]).set(now_unix);
        self.translate
            .with_label_values(&[class])
            .observe(translate.as_secs_f64());
        self.swaps.with_label_values(&[class]).inc();
    }

    pub(crate) fn set_warnings(&self, class: &str, counts: &[(&str, u64)]) {
        let rows = counts
            .iter()
            .map(|(kind, n)| (vec![class, *kind], *n as f64));
        self.warnings.replace(class, rows);
    }

    pub(crate) fn set_objects(&self, counts: &[(&str, u64)]) {
        let rows = counts.iter().map(|(kind, n)| (vec![*kind], *n as f64));
        self.objects.replace("", rows);
    }

    pub(crate) fn set_ready_endpoints(&self, services: &[ReadyEndpoints<'_>]) {
        let rows = services
            .iter()
            .map(|s| (vec![s.namespace, s.service], s.ready as f64));
        self.ready_endpoints.replace(rows);
    }

    pub(crate) fn set_cert_expiry(&self, class: &str, certs: &[CertExpiry<'_>]) {
        let rows = certs
            .iter()
            .map(|c| (vec![class, c.host, c.secret], c.not_after_unix as f64));
        self.cert_not_after.replace(class, rows);
    }

    pub(crate) fn acme_order(&self, result: AcmeOrderResult) {
        self.acme_orders
            .with_label_values(&[result.as_label()])
            .inc();
    }

    pub(crate) fn set_next_renewal(&self, host: &str, unix: Option<i64>) {
        match unix {
            Some(t) => self.next_renewal.set_one("", &[host], t as f64),
            None => self.next_renewal.remove_one("", &[host]),
        }
    }

    /// Copies process figures into the standard `process_*` series (caller serialises).
    pub(crate) fn set_process(&self, stats: &ProcessStats) {
        let p = &self.process;
        let delta = stats.cpu_seconds - p.cpu.get();
        if delta > 0.0 {
            p.cpu.inc_by(delta);
        }
        p.resident.set(stats.resident_bytes as f64);
        p.virtual_bytes.set(stats.virtual_bytes as f64);
        p.start_time.set(stats.start_time_unix);
        p.threads.set(stats.threads as f64);
    }
}
