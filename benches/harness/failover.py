"""`benches/failover`: one of two endpoints killed under load; the requests each proxy loses.

Per run, everything is started fresh: two backends (the harness's nginx upstream, `return 200`),
one proxy routing bench.local to both (gatehouse from manifests: one Ingress → a Service with an
EndpointSlice per backend; or nginx with an upstream of both servers). A 64-connection HTTP/1.1
keep-alive GET load (wrk, one thread) runs for `--seconds`; `--kill-after` seconds in, backend A
— our own child — is SIGKILLed (its process group: nginx master and worker die together, the
kernel closes their sockets, new connects are refused). Nothing tells the proxy the endpoint is
gone (the EndpointSlice still says ready), so only its retries (`proxy-next-upstream`) can save the
requests that meet the dead endpoint. Counted per run: responses, non-2xx, socket errors.
Rounds are interleaved (round 1: every target; round 2: …).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import gatehouse, install, loadgen, manifests, peers, probe, tools
from .certs import make_cert
from .layout import BENCH_HOST, CLIENT_CPU, PROXY_CPU
from .processes import Child, StartError, ephemeral_ports, free_port_base, start_pinned, wait_for_ports

DOCS = install.REPO / "docs" / "benchmarks"

# ingress-nginx's defaults for the proxied location (its nginx.tmpl with the default ConfigMap).
INGRESS_NGINX_LOCATION = [
    "proxy_connect_timeout 5s",
    "proxy_send_timeout 60s",
    "proxy_read_timeout 60s",
    "proxy_next_upstream error timeout",
    "proxy_next_upstream_timeout 0",
    "proxy_next_upstream_tries 3",
]
RETRIES_OFF = {"nginx.ingress.kubernetes.io/proxy-next-upstream": "off"}


@dataclass(frozen=True)
class Target:
    """One proxy configuration under test."""

    name: str
    label: str
    proxy: str  # "gatehouse" or "nginx"
    annotations: tuple[tuple[str, str], ...] = ()  # gatehouse: on the Ingress
    server_params: str = ""  # nginx: on each upstream `server` line


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("gatehouse", "gatehouse, retries as ingress-nginx's defaults (error timeout, 3 tries)", "gatehouse"),
        Target(
            "gatehouse-noretry",
            "gatehouse, `proxy-next-upstream: off`",
            "gatehouse",
            annotations=tuple(RETRIES_OFF.items()),
        ),
        # ingress-nginx balances in Lua (balancer_by_lua): nginx's passive marking of a failed
        # server (max_fails) does not apply there, so every request may still meet the dead one.
        Target(
            "nginx",
            "nginx, ingress-nginx's defaults (error timeout, 3 tries), `max_fails=0` as its Lua balancer",
            "nginx",
            server_params="max_fails=0",
        ),
        # Plain nginx's own default: one failure takes a server out for 10 s.
        Target("nginx-passive", "nginx, the same with nginx's `max_fails=1 fail_timeout=10s`", "nginx"),
    )
}


def log(message: str) -> None:
    """Progress on stdout, flushed."""
    print(message, flush=True)


@dataclass
class RunResult:
    """One measured run of one target: wrk's counts plus what the proxy logged."""

    target: str
    round: int
    responses: int = 0  # complete responses (any status)
    non_2xx: int = 0  # responses with a status >= 400 (wrk counts 4xx/5xx)
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    seconds: float = 0.0
    killed_at: float | None = None  # seconds after the load started
    p99_us: float = 0.0
    max_us: float = 0.0
    proxy_log: dict[str, int] = field(default_factory=dict)  # normalised message -> count
    error: str = ""  # the harness could not measure this run
    notes: list[str] = field(default_factory=list)

    @property
    def socket_errors(self) -> int:
        """Requests that never got a response: connect, read, write errors and timeouts."""
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    @property
    def failed(self) -> int:
        """Non-2xx responses plus socket errors."""
        return self.non_2xx + self.socket_errors

    @property
    def total(self) -> int:
        """Requests sent and finished one way or the other: responses plus socket errors."""
        return self.responses + self.socket_errors

    @property
    def rps(self) -> float:
        """Responses per second over the run."""
        return self.responses / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        """Plain dict for JSON, with the derived counts."""
        return {**asdict(self), "socket_errors": self.socket_errors, "failed": self.failed, "total": self.total}


