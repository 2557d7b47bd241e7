"""probe.wait_routed: a proxy that listens before its routes are loaded is waited for, bounded."""

import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import probe


def serve(status_after: list[tuple[float, int]]):
    """A local server answering each status from its start time on (the last that applies)."""
    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            elapsed = time.monotonic() - started
            status = [s for after, s in status_after if elapsed >= after][-1]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class WaitRouted(unittest.TestCase):
    def test_waits_through_404_until_routed(self):
        server = serve([(0.0, 404), (0.3, 200)])
        self.addCleanup(server.shutdown)
        self.assertTrue(probe.wait_routed(server.server_address[1], timeout=5))

    def test_gives_up_after_the_timeout(self):
        server = serve([(0.0, 404)])
        self.addCleanup(server.shutdown)
        started = time.monotonic()
        self.assertFalse(probe.wait_routed(server.server_address[1], timeout=0.3))
        self.assertLess(time.monotonic() - started, 3)


if __name__ == "__main__":
    unittest.main()
