//! How gatehouse speaks to backends, through the real binary: `backend-protocol` (HTTPS, GRPC,
//! GRPCS, H2C) against backends that speak only that, `proxy-ssl-verify` / `proxy-ssl-name` /
//! `proxy-ssl-server-name` against a TLS backend whose CA gatehouse trusts through
//! `SSL_CERT_FILE`, and `upstream-vhost`.

use std::path::Path;

use gatehouse_testkit::echo::EchoMode;
use gatehouse_testkit::tlsgen::TestCa;
use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{
    any_port, echo_service, free_addr, EchoBackend, Fixture, InstanceSpec, Reply,
};

const NS: &str = "default";
const CLASS: &str = "web";
const PREFIX: &str = "nginx.ingress.kubernetes.io/";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// An Ingress `name` routing `host` to `service` with annotations under ingress-nginx's prefix
/// (names starting with `gatehouse.dev/` are taken as they are).
fn route(name: &str, host: &str, service: &str, annotations: &[(&str, &str)]) -> String {
    let mut ingress = Ingress::new(NS, name).class(CLASS);
    for (key, value) in annotations {
        let key = if key.starts_with("gatehouse.dev/") {
            key.to_string()
        } else {
            format!("{PREFIX}{key}")
        };
        ingress = ingress.annotation(&key, value);
    }
    ingress
        .path(host, "/", PathType::Prefix, service, "http")
        .yaml()
}

async fn backend(name: &str, mode: EchoMode) -> anyhow::Result<(EchoBackend, String)> {
    let echo = EchoBackend::start_with(name, any_port("127.0.0.1"), mode).await?;
    let yaml = yaml::backend(NS, name, echo.addr().port(), &[("127.0.0.1", true)]);
    Ok((echo, yaml))
}

fn field<'a>(reply: &'a Reply, pointer: &str) -> Option<&'a serde_json::Value> {
    reply.json.as_ref().and_then(|j| j.pointer(pointer))
}

fn text<'a>(reply: &'a Reply, pointer: &str) -> Option<&'a str> {
    field(reply, pointer).and_then(|v| v.as_str())
}