@dataclass
class Totals:
    """A target's runs summed over the rounds."""

    target: str
    runs: int = 0
    total: int = 0
    failed: int = 0
    non_2xx: int = 0
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    proxy_log: Counter = field(default_factory=Counter)

    @property
    def rate(self) -> float | None:
        """Failed ÷ total (None without requests)."""
        return self.failed / self.total if self.total else None


def aggregate(results: list[RunResult], targets: list[str]) -> dict[str, Totals]:
    """Per target, the sums over its measured runs (runs with a harness error are left out)."""
    totals = {t: Totals(t) for t in targets}
    for r in results:
        if r.error or r.target not in totals:
            continue
        t = totals[r.target]
        t.runs += 1
        t.total += r.total
        t.failed += r.failed
        t.non_2xx += r.non_2xx
        t.connect_errors += r.connect_errors
        t.read_errors += r.read_errors
        t.write_errors += r.write_errors
        t.timeouts += r.timeouts
        t.proxy_log.update(r.proxy_log)
    return totals


# --- configuration ---------------------------------------------------------------------------


def failover_objects(backend_ports: list[int], annotations: dict[str, str] | None = None) -> list[dict]:
    """bench.local / (Prefix) -> Service up:80 (http) -> one EndpointSlice per backend port on
    127.0.0.1, all ready; `annotations` go onto the Ingress."""
    ingress = manifests.ingress("bench", BENCH_HOST, ["/"], "up", port={"number": 80})
    ingress["metadata"]["annotations"].update(annotations or {})
    return [
        manifests.ingress_class(),
        ingress,
        manifests.service("up", backend_ports[0]),
        *[manifests.endpoint_slice("up", port, ["127.0.0.1"], f"b{i}") for i, port in enumerate(backend_ports)],
    ]


def nginx_spec(workdir: Path, target: Target, http_port: int, https_port: int, backend_ports: list[int], certs):
    """The nginx proxy of `target`: both backends in one upstream, ingress-nginx's location defaults."""
    return peers.nginx_proxy(
        workdir,
        http_port,
        https_port,
        backend_ports,
        certs,
        location_extra=INGRESS_NGINX_LOCATION,
        server_params=target.server_params,
    )


def wrk_argv(port: int, connections: int, seconds: int, script: str) -> list[str]:
    """wrk, one thread pinned to the client CPU, GET http://127.0.0.1:port/ as bench.local."""
    return [
        "taskset",
        "-c",
        CLIENT_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-H",
        f"Host: {BENCH_HOST}",
        "-s",
        script,
        f"http://127.0.0.1:{port}/",
    ]


def parse_wrk_counts(output: str) -> dict:
    """The WRKJSON line of loadgen.WRK_LUA as a dict (error counts kept apart)."""
    for line in output.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON ") :])
    raise loadgen.LoadError(f"wrk printed no result line:\n{output[-2000:]}")


# --- proxy logs --------------------------------------------------------------------------------

_NGINX_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (?:\*\d+ )?")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TIMESTAMP = re.compile(r"^\S*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*\s+")
_ADDR = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b")
_NUMBER = re.compile(r"\b\d+\b")


