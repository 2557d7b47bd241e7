//! `parse_tls_pair` and the default certificate: every key encoding, chains, and the errors.

use anyhow::Result;
use gatehouse_certs::{default_cert, parse_tls_pair, CertError};
use gatehouse_testkit::tlsgen::{self, KeyEncoding, KeyKind, LeafSpec, TestCa};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[test]
fn every_key_encoding_loads_with_names_and_validity() -> Result<()> {
    let ca = TestCa::new("secret test ca")?;
    let cases = [
        (KeyKind::EcP256, KeyEncoding::Pkcs8),
        (KeyKind::EcP256, KeyEncoding::Sec1),
        (KeyKind::Rsa2048, KeyEncoding::Pkcs1),
        (KeyKind::Rsa2048, KeyEncoding::Pkcs8),
    ];
    for (kind, encoding) in cases {
        let leaf = ca.leaf_with(
            &LeafSpec::new(&["App.Example.test", "www.example.test"])
                .key(kind, encoding)
                .validity((2024, 1, 1), (2098, 6, 1)),
        )?;
        let loaded = parse_tls_pair(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
            .map_err(|e| anyhow::anyhow!("{kind:?}/{encoding:?}: {e}"))?;
        assert_eq!(loaded.names, vec!["app.example.test", "www.example.test"]);
        assert_eq!(loaded.key.cert.len(), 2, "leaf + CA kept in order");
        assert_eq!(loaded.not_before, 1_704_067_200, "2024-01-01T00:00:00Z");
        assert_eq!(loaded.not_after, 4_052_419_200, "2098-06-01T00:00:00Z");
    }
    Ok(())
}

#[test]
fn leaf_only_chain_and_wildcard_names() -> Result<()> {
    let ca = TestCa::new("ca")?;
    let leaf = ca.leaf(&["*.apps.test", "apps.test"])?;
    let loaded = parse_tls_pair(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes())?;
    assert_eq!(loaded.key.cert.len(), 1);
    assert_eq!(loaded.names, vec!["*.apps.test", "apps.test"]);
    Ok(())
}

#[test]
fn expired_certificate_loads_and_reports_not_after() -> Result<()> {
    let leaf =
        tlsgen::self_signed(&LeafSpec::new(&["old.test"]).validity((2020, 1, 1), (2021, 1, 1)))?;
    let loaded = parse_tls_pair(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())?;
    assert_eq!(loaded.not_after, 1_609_459_200);
    assert!(loaded.not_after < now());
    Ok(())
}

#[test]
fn key_of_another_certificate_is_a_mismatch() -> Result<()> {
    let ca = TestCa::new("ca")?;
    let a = ca.leaf(&["a.test"])?;
    let b = ca.leaf(&["b.test"])?;
    let err = parse_tls_pair(a.chain_pem.as_bytes(), b.key_pem.as_bytes()).expect_err("mismatch");
    assert!(matches!(err, CertError::KeyMismatch), "{err}");
    assert_eq!(err.metric_label(), "key_mismatch");

    // RSA key with an EC certificate.
    let rsa =
        ca.leaf_with(&LeafSpec::new(&["r.test"]).key(KeyKind::Rsa2048, KeyEncoding::Pkcs1))?;
    let err = parse_tls_pair(a.chain_pem.as_bytes(), rsa.key_pem.as_bytes()).expect_err("mismatch");
    assert!(matches!(err, CertError::KeyMismatch), "{err}");

    // The key matches the CA (second in the chain) but not the leaf: still a mismatch, as the
    // leaf must come first.
    let reversed = format!("{}{}", ca.cert_pem(), a.cert_pem);
    let err = parse_tls_pair(reversed.as_bytes(), a.key_pem.as_bytes()).expect_err("order");
    assert!(matches!(err, CertError::KeyMismatch), "{err}");
    Ok(())
}

#[test]
fn garbage_is_rejected_with_clear_errors() -> Result<()> {
    let ca = TestCa::new("ca")?;
    let leaf = ca.leaf(&["a.test"])?;

    let err = parse_tls_pair(b"not a pem", leaf.key_pem.as_bytes()).expect_err("no cert");
    assert!(matches!(err, CertError::NoCertificate), "{err}");
    let err = parse_tls_pair(b"", leaf.key_pem.as_bytes()).expect_err("empty");
    assert!(matches!(err, CertError::NoCertificate), "{err}");
    // A key where the chain should be.
    let err =
        parse_tls_pair(leaf.key_pem.as_bytes(), leaf.key_pem.as_bytes()).expect_err("key as chain");
    assert!(matches!(err, CertError::NoCertificate), "{err}");

    let err = parse_tls_pair(leaf.chain_pem.as_bytes(), b"").expect_err("no key");
    assert!(matches!(err, CertError::NoKey(_)), "{err}");
    let err = parse_tls_pair(leaf.chain_pem.as_bytes(), leaf.cert_pem.as_bytes())
        .expect_err("cert as key");
    assert!(matches!(err, CertError::NoKey(_)), "{err}");

    // Right label, garbage DER.
    let bad_key = "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n";
    let err = parse_tls_pair(leaf.chain_pem.as_bytes(), bad_key.as_bytes()).expect_err("bad key");
    assert!(matches!(err, CertError::BadKey(_)), "{err}");

    // Right label, garbage certificate DER.
    let bad_cert = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
    let err = parse_tls_pair(bad_cert.as_bytes(), leaf.key_pem.as_bytes()).expect_err("bad cert");
    assert!(matches!(err, CertError::BadCertificate(_)), "{err}");

    // Broken base64 inside a certificate block.
    let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    let err = parse_tls_pair(broken.as_bytes(), leaf.key_pem.as_bytes()).expect_err("bad pem");
    assert!(matches!(err, CertError::CertificatePem(_)), "{err}");
    Ok(())
}

#[test]
fn default_certificate_is_self_signed_and_current() -> Result<()> {
    let cert = default_cert::self_signed("gatehouse.invalid")?;
    assert_eq!(cert.names, vec!["gatehouse.invalid"]);
    assert_eq!(cert.key.cert.len(), 1);
    assert!(cert.not_before <= now() && now() < cert.not_after);
    Ok(())
}
