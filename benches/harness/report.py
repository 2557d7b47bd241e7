"""Aggregation (medians across rounds), the goals check, results.md and the chart."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from .layout import CORE_FLOOR, FLOOR, PEERS, SCENARIOS, TARGETS

METRICS = ("rps", "p50_us", "p99_us", "p999_us", "cpu_per_100k", "peak_rss_kib", "non_2xx", "errors")


def medians(samples: list[dict]) -> dict[str, dict[str, dict]]:
    """{target: {scenario: {metric: median over rounds, 'rounds': n}}} from raw sample dicts."""
    grouped: dict[tuple[str, str], list[dict]] = {}
    for sample in samples:
        grouped.setdefault((sample["target"], sample["scenario"]), []).append(sample)
    out: dict[str, dict[str, dict]] = {}
    for (target, scenario), rows in grouped.items():
        agg = {m: statistics.median(r[m] for r in rows) for m in METRICS if m not in ("non_2xx", "errors")}
        agg["non_2xx"] = sum(r["non_2xx"] for r in rows)
        agg["errors"] = sum(r["errors"] for r in rows)
        agg["rounds"] = len(rows)
        out.setdefault(target, {})[scenario] = agg
    return out


def best_peer(table: dict, scenario: str, metric: str = "rps", lowest: bool = False) -> tuple[str, float] | None:
    """The peer with the best median of metric in scenario (highest, or lowest when asked)."""
    values = [(p, table[p][scenario][metric]) for p in PEERS if scenario in table.get(p, {})]
    values = [(p, v) for p, v in values if not math.isnan(v)]
    if not values:
        return None
    return (min if lowest else max)(values, key=lambda pv: pv[1])


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}×" if base else "–"


# The three ratios every report shows: (numerator, denominator) targets.
FLOOR_PAIRS: tuple[tuple[str, str], ...] = (("gatehouse", "nginx"), (FLOOR, "nginx"), ("gatehouse", FLOOR))
# The core floor's two: against Pingora's generic loop and against nginx.
CORE_FLOOR_PAIRS: tuple[tuple[str, str], ...] = ((CORE_FLOOR, FLOOR), (CORE_FLOOR, "nginx"))
# The metrics they are taken of: CPU per request (lower is better) and req/s (higher is better).
FLOOR_METRICS: dict[str, str] = {"cpu_per_request": "cpu_per_100k", "rps": "rps"}


def ratio_of(table: dict, scenario: str, metric: str, numerator: str, denominator: str) -> float | None:
    """numerator's median of metric ÷ denominator's in scenario; None if either is missing, NaN or zero."""
    top = table.get(numerator, {}).get(scenario, {}).get(metric)
    bottom = table.get(denominator, {}).get(scenario, {}).get(metric)
    if top is None or bottom is None or math.isnan(top) or math.isnan(bottom) or bottom == 0:
        return None
    return top / bottom


def floor_ratios(table: dict) -> dict[str, dict[str, dict[str, float | None]]]:
    """{scenario: {"cpu_per_request" | "rps": {"gatehouse/nginx", "pingora-floor/nginx",
    "gatehouse/pingora-floor", "core-floor/pingora-floor", "core-floor/nginx": ratio or None}}}
    for every scenario any of the four ran."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for scenario in SCENARIOS:
        if not any(scenario.name in table.get(t, {}) for t in ("gatehouse", FLOOR, CORE_FLOOR, "nginx")):
            continue
        out[scenario.name] = {
            name: {f"{a}/{b}": ratio_of(table, scenario.name, metric, a, b) for a, b in FLOOR_PAIRS + CORE_FLOOR_PAIRS}
            for name, metric in FLOOR_METRICS.items()
        }
    return out


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def floor_section(table: dict) -> list[str]:
    """The three ratios per scenario: how far gatehouse is from nginx, how far bare Pingora (the
    floor) is, and what gatehouse's own request path costs on top of Pingora's."""
    ratios = floor_ratios(table)
    lines = [
        "## The floor: bare Pingora",
        "",
        f"`{FLOOR}` is a bare Pingora proxy (`benches/floor`: one `ProxyHttp` with only `upstream_peer`, "
        "Pingora's upstream keep-alive pool, the same forwarded headers; gatehouse's Pingora version, features "
        "and allocator; one worker thread), measured in the same interleaved rounds. gatehouse ÷ floor is "
        "what gatehouse's own request path costs on top of Pingora's; floor ÷ nginx is where Pingora's "
        "generic proxy loop stands. CPU per request: lower is better; req/s: higher is better.",
        "",
        "| scenario | CPU/req gatehouse ÷ nginx | floor ÷ nginx | gatehouse ÷ floor "
        "| req/s gatehouse ÷ nginx | floor ÷ nginx | gatehouse ÷ floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    if not ratios:
        return lines[:2] + ["Neither gatehouse, the floor nor nginx ran in this run.", ""]
    for scenario in SCENARIOS:
        row = ratios.get(scenario.name)
        if row is None:
            continue
        cells = [_times(row[m][f"{a}/{b}"]) for m in FLOOR_METRICS for a, b in FLOOR_PAIRS]
        lines.append(f"| {scenario.name} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def core_floor_section(table: dict) -> list[str]:
    """core-floor ÷ floor and core-floor ÷ nginx per scenario the core floor ran: what Pingora's
    generic proxy loop costs over the least loop on pingora-core's sessions. Nothing when it did
    not run (reports without it are unchanged)."""
    if not table.get(CORE_FLOOR):
        return []
    ratios = floor_ratios(table)
    lines = [
        "## The core floor: pingora-core's own sessions",
        "",
        f"`{CORE_FLOOR}` is the least HTTP/1.1 proxy loop on `pingora-core` alone (`benches/floor`'s "
        "`gatehouse-bench-core-floor`: server and client sessions, the HTTP/1.1 connector's keep-alive pool, "
        "the same forwarded headers, no `pingora-proxy`; TLS offers HTTP/1.1 only). core-floor ÷ floor below "
        "1 is what Pingora's generic proxy loop costs over it. CPU per request: lower is better; req/s: higher "
        "is better.",
        "",
        "| scenario | CPU/req core-floor ÷ floor | core-floor ÷ nginx | req/s core-floor ÷ floor | core-floor ÷ nginx |",
        "|---|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        row = ratios.get(scenario.name)
        if row is None or scenario.name not in table[CORE_FLOOR]:
            continue
        cells = [_times(row[m][f"{a}/{b}"]) for m in FLOOR_METRICS for a, b in CORE_FLOOR_PAIRS]
        lines.append(f"| {scenario.name} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def goals(table: dict) -> list[tuple[str, str, str, str]]:
    """(goal, scenario, measured, verdict) rows for the goals the issue holds gatehouse to."""
    rows = []
    gate = table.get("gatehouse", {})
    # The goals compare the bench configuration (access logs off); the variants' scenarios are
    # reported, not judged.
    bench_scenarios = [s.name for s in SCENARIOS if not s.variant]
    for scenario in ("h1-c64", "h1-c256"):
        g = gate.get(scenario)
        nginx = table.get("nginx", {}).get(scenario)
        best = best_peer(table, scenario)
        if g and nginx:
            r = g["rps"] / nginx["rps"]
            rows.append(("req/s ≥ 1.2× nginx", scenario, f"{r:.2f}×", "met" if r >= 1.2 else "not met"))
        else:
            rows.append(("req/s ≥ 1.2× nginx", scenario, "n/a", "n/a"))
        if g and best:
            r = g["rps"] / best[1]
            rows.append((f"req/s > best peer ({best[0]})", scenario, f"{r:.2f}×", "met" if r > 1.0 else "not met"))
        else:
            rows.append(("req/s > best peer", scenario, "n/a", "n/a"))
    for scenario in bench_scenarios:
        g = gate.get(scenario)
        floor = ratio_of(table, scenario, "cpu_per_100k", "gatehouse", FLOOR)
        if floor is not None:
            verdict = "met" if floor <= 1.05 else "not met"
            rows.append(("CPU/request ≤ 1.05× bare Pingora", scenario, f"{floor:.2f}×", verdict))
        best = best_peer(table, scenario, "p99_us", lowest=True)
        if g and best:
            rows.append(
                (
                    f"p99 ≤ best peer's ({best[0]})",
                    scenario,
                    f"{g['p99_us'] / 1000:.2f} vs {best[1] / 1000:.2f} ms",
                    "met" if g["p99_us"] <= best[1] else "not met",
                )
            )
        cheapest = best_peer(table, scenario, "cpu_per_100k", lowest=True)
        if g and cheapest:
            rows.append(
                (
                    f"CPU/request lowest ({cheapest[0]} next)",
                    scenario,
                    f"{g['cpu_per_100k']:.2f} vs {cheapest[1]:.2f} s/100k",
                    "met" if g["cpu_per_100k"] < cheapest[1] else "not met",
                )
            )
        traefik = table.get("traefik", {}).get(scenario)
        if g and traefik:
            r = g["peak_rss_kib"] / traefik["peak_rss_kib"]
            rows.append(("RSS < 0.5× Traefik", scenario, f"{r:.2f}×", "met" if r < 0.5 else "not met"))
    return rows


def scenario_table(table: dict, unavailable: dict, scenario) -> list[str]:
    """Markdown rows for one scenario, targets in run order, n/a rows with their reason."""
    lines = [
        f"### {scenario.label} (`{scenario.name}`)",
        "",
        "| target | req/s | × nginx | × best peer | p50 ms | p99 ms | p99.9 ms | CPU-s / 100k req | CPU × nginx "
        "| peak RSS MiB | non-2xx + errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    nginx = table.get("nginx", {}).get(scenario.name)
    best = best_peer(table, scenario.name)
    names = {
        "upstream": "upstream (direct: the limit)",
        FLOOR: f"{FLOOR} (bare Pingora: the floor)",
        CORE_FLOOR: f"{CORE_FLOOR} (pingora-core sessions)",
    }
    for target in TARGETS:
        name = names.get(target, target)
        row = table.get(target, {}).get(scenario.name)
        if row is None:
            reason = unavailable.get(target, {}).get(scenario.name, "not run")
            lines.append(f"| {name} | n/a | | | | | | | | | {reason} |")
            continue
        lines.append(
            f"| {name} | {row['rps']:,.0f} | {_ratio(row['rps'], nginx['rps'] if nginx else None)} | "
            f"{_ratio(row['rps'], best[1] if best else None)} | {row['p50_us'] / 1000:.2f} | "
            f"{row['p99_us'] / 1000:.2f} | {row['p999_us'] / 1000:.2f} | {row['cpu_per_100k']:.2f} | "
            f"{_ratio(row['cpu_per_100k'], nginx['cpu_per_100k'] if nginx else None)} | "
            f"{row['peak_rss_kib'] / 1024:.1f} | {row['non_2xx'] + row['errors']} |"
        )
    lines.append("")
    return lines


def markdown(data: dict, chart_name: str | None) -> str:
    """The whole results.md from the run's data dict (see run.py for its keys)."""
    table = data["medians"]
    meta = data["meta"]
    lines = [
        "# gatehouse against nginx, HAProxy, Caddy and Traefik",
        "",
        f"Measured commit: `{meta['commit']}`, {meta['date']} — `{meta['command']}`.",
        "",
        f"Each number is the median of {meta['rounds']} rounds of {meta['seconds']} s per run "
        f"(after a {meta['warmup']} s warm-up), targets interleaved within each round "
        "(A B C … A B C …). Every proxy has one worker thread/process, is pinned to CPU 1 and routes "
        'one host (`bench.local`) with one route (`/`) to one keep-alive upstream (nginx `return 200 "ok\\n"`), '
        "access logs off, forwarded headers set. The load generator (wrk / h2load, one thread) and the "
        "upstream share CPU 0. TLS scenarios use TLS 1.3 with an ECDSA P-256 certificate and SNI `bench.local`.",
        "",
        f"`{FLOOR}` is the floor: a bare Pingora proxy built from `benches/floor` with gatehouse's Pingora and "
        "allocator (see [The floor](#the-floor-bare-pingora)). The `-defaults` scenario runs the targets as users "
        "run them, each as a second process: gatehouse with its defaults (metrics, which are always on, and the "
        "JSON access log on stdout, written to a file) against nginx with ingress-nginx's `upstreaminfo` access "
        "log written to a file with `buffer=64k` (nginx has no metrics here: ingress-nginx's Lua collector is "
        "not reproduced); the upstream and the floor run there unchanged, as references.",
        "",
        "CPU-s / 100k req is user+system time of the proxy's processes over the run; peak RSS is the "
        "median over rounds of the largest resident set of the proxy's processes, sampled every 100 ms "
        "during the run. The proxies keep running through all scenarios, so from round 2 on it includes "
        "memory kept from earlier, heavier scenarios (a process's lifetime peak, not a per-scenario cost).",
        "",
        "## Machine and versions",
        "",
        f"- CPU: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, {meta['machine']['memory']}, "
        f"kernel {meta['machine']['kernel']}",
        f"- load average (1/5/15 min): {meta.get('load_average', 'not recorded')}",
        f"- gatehouse binary: {meta.get('gatehouse_binary', 'not recorded')}",
    ]
    if "floor_binary" in meta:
        lines.append(f"- {FLOOR} binary: {meta['floor_binary']}")
    if meta.get("core_floor_binary", "none") != "none":
        lines.append(f"- {CORE_FLOOR} binary: {meta['core_floor_binary']}")
    lines += [f"- {name}: `{version}`" for name, version in meta["versions"].items()]
    lines.append("")
    if chart_name:
        lines += [f"![requests per second and p99 latency per scenario]({chart_name})", ""]
    lines += ["## Results", ""]
    for scenario in SCENARIOS:
        # A scenario this run did not select has neither a row nor an n/a reason: no table.
        if any(scenario.name in table.get(t, {}) or scenario.name in data["unavailable"].get(t, {}) for t in TARGETS):
            lines += scenario_table(table, data["unavailable"], scenario)
    lines += floor_section(table)
    lines += core_floor_section(table)
    lines += ["## Goals", "", "| goal | scenario | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {g} | {s} | {v} | {verdict} |" for g, s, v, verdict in goals(table)]
    lines.append("")
    churn = data.get("churn")
    lines += ["## Churn (route-table swaps during load)", ""]
    if churn:
        cost = 1 - churn["churn_rps"] / churn["baseline_rps"] if churn["baseline_rps"] else float("nan")
        lines += [
            f"gatehouse, 64 connections, manifest rewritten {churn['rate_hz']:g}×/s for the whole run.",
            "",
            "| | req/s (median) | non-2xx + errors | manifest writes | swaps seen in /readyz |",
            "|---|---:|---:|---:|---:|",
            f"| without churn | {churn['baseline_rps']:,.0f} | "
            f"{sum(s['non_2xx'] + s['errors'] for s in churn['baseline'])} | – | – |",
            f"| with churn | {churn['churn_rps']:,.0f} | {churn['bad_responses']} | {churn['writes']} | {churn['swaps']} |",
            "",
            f"Cost of churn: {cost * 100:.1f} % of req/s. Zero non-2xx: "
            f"{'met' if churn['bad_responses'] == 0 else 'NOT met'}.",
            "",
        ]
    else:
        lines += [data.get("churn_skipped", "not run"), ""]
    if data.get("notes"):
        lines += ["## Notes from this run", ""] + [f"- {n}" for n in data["notes"]] + [""]
    lines += ["## Profile of gatehouse's request path", "", data.get("profile_note", "Not profiled in this run."), ""]
    return "\n".join(lines)


def chart(table: dict, path: Path) -> str | None:
    """Grouped bars of req/s and p99 per scenario; returns an error string if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError as err:
        return f"chart not drawn: {err}"
    targets = [t for t in TARGETS if t in table]
    scenarios = [s for s in SCENARIOS if any(s.name in table[t] for t in targets)]
    fig, (ax_rps, ax_p99) = plt.subplots(2, 1, figsize=(11, 8), constrained_layout=True)
    width = 0.8 / max(1, len(targets))
    for i, target in enumerate(targets):
        xs = [j + i * width for j in range(len(scenarios))]
        rps = [table[target].get(s.name, {}).get("rps", 0) for s in scenarios]
        p99 = [table[target].get(s.name, {}).get("p99_us", 0) / 1000 for s in scenarios]
        ax_rps.bar(xs, rps, width, label=target)
        ax_p99.bar(xs, p99, width, label=target)
    centers = [j + width * (len(targets) - 1) / 2 for j in range(len(scenarios))]
    for ax, title in ((ax_rps, "requests/s (higher is better; median)"), (ax_p99, "p99 latency, ms (lower is better)")):
        ax.set_xticks(centers)
        ax.set_xticklabels([s.name for s in scenarios])
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    top = max((table[t].get(s.name, {}).get("rps", 0) for t in targets for s in scenarios), default=1)
    ax_rps.set_ylim(0, top * 1.2)  # headroom so the legend never covers a bar
    ax_rps.legend(ncol=len(targets), fontsize="small", loc="upper right")
    ax_p99.set_yscale("log")
    ax_p99.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    fig.suptitle("gatehouse vs peers — one core per proxy (missing bar = n/a)")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
