//! A gauge family that is replaced whole and rendered only when scraped, for families with a
//! series per cluster object: prometheus's `GaugeVec` keeps a metric object per series, each
//! with its own copy of the description and label pairs (about 600 B; 5.7 MiB for the ready
//! endpoints of 10k Services), where this keeps the label values and the value.

use std::sync::{Arc, Mutex, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// One series: its label values, in the family's label order, and its value.
type Row = (Box<[Box<str>]>, f64);

/// The family; clones share it.
#[derive(Clone)]
pub(crate) struct GaugeTable {
    desc: Arc<Desc>,
    rows: Arc<Mutex<Arc<Vec<Row>>>>,
}

impl GaugeTable {
    /// An empty family described by `desc`.
    pub(crate) fn new(desc: Desc) -> Self {
        Self {
            desc: Arc::new(desc),
            rows: Arc::default(),
        }
    }

    /// Replaces every series with `rows` (label values, value) at once: a scrape sees the old
    /// set or the new one, never a mix.
    pub(crate) fn replace<'r>(&self, rows: impl IntoIterator<Item = (Vec<&'r str>, f64)>) {
        let rows: Vec<Row> = rows
            .into_iter()
            .map(|(labels, value)| (labels.into_iter().map(Into::into).collect(), value))
            .collect();
        *self.rows.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(rows);
    }

    /// One series as prometheus renders it.
    fn metric(&self, (labels, value): &Row) -> Metric {
        let names = self.desc.variable_labels.iter();
        let mut pairs: Vec<LabelPair> = names
            .zip(labels.iter())
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name(name.clone());
                pair.set_value(value.to_string());
                pair
            })
            .collect();
        pairs.extend(self.desc.const_label_pairs.iter().cloned());
        // As prometheus's own vectors: label pairs sorted by name.
        pairs.sort();
        let mut gauge = Gauge::default();
        gauge.set_value(*value);
        let mut metric = Metric::from_gauge(gauge);
        metric.set_label(pairs);
        metric
    }
}

impl Collector for GaugeTable {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let rows = self
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(MetricType::GAUGE);
        family.set_metric(rows.iter().map(|row| self.metric(row)).collect());
        vec![family]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};

    fn text(registry: &Registry) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .expect("encoding");
        String::from_utf8(out).expect("UTF-8")
    }

    /// Renders as a `GaugeVec` with the same series would, and a replace drops what it
    /// does not list.
    #[test]
    fn renders_as_a_gauge_vec_and_replaces_whole() {
        let const_labels = [("instance".to_string(), "a".to_string())].into();
        let opts = Opts::new("ready", "Ready endpoints.").const_labels(const_labels);
        let labels = ["namespace", "service"];
        let (table, vec) = (Registry::new(), Registry::new());
        let names = labels.iter().map(|l| l.to_string()).collect();
        let desc = Desc::new(
            opts.name.clone(),
            opts.help.clone(),
            names,
            opts.const_labels.clone(),
        )
        .expect("desc");
        let gauges = GaugeTable::new(desc);
        table.register(Box::new(gauges.clone())).expect("register");
        let expected = GaugeVec::new(opts, &labels).expect("vec");
        vec.register(Box::new(expected.clone())).expect("register");

        gauges.replace([(vec!["ns", "web"], 3.0), (vec!["ns", "api"], 0.0)]);
        expected.with_label_values(&["ns", "web"]).set(3.0);
        expected.with_label_values(&["ns", "api"]).set(0.0);
        assert_eq!(text(&table), text(&vec));
        assert!(text(&table).contains("ready{instance=\"a\",namespace=\"ns\",service=\"web\"} 3"));

        gauges.replace([(vec!["ns", "api"], 2.0)]);
        let after = text(&table);
        assert!(after.contains("service=\"api\"} 2"), "{after}");
        assert!(!after.contains("service=\"web\""), "{after}");
    }
}
