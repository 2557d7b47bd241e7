//! The API server going away, coming back, and expiring watches (410 Gone) never drop routes.

mod kube_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_testkit::yaml;
use gatehouse_testkit::EchoBackend;
use kube_support::{Cluster, Replica};

const NS: &str = "apps";
const WAIT: Duration = Duration::from_secs(30);

fn ingress(name: &str, host: &str) -> String {
    kube_support::internal_ingress(NS, name, host)
}

/// Sends requests to `host` until stopped (or 60 s), counting successes and failures.
fn traffic(
    addr: std::net::SocketAddr,
    host: &'static str,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicU64>,
    Arc<AtomicU64>,
    tokio::task::JoinHandle<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let (s, o, b) = (stop.clone(), ok.clone(), bad.clone());
    let handle = tokio::spawn(async move {
        let client = gatehouse_testkit::http_client();
        let started = Instant::now();
        while !s.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(60) {
            match gatehouse_testkit::get(&client, addr, host, "/").await {
                Ok(r) if r.status == 200 => o.fetch_add(1, Ordering::SeqCst),
                _ => b.fetch_add(1, Ordering::SeqCst),
            };
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    (stop, ok, bad, handle)
}

/// The API server, an echo backend on `ip`, and a replica routing `stable.example` to it.
async fn stable_route(ip: &str) -> anyhow::Result<(Cluster, EchoBackend, Replica)> {
    let cluster = Cluster::start().await?;
    let echo = EchoBackend::start("a", gatehouse_testkit::any_port(ip)).await?;
    cluster.apply_yaml(&yaml::backend(NS, "svc", echo.addr().port(), &[(ip, true)]))?;
    cluster.apply_yaml(&ingress("stable", "stable.example"))?;
    let gh = Replica::start(&cluster, "r1", &[("internal", "")], &[]).await?;
    gh.wait_routed("internal", "stable.example", Some("a"), WAIT)
        .await?;
    Ok((cluster, echo, gh))
}

#[tokio::test]
async fn api_server_outage_keeps_serving_and_catches_up() -> anyhow::Result<()> {
    let (cluster, _echo, gh) = stable_route("127.0.7.1").await?;
    // An Ingress that will be deleted while gatehouse cannot see the API server.
    cluster.apply_yaml(&ingress("leaving", "leaving.example"))?;
    gh.wait_routed("internal", "leaving.example", Some("a"), WAIT)
        .await?;

    let (stop, ok, bad, handle) = traffic(gh.http["internal"], "stable.example");
    let mark = gh.gh.stderr_mark();
    cluster.api.stop().await;
    // gatehouse has noticed the outage: every watched kind failed to watch again; and it
    // served traffic after that.
    let deadline = Instant::now() + WAIT;
    loop {
        let failed = failed_watch_kinds(&gh.gh.stderr_text()[mark..]);
        if failed.len() >= KINDS_WATCHED {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not every watch failed within {WAIT:?} of the outage (failed: {failed:?}):\n{}",
            gatehouse_testkit::process::tail(&gh.gh.stderr_text(), 3000)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let served = ok.load(Ordering::SeqCst);
    while ok.load(Ordering::SeqCst) < served + 20 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no traffic served during the outage"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Changes made while gatehouse cannot see the API server.
    cluster.apply_yaml(&ingress("during", "during.example"))?;
    cluster.delete_ingress(NS, "leaving");
    let (status, _) = gatehouse_testkit::admin::readyz(gh.admin).await?;
    assert_eq!(status, 200, "stays ready on its last good tables");
    assert_eq!(
        gh.get("internal", "during.example", "/").await?.status,
        404,
        "not seen yet"
    );
    assert_eq!(
        gh.get("internal", "leaving.example", "/").await?.status,
        200,
        "the deletion is not seen yet either: the last good table keeps serving"
    );

    cluster.api.restart().await?;
    let caught_up = gh
        .wait_routed("internal", "during.example", Some("a"), WAIT)
        .await?;
    // The deletion made during the outage is caught up too.
    gh.wait_routed("internal", "leaving.example", None, WAIT)
        .await?;
    stop.store(true, Ordering::SeqCst);
    handle.await?;
    let (ok, bad) = (ok.load(Ordering::SeqCst), bad.load(Ordering::SeqCst));
    eprintln!("outage: {ok} requests ok, {bad} failed; caught up {caught_up:?} after restart");
    assert!(ok > 50, "traffic flowed during the outage ({ok})");
    assert_eq!(bad, 0, "no request failed while the API server was away");
    Ok(())
}

#[tokio::test]
async fn watch_expiry_410_relists_without_dropping_routes() -> anyhow::Result<()> {
    let (cluster, _echo, gh) = stable_route("127.0.7.2").await?;

    let (stop, ok, bad, handle) = traffic(gh.http["internal"], "stable.example");
    let lists_before = list_count(&cluster);
    let mut expired_watches = 0;
    for round in 0..3 {
        // Wait until gatehouse watches again (after the previous round's relist), so every
        // compaction really hits its open watches with an ERROR 410.
        let watching = Instant::now();
        while open_watches(&cluster) < KINDS_WATCHED {
            anyhow::ensure!(
                watching.elapsed() < WAIT,
                "round {round}: only {} of {KINDS_WATCHED} watches open after {WAIT:?}",
                open_watches(&cluster)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        expired_watches += cluster.api.compact();
        cluster.apply_yaml(&ingress(
            &format!("after-{round}"),
            &format!("after{round}.example"),
        ))?;
        gh.wait_routed(
            "internal",
            &format!("after{round}.example"),
            Some("a"),
            WAIT,
        )
        .await?;
    }
    stop.store(true, Ordering::SeqCst);
    handle.await?;
    let relists = list_count(&cluster) - lists_before;
    let (ok, bad) = (ok.load(Ordering::SeqCst), bad.load(Ordering::SeqCst));
    eprintln!(
        "410: {expired_watches} watches expired, {relists} relists, {ok} requests ok, {bad} failed"
    );
    assert!(
        expired_watches >= 3 * KINDS_WATCHED,
        "each compaction sent ERROR 410 to every open watch ({expired_watches})"
    );
    assert!(relists >= 3, "every compaction forces a relist ({relists})");
    assert!(ok > 0);
    assert_eq!(bad, 0, "no route dropped across relists");
    Ok(())
}

/// The kinds a replica always watches: IngressClass, Ingress, Service, EndpointSlice, Secret.
const KINDS_WATCHED: usize = 5;

/// The kinds named in "watch failed" lines of `stderr`.
fn failed_watch_kinds(stderr: &str) -> std::collections::BTreeSet<String> {
    stderr
        .lines()
        .filter(|l| l.contains("watch failed"))
        .filter_map(|l| l.split("kind=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|kind| kind.trim_matches('"').to_string())
        .collect()
}

fn open_watches(cluster: &Cluster) -> usize {
    cluster.api.open_watches()
}

fn list_count(cluster: &Cluster) -> usize {
    cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && !r.is_watch() && r.path.ends_with("/ingresses"))
        .count()
}
