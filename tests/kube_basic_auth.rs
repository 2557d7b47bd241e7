//! Basic authentication in cluster mode (against the test API server): the Secret an Ingress
//! names in `auth-secret` is read by name and kept current (a changed password applies without
//! a restart), and no other Secret's contents are ever requested — every request for Secrets
//! selects either `type=kubernetes.io/tls` or the named Secret.

mod kube_support;

use std::time::Duration;

use gatehouse_testkit::client::Reply;
use gatehouse_testkit::yaml::{self, Ingress, PathType, PortRef};
use gatehouse_testkit::EchoBackend;
use kube_support::{client, Cluster, Replica};

const WAIT: Duration = Duration::from_secs(20);
/// Test-only users; each password is `<user>-test-pw` (see tests/fixtures/basic_auth).
const HTPASSWD: &str = include_str!("fixtures/basic_auth/htpasswd");

fn line(user: &str) -> &'static str {
    HTPASSWD
        .lines()
        .find(|l| l.starts_with(&format!("{user}:")))
        .unwrap_or_default()
}

fn opaque(ns: &str, name: &str, auth: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata:\n  namespace: {ns}\n  name: {name}\ndata:\n  auth: {}\n",
        gatehouse_testkit::base64::encode(auth.as_bytes())
    )
}

async fn get_as(replica: &Replica, user: &str) -> anyhow::Result<Reply> {
    let response = client()
        .get(format!("http://{}/", replica.http["internal"]))
        .header(reqwest::header::HOST, "ok.example")
        .basic_auth(user, Some(format!("{user}-test-pw")))
        .send()
        .await?;
    Reply::read(response).await
}

/// Polls until `user`'s request gets `status`.
async fn wait_status(replica: &Replica, user: &str, status: u16) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + WAIT;
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        match get_as(replica, user).await {
            Ok(reply) if reply.status == status => return Ok(()),
            Ok(reply) => last = reply.summary(),
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("{user}: no {status} within {WAIT:?}; last {last}")
}

#[tokio::test]
async fn the_named_secret_is_watched_by_name_and_kept_current() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let echo = EchoBackend::start("a", gatehouse_testkit::any_port("127.0.8.1")).await?;
    cluster.apply_yaml(&yaml::backend(
        "apps",
        "svc",
        echo.addr().port(),
        &[("127.0.8.1", true)],
    ))?;
    cluster.apply_yaml(&opaque("apps", "creds", line("bob")))?;
    cluster.apply_yaml(&opaque("apps", "unrelated", line("carol")))?;
    cluster.apply_yaml(
        &Ingress::new("apps", "ok")
            .class("internal")
            .annotation("nginx.ingress.kubernetes.io/auth-type", "basic")
            .annotation("nginx.ingress.kubernetes.io/auth-secret", "creds")
            .path(
                "ok.example",
                "/",
                PathType::Prefix,
                "svc",
                PortRef::Name("http".into()),
            )
            .yaml(),
    )?;
    let replica = Replica::start(&cluster, "auth", &[("internal", "")], &[]).await?;

    // Ready means the named Secret was listed: bob is admitted at once, carol is not.
    let reply = get_as(&replica, "bob").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(get_as(&replica, "carol").await?.status, 401);

    // A changed Secret applies without a restart.
    cluster.apply_yaml(&opaque("apps", "creds", line("carol")))?;
    wait_status(&replica, "carol", 200).await?;
    assert_eq!(get_as(&replica, "bob").await?.status, 401);

    // Every request for Secrets selected TLS Secrets or the named one.
    cluster.assert_secrets_read_by_name("apps", "creds");
    drop(echo);
    Ok(())
}
