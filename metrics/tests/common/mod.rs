//! Test support: parse `Metrics::encode()` output (lookups come from `gatehouse_testkit::prom`)
//! and build request records.
#![allow(dead_code)]

use std::time::Duration;

use gatehouse_metrics::RequestRecord;
use gatehouse_testkit::prom::Sample;

/// Parses `Metrics::encode()` output (histogram buckets grouped per series); panics when it is
/// not valid exposition text.
pub fn scrape(text: &str) -> Vec<Sample> {
    gatehouse_testkit::prom::parse(text).expect("valid exposition text")
}

/// A matched GET to default/app → Service app, rule `app.example` `/`.
pub fn app_request(status: u16, millis: u64) -> RequestRecord<'static> {
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
        path: "/hello",
        status,
        request_bytes: 120,
        response_bytes: 2048,
        duration: Duration::from_millis(millis),
        upstream_connect: Some(Duration::from_micros(400)),
        upstream_header: Some(Duration::from_millis(millis.saturating_sub(1))),
        upstream_addr: Some("127.0.0.1:9001".parse().expect("addr")),
        client_ip: Some("127.0.0.2".parse().expect("ip")),
        request_id: "req-1",
        upstream_reused: Some(false),
        ..Default::default()
    }
}

/// A request no route matched, answered 404 by the proxy itself.
pub fn unmatched_request() -> RequestRecord<'static> {
    RequestRecord {
        class: "internal",
        method: "GET",
        host: "nope.example",
        path: "/missing",
        status: 404,
        request_bytes: 80,
        response_bytes: 150,
        duration: Duration::from_micros(300),
        client_ip: Some("127.0.0.3".parse().expect("ip")),
        request_id: "req-404",
        ..Default::default()
    }
}
