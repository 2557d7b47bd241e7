#!/usr/bin/env python3
"""TEST DOUBLE of the gatehouse CLI for the harness's own end-to-end tests — never benchmarked.

It speaks just enough of gatehouse's interface for the harness to exercise every stage: --help,
--manifests/--instance/--admin/--threads, a plain-HTTP listener answering 200 "ok" for hosts named
in the manifests (404 otherwise, no proxying), /readyz with a generation bumped on each change of
the manifests dir, and an HTTPS request in --instance refused (as gatehouse builds without TLS do).
"""

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HELP = "usage: gatehouse --manifests DIR --instance SPEC --admin ADDR --threads N\n"
HOST = re.compile(r'^\s*-?\s*host:\s*"?([^"\s]+)"?\s*$', re.M)


class State:
    def __init__(self, directory: Path):
        self.directory = directory
        self.hosts: set[str] = set()
        self.generation = 0
        self.signature = None
        self.lock = threading.Lock()

    def rescan(self) -> None:
        files = sorted(p for p in self.directory.glob("*.y*ml") if not p.name.startswith("."))
        texts = [p.read_text() for p in files]
        signature = hash(tuple(texts))
        if signature == self.signature:
            return
        hosts = {h.lower() for text in texts for h in HOST.findall(text)}
        with self.lock:
            self.hosts, self.signature = hosts, signature
            self.generation += 1

    def routes(self, host: str) -> bool:
        host = host.split(":")[0].lower()
        with self.lock:
            return host in self.hosts or any(h.startswith("*.") and host.endswith(h[1:]) for h in self.hosts)


def handler(state: State, admin: bool):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if admin:
                if self.path == "/readyz":
                    body = {"ready": state.generation > 0, "instances": {"bench": {"generation": state.generation}}}
                    self.reply(200, json.dumps(body).encode())
                else:
                    self.reply(200 if self.path == "/healthz" else 404, b"ok\n")
                return
            self.reply(200 if state.routes(self.headers.get("Host", "")) else 404, b"ok\n")

    return Handler


def main() -> int:
    if "--help" in sys.argv:
        print(HELP)
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifests", type=Path, required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--admin", required=True)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    spec = dict(kv.split("=", 1) for kv in args.instance.split(","))
    if "https" in spec:
        print("error: https listeners are not supported by this build", file=sys.stderr)
        return 2
    state = State(args.manifests)
    state.rescan()
    servers = []
    for addr, admin in ((spec["http"], False), (args.admin, True)):
        host, port = addr.rsplit(":", 1)
        ThreadingHTTPServer.request_queue_size = 1024  # benches/connections opens hundreds at once
        server = ThreadingHTTPServer((host, int(port)), handler(state, admin))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    deadline = time.monotonic() + 3600  # a test double never outlives an hour
    while time.monotonic() < deadline:
        time.sleep(0.02)
        state.rescan()
    return 0


if __name__ == "__main__":
    sys.exit(main())
