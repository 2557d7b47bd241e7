"""Single real requests: is a listener answering 2xx for bench.local (over TLS 1.3 when asked)?"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time

from .layout import BENCH_HOST


def get(port: int, host: str = BENCH_HOST, path: str = "/", tls: bool = False, timeout: float = 3.0) -> tuple[int, str]:
    """One GET to 127.0.0.1:port with Host (and SNI) `host`; returns (status, tls version or '')."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock = context.wrap_socket(raw, server_hostname=host)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.sock = sock
        version = sock.version() or ""
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        version = ""
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status, version
    finally:
        conn.close()


def check_h1(port: int, tls: bool) -> str | None:
    """None if bench.local answers 2xx (TLS 1.3 when tls), else the reason it can't be benchmarked."""
    try:
        status, version = get(port, tls=tls)
    except (OSError, http.client.HTTPException) as err:
        return f"{'TLS ' if tls else ''}probe failed: {err.__class__.__name__}: {err}"
    if not 200 <= status < 300:
        return f"probe answered HTTP {status}"
    if tls and version != "TLSv1.3":
        return f"negotiated {version}, not TLSv1.3"
    return None


def wait_routed(port: int, timeout: float = 10.0, poll: float = 0.05) -> bool:
    """Wait (bounded) until bench.local answers 2xx on the plain port: some proxies open their
    listeners before their routes are loaded (Traefik's file provider answers 404 for ~0.3 s).
    False on timeout; the probe stage then records the reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _ = get(port, timeout=1.0)
            if 200 <= status < 300:
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(poll)
    return False


def readyz(admin_port: int, timeout: float = 1.0) -> dict | None:
    """gatehouse's /readyz JSON, or None if it isn't answering JSON yet."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=timeout)
        try:
            conn.request("GET", "/readyz")
            body = conn.getresponse().read()
        finally:
            conn.close()
        return json.loads(body)
    except (OSError, http.client.HTTPException, ValueError):
        return None


def generation(admin_port: int, instance: str) -> int | None:
    """Route-table generation of one gatehouse instance from /readyz."""
    state = readyz(admin_port)
    try:
        return int(state["instances"][instance]["generation"]) if state else None
    except (KeyError, TypeError, ValueError):
        return None


def wait_generation_above(
    admin_port: int, instance: str, floor: int, timeout: float, poll: float = 0.002
) -> float | None:
    """Seconds until the generation exceeds floor (bounded by timeout), or None if it never did."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        current = generation(admin_port, instance)
        if current is not None and current > floor:
            return time.monotonic() - start
        time.sleep(poll)
    return None
