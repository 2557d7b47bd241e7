//! The seed cluster's shapes end to end, in one process with its two classes: an `internal`
//! Ingress (the default class) behind Authelia-style forward auth, speaking HTTPS to a TLS
//! backend with no body size limit (`proxy-body-size: 0`: a 2 MiB upload passes, where the
//! default 1m limit refuses it on a neighbour Ingress), and an `external` Ingress with
//! `whitelist-source-range`. Clients are told apart by the loopback address they connect from.

use std::net::IpAddr;
use std::path::Path;

use gatehouse_testkit::auth_server::{AuthKind, AuthServer};
use gatehouse_testkit::client::{client_builder, Reply};
use gatehouse_testkit::echo::EchoMode;
use gatehouse_testkit::tlsgen::TestCa;
use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{any_port, echo_service, free_addr, EchoBackend, Fixture, InstanceSpec};

const NS: &str = "home";
const NGINX: &str = "nginx.ingress.kubernetes.io/";
/// Larger than ingress-nginx's default `proxy-body-size` (1m).
const UPLOAD: usize = 2 << 20;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn ingress(
    class: &str,
    name: &str,
    host: &str,
    service: &str,
    annotations: &[(String, String)],
) -> (String, String) {
    let mut ing = Ingress::new(NS, name).class(class);
    for (key, value) in annotations {
        ing = ing.annotation(key, value);
    }
    let yaml = ing
        .path(host, "/", PathType::Prefix, service, "http")
        .yaml();
    (format!("{name}.yaml"), yaml)
}

/// A request from loopback address `from` to `class`'s listener; redirects not followed.
async fn send(
    fixture: &Fixture,
    class: &str,
    from: &str,
    host: &str,
    cookie: Option<&str>,
    body: Option<Vec<u8>>,
) -> anyhow::Result<Reply> {
    let source: IpAddr = from.parse()?;
    let client = client_builder()
        .local_address(source)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let url = format!("http://{}/upload", fixture.http(class));
    let mut request = match body {
        Some(body) => client.post(url).body(body),
        None => client.get(url),
    }
    .header(reqwest::header::HOST, host);
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    Reply::read(request.send().await?).await
}

#[tokio::test]
async fn internal_forward_auth_to_https_and_external_allow_list() -> anyhow::Result<()> {
    let authelia = AuthServer::start(AuthKind::AutheliaAuthRequest).await?;
    let ca = TestCa::new("seed cluster CA")?;
    let leaf = ca.leaf(&["vault.home.svc"])?;
    let tls_mode = EchoMode::tls(&leaf.chain_pem, &leaf.key_pem, &[b"http/1.1"])?;
    let vault = EchoBackend::start_with("vault", any_port("127.0.0.1"), tls_mode).await?;
    let vault_yaml = yaml::backend(NS, "vault", vault.addr().port(), &[("127.0.0.1", true)]);
    let (_blog, blog_yaml) = echo_service(NS, "blog", "127.0.0.1").await?;

    let mut vault_annotations = authelia.annotations("auth.home.test");
    vault_annotations.extend([
        (format!("{NGINX}backend-protocol"), "HTTPS".to_string()),
        (format!("{NGINX}proxy-body-size"), "0".to_string()),
    ]);
    let files = [
        ("vault-svc.yaml".to_string(), vault_yaml),
        ("blog-svc.yaml".to_string(), blog_yaml),
        ingress(
            "internal",
            "vault",
            "vault.home.test",
            "vault",
            &vault_annotations,
        ),
        // A neighbour on the same backend without the body annotation: the 1m default.
        ingress(
            "internal",
            "vault-limited",
            "limited.home.test",
            "vault",
            &[(format!("{NGINX}backend-protocol"), "HTTPS".to_string())],
        ),
        ingress(
            "external",
            "blog",
            "blog.example.test",
            "blog",
            &[(
                format!("{NGINX}whitelist-source-range"),
                "127.0.0.2/32".to_string(),
            )],
        ),
    ];
    let files: Vec<(&str, String)> = files.iter().map(|(n, y)| (n.as_str(), y.clone())).collect();
    let instances = vec![
        InstanceSpec::http("internal", free_addr("127.0.0.1")).default_class(),
        InstanceSpec::http("external", free_addr("127.0.0.1")),
    ];
    let fixture = Fixture::start(bin(), instances, &files).await?;

    // internal: signed out goes to Authelia's portal, nothing reaches the vault.
    let reply = send(
        &fixture,
        "internal",
        "127.0.0.1",
        "vault.home.test",
        None,
        None,
    )
    .await?;
    assert_eq!(reply.status, 302, "{}", reply.summary());
    assert_eq!(
        reply.headers.get("location").and_then(|v| v.to_str().ok()),
        Some("https://auth.home.test?rm=GET&rd=http://vault.home.test%2Fupload")
    );
    assert_eq!(vault.hits(), 0);

    // Signed in: a 2 MiB upload reaches the TLS backend with the user's identity.
    let cookie = authelia.login("alice", &["admins"]);
    let reply = send(
        &fixture,
        "internal",
        "127.0.0.1",
        "vault.home.test",
        Some(&cookie),
        Some(vec![b'x'; UPLOAD]),
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.backend().as_deref(), Some("vault"));
    assert_eq!(reply.body_len(), Some(UPLOAD as u64));
    assert_eq!(reply.echoed_header("remote-user").as_deref(), Some("alice"));
    assert_eq!(
        reply.echoed_header("remote-groups").as_deref(),
        Some("admins")
    );
    assert_eq!(authelia.contract_violations(), Vec::<String>::new());

    // The neighbour without proxy-body-size: the default limit refuses the same upload.
    let reply = send(
        &fixture,
        "internal",
        "127.0.0.1",
        "limited.home.test",
        None,
        Some(vec![b'x'; UPLOAD]),
    )
    .await?;
    assert_eq!(reply.status, 413, "{}", reply.summary());

    // external: the allow-list admits 127.0.0.2 only; the classes do not share routes.
    let inside = send(
        &fixture,
        "external",
        "127.0.0.2",
        "blog.example.test",
        None,
        None,
    )
    .await?;
    assert_eq!(inside.status, 200, "{}", inside.summary());
    assert_eq!(inside.backend().as_deref(), Some("blog"));
    let outside = send(
        &fixture,
        "external",
        "127.0.0.3",
        "blog.example.test",
        None,
        None,
    )
    .await?;
    assert_eq!(outside.status, 403, "{}", outside.summary());
    let elsewhere = send(
        &fixture,
        "internal",
        "127.0.0.2",
        "blog.example.test",
        None,
        None,
    )
    .await?;
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.summary());
    let vault_outside = send(
        &fixture,
        "external",
        "127.0.0.2",
        "vault.home.test",
        None,
        None,
    )
    .await?;
    assert_eq!(vault_outside.status, 404, "{}", vault_outside.summary());
    Ok(())
}
