"""Parsers of wrk/h2load output and the percentile helper."""

import unittest

from harness import loadgen

WRK_OUT = """Running 1s test @ http://127.0.0.1:18100/
  1 threads and 64 connections
WRKJSON {"requests":15380,"duration_us":1000123,"connect_errors":0,"read_errors":2,"write_errors":0,"timeouts":1,"non_2xx_3xx":7,"p50_us":3130,"p99_us":11540,"p999_us":21560,"max_us":30000}
"""

H2_OUT = """TLS Protocol: TLSv1.3
Application protocol: h2
finished in 6.61ms, 3024.80 req/s, 221.25KB/s
requests: 20 total, 20 started, 20 done, 19 succeeded, 1 failed, 0 errored, 0 timeout
status codes: 19 2xx, 0 3xx, 1 4xx, 0 5xx
"""


class ParseWrk(unittest.TestCase):
    def test_reads_the_lua_summary(self):
        r = loadgen.parse_wrk(WRK_OUT)
        self.assertEqual(r.requests, 15380)
        self.assertAlmostEqual(r.rps, 15380 / 1.000123, places=3)
        self.assertEqual((r.p50_us, r.p99_us, r.p999_us), (3130.0, 11540.0, 21560.0))
        self.assertEqual(r.errors, 3)
        self.assertEqual(r.non_2xx, 7)

    def test_missing_line_is_an_error(self):
        with self.assertRaises(loadgen.LoadError):
            loadgen.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


class ParseH2load(unittest.TestCase):
    def test_summary_and_log_percentiles(self):
        log = "\n".join(f"17957006210{i:05d}\t200\t{i}" for i in range(1, 1001))
        r = loadgen.parse_h2load(H2_OUT, log)
        self.assertEqual(r.requests, 19)
        self.assertAlmostEqual(r.seconds, 0.00661)
        self.assertAlmostEqual(r.rps, 3024.80)
        self.assertEqual(r.p50_us, 500.0)
        self.assertEqual(r.p99_us, 990.0)
        self.assertEqual(r.p999_us, 999.0)
        self.assertEqual(r.non_2xx, 1)
        self.assertEqual(r.errors, 1)

    def test_unknown_output_is_an_error(self):
        with self.assertRaises(loadgen.LoadError):
            loadgen.parse_h2load("connect: Connection refused", "")


class Percentile(unittest.TestCase):
    def test_nearest_rank(self):
        values = [float(v) for v in range(1, 101)]
        self.assertEqual(loadgen.percentile(values, 50), 50.0)
        self.assertEqual(loadgen.percentile(values, 99), 99.0)
        self.assertEqual(loadgen.percentile(values, 100), 100.0)
        self.assertEqual(loadgen.percentile([], 99), 0.0)
        self.assertEqual(loadgen.percentile([7.0], 99.9), 7.0)


if __name__ == "__main__":
    unittest.main()
