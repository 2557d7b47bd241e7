"""`benches/connections`: server memory per open client connection (idle, half-open, just connected).

For gatehouse and nginx (the same Ingress -> one upstream on loopback as `benches/run`), opens N
client connections in one state, waits until the server has accepted all of them and read all they
sent, waits for its RSS to settle, and reports (RSS after - RSS before) / N in KiB. Each
(target, state) pair gets a freshly started server, so memory a previous state freed and the
allocator kept cannot hide the next state's cost.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shlex
import shutil
import socket
import ssl
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import gatehouse, install, peers
from .certs import make_cert
from .layout import BENCH_HOST, CLIENT_CPU, PROXY_CPU, Ports
from .processes import (
    Child,
    StartError,
    ensure_ports_free,
    ephemeral_ports,
    free_port_base,
    memory_kib,
    process_tree,
    start_pinned,
    wait_for_ports,
)

DOCS = install.REPO / "docs" / "benchmarks"
TARGETS = ("gatehouse", "nginx")
# name -> (label, over TLS, whether the client completes one request/response first)
STATES: dict[str, tuple[str, bool, bool]] = {
    "idle": ("idle keep-alive after one request/response", False, True),
    "half-open": ("half-open: partial request head sent", False, False),
    "connected": ("just connected, nothing sent", False, False),
    "tls-idle": ("HTTPS (TLS 1.3) idle keep-alive after one request/response", True, True),
}
REQUEST = f"GET / HTTP/1.1\r\nHost: {BENCH_HOST}\r\nUser-Agent: gatehouse-connections-bench\r\n\r\n".encode()
PARTIAL_HEAD = f"GET / HTTP/1.1\r\nHost: {BENCH_HOST}\r\nUser-Agent: gatehouse-conn".encode()
# File descriptors kept free for the harness itself (upstream, logs, probes) besides the N clients.
FD_MARGIN = 256
WARMUP_CONNECTIONS = 20


def log(message: str) -> None:
    """Progress on stdout, flushed."""
    print(message, flush=True)


@dataclass
class StateResult:
    """One (target, state) measurement."""

    target: str
    state: str
    connections: int = 0
    held: int = 0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    open_seconds: float = 0.0
    settled: bool = True
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def kib_per_connection(self) -> float | None:
        """RSS growth per connection, None if not measured."""
        if self.error or not self.connections:
            return None
        return (self.rss_after_kib - self.rss_before_kib) / self.connections


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; --quick sets small defaults for CI."""
    parser = argparse.ArgumentParser(prog="benches/connections", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI smoke mode: 200 connections, temp output")
    parser.add_argument("-n", "--connections", type=int, help="connections per state (default 5000; quick 200)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma list of targets (gatehouse,nginx)")
    parser.add_argument("--states", default=",".join(STATES), help="comma list of states: " + ", ".join(STATES))
    parser.add_argument(
        "--gatehouse",
        type=Path,
        help="gatehouse binary (default $CARGO_TARGET_DIR or target/ release/gatehouse, else debug; built if neither)",
    )
    parser.add_argument("--port-base", type=int, help="first of the loopback ports used (default: a free block)")
    parser.add_argument("--no-install", action="store_true", help="don't apt-get nginx/openssl if missing")
    parser.add_argument("--out", type=Path, help="markdown path (default docs/benchmarks/connections.md; quick: temp)")
    parser.add_argument("--timeout", type=float, default=60.0, help="bound on each wait (open, accept, settle), s")
    args = parser.parse_args(argv)
    args.connections = args.connections or (200 if args.quick else 5000)
    args.targets = [t for t in args.targets.split(",") if t]
    args.states = [s for s in args.states.split(",") if s]
    unknown = [t for t in args.targets if t not in TARGETS] + [s for s in args.states if s not in STATES]
    if unknown:
        parser.error(f"unknown target/state: {', '.join(unknown)}")
    if args.out is None:
        args.out = (
            Path(tempfile.mkdtemp(prefix="gatehouse-connections-quick-")) / "connections.md"
            if args.quick
            else DOCS / "connections.md"
        )
    return args


def raise_nofile(wanted: int) -> tuple[int, str]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (children inherit it); returns the connection
    count that fits and a note if it had to be capped."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < limit:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    fits = limit - FD_MARGIN
    if wanted > fits:
        return max(fits, 1), f"RLIMIT_NOFILE hard limit {limit}: connections capped at {fits} (asked {wanted})"
    return wanted, ""


def default_binary() -> Path | None:
    """An already-built gatehouse: release first, then debug, under $CARGO_TARGET_DIR or target/."""
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or install.REPO / "target")
    for profile in ("release", "debug"):
        candidate = target_dir / profile / "gatehouse"
        if candidate.is_file():
            return candidate
    return None


