//! Parsing a `kubernetes.io/tls` Secret's `tls.crt` / `tls.key` pair into a rustls key.

use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;

use crate::error::CertError;

/// A certificate chain with its key, ready to serve, plus what status/metrics need to know.
#[derive(Clone, Debug)]
pub struct LoadedCert {
    /// Chain and signing key as rustls serves them.
    pub key: Arc<CertifiedKey>,
    /// DNS names from the leaf's SubjectAltName (lowercase); the subject CN if it has none.
    pub names: Vec<String>,
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity, unix seconds (an expired certificate still loads; callers check this).
    pub not_after: i64,
}

/// Parse a PEM chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1) and check
/// that the key belongs to the leaf.
pub fn parse_tls_pair(chain_pem: &[u8], key_pem: &[u8]) -> Result<LoadedCert, CertError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::CertificatePem(e.to_string()))?;
    let Some(leaf) = chain.first() else {
        return Err(CertError::NoCertificate);
    };
    let facts = leaf_facts(leaf)?;

    let key_der = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => CertError::NoKey("no PRIVATE KEY block".to_owned()),
        other => CertError::NoKey(other.to_string()),
    })?;
    let signing_key = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| CertError::BadKey(e.to_string()))?;

    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // ring reports a public key for every key type it loads, so Unknown does not happen in
        // practice; rustls itself treats it as acceptable.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(CertError::KeyMismatch)
        }
        Err(other) => return Err(CertError::BadCertificate(other.to_string())),
    }

    Ok(LoadedCert {
        key: Arc::new(certified),
        names: facts.names,
        not_before: facts.not_before,
        not_after: facts.not_after,
    })
}

/// What we read from a leaf certificate.
pub(crate) struct LeafFacts {
    pub(crate) names: Vec<String>,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

/// Read the DNS names and validity window of a DER certificate.
pub(crate) fn leaf_facts(der: &CertificateDer<'_>) -> Result<LeafFacts, CertError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| CertError::BadCertificate(e.to_string()))?;
    let mut names = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| CertError::BadCertificate(format!("subjectAltName: {e}")))?;
    if let Some(san) = san {
        for general in &san.value.general_names {
            if let GeneralName::DNSName(dns) = general {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        // Legacy certificates without SANs: the CN is the only name they carry.
        if let Some(cn) = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
        {
            names.push(cn.to_ascii_lowercase());
        }
    }
    let validity = cert.validity();
    Ok(LeafFacts {
        names,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}
