//! Plain HTTP → HTTPS redirects (ssl-redirect, force-ssl-redirect, instances without HTTPS)
//! and the ACME HTTP-01 path, which is never redirected and routes to cert-manager's solver.

mod tls_support;

use gatehouse_testkit::tlsgen::TestCa;
use gatehouse_testkit::yaml::{documents, tls_secret, Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, EchoBackend, Fixture, InstanceSpec};
use tls_support::{
    header, http_get, https_instance, https_of, no_redirect_client, probe_get, with_tls, NS,
};

const CLASS: &str = "tls";
const SSL_REDIRECT: &str = "nginx.ingress.kubernetes.io/ssl-redirect";
const FORCE_SSL_REDIRECT: &str = "nginx.ingress.kubernetes.io/force-ssl-redirect";

/// Ingresses covering every redirect case, all routed to one echo backend:
/// - `secure.test`: TLS, default redirect;
/// - `optout.test`: TLS with ssl-redirect "false";
/// - `forced.test`: no TLS, force-ssl-redirect "true";
/// - `open.test`: no TLS;
/// - `shared.test`: TLS in Ingress `secure`, a further path in Ingress `shared` without TLS.
fn manifests(ca: &TestCa, svc: String) -> anyhow::Result<Vec<(&'static str, String)>> {
    let secure = with_tls(
        &Ingress::new(NS, "secure")
            .class(CLASS)
            .path("secure.test", "/", PathType::Prefix, "echo", "http")
            .path("shared.test", "/", PathType::Prefix, "echo", "http")
            .yaml(),
        &[(&["secure.test", "shared.test"], "secure-tls")],
        &[],
    )?;
    let shared = Ingress::new(NS, "shared")
        .class(CLASS)
        .path("shared.test", "/other", PathType::Prefix, "echo", "http")
        .yaml();
    let optout = with_tls(
        &Ingress::new(NS, "optout")
            .class(CLASS)
            .path("optout.test", "/", PathType::Prefix, "echo", "http")
            .yaml(),
        &[(&["optout.test"], "secure-tls")],
        &[(SSL_REDIRECT, "false")],
    )?;
    let forced = with_tls(
        &Ingress::new(NS, "forced")
            .class(CLASS)
            .path("forced.test", "/", PathType::Prefix, "echo", "http")
            .yaml(),
        &[],
        &[(FORCE_SSL_REDIRECT, "true")],
    )?;
    let open = Ingress::new(NS, "open")
        .class(CLASS)
        .path("open.test", "/", PathType::Prefix, "echo", "http")
        .path(
            "open.test",
            "/.well-known/acme-challenge/abc",
            PathType::Exact,
            "echo",
            "http",
        )
        .yaml();
    let leaf = ca.leaf(&["secure.test", "shared.test", "optout.test"])?;
    Ok(vec![
        ("svc.yaml", svc),
        (
            "ingresses.yaml",
            documents(&[secure, shared, optout, forced, open]),
        ),
        (
            "secret.yaml",
            tls_secret(NS, "secure-tls", &leaf.chain_pem, &leaf.key_pem),
        ),
    ])
}

async fn start(ip: &str, instance: InstanceSpec) -> anyhow::Result<(Fixture, EchoBackend)> {
    let ca = TestCa::new("redirect test ca")?;
    let (echo, svc) = echo_service(NS, "echo", ip).await?;
    let files = manifests(&ca, svc)?;
    let fixture = Fixture::start(tls_support::bin(), vec![instance], &files).await?;
    Ok((fixture, echo))
}

