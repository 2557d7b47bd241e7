//! The default certificate (`--default-certificate`, `--default-certificate-files`, built-in)
//! and the HSTS flags.

mod tls_support;

use std::net::SocketAddr;

use gatehouse_testkit::fixture::APPLY_TIMEOUT;
use gatehouse_testkit::tlsgen::{self_signed, LeafSpec, TestCa};
use gatehouse_testkit::yaml::{tls_secret, Ingress, PathType};
use gatehouse_testkit::{echo_service, EchoBackend, Fixture};
use tls_support::{
    assert_warning, der_mentions, header, https_instance, https_of, leaf_der, probe_get,
    served_leaf, with_tls, Probe, BUILT_IN_DEFAULT_CN, NS,
};

const CLASS: &str = "tls";

/// Starts gatehouse with `extra` arguments, `site.test` (own certificate) routed to an echo
/// backend, and `files` added to the manifests.
async fn start(
    ip: &str,
    extra: &[String],
    files: Vec<(&'static str, String)>,
) -> anyhow::Result<(Fixture, EchoBackend, SocketAddr, Vec<u8>)> {
    let ca = TestCa::new("defaults test ca")?;
    let site = ca.leaf(&["site.test"])?;
    let (echo, svc) = echo_service(NS, "echo", ip).await?;
    let ingress = with_tls(
        &Ingress::new(NS, "site")
            .class(CLASS)
            .path("site.test", "/", PathType::Prefix, "echo", "http")
            .path("other.test", "/", PathType::Prefix, "echo", "http")
            .yaml(),
        &[(&["site.test"], "site-tls")],
        &[],
    )?;
    let instance = https_instance(CLASS, "127.0.0.1");
    let https = https_of(&instance);
    let mut all = vec![
        ("svc.yaml", svc),
        ("ingress.yaml", ingress),
        (
            "site.yaml",
            tls_secret(NS, "site-tls", &site.chain_pem, &site.key_pem),
        ),
    ];
    all.extend(files);
    let fixture = Fixture::start_with_args(tls_support::bin(), vec![instance], &all, extra).await?;
    Ok((fixture, echo, https, leaf_der(&site)?))
}

#[tokio::test]
async fn default_certificate_secret_serves_unknown_sni() -> anyhow::Result<()> {
    let ca = TestCa::new("fallback ca")?;
    let fallback = ca.leaf(&["fallback.test"])?;
    let (_fixture, _echo, https, site) = start(
        "127.0.11.1",
        &["--default-certificate".into(), "certs/fallback".into()],
        vec![(
            "fallback.yaml",
            // In another namespace than the Ingresses: the flag names it in full.
            tls_secret("certs", "fallback", &fallback.chain_pem, &fallback.key_pem),
        )],
    )
    .await?;
    let fallback_der = leaf_der(&fallback)?;
    for probe in [
        Probe::sni("unknown.test"),
        Probe::sni("other.test"),
        Probe::no_sni(),
    ] {
        let served = served_leaf(https, &probe).await?;
        assert!(
            served == fallback_der,
            "{probe:?}: the --default-certificate Secret"
        );
    }
    assert!(served_leaf(https, &Probe::sni("site.test")).await? == site);
    // A host without its own certificate is still routed, under the default certificate.
    let (leaf, reply) = probe_get(https, "other.test", "/o").await?;
    assert!(leaf == fallback_der);
    assert_eq!(reply.status, 200, "{}", reply.summary());
    Ok(())
}

#[tokio::test]
async fn default_certificate_files_serve_unknown_sni() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fallback = self_signed(&LeafSpec::new(&["files.test"]))?;
    let cert = dir.path().join("default.crt");
    let key = dir.path().join("default.key");
    std::fs::write(&cert, &fallback.chain_pem)?;
    std::fs::write(&key, &fallback.key_pem)?;
    let files_arg = format!("{},{}", cert.display(), key.display());
    let (_fixture, _echo, https, site) = start(
        "127.0.11.2",
        &["--default-certificate-files".into(), files_arg],
        vec![],
    )
    .await?;
    let fallback_der = leaf_der(&fallback)?;
    for probe in [Probe::sni("unknown.test"), Probe::no_sni()] {
        let served = served_leaf(https, &probe).await?;
        assert!(
            served == fallback_der,
            "{probe:?}: the certificate from files"
        );
    }
    assert!(served_leaf(https, &Probe::sni("site.test")).await? == site);
    Ok(())
}

