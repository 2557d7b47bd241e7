"""`benches/run`: gatehouse against nginx, HAProxy, Caddy and Traefik, the upstream directly (the limit)
and a bare Pingora proxy (the floor, benches/floor)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

from . import churn, gatehouse, install, loadgen, peers, probe, report, tools
from .certs import make_cert
from .layout import (
    CLIENT_CPU,
    CORE_FLOOR,
    FLOOR,
    PROXY_CPU,
    SCENARIOS,
    TARGETS,
    VARIANTS,
    Ports,
    process_name,
    variant_of,
)
from .measure import measured_run
from .processes import Child, StartError, ensure_ports_free, free_port_base, start_pinned, wait_for_ports

REPO = install.REPO
DOCS = REPO / "docs" / "benchmarks"


def log(message: str) -> None:
    """Progress on stdout, flushed (CI shows it live)."""
    print(message, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; --quick sets small defaults for CI."""
    parser = argparse.ArgumentParser(prog="benches/run", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI smoke mode: 1 round, 1 s runs, no warm-up, debug build, results to a temp dir",
    )
    parser.add_argument("--rounds", type=int, help="rounds per scenario (default 3; quick 1)")
    parser.add_argument("--seconds", type=int, help="seconds per measured run (default 10; quick 1)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up per target and scenario (default 2; quick 0)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma list of targets to run")
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS), help="comma list of scenarios")
    parser.add_argument("--no-churn", action="store_true", help="skip the churn stage")
    parser.add_argument("--port-base", type=int, help="first of the loopback ports used (default: a free block)")
    parser.add_argument("--gatehouse", type=Path, help="use this gatehouse binary instead of building one")
    parser.add_argument(
        "--floor", type=Path, help=f"use this {FLOOR} binary (benches/floor) instead of building one with gatehouse"
    )
    parser.add_argument(
        "--core-floor",
        type=Path,
        help=f"use this {CORE_FLOOR} binary (benches/floor's gatehouse-bench-core-floor) instead of building one",
    )
    parser.add_argument("--profile", choices=("release", "dev"), help="cargo profile (default release; quick dev)")
    parser.add_argument("--no-install", action="store_true", help="don't apt-get/pip anything")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite results.md and the chart from the results.json next to --out (no measuring)",
    )
    parser.add_argument(
        "--out", type=Path, help="results.md path (default docs/benchmarks/results.md; quick: temp dir)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.seconds = args.seconds or (1 if quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (0 if quick else 2)
    args.profile = args.profile or ("dev" if quick else "release")
    if args.out is None:
        args.out = (
            (Path(tempfile.mkdtemp(prefix="gatehouse-bench-quick-")) / "results.md") if quick else DOCS / "results.md"
        )
    return args


def summarize(err: BaseException) -> str:
    """One table-safe line for an n/a cell: the first line that names an error, else the first line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    pick = next((line for line in lines[1:] if any(k in line for k in ("error", "ALERT", "Error", "panicked"))), None)
    text = lines[0] if lines else err.__class__.__name__
    if pick:
        text = f"{text} {pick}"
    return text.replace("|", "/")[:240]


def only_missing_tools(reasons: dict[str, str]) -> bool:
    """Whether a target's n/a reasons (scenario -> reason) are all 'a tool is not installed'."""
    return bool(reasons) and all(" is not installed: " in reason for reason in reasons.values())


def processes_needed(targets: list[str], scenarios: list) -> list[tuple[str, str]]:
    """(target, variant) of every process the run needs, in target order, the bench configuration
    ("") before a variant's: a target with a configuration of its own for a variant's scenarios
    (gatehouse and nginx for "defaults") runs as a second process."""
    needed = []
    for target in targets:
        for variant in sorted({variant_of(target, s) for s in scenarios} - {None}):
            needed.append((target, variant))
    return needed


def not_in_variant(scenario) -> str:
    """The n/a reason of a target that takes no part in a variant's scenarios."""
    variant = VARIANTS[scenario.variant]
    return (
        f"not in the {scenario.variant} scenarios (only {', '.join(variant['own'])}, "
        f"with {', '.join(variant['unchanged'])} as references)"
    )


def start_targets(
    needed: list[tuple[str, str]],
    ports: Ports,
    workdir: Path,
    certs,
    binaries: dict[str, Path | None],
    build_errors: dict[str, str | None],
) -> tuple[dict[str, Child], dict[str, peers.ProxySpec], dict[str, str]]:
    """Start every needed (target, variant) process; returns running children, their specs, and
    why others are n/a, all keyed by process name (`layout.process_name`).

    A peer that is not installed is n/a, except under CI, where tools.MissingTool is raised."""
    children: dict[str, Child] = {}
    specs: dict[str, peers.ProxySpec] = {}
    failed: dict[str, str] = {}
    renderers = {"nginx": peers.nginx, "haproxy": peers.haproxy, "caddy": peers.caddy, "traefik": peers.traefik}
    for index, (name, variant) in enumerate(needed):
        if name == "upstream":
            continue  # already running: it is the upstream
        proc = process_name(name, variant)
        missing = tools.check(peers.TOOL[name]) if name in peers.TOOL else None
        if missing:
            failed[proc] = missing
            log(f"[start] {proc}: n/a — {missing}")
            continue
        http_port, https_port = ports.proxy_http(index), ports.proxy_https(index)
        try:
            if name in binaries and binaries[name] is None:
                raise StartError(f"no {name} binary: {build_errors.get(name)}")
            if name == "gatehouse":
                child, spec = gatehouse.start(
                    binaries[name],
                    workdir / proc,
                    http_port,
                    https_port,
                    ports.proxy_admin(index),
                    ports.upstream_http,
                    certs,
                    workdir,
                    variant=variant,
                )
            else:
                if name in (FLOOR, CORE_FLOOR):
                    spec = peers.floor(binaries[name], http_port, https_port, ports.upstream_http, certs, name=name)
                elif variant:
                    spec = renderers[name](workdir / proc, http_port, https_port, ports.upstream_http, certs, variant)
                else:
                    spec = renderers[name](workdir / proc, http_port, https_port, ports.upstream_http, certs)
                child = start_pinned(proc, PROXY_CPU, spec.argv, workdir, spec.env)
                wait_for_ports(child, [http_port, https_port])
                probe.wait_routed(http_port)
        except (StartError, OSError) as err:
            failed[proc] = summarize(err)
            log(f"[start] {proc}: n/a — {err}")
            continue
        children[proc], specs[proc] = child, spec
        log(
            f"[start] {proc}: pid {child.pid} on CPU {PROXY_CPU}, http :{spec.http_port}"
            + (f", https :{spec.https_port}" if spec.https_port else "")
        )
    return children, specs, failed


def build(args: argparse.Namespace, targets: list[str]) -> tuple[dict[str, Path | None], dict[str, str | None]]:
    """The gatehouse and floor binaries the run measures ({target: path}, only for requested
    targets): given on the command line, else built (all in one cargo invocation when a floor
    is wanted); why one is missing ({target: reason})."""
    binaries: dict[str, Path | None] = {}
    errors: dict[str, str | None] = {}
    wanted = {"gatehouse": args.gatehouse, FLOOR: args.floor, CORE_FLOOR: args.core_floor}
    wanted = {target: given for target, given in wanted.items() if target in targets}
    binaries.update(wanted)
    to_build = [target for target, given in wanted.items() if given is None]
    if not to_build:
        return binaries, errors
    try:
        if FLOOR in to_build or CORE_FLOOR in to_build:
            built = dict(zip(("gatehouse", FLOOR, CORE_FLOOR), install.build_with_floor(args.profile), strict=True))
            binaries.update({target: built[target] for target in to_build})
        else:
            binaries["gatehouse"] = install.build_gatehouse(args.profile)
    except install.InstallError as err:
        for target in to_build:
            errors[target] = summarize(err)
        log(f"[build] {', '.join(to_build)} n/a: {err}")
    return binaries, errors


def probe_scenario(spec: peers.ProxySpec, scenario, hosts: loadgen.HostsNamespace) -> str | None:
    """Why this target can't run this scenario (None if it can); a missing load generator is a
    reason, except under CI, where tools.MissingTool is raised."""
    if scenario.protocol not in spec.protocols or (scenario.tls and not spec.https_port):
        return "not supported by this build"
    missing = tools.check(loadgen.tool_for(scenario.protocol))
    if missing:
        return missing
    if scenario.protocol == "h2-tls":
        return loadgen.probe_h2(spec.https_port, hosts)
    return probe.check_h1(spec.https_port if scenario.tls else spec.http_port, scenario.tls)


def main(argv: list[str]) -> int:
    """Install, build, start, load, write the report. Returns the exit status."""
    args = parse_args(argv)
    if args.render_only:
        return render(args.out)
    try:
        return run(args, argv)
    except (StartError, install.InstallError, tools.MissingTool) as err:
        log(f"[result] FAILED: {err}")
        return 1


def render(out: Path) -> int:
    """Re-render results.md and the chart from a previous run's results.json (same data, new layout)."""
    data = json.loads(out.with_name("results.json").read_text())
    chart_path = out.with_name("results.png")
    chart_error = report.chart(data["medians"], chart_path)
    if out.with_name("profile.md").exists():
        data["profile_note"] = "See [profile.md](profile.md)."
    out.write_text(report.markdown(data, None if chart_error else chart_path.name))
    log(f"[report] re-rendered {out} from results.json")
    return 0


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """The whole benchmark for parsed args."""
    started = time.monotonic()
    load_before = install.load_average()
    os.sched_setaffinity(0, {int(CLIENT_CPU)})  # keep this harness off the proxy's CPU
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    targets = [t for t in args.targets.split(",") if t in TARGETS]
    scenarios = [s for s in SCENARIOS if s.name in args.scenarios.split(",")]
    notes: list[str] = []

    if not args.no_install:
        install.ensure_tools(need_chart=True)
    # The upstream is nginx, every child is pinned with taskset, the certificate comes from openssl.
    tools.require("nginx", "taskset", "openssl")
    if missing := tools.check("unshare"):
        notes.append(missing)  # TLS clients then use 127.0.0.1 (no SNI name)
    tools.check("matplotlib")  # under CI this fails now, not after the runs; elsewhere the chart's error is noted
    binaries, build_errors = build(args, targets)
    binary = binaries.get("gatehouse")
    if args.profile == "dev":
        given = {"gatehouse": args.gatehouse, FLOOR: args.floor, CORE_FLOOR: args.core_floor}
        debug = [t for t, path in given.items() if binaries.get(t) and path is None]
        if debug:
            notes.append(f"{' and '.join(debug)}: debug build in this run (quick mode): numbers not comparable")
    needed = processes_needed(targets, scenarios)

    ports = Ports(args.port_base or free_port_base(span=10 * (len(needed) + 1) + 10))
    children: dict[str, Child] = {}
    with tempfile.TemporaryDirectory(prefix="gatehouse-bench-") as tmp:
        workdir = Path(tmp)
        try:
            certs = make_cert(workdir / "certs")
            hosts = loadgen.HostsNamespace(workdir)
            if not hosts.available:
                notes.append("no private mount namespace: TLS clients used 127.0.0.1 (no SNI name)")
            all_ports = [ports.upstream_http, ports.upstream_https]
            for i, _ in enumerate(needed):
                all_ports += [ports.proxy_http(i), ports.proxy_https(i), ports.proxy_admin(i)]
            ensure_ports_free(all_ports)
            up_spec = peers.upstream(workdir / "upstream", ports.upstream_http, ports.upstream_https, certs)
            children["upstream"] = start_pinned("upstream", CLIENT_CPU, up_spec.argv, workdir)
            wait_for_ports(children["upstream"], [ports.upstream_http, ports.upstream_https])
            log(f"[start] upstream: pid {children['upstream'].pid} on CPU {CLIENT_CPU}, :{ports.upstream_http}")
            started_children, specs, failed = start_targets(needed, ports, workdir, certs, binaries, build_errors)
            children.update(started_children)
            specs["upstream"] = up_spec
            for name, spec in specs.items():
                notes += [f"{name}: {n}" for n in spec.notes]

            unavailable: dict[str, dict[str, str]] = {}
            # Per process: why it could not run each scenario it was meant for.
            process_reasons: dict[str, dict[str, str]] = {process_name(t, v): {} for t, v in needed}
            runnable: dict[str, list] = {}
            for target in targets:
                for scenario in scenarios:
                    variant = variant_of(target, scenario)
                    if variant is None:
                        unavailable.setdefault(target, {})[scenario.name] = not_in_variant(scenario)
                        continue
                    proc = process_name(target, variant)
                    reason = failed.get(proc) or (None if proc in specs else "not started")
                    if reason is None:
                        reason = probe_scenario(specs[proc], scenario, hosts)
                    if reason:
                        unavailable.setdefault(target, {})[scenario.name] = reason
                        process_reasons[proc][scenario.name] = reason
                        log(f"[probe] {proc} {scenario.name}: n/a — {reason}")
                    else:
                        runnable.setdefault(scenario.name, []).append(target)

            samples = []
            measured_processes: set[str] = set()
            for round_no in range(args.rounds):
                for scenario in scenarios:
                    for target in runnable.get(scenario.name, []):
                        proc = process_name(target, variant_of(target, scenario))
                        child, spec = children[proc], specs[proc]
                        port = spec.https_port if scenario.tls else spec.http_port
                        try:
                            if args.warmup:
                                measured_run(target, child.pid, scenario, port, args.warmup, round_no, hosts)
                            sample = measured_run(target, child.pid, scenario, port, args.seconds, round_no, hosts)
                        except loadgen.LoadError as err:
                            log(f"[load] {target} {scenario.name}: failed — {err}")
                            notes.append(
                                f"{target} {scenario.name} round {round_no + 1}: load failed: {str(err)[:200]}"
                            )
                            continue
                        if not child.alive():
                            notes.append(f"{proc} exited during {scenario.name}: {child.log_tail(3)}")
                        samples.append({**sample.as_dict(), "process": proc})
                        measured_processes.add(proc)
                        log(
                            f"[run {round_no + 1}/{args.rounds}] {scenario.name:<15} {target:<13} "
                            f"{sample.load.rps:>10,.0f} req/s  p99 {sample.load.p99_us / 1000:7.2f} ms  "
                            f"cpu {sample.cpu_per_100k:6.2f} s/100k  rss {sample.peak_rss_kib / 1024:6.1f} MiB  "
                            f"bad {sample.load.non_2xx + sample.load.errors}"
                        )

            churn_data, churn_skipped = None, ""
            if args.no_churn:
                churn_skipped = "skipped (--no-churn)"
            elif "gatehouse" not in children:
                churn_skipped = "n/a: gatehouse not running (" + failed.get("gatehouse", "not requested") + ")"
            elif missing_wrk := tools.check("wrk"):
                churn_skipped = f"n/a: {missing_wrk}"
            else:
                g = children["gatehouse"]
                churn_result = churn.run(
                    g.pid,
                    specs["gatehouse"].http_port,
                    specs["gatehouse"].admin_port,
                    g.extra["manifests_dir"],
                    ports.upstream_http,
                    args.seconds,
                    args.rounds,
                    hosts,
                    log=log,
                )
                churn_data = churn_result.as_dict()
        finally:
            for child in reversed(list(children.values())):
                child.stop()

    if not samples:
        log("[report] no samples were measured")
    data = {
        "meta": {
            "commit": install.git_commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "benches/run " + " ".join(shlex.quote(a) for a in argv),
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "machine": install.machine(),
            "load_average": f"{load_before} before, {install.load_average()} after",
            "gatehouse_binary": install.binary_provenance(binary),
            "floor_binary": install.binary_provenance(binaries.get(FLOOR)),
            "core_floor_binary": install.binary_provenance(binaries.get(CORE_FLOOR)),
            "versions": install.versions(binary),
        },
        "samples": samples,
        "medians": report.medians(samples),
        "floor_ratios": report.floor_ratios(report.medians(samples)),
        "unavailable": unavailable,
        "churn": churn_data,
        "churn_skipped": churn_skipped,
        "notes": notes,
    }
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    profile_note = out.with_name("profile.md")
    if profile_note.exists():
        data["profile_note"] = f"See [{profile_note.name}]({profile_note.name})."
    chart_path = out.with_name("results.png")
    chart_error = report.chart(data["medians"], chart_path)
    if chart_error:
        notes.append(chart_error)
    out.write_text(report.markdown(data, None if chart_error else chart_path.name))
    out.with_name("results.json").write_text(json.dumps(data, indent=1))
    log(
        f"[report] wrote {out}, {out.with_name('results.json').name}"
        + ("" if chart_error else f", {chart_path.name}")
        + f" in {time.monotonic() - started:.0f}s"
    )
    # The harness itself is broken if a target's process never starts or never completes a run; numbers
    # never fail it. One left n/a only because a tool is not installed is not broken (under CI that already
    # failed).
    procs = [process_name(t, v) for t, v in needed]
    broken = [p for p in procs if p not in measured_processes and not only_missing_tools(process_reasons.get(p, {}))]
    if broken:
        log(f"[result] FAILED: no successful run for {', '.join(broken)} (see n/a reasons above)")
        return 1
    measured = {s["target"] for s in samples}
    not_installed = [p for p in procs if p not in measured_processes]
    log(
        f"[result] ok: {len(samples)} runs over {len(measured_processes)} processes of {len(measured)} targets"
        + (f"; n/a because a tool is not installed: {', '.join(not_installed)}" if not_installed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
