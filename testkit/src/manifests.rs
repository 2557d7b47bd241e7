//! A temporary manifests directory that tests write into the way an operator would.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;

/// A temp dir for `--manifests`; removed on drop.
pub struct ManifestDir {
    dir: tempfile::TempDir,
    writes: AtomicU64,
}

impl ManifestDir {
    /// Creates an empty manifests directory.
    pub fn new() -> anyhow::Result<ManifestDir> {
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-manifests-")
            .tempdir()
            .context("create manifests tempdir")?;
        Ok(ManifestDir {
            dir,
            writes: AtomicU64::new(0),
        })
    }

    /// The directory to pass as `--manifests`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Path of `name` inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `name` atomically: a temp file with a non-yaml suffix in the same dir, then rename.
    pub fn write(&self, name: &str, yaml: &str) -> anyhow::Result<()> {
        let serial = self.writes.fetch_add(1, Ordering::SeqCst);
        let temp = self.file(&format!(".{name}.{serial}.tmp"));
        std::fs::write(&temp, yaml).with_context(|| format!("write {}", temp.display()))?;
        let target = self.file(name);
        std::fs::rename(&temp, &target)
            .with_context(|| format!("rename {} -> {}", temp.display(), target.display()))
    }

    /// Deletes `name`.
    pub fn remove(&self, name: &str) -> anyhow::Result<()> {
        let target = self.file(name);
        std::fs::remove_file(&target).with_context(|| format!("remove {}", target.display()))
    }
}