#[tokio::test]
async fn unusable_default_secret_falls_back_to_files_then_built_in() -> anyhow::Result<()> {
    // Secret named but missing, files given: the files win, and the Secret is reported.
    let dir = tempfile::tempdir()?;
    let fallback = self_signed(&LeafSpec::new(&["files.test"]))?;
    let cert = dir.path().join("default.crt");
    let key = dir.path().join("default.key");
    std::fs::write(&cert, &fallback.chain_pem)?;
    std::fs::write(&key, &fallback.key_pem)?;
    let (fixture, _echo, https, _site) = start(
        "127.0.11.3",
        &[
            "--default-certificate".into(),
            "certs/absent".into(),
            "--default-certificate-files".into(),
            format!("{},{}", cert.display(), key.display()),
        ],
        vec![],
    )
    .await?;
    assert!(served_leaf(https, &Probe::sni("unknown.test")).await? == leaf_der(&fallback)?);
    fixture
        .gatehouse
        .wait_for_stderr("Secret certs/absent", APPLY_TIMEOUT)
        .await?;
    assert_warning(
        &fixture.gatehouse.stderr_text(),
        "Secret certs/absent",
        &["TlsSecret"],
    )?;
    drop(fixture);

    // Secret present but not a TLS Secret, no files: the built-in certificate.
    let ca = TestCa::new("opaque ca")?;
    let leaf = ca.leaf(&["opaque.test"])?;
    let opaque = tls_secret("certs", "opaque", &leaf.chain_pem, &leaf.key_pem)
        .replace("kubernetes.io/tls", "Opaque");
    let (fixture, _echo, https, _site) = start(
        "127.0.11.4",
        &["--default-certificate".into(), "certs/opaque".into()],
        vec![("opaque.yaml", opaque)],
    )
    .await?;
    let served = served_leaf(https, &Probe::sni("unknown.test")).await?;
    assert!(
        der_mentions(&served, BUILT_IN_DEFAULT_CN),
        "built-in default"
    );
    fixture
        .gatehouse
        .wait_for_stderr("Secret certs/opaque", APPLY_TIMEOUT)
        .await?;
    assert_warning(
        &fixture.gatehouse.stderr_text(),
        "Secret certs/opaque",
        &["TlsSecret"],
    )?;
    Ok(())
}

#[tokio::test]
async fn hsts_flags_shape_the_header() -> anyhow::Result<()> {
    let cases: [(&[&str], Option<&str>); 3] = [
        (&[], Some("max-age=31536000; includeSubDomains")),
        (
            &[
                "--hsts-max-age",
                "600",
                "--hsts-include-subdomains",
                "false",
            ],
            Some("max-age=600"),
        ),
        (&["--hsts-max-age", "0"], None),
    ];
    for (index, (flags, expected)) in cases.into_iter().enumerate() {
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        let ip = format!("127.0.11.{}", 10 + index);
        let (fixture, echo, https, _site) = start(&ip, &flags, vec![]).await?;
        let (_, reply) = probe_get(https, "site.test", "/h").await?;
        assert_eq!(reply.status, 200, "{flags:?}: {}", reply.summary());
        assert_eq!(
            header(&reply, "strict-transport-security").as_deref(),
            expected,
            "{flags:?}"
        );
        // Never over plain HTTP.
        let reply = fixture.get(CLASS, "other.test", "/h").await?;
        assert_eq!(reply.status, 200, "{flags:?}: {}", reply.summary());
        assert_eq!(header(&reply, "strict-transport-security"), None);
        assert_eq!(echo.hits(), 2);
    }
    Ok(())
}
