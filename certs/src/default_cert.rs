//! The self-signed certificate served when no Secret matches (like other ingress controllers'
//! "fake certificate").

use crate::error::CertError;
use crate::tls_secret::{parse_tls_pair, LoadedCert};

/// How long a generated default certificate is valid.
const VALIDITY: time::Duration = time::Duration::days(365);

/// A fresh self-signed ECDSA P-256 certificate for `common_name` (also its only SAN), valid
/// from a day ago (clock skew) for a year.
pub fn self_signed(common_name: &str) -> Result<LoadedCert, CertError> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(vec![common_name.to_owned()])?;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + VALIDITY;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let cert = params.self_signed(&key)?;
    // Round-trip through the Secret parser so the default follows the same checks.
    parse_tls_pair(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
}
