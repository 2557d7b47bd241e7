//! The test API server as a process, for benchmarks that drive gatehouse's Kubernetes source
//! (`benches/scale --source kube`): it writes a kubeconfig, prints `ready <url>`, then applies
//! each YAML file whose path arrives on a line of stdin and answers `ok <objects>` or
//! `error <why>` on stdout. It stops when stdin closes.

use std::io::{BufRead, Write};

use anyhow::Context;
use gatehouse_testapi::TestApiServer;
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let kubeconfig = match (args.next().as_deref(), args.next()) {
        (Some("--kubeconfig"), Some(path)) => path,
        _ => anyhow::bail!("usage: gatehouse-testapi --kubeconfig PATH"),
    };
    let server = TestApiServer::start().await?;
    server.write_kubeconfig(&kubeconfig)?;
    println!("ready {}", server.url());
    // stdin is read on a blocking thread; the server's tasks go on on this runtime.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(path) = rx.recv().await {
        let reply = match apply_file(&server, path.trim()) {
            Ok(n) => format!("ok {n}"),
            Err(e) => format!("error {e:#}"),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    server.stop().await;
    Ok(())
}

/// Applies every document of one (multi-document) YAML file; the number applied.
fn apply_file(server: &TestApiServer, path: &str) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let mut applied = 0;
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(doc).context("yaml document")?;
        if value.is_null() {
            continue;
        }
        server.apply(value).context("apply")?;
        applied += 1;
    }
    Ok(applied)
}
