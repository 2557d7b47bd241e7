//! `proxy-ssl-secret` through the real binary (manifests source): the Secret's `ca.crt` is the
//! only trust a verified backend gets (the system's store — here `SSL_CERT_FILE` — no longer
//! applies), its `tls.crt` / `tls.key` is the client certificate a mutual-TLS backend asks
//! for, pooled connections never carry one route's certificate to another, and a missing or
//! unusable Secret fails closed (503, a warning naming the Ingress) until it is fixed.

use std::path::Path;
use std::time::Duration;

use gatehouse_testkit::echo::EchoMode;
use gatehouse_testkit::tlsgen::{LeafSpec, TestCa};
use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{any_port, free_addr, EchoBackend, Fixture, InstanceSpec, Reply};

const NS: &str = "default";
const CLASS: &str = "web";
const PREFIX: &str = "nginx.ingress.kubernetes.io/";
const WARN_TIMEOUT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// An Ingress `name` on `<name>.test` to `service` over HTTPS, with more annotations under
/// ingress-nginx's prefix (keys starting with `gatehouse.dev/` are taken as they are).
fn route(name: &str, service: &str, annotations: &[(&str, &str)]) -> String {
    let mut ingress = Ingress::new(NS, name)
        .class(CLASS)
        .annotation(&format!("{PREFIX}backend-protocol"), "HTTPS");
    for (key, value) in annotations {
        let key = if key.starts_with("gatehouse.dev/") {
            key.to_string()
        } else {
            format!("{PREFIX}{key}")
        };
        ingress = ingress.annotation(&key, value);
    }
    ingress
        .path(
            &format!("{name}.test"),
            "/",
            PathType::Prefix,
            service,
            "http",
        )
        .yaml()
}

/// A Secret `ns/name` with these keys (PEM text) in `data`.
fn secret(ns: &str, name: &str, entries: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata:\n  namespace: {ns}\n  name: {name}\ndata:\n"
    );
    for (key, value) in entries {
        yaml.push_str(&format!(
            "  {key}: {}\n",
            gatehouse_testkit::base64::encode(value.as_bytes())
        ));
    }
    yaml
}

async fn backend(name: &str, mode: EchoMode) -> anyhow::Result<(EchoBackend, String)> {
    let echo = EchoBackend::start_with(name, any_port("127.0.0.1"), mode).await?;
    let yaml = yaml::backend(NS, name, echo.addr().port(), &[("127.0.0.1", true)]);
    Ok((echo, yaml))
}

