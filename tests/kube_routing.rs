//! The Kubernetes source drives routing: create, update and delete of Ingress, Service and
//! EndpointSlice propagate, through kube's real client against the in-repo API server.

mod kube_support;

use std::time::{Duration, Instant};

use gatehouse_testkit::yaml::{self, Ingress, PathType, PortRef};
use gatehouse_testkit::EchoBackend;
use kube_support::{Cluster, Replica};

const NS: &str = "apps";
const WAIT: Duration = Duration::from_secs(20);

fn ingress(name: &str, class: &str, host: &str, service: &str) -> String {
    Ingress::new(NS, name)
        .class(class)
        .path(
            host,
            "/",
            PathType::Prefix,
            service,
            PortRef::Name("http".into()),
        )
        .yaml()
}

#[tokio::test]
async fn changes_in_the_api_propagate_to_routing() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let a = EchoBackend::start("a", gatehouse_testkit::any_port("127.0.5.1")).await?;
    let b = EchoBackend::start("b", gatehouse_testkit::any_port("127.0.5.2")).await?;
    cluster.apply_yaml(&yaml::backend(
        NS,
        "svc-a",
        a.addr().port(),
        &[("127.0.5.1", true)],
    ))?;
    cluster.apply_yaml(&ingress("one", "internal", "one.example", "svc-a"))?;
    let gh = Replica::start(&cluster, "r1", &[("internal", "default=true")], &[]).await?;

    // Present at start.
    gh.wait_routed("internal", "one.example", Some("a"), WAIT)
        .await?;

    // Create: a new Ingress.
    let started = Instant::now();
    cluster.apply_yaml(&ingress("two", "internal", "two.example", "svc-a"))?;
    gh.wait_routed("internal", "two.example", Some("a"), WAIT)
        .await?;
    let create = started.elapsed();

    // Update: the Service's EndpointSlice moves to another backend.
    let started = Instant::now();
    cluster.apply_yaml(&yaml::endpoint_slice(
        NS,
        "svc-a-1",
        "svc-a",
        "http",
        b.addr().port(),
        &[("127.0.5.2", true)],
    ))?;
    gh.wait_routed("internal", "one.example", Some("b"), WAIT)
        .await?;
    let update_slice = started.elapsed();

    // Update: the endpoint turns not ready → 503.
    cluster.apply_yaml(&yaml::endpoint_slice(
        NS,
        "svc-a-1",
        "svc-a",
        "http",
        b.addr().port(),
        &[("127.0.5.2", false)],
    ))?;
    let mut status = 0;
    for _ in 0..400 {
        status = gh.get("internal", "one.example", "/").await?.status;
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, 503, "no ready endpoint must answer 503");

    // Delete: the Service goes away → still 503 (route kept, warned); the Ingress goes away → 404.
    cluster.api.delete("", "v1", "services", Some(NS), "svc-a");
    // Seen once the status page reports the missing Service.
    let waiting = Instant::now();
    loop {
        let (_, routes) = gatehouse_testkit::admin::get(gh.admin, "/routes.json").await?;
        if routes.contains("MissingService") {
            break;
        }
        anyhow::ensure!(
            waiting.elapsed() < WAIT,
            "the Service deletion was never reported: {routes}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reply = gh.get("internal", "two.example", "/").await?;
    assert_eq!(
        reply.status,
        503,
        "a route whose Service is gone stays and answers 503: {}",
        reply.summary()
    );
    let started = Instant::now();
    cluster.delete_ingress(NS, "two");
    gh.wait_routed("internal", "two.example", None, WAIT)
        .await?;
    let delete = started.elapsed();
    eprintln!("propagation API change -> routed: create {create:?}, endpoint update {update_slice:?}, delete {delete:?}");
    Ok(())
}

#[tokio::test]
async fn a_burst_of_1000_ingresses_coalesces_into_few_swaps() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let a = EchoBackend::start("a", gatehouse_testkit::any_port("127.0.5.3")).await?;
    cluster.apply_yaml(&yaml::backend(
        NS,
        "svc",
        a.addr().port(),
        &[("127.0.5.3", true)],
    ))?;
    let gh = Replica::start(&cluster, "r1", &[("internal", "")], &[]).await?;
    let before = gatehouse_testkit::admin::generation(gh.admin, "internal").await?;

    let started = Instant::now();
    for i in 0..1000 {
        cluster.apply_yaml(&ingress(
            &format!("burst-{i}"),
            "internal",
            &format!("h{i}.burst.example"),
            "svc",
        ))?;
    }
    let written = started.elapsed();
    gh.wait_routed(
        "internal",
        "h999.burst.example",
        Some("a"),
        Duration::from_secs(60),
    )
    .await?;
    let routed = started.elapsed();
    // Every one of them is routed, not just the last.
    for i in (0..1000).step_by(97) {
        let r = gh
            .get("internal", &format!("h{i}.burst.example"), "/")
            .await?;
        assert_eq!(r.backend().as_deref(), Some("a"), "h{i}");
    }
    let swaps = gatehouse_testkit::admin::generation(gh.admin, "internal").await? - before;
    eprintln!("burst of 1000 Ingresses: written in {written:?}, all routed after {routed:?}, {swaps} table swaps");
    assert!(swaps >= 1, "the burst must be published");
    assert!(
        swaps <= 50,
        "1000 updates must coalesce into a handful of swaps, got {swaps}"
    );
    Ok(())
}