def normalise_log_line(line: str) -> str | None:
    """One proxy log line as a countable message: timestamps, pids, connection numbers,
    addresses and other numbers taken out; nginx's ', client: …' context dropped. None for
    lines that are not warnings or errors."""
    line = _ANSI.sub("", line).strip()
    if not line:
        return None
    nginx = _NGINX_PREFIX.match(line)
    if nginx:
        message = f"[{nginx.group(1)}] " + line[nginx.end() :].split(", client:")[0]
    else:
        if not re.search(r"\b(WARN|ERROR|warn|error)\b", line):
            return None
        message = _TIMESTAMP.sub("", line)
    message = _ADDR.sub("ADDR", message)
    message = _NUMBER.sub("N", message)
    return " ".join(message.split())[:300]


def summarise_log(text: str) -> dict[str, int]:
    """Normalised warning/error messages of a proxy log and how often each occurred."""
    counts = Counter(m for m in map(normalise_log_line, text.splitlines()) if m)
    return dict(counts.most_common())


# --- report ------------------------------------------------------------------------------------


def fmt_rate(rate: float | None) -> str:
    """A failure rate: a percentage with enough digits to show a few failures in 100k."""
    if rate is None:
        return "n/a"
    if rate == 0:
        return "0"
    return f"{rate * 100:.4f} %"