def fd_count(pid: int) -> int:
    """Open file descriptors over the process tree (nginx: master + workers)."""
    total = 0
    for p in process_tree(pid):
        try:
            total += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            continue
    return total


def unread_sockets(port: int) -> int:
    """Established server-side sockets on 127.0.0.1:port that still have bytes queued unread."""
    local = f"0100007F:{port:04X}"
    count = 0
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return 0
    for line in lines:
        fields = line.split()
        if len(fields) > 4 and fields[1] == local and fields[3] == "01":
            rx_queue = int(fields[4].split(":")[1], 16)
            count += rx_queue > 0
    return count


def settled_rss(pid: int, timeout: float, window: int = 5, interval: float = 0.1) -> tuple[int, bool]:
    """Poll the tree's VmRSS until `window` consecutive samples agree within max(64 KiB, 0.2 %);
    (last value, whether it settled within the bound)."""
    samples: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        samples.append(memory_kib(process_tree(pid)))
        recent = samples[-window:]
        if len(recent) == window and max(recent) - min(recent) <= max(64, max(recent) // 500):
            return recent[-1], True
        if time.monotonic() >= deadline:
            return samples[-1], False
        time.sleep(interval)


def read_response(sock: socket.socket) -> bytes:
    """Read one HTTP/1.1 response (Content-Length or chunked) off a blocking socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("connection closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lowered = head.lower()
    if b"transfer-encoding: chunked" in lowered:
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError("connection closed inside a chunked body")
            body += chunk
        return head
    length = 0
    for line in lowered.split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("connection closed inside the body")
        body += chunk
    return head


def tls_context() -> ssl.SSLContext:
    """TLS 1.3 client context that accepts the benchmark's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def open_connection(port: int, state: str, context: ssl.SSLContext | None, timeout: float) -> socket.socket:
    """One client connection brought into `state` (the socket stays open)."""
    _, tls, full_request = STATES[state]
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if tls:
            assert context is not None
            sock = context.wrap_socket(sock, server_hostname=BENCH_HOST)
        if full_request:
            sock.sendall(REQUEST)
            head = read_response(sock)
            status = head.split(b" ", 2)[1] if head.startswith(b"HTTP/1.1 ") else b"?"
            if not status.startswith(b"2"):
                raise OSError(f"answered {head.splitlines()[0].decode(errors='replace')}")
        elif state == "half-open":
            sock.sendall(PARTIAL_HEAD)
        return sock
    except BaseException:
        sock.close()
        raise


def warm_up(port: int, https_port: int | None, timeout: float) -> None:
    """A few complete requests (and TLS ones) so lazily built state (upstream pool, TLS config,
    allocator pages of the first requests) is in the baseline, not counted per connection."""
    context = tls_context()
    for _ in range(WARMUP_CONNECTIONS):
        open_connection(port, "idle", None, timeout).close()
        if https_port:
            open_connection(https_port, "tls-idle", context, timeout).close()


def start_target(
    target: str, binary: Path | None, workdir: Path, ports: Ports, certs, log_dir: Path
) -> tuple[Child, peers.ProxySpec]:
    """A fresh gatehouse or nginx proxy pinned to the proxy CPU, ready to serve."""
    if target == "gatehouse":
        if binary is None:
            raise StartError("no gatehouse binary")
        return gatehouse.start(
            binary, workdir, ports.proxy_http(0), ports.proxy_https(0), ports.proxy_admin(0), ports.upstream_http,
            certs, log_dir,
        )  # fmt: skip
    spec = peers.nginx(workdir, ports.proxy_http(1), ports.proxy_https(1), ports.upstream_http, certs)
    child = start_pinned(target, PROXY_CPU, spec.argv, log_dir, spec.env)
    try:
        wait_for_ports(child, [spec.http_port, spec.https_port])
    except StartError:
        child.stop()
        raise
    return child, spec


def measure_state(child: Child, spec: peers.ProxySpec, state: str, n: int, timeout: float) -> StateResult:
    """Open n connections in `state` against a running server and measure its RSS growth."""
    result = StateResult(spec.name, state)
    tls = STATES[state][1]
    port = spec.https_port if tls else spec.http_port
    if port is None:
        result.error = "n/a: no HTTPS listener in this build"
        return result
    warm_up(spec.http_port, spec.https_port, timeout=5.0)
    result.rss_before_kib, settled = settled_rss(child.pid, timeout)
    if not settled:
        result.notes.append("baseline RSS did not settle")
    fds_before = fd_count(child.pid)
    context = tls_context() if tls else None
    clients: list[socket.socket] = []
    started = time.monotonic()
    deadline = started + timeout
    try:
        for _ in range(n):
            if time.monotonic() > deadline:
                result.error = f"opened only {len(clients)} of {n} connections within {timeout:.0f}s"
                return result
            try:
                clients.append(open_connection(port, state, context, timeout=10.0))
            except OSError as err:
                result.error = f"connection {len(clients) + 1}: {err.__class__.__name__}: {err}"
                return result
        result.open_seconds = time.monotonic() - started
        # Wait until the server has accepted every connection and read everything sent on them.
        while True:
            held = fd_count(child.pid) - fds_before
            unread = unread_sockets(port)
            if held >= n and unread == 0:
                break
            if time.monotonic() > deadline or not child.alive():
                result.error = f"server holds {held} of {n} new connections, {unread} with unread bytes"
                return result
            time.sleep(0.05)
        result.rss_after_kib, result.settled = settled_rss(child.pid, max(1.0, deadline - time.monotonic()))
        if not result.settled:
            result.notes.append("RSS still moving at the deadline")
        result.held = fd_count(child.pid) - fds_before
        result.connections = n
        if result.held < n:
            result.notes.append(f"server closed {n - result.held} connections before the measurement ended")
        return result
    finally:
        for sock in clients:
            sock.close()


def fmt_kib(value: float | None) -> str:
    """A KiB cell."""
    return "n/a" if value is None else f"{value:.1f}"


def ratio(a: float | None, b: float | None) -> str:
    """a ÷ b as '5.2×', n/a when either is missing or b is not positive."""
    if a is None or b is None or b <= 0:
        return "n/a"
    return f"{a / b:.1f}×"


def markdown(results: list[StateResult], meta: dict, targets: list[str], states: list[str]) -> str:
    """connections.md: KiB per connection per state and target, gatehouse ÷ nginx, and details."""
    by = {(r.target, r.state): r for r in results}
    lines = [
        "# Memory per open client connection",
        "",
        f"Measured commit: `{meta['commit']}`, {meta['date']} — `{meta['command']}`; gatehouse `{meta['binary']}`.",
        "",
        f"{meta['connections']} client connections per state on loopback, each (target, state) on a freshly "
        "started server (gatehouse `--threads 1`, nginx one worker; same Ingress → one upstream as "
        "`benches/run`). After all connections are accepted and everything sent on them is read, the "
        "server's RSS (gatehouse: VmRSS; nginx: master + worker) is taken once it settles; "
        "KiB/conn = (RSS after − RSS before) / connections. nginx allocates its connection and event "
        "structures for all `worker_connections` (16384) at start, so they are in its baseline.",
        "",
        "| state | " + " | ".join(f"{t} KiB/conn" for t in targets) + " | gatehouse ÷ nginx |",
        "|---|" + "---:|" * len(targets) + "---:|",
    ]
    for state in states:
        cells = []
        for t in targets:
            r = by.get((t, state))
            cells.append(fmt_kib(r.kib_per_connection) if r else "n/a")
        g, x = by.get(("gatehouse", state)), by.get(("nginx", state))
        lines.append(
            f"| {STATES[state][0]} | "
            + " | ".join(cells)
            + f" | {ratio(g and g.kib_per_connection, x and x.kib_per_connection)} |"
        )
    lines += [
        "",
        "| target | state | connections | held at the end | RSS before MiB | RSS after MiB | open s | notes |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        notes = "; ".join([r.error, *r.notes] if r.error else r.notes).replace("|", "/")
        lines.append(
            f"| {r.target} | {r.state} | {r.connections} | {r.held} | {r.rss_before_kib / 1024:.1f} | "
            f"{r.rss_after_kib / 1024:.1f} | {r.open_seconds:.1f} | {notes} |"
        )
    if meta.get("notes"):
        lines += ["", *[f"- {n}" for n in meta["notes"]]]
    lines.append("")
    return "\n".join(lines)


class LocalUpstream:
    """Fallback upstream when nginx is missing: a stdlib HTTP/1.1 server answering 200 "ok"."""

    def __init__(self, port: int):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str]) -> int:
    """Measure every (target, state); write the markdown and JSON; non-zero only if the harness broke."""
    args = parse_args(argv)
    os.sched_setaffinity(0, {int(CLIENT_CPU)})  # keep the clients off the proxy's CPU
    n, cap_note = raise_nofile(args.connections)
    notes = [cap_note] if cap_note else []
    if cap_note:
        log(f"[connections] {cap_note}")
    ci = os.environ.get("CI", "").lower() == "true"
    if not args.no_install and not shutil.which("nginx"):
        try:
            install.ensure_apt(["nginx", "openssl", "taskset"])
        except install.InstallError as err:
            log(f"[install] {err}")
    binary = args.gatehouse or default_binary()
    if binary is None and "gatehouse" in args.targets:
        try:
            binary = install.build_gatehouse("dev" if args.quick else "release")
        except install.InstallError as err:
            log(f"[build] gatehouse n/a: {err}")
    missing = {t: "nginx not installed" for t in args.targets if t == "nginx" and not shutil.which("nginx")}
    if "gatehouse" in args.targets and binary is None:
        missing["gatehouse"] = "no gatehouse binary"

    # Below the ephemeral range: N client sockets take N local ports there, and one left in
    # TIME_WAIT on a port we want to listen on later would make that bind() fail.
    ports = Ports(args.port_base or free_port_base(low=10000, high=min(ephemeral_ports()[0], 60000)))
    results: list[StateResult] = []
    with tempfile.TemporaryDirectory(prefix="gatehouse-connections-") as tmp:
        workdir = Path(tmp)
        ensure_ports_free([ports.upstream_http, ports.upstream_https, *[ports.proxy_http(i) for i in (0, 1)]])
        certs = make_cert(workdir / "certs")
        upstream: Child | LocalUpstream
        if shutil.which("nginx"):
            spec = peers.upstream(workdir / "upstream", ports.upstream_http, ports.upstream_https, certs)
            upstream = start_pinned("upstream", CLIENT_CPU, spec.argv, workdir)
            wait_for_ports(upstream, [ports.upstream_http])
        else:
            upstream = LocalUpstream(ports.upstream_http)
            notes.append("nginx missing: the upstream was the harness's stdlib HTTP server")
        try:
            for target in args.targets:
                for state in args.states:
                    if target in missing:
                        results.append(StateResult(target, state, error=f"n/a: {missing[target]}"))
                        continue
                    results.append(run_one(target, state, binary, workdir, ports, certs, n, args.timeout))
        finally:
            upstream.stop()

    meta = {
        "commit": install.git_commit(),
        "binary": str(binary),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "benches/connections " + " ".join(shlex.quote(a) for a in argv),
        "connections": n,
        "load_average": install.load_average(),
        "notes": notes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(results, meta, args.targets, args.states))
    args.out.with_name("connections.json").write_text(
        json.dumps(
            {"meta": meta, "results": [{**asdict(r), "kib_per_connection": r.kib_per_connection} for r in results]},
            indent=1,
        )
    )
    log(f"[report] wrote {args.out}")
    broken = [r for r in results if r.error and not r.error.startswith("n/a")]
    if ci:
        broken += [r for r in results if r.target in missing]
    if broken:
        log(f"[result] FAILED: {broken[0].target} {broken[0].state}: {broken[0].error}")
        return 1
    log(f"[result] ok: {sum(r.kib_per_connection is not None for r in results)} measurements")
    return 0


def run_one(
    target: str, state: str, binary: Path | None, workdir: Path, ports: Ports, certs, n: int, timeout: float
) -> StateResult:
    """Start a fresh server, measure one state, stop it; a start failure is this cell's error."""
    try:
        child, spec = start_target(target, binary, workdir / f"{target}-{state}", ports, certs, workdir)
    except (StartError, OSError) as err:
        log(f"[{target} {state}] failed to start: {err}")
        return StateResult(target, state, error=f"start failed: {str(err).splitlines()[0]}")
    try:
        result = measure_state(child, spec, state, n, timeout)
    finally:
        child.stop()
    per = result.kib_per_connection
    log(
        f"[{target:<9} {state:<9}] "
        + (f"{per:7.1f} KiB/conn" if per is not None else result.error)
        + f"  (RSS {result.rss_before_kib / 1024:.1f} → {result.rss_after_kib / 1024:.1f} MiB, "
        f"{result.held}/{n} held, opened in {result.open_seconds:.1f}s)"
        + (f"  {'; '.join(result.notes)}" if result.notes else "")
    )
    return result
