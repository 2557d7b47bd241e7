//! Real TLS handshakes against a tokio-rustls server using `CertResolver`: exact, wildcard and
//! default selection, no SNI, and hot swapping.

mod support;

use std::sync::Arc;

use anyhow::Result;
use arc_swap::ArcSwap;
use gatehouse_certs::{default_cert, parse_tls_pair, CertResolver, CertSet, LoadedCert};
use gatehouse_testkit::tlsgen::{KeyEncoding, KeyKind, LeafSpec, TestCa};
use rustls::pki_types::CertificateDer;
use support::{inspecting_client, served_leaf, verifying_client, TlsServer};

struct Certs {
    ca: TestCa,
    exact: LoadedCert,
    wildcard: LoadedCert,
    rsa: LoadedCert,
    default: LoadedCert,
}

fn leaf_der(cert: &LoadedCert) -> CertificateDer<'static> {
    cert.key.cert[0].clone()
}

fn certs() -> Result<Certs> {
    let ca = TestCa::new("handshake ca")?;
    let load = |l: gatehouse_testkit::tlsgen::Leaf| {
        parse_tls_pair(l.chain_pem.as_bytes(), l.key_pem.as_bytes())
    };
    Ok(Certs {
        exact: load(ca.leaf(&["app.example.test"])?)?,
        wildcard: load(ca.leaf(&["*.wild.example.test"])?)?,
        rsa: load(ca.leaf_with(
            &LeafSpec::new(&["rsa.example.test"]).key(KeyKind::Rsa2048, KeyEncoding::Pkcs1),
        )?)?,
        default: default_cert::self_signed("gatehouse.invalid")?,
        ca,
    })
}

fn set(c: &Certs) -> CertSet {
    let mut b = CertSet::builder();
    assert!(b.insert_all(&c.exact, "ns/exact").is_empty());
    assert!(b.insert_all(&c.wildcard, "ns/wild").is_empty());
    assert!(b.insert_all(&c.rsa, "ns/rsa").is_empty());
    b.default(&c.default, "default");
    b.build()
}

#[tokio::test]
async fn sni_selects_exact_wildcard_or_default() -> Result<()> {
    let c = certs()?;
    let shared = Arc::new(ArcSwap::from_pointee(set(&c)));
    let server = TlsServer::start(CertResolver::new(Arc::clone(&shared))).await?;
    let cases: [(Option<&str>, &LoadedCert); 9] = [
        (Some("app.example.test"), &c.exact),
        (Some("APP.Example.TEST"), &c.exact),
        (Some("rsa.example.test"), &c.rsa),
        (Some("a.wild.example.test"), &c.wildcard),
        (Some("B.Wild.Example.Test"), &c.wildcard),
        // Wildcards cover exactly one label.
        (Some("x.a.wild.example.test"), &c.default),
        (Some("wild.example.test"), &c.default),
        (Some("unknown.test"), &c.default),
        (None, &c.default),
    ];
    for (sni, want) in cases {
        let got = served_leaf(server.addr, inspecting_client()?, sni).await?;
        assert!(
            got == leaf_der(want),
            "SNI {sni:?} got the wrong certificate"
        );
    }
    Ok(())
}

#[tokio::test]
async fn served_certificates_verify_against_the_ca() -> Result<()> {
    let c = certs()?;
    let shared = Arc::new(ArcSwap::from_pointee(set(&c)));
    let server = TlsServer::start(CertResolver::new(shared)).await?;
    for name in [
        "app.example.test",
        "rsa.example.test",
        "z.wild.example.test",
    ] {
        served_leaf(server.addr, verifying_client(c.ca.cert_pem())?, Some(name)).await?;
    }
    // The self-signed default does not verify: the client must reject it.
    let err = served_leaf(
        server.addr,
        verifying_client(c.ca.cert_pem())?,
        Some("other.test"),
    )
    .await
    .expect_err("default certificate must not verify");
    assert!(format!("{err:#}").contains("certificate"), "{err:#}");
    Ok(())
}

#[tokio::test]
async fn swapping_the_set_changes_the_next_handshake() -> Result<()> {
    let c = certs()?;
    let shared = Arc::new(ArcSwap::from_pointee(set(&c)));
    let resolver = CertResolver::new(Arc::clone(&shared));
    let server = TlsServer::start(resolver.clone()).await?;
    let before = served_leaf(server.addr, inspecting_client()?, Some("app.example.test")).await?;
    assert!(before == leaf_der(&c.exact));

    let renewed = {
        let l = c.ca.leaf(&["app.example.test"])?;
        parse_tls_pair(l.chain_pem.as_bytes(), l.key_pem.as_bytes())?
    };
    let mut b = CertSet::builder();
    b.insert("app.example.test", &renewed, "ns/exact");
    b.default(&c.default, "default");
    resolver.certs().store(Arc::new(b.build()));

    let after = served_leaf(server.addr, inspecting_client()?, Some("app.example.test")).await?;
    assert!(
        after == leaf_der(&renewed),
        "new connection must see the new certificate"
    );
    assert!(after != before);
    // The wildcard was not in the new set: that name now falls back to the default.
    let wild = served_leaf(
        server.addr,
        inspecting_client()?,
        Some("q.wild.example.test"),
    )
    .await?;
    assert!(wild == leaf_der(&c.default));
    Ok(())
}

#[tokio::test]
async fn empty_set_fails_the_handshake() -> Result<()> {
    let shared = Arc::new(ArcSwap::from_pointee(CertSet::empty()));
    let server = TlsServer::start(CertResolver::new(shared)).await?;
    let result = served_leaf(server.addr, inspecting_client()?, Some("app.example.test")).await;
    assert!(
        result.is_err(),
        "no certificate at all must fail the handshake"
    );
    Ok(())
}
