//! Cost of `AccessLog::log` and `Metrics::observe_request` per call (a simple timing loop;
//! run with `cargo bench -p gatehouse-metrics`).

use std::hint::black_box;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use gatehouse_metrics::{AccessLog, Metrics, MetricsOptions, RequestRecord};

/// An output that discards everything, so only our side is measured.
struct Discard;

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn record() -> RequestRecord<'static> {
    RequestRecord {
        class: "internal",
        namespace: "default",
        ingress: "app",
        service: "app",
        service_port: "http",
        rule_host: "app.example",
        rule_path: "/",
        method: "GET",
        host: "app.example",
        path: "/api/v1/items",
        status: 200,
        request_bytes: 420,
        response_bytes: 4096,
        duration: Duration::from_micros(1830),
        upstream_connect: None,
        upstream_header: Some(Duration::from_micros(1500)),
        upstream_addr: Some("127.0.0.1:9001".parse().expect("addr")),
        client_ip: Some("127.0.0.2".parse().expect("ip")),
        request_id: "5f0c6c1e-8a1b-4a47-9d7e-0d7d3f8d1c2a",
        upstream_reused: Some(true),
        ..Default::default()
    }
}

fn time(name: &str, iterations: u32, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let per = start.elapsed() / iterations;
    println!("{name}: {per:?} per call ({iterations} calls)");
}

fn main() {
    let rec = record();
    let log = AccessLog::json(Discard);
    time("access_log.log", 200_000, || log.log(black_box(&rec)));
    log.flush(Duration::from_secs(10));
    println!("access_log dropped lines: {}", log.dropped_lines());

    for compat in [false, true] {
        let metrics = Metrics::new(MetricsOptions {
            compat_nginx: compat,
            classes: vec!["internal".into()],
            ..Default::default()
        })
        .expect("metrics");
        time(
            &format!("metrics.observe_request (compat_nginx={compat})"),
            200_000,
            || metrics.observe_request(black_box(&rec)),
        );
    }
}