#[tokio::test]
async fn plain_http_to_tls_hosts_is_redirected() -> anyhow::Result<()> {
    let instance = https_instance(CLASS, "127.0.0.1");
    let http = instance.http;
    let https = https_of(&instance);
    let (_fixture, echo) = start("127.0.10.1", instance).await?;
    let client = no_redirect_client()?;

    let cases = [
        // (Host header, path and query, expected Location)
        (
            "secure.test",
            "/a/b?x=1&y=two",
            "https://secure.test/a/b?x=1&y=two",
        ),
        ("secure.test:8080", "/", "https://secure.test/"),
        ("secure.test:80", "/p%20q?z", "https://secure.test/p%20q?z"),
        // TLS for a host in any Ingress of the class redirects that host's other paths too.
        (
            "shared.test",
            "/other/x?k=v",
            "https://shared.test/other/x?k=v",
        ),
        // force-ssl-redirect redirects without TLS.
        ("forced.test:1234", "/f?g=h", "https://forced.test/f?g=h"),
    ];
    for (host, path, location) in cases {
        let reply = http_get(&client, http, host, path).await?;
        assert_eq!(reply.status, 308, "{host}{path}: {}", reply.summary());
        assert_eq!(
            header(&reply, "location").as_deref(),
            Some(location),
            "{host}{path}"
        );
        assert_eq!(
            header(&reply, "strict-transport-security"),
            None,
            "{host}{path}: no HSTS over plain HTTP"
        );
    }
    assert_eq!(echo.hits(), 0, "redirects never reach the backend");

    // ssl-redirect "false": proxied over plain HTTP.
    let reply = http_get(&client, http, "optout.test", "/o?p=1").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.echoed("uri").as_deref(), Some("/o?p=1"));
    assert_eq!(
        reply.echoed_header("x-forwarded-proto").as_deref(),
        Some("http")
    );
    assert_eq!(header(&reply, "strict-transport-security"), None);
    // No TLS, no annotation: proxied.
    let reply = http_get(&client, http, "open.test", "/x").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(echo.hits(), 2);

    // The redirect target works: the same request over HTTPS is proxied.
    let (_, reply) = probe_get(https, "secure.test", "/a/b?x=1&y=two").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.echoed("uri").as_deref(), Some("/a/b?x=1&y=two"));
    // A forced host has no certificate of its own but is served over HTTPS all the same.
    let (_, reply) = probe_get(https, "forced.test", "/f").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    Ok(())
}

#[tokio::test]
async fn instance_without_https_never_redirects() -> anyhow::Result<()> {
    let instance = InstanceSpec::http(CLASS, free_addr("127.0.0.1"));
    let http = instance.http;
    let (_fixture, echo) = start("127.0.10.2", instance).await?;
    let client = no_redirect_client()?;
    for host in ["secure.test", "shared.test", "forced.test", "optout.test"] {
        let reply = http_get(&client, http, host, "/n?m=1").await?;
        assert_eq!(reply.status, 200, "{host}: {}", reply.summary());
        assert_eq!(reply.echoed("uri").as_deref(), Some("/n?m=1"));
        assert_eq!(header(&reply, "location"), None);
    }
    assert_eq!(echo.hits(), 4);
    Ok(())
}

/// cert-manager's HTTP-01 solver Ingress for `secure.test`: an Exact path for one token,
/// admitting every source, backed by the solver Service.
fn solver_ingress(token: &str) -> String {
    Ingress::new(NS, "cm-acme-http-solver-abcde")
        .class(CLASS)
        .annotation(
            "nginx.ingress.kubernetes.io/whitelist-source-range",
            "0.0.0.0/0,::/0",
        )
        .path(
            "secure.test",
            &format!("/.well-known/acme-challenge/{token}"),
            PathType::Exact,
            "solver",
            "http",
        )
        .yaml()
}

/// Challenge requests for tokens gatehouse does not hold are routed like any request and never
/// redirected, so cert-manager's solver receives the CA's plain-HTTP validation even on a host
/// with TLS; unrouted ones get the ordinary 404. (gatehouse's own tokens are answered before
/// routing: `tests/acme_manifests.rs`, where the host's "/" route would otherwise take them.)
#[tokio::test]
async fn acme_challenge_path_routes_to_its_solver_unredirected() -> anyhow::Result<()> {
    let instance = https_instance(CLASS, "127.0.0.1");
    let http = instance.http;
    let https = https_of(&instance);
    let ca = TestCa::new("redirect test ca")?;
    let (echo, svc) = echo_service(NS, "echo", "127.0.10.3").await?;
    let (solver, solver_svc) = echo_service(NS, "solver", "127.0.10.4").await?;
    let mut files = manifests(&ca, svc)?;
    files.push((
        "solver.yaml",
        documents(&[solver_svc, solver_ingress("tok")]),
    ));
    let _fixture = Fixture::start(tls_support::bin(), vec![instance], &files).await?;
    let client = no_redirect_client()?;

    let cases = [
        // (host, path, backend) — the query never changes the decision.
        (
            "secure.test",
            "/.well-known/acme-challenge/tok",
            Some("solver"),
        ),
        (
            "secure.test",
            "/.well-known/acme-challenge/tok?x=1",
            Some("solver"),
        ),
        // A TLS host's own "/" route takes other tokens, unredirected.
        (
            "secure.test",
            "/.well-known/acme-challenge/other",
            Some("echo"),
        ),
        // An Exact route on the challenge path, and a forced redirect, alike.
        ("open.test", "/.well-known/acme-challenge/abc", Some("echo")),
        (
            "forced.test",
            "/.well-known/acme-challenge/abc",
            Some("echo"),
        ),
        // Nothing routes the host: the normal 404 of an unmatched route.
        ("unrouted.test", "/.well-known/acme-challenge/abc", None),
    ];
    for (host, path, backend) in cases {
        let reply = http_get(&client, http, host, path).await?;
        let want = if backend.is_some() { 200 } else { 404 };
        assert_eq!(reply.status, want, "{host}{path}: {}", reply.summary());
        assert_eq!(reply.backend().as_deref(), backend, "{host}{path}");
        assert_eq!(
            header(&reply, "location"),
            None,
            "{host}{path}: no redirect"
        );
        if backend.is_some() {
            let uri = reply.echoed("uri").unwrap_or_default();
            assert_eq!(
                uri, path,
                "{host}{path}: the backend sees the request as sent"
            );
            assert_eq!(
                reply.echoed_header("x-forwarded-proto").as_deref(),
                Some("http")
            );
        }
    }
    assert_eq!(solver.hits(), 2, "the solver got exactly its token");
    assert_eq!(echo.hits(), 3);
    let reply = http_get(
        &client,
        http,
        "unrouted.test",
        "/.well-known/acme-challenge/abc",
    )
    .await?;
    assert!(
        reply.summary().contains("no route for this host and path"),
        "{}",
        reply.summary()
    );

    // Over HTTPS the solver route is served too; other paths of the TLS host still redirect.
    let (_, reply) = probe_get(https, "secure.test", "/.well-known/acme-challenge/tok").await?;
    assert_eq!(reply.status, 200, "over HTTPS: {}", reply.summary());
    assert_eq!(reply.backend().as_deref(), Some("solver"));
    let reply = http_get(&client, http, "secure.test", "/.well-known/other").await?;
    assert_eq!(reply.status, 308, "{}", reply.summary());
    Ok(())
}

