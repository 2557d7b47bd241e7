"""The floor target (bare Pingora) and the defaults variant: command lines, configs, process plan,
ratios and their rendering. Pure: nothing is built or started (nginx -t only where installed)."""

import importlib.machinery
import importlib.util
import subprocess
import tempfile
import unittest
from argparse import Namespace
from pathlib import Path

from harness import gatehouse, install, layout, peers, report, run, tools
from harness.certs import CertFiles
from harness.layout import CORE_FLOOR, FLOOR, SCENARIOS

from . import report_data

CERTS = CertFiles(Path("/c/cert.pem"), Path("/c/key.pem"), Path("/c/combined.pem"))
BY_NAME = {s.name: s for s in SCENARIOS}
DEFAULTS = BY_NAME["h1-c64-defaults"]


def sample(target, scenario, rps, cpu, round_no=0):
    return {
        "target": target,
        "scenario": scenario,
        "round": round_no,
        "rps": rps,
        "p50_us": 100.0,
        "p99_us": 1000.0,
        "p999_us": 2000.0,
        "cpu_per_100k": cpu,
        "peak_rss_kib": 10240,
        "non_2xx": 0,
        "errors": 0,
    }


class FloorCommandLine(unittest.TestCase):
    def test_floor_spec_serves_both_listeners_with_the_peers_certificate(self):
        spec = peers.floor(Path("/b/gatehouse-bench-floor"), 1, 2, 3, CERTS)
        self.assertEqual(spec.name, FLOOR)
        self.assertEqual((spec.http_port, spec.https_port), (1, 2))
        self.assertEqual(
            spec.argv,
            [
                "/b/gatehouse-bench-floor",
                "--upstream",
                "127.0.0.1:3",
                "--http",
                "127.0.0.1:1",
                "--https",
                "127.0.0.1:2",
                "--cert",
                "/c/cert.pem",
                "--key",
                "/c/key.pem",
                "--threads",
                "1",
                "--keepalive-pool",
                "512",
                # gatehouse's default scheduler: gatehouse ÷ floor compares request paths.
                "--work-stealing",
                "false",
            ],
        )
        self.assertEqual(spec.protocols, peers.ALL_PROTOCOLS)

    def test_one_cargo_invocation_builds_both(self):
        self.assertEqual(
            install.cargo_build_args("release", floor=True),
            [
                "cargo",
                "build",
                "-p",
                "gatehouse",
                "--bin",
                "gatehouse",
                "-p",
                "gatehouse-bench-floor",
                "--bin",
                "gatehouse-bench-floor",
                "--bin",
                "gatehouse-bench-core-floor",
                "--release",
            ],
        )
        dev = install.cargo_build_args("dev", floor=False)
        self.assertEqual(dev, ["cargo", "build", "-p", "gatehouse", "--bin", "gatehouse"])
        self.assertEqual(install.built_binary("dev", "gatehouse-bench-floor").parent.name, "debug")

    def test_core_floor_takes_the_floors_flags_and_no_h2(self):
        spec = peers.floor(Path("/b/gatehouse-bench-core-floor"), 1, 2, 3, CERTS, name=CORE_FLOOR)
        self.assertEqual(spec.name, CORE_FLOOR)
        self.assertEqual(spec.argv[1:], peers.floor(Path("/f"), 1, 2, 3, CERTS).argv[1:])
        self.assertEqual(spec.protocols, frozenset({"h1", "h1-tls"}))
        self.assertEqual(layout.variant_of(CORE_FLOOR, DEFAULTS), "")  # a reference, like the floor

    def test_build_uses_given_binaries_without_cargo(self):
        args = Namespace(gatehouse=Path("/g"), floor=Path("/f"), core_floor=Path("/c"), profile="dev")
        binaries, errors = run.build(args, ["upstream", "gatehouse", FLOOR, CORE_FLOOR])
        self.assertEqual(binaries, {"gatehouse": Path("/g"), FLOOR: Path("/f"), CORE_FLOOR: Path("/c")})
        self.assertEqual(errors, {})
        binaries, _ = run.build(args, ["nginx"])
        self.assertEqual(binaries, {})


