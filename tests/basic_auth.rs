//! Basic authentication end to end, through the real binary with the manifests source: each
//! hash format `htpasswd` writes admits its user's password (and the backend sees the
//! `Authorization` header, as behind nginx), a wrong or missing password gets 401 with the
//! realm and reaches no backend, an unusable Secret fails closed (503 and a warning naming
//! the Ingress), and `satisfy` combines the credentials with a source allow-list that
//! excludes or includes the client (told apart by the loopback address it connects from).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use gatehouse_testkit::client::{client_builder, Reply};
use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, Fixture, InstanceSpec};

const NS: &str = "default";
const CLASS: &str = "web";
const NGINX: &str = "nginx.ingress.kubernetes.io/";
const WARN_TIMEOUT: Duration = Duration::from_secs(10);
/// Test-only users; each password is `<user>-test-pw` (see tests/fixtures/basic_auth).
const HTPASSWD: &str = include_str!("fixtures/basic_auth/htpasswd");
const USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// An Ingress `name` for host `<name>.test` → Service `echo`, with nginx annotations.
fn ingress(name: &str, annotations: &[(&str, &str)]) -> (String, String) {
    let mut ing = Ingress::new(NS, name).class(CLASS);
    for (key, value) in annotations {
        ing = ing.annotation(&format!("{NGINX}{key}"), value);
    }
    let yaml = ing
        .path(
            &format!("{name}.test"),
            "/",
            PathType::Prefix,
            "echo",
            "http",
        )
        .yaml();
    (format!("{name}.yaml"), yaml)
}

/// An Opaque Secret with `data` (values base64-encoded, as `kubectl create secret` writes).
fn secret(name: &str, data: &[(&str, &str)]) -> (String, String) {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata:\n  namespace: {NS}\n  name: {name}\ndata:\n"
    );
    for (key, value) in data {
        let encoded = gatehouse_testkit::base64::encode(value.as_bytes());
        yaml.push_str(&format!("  {key}: {encoded}\n"));
    }
    (format!("secret-{name}.yaml"), yaml)
}

/// GET `host/` from loopback address `from`, with basic credentials when given.
async fn get(
    fixture: &Fixture,
    from: &str,
    host: &str,
    credentials: Option<(&str, &str)>,
) -> anyhow::Result<Reply> {
    let source: IpAddr = from.parse()?;
    let client = client_builder().local_address(source).build()?;
    let mut request = client
        .get(format!("http://{}/", fixture.http(CLASS)))
        .header(reqwest::header::HOST, host);
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    Reply::read(request.send().await?).await
}

fn password(user: &str) -> String {
    format!("{user}-test-pw")
}

/// Asserts a 401 carrying `realm`'s challenge.
fn assert_challenge(reply: &Reply, realm: &str, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.summary());
    let challenge = reply
        .headers
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok());
    assert_eq!(
        challenge,
        Some(format!("Basic realm=\"{realm}\"").as_str()),
        "{what}"
    );
}

async fn start(files: Vec<(String, String)>) -> anyhow::Result<Fixture> {
    let files: Vec<(&str, String)> = files.iter().map(|(n, y)| (n.as_str(), y.clone())).collect();
    Fixture::start_with_args(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &files,
        &[],
    )
    .await
}

