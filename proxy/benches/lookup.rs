//! Route lookup at scale: 10k exact hosts with 4 paths each plus 1k wildcard hosts. Lookup must
//! stay well under a microsecond whatever the table size (hash on host, probe per segment).
//! Path normalisation, which runs before every lookup, is measured beside it.

// The binary runs on mimalloc; measure with the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gatehouse_proxy::routes::{
    normalize_path, Backend, EndpointSet, IngressRef, PathType, RoutePolicy, RouteTable,
    RouteTableBuilder, RouteTarget,
};
use gatehouse_proxy::{Instance, ListenerSpec};

fn table(hosts: usize) -> RouteTable {
    let backend = Arc::new(Backend::new("ns", "svc", "80", EndpointSet::default(), 0));
    let mut b = RouteTableBuilder::new();
    let target = |host: &str, path: &str| {
        Arc::new(RouteTarget {
            ingress: IngressRef::new("ns", host),
            rule_host: host.into(),
            rule_path: path.into(),
            path_type: PathType::Prefix,
            backend: backend.clone(),
            policy: Arc::new(RoutePolicy::default()),
            observed: Default::default(),
        })
    };
    for i in 0..hosts {
        let host = format!("h{i}.example.com");
        for path in ["/", "/api", "/api/v1", "/static"] {
            let _ = b.add(&host, target(&host, path));
        }
    }
    for i in 0..hosts / 10 {
        let host = format!("*.w{i}.example.com");
        let _ = b.add(&host, target(&host, "/"));
    }
    b.build()
}

fn lookup(c: &mut Criterion) {
    let t = table(10_000);
    let mut g = c.benchmark_group("lookup_10k");
    g.bench_function("exact_host_hit", |b| {
        b.iter(|| {
            black_box(t.lookup(
                black_box("h5000.example.com"),
                black_box("/api/v1/items/42"),
            ))
        })
    });
    g.bench_function("exact_host_mixed_case_port", |b| {
        b.iter(|| {
            black_box(t.lookup(
                black_box("H5000.Example.com:443"),
                black_box("/static/app.js"),
            ))
        })
    });
    g.bench_function("wildcard_hit", |b| {
        b.iter(|| black_box(t.lookup(black_box("x.w500.example.com"), black_box("/"))))
    });
    g.bench_function("miss", |b| {
        b.iter(|| black_box(t.lookup(black_box("nope.example.org"), black_box("/"))))
    });
    g.finish();
}

/// Every request's path is normalised before lookup: the already-normal case must cost one
/// scan and no allocation.
fn normalize(c: &mut Criterion) {
    let mut g = c.benchmark_group("normalize_path");
    g.bench_function("already_normal", |b| {
        b.iter(|| black_box(normalize_path(black_box("/api/v1/items/42/detail.json"))))
    });
    g.bench_function("rewritten", |b| {
        b.iter(|| black_box(normalize_path(black_box("/api//v1/%69tems/./x/../42"))))
    });
    g.finish();
}

fn swap(c: &mut Criterion) {
    let instance = Instance::new("bench", ListenerSpec::default(), true);
    c.bench_function("swap_10k_table", |b| {
        b.iter_batched(
            || table(10_000),
            |t| instance.publish(t),
            BatchSize::LargeInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = lookup, normalize, swap
}
criterion_main!(benches);
