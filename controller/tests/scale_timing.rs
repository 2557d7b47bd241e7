//! Where one change's time goes at 10k Ingresses, stage by stage, as the manifests source and
//! the reconciler run them (file scan, snapshot, translate, publish with metrics). A timing
//! harness, not a test: `#[ignore]`d, it asserts nothing about time. Run it in release:
//!
//!     cargo test --release -p gatehouse-controller --test scale_timing -- --ignored --nocapture
//!
//! `SCALE_INGRESSES` sets the count (default 10000).

// The binary runs on mimalloc; measure with the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use gatehouse_certs::CertSet;
use gatehouse_controller::publish::{Publisher, TableSink};
use gatehouse_controller::sources::manifests::ManifestDir;
use gatehouse_controller::translate::IncrementalTranslator;
use gatehouse_controller::{translate, ClassConfig, TranslateConfig};
use gatehouse_metrics::{Metrics, MetricsOptions};
use gatehouse_routes::RouteTable;

/// Keeps the last table of each class, as the proxy's instances do (so dropping the previous
/// one is part of a publish, as it is in the binary).
#[derive(Default)]
struct Keep(std::sync::Mutex<Option<RouteTable>>);

impl TableSink for Keep {
    fn publish(&self, _class: &str, table: RouteTable, _certs: CertSet) -> Option<u64> {
        *self.0.lock().unwrap() = Some(table);
        Some(1)
    }
}

fn probe_yaml(step: usize) -> String {
    format!("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: probe\n  namespace: default\nspec:\n  ingressClassName: bench\n  rules:\n  - host: probe-{step}.scale.local\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: up\n            port:\n              number: 80\n")
}

/// This process's resident set (VmRSS), MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Time this thread has spent on a CPU (`/proc/thread-self/schedstat`, ns): unlike wall time,
/// it does not grow when other processes share the machine.
fn on_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// Wall and on-CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (wall, cpu) = (Instant::now(), on_cpu());
    let out = f();
    (out, wall.elapsed(), on_cpu() - cpu)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "timing harness; run by hand in release"]
fn one_change_at_scale() {
    let count = common::scale_count();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("scale.yaml"),
        common::scale_yaml(count, &["Ingress", "Service", "EndpointSlice"]),
    )
    .unwrap();
    std::fs::write(dir.path().join("probe.yaml"), probe_yaml(0)).unwrap();
    let mut manifests = ManifestDir::new(dir.path());
    let t = Instant::now();
    manifests.scan();
    eprintln!(
        "initial scan (parse {count} Ingresses): {:?}; RSS {:.1} MiB",
        t.elapsed(),
        rss_mib()
    );

    let config = TranslateConfig::new(vec![ClassConfig {
        name: "bench".into(),
        is_default: true,
        has_https: false,
    }]);
    let metrics = Arc::new(
        Metrics::new(MetricsOptions {
            classes: vec!["bench".into()],
            ..Default::default()
        })
        .unwrap(),
    );
    let mut publisher =
        Publisher::new(Arc::new(Keep::default()), config.clone()).with_metrics(metrics);
    publisher.publish(&Arc::new(manifests.snapshot()));
    eprintln!("after the first publish: RSS {:.1} MiB", rss_mib());
    // A translator of its own, primed like the publisher's, to time the incremental path alone.
    let mut incremental = IncrementalTranslator::new();
    drop(incremental.translate(&Arc::new(manifests.snapshot()), &config));

    // Per stage: (wall, on-CPU) of each change.
    let mut stages: [(Vec<Duration>, Vec<Duration>); 5] = Default::default();
    for step in 1..=10 {
        std::fs::write(dir.path().join("probe.yaml"), probe_yaml(step)).unwrap();
        let (scan, wall, cpu) = timed(|| manifests.scan());
        assert!(scan.changed);
        stages[0].0.push(wall);
        stages[0].1.push(cpu);
        let (snapshot, wall, cpu) = timed(|| Arc::new(manifests.snapshot()));
        stages[1].0.push(wall);
        stages[1].1.push(cpu);
        let ((), wall, cpu) = timed(|| drop(translate(&snapshot, &config)));
        stages[2].0.push(wall);
        stages[2].1.push(cpu);
        let ((), wall, cpu) = timed(|| drop(incremental.translate(&snapshot, &config)));
        stages[3].0.push(wall);
        stages[3].1.push(cpu);
        let (_, wall, cpu) = timed(|| publisher.publish(&snapshot));
        stages[4].0.push(wall);
        stages[4].1.push(cpu);
    }
    eprintln!("{count} Ingresses, medians of 10 changes, wall / on-CPU:");
    let names = [
        "scan",
        "snapshot",
        "translate (+ drop)",
        "incremental translate (+ drop)",
        "publish (translate + metrics + swap + drop of the old table)",
    ];
    for (name, (wall, cpu)) in names.iter().zip(stages) {
        eprintln!("  {name}: {:?} / {:?}", median(wall), median(cpu));
    }
}
