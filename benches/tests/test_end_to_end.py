"""The harness end to end (quick modes) against the gatehouse TEST DOUBLE: every stage runs.

This checks the harness, not gatehouse: the double answers requests itself and its numbers mean
nothing. Skipped where the peers/load generators are not installed (benches/run installs them),
except under CI=true, where that fails (harness.tools).
"""

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from harness import tools

BENCHES = Path(__file__).resolve().parents[1]
DOUBLE = BENCHES / "tests" / "fake_gatehouse.py"
FLOOR_DOUBLE = BENCHES / "tests" / "fake_floor.py"


class QuickModes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tools.skip_unless_installed("nginx", "wrk", "h2load", "taskset", "openssl")

    def run_tool(self, tool, *args):
        return subprocess.run(
            [sys.executable, str(BENCHES / tool), "--quick", "--no-install", "--gatehouse", str(DOUBLE), *args],
            capture_output=True,
            text=True,
            timeout=300,
        )

    def test_run_quick_writes_a_report_and_counts_churn_swaps(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "results.md"
            proc = self.run_tool(
                "run",
                "--floor",
                str(FLOOR_DOUBLE),
                "--core-floor",
                str(FLOOR_DOUBLE),
                "--targets",
                "upstream,gatehouse,pingora-floor,core-floor,nginx,haproxy",
                "--scenarios",
                "h1-c64,https-c64,h1-c64-defaults",
                "--port-base",
                "18580",
                "--out",
                str(out),
            )
            self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
            data = json.loads(out.with_name("results.json").read_text())
            measured = {(s["target"], s["scenario"]) for s in data["samples"]}
            self.assertIn(("gatehouse", "h1-c64"), measured)
            self.assertIn(("nginx", "https-c64"), measured)
            # The double refuses HTTPS: the harness must record n/a, not fail.
            self.assertIn("https-c64", data["unavailable"]["gatehouse"])
            # The floor runs in the same rounds; the defaults scenario runs second processes of
            # gatehouse and nginx (haproxy takes no part), and the floor as it is.
            self.assertIn(("pingora-floor", "h1-c64"), measured)
            self.assertIn(("core-floor", "h1-c64"), measured)  # the core floor: the same flags
            processes = {(s["target"], s["scenario"]): s["process"] for s in data["samples"]}
            self.assertEqual(processes[("gatehouse", "h1-c64-defaults")], "gatehouse-defaults")
            self.assertEqual(processes[("nginx", "h1-c64-defaults")], "nginx-defaults")
            self.assertEqual(processes[("nginx", "h1-c64")], "nginx")
            self.assertEqual(processes[("pingora-floor", "h1-c64-defaults")], "pingora-floor")
            self.assertIn("not in the defaults scenarios", data["unavailable"]["haproxy"]["h1-c64-defaults"])
            self.assertIsNotNone(data["floor_ratios"]["h1-c64"]["cpu_per_request"]["gatehouse/pingora-floor"])
            self.assertEqual(data["churn"]["swaps"], data["churn"]["writes"])
            self.assertEqual(data["churn"]["bad_responses"], 0)
            text = out.read_text()
            self.assertIn("| gatehouse | n/a |", text)
            self.assertIn("## Churn", text)
            self.assertIn("## The floor: bare Pingora", text)
            self.assertIn("## The core floor: pingora-core's own sessions", text)
            self.assertIsNotNone(data["floor_ratios"]["h1-c64"]["cpu_per_request"]["core-floor/pingora-floor"])

    def test_scale_quick_measures_each_size(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "scale.md"
            proc = self.run_tool(
                "scale",
                "--sizes",
                "50,200",
                "--changes",
                "2",
                "--port-base",
                "18680",
                "--out",
                str(out),
                # The double reads manifests only; the Kubernetes source needs the real binary.
                "--source",
                "manifests",
            )
            self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
            data = json.loads(out.with_name("scale.json").read_text())
            self.assertEqual([r["ingresses"] for r in data["results"]], [50, 200])
            for r in data["results"]:
                self.assertGreater(r["load_to_swap_s"], 0)
                self.assertEqual(len(r["change_to_routed_ms"]), 2)
                self.assertEqual(r["error"], "")

    def test_failover_quick_counts_each_target(self):
        # The double answers by itself, so the kill costs it nothing; nginx really loses the endpoint.
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "failover.md"
            proc = self.run_tool("failover", "--targets", "gatehouse,nginx", "--out", str(out))
            self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
            data = json.loads(out.with_name("failover.json").read_text())
            self.assertEqual([r["target"] for r in data["results"]], ["gatehouse", "nginx"])
            for r in data["results"]:
                self.assertEqual(r["error"], "")
                self.assertGreater(r["total"], 0)
                self.assertIsNotNone(r["killed_at"])
            self.assertIn("## Each run", out.read_text())


if __name__ == "__main__":
    unittest.main()
