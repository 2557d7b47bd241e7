"""One measured load run against one target: load numbers plus the target's CPU and peak RSS."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from . import loadgen
from .layout import Scenario
from .processes import cpu_seconds, memory_kib, process_tree


@dataclass
class Sample:
    """A measured run: load result plus the target's CPU seconds and sampled peak RSS."""

    target: str
    scenario: str
    round: int
    load: loadgen.LoadResult
    cpu_s: float
    peak_rss_kib: int

    @property
    def cpu_per_100k(self) -> float:
        """CPU-seconds the target spent per 100k requests in this run."""
        return self.cpu_s / self.load.requests * 100_000 if self.load.requests else float("nan")

    def as_dict(self) -> dict:
        """Flat dict for the raw JSON file."""
        return {
            "target": self.target,
            "scenario": self.scenario,
            "round": self.round,
            **self.load.as_dict(),
            "cpu_s": self.cpu_s,
            "cpu_per_100k": self.cpu_per_100k,
            "peak_rss_kib": self.peak_rss_kib,
        }


class RssSampler:
    """Polls the process tree's VmRSS every 100 ms in a thread; `peak` is the largest seen."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak = memory_kib(process_tree(pid))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, memory_kib(process_tree(self.pid)))

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.peak = max(self.peak, memory_kib(process_tree(self.pid)))


def load(scenario: Scenario, port: int, seconds: int, hosts: loadgen.HostsNamespace) -> loadgen.LoadResult:
    """Run the scenario's load generator for `seconds` against port."""
    if loadgen.tool_for(scenario.protocol) == "h2load":
        return loadgen.run_h2load(port, scenario.connections, scenario.streams, seconds, hosts)
    return loadgen.run_wrk(port, scenario.tls, scenario.connections, seconds, hosts)


def measured_run(
    target: str, pid: int, scenario: Scenario, port: int, seconds: int, round_no: int, hosts: loadgen.HostsNamespace
) -> Sample:
    """Load the target and account its process tree's CPU time and peak RSS over the run."""
    tree = process_tree(pid)
    before = cpu_seconds(tree)
    with RssSampler(pid) as rss:
        result = load(scenario, port, seconds, hosts)
    after = cpu_seconds(process_tree(pid))
    return Sample(target, scenario.name, round_no, result, max(0.0, after - before), rss.peak)
