//! translate() at 1k and 10k Ingresses (distinct hosts, 4 paths, a Service and an EndpointSlice
//! with 3 endpoints each): the work done on every change before a swap.

// The binary runs on mimalloc; measure with the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_controller::sources::manifests::parse_value;
use gatehouse_controller::{translate, ClassConfig, Snapshot, TranslateConfig};
use serde_json::json;

fn snapshot(n: usize) -> Snapshot {
    let mut objects = Vec::new();
    for i in 0..n {
        let host = if i % 10 == 0 {
            format!("*.w{i}.scale.local")
        } else {
            format!("app-{i}.scale.local")
        };
        let paths: Vec<_> = ["/", "/api", "/api/v1", "/static"]
            .iter()
            .map(|p| json!({"path": p, "pathType": "Prefix", "backend": {"service": {"name": format!("svc-{i}"), "port": {"name": "http"}}}}))
            .collect();
        for v in [
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"namespace": "scale", "name": format!("ing-{i}")},
                "spec": {"ingressClassName": "internal", "rules": [{"host": host, "http": {"paths": paths}}]}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "scale", "name": format!("svc-{i}")},
                "spec": {"ports": [{"name": "http", "port": 80}]}}),
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"namespace": "scale", "name": format!("svc-{i}-abc"), "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
                "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
                "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}, {"addresses": ["10.0.0.3"], "conditions": {"ready": false}}]}),
        ] {
            objects.push(parse_value(v).expect("valid object"));
        }
    }
    Snapshot::from_objects(objects)
}

fn bench(c: &mut Criterion) {
    let config = TranslateConfig::new(vec![ClassConfig {
        name: "internal".into(),
        is_default: true,
        has_https: true,
    }]);
    let mut g = c.benchmark_group("translate");
    g.sample_size(10);
    for n in [1_000, 10_000] {
        let s = snapshot(n);
        g.bench_function(format!("{n}_ingresses"), |b| {
            b.iter(|| black_box(translate(black_box(&s), &config)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
