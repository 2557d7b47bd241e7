"""`benches/scale`: gatehouse with 1k/10k/50k generated Ingresses: load-to-swap, RSS, change-to-routed."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import criterion, gatehouse, install, manifests, peers, probe, testapi, tools
from .certs import make_cert
from .layout import CLIENT_CPU, PROXY_CPU, Ports
from .processes import Child, StartError, ensure_ports_free, free_port_base, memory_kib, process_tree, start_pinned, wait_for_ports

DOCS = install.REPO / "docs" / "benchmarks"
LOAD_TIMEOUT = 600.0
ROUTE_TIMEOUT = 30.0


def log(message: str) -> None:
    """Progress on stdout, flushed."""
    print(message, flush=True)


@dataclass
class SizeResult:
    """What one Ingress count measured."""

    ingresses: int
    yaml_mib: float
    source: str = "manifests"
    load_to_swap_s: float | None = None
    load_to_routed_s: float | None = None
    set_routed: str = ""
    rss_mib: float = 0.0
    hwm_mib: float = 0.0
    change_to_routed_ms: list[float] = field(default_factory=list)
    cold_start_s: float | None = None
    error: str = ""


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="benches/scale", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="CI smoke mode: 100 and 500 Ingresses, dev build, temp output"
    )
    parser.add_argument("--sizes", help="comma list of Ingress counts (default 1000,10000,50000)")
    parser.add_argument("--changes", type=int, help="change-to-routed repetitions per size (default 10; quick 3)")
    parser.add_argument("--port-base", type=int, help="first of the loopback ports used (default: a free block)")
    parser.add_argument(
        "--source",
        choices=("manifests", "kube", "both"),
        default="both",
        help="where gatehouse reads the objects: a manifests dir, the Kubernetes source against the "
        "in-repo test API server (testapi/), or both (default)",
    )
    parser.add_argument("--gatehouse", type=Path, help="use this binary instead of building one")
    parser.add_argument("--testapi", type=Path, help="use this gatehouse-testapi binary instead of building one")
    parser.add_argument("--profile", choices=("release", "dev"))
    parser.add_argument("--no-criterion", action="store_true", help="don't run cargo bench (still collect old results)")
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--out", type=Path, help="scale.md path (default docs/benchmarks/scale.md; quick: temp dir)")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in (args.sizes or ("100,500" if args.quick else "1000,10000,50000")).split(",")]
    args.changes = args.changes or (3 if args.quick else 10)
    args.profile = args.profile or ("dev" if args.quick else "release")
    if args.out is None:
        args.out = (
            (Path(tempfile.mkdtemp(prefix="gatehouse-scale-quick-")) / "scale.md") if args.quick else DOCS / "scale.md"
        )
    return args


def wait_status(port: int, host: str, want, timeout: float) -> tuple[float | None, int | None]:
    """Poll real requests until want(status) holds; (seconds it took or None, last status)."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        try:
            last, _ = probe.get(port, host=host, timeout=2.0)
        except OSError:
            last = None
        if last is not None and want(last):
            return time.monotonic() - start, last
        time.sleep(0.001)
    return None, last


def probe_objects(upstream_port: int, step: int) -> list[dict]:
    """The Ingress the change-to-routed test rewrites: its host changes each step."""
    return [manifests.ingress("probe", f"probe-{step}.scale.local", ["/"], "up", port={"number": 80})]


class ManifestsFeed:
    """Objects reach gatehouse as files renamed into its manifests dir."""

    name = "manifests"

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir

    def args(self, base: list[str]) -> list[str]:
        return base

    def put(self, file: str, text: str) -> None:
        manifests.write_atomically(self.dir / file, text)

    def stop(self) -> None:
        pass


class KubeFeed:
    """Objects reach gatehouse through its Kubernetes source (kube-rs watches) from the test API
    server; each file is applied there whole (the objects are stored when `put` returns)."""

    name = "kube"

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.dir = workdir / "applied"
        self.dir.mkdir()
        self.api = testapi.ApiServer(binary, CLIENT_CPU, workdir)

    def args(self, base: list[str]) -> list[str]:
        at = base.index("--manifests")
        return base[:at] + ["--kubeconfig", str(self.api.kubeconfig), "--pod-name", "scale-bench"] + base[at + 2 :]

    def put(self, file: str, text: str) -> None:
        path = self.dir / file
        path.write_text(text)
        self.api.apply(path)

    def stop(self) -> None:
        self.api.stop()


