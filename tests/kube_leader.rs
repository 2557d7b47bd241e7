//! Status from the leader only: the published Service's address lands in every Ingress of the
//! class; killing the leader moves the writing to the other replica within the lease duration.

mod kube_support;

use std::time::{Duration, Instant};

use gatehouse_testkit::EchoBackend;
use gatehouse_testkit::{admin, yaml};
use kube_support::{eventually, lease_holder, Cluster, Replica};
use serde_json::json;

const NS: &str = "apps";
const WAIT: Duration = Duration::from_secs(20);

fn ingress(name: &str, host: &str) -> String {
    kube_support::internal_ingress(NS, name, host)
}

fn status_writes(cluster: &Cluster) -> usize {
    cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/status"))
        .count()
}

#[tokio::test]
async fn only_the_leader_writes_status_and_a_new_leader_takes_over() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let echo = EchoBackend::start("a", gatehouse_testkit::any_port("127.0.6.1")).await?;
    cluster.apply_yaml(&yaml::backend(
        NS,
        "svc",
        echo.addr().port(),
        &[("127.0.6.1", true)],
    ))?;
    // The LoadBalancer Service whose address Cilium LB-IPAM would fill in.
    cluster.api.apply(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": "gatehouse", "name": "gatehouse-internal"},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.10.240"}]}}
    }))?;
    cluster.apply_yaml(&ingress("first", "first.example"))?;

    let flags = [
        "--publish-service",
        "gatehouse/gatehouse-internal",
        "--election-namespace",
        "gatehouse",
        "--lease-duration",
        "3",
        "--lease-renew",
        "1",
    ];
    let a = Replica::start(&cluster, "replica-a", &[("internal", "")], &flags).await?;
    eventually("replica-a holds the lease", WAIT, || {
        lease_holder(&cluster).as_deref() == Some("replica-a")
    })
    .await?;
    let b = Replica::start(&cluster, "replica-b", &[("internal", "")], &flags).await?;

    eventually("status of first", WAIT, || {
        cluster.ingress_status(NS, "first") == ["192.168.10.240"]
    })
    .await?;
    cluster.apply_yaml(&ingress("second", "second.example"))?;
    eventually("status of second", WAIT, || {
        cluster.ingress_status(NS, "second") == ["192.168.10.240"]
    })
    .await?;
    // Both replicas serve traffic; only the leader wrote status.
    a.wait_routed("internal", "second.example", Some("a"), WAIT)
        .await?;
    b.wait_routed("internal", "second.example", Some("a"), WAIT)
        .await?;
    let b_generation = admin::generation(b.admin, "internal").await?;
    // The leader logs after the API answered its patch, so the line may trail the status.
    a.gh.wait_for_stderr("status updated", WAIT).await?;

    // The LB address changes: the leader rewrites every Ingress.
    cluster.api.apply(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": "gatehouse", "name": "gatehouse-internal"},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.10.241"}]}}
    }))?;
    eventually("status follows the Service", WAIT, || {
        cluster.ingress_status(NS, "first") == ["192.168.10.241"]
            && cluster.ingress_status(NS, "second") == ["192.168.10.241"]
    })
    .await?;
    // Anchors for the negatives: the leader has written the status of this later change, and
    // the follower has published it (a replica reconciles each publish before taking the next),
    // so whatever either would have written for the earlier changes has been written.
    b.gh.wait_generation_above(b.admin, "internal", b_generation, WAIT)
        .await?;
    assert!(
        !b.gh.stderr_text().contains("status updated"),
        "follower must not write status:\n{}",
        b.gh.stderr_text()
    );
    assert_eq!(
        status_writes(&cluster),
        4,
        "one write per Ingress and address, only when the value changes"
    );

    // Kill the leader: replica-b takes the lease within the lease duration (+ renew slack) and
    // writes the next change.
    drop(a);
    let killed = Instant::now();
    eventually("replica-b takes over", Duration::from_secs(15), || {
        lease_holder(&cluster).as_deref() == Some("replica-b")
    })
    .await?;
    let takeover = killed.elapsed();
    cluster.apply_yaml(&ingress("third", "third.example"))?;
    eventually("status of third by the new leader", WAIT, || {
        cluster.ingress_status(NS, "third") == ["192.168.10.241"]
    })
    .await?;
    b.gh.wait_for_stderr("became leader", WAIT).await?;
    // Logged once the API has answered the patch: it can trail the status the test just saw.
    b.gh.wait_for_stderr("status updated", WAIT).await?;
    eprintln!("leader killed -> new leader after {takeover:?} (lease duration 3 s)");
    assert!(
        takeover < Duration::from_secs(8),
        "takeover took {takeover:?}"
    );
    Ok(())
}
