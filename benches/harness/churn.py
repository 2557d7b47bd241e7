"""Churn: route-table swaps at a fixed rate during a 64-connection load run against gatehouse."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import loadgen, manifests, probe
from .gatehouse import INSTANCE
from .layout import Scenario
from .measure import Sample, measured_run

CHURN_SCENARIO = Scenario("churn-c64", "HTTP/1.1 keep-alive, 64 conns", "h1", 64)


@dataclass
class ChurnResult:
    """Baseline and churned runs, interleaved, with the swaps gatehouse reported."""

    rate_hz: float
    baseline: list[Sample] = field(default_factory=list)
    churned: list[Sample] = field(default_factory=list)
    writes: int = 0
    swaps: int = 0

    @property
    def baseline_rps(self) -> float:
        """Median req/s without churn."""
        return statistics.median(s.load.rps for s in self.baseline) if self.baseline else float("nan")

    @property
    def churn_rps(self) -> float:
        """Median req/s with churn."""
        return statistics.median(s.load.rps for s in self.churned) if self.churned else float("nan")

    @property
    def bad_responses(self) -> int:
        """Non-2xx responses plus socket errors during the churned runs (goal: 0)."""
        return sum(s.load.non_2xx + s.load.errors for s in self.churned)

    def as_dict(self) -> dict:
        """Plain dict for JSON."""
        return {
            "rate_hz": self.rate_hz,
            "writes": self.writes,
            "swaps": self.swaps,
            "baseline_rps": self.baseline_rps,
            "churn_rps": self.churn_rps,
            "bad_responses": self.bad_responses,
            "baseline": [s.as_dict() for s in self.baseline],
            "churned": [s.as_dict() for s in self.churned],
        }


class ManifestChurner:
    """Rewrites churn.yaml `rate_hz` times a second (deadline-paced, bounded by count) in a thread."""

    def __init__(self, directory: Path, upstream_port: int, rate_hz: float, seconds: float):
        self.path = directory / "churn.yaml"
        self.upstream_port = upstream_port
        self.interval = 1.0 / rate_hz
        self.limit = int(seconds * rate_hz)
        self.writes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while self.writes < self.limit and not self._stop.is_set():
            step = self.writes
            manifests.write_atomically(
                self.path, manifests.documents(manifests.churn_objects(self.upstream_port, step))
            )
            self.writes += 1
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> "ManifestChurner":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run(
    pid: int,
    port: int,
    admin_port: int,
    manifests_dir: Path,
    upstream_port: int,
    seconds: int,
    rounds: int,
    hosts: loadgen.HostsNamespace,
    rate_hz: float = 10.0,
    log=print,
) -> ChurnResult:
    """Interleave baseline and churned 64-connection runs; count swaps through /readyz generations."""
    result = ChurnResult(rate_hz)
    for round_no in range(rounds):
        log(f"[churn] round {round_no + 1}/{rounds}: baseline {seconds}s")
        result.baseline.append(measured_run("gatehouse", pid, CHURN_SCENARIO, port, seconds, round_no, hosts))
        before = probe.generation(admin_port, INSTANCE) or 0
        log(f"[churn] round {round_no + 1}/{rounds}: {rate_hz:g} swaps/s for {seconds}s")
        with ManifestChurner(manifests_dir, upstream_port, rate_hz, seconds) as churner:
            sample = measured_run("gatehouse", pid, CHURN_SCENARIO, port, seconds, round_no, hosts)
        # Let the last write land before reading the generation.
        probe.wait_generation_above(admin_port, INSTANCE, before + churner.writes - 1, timeout=2.0)
        after = probe.generation(admin_port, INSTANCE) or before
        result.churned.append(sample)
        result.writes += churner.writes
        result.swaps += after - before
        log(
            f"[churn]   {sample.load.rps:,.0f} req/s, {sample.load.non_2xx} non-2xx, {sample.load.errors} errors,"
            f" {after - before} swaps for {churner.writes} writes"
        )
    return result
