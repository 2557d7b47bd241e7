//! Errors from ACME issuance.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::CertError;

/// Why an ACME operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The directory setting is neither a known name nor an https URL.
    #[error("invalid ACME directory {url:?}: {reason} (use `letsencrypt`, `letsencrypt-staging` or an https:// URL)")]
    Directory {
        /// The configured value.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The extra CA roots file could not be used.
    #[error("cannot use ACME CA roots from {path}: {reason}")]
    Roots {
        /// The configured file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Loading or saving the account credentials failed.
    #[error("ACME account store: {0}")]
    AccountStore(String),
    /// `issue` was called without names.
    #[error("no names to issue a certificate for")]
    NoNames,
    /// A protocol step failed (network, TLS, or a problem document from the server).
    #[error("ACME {step} failed: {source}")]
    Protocol {
        /// Which step: `create account`, `new order`, `finalize`, ...
        step: &'static str,
        /// The client's error.
        #[source]
        source: instant_acme::Error,
    },
    /// The server offered no HTTP-01 challenge for a name.
    #[error("the ACME server offered no HTTP-01 challenge for {name} (wildcard names need DNS-01, which gatehouse does not do)")]
    NoHttp01 {
        /// The identifier.
        name: String,
    },
    /// The HTTP-01 answer could not be shared with the other replicas.
    #[error("could not publish the HTTP-01 answer to the other replicas: {detail} (does RBAC allow patching the challenge ConfigMap?)")]
    ChallengePublish {
        /// Why.
        detail: String,
    },
    /// An authorization is in a state we cannot complete.
    #[error("ACME authorization for {name} is {status}")]
    Authorization {
        /// The identifier.
        name: String,
        /// Its status.
        status: String,
    },
    /// The CA could not validate the HTTP-01 answer.
    #[error("ACME validation failed for {names}: {detail}; check that http://<name>/.well-known/acme-challenge/ reaches gatehouse on port 80")]
    ValidationFailed {
        /// The names in the order.
        names: String,
        /// The CA's explanation.
        detail: String,
    },
    /// Polling gave up.
    #[error("timed out after {waited:?} waiting for the ACME {step}")]
    Timeout {
        /// What we were waiting for.
        step: &'static str,
        /// How long we waited.
        waited: Duration,
    },
    /// Making the certificate key or CSR failed.
    #[error("cannot make the certificate key or CSR: {0}")]
    Csr(#[from] rcgen::Error),
    /// The certificate the CA returned cannot be served.
    #[error("the issued certificate is unusable: {0}")]
    Issued(#[from] CertError),
}

impl AcmeError {
    /// Short stable label for failure counters.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Directory { .. } => "directory",
            Self::Roots { .. } => "roots",
            Self::AccountStore(_) => "account_store",
            Self::NoNames => "no_names",
            Self::Protocol { .. } => "protocol",
            Self::NoHttp01 { .. } => "no_http01",
            Self::ChallengePublish { .. } => "challenge_publish",
            Self::Authorization { .. } => "authorization",
            Self::ValidationFailed { .. } => "validation_failed",
            Self::Timeout { .. } => "timeout",
            Self::Csr(_) => "csr",
            Self::Issued(_) => "issued_certificate",
        }
    }

    /// Wrap a client error with the step it happened in.
    pub(crate) fn step(step: &'static str) -> impl FnOnce(instant_acme::Error) -> Self {
        move |source| Self::Protocol { step, source }
    }
}
