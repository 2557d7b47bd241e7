//! Certificates from Secrets over time: a replaced Secret is served to new connections without a
//! restart, and a broken Secret only sends its own hosts to the default certificate.

mod tls_support;

use std::time::Duration;

use gatehouse_testkit::fixture::APPLY_TIMEOUT;
use gatehouse_testkit::tlsgen::TestCa;
use gatehouse_testkit::yaml::{backend, documents, tls_secret, Ingress, PathType};
use gatehouse_testkit::{echo_service, Fixture};
use tls_support::{
    assert_warning, der_mentions, https_instance, https_of, leaf_der, probe_get, secret_with_data,
    served_leaf, with_tls, Probe, TlsConn, BUILT_IN_DEFAULT_CN, NS,
};

const CLASS: &str = "tls";

/// An Ingress named `name` routing `host/` to `service` with TLS from `secret`.
fn tls_ingress(name: &str, host: &str, service: &str, secret: &str) -> anyhow::Result<String> {
    tls_ingress_in(NS, name, host, service, secret)
}

/// Like [`tls_ingress`], in `namespace`.
fn tls_ingress_in(
    namespace: &str,
    name: &str,
    host: &str,
    service: &str,
    secret: &str,
) -> anyhow::Result<String> {
    let ingress = Ingress::new(namespace, name)
        .class(CLASS)
        .path(host, "/", PathType::Prefix, service, "http")
        .yaml();
    with_tls(&ingress, &[(&[host], secret)], &[])
}

#[tokio::test]
async fn replaced_secret_is_served_to_new_connections_without_restart() -> anyhow::Result<()> {
    let ca = TestCa::new("swap test ca")?;
    let first = ca.leaf(&["swap.test"])?;
    let second = ca.leaf(&["swap.test"])?;
    let (echo, svc) = echo_service(NS, "echo", "127.0.9.1").await?;
    let instance = https_instance(CLASS, "127.0.0.1");
    let https = https_of(&instance);
    let fixture = Fixture::start(
        tls_support::bin(),
        vec![instance],
        &[
            ("svc.yaml", svc),
            (
                "ingress.yaml",
                tls_ingress("swap", "swap.test", "echo", "swap-tls")?,
            ),
            (
                "secret.yaml",
                tls_secret(NS, "swap-tls", &first.chain_pem, &first.key_pem),
            ),
        ],
    )
    .await?;
    let first_der = leaf_der(&first)?;
    let second_der = leaf_der(&second)?;
    assert!(first_der != second_der);

    // A keep-alive connection made before the swap.
    let old = TlsConn::connect(https, &Probe::sni("swap.test").alpn(&[b"http/1.1"])).await?;
    assert!(
        old.leaf_der()? == first_der,
        "first certificate before the swap"
    );
    let mut old = old.http1().await?;
    let reply = old.get("swap.test", "/before").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());

    fixture
        .apply(
            "secret.yaml",
            &tls_secret(NS, "swap-tls", &second.chain_pem, &second.key_pem),
            CLASS,
        )
        .await?;
    let served = served_leaf(https, &Probe::sni("swap.test")).await?;
    assert!(
        served == second_der,
        "new connections get the new certificate"
    );
    assert!(fixture.gatehouse.exited().is_none(), "no restart");

    // The connection opened before the swap keeps working.
    let reply = old.get("swap.test", "/after").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.echoed("uri").as_deref(), Some("/after"));

    // Swapping to `data` form and back to the first certificate works the same way.
    fixture
        .apply(
            "secret.yaml",
            &secret_with_data(
                NS,
                "swap-tls",
                "kubernetes.io/tls",
                &first.chain_pem,
                &first.key_pem,
            ),
            CLASS,
        )
        .await?;
    let served = served_leaf(https, &Probe::sni("swap.test")).await?;
    assert!(served == first_der, "swapped back to the first certificate");
    assert_eq!(echo.hits(), 2);
    Ok(())
}

