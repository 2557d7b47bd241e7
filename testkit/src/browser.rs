//! Headless Chromium for tests that look at a page the way a person would, and the folder
//! their screenshots go to.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::tools::{find_tool, missing_message, require_tool};

/// `target/test-artifacts` of the workspace (honouring `CARGO_TARGET_DIR`), created: where
/// screenshots are left for a person to look at.
pub fn artifacts_dir() -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// The Chromium binary: `$CHROMIUM`, else the first of the usual names on `PATH`; if none is
/// there, [`require_tool`] decides (`Ok(None)`: skip the test; under CI an error).
pub fn require_chromium() -> anyhow::Result<Option<PathBuf>> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Ok(Some(PathBuf::from(path)));
    }
    if let Some(path) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(find_tool)
    {
        return Ok(Some(path));
    }
    require_tool("chromium", "chromium")
}

/// The Chromium binary ([`require_chromium`]); an error if it is missing.
pub fn chromium() -> anyhow::Result<PathBuf> {
    require_chromium()?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} (or set CHROMIUM)",
            missing_message("chromium", "chromium")
        )
    })
}

/// Runs headless Chromium with `extra` args on `url` (killed after 60 s); returns stdout.
pub fn run_chromium(extra: &[&str], url: &str, profile: &Path) -> anyhow::Result<String> {
    let mut child = Command::new(chromium()?)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,900",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("start chromium")?;
    let mut stdout = child.stdout.take().context("chromium stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("chromium stdout reader panicked"))
}
