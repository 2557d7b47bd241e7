//! Where the memory goes at 10k Ingresses: bytes the allocator holds for live allocations after
//! each stage (parsed objects per kind, snapshot, translation state, published tables). A
//! measuring harness, not a test: `#[ignore]`d, it asserts nothing about sizes. Run it in
//! release:
//!
//!     cargo test --release -p gatehouse-controller --test scale_memory -- --ignored --nocapture
//!
//! `SCALE_INGRESSES` sets the count (default 10000).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

mod common;

use gatehouse_controller::sources::manifests::ManifestDir;
use gatehouse_controller::translate::IncrementalTranslator;
use gatehouse_controller::{ClassConfig, TranslateConfig};

/// mimalloc, as the binary, counting the bytes of live allocations.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_mib() -> f64 {
    LIVE.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
}

#[test]
#[ignore = "measuring harness; run by hand in release"]
fn memory_at_scale() {
    let count = common::scale_count();
    let dir = tempfile::tempdir().unwrap();
    let mut manifests = ManifestDir::new(dir.path());
    manifests.scan();
    let mut before = live_mib();
    for kind in ["Ingress", "Service", "EndpointSlice"] {
        std::fs::write(
            dir.path().join(format!("{kind}.yaml")),
            common::scale_yaml(count, &[kind]),
        )
        .unwrap();
        manifests.scan();
        let now = live_mib();
        eprintln!(
            "{count} objects of kind {kind} kept by the manifests source: {:.1} MiB ({:.0} B each)",
            now - before,
            (now - before) * 1024.0 * 1024.0 / count as f64
        );
        before = now;
    }
    let snapshot = Arc::new(manifests.snapshot());
    let now = live_mib();
    eprintln!("snapshot: {:.1} MiB", now - before);
    before = now;
    let config = TranslateConfig::new(vec![ClassConfig {
        name: "bench".into(),
        is_default: true,
        has_https: false,
    }]);
    let mut translator = IncrementalTranslator::new();
    let published = translator.translate(&snapshot, &config);
    let now = live_mib();
    eprintln!(
        "translation state + published tables: {:.1} MiB ({:.0} B per Ingress)",
        now - before,
        (now - before) * 1024.0 * 1024.0 / count as f64
    );
    let with_output = live_mib();
    drop(published);
    eprintln!(
        "  of which the returned translation alone (dropped): {:.1} MiB",
        with_output - live_mib()
    );
    eprintln!("total live: {:.1} MiB", live_mib());
    // The metrics the publisher keeps per Service (its ready-endpoint gauge).
    let metrics = gatehouse_metrics::Metrics::new(gatehouse_metrics::MetricsOptions {
        classes: vec!["bench".into()],
        ..Default::default()
    })
    .unwrap();
    let before = live_mib();
    let rows: Vec<_> = snapshot
        .services
        .iter()
        .map(|s| gatehouse_metrics::ReadyEndpoints {
            namespace: &s.namespace,
            service: &s.name,
            ready: 3,
        })
        .collect();
    metrics.set_ready_endpoints(&rows);
    drop(rows);
    eprintln!(
        "ready-endpoint gauges of {} Services: {:.1} MiB",
        snapshot.services.len(),
        live_mib() - before
    );
    drop(translator);
    eprintln!("after dropping the translator: {:.1} MiB", live_mib());
}