#[tokio::test]
async fn credentials_are_checked_for_every_hash_format() -> anyhow::Result<()> {
    let (echo, echo_yaml) = echo_service(NS, "echo", "127.0.0.1").await?;
    let map_entries: Vec<(&str, &str)> =
        HTPASSWD.lines().filter_map(|l| l.split_once(':')).collect();
    let files = vec![
        ("echo.yaml".to_string(), echo_yaml),
        secret("creds", &[("auth", HTPASSWD)]),
        secret("creds-map", &map_entries),
        secret("wrong-key", &[("htpasswd", HTPASSWD)]),
        ingress(
            "file",
            &[
                ("auth-type", "basic"),
                ("auth-secret", "creds"),
                ("auth-realm", "Staff only"),
            ],
        ),
        ingress(
            "map",
            &[
                ("auth-type", "basic"),
                ("auth-secret", "default/creds-map"),
                ("auth-secret-type", "auth-map"),
            ],
        ),
        ingress(
            "missing",
            &[("auth-type", "basic"), ("auth-secret", "gone")],
        ),
        ingress(
            "nokey",
            &[("auth-type", "basic"), ("auth-secret", "wrong-key")],
        ),
    ];
    let fixture = start(files).await?;

    for (host, realm) in [("file.test", "Staff only"), ("map.test", "")] {
        for user in USERS {
            let pw = password(user);
            let reply = get(&fixture, "127.0.0.1", host, Some((user, &pw))).await?;
            assert_eq!(reply.status, 200, "{host} {user}: {}", reply.summary());
            let sent = format!(
                "Basic {}",
                gatehouse_testkit::base64::encode(format!("{user}:{pw}").as_bytes())
            );
            assert_eq!(
                reply.echoed_header("authorization").as_deref(),
                Some(sent.as_str()),
                "{host} {user}: the backend sees the Authorization header"
            );

            let hits = echo.hits();
            let wrong = get(&fixture, "127.0.0.1", host, Some((user, "not-it"))).await?;
            assert_challenge(&wrong, realm, &format!("{host} {user} wrong password"));
            assert_eq!(
                echo.hits(),
                hits,
                "{host} {user}: a refused request reaches no backend"
            );
        }
        let hits = echo.hits();
        let none = get(&fixture, "127.0.0.1", host, None).await?;
        assert_challenge(&none, realm, &format!("{host} without credentials"));
        let stranger = get(&fixture, "127.0.0.1", host, Some(("mallory", "x"))).await?;
        assert_challenge(&stranger, realm, &format!("{host} unknown user"));
        assert_eq!(
            echo.hits(),
            hits,
            "{host}: refused requests reach no backend"
        );
    }

    // Unusable Secrets fail closed: 503, a warning naming the Ingress, no backend.
    let hits = echo.hits();
    for (name, why) in [
        ("missing", "Secret default/gone not found"),
        ("nokey", "has no key"),
    ] {
        let reply = get(
            &fixture,
            "127.0.0.1",
            &format!("{name}.test"),
            Some(("bob", "bob-test-pw")),
        )
        .await?;
        assert_eq!(reply.status, 503, "{name}: {}", reply.summary());
        assert!(
            reply.body.contains("auth-secret") && !reply.body.contains(why),
            "{name}: the public body names the annotation, the warning the reason: {}",
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
    assert_eq!(echo.hits(), hits, "refused routes reach no backend");
    drop(echo);
    Ok(())
}

#[tokio::test]
async fn satisfy_combines_credentials_and_the_allow_list() -> anyhow::Result<()> {
    let (echo, echo_yaml) = echo_service(NS, "echo", "127.0.0.1").await?;
    let protected = |name: &str, satisfy: &str, allow: &str| {
        ingress(
            name,
            &[
                ("auth-type", "basic"),
                ("auth-secret", "creds"),
                ("auth-realm", "r"),
                ("satisfy", satisfy),
                ("whitelist-source-range", allow),
            ],
        )
    };
    let files = vec![
        ("echo.yaml".to_string(), echo_yaml),
        secret("creds", &[("auth", HTPASSWD)]),
        // The allow-list excludes 127.0.0.1 or includes it.
        protected("all-excl", "all", "127.0.0.2/32"),
        protected("all-incl", "all", "127.0.0.1/32"),
        protected("any-excl", "any", "127.0.0.2/32"),
        protected("any-incl", "any", "127.0.0.1/32"),
    ];
    let fixture = start(files).await?;
    let good = Some(("bob", "bob-test-pw"));
    let bad = Some(("bob", "not-it"));
    // (host, client, credentials, status)
    let cases = [
        // all: the address must be listed and the credentials right.
        ("all-excl.test", "127.0.0.1", good, 403),
        ("all-excl.test", "127.0.0.1", None, 403),
        ("all-incl.test", "127.0.0.1", None, 401),
        ("all-incl.test", "127.0.0.1", bad, 401),
        ("all-incl.test", "127.0.0.1", good, 200),
        // any: either suffices.
        ("any-excl.test", "127.0.0.1", None, 401),
        ("any-excl.test", "127.0.0.1", bad, 401),
        ("any-excl.test", "127.0.0.1", good, 200),
        ("any-excl.test", "127.0.0.2", None, 200),
        ("any-incl.test", "127.0.0.1", None, 200),
        ("any-incl.test", "127.0.0.1", bad, 200),
    ];
    for (host, from, credentials, status) in cases {
        let hits = echo.hits();
        let reply = get(&fixture, from, host, credentials).await?;
        let what = format!("{host} from {from} with {credentials:?}");
        assert_eq!(reply.status, status, "{what}: {}", reply.summary());
        if status == 200 {
            assert_eq!(reply.backend().as_deref(), Some("echo"), "{what}");
        } else {
            assert_eq!(echo.hits(), hits, "{what}: refused, so no backend saw it");
        }
        if status == 401 {
            assert_challenge(&reply, "r", &what);
        }
    }
    drop(echo);
    Ok(())
}
