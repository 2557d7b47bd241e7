//! The controller's outputs connected to the proxy: published tables and certificates go into
//! the instances, and the last publish report's warnings to the status page. The two crates
//! never depend on each other; this is the one place that joins them.

use std::sync::Arc;

use arc_swap::ArcSwap;
use gatehouse_certs::CertSet;
use gatehouse_controller::publish::{PublishReport, TableSink};
use gatehouse_proxy::admin::status_view::WarningView;
use gatehouse_proxy::admin::WarningSource;
use gatehouse_proxy::routes::RouteTable;
use gatehouse_proxy::InstanceSet;

/// The proxy's instances as the controller's [`TableSink`].
pub(crate) struct Instances(pub(crate) Arc<InstanceSet>);

impl TableSink for Instances {
    fn publish(&self, class: &str, table: RouteTable, certs: CertSet) -> Option<u64> {
        let instance = self.0.get(class)?;
        // Certificates first: a host that just got TLS has its certificate before its redirect.
        instance.publish_certs(certs);
        Some(instance.publish(table))
    }
}

/// The status page's [`WarningSource`] over the controller's last publish report.
pub(crate) struct ReportWarnings(pub(crate) Arc<ArcSwap<PublishReport>>);

impl WarningSource for ReportWarnings {
    fn warnings(&self, class: &str) -> Vec<WarningView> {
        let report = self.0.load();
        report
            .by_class
            .get(class)
            .map(|list| {
                list.iter()
                    .map(|w| WarningView {
                        object: w.object.to_string(),
                        kind: w.kind.as_str().to_string(),
                        message: w.message.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
