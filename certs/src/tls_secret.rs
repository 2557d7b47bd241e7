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

/// A client certificate for backends (`proxy-ssl-secret`): the chain (DER, leaf first) and the
/// private key (DER) that belongs to its leaf.
pub type ClientPair = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Parse a PEM chain and key to present to backends: [`parse_tls_pair`]'s checks (the key
/// belongs to the leaf), plus every certificate of the chain parses as X.509 and the key's DER
/// form is one rustls recognises by itself (the proxy hands both over as DER).
pub fn parse_client_pair(chain_pem: &[u8], key_pem: &[u8]) -> Result<ClientPair, CertError> {
    let loaded = parse_tls_pair(chain_pem, key_pem)?;
    let chain: Vec<CertificateDer<'static>> = loaded.key.cert.clone();
    for der in &chain {
        x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| CertError::BadCertificate(e.to_string()))?;
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| CertError::NoKey(e.to_string()))?;
    PrivateKeyDer::try_from(key.secret_der().to_vec())
        .map_err(|e| CertError::BadKey(e.to_string()))?;
    Ok((chain, key))
}

/// Parse a PEM bundle of CA certificates (`ca.crt`) into DER, each checked to parse as X.509
/// and to be usable as a trust anchor. An empty bundle is an error.
pub fn parse_ca_bundle(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::CertificatePem(e.to_string()))?;
    if certs.is_empty() {
        return Err(CertError::NoCertificate);
    }
    let mut store = rustls::RootCertStore::empty();
    for der in &certs {
        x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| CertError::BadCertificate(e.to_string()))?;
        store
            .add(der.clone())
            .map_err(|e| CertError::BadCertificate(e.to_string()))?;
    }
    Ok(certs)
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

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_testkit::tlsgen::{KeyEncoding, KeyKind, LeafSpec, TestCa};

    #[test]
    fn client_pairs_and_ca_bundles() {
        let ca = TestCa::new("Backend CA").expect("ca");
        let other = TestCa::new("Other CA").expect("ca");
        let leaf = ca.leaf(&["client.test"]).expect("leaf");
        let rsa = ca
            .leaf_with(&LeafSpec::new(&["rsa.test"]).key(KeyKind::Rsa2048, KeyEncoding::Pkcs1))
            .expect("rsa leaf");
        let foreign = other.leaf(&["x.test"]).expect("leaf");

        let (chain, _) =
            parse_client_pair(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes()).expect("pair");
        assert_eq!(chain.len(), 2, "leaf and CA");
        assert!(parse_client_pair(rsa.chain_pem.as_bytes(), rsa.key_pem.as_bytes()).is_ok());
        // (chain, key, error label)
        let bad = [
            (
                leaf.chain_pem.as_str(),
                foreign.key_pem.as_str(),
                "key_mismatch",
            ),
            ("", leaf.key_pem.as_str(), "no_certificate"),
            (leaf.chain_pem.as_str(), "", "no_key"),
            (
                "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
                leaf.key_pem.as_str(),
                "certificate_pem",
            ),
        ];
        for (chain, key, label) in bad {
            let err = parse_client_pair(chain.as_bytes(), key.as_bytes()).expect_err(label);
            assert_eq!(err.metric_label(), label, "{err}");
        }

        let bundle = format!("{}{}", ca.cert_pem(), other.cert_pem());
        assert_eq!(parse_ca_bundle(bundle.as_bytes()).expect("bundle").len(), 2);
        assert_eq!(
            parse_ca_bundle(b"no pem here")
                .expect_err("empty")
                .metric_label(),
            "no_certificate"
        );
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(
            parse_ca_bundle(garbage.as_bytes())
                .expect_err("garbage")
                .metric_label(),
            "bad_certificate"
        );
    }
}
