//! deploy/base/rbac.yaml grants exactly the verbs the controller uses: every request gatehouse
//! sends to the API server in a full scenario (watch, status, leases, Events) is allowed by the
//! manifest, and every rule of the manifest was used.

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
