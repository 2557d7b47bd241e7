#!/usr/bin/env python3
"""TEST DOUBLE of the bench's floor (benches/floor) for the harness's own end-to-end tests — never
benchmarked. It takes the floor's command line and answers every GET on --http with 200 "ok" itself
(no proxying); --https is a plain-HTTP listener, so TLS probes fail and its TLS scenarios are n/a."""

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> int:
    parser = argparse.ArgumentParser()
    for flag in ("--upstream", "--http", "--https", "--cert", "--key"):
        parser.add_argument(flag)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keepalive-pool", type=int, default=128)
    parser.add_argument("--work-stealing", choices=("true", "false"), default="true")
    args = parser.parse_args()
    if not args.upstream or not (args.http or args.https):
        print("--upstream and --http or --https are required", file=sys.stderr)
        return 2
    for addr in filter(None, (args.http, args.https)):
        host, port = addr.rsplit(":", 1)
        ThreadingHTTPServer.request_queue_size = 1024
        server = ThreadingHTTPServer((host, int(port)), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    time.sleep(3600)  # a test double never outlives an hour
    return 0


if __name__ == "__main__":
    sys.exit(main())
