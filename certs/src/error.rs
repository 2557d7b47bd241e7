//! Errors from parsing and building certificates.

/// Why a certificate/key pair could not be loaded or built.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The chain PEM held no `CERTIFICATE` block.
    #[error("no certificate found in the PEM chain (expected at least one CERTIFICATE block)")]
    NoCertificate,
    /// The chain PEM was malformed.
    #[error("cannot read the certificate PEM: {0}")]
    CertificatePem(String),
    /// The key PEM held no private key in a supported encoding.
    #[error("no private key found in the key PEM (expected PKCS#8, PKCS#1 RSA or SEC1 EC): {0}")]
    NoKey(String),
    /// The key was found but the crypto provider rejected it.
    #[error("unsupported or corrupt private key: {0}")]
    BadKey(String),
    /// The private key does not belong to the leaf certificate.
    #[error(
        "the private key does not match the leaf certificate (first certificate in the chain)"
    )]
    KeyMismatch,
    /// The leaf certificate could not be parsed as X.509.
    #[error("cannot parse the leaf certificate: {0}")]
    BadCertificate(String),
    /// rcgen failed to generate a key or certificate.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

impl CertError {
    /// Short stable label for failure counters.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::NoCertificate => "no_certificate",
            Self::CertificatePem(_) => "certificate_pem",
            Self::NoKey(_) => "no_key",
            Self::BadKey(_) => "bad_key",
            Self::KeyMismatch => "key_mismatch",
            Self::BadCertificate(_) => "bad_certificate",
            Self::Generate(_) => "generate",
        }
    }
}
