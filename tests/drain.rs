//! Rolling replacement as Kubernetes does it: a new replica is ready, the old one gets SIGTERM.
//! The old one must turn not-ready at once, keep serving while the endpoint removal propagates
//! (`--shutdown-delay`), then stop accepting, let requests in flight finish, and exit — and a
//! client that follows readiness with a propagation lag loses no request.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{admin, echo_service, free_addr, raw_http, Fixture, InstanceSpec};

const NS: &str = "default";
const CLASS: &str = "web";
const HOST: &str = "app.test";
/// How long after the old replica turns not-ready clients still reach it (endpoint removal
/// propagating to every node); the drain delay below covers it.
const PROPAGATION_LAG: Duration = Duration::from_millis(500);
const DRAIN_ARGS: [&str; 4] = ["--shutdown-delay", "2s", "--shutdown-grace", "2s"];

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

async fn replica(files: &[(&str, String)]) -> anyhow::Result<Fixture> {
    let args: Vec<String> = DRAIN_ARGS.iter().map(|a| a.to_string()).collect();
    Fixture::start_with_args(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        files,
        &args,
    )
    .await
}

#[tokio::test]
async fn a_terminated_replica_drains_without_losing_requests() -> anyhow::Result<()> {
    let (_echo, svc) = echo_service(NS, "app", "127.0.12.1").await?;
    let route = Ingress::new(NS, "app")
        .class(CLASS)
        .path(HOST, "/", PathType::Prefix, "app", "http")
        .yaml();
    let files = [("svc.yaml", svc), ("route.yaml", route)];
    let old = replica(&files).await?;
    let new = replica(&files).await?;
    let (old_addr, new_addr) = (old.http(CLASS), new.http(CLASS));

    // The client: a fresh connection per request, to the old replica until it has been
    // not-ready for the propagation lag, then to the new one. Bounded in time and count.
    let unready_since: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let stop = Arc::new(AtomicBool::new(false));
    let (to_old, to_new, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let client = {
        let (unready_since, stop) = (unready_since.clone(), stop.clone());
        let (to_old, to_new, failed) = (to_old.clone(), to_new.clone(), failed.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            for i in 0..3000 {
                if stop.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(30) {
                    break;
                }
                let lagged = unready_since
                    .lock()
                    .ok()
                    .and_then(|t| *t)
                    .is_some_and(|t| t.elapsed() > PROPAGATION_LAG);
                let (addr, counter) = if lagged {
                    (new_addr, &to_new)
                } else {
                    (old_addr, &to_old)
                };
                match raw_http::get(addr, HOST, &format!("/r/{i}")).await {
                    Ok(reply) if reply.status == 200 => {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(reply) => push(&failed, format!("{addr}: {}", reply.summary())),
                    Err(e) => push(&failed, format!("{addr}: {e:#}")),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    // The client is under way: some requests served by the old replica before the SIGTERM.
    wait_count(&to_old, 20, "requests to the old replica before SIGTERM").await?;

    old.gatehouse.terminate()?;
    let signalled = Instant::now();
    let became_unready = loop {
        let (status, _) = admin::readyz(old.admin).await?;
        if status == 503 {
            break signalled.elapsed();
        }
        anyhow::ensure!(
            signalled.elapsed() < Duration::from_secs(2),
            "the terminated replica still reports ready"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    if let Ok(mut since) = unready_since.lock() {
        *since = Some(Instant::now());
    }
    let (status, _) = admin::readyz(new.admin).await?;
    assert_eq!(status, 200, "the new replica stays ready");

    // The old replica keeps accepting for the delay, then closes its listeners, then exits
    // once the grace is over.
    let closed = loop {
        if tokio::net::TcpStream::connect(old_addr).await.is_err() {
            break signalled.elapsed();
        }
        anyhow::ensure!(
            signalled.elapsed() < Duration::from_secs(10),
            "the terminated replica never closed its listener"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let exit_deadline = Duration::from_secs(15);
    let exited = loop {
        if old.gatehouse.exited().is_some() {
            break signalled.elapsed();
        }
        anyhow::ensure!(
            signalled.elapsed() < exit_deadline,
            "the terminated replica did not exit within {exit_deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The client goes on past the exit: more requests served by the new replica.
    let served_new = to_new.load(Ordering::SeqCst);
    wait_count(
        &to_new,
        served_new + 20,
        "requests to the new replica after the exit",
    )
    .await?;
    stop.store(true, Ordering::SeqCst);
    client.await?;

    let (to_old, to_new) = (to_old.load(Ordering::SeqCst), to_new.load(Ordering::SeqCst));
    let failed = failed.lock().map(|f| f.clone()).unwrap_or_default();
    eprintln!(
        "drain: not ready after {became_unready:?}, listener closed after {closed:?}, exited after {exited:?}; {to_old} requests to the old replica, {to_new} to the new, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "requests lost: {failed:?}");
    assert!(
        became_unready < Duration::from_secs(1),
        "not ready at once: {became_unready:?}"
    );
    assert!(
        closed >= Duration::from_secs(2),
        "listeners must keep serving for the shutdown delay: closed after {closed:?}"
    );
    assert!(
        exited >= closed,
        "in-flight requests get the grace after the listener closes"
    );
    assert!(
        to_old > 20 && to_new > 20,
        "both replicas served ({to_old}, {to_new})"
    );
    Ok(())
}

/// Waits (at most 10 s) until `counter` reaches `at_least`.
async fn wait_count(counter: &AtomicU64, at_least: u64, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.load(Ordering::SeqCst) < at_least {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what}: {} of {at_least} after 10 s",
            counter.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn push(list: &Mutex<Vec<String>>, item: String) {
    if let Ok(mut list) = list.lock() {
        list.push(item);
    }
}
