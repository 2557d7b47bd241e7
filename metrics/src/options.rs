//! Inputs to [`crate::Metrics`]: construction options and the controller-side bulk values.

/// How to build [`crate::Metrics`].
#[derive(Debug, Clone, Default)]
pub struct MetricsOptions {
    /// Also export ingress-nginx's metric names and labels (`nginx_ingress_controller_*`).
    pub compat_nginx: bool,
    /// Namespace the controller runs in (ingress-nginx's `controller_namespace` label).
    pub controller_namespace: String,
    /// Pod name of this replica (ingress-nginx's `controller_pod` label).
    pub controller_pod: String,
    /// Instances (ingress classes) served; their per-instance series exist from the start.
    pub classes: Vec<String>,
}

/// One serving certificate's expiry, for [`crate::Metrics::set_cert_expiry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertExpiry<'a> {
    /// The host (SNI name) the certificate serves.
    pub host: &'a str,
    /// The certificate's notAfter as Unix seconds.
    pub not_after_unix: i64,
    /// Where it came from, `namespace/name` of the Secret ("" for the default certificate).
    pub secret: &'a str,
    /// Name of the Ingress whose TLS section names this host ("" when none).
    pub ingress: &'a str,
}

/// Ready endpoint count of one Service, for [`crate::Metrics::set_ready_endpoints`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyEndpoints<'a> {
    /// Service namespace.
    pub namespace: &'a str,
    /// Service name.
    pub service: &'a str,
    /// Number of ready endpoints.
    pub ready: u64,
}

/// How an ACME order ended, for `gatehouse_acme_orders_total{result=...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcmeOrderResult {
    /// A certificate was issued and stored.
    Issued,
    /// The ACME server declared the order or a challenge invalid.
    Invalid,
    /// The order could not be completed (network, rate limit, storage error, ...).
    Error,
}

impl AcmeOrderResult {
    /// Every result, for pre-registering series.
    pub const ALL: [AcmeOrderResult; 3] = [
        AcmeOrderResult::Issued,
        AcmeOrderResult::Invalid,
        AcmeOrderResult::Error,
    ];

    /// The label value.
    pub fn as_label(self) -> &'static str {
        match self {
            AcmeOrderResult::Issued => "issued",
            AcmeOrderResult::Invalid => "invalid",
            AcmeOrderResult::Error => "error",
        }
    }
}
