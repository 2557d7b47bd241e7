"""`benches/profile`: where gatehouse's CPU goes under a 64-connection HTTP/1.1 load (perf, cpu-clock)."""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from . import gatehouse, install, loadgen, peers, tools
from .certs import make_cert
from .layout import CLIENT_CPU, PROXY_CPU, Ports
from .processes import ensure_ports_free, free_port_base, start_pinned, wait_for_ports

DOCS = install.REPO / "docs" / "benchmarks"
# A sample line of `perf report --stdio --no-children --sort dso,sym`: "  12.34%  libc.so.6  [.] memcpy".
_LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$")


def log(message: str) -> None:
    """Progress on stdout, flushed."""
    print(message, flush=True)


def component(dso: str, level: str, symbol: str) -> str:
    """Which part of the stack a symbol belongs to: kernel, libc, or the Rust crate it is from."""
    if level == "k" or dso.startswith("[kernel"):
        return "kernel (network stack, syscalls, scheduling)"
    if "libc" in dso or dso.startswith("ld-linux"):
        return "libc (memcpy, malloc, …)"
    name = symbol.lstrip("<&*").split("<")[0]
    # Trait impls demangle as "<T as Trait>::f": the implementing type's crate is the owner.
    crate = name.split("::")[0].strip()
    if not crate or " " in crate or crate.startswith("0x"):
        return "other / unresolved"
    return crate


def parse_report(text: str) -> list[tuple[float, str, str, str]]:
    """(percent, dso, level, symbol) rows of a flat perf report."""
    rows = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            rows.append((float(match.group(1)), match.group(2), match.group(3), match.group(4).strip()))
    return rows


def parse_threads(text: str) -> list[tuple[str, float]]:
    """(thread name, percent) rows of `perf report --sort comm`."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"^\s*([\d.]+)%\s+(.+?)\s*$", line)
        if match:
            rows.append((match.group(2), float(match.group(1))))
    return rows


def rollup(rows: list[tuple[float, str, str, str]]) -> list[tuple[str, float]]:
    """Percent of samples per component, largest first."""
    totals: Counter = Counter()
    for percent, dso, level, symbol in rows:
        totals[component(dso, level, symbol)] += percent
    return totals.most_common()


def main(argv: list[str]) -> int:
    """Start upstream + gatehouse, perf-record gatehouse during wrk load, write profile.md."""
    parser = argparse.ArgumentParser(prog="benches/profile", description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--gatehouse", type=Path)
    parser.add_argument("--port-base", type=int, help="first of the loopback ports used (default: a free block)")
    parser.add_argument("--out", type=Path, default=DOCS / "profile.md")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    install.ensure_tools(need_chart=False, need_perf=True)
    tools.require("perf", "wrk", "nginx", "taskset", "unshare", "openssl")
    binary = args.gatehouse or install.build_gatehouse("release")
    ports = Ports(args.port_base or free_port_base())
    with tempfile.TemporaryDirectory(prefix="gatehouse-profile-") as tmp:
        workdir = Path(tmp)
        ensure_ports_free([ports.upstream_http, ports.upstream_https, ports.proxy_http(0), ports.proxy_admin(0)])
        certs = make_cert(workdir / "certs")
        hosts = loadgen.HostsNamespace(workdir)
        up = peers.upstream(workdir / "upstream", ports.upstream_http, ports.upstream_https, certs)
        upstream = start_pinned("upstream", CLIENT_CPU, up.argv, workdir)
        children = [upstream]
        try:
            wait_for_ports(upstream, [ports.upstream_http])
            child, spec = gatehouse.start(
                binary,
                workdir / "gatehouse",
                ports.proxy_http(0),
                ports.proxy_https(0),
                ports.proxy_admin(0),
                ports.upstream_http,
                certs,
                workdir,
            )
            children.append(child)
            loadgen.run_wrk(spec.http_port, False, args.connections, 2, hosts)  # warm-up
            data = workdir / "perf.data"
            perf = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    CLIENT_CPU,
                    "perf",
                    "record",
                    "-e",
                    "cpu-clock",
                    "-F",
                    "1999",
                    "-p",
                    str(child.pid),
                    "-o",
                    str(data),
                    "--",
                    "sleep",
                    str(args.seconds + 1),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            result = loadgen.run_wrk(spec.http_port, False, args.connections, args.seconds, hosts)
            _, perf_err = perf.communicate(timeout=args.seconds + 60)
            if perf.returncode != 0:
                log(f"[profile] perf record failed: {perf_err[-500:]}")
                return 1
            by_thread = subprocess.run(
                ["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "comm"],
                capture_output=True,
                text=True,
                check=False,
            )
            report = subprocess.run(
                [
                    "perf",
                    "report",
                    "-i",
                    str(data),
                    "--stdio",
                    "--no-children",
                    "--sort",
                    "dso,sym",
                    "--percent-limit",
                    "0.02",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            for c in reversed(children):
                c.stop()
    rows = parse_report(report.stdout)
    if not rows:
        log(f"[profile] perf report had no samples: {report.stderr[-500:]}")
        return 1
    lines = [
        "# Where gatehouse's request path spends its CPU",
        "",
        f"Measured commit: `{install.git_commit()}`, "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} — "
        f"`benches/profile {' '.join(shlex.quote(a) for a in argv)}`.",
        "",
        f"gatehouse (release build, one worker thread, pinned to CPU {PROXY_CPU}) under wrk: HTTP/1.1 keep-alive, "
        f"{args.connections} connections, {args.seconds} s, {result.rps:,.0f} req/s. `perf record -e cpu-clock` "
        "(the VM has no hardware counters) sampled only the gatehouse process; flat profile (self time).",
        "",
        "## By component",
        "",
        "| component | % of samples |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {pct:.1f} |" for name, pct in rollup(rows)[:15]]
    lines += ["", "## By thread", "", "| thread | % of samples |", "|---|---:|"]
    lines += [f"| {name} | {pct:.1f} |" for name, pct in parse_threads(by_thread.stdout)]
    lines += ["", "## Top symbols", "", "| % | where | symbol |", "|---:|---|---|"]
    for percent, dso, _level, symbol in rows[:30]:
        lines.append(f"| {percent:.2f} | {dso} | `{symbol[:140].replace('|', '/')}` |")
    lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    log(f"[profile] wrote {args.out} ({len(rows)} symbols, {result.rps:,.0f} req/s under perf)")
    return 0