#[tokio::test]
async fn backend_cas_and_client_certificates_come_from_the_named_secret() -> anyhow::Result<()> {
    // ca_a signs backends tls-a and mtls; ca_b signs tls-b and is the "system" store
    // (SSL_CERT_FILE); client_ca signs the client certificate mtls requires.
    let ca_a = TestCa::new("backend CA A")?;
    let ca_b = TestCa::new("backend CA B")?;
    let client_ca = TestCa::new("client CA")?;
    let leaf_a = ca_a.leaf(&["tls-a.default.svc"])?;
    let leaf_b = ca_b.leaf(&["tls-b.default.svc"])?;
    let leaf_mtls = ca_a.leaf(&["mtls.default.svc"])?;
    let client = client_ca.leaf_with(&LeafSpec::new(&["gatehouse.client"]).client_auth())?;
    let stranger = ca_b.leaf_with(&LeafSpec::new(&["stranger.client"]).client_auth())?;
    let system = tempfile::NamedTempFile::new()?;
    std::fs::write(system.path(), ca_b.cert_pem())?;
    let system_path = system.path().to_string_lossy().into_owned();

    let h1 = [b"http/1.1".as_slice()];
    let (_a, a_yaml) = backend(
        "tls-a",
        EchoMode::tls(&leaf_a.chain_pem, &leaf_a.key_pem, &h1)?,
    )
    .await?;
    let (_b, b_yaml) = backend(
        "tls-b",
        EchoMode::tls(&leaf_b.chain_pem, &leaf_b.key_pem, &h1)?,
    )
    .await?;
    let (mtls, mtls_yaml) = backend(
        "mtls",
        EchoMode::tls_requiring_client_cert(
            &leaf_mtls.chain_pem,
            &leaf_mtls.key_pem,
            client_ca.cert_pem(),
            &h1,
        )?,
    )
    .await?;

    let verify = ("proxy-ssl-verify", "on");
    let files = vec![
        ("tls-a.yaml", a_yaml),
        ("tls-b.yaml", b_yaml),
        ("mtls.yaml", mtls_yaml),
        (
            "secrets.yaml",
            [
                secret(NS, "ca-a", &[("ca.crt", ca_a.cert_pem())]),
                secret("certs", "ca-a", &[("ca.crt", ca_a.cert_pem())]),
                secret(
                    NS,
                    "client",
                    &[
                        ("tls.crt", client.chain_pem.as_str()),
                        ("tls.key", client.key_pem.as_str()),
                        ("ca.crt", ca_a.cert_pem()),
                    ],
                ),
                secret(
                    NS,
                    "client-only",
                    &[
                        ("tls.crt", client.chain_pem.as_str()),
                        ("tls.key", client.key_pem.as_str()),
                    ],
                ),
                secret(
                    NS,
                    "stranger",
                    &[
                        ("tls.crt", stranger.chain_pem.as_str()),
                        ("tls.key", stranger.key_pem.as_str()),
                    ],
                ),
                secret(NS, "broken", &[("ca.crt", "not a certificate")]),
                secret(
                    NS,
                    "mismatch",
                    &[
                        ("tls.crt", client.chain_pem.as_str()),
                        ("tls.key", stranger.key_pem.as_str()),
                    ],
                ),
            ]
            .join("---\n"),
        ),
        (
            "routes.yaml",
            [
                route(
                    "verify-a",
                    "tls-a",
                    &[verify, ("proxy-ssl-secret", "default/ca-a")],
                ),
                route(
                    "cross-ns",
                    "tls-a",
                    &[verify, ("proxy-ssl-secret", "certs/ca-a")],
                ),
                route(
                    "own-prefix",
                    "tls-a",
                    &[verify, ("gatehouse.dev/proxy-ssl-secret", "default/ca-a")],
                ),
                route("system-a", "tls-a", &[verify]),
                route("system-b", "tls-b", &[verify]),
                route(
                    "secret-b",
                    "tls-b",
                    &[verify, ("proxy-ssl-secret", "default/ca-a")],
                ),
                route(
                    "mtls-ok",
                    "mtls",
                    &[verify, ("proxy-ssl-secret", "default/client")],
                ),
                route(
                    "mtls-cert-only",
                    "mtls",
                    &[("proxy-ssl-secret", "default/client-only")],
                ),
                route("mtls-none", "mtls", &[]),
                route(
                    "mtls-stranger",
                    "mtls",
                    &[("proxy-ssl-secret", "default/stranger")],
                ),
                route(
                    "missing",
                    "tls-a",
                    &[verify, ("proxy-ssl-secret", "default/gone")],
                ),
                route(
                    "broken",
                    "tls-a",
                    &[verify, ("proxy-ssl-secret", "default/broken")],
                ),
                route(
                    "mismatch",
                    "mtls",
                    &[("proxy-ssl-secret", "default/mismatch")],
                ),
                route(
                    "no-namespace",
                    "tls-a",
                    &[verify, ("proxy-ssl-secret", "ca-a")],
                ),
            ]
            .join("---\n"),
        ),
    ];
    let fixture = Fixture::start_with_env(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &files,
        &[],
        &[("SSL_CERT_FILE", system_path.as_str())],
    )
    .await?;
    let fx = &fixture;
    let get = |host: String| async move { fx.get(CLASS, &host, "/").await };
    let status = |reply: &Reply| (reply.status, reply.summary());

    // (a) Verified against the Secret's CA, in the Ingress's namespace or another one, under
    // either prefix; the system store (CA B) does not know CA A.
    for name in ["verify-a", "cross-ns", "own-prefix"] {
        let reply = get(format!("{name}.test")).await?;
        assert_eq!(reply.status, 200, "{name}: {}", reply.summary());
    }
    assert_eq!(get("system-a.test".into()).await?.status, 502);
    assert_eq!(get("system-b.test".into()).await?.status, 200);
    // (b) The Secret's CAs replace the system store: CA B signed tls-b, CA A did not.
    let reply = get("secret-b.test".into()).await?;
    assert_eq!(reply.status, 502, "{:?}", status(&reply));

    // (c) The client certificate: with it (verified or not) the mutual-TLS backend answers;
    // without it, or with one its CA did not sign, the handshake fails. The requests without
    // it come after those with it: a pooled connection must not carry the certificate over.
    for name in ["mtls-ok", "mtls-cert-only"] {
        let reply = get(format!("{name}.test")).await?;
        assert_eq!(reply.status, 200, "{name}: {}", reply.summary());
    }
    for name in ["mtls-none", "mtls-stranger", "mtls-none"] {
        let reply = get(format!("{name}.test")).await?;
        assert_eq!(reply.status, 502, "{name}: {}", reply.summary());
    }
    assert_eq!(get("mtls-ok.test".into()).await?.status, 200);

    // (d) Unusable: 503 naming the annotation, a warning naming the Ingress and the reason,
    // and nothing reaches the backend.
    let hits = mtls.hits();
    for (name, why) in [
        ("missing", "Secret default/gone not found"),
        ("broken", "ca.crt: no certificate found"),
        ("mismatch", "does not match the leaf certificate"),
        ("no-namespace", "does not name its namespace"),
    ] {
        let reply = get(format!("{name}.test")).await?;
        assert_eq!(reply.status, 503, "{name}: {}", reply.summary());
        assert!(
            reply.body.contains("proxy-ssl-secret"),
            "{name}: the 503 names the annotation: {}",
            reply.summary()
        );
        fixture.gatehouse.wait_for_stderr(why, WARN_TIMEOUT).await?;
        let stderr = fixture.gatehouse.stderr_text();
        assert!(
            stderr.lines().any(|l| l.contains("InvalidAnnotation")
                && l.contains(&format!("default/{name}"))
                && l.contains(why)),
            "{name}: the warning names the Ingress and the reason: {stderr}"
        );
    }
    assert_eq!(mtls.hits(), hits, "refused routes reach no backend");
    let (_, routes) = gatehouse_testkit::admin::get(fixture.admin, "/routes.json").await?;
    assert!(
        routes.contains("default/missing") && routes.contains("proxy-ssl-secret"),
        "the status page keeps reporting the refused Ingress: {routes}"
    );

    // Fixing the Secret applies without a restart.
    fixture
        .apply(
            "gone.yaml",
            &secret(NS, "gone", &[("ca.crt", ca_a.cert_pem())]),
            CLASS,
        )
        .await?;
    fixture
        .wait_for_reply(CLASS, "missing.test", "/", WARN_TIMEOUT, |r| {
            r.status == 200
        })
        .await?;
    Ok(())
}
