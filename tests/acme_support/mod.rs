//! Shared parts of the ACME tests: Pebble, clients that trust a given root, and certificates
//! that are close to the end of their life.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gatehouse_testkit::tlsgen::{LeafSpec, TestCa};

/// A client that trusts only `roots_pem` and sends `host` to `addr`.
pub fn client_trusting(
    roots_pem: &str,
    host: &str,
    addr: SocketAddr,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .resolve(host, addr)
        .timeout(Duration::from_secs(5))
        .no_proxy();
    for cert in reqwest::Certificate::from_pem_bundle(roots_pem.as_bytes()).context("roots")? {
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder.build()?)
}

/// Polls a verified HTTPS GET of `https://host:port/` until it answers 200; returns how long.
pub async fn wait_verified(
    client: &reqwest::Client,
    host: &str,
    port: u16,
    timeout: Duration,
    stderr: impl Fn() -> String,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < timeout {
        match client.get(format!("https://{host}:{port}/")).send().await {
            Ok(r) if r.status() == 200 => return Ok(started.elapsed()),
            Ok(r) => last = format!("status {}", r.status()),
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Handshake failures are the client refusing the old certificate: noise here.
    let log: String = stderr()
        .lines()
        .filter(|l| !l.contains("handshake error"))
        .map(|l| format!("{l}\n"))
        .collect();
    bail!(
        "no verified HTTPS answer from {host}:{port} within {timeout:?}; last: {last}\nstderr:\n{}",
        gatehouse_testkit::process::tail(&log, 5000)
    )
}

/// A date `days` from today (negative: in the past), as rcgen wants it.
pub fn day(days: i64) -> (i32, u8, u8) {
    let d = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    (d.year(), u8::from(d.month()), d.day())
}

/// A certificate for `host` from a throwaway CA, 20 days into a 22-day life (due for renewal).
pub fn nearly_expired(host: &str) -> anyhow::Result<(TestCa, gatehouse_testkit::tlsgen::Leaf)> {
    let ca = TestCa::new("old test CA")?;
    let leaf = ca.leaf_with(&LeafSpec::new(&[host]).validity(day(-20), day(2)))?;
    Ok((ca, leaf))
}

/// A TLS Secret manifest in namespace `default`, marked as gatehouse's (as gatehouse writes
/// it): built-in ACME renews only Secrets that carry the mark.
pub fn secret_yaml(name: &str, leaf: &gatehouse_testkit::tlsgen::Leaf) -> String {
    let yaml = gatehouse_testkit::yaml::tls_secret("default", name, &leaf.chain_pem, &leaf.key_pem);
    let mut doc: serde_json::Value = match serde_yaml::from_str(&yaml) {
        Ok(doc) => doc,
        Err(e) => panic!("tls_secret YAML: {e}"),
    };
    doc["metadata"]["labels"] = serde_json::json!({"app.kubernetes.io/managed-by": "gatehouse"});
    gatehouse_testkit::yaml::to_yaml(&doc)
}

/// The same Secret without gatehouse's mark: one the user (or cert-manager) created.
pub fn foreign_secret_yaml(name: &str, leaf: &gatehouse_testkit::tlsgen::Leaf) -> String {
    gatehouse_testkit::yaml::tls_secret("default", name, &leaf.chain_pem, &leaf.key_pem)
}

/// An Ingress of `class` routing `host` to Service `service` (port "http"), opted in to ACME
/// with its certificate in Secret `secret`.
pub fn acme_ingress(
    ns: &str,
    name: &str,
    class: &str,
    host: &str,
    service: &str,
    secret: &str,
) -> String {
    gatehouse_testkit::yaml::to_yaml(&serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"namespace": ns, "name": name, "annotations": {"gatehouse.dev/acme": "true"}},
        "spec": {
            "ingressClassName": class,
            "tls": [{"hosts": [host], "secretName": secret}],
            "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": service, "port": {"name": "http"}}}}]}}],
        },
    }))
}
