//! `proxy-ssl-secret` in cluster mode (against the test API server): the Secret an Ingress
//! names — here in another namespace — is read by name and kept current (a rotated CA applies
//! without a restart, and connections verified under the old CA are not reused), and no other
//! Secret's contents are ever requested: every request for Secrets selects either
//! `type=kubernetes.io/tls` or the named Secret.

mod kube_support;

use std::time::Duration;

use gatehouse_testkit::echo::EchoMode;
use gatehouse_testkit::tlsgen::TestCa;
use gatehouse_testkit::yaml::{self, Ingress, PathType, PortRef};
use gatehouse_testkit::EchoBackend;
use kube_support::{Cluster, Replica};

const WAIT: Duration = Duration::from_secs(20);
const PREFIX: &str = "nginx.ingress.kubernetes.io/";

fn ca_secret(ns: &str, name: &str, ca_pem: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata:\n  namespace: {ns}\n  name: {name}\ndata:\n  ca.crt: {}\n",
        gatehouse_testkit::base64::encode(ca_pem.as_bytes())
    )
}

/// Polls until a request to `ok.example` gets `status`.
async fn wait_status(replica: &Replica, status: u16) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + WAIT;
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        match replica.get("internal", "ok.example", "/").await {
            Ok(reply) if reply.status == status => return Ok(()),
            Ok(reply) => last = reply.summary(),
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("no {status} within {WAIT:?}; last {last}")
}

#[tokio::test]
async fn the_named_secret_is_watched_by_name_and_a_rotated_ca_applies() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let ca_a = TestCa::new("backend CA A")?;
    let ca_b = TestCa::new("backend CA B")?;
    let leaf = ca_a.leaf(&["svc.apps.svc"])?;
    let mode = EchoMode::tls(&leaf.chain_pem, &leaf.key_pem, &[b"http/1.1"])?;
    let echo = EchoBackend::start_with("a", gatehouse_testkit::any_port("127.0.8.1"), mode).await?;
    cluster.apply_yaml(&yaml::backend(
        "apps",
        "svc",
        echo.addr().port(),
        &[("127.0.8.1", true)],
    ))?;
    cluster.apply_yaml(&ca_secret("certs", "backend-ca", ca_a.cert_pem()))?;
    cluster.apply_yaml(&ca_secret("certs", "unrelated", ca_b.cert_pem()))?;
    cluster.apply_yaml(
        &Ingress::new("apps", "ok")
            .class("internal")
            .annotation(&format!("{PREFIX}backend-protocol"), "HTTPS")
            .annotation(&format!("{PREFIX}proxy-ssl-verify"), "on")
            .annotation(&format!("{PREFIX}proxy-ssl-secret"), "certs/backend-ca")
            .path(
                "ok.example",
                "/",
                PathType::Prefix,
                "svc",
                PortRef::Name("http".into()),
            )
            .yaml(),
    )?;
    let replica = Replica::start(&cluster, "ssl", &[("internal", "")], &[]).await?;

    // Ready means the named Secret was listed: the backend is verified against CA A at once.
    let reply = replica.get("internal", "ok.example", "/").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());

    // Rotated to a CA that did not sign the backend: refused without a restart, although a
    // connection verified under CA A may be pooled.
    cluster.apply_yaml(&ca_secret("certs", "backend-ca", ca_b.cert_pem()))?;
    wait_status(&replica, 502).await?;
    // And back.
    cluster.apply_yaml(&ca_secret(
        "certs",
        "backend-ca",
        &format!("{}{}", ca_b.cert_pem(), ca_a.cert_pem()),
    ))?;
    wait_status(&replica, 200).await?;

    // Deleted: the route fails closed.
    cluster
        .api
        .delete("", "v1", "secrets", Some("certs"), "backend-ca");
    wait_status(&replica, 503).await?;
    let reply = replica.get("internal", "ok.example", "/").await?;
    assert!(
        reply.body.contains("proxy-ssl-secret"),
        "the 503 names the annotation: {}",
        reply.summary()
    );
    // The Ingress keeps being reported: an Event names it and the missing Secret.
    kube_support::eventually("the Event for the refused Ingress", WAIT, || {
        cluster
            .api
            .list("events.k8s.io", "v1", "events", Some("apps"))
            .iter()
            .any(|e| {
                e["regarding"]["name"] == "ok"
                    && e["reason"] == "InvalidAnnotation"
                    && e["note"]
                        .as_str()
                        .is_some_and(|n| n.contains("Secret certs/backend-ca not found"))
            })
    })
    .await?;

    // Every request for Secrets selected TLS Secrets or the named one, in its namespace.
    cluster.assert_secrets_read_by_name("certs", "backend-ca");
    drop(echo);
    Ok(())
}
