"""Medians across rounds, ratios, the goals check and the markdown/chart output."""

import tempfile
import unittest
from pathlib import Path

from harness import report, tools

from . import report_data


def sample(target, scenario, rps, p99=1000.0, cpu=1.0, rss=10240, round_no=0, bad=0):
    return {
        "target": target,
        "scenario": scenario,
        "round": round_no,
        "rps": rps,
        "p50_us": p99 / 2,
        "p99_us": p99,
        "p999_us": p99 * 2,
        "cpu_per_100k": cpu,
        "peak_rss_kib": rss,
        "non_2xx": bad,
        "errors": 0,
    }


class Medians(unittest.TestCase):
    def test_median_per_metric_and_sum_of_failures(self):
        rows = [sample("nginx", "h1-c64", v, round_no=i, bad=1) for i, v in enumerate((10.0, 30.0, 20.0))]
        m = report.medians(rows)["nginx"]["h1-c64"]
        self.assertEqual(m["rps"], 20.0)
        self.assertEqual(m["rounds"], 3)
        self.assertEqual(m["non_2xx"], 3)


class Goals(unittest.TestCase):
    def table(self, gate_rps, gate_p99, gate_rss):
        rows = []
        for scen in ("h1-c64", "h1-c256"):
            rows += [
                sample("nginx", scen, 100.0, p99=2000, cpu=5.0, rss=20000),
                sample("haproxy", scen, 110.0, p99=1500, cpu=4.0, rss=15000),
                sample("traefik", scen, 50.0, p99=5000, cpu=9.0, rss=100000),
                sample("gatehouse", scen, gate_rps, p99=gate_p99, cpu=3.0, rss=gate_rss),
            ]
        return report.medians(rows)

    def test_met_goals(self):
        verdicts = {(g, s): v for g, s, _, v in report.goals(self.table(130.0, 1000, 30000))}
        self.assertEqual(verdicts[("req/s ≥ 1.2× nginx", "h1-c64")], "met")
        self.assertEqual(verdicts[("req/s > best peer (haproxy)", "h1-c256")], "met")
        self.assertEqual(verdicts[("p99 ≤ best peer's (haproxy)", "h1-c64")], "met")
        self.assertEqual(verdicts[("CPU/request lowest (haproxy next)", "h1-c64")], "met")
        self.assertEqual(verdicts[("RSS < 0.5× Traefik", "h1-c64")], "met")

    def test_unmet_goals(self):
        verdicts = {(g, s): v for g, s, _, v in report.goals(self.table(105.0, 1600, 60000))}
        self.assertEqual(verdicts[("req/s ≥ 1.2× nginx", "h1-c64")], "not met")
        self.assertEqual(verdicts[("req/s > best peer (haproxy)", "h1-c64")], "not met")
        self.assertEqual(verdicts[("p99 ≤ best peer's (haproxy)", "h1-c64")], "not met")
        self.assertEqual(verdicts[("RSS < 0.5× Traefik", "h1-c64")], "not met")

    def test_missing_gatehouse_is_na(self):
        table = report.medians([sample("nginx", "h1-c64", 100.0)])
        rows = [r for r in report.goals(table) if r[1] == "h1-c64"]
        self.assertTrue(rows and all(r[3] == "n/a" for r in rows))


class Markdown(unittest.TestCase):
    def test_table_ratios_and_na_reasons(self):
        rows = [
            sample("nginx", "h1-c64", 100.0),
            sample("haproxy", "h1-c64", 200.0),
            sample("gatehouse", "h1-c64", 150.0),
        ]
        data = report_data.results(
            report.medians(rows),
            {"gatehouse": {"https-c64": "HTTPS listener refused"}},
            versions={"nginx": "1.22"},
        )
        text = report.markdown(data, "results.png")
        self.assertIn("| gatehouse | 150 | 1.50× | 0.75× |", text)
        self.assertIn("HTTPS listener refused", text)
        self.assertIn("![requests per second", text)
        self.assertIn("`abc`", text)

    def test_chart_is_a_png(self):
        tools.skip_unless_installed("matplotlib")
        table = report.medians([sample("nginx", "h1-c64", 100.0), sample("caddy", "h1-c64", 50.0)])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.png"
            error = report.chart(table, path)
            self.assertIsNone(error)
            self.assertEqual(path.read_bytes()[:8], b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main()
