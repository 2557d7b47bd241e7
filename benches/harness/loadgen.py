"""Load generators: wrk (HTTP/1.1, plain and TLS) and h2load (HTTP/2 over TLS), and their parsers.

Both run pinned to the client CPU. For TLS the URL names bench.local so that SNI and Host are
what a real client sends; it is resolved to 127.0.0.1 through a private mount namespace with its
own /etc/hosts, leaving the machine's /etc/hosts alone.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .layout import BENCH_HOST, CLIENT_CPU

WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"non_2xx_3xx":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


class LoadError(RuntimeError):
    """A load generator failed or printed nothing we can parse."""


@dataclass
class LoadResult:
    """What one load run measured (latencies in microseconds)."""

    requests: int
    seconds: float
    rps: float
    p50_us: float
    p99_us: float
    p999_us: float
    errors: int  # socket errors + timeouts
    non_2xx: int

    def as_dict(self) -> dict:
        """Plain dict for JSON."""
        return dict(self.__dict__)


class HostsNamespace:
    """Files for running a command with bench.local -> 127.0.0.1 in a private mount namespace."""

    def __init__(self, workdir: Path):
        self.hosts = workdir / "hosts"
        self.hosts.write_text(f"127.0.0.1 localhost\n::1 localhost\n127.0.0.1 {BENCH_HOST}\n")
        self.available = self._probe()

    def _probe(self) -> bool:
        try:
            out = subprocess.run(self.wrap(["getent", "hosts", BENCH_HOST]), capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.returncode == 0 and "127.0.0.1" in out.stdout

    def wrap(self, argv: list[str]) -> list[str]:
        """argv run inside `unshare -m` after bind-mounting our hosts file."""
        quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)
        script = f"mount --bind '{self.hosts}' /etc/hosts && exec {quoted}"
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script]


def tool_for(protocol: str) -> str:
    """The load generator a scenario of `protocol` runs: h2load for HTTP/2, wrk otherwise."""
    return "h2load" if protocol == "h2-tls" else "wrk"


def parse_wrk(output: str) -> LoadResult:
    """Parse the WRKJSON line our Lua `done` hook prints."""
    for line in output.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line[len("WRKJSON ") :])
            seconds = data["duration_us"] / 1e6
            return LoadResult(
                requests=data["requests"],
                seconds=seconds,
                rps=data["requests"] / seconds if seconds > 0 else 0.0,
                p50_us=float(data["p50_us"]),
                p99_us=float(data["p99_us"]),
                p999_us=float(data["p999_us"]),
                errors=data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"],
                non_2xx=data["non_2xx_3xx"],
            )
    raise LoadError(f"wrk printed no result line:\n{output[-2000:]}")


_H2_FINISHED = re.compile(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s")
_H2_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout"
)
_H2_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    # 1-based rank ceil(p/100 * n); the epsilon keeps 99.9% of 1000 at rank 999 despite float error.
    rank = max(1, min(len(sorted_values), math.ceil(pct / 100.0 * len(sorted_values) - 1e-9)))
    return float(sorted_values[rank - 1])


def parse_h2load(output: str, log_text: str) -> LoadResult:
    """Parse h2load's summary and its per-request log (start_us, status, elapsed_us) for percentiles."""
    finished = _H2_FINISHED.search(output)
    requests = _H2_REQUESTS.search(output)
    status = _H2_STATUS.search(output)
    if not (finished and requests and status):
        raise LoadError(f"h2load output not understood:\n{output[-2000:]}")
    seconds = float(finished.group(1)) / (1000.0 if finished.group(2) == "ms" else 1.0)
    latencies = []
    for line in log_text.splitlines():
        cols = line.split("\t")
        if len(cols) >= 3 and cols[2].strip().isdigit():
            latencies.append(float(cols[2]))
    latencies.sort()
    succeeded = int(requests.group(4))
    non_2xx = sum(int(status.group(i)) for i in (2, 3, 4))
    return LoadResult(
        requests=succeeded,
        seconds=seconds,
        rps=float(finished.group(3)),
        p50_us=percentile(latencies, 50),
        p99_us=percentile(latencies, 99),
        p999_us=percentile(latencies, 99.9),
        errors=int(requests.group(5)) + int(requests.group(6)) + int(requests.group(7)),
        non_2xx=non_2xx,
    )


def run_wrk(
    port: int,
    tls: bool,
    connections: int,
    seconds: int,
    hosts: HostsNamespace,
    path: str = "/",
    host_header: str = BENCH_HOST,
) -> LoadResult:
    """wrk with one thread on the client CPU; the Lua hook reports p50/p99/p99.9 and errors."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_LUA)
    url_host = BENCH_HOST if tls and hosts.available else "127.0.0.1"
    url = f"{'https' if tls else 'http'}://{url_host}:{port}{path}"
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-H",
        f"Host: {host_header}",
        "-s",
        script.name,
        url,
    ]
    if tls and hosts.available:
        argv = hosts.wrap(argv)
    out = subprocess.run(["taskset", "-c", CLIENT_CPU, *argv], capture_output=True, text=True, timeout=seconds + 60)
    Path(script.name).unlink(missing_ok=True)
    if out.returncode != 0:
        raise LoadError(f"wrk exited {out.returncode}: {out.stderr.strip()[-500:]}")
    return parse_wrk(out.stdout)


def run_h2load(
    port: int, connections: int, streams: int, seconds: int, hosts: HostsNamespace, warmup: int = 0
) -> LoadResult:
    """h2load (HTTP/2 over TLS) with one thread on the client CPU; latencies from its request log."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "h2load.log"
        url_host = BENCH_HOST if hosts.available else "127.0.0.1"
        argv = [
            "h2load",
            "-t1",
            f"-c{connections}",
            f"-m{streams}",
            f"-D{seconds}",
            f"--log-file={log}",
            "-H",
            f":authority: {BENCH_HOST}",
            f"https://{url_host}:{port}/",
        ]
        if warmup:
            argv.insert(-1, f"--warm-up-time={warmup}")
        if hosts.available:
            argv = hosts.wrap(argv)
        out = subprocess.run(
            ["taskset", "-c", CLIENT_CPU, *argv], capture_output=True, text=True, timeout=seconds + warmup + 60
        )
        if out.returncode != 0:
            raise LoadError(f"h2load exited {out.returncode}: {(out.stderr or out.stdout).strip()[-500:]}")
        log_text = log.read_text(errors="replace") if log.exists() else ""
        return parse_h2load(out.stdout, log_text)


def probe_h2(port: int, hosts: HostsNamespace) -> str | None:
    """Ten HTTP/2 requests over TLS; None if all answered 2xx over h2, else why not."""
    url_host = BENCH_HOST if hosts.available else "127.0.0.1"
    argv = ["h2load", "-n10", "-c1", "-H", f":authority: {BENCH_HOST}", f"https://{url_host}:{port}/"]
    if hosts.available:
        argv = hosts.wrap(argv)
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "h2 probe timed out"
    if "Application protocol: h2" not in out.stdout:
        return "no h2 negotiated over TLS (ALPN)"
    if "TLS Protocol: TLSv1.3" not in out.stdout:
        return "h2 probe: TLS 1.3 not negotiated"
    status = _H2_STATUS.search(out.stdout)
    if not status or int(status.group(1)) != 10:
        return "h2 probe: not all 10 requests answered 2xx"
    return None