#[tokio::test]
async fn broken_secrets_fall_back_to_the_default_certificate() -> anyhow::Result<()> {
    let ca = TestCa::new("broken test ca")?;
    let good = ca.leaf(&["good.test"])?;
    let mismatch_cert = ca.leaf(&["mismatch.test"])?;
    let other_key = ca.leaf(&["other.test"])?;
    let (echo_good, svc_good) = echo_service(NS, "good", "127.0.9.2").await?;
    let (echo_broken, svc_broken) = echo_service(NS, "broken", "127.0.9.2").await?;
    let opaque = tls_secret(NS, "wrongtype-tls", &good.chain_pem, &good.key_pem)
        .replace("kubernetes.io/tls", "Opaque");
    // (namespace, Ingress, host, secretName)
    let cases = [
        (NS, "garbage", "garbage.test", "garbage-tls"),
        (NS, "mismatch", "mismatch.test", "mismatch-tls"),
        (NS, "missing", "missing.test", "missing-tls"),
        (NS, "wrongtype", "wrongtype.test", "wrongtype-tls"),
        // Secrets are namespaced: `good-tls` exists, but not in team-b.
        ("team-b", "crossns", "crossns.test", "good-tls"),
    ];
    let mut ingresses = vec![tls_ingress("good", "good.test", "good", "good-tls")?];
    for (namespace, name, host, secret) in cases {
        ingresses.push(tls_ingress_in(namespace, name, host, "broken", secret)?);
    }
    let team_b_svc = backend(
        "team-b",
        "broken",
        echo_broken.addr().port(),
        &[("127.0.9.2", true)],
    );
    let instance = https_instance(CLASS, "127.0.0.1");
    let https = https_of(&instance);
    let fixture = Fixture::start(
        tls_support::bin(),
        vec![instance],
        &[
            ("svc.yaml", documents(&[svc_good, svc_broken, team_b_svc])),
            ("ingresses.yaml", documents(&ingresses)),
            (
                "good.yaml",
                tls_secret(NS, "good-tls", &good.chain_pem, &good.key_pem),
            ),
            (
                "garbage.yaml",
                tls_secret(NS, "garbage-tls", "not a certificate", "not a key either"),
            ),
            (
                "mismatch.yaml",
                tls_secret(
                    NS,
                    "mismatch-tls",
                    &mismatch_cert.chain_pem,
                    &other_key.key_pem,
                ),
            ),
            ("wrongtype.yaml", opaque),
        ],
    )
    .await?;

    // Each broken Secret is reported, naming the Ingress that refers to it.
    for (namespace, name, _, secret) in cases {
        let object = format!("Ingress {namespace}/{name}");
        fixture
            .gatehouse
            .wait_for_stderr(&object, APPLY_TIMEOUT)
            .await?;
        assert_warning(
            &fixture.gatehouse.stderr_text(),
            &object,
            &["TlsSecret", &format!("{namespace}/{secret}")],
        )?;
    }
    assert!(
        !fixture
            .gatehouse
            .stderr_text()
            .contains("Ingress default/good"),
        "the good Ingress must not be warned about"
    );

    let good_der = leaf_der(&good)?;
    let (leaf, reply) = probe_get(https, "good.test", "/g").await?;
    assert!(leaf == good_der, "good.test keeps its certificate");
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.backend().as_deref(), Some("good"));

    let default = served_leaf(https, &Probe::sni("unknown.test")).await?;
    assert!(der_mentions(&default, BUILT_IN_DEFAULT_CN));
    for (_, name, host, _) in cases {
        let (leaf, reply) = probe_get(https, host, "/b").await?;
        assert!(
            leaf == default,
            "{name}: {host} must get the default certificate"
        );
        // The routes of an Ingress with a broken Secret still work.
        assert_eq!(reply.status, 200, "{name}: {}", reply.summary());
        assert_eq!(reply.backend().as_deref(), Some("broken"));
    }
    assert_eq!(echo_good.hits(), 1);
    assert_eq!(echo_broken.hits(), cases.len() as u64);
    Ok(())
}

#[tokio::test]
async fn secret_broken_later_affects_only_its_hosts() -> anyhow::Result<()> {
    let ca = TestCa::new("later test ca")?;
    let stays = ca.leaf(&["stays.test"])?;
    let breaks = ca.leaf(&["breaks.test"])?;
    let (_echo, svc) = echo_service(NS, "echo", "127.0.9.3").await?;
    let instance = https_instance(CLASS, "127.0.0.1");
    let https = https_of(&instance);
    let fixture = Fixture::start(
        tls_support::bin(),
        vec![instance],
        &[
            ("svc.yaml", svc),
            (
                "ingresses.yaml",
                documents(&[
                    tls_ingress("stays", "stays.test", "echo", "stays-tls")?,
                    tls_ingress("breaks", "breaks.test", "echo", "breaks-tls")?,
                ]),
            ),
            (
                "stays.yaml",
                tls_secret(NS, "stays-tls", &stays.chain_pem, &stays.key_pem),
            ),
            (
                "breaks.yaml",
                tls_secret(NS, "breaks-tls", &breaks.chain_pem, &breaks.key_pem),
            ),
        ],
    )
    .await?;
    assert!(served_leaf(https, &Probe::sni("breaks.test")).await? == leaf_der(&breaks)?);

    let mark = fixture.gatehouse.stderr_mark();
    // Key of another certificate: parses, but does not match.
    fixture
        .apply(
            "breaks.yaml",
            &tls_secret(NS, "breaks-tls", &breaks.chain_pem, &stays.key_pem),
            CLASS,
        )
        .await?;
    fixture
        .gatehouse
        .wait_for_stderr_since(mark, "Ingress default/breaks", Duration::from_secs(10))
        .await?;
    let served = served_leaf(https, &Probe::sni("breaks.test")).await?;
    assert!(
        der_mentions(&served, BUILT_IN_DEFAULT_CN),
        "breaks.test falls back to the default certificate"
    );
    let (leaf, reply) = probe_get(https, "stays.test", "/s").await?;
    assert!(
        leaf == leaf_der(&stays)?,
        "stays.test keeps its certificate"
    );
    assert_eq!(reply.status, 200, "{}", reply.summary());
    let (_, reply) = probe_get(https, "breaks.test", "/b").await?;
    assert_eq!(
        reply.status,
        200,
        "breaks.test still routes: {}",
        reply.summary()
    );

    // Deleting the Secret is the same: default certificate, routes untouched.
    fixture.delete("breaks.yaml", CLASS).await?;
    let served = served_leaf(https, &Probe::sni("breaks.test")).await?;
    assert!(der_mentions(&served, BUILT_IN_DEFAULT_CN));
    let (leaf, _) = probe_get(https, "stays.test", "/s").await?;
    assert!(leaf == leaf_der(&stays)?);

    // A Secret that appears later is picked up like any other change.
    fixture
        .apply(
            "breaks.yaml",
            &tls_secret(NS, "breaks-tls", &breaks.chain_pem, &breaks.key_pem),
            CLASS,
        )
        .await?;
    assert!(served_leaf(https, &Probe::sni("breaks.test")).await? == leaf_der(&breaks)?);
    assert!(fixture.gatehouse.exited().is_none(), "no restart");
    Ok(())
}
