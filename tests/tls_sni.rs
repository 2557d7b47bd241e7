//! SNI certificate selection on the HTTPS listener (exact, wildcard, default, no SNI) and a
//! fully verified HTTPS request through to an echo backend.

mod tls_support;

use gatehouse_testkit::tlsgen::{KeyEncoding, KeyKind, LeafSpec, TestCa};
use gatehouse_testkit::yaml::{tls_secret, Ingress, PathType};
use gatehouse_testkit::{echo_service, EchoBackend, Fixture, InstanceSpec};
use tls_support::{
    der_mentions, header, https_instance, https_of, leaf_der, secret_with_data, served_leaf,
    verified_client, with_tls, Probe, BUILT_IN_DEFAULT_CN, NS,
};

const CLASS: &str = "tls";
const HSTS_DEFAULT: &str = "max-age=31536000; includeSubDomains";

/// A gatehouse with three certificates: `exact.test` (RSA, PKCS#1 key, Secret in `data`
/// form), `*.wild.test` (EC, SEC1 key) and `special.wild.test` (EC, PKCS#8), all from `ca`.
struct Sites {
    fixture: Fixture,
    echo: EchoBackend,
    instance: InstanceSpec,
    exact: Vec<u8>,
    wild: Vec<u8>,
    special: Vec<u8>,
}

async fn sites(ca: &TestCa, ip: &str) -> anyhow::Result<Sites> {
    let exact =
        ca.leaf_with(&LeafSpec::new(&["exact.test"]).key(KeyKind::Rsa2048, KeyEncoding::Pkcs1))?;
    let wild =
        ca.leaf_with(&LeafSpec::new(&["*.wild.test"]).key(KeyKind::EcP256, KeyEncoding::Sec1))?;
    let special = ca.leaf(&["special.wild.test"])?;
    let (echo, svc) = echo_service(NS, "echo", ip).await?;
    let ingress = Ingress::new(NS, "sites")
        .class(CLASS)
        .path("exact.test", "/", PathType::Prefix, "echo", "http")
        .path("*.wild.test", "/", PathType::Prefix, "echo", "http")
        .path("special.wild.test", "/", PathType::Prefix, "echo", "http")
        .path("plain.test", "/", PathType::Prefix, "echo", "http")
        .yaml();
    let ingress = with_tls(
        &ingress,
        &[
            (&["exact.test"], "exact-tls"),
            (&["*.wild.test"], "wild-tls"),
            (&["special.wild.test"], "special-tls"),
        ],
        &[],
    )?;
    let instance = https_instance(CLASS, "127.0.0.1");
    let fixture = Fixture::start(
        tls_support::bin(),
        vec![instance.clone()],
        &[
            ("svc.yaml", svc),
            ("ingress.yaml", ingress),
            (
                "exact.yaml",
                secret_with_data(
                    NS,
                    "exact-tls",
                    "kubernetes.io/tls",
                    &exact.chain_pem,
                    &exact.key_pem,
                ),
            ),
            (
                "wild.yaml",
                tls_secret(NS, "wild-tls", &wild.chain_pem, &wild.key_pem),
            ),
            (
                "special.yaml",
                tls_secret(NS, "special-tls", &special.chain_pem, &special.key_pem),
            ),
        ],
    )
    .await?;
    Ok(Sites {
        fixture,
        echo,
        instance,
        exact: leaf_der(&exact)?,
        wild: leaf_der(&wild)?,
        special: leaf_der(&special)?,
    })
}

#[tokio::test]
async fn sni_picks_exact_then_wildcard_then_default() -> anyhow::Result<()> {
    let ca = TestCa::new("sni test ca")?;
    let sites = sites(&ca, "127.0.7.1").await?;
    let https = https_of(&sites.instance);

    let exact = served_leaf(https, &Probe::sni("exact.test")).await?;
    assert!(
        exact == sites.exact,
        "exact.test must get its own certificate"
    );
    let wild = served_leaf(https, &Probe::sni("a.wild.test")).await?;
    assert!(wild == sites.wild, "a.wild.test must get *.wild.test");
    let other_wild = served_leaf(https, &Probe::sni("b-2.wild.test")).await?;
    assert!(
        other_wild == sites.wild,
        "b-2.wild.test must get *.wild.test"
    );
    let special = served_leaf(https, &Probe::sni("special.wild.test")).await?;
    assert!(
        special == sites.special,
        "an exact host beats the wildcard covering it"
    );

    let default = served_leaf(https, &Probe::sni("unknown.test")).await?;
    assert!(
        der_mentions(&default, BUILT_IN_DEFAULT_CN),
        "unknown host must get the built-in default certificate"
    );
    for leaf in [&sites.exact, &sites.wild, &sites.special] {
        assert!(
            default != *leaf,
            "default must differ from Ingress certificates"
        );
    }
    // A wildcard covers exactly one label: neither the apex nor a deeper name.
    for sni in ["wild.test", "x.a.wild.test"] {
        let served = served_leaf(https, &Probe::sni(sni)).await?;
        assert!(served == default, "{sni} must get the default certificate");
    }
    let no_sni = served_leaf(https, &Probe::no_sni()).await?;
    assert!(no_sni == default, "no SNI must get the default certificate");
    Ok(())
}