def markdown(results: list[RunResult], meta: dict, targets: list[str]) -> str:
    """failover.md: totals per target, each run, the proxies' own error logs, method, machine."""
    totals = aggregate(results, targets)
    lines = [
        "# Failover: one of two endpoints killed under load",
        "",
        f"Measured commit: `{meta['commit']}`, {meta['date']} — `{meta['command']}`.",
        f"gatehouse binary: `{meta['gatehouse_binary']}`.",
        "",
        f"{meta['connections']}-connection HTTP/1.1 keep-alive GET load (wrk, one thread) for {meta['seconds']} s "
        f"through each proxy to a Service with two endpoints; {meta['kill_after']} s in, one endpoint is killed "
        f"(SIGKILL). {meta['rounds']} rounds, interleaved, every process started fresh for each run. "
        "**failed** = non-2xx responses + socket errors (connect/read/write errors, 5 s timeouts); "
        "**total** = responses + socket errors; **rate** = failed ÷ total.",
        "",
        "| proxy | runs | total | failed | rate | non-2xx | connect | read | write | timeout |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in targets:
        t = totals[name]
        label = TARGETS[name].label if name in TARGETS else name
        lines.append(
            f"| {label} | {t.runs} | {t.total:,} | {t.failed:,} | {fmt_rate(t.rate)} | {t.non_2xx:,} | "
            f"{t.connect_errors:,} | {t.read_errors:,} | {t.write_errors:,} | {t.timeouts:,} |"
        )
    lines += [
        "",
        "## Each run",
        "",
        "| round | proxy | total | failed | non-2xx | socket errors | req/s | killed at s | p99 ms | max ms | notes |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        notes = "; ".join([r.error, *r.notes] if r.error else r.notes).replace("|", "/")
        killed = "n/a" if r.killed_at is None else f"{r.killed_at:.2f}"
        lines.append(
            f"| {r.round + 1} | {r.target} | {r.total:,} | {r.failed:,} | {r.non_2xx:,} | {r.socket_errors:,} | "
            f"{r.rps:,.0f} | {killed} | {r.p99_us / 1000:.2f} | {r.max_us / 1000:.1f} | {notes} |"
        )
    lines += [
        "",
        "## What the proxies logged",
        "",
        "Warnings and errors in each proxy's own log over all its runs, numbers and addresses "
        "replaced by N and ADDR (gatehouse runs with `RUST_LOG=warn`: Pingora logs each retried "
        "failure at WARN and each failure it gives up on at ERROR; nginx's `error_log` is at `error`).",
        "",
    ]
    for name in targets:
        t = totals[name]
        lines += [f"**{name}**", ""]
        if not t.proxy_log:
            lines += ["(nothing)", ""]
            continue
        lines += ["| count | message |", "|---:|---|"]
        for message, count in t.proxy_log.most_common(12):
            lines.append(f"| {count:,} | `{message.replace('|', '/').replace('`', chr(39))}` |")
        if len(t.proxy_log) > 12:
            rest = sum(t.proxy_log.values()) - sum(c for _, c in t.proxy_log.most_common(12))
            lines.append(f"| {rest:,} | (other) |")
        lines.append("")
    if meta.get("analysis"):
        lines += ["## Analysis", "", meta["analysis"].strip(), ""]
    lines += [
        "## Method",
        "",
        "- **Backends**: two of the harness's upstreams (nginx, one worker, `return 200 \"ok\\n\"`, "
        "keep-alive), pinned to CPU 0 with the load generator; each run starts them fresh.",
        "- **gatehouse** (`--threads 1`, CPU 1, `--access-log off`, `RUST_LOG=warn`): manifests with one "
        "Ingress `bench.local /` → Service `up`:80 and two EndpointSlices (one per backend port), both "
        "endpoints ready; round robin. `gatehouse-noretry` adds "
        "`nginx.ingress.kubernetes.io/proxy-next-upstream: off` to the Ingress.",
        "- **nginx** (one worker, CPU 1): `upstream` with both servers, `keepalive 512`, and ingress-nginx's "
        "location defaults: " + "; ".join(f"`{d}`" for d in INGRESS_NGINX_LOCATION) + ". "
        "`nginx` sets `max_fails=0` on both servers: ingress-nginx picks the endpoint in Lua "
        "(`balancer_by_lua`), where nginx's passive marking of failed servers does not apply, so like "
        "gatehouse it keeps sending new requests to the dead endpoint until the endpoints change. "
        "`nginx-passive` keeps plain nginx's default `max_fails=1 fail_timeout=10s` (after one failure "
        "the server is skipped for 10 s).",
        f"- **Load**: `wrk -t1 -c{meta['connections']} -d{meta['seconds']}s --timeout 5s` after a "
        f"{meta['warmup']} s warm-up (fills the proxies' upstream keep-alive pools towards both backends).",
        "- **Kill**: `--kill-after` seconds after the measured load starts, SIGKILL to backend A's own "
        "process group (the harness's child; master and worker at once). Its listening socket closes "
        "(new connects: refused), its established connections are closed by the kernel (FIN, or RST "
        "where unread data was queued). The proxy is not told: the endpoint stays ready in its table.",
        "- Every load run is bounded in time (`-d`, plus a hard timeout on the wrk process), and the "
        "number of runs is rounds × targets.",
        "",
        "## Machine",
        "",
        f"- {meta['machine']}",
        f"- load average: {meta['load_average']}",
        f"- versions: {meta['versions']}",
    ]
    if meta.get("notes"):
        lines += ["", "## Notes", "", *[f"- {n}" for n in meta["notes"]]]
    lines.append("")
    return "\n".join(lines)


# --- running -----------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; --quick sets small defaults for CI."""
    parser = argparse.ArgumentParser(prog="benches/failover", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="CI smoke mode: 1 round, 2 s runs, debug build, temp output"
    )
    parser.add_argument("--rounds", type=int, help="rounds per target (default 3; quick 1)")
    parser.add_argument("--seconds", type=int, help="seconds of load per run (default 10; quick 2)")
    parser.add_argument(
        "--kill-after", type=float, help="seconds into the load when backend A is killed (default: half)"
    )
    parser.add_argument("--warmup", type=int, help="seconds of warm-up load before each run (default 1; quick 0)")
    parser.add_argument("--connections", type=int, default=64, help="client connections (default 64)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma list: " + ", ".join(TARGETS))
    parser.add_argument("--gatehouse", type=Path, help="use this gatehouse binary instead of building one")
    parser.add_argument("--profile", choices=("release", "dev"), help="cargo profile (default release; quick dev)")
    parser.add_argument("--no-install", action="store_true", help="don't apt-get nginx/wrk if missing")
    parser.add_argument("--out", type=Path, help="markdown path (default docs/benchmarks/failover.md; quick: temp)")
    parser.add_argument("--logs", type=Path, help="copy each run's proxy log into this directory")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the markdown from the failover.json next to --out"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.seconds = args.seconds or (2 if quick else 10)
    args.kill_after = args.kill_after if args.kill_after is not None else args.seconds / 2
    args.warmup = args.warmup if args.warmup is not None else (0 if quick else 1)
    args.profile = args.profile or ("dev" if quick else "release")
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target: {', '.join(unknown)}")
    if not 0 < args.kill_after < args.seconds:
        parser.error("--kill-after must fall inside the load (0 < kill-after < seconds)")
    if args.out is None:
        if quick:
            args.out = Path(tempfile.mkdtemp(prefix="gatehouse-failover-quick-")) / "failover.md"
        else:
            args.out = DOCS / "failover.md"
    return args


class Backends:
    """The two backends of one run (A is the one killed)."""

    def __init__(self, workdir: Path, ports: list[int], certs):
        self.children: list[Child] = []
        self.ports = [ports[0], ports[2]]
        try:
            for name, http_port, https_port in (("backend-a", ports[0], ports[1]), ("backend-b", ports[2], ports[3])):
                spec = peers.upstream(workdir / name, http_port, https_port, certs)
                child = start_pinned(name, CLIENT_CPU, spec.argv, workdir)
                self.children.append(child)
                wait_for_ports(child, [http_port])
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the backends still running."""
        for child in self.children:
            child.stop()


def start_proxy(
    target: Target, binary: Path | None, flags, workdir: Path, ports: list[int], backend_ports: list[int], certs
) -> tuple[Child, int]:
    """The proxy of `target`, ready to serve bench.local; returns it and its HTTP port."""
    http_port, https_port, admin_port = ports[10], ports[11], ports[19]
    if target.proxy == "gatehouse":
        if binary is None:
            raise StartError("no gatehouse binary")
        manifests_dir = workdir / "manifests"
        manifests_dir.mkdir(parents=True, exist_ok=True)
        objects = failover_objects(backend_ports, dict(target.annotations))
        manifests.write_atomically(manifests_dir / "failover.yaml", manifests.documents(objects))
        argv = gatehouse.argv(binary, flags, manifests_dir, http_port, None, admin_port)
        child = start_pinned(target.name, PROXY_CPU, argv, workdir, env={"RUST_LOG": "warn"})
        try:
            wait_for_ports(child, [http_port, admin_port], timeout=30)
            gatehouse.wait_ready(child, admin_port, timeout=30)
        except BaseException:
            child.stop()
            raise
    else:
        spec = nginx_spec(workdir / target.name, target, http_port, https_port, backend_ports, certs)
        child = start_pinned(target.name, PROXY_CPU, spec.argv, workdir)
        try:
            wait_for_ports(child, [http_port])
        except BaseException:
            child.stop()
            raise
    return child, http_port


def load_with_kill(
    port: int, connections: int, seconds: int, kill_after: float | None, victim: Child | None, script: str
) -> tuple[dict, float | None]:
    """wrk for `seconds` (hard-bounded); `kill_after` seconds in, SIGKILL the victim (our own
    child). Returns wrk's counts and when the kill happened (seconds after wrk started)."""
    started = time.monotonic()
    wrk = subprocess.Popen(
        wrk_argv(port, connections, seconds, script), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    killed_at = None
    try:
        if kill_after is not None and victim is not None:
            try:
                wrk.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                victim.kill()
                killed_at = time.monotonic() - started
        try:
            out, err = wrk.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired as timeout:
            raise loadgen.LoadError(f"wrk did not finish within {seconds + 30}s") from timeout
    finally:
        if wrk.poll() is None:
            wrk.kill()  # our own child, bounded above
            wrk.wait(timeout=5)
    if wrk.returncode != 0:
        raise loadgen.LoadError(f"wrk exited {wrk.returncode}: {err.strip()[-500:]}")
    return parse_wrk_counts(out), killed_at


def run_one(target: Target, round_no: int, binary: Path | None, flags, workdir: Path, certs, args) -> RunResult:
    """Start two backends and the proxy, warm up, load while killing backend A, stop everything."""
    result = RunResult(target.name, round_no)
    rundir = workdir / f"r{round_no + 1}-{target.name}"
    rundir.mkdir(parents=True)
    # Below the ephemeral range: once backend A is dead the proxy connects to its port thousands
    # of times a second, and a connect whose ephemeral local port happened to be that very port
    # would connect the socket to itself (TCP simultaneous open) and read its own request back.
    base = free_port_base(span=20, low=10000, high=min(ephemeral_ports()[0], 60000))
    ports = list(range(base, base + 20))
    backends: Backends | None = None
    proxy: Child | None = None
    script = rundir / "report.lua"
    script.write_text(loadgen.WRK_LUA)
    try:
        backends = Backends(rundir, ports, certs)
        proxy, port = start_proxy(target, binary, flags, rundir, ports, backends.ports, certs)
        reason = probe.check_h1(port, False)
        if reason:
            raise StartError(f"{target.name}: {reason}")
        if args.warmup:
            load_with_kill(port, args.connections, args.warmup, None, None, str(script))
        counts, result.killed_at = load_with_kill(
            port, args.connections, args.seconds, args.kill_after, backends.children[0], str(script)
        )
        result.responses = counts["requests"]
        result.non_2xx = counts["non_2xx_3xx"]
        result.connect_errors = counts["connect_errors"]
        result.read_errors = counts["read_errors"]
        result.write_errors = counts["write_errors"]
        result.timeouts = counts["timeouts"]
        result.seconds = counts["duration_us"] / 1e6
        result.p99_us = float(counts["p99_us"])
        result.max_us = float(counts["max_us"])
        if result.killed_at is None:
            result.notes.append("the load ended before the kill")
        if backends.children[1].popen.poll() is not None:
            result.notes.append("backend B exited during the run")
        if not proxy.alive():
            result.notes.append(f"the proxy exited during the run: {proxy.log_tail(3)}")
    except (StartError, OSError, loadgen.LoadError, subprocess.SubprocessError) as err:
        result.error = str(err).splitlines()[0][:300] if str(err) else err.__class__.__name__
    finally:
        if proxy is not None:
            proxy.stop()
            result.proxy_log = summarise_log(proxy.log_path.read_text(errors="replace"))
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(proxy.log_path, args.logs / f"r{round_no + 1}-{target.name}.log")
        if backends is not None:
            backends.stop()
    return result


def render(out: Path) -> int:
    """Re-render the markdown from a previous run's failover.json (e.g. after adding the analysis)."""
    data = json.loads(out.with_name("failover.json").read_text())
    fields = RunResult.__dataclass_fields__
    results = [RunResult(**{k: v for k, v in r.items() if k in fields}) for r in data["results"]]
    analysis = out.with_name("failover-analysis.md")
    if analysis.exists():
        data["meta"]["analysis"] = analysis.read_text()
    out.write_text(markdown(results, data["meta"], data["meta"]["targets"]))
    log(f"[report] re-rendered {out} from failover.json")
    return 0


def main(argv: list[str]) -> int:
    """Measure every round × target; write the markdown and JSON; non-zero only if the harness broke."""
    args = parse_args(argv)
    if args.render_only:
        return render(args.out)
    try:
        return run(args, argv)
    except (StartError, install.InstallError, tools.MissingTool) as err:
        log(f"[result] FAILED: {err}")
        return 1


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """The whole benchmark for parsed args."""
    os.sched_setaffinity(0, {int(CLIENT_CPU)})  # keep the harness off the proxy's CPU
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    load_before = install.load_average()
    notes: list[str] = []
    if not args.no_install:
        install.ensure_apt(["nginx", "wrk", "openssl", "taskset"])
    tools.require("taskset", "openssl")
    # The backends are nginx and the load is wrk: without them every run is n/a (recorded with the
    # reason naming the package), except under CI, where tools.check raises MissingTool.
    missing = tools.check("nginx", "wrk")
    if missing:
        log(f"[start] n/a — {missing}")
        results = [RunResult(name, 0, error=f"n/a: {missing}") for name in args.targets]
        return report(args, argv, results, None, notes, load_before)
    binary: Path | None = args.gatehouse
    flags = None
    wants_gatehouse = any(TARGETS[t].proxy == "gatehouse" for t in args.targets)
    if binary is None and wants_gatehouse:
        binary = install.build_gatehouse(args.profile)
        if args.profile == "dev":
            notes.append("gatehouse is a debug build in this run (quick mode): its numbers are not comparable")
    if binary is not None and wants_gatehouse:
        flags = gatehouse.detect_flags(binary)

    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="gatehouse-failover-") as tmp:
        workdir = Path(tmp)
        certs = make_cert(workdir / "certs")
        for round_no in range(args.rounds):
            for name in args.targets:
                r = run_one(TARGETS[name], round_no, binary, flags, workdir, certs, args)
                results.append(r)
                if r.error:
                    log(f"[run {round_no + 1}/{args.rounds}] {name:<17} failed: {r.error}")
                else:
                    log(
                        f"[run {round_no + 1}/{args.rounds}] {name:<17} total {r.total:>9,}  failed {r.failed:>6,}"
                        f"  (non-2xx {r.non_2xx}, socket errors {r.socket_errors})  {r.rps:>9,.0f} req/s"
                        + (f"  killed at {r.killed_at:.2f}s" if r.killed_at is not None else "")
                        + (f"  {'; '.join(r.notes)}" if r.notes else "")
                    )

    return report(args, argv, results, binary, notes, load_before)


def report(
    args: argparse.Namespace, argv: list[str], results: list[RunResult], binary: Path | None, notes, load_before
) -> int:
    """Write the markdown and JSON; the exit status (non-zero if a run could not be measured for
    another reason than a tool that is not installed)."""
    meta = {
        "commit": install.git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "benches/failover " + " ".join(shlex.quote(a) for a in argv),
        "gatehouse_binary": install.binary_provenance(binary),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "kill_after": args.kill_after,
        "warmup": args.warmup,
        "connections": args.connections,
        "targets": args.targets,
        "machine": ", ".join(f"{k}: {v}" for k, v in install.machine().items()),
        "load_average": f"{load_before} before, {install.load_average()} after",
        "versions": ", ".join(
            f"{k}: {v}" for k, v in install.versions(binary).items() if k in ("nginx", "wrk", "gatehouse", "rustc")
        ),
        "notes": notes,
    }
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    analysis = out.with_name("failover-analysis.md")
    if analysis.exists():
        meta["analysis"] = analysis.read_text()
    out.write_text(markdown(results, meta, args.targets))
    raw = {"meta": {k: v for k, v in meta.items() if k != "analysis"}, "results": [r.as_dict() for r in results]}
    out.with_name("failover.json").write_text(json.dumps(raw, indent=1))
    log(f"[report] wrote {out}, {out.with_name('failover.json').name}")
    for name, t in aggregate(results, args.targets).items():
        log(f"[total] {name:<17} {t.total:>10,} requests, {t.failed:>6,} failed ({fmt_rate(t.rate)}), {t.runs} runs")
    broken = [r for r in results if r.error and not r.error.startswith("n/a: ")]
    if broken:
        log(f"[result] FAILED: {broken[0].target} round {broken[0].round + 1}: {broken[0].error}")
        return 1
    not_measured = len([r for r in results if r.error])
    log(f"[result] ok: {len(results) - not_measured} runs" + (f", {not_measured} n/a" if not_measured else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