class DefaultsVariant(unittest.TestCase):
    FLAGS = gatehouse.Flags(threads=True, access_log=True, help_text="")

    def test_gatehouse_access_log_off_in_the_bench_default_in_the_variant(self):
        bench = gatehouse.argv(Path("/g"), self.FLAGS, Path("/m"), 1, 2, 3)
        self.assertEqual(bench[-2:], ["--access-log", "off"])
        defaults = gatehouse.argv(Path("/g"), self.FLAGS, Path("/m"), 1, 2, 3, variant="defaults")
        self.assertNotIn("--access-log", defaults)
        self.assertEqual(defaults[-2:], ["--threads", "1"])
        with self.assertRaises(ValueError):
            gatehouse.argv(Path("/g"), self.FLAGS, Path("/m"), 1, 2, 3, variant="other")

    def test_nginx_logs_buffered_only_in_the_variant(self):
        with tempfile.TemporaryDirectory() as tmp:
            bench = peers.nginx(Path(tmp) / "a", 1, 2, 3, CERTS)
            text = Path(bench.argv[-1]).read_text()
            self.assertIn("access_log off;", text)
            self.assertNotIn("upstreaminfo", text)
            variant = peers.nginx(Path(tmp) / "b", 1, 2, 3, CERTS, "defaults")
            text = Path(variant.argv[-1]).read_text()
            self.assertIn(f"access_log {Path(tmp) / 'b' / 'access.log'} upstreaminfo buffer=64k;", text)
            self.assertIn("log_format upstreaminfo '$remote_addr - $remote_user", text)
            self.assertEqual(variant.name, "nginx")

    def test_nginx_accepts_the_variant_config(self):
        tools.skip_unless_installed("nginx", "openssl")
        from harness.certs import make_cert

        with tempfile.TemporaryDirectory() as tmp:
            certs = make_cert(Path(tmp) / "certs")
            spec = peers.nginx(Path(tmp) / "n", 1, 2, 3, certs, "defaults")
            out = subprocess.run([*spec.argv, "-t"], capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)

    def test_who_runs_a_variant_scenario_and_as_which_process(self):
        bench = BY_NAME["h1-c64"]
        self.assertEqual(layout.variant_of("haproxy", bench), "")
        self.assertEqual(layout.variant_of("gatehouse", DEFAULTS), "defaults")
        self.assertEqual(layout.variant_of("nginx", DEFAULTS), "defaults")
        self.assertEqual(layout.variant_of(FLOOR, DEFAULTS), "")
        self.assertEqual(layout.variant_of("upstream", DEFAULTS), "")
        self.assertIsNone(layout.variant_of("caddy", DEFAULTS))
        self.assertEqual(layout.process_name("nginx", "defaults"), "nginx-defaults")
        self.assertEqual(layout.process_name("nginx", ""), "nginx")
        self.assertIn("only gatehouse, nginx", run.not_in_variant(DEFAULTS))

    def test_processes_needed(self):
        targets = ["upstream", "gatehouse", FLOOR, "nginx", "caddy"]
        self.assertEqual(
            run.processes_needed(targets, [BY_NAME["h1-c64"], DEFAULTS]),
            [("upstream", ""), ("gatehouse", ""), ("gatehouse", "defaults"), (FLOOR, ""), ("nginx", ""),
             ("nginx", "defaults"), ("caddy", "")],
        )
        # Only the variant's scenario: no bench-configured gatehouse or nginx, no caddy at all.
        self.assertEqual(
            run.processes_needed(targets, [DEFAULTS]),
            [("upstream", ""), ("gatehouse", "defaults"), (FLOOR, ""), ("nginx", "defaults")],
        )
        self.assertNotIn(("gatehouse", "defaults"), run.processes_needed(targets, [BY_NAME["h1-c1"]]))


