//! Watches a manifests directory and sends a new [`SourceUpdate`] after each scan that changed
//! something; a slow periodic rescan covers missed events. Bursts are coalesced by the
//! reconciler, not here: file events that are already queued are folded into one scan.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::manifests::{ManifestDir, ManifestError};
use super::{SourceUpdate, UpdateSender};

/// Safety-net rescan period (content hashes make an unchanged rescan cheap).
const RESCAN: Duration = Duration::from_secs(5);

/// The watcher could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {dir}: {source}")]
pub struct WatchError {
    dir: PathBuf,
    source: notify::Error,
}

/// Loads `dir` (and `extra` directories, such as where ACME writes issued Secrets), sends it,
/// then sends again after every change until the task is dropped or nobody receives `updates`.
pub async fn watch_manifests(
    dir: PathBuf,
    extra: Vec<PathBuf>,
    updates: UpdateSender,
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
    let send = |manifests: &ManifestDir| {
        let started = std::time::Instant::now();
        let snapshot = Arc::new(manifests.snapshot());
        let built = started.elapsed();
        let old = updates.send_replace(Some(Arc::new(SourceUpdate {
            snapshot,
            publish_services: Vec::new(),
        })));
        // Where a change's time goes, stage by stage (with the reconciler's and publisher's).
        tracing::debug!(
            snapshot_ms = built.as_secs_f64() * 1e3,
            "manifests snapshot sent"
        );
        drop(old);
    };
    let mut reported: HashMap<PathBuf, String> = HashMap::new();
    let scan = manifests.scan();
    report_errors(&scan.errors, &mut reported);
    send(&manifests);
    tracing::info!(dirs = ?manifests.dirs(), "manifests loaded");

    while !updates.is_closed() {
        tokio::select! {
            event = rx.recv() => {
                if event.is_none() {
                    return Ok(());
                }
                // One scan covers every event already queued (a write is several events).
                while rx.try_recv().is_ok() {}
            }
            _ = tokio::time::sleep(RESCAN) => {}
        }
        let started = std::time::Instant::now();
        let scan = manifests.scan();
        tracing::debug!(
            scan_ms = started.elapsed().as_secs_f64() * 1e3,
            changed = scan.changed,
            "manifests scanned"
        );
        report_errors(&scan.errors, &mut reported);
        if scan.changed {
            send(&manifests);
        }
    }
    Ok(())
}

/// Logs each file's error once, until the file changes or is fixed.
fn report_errors(errors: &[ManifestError], reported: &mut HashMap<PathBuf, String>) {
    let mut now: HashMap<PathBuf, String> = HashMap::new();
    for e in errors {
        let msg = e.to_string();
        let file = e.path();
        if reported.get(file) != Some(&msg) {
            tracing::error!("manifest not applied, last good content kept: {msg}");
        }
        now.insert(file.to_path_buf(), msg);
    }
    *reported = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn each_broken_file_is_reported_once_until_it_changes() {
        let broken = |file: &str| ManifestError::Parse {
            file: PathBuf::from(file),
            line: 3,
            message: "bad: indentation".into(),
        };
        let mut reported = HashMap::new();
        report_errors(&[broken("a.yaml"), broken("b.yaml")], &mut reported);
        assert_eq!(
            reported.len(),
            2,
            "keyed by the file, not by text before a colon"
        );
        assert!(reported.contains_key(Path::new("a.yaml")));
        report_errors(&[broken("a.yaml")], &mut reported);
        assert_eq!(reported.len(), 1, "a fixed file is forgotten");
        assert!(!reported.contains_key(Path::new("b.yaml")));
    }
}
