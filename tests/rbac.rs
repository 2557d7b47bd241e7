//! deploy/base/rbac.yaml grants exactly the verbs the controller uses: every request gatehouse
//! sends to the API server in a full scenario (watch, status, leases, Events) is allowed by the
//! manifest, and every rule of the manifest was used. Secrets are read exactly as the manifest's
//! comment says: TLS Secrets by type, and each Secret an Ingress names (`auth-secret`,
//! `proxy-ssl-secret`) by name.

mod kube_support;

use std::collections::BTreeSet;
use std::time::Duration;

use gatehouse_testkit::yaml::{self, Ingress, PathType, PortRef};
use gatehouse_testkit::EchoBackend;
use kube_support::rbac::{granted, needed_all, Permission};
use kube_support::{eventually, Cluster, Replica};
use serde_json::json;

#[tokio::test]
async fn rbac_manifest_grants_exactly_what_the_controller_uses() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let wait = Duration::from_secs(20);
    let echo = EchoBackend::start("a", gatehouse_testkit::free_addr("127.0.8.1")).await?;
    cluster.apply_yaml(&yaml::backend(
        "apps",
        "svc",
        echo.addr().port(),
        &[("127.0.8.1", true)],
    ))?;
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
    let gh = Replica::start(
        &cluster,
        "rbac",
        &[("internal", "publish-address=10.1.1.1")],
        &["--lease-renew", "1", "--election-namespace", "gatehouse"],
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
    // two); on timeout the assertions below name what is missing.
    let granted = granted(&["deploy/base/rbac.yaml"])?;
    let _ = eventually("every granted permission used", wait, || {
        needed_all(&cluster.api.requests()).is_superset(&granted)
    })
    .await;

    let used: BTreeSet<Permission> = needed_all(&cluster.api.requests());
    let missing: Vec<_> = used.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(
        missing.is_empty(),
        "used but not granted by deploy/base/rbac.yaml: {missing:?}"
    );
    assert!(
        unused.is_empty(),
        "granted but never used (remove from rbac.yaml): {unused:?}"
    );
    // Secrets: only TLS Secrets by type and the named one by name, in its namespace.
    for r in cluster.api.requests() {
        if !r.path.ends_with("/secrets") {
            continue;
        }
        let selector = r.query_param("fieldSelector").unwrap_or_default();
        match selector.as_str() {
            "type=kubernetes.io/tls" => {}
            "metadata.name=backend-ca" => {
                assert_eq!(r.path, "/api/v1/namespaces/certs/secrets", "{r:?}")
            }
            other => panic!("Secrets read with selector {other:?}: {r:?}"),
        }
    }
    assert!(
        cluster
            .api
            .requests()
            .iter()
            .any(|r| r.path == "/api/v1/namespaces/certs/secrets"
                && r.query_param("fieldSelector").as_deref() == Some("metadata.name=backend-ca")),
        "the named Secret was watched by name"
    );
    // The event regarding the broken Ingress names it.
    let ev = events();
    assert!(
        ev.iter()
            .any(|e| e["regarding"]["name"] == json!("broken")
                && e["reason"] == json!("MissingService")),
        "{ev:?}"
    );
    Ok(())
}
