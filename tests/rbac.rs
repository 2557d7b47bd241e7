//! The RBAC that deploy/ renders grants exactly what the controller uses: every request
//! gatehouse sends to the API server in a full scenario (watches, status, leases, Events) is
//! allowed — in the namespace it goes to — by the RBAC of every deploy/ kustomization that
//! installs gatehouse, and every rule of it was used. A kustomization whose Deployment has
//! `--watch-namespace` (deploy/components/watch-namespace) is checked against a scenario run
//! with that flag: there the grants are namespaced, and a request outside them fails the test.
//! Secrets are read exactly as deploy/base/rbac.yaml's comment says: TLS Secrets by type, and
//! each Secret an Ingress names (`auth-secret`, `proxy-ssl-secret`) by name — and, under
//! `--watch-namespace`, not at all outside the watched namespaces. The ACME rules are
//! tests/acme_cluster.rs's.

mod deploy_support;
mod kube_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use gatehouse_testkit::yaml::{self, Ingress, PathType, PortRef};
use gatehouse_testkit::EchoBackend;
use kube_support::rbac::{allows, granted_scoped, needed_scoped, uses, Scoped};
use kube_support::{eventually, Cluster, Replica};
use serde_json::json;

/// The full scenario (Ingresses in `apps`, one with a missing Service, status through
/// publish-service, Events created and patched, the election Lease in `gatehouse`), run with
/// `extra` flags until every permission of `grants` has been used or 20 s have passed; returns
/// what the controller needed.
async fn scenario(extra: &[&str], grants: &BTreeSet<Scoped>) -> anyhow::Result<BTreeSet<Scoped>> {
    let cluster = Cluster::start().await?;
    let wait = Duration::from_secs(20);
    let echo = EchoBackend::start("a", gatehouse_testkit::any_port("127.0.8.1")).await?;
    cluster.apply_yaml(&yaml::backend(
        "apps",
        "svc",
        echo.addr().port(),
        &[("127.0.8.1", true)],
    ))?;
    // The LoadBalancer Service whose address Cilium LB-IPAM fills in (deploy/base).
    cluster.api.apply(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": "gatehouse", "name": "gatehouse-internal"},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.1.1.1"}]}}
    }))?;
    let ing = |name: &str, svc: &str| {
        Ingress::new("apps", name)
            .class("internal")
            .path(
                &format!("{name}.example"),
                "/",
                PathType::Prefix,
                svc,
                PortRef::Name("http".into()),
            )
            .yaml()
    };
    cluster.apply_yaml(&ing("ok", "svc"))?;
    cluster.apply_yaml(&ing("broken", "missing"))?;
    // A Secret named by an Ingress, in another namespace: watched by name (it does not exist,
    // so the Ingress answers 503; the list/watch is what matters here).
    cluster.apply_yaml(
        &Ingress::new("apps", "backend-tls")
            .class("internal")
            .annotation("nginx.ingress.kubernetes.io/backend-protocol", "HTTPS")
            .annotation(
                "nginx.ingress.kubernetes.io/proxy-ssl-secret",
                "certs/backend-ca",
            )
            .path(
                "backend-tls.example",
                "/",
                PathType::Prefix,
                "svc",
                PortRef::Name("http".into()),
            )
            .yaml(),
    )?;
    let mut flags = vec!["--lease-renew", "1", "--election-namespace", "gatehouse"];
    flags.extend_from_slice(extra);
    let gh = Replica::start(
        &cluster,
        "rbac",
        &[("internal", "publish-service=gatehouse/gatehouse-internal")],
        &flags,
    )
    .await?;
    eventually("status written", wait, || {
        cluster.ingress_status("apps", "ok") == ["10.1.1.1"]
    })
    .await?;
    let events = || {
        cluster
            .api
            .list("events.k8s.io", "v1", "events", Some("apps"))
    };
    eventually("event for the missing service", wait, || {
        !events().is_empty()
    })
    .await?;
    // The problem goes away and comes back: the recorder patches its event series.
    cluster.apply_yaml(&yaml::backend(
        "apps",
        "missing",
        echo.addr().port(),
        &[("127.0.8.1", true)],
    ))?;
    // Routed means published; a replica reconciles (writes Events) for a publish before it
    // takes the next change, so the deletion below is a separate, later reconcile.
    gh.wait_routed("internal", "broken.example", Some("a"), wait)
        .await?;
    cluster
        .api
        .delete("", "v1", "services", Some("apps"), "missing");
    eventually("event series patched", wait, || {
        cluster
            .api
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains("/events/"))
    })
    .await?;
    // Every granted permission used (the lease renewal's get + update come within a second or
    // two); on timeout the caller's assertions name what is missing.
    let _ = eventually("every granted permission used", wait, || {
        let used = needed_scoped(&cluster.api.requests());
        grants.iter().all(|g| uses(&used, g))
    })
    .await;
    // Secrets: only TLS Secrets by type and the named one by name, in its namespace — and not
    // at all when its namespace is not watched.
    let certs_watched = extra.is_empty() || extra.contains(&"certs");
    for r in cluster.api.requests() {
        if !r.path.ends_with("/secrets") {
            continue;
        }
        let selector = r.query_param("fieldSelector").unwrap_or_default();
        match selector.as_str() {
            "type=kubernetes.io/tls" => {}
            "metadata.name=backend-ca" if certs_watched => {
                assert_eq!(r.path, "/api/v1/namespaces/certs/secrets", "{r:?}")
            }
            other => panic!("Secrets read with selector {other:?} (watching {extra:?}): {r:?}"),
        }
    }
    let named = cluster.api.requests().iter().any(|r| {
        r.path == "/api/v1/namespaces/certs/secrets"
            && r.query_param("fieldSelector").as_deref() == Some("metadata.name=backend-ca")
    });
    assert_eq!(
        named, certs_watched,
        "the named Secret watched by name (watching {extra:?})"
    );
    // The event regarding the broken Ingress names it.
    let ev = events();
    assert!(
        ev.iter()
            .any(|e| e["regarding"]["name"] == json!("broken")
                && e["reason"] == json!("MissingService")),
        "{ev:?}"
    );
    Ok(needed_scoped(&cluster.api.requests()))
}

