//! ACME Renewal Info (RFC 9773): the CA's suggested renewal window for a certificate.

use instant_acme::{Account, CertificateIdentifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, Der};
use x509_parser::extensions::ParsedExtension;

use super::error::AcmeError;
use crate::error::CertError;

/// The CA's suggested renewal window (ACME Renewal Info), unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenewalWindow {
    /// Earliest suggested renewal time.
    pub start: i64,
    /// Latest suggested renewal time.
    pub end: i64,
}

/// The window for the leaf of `chain_pem`, or `None` when the server does not offer ARI.
pub(crate) async fn window(
    account: &Account,
    chain_pem: &[u8],
) -> Result<Option<RenewalWindow>, AcmeError> {
    let leaf = CertificateDer::pem_slice_iter(chain_pem)
        .next()
        .ok_or(CertError::NoCertificate)?
        .map_err(|e| CertError::CertificatePem(e.to_string()))?;
    let id = certificate_identifier(&leaf)?;
    match account.renewal_info(&id).await {
        Ok((info, _retry_after)) => Ok(Some(RenewalWindow {
            start: info.suggested_window.start.unix_timestamp(),
            end: info.suggested_window.end.unix_timestamp(),
        })),
        Err(instant_acme::Error::Unsupported(_)) => Ok(None),
        Err(e) => Err(AcmeError::step("renewal info")(e)),
    }
}

/// The ARI identifier of a certificate: its authority key id and serial.
fn certificate_identifier(
    leaf: &CertificateDer<'_>,
) -> Result<CertificateIdentifier<'static>, CertError> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| CertError::BadCertificate(e.to_string()))?;
    let aki = cert
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref(),
            _ => None,
        })
        .ok_or_else(|| {
            CertError::BadCertificate("no authority key identifier extension".to_owned())
        })?;
    Ok(CertificateIdentifier::new(
        Der::from_slice(aki.0),
        Der::from_slice(cert.tbs_certificate.raw_serial()),
    )
    .into_owned())
}
