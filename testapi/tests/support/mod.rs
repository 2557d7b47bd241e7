//! Shared helpers for the integration tests: a kube Client built from the server's kubeconfig
//! and bounded waits on watcher streams.
#![allow(dead_code)]

use std::fmt::Debug;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::{Stream, StreamExt};
use gatehouse_testapi::TestApiServer;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config, ResourceExt};
use serde_json::Value;

/// How long any single expected event may take.
pub const STEP: Duration = Duration::from_secs(10);

/// Starts a server and returns it with a kube Client made the way the controller will make
/// one: from a kubeconfig file on disk.
pub async fn start() -> anyhow::Result<(TestApiServer, Client, tempfile::TempDir)> {
    let server = TestApiServer::start().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path)?;
    let kubeconfig = Kubeconfig::read_from(&path).context("kube parses the kubeconfig")?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .context("kube accepts the kubeconfig")?;
    assert_eq!(config.default_namespace, "default");
    let client = Client::try_from(config)?;
    Ok((server, client, dir))
}

/// The next item of a stream, failing after [`STEP`].
pub async fn next<S: Stream + Unpin>(stream: &mut S) -> anyhow::Result<S::Item> {
    match tokio::time::timeout(STEP, stream.next()).await {
        Ok(Some(item)) => Ok(item),
        Ok(None) => bail!("stream ended"),
        Err(_) => bail!("no event within {STEP:?}"),
    }
}

/// The next successful watcher event, failing on errors.
pub async fn next_ok<K: Debug, S>(stream: &mut S) -> anyhow::Result<watcher::Event<K>>
where
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Unpin,
{
    next(stream).await?.context("watcher error")
}

/// Reads an Init, InitApply…, InitDone sequence and returns the names seen, sorted.
pub async fn expect_init<K, S>(stream: &mut S) -> anyhow::Result<Vec<String>>
where
    K: ResourceExt + Debug,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Unpin,
{
    match next_ok(stream).await? {
        watcher::Event::Init => {}
        other => bail!("expected Init, got {other:?}"),
    }
    let mut names = Vec::new();
    for _ in 0..1000 {
        match next_ok(stream).await? {
            watcher::Event::InitApply(obj) => names.push(obj.name_any()),
            watcher::Event::InitDone => {
                names.sort();
                return Ok(names);
            }
            other => bail!("expected InitApply/InitDone, got {other:?}"),
        }
    }
    bail!("init sequence did not finish")
}

/// A TLS or opaque secret manifest.
pub fn secret(name: &str, type_: &str, labels: Value) -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "type": type_,
        "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
    })
}

/// Polls `check` every 20ms until it holds, for at most [`STEP`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + STEP;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("timed out waiting for: {what}")
}

/// Polls `stream` on its own task so the watcher keeps running (and re-watching) while the
/// test does other things; items arrive on the returned receiver.
pub fn forward<S>(stream: S) -> futures::channel::mpsc::UnboundedReceiver<S::Item>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    let (tx, rx) = futures::channel::mpsc::unbounded();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if tx.unbounded_send(item).is_err() {
                break;
            }
        }
    });
    rx
}
