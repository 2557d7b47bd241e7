//! ACME with two replicas against the in-repo API server and Pebble: only the leader orders;
//! Pebble validates against the *follower's* HTTP listener, which answers from the shared
//! challenge ConfigMap; the issued Secret comes back through the watch to both replicas.

mod acme_support;
mod deploy_support;
mod kube_support;

use std::time::{Duration, Instant};

use acme_support::{client_trusting, wait_verified};
use gatehouse_testkit::pebble::Pebble;
use gatehouse_testkit::yaml;
use gatehouse_testkit::{any_port, free_addr, EchoBackend};
use kube_support::rbac::{allows, granted, granted_scoped, needed_all, needed_scoped, uses};
use kube_support::{eventually, Cluster, Replica};

const HOST: &str = "shop.acme.test";

#[tokio::test]
async fn only_the_leader_orders_and_either_replica_answers_the_challenge() -> anyhow::Result<()> {
    if !Pebble::require()? {
        return Ok(()); // skipped: Pebble is not installed (said on stderr)
    }
    let cluster = Cluster::start().await?;
    let echo = EchoBackend::start("shop", any_port("127.0.10.1")).await?;
    cluster.apply_yaml(&yaml::backend(
        "apps",
        "shop",
        echo.addr().port(),
        &[("127.0.10.1", true)],
    ))?;
    let ingress = acme_support::acme_ingress("apps", "shop", "web", HOST, "shop", "shop-tls");
    cluster.apply_yaml(&ingress)?;

    let follower_http = free_addr("127.0.0.1");
    let pebble = Pebble::start(follower_http.port()).await?;
    let roots = format!(
        "{}{}",
        pebble.issuing_roots_pem().await?,
        pebble.intermediates_pem().await?
    );
    let (a_https, b_https) = (free_addr("127.0.0.1"), free_addr("127.0.0.1"));
    let flags: Vec<String> = [
        "--acme-directory",
        &pebble.directory_url(),
        "--acme-ca-file",
        &pebble.ca_file().display().to_string(),
        "--acme-check-interval",
        "1",
        "--acme-backoff-initial",
        "1",
        "--election-namespace",
        "gatehouse",
        "--lease-duration",
        "3",
        "--lease-renew",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();

    let a_keys = format!("https={a_https}");
    let a = Replica::start(&cluster, "replica-a", &[("web", &a_keys)], &flags).await?;
    let lease = || kube_support::lease_holder(&cluster);
    eventually("replica-a leads", Duration::from_secs(20), || {
        lease().as_deref() == Some("replica-a")
    })
    .await?;
    let b_keys = format!("http={follower_http},https={b_https}");
    let b = Replica::start(&cluster, "replica-b", &[("web", &b_keys)], &flags).await?;

    let started = Instant::now();
    let secret = || {
        cluster
            .api
            .get("", "v1", "secrets", Some("apps"), "shop-tls")
    };
    eventually(
        "the issued Secret is stored",
        Duration::from_secs(60),
        || secret().is_some(),
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}\nleader:\n{}\nfollower:\n{}",
            a.gh.stderr_text(),
            b.gh.stderr_text()
        )
    })?;
    eprintln!(
        "ACME with two replicas: Secret stored {:?} after the follower started",
        started.elapsed()
    );
    assert_eq!(
        secret().map(|s| s["type"].clone()),
        Some(serde_json::json!("kubernetes.io/tls"))
    );

    // Both replicas serve the issued certificate (it came back through their watches).
    for (name, https, gh) in [("leader", a_https, &a.gh), ("follower", b_https, &b.gh)] {
        let client = client_trusting(&roots, HOST, https)?;
        // The log as it is when the wait gives up, not as it was before.
        wait_verified(&client, HOST, https.port(), Duration::from_secs(30), || {
            gh.stderr_text()
        })
        .await
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    }
    assert!(
        a.gh.stderr_text().contains("ordering certificate"),
        "the leader ordered"
    );
    assert!(
        !b.gh.stderr_text().contains("ordering certificate"),
        "the follower never orders:\n{}",
        b.gh.stderr_text()
    );
    // Pebble could only have fetched the answer from the follower's listener.
    assert!(!a.gh.stderr_text().contains("ACME order failed"));
    // Challenges are withdrawn afterwards.
    let cm = cluster.api.get(
        "",
        "v1",
        "configmaps",
        Some("gatehouse"),
        "gatehouse-acme-challenges",
    );
    let left = cm
        .as_ref()
        .and_then(|c| c["data"].as_object().map(|d| d.len()))
        .unwrap_or(0);
    assert_eq!(left, 0, "pending challenges withdrawn: {cm:?}");
    // The account is kept in the cluster.
    assert!(cluster
        .api
        .get(
            "",
            "v1",
            "secrets",
            Some("gatehouse"),
            "gatehouse-acme-account"
        )
        .is_some());

    // RBAC: the ACME manifest grants exactly what ACME added to the requests.
    let used = needed_all(&cluster.api.requests());
    let base = granted(&["deploy/base/rbac.yaml"])?;
    let acme = granted(&["deploy/components/acme/rbac.yaml"])?;
    let missing: Vec<_> = used
        .iter()
        .filter(|p| !base.contains(*p) && !acme.contains(*p))
        .collect();
    assert!(missing.is_empty(), "used but not granted: {missing:?}");
    let unused: Vec<_> = acme.iter().filter(|p| !used.contains(*p)).collect();
    assert!(
        unused.is_empty(),
        "deploy/components/acme/rbac.yaml grants unused verbs: {unused:?}"
    );
    acme_rbac_of_every_deploy_variant(&cluster.api.requests())
}

/// Every deploy/ kustomization with built-in ACME grants the ACME requests of this scenario in
/// the namespaces they went to (the Ingress in `apps`, the account and challenges in
/// `gatehouse`), and each of its ACME grants was used: the cluster-wide binding, and
/// deploy/components/watch-namespace-acme's RoleBindings (whose placeholder namespace is `apps`).
fn acme_rbac_of_every_deploy_variant(
    requests: &[gatehouse_testapi::RequestRecord],
) -> anyhow::Result<()> {
    let Some(kubectl) = deploy_support::kubectl()? else {
        return Ok(());
    };
    let acme_perms = granted(&["deploy/components/acme/rbac.yaml"])?;
    let used: std::collections::BTreeSet<_> = needed_scoped(requests)
        .into_iter()
        .filter(|(_, perm)| acme_perms.contains(perm))
        .collect();
    let mut checked = 0;
    for dir in deploy_support::kustomizations()? {
        let objects = deploy_support::render(&kubectl, &dir)?;
        let grants = granted_scoped(&objects, |role| role.starts_with("gatehouse-acme"));
        if grants.is_empty() {
            continue;
        }
        let missing: Vec<_> = used.iter().filter(|u| !allows(&grants, u)).collect();
        let unused: Vec<_> = grants.iter().filter(|g| !uses(&used, g)).collect();
        assert!(
            missing.is_empty(),
            "{dir}: ACME used but not granted: {missing:?}"
        );
        assert!(
            unused.is_empty(),
            "{dir}: ACME granted but unused: {unused:?}"
        );
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} ACME variants rendered");
    Ok(())
}
