//! Errors at the crate boundary.

/// Errors from building or encoding the metrics registry.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A metric could not be created or registered (bad name, duplicate, label mismatch).
    #[error("registering metric {name}: {source}")]
    Register {
        /// The metric's full name.
        name: String,
        /// What prometheus reported.
        #[source]
        source: prometheus::Error,
    },
    /// The registry could not be rendered in the text format.
    #[error("encoding metrics in the Prometheus text format: {0}")]
    Encode(#[source] prometheus::Error),
}

/// Result alias for this crate.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;