#[tokio::test]
async fn verified_https_request_reaches_the_backend() -> anyhow::Result<()> {
    let ca = TestCa::new("verified test ca")?;
    let sites = sites(&ca, "127.0.7.2").await?;
    let https = https_of(&sites.instance);
    let client = verified_client(ca.cert_pem(), &["exact.test", "a.wild.test"], https)?;

    for (host, expected_leaf) in [("exact.test", &sites.exact), ("a.wild.test", &sites.wild)] {
        let before = sites.echo.hits();
        let url = format!("https://{host}:{}/hello?x=1", https.port());
        let response = client.get(&url).send().await?;
        assert_eq!(
            response.version(),
            reqwest::Version::HTTP_2,
            "{url}: ALPN h2"
        );
        let peer = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .map(<[u8]>::to_vec);
        assert!(
            peer.as_ref() == Some(expected_leaf),
            "{url}: reqwest saw another certificate"
        );
        let reply = gatehouse_testkit::Reply::read(response).await?;
        assert_eq!(reply.status, 200, "{url}: {}", reply.summary());
        assert_eq!(reply.backend().as_deref(), Some("echo"));
        assert_eq!(reply.echoed("uri").as_deref(), Some("/hello?x=1"));
        assert_eq!(
            reply.echoed_header("x-forwarded-proto").as_deref(),
            Some("https")
        );
        assert_eq!(
            reply.echoed_header("x-forwarded-port"),
            Some(https.port().to_string())
        );
        assert_eq!(
            header(&reply, "strict-transport-security").as_deref(),
            Some(HSTS_DEFAULT),
            "{url}: HSTS on HTTPS"
        );
        assert_eq!(sites.echo.hits(), before + 1, "{url}: one backend hit");
    }

    // HTTP/1.1 over TLS gets the same treatment.
    let h1_client = gatehouse_testkit::client::client_builder()
        .http1_only()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes())?)
        .resolve("exact.test", https)
        .build()?;
    let response = h1_client
        .get(format!("https://exact.test:{}/h1", https.port()))
        .send()
        .await?;
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    let reply = gatehouse_testkit::Reply::read(response).await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(
        reply.echoed_header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    assert_eq!(
        header(&reply, "strict-transport-security").as_deref(),
        Some(HSTS_DEFAULT)
    );

    // Plain HTTP to a host without TLS: proxied, no HSTS.
    let reply = sites.fixture.get(CLASS, "plain.test", "/plain").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(
        reply.echoed_header("x-forwarded-proto").as_deref(),
        Some("http")
    );
    assert_eq!(header(&reply, "strict-transport-security"), None);

    // The chain is really verified: a client trusting another CA refuses the handshake.
    let stranger = TestCa::new("some other ca")?;
    let distrustful = verified_client(stranger.cert_pem(), &["exact.test"], https)?;
    let refused = distrustful
        .get(format!("https://exact.test:{}/", https.port()))
        .send()
        .await;
    assert!(refused.is_err(), "untrusted CA must fail: {refused:?}");
    // And a name the certificate does not cover fails verification too.
    let misnamed = verified_client(ca.cert_pem(), &["unknown.test"], https)?;
    let refused = misnamed
        .get(format!("https://unknown.test:{}/", https.port()))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "default certificate must not verify as unknown.test: {refused:?}"
    );
    Ok(())
}

#[tokio::test]
async fn tls_entry_without_hosts_covers_the_rule_hosts() -> anyhow::Result<()> {
    let ca = TestCa::new("rule hosts ca")?;
    let leaf = ca.leaf(&["one.test", "two.test"])?;
    let (_echo, svc) = echo_service(NS, "echo", "127.0.7.3").await?;
    let ingress = Ingress::new(NS, "rules")
        .class(CLASS)
        .path("one.test", "/", PathType::Prefix, "echo", "http")
        .path("two.test", "/", PathType::Prefix, "echo", "http")
        .yaml();
    let ingress = with_tls(&ingress, &[(&[], "rules-tls")], &[])?;
    let instance = https_instance(CLASS, "127.0.0.1");
    let https = https_of(&instance);
    let _fixture = Fixture::start(
        tls_support::bin(),
        vec![instance],
        &[
            ("svc.yaml", svc),
            ("ingress.yaml", ingress),
            (
                "secret.yaml",
                tls_secret(NS, "rules-tls", &leaf.chain_pem, &leaf.key_pem),
            ),
        ],
    )
    .await?;
    let der = leaf_der(&leaf)?;
    for host in ["one.test", "two.test"] {
        assert!(
            served_leaf(https, &Probe::sni(host)).await? == der,
            "{host}"
        );
    }
    let other = served_leaf(https, &Probe::sni("three.test")).await?;
    assert!(der_mentions(&other, BUILT_IN_DEFAULT_CN));
    Ok(())
}
