//! Creates metric vectors and registers them, naming the metric in any error.

use std::collections::HashMap;

use prometheus::core::{Collector, Desc};
use prometheus::{
    Counter, CounterVec, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec,
    Opts, Registry,
};

use crate::error::{MetricsError, Result};
use crate::gauge_table::GaugeTable;

/// Registers metrics into one registry, all with the same constant labels.
pub(crate) struct Registrar<'r> {
    registry: &'r Registry,
    const_labels: HashMap<String, String>,
}

impl<'r> Registrar<'r> {
    pub(crate) fn new(registry: &'r Registry, const_labels: HashMap<String, String>) -> Self {
        Self {
            registry,
            const_labels,
        }
    }

    fn opts(&self, name: &str, help: &str) -> Opts {
        Opts::new(name, help).const_labels(self.const_labels.clone())
    }

    fn register<C: Collector + Clone + 'static>(
        &self,
        name: &str,
        made: prometheus::Result<C>,
    ) -> Result<C> {
        let wrap = |source| MetricsError::Register {
            name: name.to_owned(),
            source,
        };
        let collector = made.map_err(wrap)?;
        self.registry
            .register(Box::new(collector.clone()))
            .map_err(wrap)?;
        Ok(collector)
    }

    pub(crate) fn int_counter_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntCounterVec> {
        self.register(name, IntCounterVec::new(self.opts(name, help), labels))
    }

    pub(crate) fn counter_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<CounterVec> {
        self.register(name, CounterVec::new(self.opts(name, help), labels))
    }

    pub(crate) fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec> {
        self.register(name, GaugeVec::new(self.opts(name, help), labels))
    }

    pub(crate) fn int_gauge_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntGaugeVec> {
        self.register(name, IntGaugeVec::new(self.opts(name, help), labels))
    }

    pub(crate) fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<HistogramVec> {
        let opts = HistogramOpts::new(name, help)
            .const_labels(self.const_labels.clone())
            .buckets(buckets.to_vec());
        self.register(name, HistogramVec::new(opts, labels))
    }

    pub(crate) fn gauge_table(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<GaugeTable> {
        let labels = labels.iter().map(|l| l.to_string()).collect();
        let desc = Desc::new(name.into(), help.into(), labels, self.const_labels.clone());
        self.register(name, desc.map(GaugeTable::new))
    }

    pub(crate) fn gauge(&self, name: &str, help: &str) -> Result<Gauge> {
        self.register(name, Gauge::with_opts(self.opts(name, help)))
    }

    pub(crate) fn counter(&self, name: &str, help: &str) -> Result<Counter> {
        self.register(name, Counter::with_opts(self.opts(name, help)))
    }
}