/// A host with TLS redirects every plain-HTTP path, also those no rule matches; gatehouse's own
/// answers over HTTPS carry HSTS; its 404 keeps the connection open.
#[tokio::test]
async fn whole_tls_host_redirects_and_own_answers_carry_hsts() -> anyhow::Result<()> {
    let ca = TestCa::new("partial test ca")?;
    let (echo, svc) = echo_service(NS, "echo", "127.0.10.9").await?;
    let partial = with_tls(
        &Ingress::new(NS, "partial")
            .class(CLASS)
            .path("partial.test", "/app", PathType::Exact, "echo", "http")
            .yaml(),
        &[(&["partial.test"], "partial-tls")],
        &[],
    )?;
    let leaf = ca.leaf(&["partial.test"])?;
    let instance = https_instance(CLASS, "127.0.0.1");
    let (http, https) = (instance.http, https_of(&instance));
    let files = vec![
        ("svc.yaml", svc),
        ("ingress.yaml", partial),
        (
            "secret.yaml",
            tls_secret(NS, "partial-tls", &leaf.chain_pem, &leaf.key_pem),
        ),
    ];
    let _fixture = Fixture::start(tls_support::bin(), vec![instance], &files).await?;
    let client = no_redirect_client()?;

    let reply = http_get(&client, http, "partial.test", "/nothing?q=1").await?;
    assert_eq!(reply.status, 308, "{}", reply.summary());
    assert_eq!(
        header(&reply, "location").as_deref(),
        Some("https://partial.test/nothing?q=1")
    );
    // The whole-host redirect spares the ACME challenge path: an unknown token on a TLS host
    // without a solver route gets the normal 404 over plain HTTP.
    let reply = http_get(
        &client,
        http,
        "partial.test",
        "/.well-known/acme-challenge/t",
    )
    .await?;
    assert_eq!(reply.status, 404, "{}", reply.summary());
    assert_eq!(header(&reply, "location"), None);

    let (_, reply) = probe_get(https, "partial.test", "/nothing").await?;
    assert_eq!(reply.status, 404, "{}", reply.summary());
    assert_eq!(
        header(&reply, "strict-transport-security").as_deref(),
        Some("max-age=31536000; includeSubDomains"),
        "gatehouse's own HTTPS answers carry HSTS too"
    );
    assert_eq!(echo.hits(), 0);

    // Two requests, one after the other, on one plain connection: the 404 does not close it.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(http).await?;
    let req = "GET /x HTTP/1.1\r\nHost: unknown.test\r\n\r\n";
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    for round in 1..=2 {
        conn.write_all(req.as_bytes()).await?;
        while seen.matches("no route for this host and path").count() < round
            && tokio::time::Instant::now() < deadline
        {
            let n = tokio::time::timeout_at(deadline, conn.read(&mut buf)).await??;
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert_eq!(
        seen.matches("HTTP/1.1 404").count(),
        2,
        "both requests answered on one connection: {seen}"
    );
    Ok(())
}