def measure_size(
    binary: Path, testapi_binary: Path | None, count: int, changes: int, ports: Ports, workdir: Path
) -> SizeResult:
    """Start gatehouse on the bench route only, drop in `count` Ingresses, and measure; through
    the manifests dir, or with `testapi_binary` through the Kubernetes source."""
    source = "manifests" if testapi_binary is None else "kube"
    mdir = workdir / f"manifests-{count}-{source}"
    mdir.mkdir(parents=True)
    feed: ManifestsFeed | KubeFeed = ManifestsFeed(mdir)
    if testapi_binary is not None:
        api_dir = workdir / f"kube-{count}"
        api_dir.mkdir()
        feed = KubeFeed(testapi_binary, api_dir)
    try:
        return measure_feed(binary, feed, mdir, count, changes, ports, workdir)
    finally:
        feed.stop()


def measure_feed(
    binary: Path, feed: ManifestsFeed | KubeFeed, mdir: Path, count: int, changes: int, ports: Ports, workdir: Path
) -> SizeResult:
    """measure_size with its feed started."""
    gatehouse.write_bench_manifests(mdir, ports.upstream_http, None)
    feed.put("bench.yaml", (mdir / "bench.yaml").read_text())
    feed.put("probe.yaml", manifests.documents(probe_objects(ports.upstream_http, 0)))
    text = manifests.documents(manifests.scale_objects(count, ports.upstream_http))
    result = SizeResult(count, len(text) / 1048576, feed.name)
    flags = gatehouse.detect_flags(binary)
    http_port, admin_port = ports.proxy_http(0), ports.proxy_admin(0)
    args = feed.args(gatehouse.argv(binary, flags, mdir, http_port, None, admin_port))
    tag = f"{count} {feed.name}"
    child = start_pinned(f"gatehouse-{count}-{feed.name}", PROXY_CPU, args, workdir, env={"RUST_LOG": "warn"})
    try:
        wait_for_ports(child, [http_port, admin_port], timeout=30)
        gatehouse.wait_ready(child, admin_port, timeout=30)
        before = probe.generation(admin_port, gatehouse.INSTANCE) or 0
        log(f"[scale {tag}] writing {result.yaml_mib:.1f} MiB of manifests")
        started = time.monotonic()
        feed.put("scale.yaml", text)
        waited = probe.wait_generation_above(admin_port, gatehouse.INSTANCE, before, LOAD_TIMEOUT, 0.005)
        result.load_to_swap_s = None if waited is None else time.monotonic() - started
        if result.load_to_swap_s is None:
            result.error = f"no route-table swap within {LOAD_TIMEOUT:.0f}s of writing the manifests"
            return result
        # The last object's route: the Kubernetes source may publish the set in several swaps
        # as its watches deliver it.
        last_host = f"app-{count - 1:05d}.scale.local" if (count - 1) % 10 != 9 else f"x.w{count - 1:05d}.scale.local"
        routed, last_status = wait_status(http_port, last_host, lambda s: s != 404, LOAD_TIMEOUT)
        if routed is not None:
            result.load_to_routed_s = time.monotonic() - started
        first, _ = wait_status(http_port, "app-00000.scale.local", lambda s: s == 200, 10)
        result.set_routed = (
            f"app-00000 → {'200' if first is not None else 'no 200'}; "
            f"{last_host} → {last_status} ({'route present' if last_status not in (None, 404) else 'NOT routed'})"
        )
        tree = process_tree(child.pid)
        result.rss_mib = memory_kib(tree, "VmRSS") / 1024
        result.hwm_mib = memory_kib(tree, "VmHWM") / 1024
        log(
            f"[scale {tag}] swap after {result.load_to_swap_s:.3f}s, RSS {result.rss_mib:.0f} MiB "
            f"(peak {result.hwm_mib:.0f}); {result.set_routed}"
        )
        for step in range(1, changes + 1):
            host = f"probe-{step}.scale.local"
            feed_text = manifests.documents(probe_objects(ports.upstream_http, step))
            started = time.monotonic()
            feed.put("probe.yaml", feed_text)
            took, status = wait_status(http_port, host, lambda s: s == 200, ROUTE_TIMEOUT)
            if took is None:
                result.error = f"{host} not routed within {ROUTE_TIMEOUT:.0f}s (last status {status})"
                break
            result.change_to_routed_ms.append((time.monotonic() - started) * 1000)
        if result.change_to_routed_ms:
            log(
                f"[scale {tag}] change-to-routed median {statistics.median(result.change_to_routed_ms):.1f} ms "
                f"over {len(result.change_to_routed_ms)} changes"
            )
    finally:
        child.stop()
    # Cold start with the whole set already on disk (or in the API server).
    child = start_pinned(f"gatehouse-{count}-{feed.name}-cold", PROXY_CPU, args, workdir, env={"RUST_LOG": "warn"})
    began = time.monotonic()
    try:
        wait_for_ports(child, [admin_port], timeout=60)
        gatehouse.wait_ready(child, admin_port, timeout=LOAD_TIMEOUT)
        result.cold_start_s = time.monotonic() - began
    except StartError as err:
        result.error = result.error or f"cold start: {str(err).splitlines()[0]}"
    finally:
        child.stop()
    return result


