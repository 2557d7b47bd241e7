//! The HTTPS client instant-acme talks to the ACME server with.

use std::path::Path;

use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, HttpClient};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use super::error::AcmeError;

/// Read every certificate in a PEM file as a trust anchor.
pub(crate) fn read_roots(path: &Path) -> Result<RootCertStore, AcmeError> {
    let fail = |reason: String| AcmeError::Roots {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots.add(cert).map_err(|e| fail(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(fail("no CERTIFICATE block in the file".to_owned()));
    }
    Ok(roots)
}

/// An HTTPS-only client trusting exactly `roots` (for private or test ACME servers).
pub(crate) fn client_with_roots(roots: RootCertStore) -> Result<Box<dyn HttpClient>, AcmeError> {
    let config = rustls::ClientConfig::builder_with_provider(crate::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| AcmeError::Roots {
            path: Default::default(),
            reason: format!("TLS configuration: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, BodyWrapper<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    Ok(Box::new(client))
}