#[tokio::test]
async fn an_ingress_moved_between_classes_moves_between_instances_and_its_status_follows(
) -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let a = EchoBackend::start("a", gatehouse_testkit::any_port("127.0.5.4")).await?;
    cluster.apply_yaml(&yaml::backend(
        NS,
        "svc",
        a.addr().port(),
        &[("127.0.5.4", true)],
    ))?;
    cluster.apply_yaml(&ingress("mover", "internal", "mover.example", "svc"))?;
    let gh = Replica::start(
        &cluster,
        "r1",
        &[
            ("internal", "publish-address=10.0.0.10"),
            ("external", "publish-address=lb.example.net"),
        ],
        &["--lease-renew", "1"],
    )
    .await?;
    gh.wait_routed("internal", "mover.example", Some("a"), WAIT)
        .await?;
    kube_support::eventually("internal status", WAIT, || {
        cluster.ingress_status(NS, "mover") == ["10.0.0.10"]
    })
    .await?;
    assert_eq!(gh.get("external", "mover.example", "/").await?.status, 404);

    cluster.apply_yaml(&ingress("mover", "external", "mover.example", "svc"))?;
    gh.wait_routed("external", "mover.example", Some("a"), WAIT)
        .await?;
    gh.wait_routed("internal", "mover.example", None, WAIT)
        .await?;
    kube_support::eventually("external status", WAIT, || {
        cluster.ingress_status(NS, "mover") == ["lb.example.net"]
    })
    .await?;

    // Leaving our classes clears the status we wrote.
    cluster.apply_yaml(&ingress("mover", "someone-else", "mover.example", "svc"))?;
    gh.wait_routed("external", "mover.example", None, WAIT)
        .await?;
    kube_support::eventually("status cleared", WAIT, || {
        cluster.ingress_status(NS, "mover").is_empty()
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn only_tls_secrets_are_ever_requested() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    cluster.apply_yaml(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db-password, namespace: apps}\ntype: Opaque\nstringData: {password: hunter2}\n",
    )?;
    let gh = Replica::start(&cluster, "r1", &[("internal", "")], &[]).await?;
    // Anchor: gatehouse has listed Secrets (it is ready) and then opened its watch on them.
    let secrets = || -> Vec<_> {
        cluster
            .api
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/secrets"))
            .collect()
    };
    kube_support::eventually("Secrets listed and watched", WAIT, || {
        let seen = secrets();
        seen.iter().any(|r| !r.is_watch()) && seen.iter().any(|r| r.is_watch())
    })
    .await?;
    let secrets = secrets();
    for r in &secrets {
        assert_eq!(
            r.query_param("fieldSelector").as_deref(),
            Some("type=kubernetes.io/tls"),
            "every secrets request carries the TLS field selector: {r:?}"
        );
        assert!(!r.path.ends_with("/db-password"), "{r:?}");
    }
    drop(gh);
    Ok(())
}

/// An Ingress asking for access control gatehouse does not implement answers 503, and the
/// leader reports it as a Kubernetes Event whose note names the annotation.
#[tokio::test]
async fn unsupported_access_control_is_refused_and_reported_as_an_event() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let a = EchoBackend::start("a", gatehouse_testkit::any_port("127.0.5.3")).await?;
    cluster.apply_yaml(&yaml::backend(
        NS,
        "svc-a",
        a.addr().port(),
        &[("127.0.5.3", true)],
    ))?;
    cluster.apply_yaml(&ingress("open", "internal", "open.example", "svc-a"))?;
    cluster.apply_yaml(
        &Ingress::new(NS, "guarded")
            .class("internal")
            .annotation(
                "nginx.ingress.kubernetes.io/auth-tls-secret",
                "default/client-ca",
            )
            .path(
                "guarded.example",
                "/",
                PathType::Prefix,
                "svc-a",
                PortRef::Name("http".into()),
            )
            .yaml(),
    )?;
    let gh = Replica::start(&cluster, "r1", &[("internal", "default=true")], &[]).await?;
    gh.wait_routed("internal", "open.example", Some("a"), WAIT)
        .await?;
    let reply = gh.get("internal", "guarded.example", "/").await?;
    assert_eq!(reply.status, 503, "{}", reply.summary());
    assert!(
        reply
            .body
            .contains("nginx.ingress.kubernetes.io/auth-tls-secret"),
        "{}",
        reply.summary()
    );

    let event = || {
        cluster
            .api
            .list("events.k8s.io", "v1", "events", Some(NS))
            .into_iter()
            .find(|e| {
                e["regarding"]["name"] == "guarded" && e["reason"] == "UnsupportedAccessControl"
            })
    };
    kube_support::eventually("the Event for the refused Ingress", WAIT, || {
        event().is_some()
    })
    .await?;
    let note = event()
        .and_then(|e| e["note"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert!(
        note.contains("nginx.ingress.kubernetes.io/auth-tls-secret") && note.contains("503"),
        "the Event's note names the annotation and the outcome: {note}"
    );
    drop(a);
    Ok(())
}