NOTES_MARK = "<!-- benches/scale keeps everything below this line when it rewrites the file -->"


def kept_notes(path: Path) -> str:
    """The hand-written part of an existing report (from NOTES_MARK on), so a re-run keeps it."""
    text = path.read_text() if path.exists() else ""
    start = text.find(NOTES_MARK)
    return "\n" + text[start:] if start >= 0 else ""


def markdown(results: list[SizeResult], meta: dict, micro: list[tuple[str, float]], micro_notes: list[str]) -> str:
    """scale.md."""
    lines = [
        "# gatehouse at scale: 1k / 10k / 50k Ingresses",
        "",
        f"Measured commit: `{meta['commit']}`, {meta['date']} — `{meta['command']}`; gatehouse `{meta['binary']}`.",
        "",
        "Generated manifests (one file): per Ingress a distinct host (every tenth a `*.` wildcard), 4 Prefix "
        "paths, a Service and an EndpointSlice with 3 endpoints. gatehouse (pinned to CPU 1) starts with only "
        "the bench route, then the objects arrive through one of two sources: **manifests** (the file is "
        "renamed into its manifests dir) or **kube** (the Kubernetes source, kube-rs's real client watching "
        "the in-repo test API server `gatehouse-testapi`, pinned to CPU 0, to which the bench applies the "
        "same file; the change is one replace of the probe Ingress):",
        "",
        "- **load to swap**: from the rename (or the apply) to `/readyz` reporting a new generation (parse + "
        "translate + swap); **load to routed**: until the last Ingress's host is routed (the Kubernetes source "
        "may publish the set in several swaps);",
        "- **RSS**: VmRSS after the swap, and VmHWM (peak over the process's life);",
        "- **change to routed**: one small Ingress (own file) gets a new host; time from the rename (or the "
        "apply) until a real request for that host answers 200 (polled every ~1 ms), median and max over the "
        "repetitions;",
        "- **cold start**: a fresh process with the whole set on disk (or in the API server), from spawn to "
        "`/readyz` ready.",
        "",
        "| Ingresses | source | YAML MiB | load to swap | load to routed | RSS MiB | peak RSS MiB | change to routed (median / max) | cold start | checks |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ctr = (
            f"{statistics.median(r.change_to_routed_ms):.1f} / {max(r.change_to_routed_ms):.1f} ms"
            if r.change_to_routed_ms
            else "n/a"
        )
        swap = f"{r.load_to_swap_s * 1000:.0f} ms" if r.load_to_swap_s is not None else "n/a"
        routed = f"{r.load_to_routed_s * 1000:.0f} ms" if r.load_to_routed_s is not None else "n/a"
        cold = f"{r.cold_start_s:.2f} s" if r.cold_start_s is not None else "n/a"
        checks = "; ".join(x for x in (r.set_routed, r.error) if x)
        lines.append(
            f"| {r.ingresses:,} | {r.source} | {r.yaml_mib:.1f} | {swap} | {routed} | {r.rss_mib:.0f} | {r.hwm_mib:.0f} "
            f"| {ctr} | {cold} | {checks} |"
        )
    lines += ["", "## Translate, swap and lookup micro-timings (criterion)", ""]
    if micro:
        lines += [
            "Medians from `target/criterion` (benches owned by the proxy/controller crates):",
            "",
            "| benchmark | median |",
            "|---|---:|",
        ]
        lines += [f"| `{name}` | {criterion.format_ns(ns)} |" for name, ns in micro]
    elif not micro_notes:
        lines += [
            "**PENDING — not measured yet.** The criterion benches of the matcher (hit exact host, hit "
            "wildcard, miss), `translate()` and the table swap at 1k/10k/50k Ingresses belong in "
            "`proxy/benches/` and `controller/benches/`; once they exist, `benches/scale` runs them "
            "(`cargo bench -p gatehouse-proxy -p gatehouse-controller`) and lists their medians here."
        ]
    lines += [f"- {n}" for n in micro_notes]
    lines += ["", "## Goals at 10k (and 50k) Ingresses", "", "| goal | source | measured | verdict |", "|---|---|---|---|"]
    goals = [(10_000, "change to routed < 100 ms", 100.0), (50_000, "change to routed at 50k < 300 ms", 300.0)]
    for count, goal, limit in goals:
        for r in (r for r in results if r.ingresses == count):
            if r.change_to_routed_ms:
                med = statistics.median(r.change_to_routed_ms)
                verdict = "met" if med < limit else "not met"
                lines.append(f"| {goal} | {r.source} | {med:.1f} ms (median) | {verdict} |")
            else:
                lines.append(f"| {goal} | {r.source} | n/a | n/a |")
    for r in (r for r in results if r.ingresses == 10_000):
        verdict = "met" if 0 < r.rss_mib <= 100 else "not met"
        lines.append(f"| RSS at 10k ≤ 100 MiB | {r.source} | {r.rss_mib:.0f} MiB | {verdict} |")
    lines += [
        "| swap < 50 ms | — | from criterion (above) | see micro-timings |",
        "| lookup < 1 µs | — | from criterion (above) | see micro-timings |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Build, then measure each size; write scale.md and scale.json."""
    args = parse_args(argv)
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    if not args.no_install:
        install.ensure_tools(need_chart=False)
    try:
        # The upstream is nginx, every child is pinned with taskset, the certificate comes from openssl.
        tools.require("nginx", "taskset", "openssl")
        binary = args.gatehouse or install.build_gatehouse(args.profile)
        sources = ["manifests", "kube"] if args.source == "both" else [args.source]
        api_binary = None
        if "kube" in sources:
            api_binary = args.testapi or install.build_testapi(args.profile)
    except (install.InstallError, tools.MissingTool) as err:
        log(f"[scale] FAILED: {err}")
        return 1
    ports = Ports(args.port_base or free_port_base())
    results: list[SizeResult] = []
    with tempfile.TemporaryDirectory(prefix="gatehouse-scale-") as tmp:
        workdir = Path(tmp)
        ensure_ports_free([ports.upstream_http, ports.upstream_https, ports.proxy_http(0), ports.proxy_admin(0)])
        certs = make_cert(workdir / "certs")
        up_spec = peers.upstream(workdir / "upstream", ports.upstream_http, ports.upstream_https, certs)
        upstream: Child = start_pinned("upstream", CLIENT_CPU, up_spec.argv, workdir)
        try:
            wait_for_ports(upstream, [ports.upstream_http])
            for count in args.sizes:
                for source in sources:
                    api = api_binary if source == "kube" else None
                    try:
                        results.append(measure_size(binary, api, count, args.changes, ports, workdir))
                    except StartError as err:
                        log(f"[scale {count} {source}] failed: {err}")
                        results.append(SizeResult(count, 0.0, source, error=str(err).splitlines()[0]))
        finally:
            upstream.stop()
    micro_notes: list[str] = []
    packages = criterion.available()
    if packages and not args.no_criterion and not args.quick:
        micro_notes += criterion.run(packages, log=log)
    elif not packages:
        micro_notes.append("no `benches/` folder in proxy/ or controller/ yet")
    elif args.no_criterion:
        micro_notes.append("not run this time (`--no-criterion`); `cargo bench -p gatehouse-proxy -p gatehouse-controller` runs them")
    micro = criterion.collect()
    meta = {
        "commit": install.git_commit(),
        "binary": str(binary),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "benches/scale " + " ".join(shlex.quote(a) for a in argv),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(results, meta, micro, micro_notes) + kept_notes(args.out))
    args.out.with_name("scale.json").write_text(
        json.dumps({"meta": meta, "results": [r.__dict__ for r in results], "criterion": micro}, indent=1)
    )
    log(f"[report] wrote {args.out}")
    failed = [r for r in results if r.error]
    if failed:
        log(f"[result] FAILED at {', '.join(str(r.ingresses) for r in failed)} Ingresses: " + failed[0].error)
        return 1
    log(f"[result] ok: {len(results)} sizes measured")
    return 0
