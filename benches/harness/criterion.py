"""Criterion micro-benchmarks of the matcher/translate/swap (written by the crates' owners): run and collect."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .install import REPO

# Crates whose benches/ folders hold criterion benches; run only if the folder exists.
CRATES = {"proxy": "gatehouse-proxy", "controller": "gatehouse-controller"}


def available() -> list[str]:
    """Packages that have a benches/ folder (so `cargo bench -p` has something to run)."""
    return [pkg for folder, pkg in CRATES.items() if (REPO / folder / "benches").is_dir()]


def run(packages: list[str], log=print) -> list[str]:
    """cargo bench each package; returns error lines for the report (empty if all ran)."""
    problems = []
    for package in packages:
        log(f"[criterion] cargo bench -p {package}")
        out = subprocess.run(["cargo", "bench", "-p", package], cwd=REPO, capture_output=True, text=True)
        if out.returncode != 0:
            problems.append(f"cargo bench -p {package} failed: {out.stderr.strip().splitlines()[-1:]}")
    return problems


def collect(root: Path | None = None) -> list[tuple[str, float]]:
    """(benchmark id, median ns) for every criterion result under target/criterion."""
    root = root or REPO / "target" / "criterion"
    results = []
    for estimates in sorted(root.glob("**/new/estimates.json")):
        try:
            median = json.loads(estimates.read_text())["median"]["point_estimate"]
        except (OSError, ValueError, KeyError):
            continue
        bench_id = str(estimates.parent.parent.relative_to(root))
        results.append((bench_id, float(median)))
    return results


def format_ns(ns: float) -> str:
    """Human unit for a nanosecond duration."""
    if ns < 1_000:
        return f"{ns:.1f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.2f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.2f} ms"
    return f"{ns / 1_000_000_000:.2f} s"
