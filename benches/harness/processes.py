"""Pinned child processes: start, wait for a port, stop, and read their CPU time and memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class StartError(RuntimeError):
    """A process did not come up; the message carries its log tail."""


@dataclass
class Child:
    """A process (group) this harness started; only these are ever signalled."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        """Pid of the process we started (leader of its own process group)."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        """Last lines of the process's combined stdout/stderr, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self, timeout: float = 5.0) -> None:
        """SIGKILL our own process group at once (a crash, not a shutdown: nginx master and
        workers die together and the kernel closes their sockets), and reap it."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.popen.wait(timeout=timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM our own process group, then SIGKILL it if it lingers."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            self.popen.wait(timeout=timeout)


def start_pinned(name: str, cpu: str, argv: list[str], log_dir: Path, env: dict | None = None) -> Child:
    """Start argv pinned to `cpu` in its own process group, output to log_dir/name.log."""
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child, closed with it
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    popen = subprocess.Popen(
        ["taskset", "-c", cpu, *argv],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=full_env,
        start_new_session=True,
    )
    log.close()
    return Child(name, popen, log_path)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_ports(child: Child, ports: list[int], timeout: float = 20.0) -> None:
    """Wait (bounded) until every port accepts connections; raise StartError with the log if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise StartError(f"{child.name} exited with {child.popen.returncode}:\n{child.log_tail()}")
        if all(port_open(p) for p in ports):
            return
        time.sleep(0.05)
    raise StartError(f"{child.name} did not open ports {ports} within {timeout:.0f}s:\n{child.log_tail()}")


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (net.ipv4.ip_local_port_range)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port_base(span: int = 100, tries: int = 200, low: int = 20000, high: int = 60000) -> int:
    """A base port whose next `span` ports are all free on 127.0.0.1, so a run never collides
    with a gatehouse, nginx or test already running on the machine. A run that opens thousands
    of client connections passes a range below the ephemeral ports (`ephemeral_ports`): a client
    socket's local port there would make a later listener's bind() fail."""
    import random
    import socket

    for _ in range(tries):
        base = random.randrange(low, high - span)
        sockets = []
        try:
            for port in range(base, base + span):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise StartError(f"no block of {span} free loopback ports found in {tries} tries")


def ensure_ports_free(ports: list[int]) -> None:
    """Fail early, naming the port, if another program already listens where we want to."""
    busy = [p for p in ports if port_open(p)]
    if busy:
        raise StartError(f"ports already in use on 127.0.0.1: {busy} (pass --port-base to move the run)")


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (nginx master + workers, wrappers + their child)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # comm may contain spaces and parentheses: fields after the last ')' are fixed.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds consumed so far by the given processes (all their threads)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def memory_kib(pids: list[int], key: str = "VmRSS") -> int:
    """Sum of a /proc/PID/status memory field (VmRSS or VmHWM) over the processes, in KiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total