def instructions_module():
    """benches/instructions (a script without .py) as a module."""
    path = str(Path(__file__).resolve().parents[1] / "instructions")
    loader = importlib.machinery.SourceFileLoader("bench_instructions", path)
    spec = importlib.util.spec_from_loader("bench_instructions", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class Instructions(unittest.TestCase):
    def test_each_kind_gets_its_command_line(self):
        instructions = instructions_module()
        floor = instructions.command("floor", "/f", 10, 11, 12, "/w")
        self.assertEqual(
            floor,
            ["/f", "--upstream", "127.0.0.1:10", "--http", "127.0.0.1:11", "--threads", "1", "--work-stealing", "false"],
        )
        gate = instructions.command("gatehouse", "/g", 10, 11, 12, "/w")
        self.assertEqual(gate[:3], ["/g", "--manifests", "/w/manifests"])
        self.assertIn("class=bench,http=127.0.0.1:11", gate)
        self.assertEqual(gate[-4:], ["--threads", "1", "--access-log", "off"])
        # --h2: the floor offers HTTP/2 with prior knowledge as gatehouse does; gatehouse unchanged.
        self.assertEqual(instructions.command("floor", "/f", 10, 11, 12, "/w", h2=True), floor + ["--h2c"])
        self.assertEqual(instructions.command("gatehouse", "/g", 10, 11, 12, "/w", h2=True), gate)

    def test_ratio_lines_pair_each_gatehouse_with_each_floor(self):
        instructions = instructions_module()
        lines = instructions.ratios([("gatehouse", "/g", 150_000.0), ("floor", "/f", 120_000.0)])
        self.assertEqual(lines, ["/g ÷ /f: 1.250×"])
        self.assertEqual(instructions.ratios([("gatehouse", "/g", 1.0)]), [])
        lines = instructions.ratios([("gatehouse-defaults", "/g", 180.0), ("floor", "/f", 120.0)])
        self.assertEqual(lines, ["/g (gatehouse-defaults) ÷ /f: 1.500×"])

    def test_core_floor_runs_like_the_floor_and_is_divided_by_it(self):
        instructions = instructions_module()
        self.assertEqual(
            instructions.command("core-floor", "/c", 10, 11, 12, "/w"),
            instructions.command("floor", "/c", 10, 11, 12, "/w"),
        )
        lines = instructions.ratios(
            [("floor", "/f", 100_000.0), ("core-floor", "/c", 80_000.0), ("gatehouse", "/g", 130_000.0)]
        )
        self.assertEqual(lines, ["/g ÷ /f: 1.300×", "/c ÷ /f: 0.800×"])

    def test_kept_dumps_are_copied_under_the_given_name(self):
        instructions = instructions_module()
        with tempfile.TemporaryDirectory() as work:
            Path(f"{work}/callgrind.out.1").write_text("summary: 10\n")
            instructions.keep_dumps(f"{work}/callgrind.out", f"{work}/1-floor.callgrind")
            self.assertEqual(Path(f"{work}/1-floor.callgrind").read_text(), "summary: 10\n")
            Path(f"{work}/callgrind.out.2").write_text("summary: 20\n")
            instructions.keep_dumps(f"{work}/callgrind.out", f"{work}/2-gatehouse.callgrind")
            self.assertEqual(Path(f"{work}/2-gatehouse.callgrind.2").read_text(), "summary: 20\n")

    def test_defaults_leave_the_access_log_on(self):
        gate = instructions_module().command("gatehouse-defaults", "/g", 10, 11, 12, "/w")
        self.assertNotIn("--access-log", gate)
        self.assertEqual(gate[-2:], ["--threads", "1"])


class Ratios(unittest.TestCase):
    def table(self):
        return report.medians(self.rows())

    def rows(self):
        rows = []
        for scenario in ("h1-c64", "h1-c1"):
            rows += [
                sample("nginx", scenario, 200.0, 2.0),
                sample(FLOOR, scenario, 125.0, 3.2),
                sample("gatehouse", scenario, 100.0, 4.0),
            ]
        rows.append(sample("nginx", "h1-c256", 100.0, 2.0))  # neither gatehouse nor the floor ran
        return rows

    def test_three_ratios_of_cpu_and_rps(self):
        ratios = report.floor_ratios(self.table())
        cpu = ratios["h1-c64"]["cpu_per_request"]
        self.assertAlmostEqual(cpu["gatehouse/nginx"], 2.0)
        self.assertAlmostEqual(cpu[f"{FLOOR}/nginx"], 1.6)
        self.assertAlmostEqual(cpu[f"gatehouse/{FLOOR}"], 1.25)
        rps = ratios["h1-c64"]["rps"]
        self.assertAlmostEqual(rps["gatehouse/nginx"], 0.5)
        self.assertAlmostEqual(rps[f"gatehouse/{FLOOR}"], 0.8)
        self.assertIsNone(ratios["h1-c256"]["cpu_per_request"]["gatehouse/nginx"])
        self.assertNotIn("https-c64", ratios)

    def test_core_floor_ratios_and_section(self):
        table = self.table()
        self.assertEqual(report.core_floor_section(table), [])  # not run: no section
        table = report.medians([sample(CORE_FLOOR, "h1-c64", 150.0, 2.4), *self.rows()])
        cpu = report.floor_ratios(table)["h1-c64"]["cpu_per_request"]
        self.assertAlmostEqual(cpu[f"{CORE_FLOOR}/{FLOOR}"], 0.75)
        self.assertAlmostEqual(cpu[f"{CORE_FLOOR}/nginx"], 1.2)
        lines = report.core_floor_section(table)
        self.assertEqual(lines[0], "## The core floor: pingora-core's own sessions")
        self.assertEqual(
            [line for line in lines if line.startswith("| h1-")], ["| h1-c64 | 0.75× | 1.20× | 1.20× | 0.75× |"]
        )

    def test_ratio_of_missing_zero_or_nan_is_none(self):
        table = self.table()
        self.assertIsNone(report.ratio_of(table, "h1-c64", "rps", "gatehouse", "caddy"))
        table["nginx"]["h1-c64"]["rps"] = 0
        self.assertIsNone(report.ratio_of(table, "h1-c64", "rps", "gatehouse", "nginx"))
        table["nginx"]["h1-c64"]["rps"] = float("nan")
        self.assertIsNone(report.ratio_of(table, "h1-c64", "rps", "gatehouse", "nginx"))

    def test_section_rows_in_scenario_order(self):
        lines = report.floor_section(self.table())
        rows = [line for line in lines if line.startswith("| h1-")]
        self.assertEqual(
            rows,
            [
                "| h1-c1 | 2.00× | 1.60× | 1.25× | 0.50× | 0.62× | 0.80× |",
                "| h1-c64 | 2.00× | 1.60× | 1.25× | 0.50× | 0.62× | 0.80× |",
                "| h1-c256 | – | – | – | – | – | – |",
            ],
        )
        self.assertEqual(lines[0], "## The floor: bare Pingora")

    def test_goal_against_the_floor(self):
        verdicts = {(g, s): (v, verdict) for g, s, v, verdict in report.goals(self.table())}
        self.assertEqual(verdicts[("CPU/request ≤ 1.05× bare Pingora", "h1-c64")], ("1.25×", "not met"))
        self.assertNotIn(("CPU/request ≤ 1.05× bare Pingora", "h1-c256"), verdicts)

    def test_markdown_shows_the_floor_row_and_only_scenarios_run(self):
        data = report_data.results(
            self.table(),
            {"caddy": {DEFAULTS.name: run.not_in_variant(DEFAULTS)}},
            floor_binary="/b/gatehouse-bench-floor",
        )
        text = report.markdown(data, None)
        self.assertIn(f"| {FLOOR} (bare Pingora: the floor) | 125 | 0.62× |", text)
        self.assertIn("| 3.20 | 1.60× |", text)  # CPU-s / 100k and CPU × nginx
        self.assertIn("## The floor: bare Pingora", text)
        self.assertIn(f"- {FLOOR} binary: /b/gatehouse-bench-floor", text)
        self.assertIn("(`h1-c64-defaults`)", text)  # an n/a reason recorded: the table is there
        self.assertNotIn("(`https-c64`)", text)  # nobody ran it, nobody recorded n/a: no table


if __name__ == "__main__":
    unittest.main()