/// The watched namespaces of a Deployment's arguments.
fn watched(args: &[String]) -> Vec<String> {
    args.iter()
        .filter_map(|a| a.strip_prefix("--watch-namespace="))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_deploy_variant_grants_exactly_what_the_controller_uses() -> anyhow::Result<()> {
    let Some(kubectl) = deploy_support::kubectl()? else {
        return Ok(());
    };
    // Variant RBAC, grouped by the --watch-namespace flags its Deployments run with.
    let mut by_watch: BTreeMap<Vec<String>, Vec<(String, BTreeSet<Scoped>)>> = BTreeMap::new();
    for dir in deploy_support::kustomizations()? {
        let objects = deploy_support::render(&kubectl, &dir)?;
        let deployments = deploy_support::gatehouse_deployments(&objects);
        let installs = objects
            .iter()
            .any(|o| o["kind"] == "ServiceAccount" && o["metadata"]["name"] == "gatehouse");
        if deployments.is_empty() || !installs {
            continue;
        }
        let watch: BTreeSet<Vec<String>> = deployments
            .iter()
            .map(|d| watched(&deploy_support::args(d)))
            .collect();
        assert_eq!(
            watch.len(),
            1,
            "{dir}: Deployments watch different namespaces"
        );
        for d in &deployments {
            assert_eq!(
                d["spec"]["template"]["spec"]["serviceAccountName"], "gatehouse",
                "{dir}"
            );
        }
        let key = watch.into_iter().next().unwrap();
        // The ACME roles are tests/acme_cluster.rs's.
        let grants = granted_scoped(&objects, |role| !role.starts_with("gatehouse-acme"));
        by_watch.entry(key).or_default().push((dir, grants));
    }
    assert!(
        by_watch.contains_key(&Vec::new()),
        "no cluster-wide variant rendered"
    );
    assert!(by_watch.len() >= 2, "no --watch-namespace variant rendered");

    for (watch, variants) in &by_watch {
        let mut extra = Vec::new();
        for ns in watch {
            extra.push("--watch-namespace");
            extra.push(ns.as_str());
        }
        // The variants of one group should grant the same; the scenario waits for the union.
        let union: BTreeSet<Scoped> = variants.iter().flat_map(|(_, g)| g.clone()).collect();
        let used = scenario(&extra, &union).await?;
        for (dir, grants) in variants {
            let missing: Vec<_> = used.iter().filter(|u| !allows(grants, u)).collect();
            let unused: Vec<_> = grants.iter().filter(|g| !uses(&used, g)).collect();
            assert!(
                missing.is_empty(),
                "{dir} (watch {watch:?}): used but not granted: {missing:?}"
            );
            assert!(
                unused.is_empty(),
                "{dir} (watch {watch:?}): granted but never used (remove it): {unused:?}"
            );
        }
    }
    Ok(())
}
