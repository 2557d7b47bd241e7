//! Paginated LIST through the HTTP server with a kube Client, the way kube-rs's watcher does
//! its initial list.

mod support;

use std::time::Instant;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::json;
use support::start;

/// Lists every ConfigMap in `default` in pages of `limit`; the names in the order served.
async fn list_all(api: &Api<ConfigMap>, params: ListParams) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut params = params;
    loop {
        let page = api.list(&params).await?;
        names.extend(page.items.iter().map(|c| c.name_any()));
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(names),
        }
    }
}

/// Timing only, no assertion on speed: `TESTAPI_LIST_N` ConfigMaps (default 10000) listed in
/// pages of 500. Run with `cargo test --release -p gatehouse-testapi --test list_pages -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn time_paginated_list() -> anyhow::Result<()> {
    let n: usize = std::env::var("TESTAPI_LIST_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (server, client, _dir) = start().await?;
    for i in 0..n {
        server.apply(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:06}"), "namespace": "default",
                         "labels": {"parity": if i % 2 == 0 { "even" } else { "odd" }}},
            "data": {"k": "v"},
        }))?;
    }
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for (what, params) in [
        ("no selector", ListParams::default().limit(500)),
        (
            "labelSelector parity=even",
            ListParams::default().limit(500).labels("parity=even"),
        ),
    ] {
        let started = Instant::now();
        api.list(&params).await?;
        let first = started.elapsed();
        let started = Instant::now();
        let names = list_all(&api, params).await?;
        let took = started.elapsed();
        println!(
            "listed {} of {n} ConfigMaps ({what}) in pages of 500: {took:?} (first page alone {first:?})",
            names.len()
        );
    }
    Ok(())
}
