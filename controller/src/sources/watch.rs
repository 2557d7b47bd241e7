//! Watches a manifests directory and publishes a new snapshot after each change. Bursts of file
//! events are coalesced by a short hold-off; a slow periodic rescan covers missed events.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use std::sync::Arc;

use super::manifests::ManifestDir;
use crate::acme::manager::{AcmeFeed, Published};
use crate::publish::Publisher;

/// Quiet time after a file event before the directory is re-read.
const HOLD_OFF: Duration = Duration::from_millis(15);
/// Upper bound on how long a continuous burst can delay a re-read.
const HOLD_OFF_CAP: Duration = Duration::from_millis(200);
/// Safety-net rescan period (content hashes make an unchanged rescan cheap).
const RESCAN: Duration = Duration::from_secs(5);

/// The watcher could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {dir}: {source}")]
pub struct WatchError {
    dir: PathBuf,
    source: notify::Error,
}

/// Loads `dir` (and `extra` directories, such as where ACME writes issued Secrets), publishes
/// it, then republishes on every change until the task is dropped.
pub async fn watch_manifests(
    dir: PathBuf,
    extra: Vec<PathBuf>,
    mut publisher: Publisher,
    feed: Option<AcmeFeed>,
) -> Result<(), WatchError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading the files ourselves raises access events: reacting to them would rescan in
        // a loop. Only changes matter.
        if event
            .as_ref()
            .is_ok_and(|e| matches!(e.kind, notify::EventKind::Access(_)))
        {
            return;
        }
        // The receiver only goes away at shutdown.
        let _ = tx.send(event);
    })
    .map_err(|source| WatchError {
        dir: dir.clone(),
        source,
    })?;
    watcher
        .watch(&dir, RecursiveMode::Recursive)
        .map_err(|source| WatchError {
            dir: dir.clone(),
            source,
        })?;

    let mut manifests = ManifestDir::new(dir);
    for extra in extra {
        std::fs::create_dir_all(&extra).map_err(|e| WatchError {
            dir: extra.clone(),
            source: notify::Error::io(e),
        })?;
        watcher
            .watch(&extra, RecursiveMode::Recursive)
            .map_err(|source| WatchError {
                dir: extra.clone(),
                source,
            })?;
        manifests = manifests.with_dir(extra);
    }
    let mut publish = |manifests: &ManifestDir| {
        let snapshot = manifests.snapshot();
        let outcome = publisher.publish(&snapshot);
        if let Some(feed) = &feed {
            feed.send_replace(Some(Arc::new(Published {
                snapshot,
                members: outcome.members,
            })));
        }
    };
    let mut reported: HashMap<String, String> = HashMap::new();
    let scan = manifests.scan();
    report_errors(&scan.errors, &mut reported);
    publish(&manifests);
    tracing::info!(dirs = ?manifests.dirs(), "manifests loaded");

    loop {
        tokio::select! {
            event = rx.recv() => {
                if event.is_none() {
                    return Ok(());
                }
                coalesce(&mut rx).await;
            }
            _ = tokio::time::sleep(RESCAN) => {}
        }
        let scan = manifests.scan();
        report_errors(&scan.errors, &mut reported);
        if scan.changed {
            publish(&manifests);
        }
    }
}

/// Waits until events stop for [`HOLD_OFF`] (at most [`HOLD_OFF_CAP`]), draining them.
async fn coalesce<T>(rx: &mut mpsc::UnboundedReceiver<T>) {
    let deadline = tokio::time::Instant::now() + HOLD_OFF_CAP;
    loop {
        let quiet = tokio::time::sleep(HOLD_OFF);
        tokio::select! {
            _ = quiet => return,
            _ = tokio::time::sleep_until(deadline) => return,
            e = rx.recv() => if e.is_none() { return },
        }
    }
}

/// Logs each file's error once, until the file changes or is fixed.
fn report_errors(
    errors: &[super::manifests::ManifestError],
    reported: &mut HashMap<String, String>,
) {
    let mut now: HashMap<String, String> = HashMap::new();
    for e in errors {
        let msg = e.to_string();
        let file = msg.split(':').next().unwrap_or_default().to_string();
        if reported.get(&file) != Some(&msg) {
            tracing::error!("manifest not applied, last good content kept: {msg}");
        }
        now.insert(file, msg);
    }
    *reported = now;
}