#[tokio::test]
async fn backends_get_the_protocol_tls_and_host_their_ingress_asks_for() -> anyhow::Result<()> {
    let ca = TestCa::new("backend test CA")?;
    let leaf = ca.leaf(&["tls-echo.internal", "tls-echo.default.svc"])?;
    let ca_file = tempfile::NamedTempFile::new()?;
    std::fs::write(ca_file.path(), ca.cert_pem())?;
    let ca_path = ca_file.path().to_string_lossy().into_owned();

    let h1_tls = EchoMode::tls(&leaf.chain_pem, &leaf.key_pem, &[b"http/1.1"])?;
    let h2_tls = EchoMode::tls(&leaf.chain_pem, &leaf.key_pem, &[b"h2"])?;
    let (_tls_echo, tls_yaml) = backend("tls-echo", h1_tls).await?;
    let (_h2_tls_echo, h2_tls_yaml) = backend("h2-tls-echo", h2_tls).await?;
    let (_h2c_echo, h2c_yaml) = backend("h2c-echo", EchoMode::H2cOnly).await?;
    let (_echo, echo_yaml) = echo_service(NS, "echo", "127.0.0.1").await?;

    let files = vec![
        ("tls.yaml", tls_yaml),
        ("h2-tls.yaml", h2_tls_yaml),
        ("h2c.yaml", h2c_yaml),
        ("echo.yaml", echo_yaml),
        (
            "https.yaml",
            route(
                "https",
                "https.test",
                "tls-echo",
                &[("backend-protocol", "HTTPS")],
            ),
        ),
        (
            "sni.yaml",
            route(
                "sni",
                "sni.test",
                "tls-echo",
                &[
                    ("backend-protocol", "https"),
                    ("proxy-ssl-server-name", "on"),
                    ("proxy-ssl-name", "tls-echo.internal"),
                ],
            ),
        ),
        (
            "verify-named.yaml",
            route(
                "verify-named",
                "verify-named.test",
                "tls-echo",
                &[
                    ("backend-protocol", "HTTPS"),
                    ("proxy-ssl-verify", "on"),
                    ("gatehouse.dev/proxy-ssl-name", "tls-echo.internal"),
                ],
            ),
        ),
        (
            "verify-default.yaml",
            route(
                "verify-default",
                "verify-default.test",
                "tls-echo",
                &[("backend-protocol", "HTTPS"), ("proxy-ssl-verify", "on")],
            ),
        ),
        (
            "verify-wrong.yaml",
            route(
                "verify-wrong",
                "verify-wrong.test",
                "tls-echo",
                &[
                    ("backend-protocol", "HTTPS"),
                    ("proxy-ssl-verify", "on"),
                    ("proxy-ssl-name", "wrong.internal"),
                ],
            ),
        ),
        (
            "plain-to-tls.yaml",
            route("plain-to-tls", "plain-to-tls.test", "tls-echo", &[]),
        ),
        (
            "h2c-route.yaml",
            route(
                "h2c",
                "h2c.test",
                "h2c-echo",
                &[("backend-protocol", "H2C")],
            ),
        ),
        (
            "grpc.yaml",
            route(
                "grpc",
                "grpc.test",
                "h2c-echo",
                &[("backend-protocol", "GRPC")],
            ),
        ),
        (
            "http-to-h2c.yaml",
            route("http-to-h2c", "http-to-h2c.test", "h2c-echo", &[]),
        ),
        (
            "grpcs.yaml",
            route(
                "grpcs",
                "grpcs.test",
                "h2-tls-echo",
                &[("backend-protocol", "GRPCS")],
            ),
        ),
        (
            "unknown.yaml",
            route(
                "unknown",
                "unknown.test",
                "echo",
                &[("backend-protocol", "FCGI")],
            ),
        ),
        (
            "vhost.yaml",
            route(
                "vhost",
                "vhost.test",
                "echo",
                &[("upstream-vhost", "api.internal:8080")],
            ),
        ),
        (
            "vhost-h2.yaml",
            route(
                "vhost-h2",
                "vhost-h2.test",
                "h2c-echo",
                &[
                    ("backend-protocol", "H2C"),
                    ("upstream-vhost", "api.internal"),
                ],
            ),
        ),
    ];
    let fixture = Fixture::start_with_env(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &files,
        &[],
        &[("SSL_CERT_FILE", ca_path.as_str())],
    )
    .await?;
    let get = |host: &'static str| fixture.get(CLASS, host, "/");

    // HTTPS without verification (the default): TLS, HTTP/1.1, and no SNI (as nginx's
    // proxy-ssl-server-name off).
    let reply = get("https.test").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert!(
        field(&reply, "/tls").is_some_and(|t| t.is_object()),
        "{}",
        reply.body
    );
    assert_eq!(
        field(&reply, "/tls/sni"),
        Some(&serde_json::Value::Null),
        "{}",
        reply.body
    );
    assert_eq!(text(&reply, "/version"), Some("HTTP/1.1"));

    let reply = get("sni.test").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(
        text(&reply, "/tls/sni"),
        Some("tls-echo.internal"),
        "{}",
        reply.body
    );

    // Verification against the CA from SSL_CERT_FILE: the named and the default name
    // (`<service>.<namespace>.svc`) are on the certificate, a wrong name is not.
    let reply = get("verify-named.test").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(text(&reply, "/tls/sni"), Some("tls-echo.internal"));
    let reply = get("verify-default.test").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(text(&reply, "/tls/sni"), Some("tls-echo.default.svc"));
    let reply = get("verify-wrong.test").await?;
    assert_eq!(reply.status, 502, "{}", reply.summary());

    // Plain HTTP to a TLS backend fails: the annotation is what made the above work.
    assert_eq!(get("plain-to-tls.test").await?.status, 502);

    // HTTP/2 with prior knowledge to a backend that speaks nothing else.
    for host in ["h2c.test", "grpc.test"] {
        let reply = get(host).await?;
        assert_eq!(reply.status, 200, "{host}: {}", reply.summary());
        assert_eq!(text(&reply, "/version"), Some("HTTP/2.0"), "{host}");
        assert_eq!(
            field(&reply, "/tls"),
            Some(&serde_json::Value::Null),
            "{host}"
        );
    }
    assert_eq!(get("http-to-h2c.test").await?.status, 502);

    // GRPCS: TLS with ALPN h2.
    let reply = get("grpcs.test").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(text(&reply, "/version"), Some("HTTP/2.0"));
    assert_eq!(text(&reply, "/tls/alpn"), Some("h2"));

    // An unsupported protocol is a warning and HTTP applies.
    let reply = get("unknown.test").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(field(&reply, "/tls"), Some(&serde_json::Value::Null));

    // upstream-vhost: the backend sees the configured Host; X-Forwarded-Host keeps the client's.
    let reply = get("vhost.test").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(text(&reply, "/headers/host"), Some("api.internal:8080"));
    assert_eq!(
        text(&reply, "/headers/x-forwarded-host"),
        Some("vhost.test")
    );
    let reply = get("vhost-h2.test").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(text(&reply, "/version"), Some("HTTP/2.0"));
    assert_eq!(
        text(&reply, "/authority"),
        Some("api.internal"),
        "{}",
        reply.body
    );
    assert_eq!(
        text(&reply, "/headers/x-forwarded-host"),
        Some("vhost-h2.test")
    );
    Ok(())
}
