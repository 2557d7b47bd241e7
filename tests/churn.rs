//! Route-table churn: 1000 swaps while clients keep hitting a route that stays valid.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, get, http_client, Fixture, InstanceSpec};

const NS: &str = "default";
const CLASS: &str = "web";
const SWAPS: u64 = 1000;
/// Wall-clock cap for all swaps; the clients stop by themselves at this cap too.
const SWAP_BUDGET: Duration = Duration::from_secs(600);
/// Wait for one swap before calling the reload stuck.
const ONE_SWAP_TIMEOUT: Duration = Duration::from_secs(20);
const CLIENTS: usize = 2;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn churn_ingress(i: u64) -> String {
    Ingress::new(NS, "churn")
        .class(CLASS)
        .path(
            "churn.test",
            &format!("/v{i}"),
            PathType::Prefix,
            "churn",
            "http",
        )
        .yaml()
}

#[derive(Default)]
struct ClientStats {
    ok: AtomicU64,
    failed: AtomicU64,
    first_failures: Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_swaps_without_failed_requests() -> anyhow::Result<()> {
    let (stable_a, svc_a) = echo_service(NS, "stable-a", "127.0.7.1").await?;
    let (_churn_backend, svc_churn) = echo_service(NS, "churn", "127.0.7.2").await?;
    let stable = Ingress::new(NS, "stable")
        .class(CLASS)
        .path("stable.test", "/", PathType::Prefix, "stable-a", "http")
        .yaml();
    let fixture = Fixture::start(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &[
            ("services.yaml", yaml::documents(&[svc_a, svc_churn])),
            ("stable.yaml", stable),
            ("churn.yaml", churn_ingress(0)),
        ],
    )
    .await?;
    let listener = fixture.http(CLASS);

    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(ClientStats::default());
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let stop = stop.clone();
        let stats = stats.clone();
        clients.push(tokio::spawn(async move {
            let client = http_client();
            let mut i = 0u64;
            // Bounded: stops when told, or at the time cap on its own.
            while !stop.load(Ordering::SeqCst)
                && started.elapsed() < SWAP_BUDGET + Duration::from_secs(30)
            {
                i += 1;
                let path = format!("/c{c}/{i}");
                match get(&client, listener, "stable.test", &path).await {
                    Ok(reply)
                        if reply.status == 200
                            && reply.backend().as_deref() == Some("stable-a") =>
                    {
                        stats.ok.fetch_add(1, Ordering::SeqCst);
                    }
                    outcome => {
                        stats.failed.fetch_add(1, Ordering::SeqCst);
                        let detail = match outcome {
                            Ok(reply) => reply.summary(),
                            Err(e) => format!("{e:#}"),
                        };
                        let mut first = stats
                            .first_failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        if first.len() < 10 {
                            first.push(format!("GET {path} at {:?}: {detail}", started.elapsed()));
                        }
                    }
                }
            }
        }));
    }

    let first_generation = fixture.generation(CLASS).await?;
    let mut generation = first_generation;
    let mut swaps_done = 0;
    let mut swap_error = None;
    for i in 1..=SWAPS {
        if started.elapsed() > SWAP_BUDGET {
            swap_error = Some(format!(
                "time budget {SWAP_BUDGET:?} exhausted after {swaps_done} swaps"
            ));
            break;
        }
        fixture.manifests.write("churn.yaml", &churn_ingress(i))?;
        match fixture
            .gatehouse
            .wait_generation_above(fixture.admin, CLASS, generation, ONE_SWAP_TIMEOUT)
            .await
        {
            Ok(next) => generation = next,
            Err(e) => {
                swap_error = Some(format!("swap {i}: {e:#}"));
                break;
            }
        }
        swaps_done += 1;
    }
    let swap_time = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await?;
    }

    let ok = stats.ok.load(Ordering::SeqCst);
    let failed = stats.failed.load(Ordering::SeqCst);
    let first_failures = stats
        .first_failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    println!(
        "{swaps_done} swaps in {swap_time:?} (generation {first_generation} -> {generation}); \
         clients: {ok} ok, {failed} failed; stable backend hits {}",
        stable_a.hits()
    );
    if let Some(error) = swap_error {
        panic!("churn did not complete: {error}");
    }
    assert_eq!(
        failed,
        0,
        "failed requests during churn:\n{}",
        first_failures.join("\n")
    );
    assert!(
        generation - first_generation >= SWAPS,
        "generation rose only by {}",
        generation - first_generation
    );
    assert!(
        ok >= 200,
        "clients sent too few requests to mean anything: {ok}"
    );
    assert_eq!(stable_a.hits(), ok);

    // The last table is live: the newest churn path routes, an old one does not.
    let last = fixture
        .get(CLASS, "churn.test", &format!("/v{SWAPS}"))
        .await?;
    assert_eq!(
        (last.status, last.backend().as_deref()),
        (200, Some("churn")),
        "{}",
        last.summary()
    );
    let old = fixture.get(CLASS, "churn.test", "/v1").await?;
    assert_eq!(old.status, 404, "{}", old.summary());
    Ok(())
}
