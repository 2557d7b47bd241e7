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
    /// The issued certificate could not be stored (the sink's message says where).
    #[error("{0}")]
    Store(String),
}

/// What kind of failure an [`AcmeError`] is: a bounded, `Copy` value to decide on (retry,
/// count as invalid) and to label metrics with, instead of matching message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AcmeErrorKind {
    /// See [`AcmeError::Directory`].
    Directory,
    /// See [`AcmeError::Roots`].
    Roots,
    /// See [`AcmeError::AccountStore`].
    AccountStore,
    /// See [`AcmeError::NoNames`].
    NoNames,
    /// See [`AcmeError::Protocol`].
    Protocol,
    /// See [`AcmeError::NoHttp01`].
    NoHttp01,
    /// See [`AcmeError::ChallengePublish`].
    ChallengePublish,
    /// See [`AcmeError::Authorization`].
    Authorization,
    /// See [`AcmeError::ValidationFailed`].
    ValidationFailed,
    /// See [`AcmeError::Timeout`].
    Timeout,
    /// See [`AcmeError::Csr`].
    Csr,
    /// See [`AcmeError::Issued`].
    IssuedCertificate,
    /// See [`AcmeError::Store`].
    Store,
}

impl AcmeErrorKind {
    /// Short stable label for failure counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Directory => "directory",
            Self::Roots => "roots",
            Self::AccountStore => "account_store",
            Self::NoNames => "no_names",
            Self::Protocol => "protocol",
            Self::NoHttp01 => "no_http01",
            Self::ChallengePublish => "challenge_publish",
            Self::Authorization => "authorization",
            Self::ValidationFailed => "validation_failed",
            Self::Timeout => "timeout",
            Self::Csr => "csr",
            Self::IssuedCertificate => "issued_certificate",
            Self::Store => "store",
        }
    }

    /// True when the CA refused the order (the answer or an authorization was invalid), as
    /// opposed to an error on the way (network, storage, configuration).
    pub fn is_invalid_order(self) -> bool {
        matches!(self, Self::ValidationFailed | Self::Authorization)
    }
}

impl std::fmt::Display for AcmeErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AcmeError {
    /// What kind of failure this is.
    pub fn kind(&self) -> AcmeErrorKind {
        match self {
            Self::Directory { .. } => AcmeErrorKind::Directory,
            Self::Roots { .. } => AcmeErrorKind::Roots,
            Self::AccountStore(_) => AcmeErrorKind::AccountStore,
            Self::NoNames => AcmeErrorKind::NoNames,
            Self::Protocol { .. } => AcmeErrorKind::Protocol,
            Self::NoHttp01 { .. } => AcmeErrorKind::NoHttp01,
            Self::ChallengePublish { .. } => AcmeErrorKind::ChallengePublish,
            Self::Authorization { .. } => AcmeErrorKind::Authorization,
            Self::ValidationFailed { .. } => AcmeErrorKind::ValidationFailed,
            Self::Timeout { .. } => AcmeErrorKind::Timeout,
            Self::Csr(_) => AcmeErrorKind::Csr,
            Self::Issued(_) => AcmeErrorKind::IssuedCertificate,
            Self::Store(_) => AcmeErrorKind::Store,
        }
    }

    /// Short stable label for failure counters (`self.kind().as_str()`).
    pub fn metric_label(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Wrap a client error with the step it happened in.
    pub(crate) fn step(step: &'static str) -> impl FnOnce(instant_acme::Error) -> Self {
        move |source| Self::Protocol { step, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_their_metric_labels_and_say_which_orders_were_refused() {
        let refused = AcmeError::ValidationFailed {
            names: "a.example".into(),
            detail: "connection refused".into(),
        };
        assert_eq!(refused.kind(), AcmeErrorKind::ValidationFailed);
        assert_eq!(refused.metric_label(), "validation_failed");
        assert!(refused.kind().is_invalid_order());
        let authz = AcmeError::Authorization {
            name: "a.example".into(),
            status: "invalid".into(),
        };
        assert_eq!(authz.metric_label(), "authorization");
        assert!(authz.kind().is_invalid_order());
        let store = AcmeError::Store("writing Secret ns/a: forbidden".into());
        assert_eq!(store.metric_label(), "store");
        assert_eq!(store.to_string(), "writing Secret ns/a: forbidden");
        assert!(!store.kind().is_invalid_order());
        assert!(!AcmeError::NoNames.kind().is_invalid_order());
    }
}
