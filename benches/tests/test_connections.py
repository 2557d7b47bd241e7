"""benches/connections: its pure parts, and its quick mode end to end against the gatehouse TEST DOUBLE."""

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

from harness import connections
from harness.connections import StateResult

BENCHES = Path(__file__).resolve().parents[1]
DOUBLE = BENCHES / "tests" / "fake_gatehouse.py"


class ReadResponse(unittest.TestCase):
    def serve(self, payload: bytes) -> socket.socket:
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        threading.Thread(target=lambda: (b.sendall(payload), b.close()), daemon=True).start()
        return a

    def test_content_length_body_is_consumed(self):
        sock = self.serve(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        self.assertTrue(connections.read_response(sock).startswith(b"HTTP/1.1 200"))

    def test_chunked_body_is_consumed(self):
        sock = self.serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nok\n\r\n0\r\n\r\n")
        self.assertIn(b"chunked", connections.read_response(sock))

    def test_close_before_head_is_an_error(self):
        with self.assertRaises(OSError):
            connections.read_response(self.serve(b"HTTP/1.1 200"))


class Report(unittest.TestCase):
    def test_per_connection_ratio_and_na(self):
        results = [
            StateResult("gatehouse", "idle", connections=100, held=100, rss_before_kib=1000, rss_after_kib=3000),
            StateResult("nginx", "idle", connections=100, held=100, rss_before_kib=1000, rss_after_kib=1500),
            StateResult("gatehouse", "tls-idle", error="n/a: no HTTPS listener in this build"),
            StateResult("nginx", "tls-idle", connections=100, held=100, rss_before_kib=1000, rss_after_kib=2000),
        ]
        meta = {"commit": "abc", "date": "now", "command": "c", "binary": "b", "connections": 100, "notes": ["x"]}
        text = connections.markdown(results, meta, ["gatehouse", "nginx"], ["idle", "tls-idle"])
        self.assertIn("| idle keep-alive after one request/response | 20.0 | 5.0 | 4.0× |", text)
        self.assertIn("| n/a | 10.0 | n/a |", text)
        self.assertIn("no HTTPS listener", text)

    def test_nofile_cap_says_so(self):
        n, note = connections.raise_nofile(10**9)
        self.assertLess(n, 10**9)
        self.assertIn("capped", note)
        self.assertEqual(connections.raise_nofile(10), (10, ""))


@unittest.skipUnless(all(shutil.which(t) for t in ("nginx", "taskset", "openssl")), "nginx/taskset/openssl missing")
class QuickMode(unittest.TestCase):
    def test_quick_measures_every_state_of_both_targets(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "connections.md"
            proc = subprocess.run(
                [
                    sys.executable,
                    str(BENCHES / "connections"),
                    "--quick",
                    "--no-install",
                    "--gatehouse",
                    str(DOUBLE),
                    "--connections",
                    "50",
                    "--out",
                    str(out),
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
            self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
            data = json.loads(out.with_name("connections.json").read_text())
            got = {(r["target"], r["state"]): r for r in data["results"]}
            for state in ("idle", "half-open", "connected"):
                for target in ("gatehouse", "nginx"):
                    self.assertEqual(got[(target, state)]["held"] >= 50, True, got[(target, state)])
                    self.assertIsNotNone(got[(target, state)]["kib_per_connection"])
            # The double refuses HTTPS: n/a, not a failure; nginx measures it.
            self.assertTrue(got[("gatehouse", "tls-idle")]["error"].startswith("n/a"))
            self.assertIsNotNone(got[("nginx", "tls-idle")]["kib_per_connection"])
            self.assertIn("gatehouse ÷ nginx", out.read_text())


if __name__ == "__main__":
    unittest.main()
