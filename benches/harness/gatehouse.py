"""Starting gatehouse for the benchmarks: flags it supports, its manifests dir, readiness."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import manifests, probe
from .certs import CertFiles
from .layout import PROXY_CPU, UPSTREAM_KEEPALIVE
from .peers import ALL_PROTOCOLS, ProxySpec
from .processes import Child, StartError, port_open, start_pinned, wait_for_ports

INSTANCE = manifests.CLASS


@dataclass(frozen=True)
class Flags:
    """Which optional flags this gatehouse binary accepts (read from --help)."""

    threads: bool
    access_log: bool
    help_text: str
    upstream_keepalive: bool = False


def detect_flags(binary: Path) -> Flags:
    """Run --help once; absent flags are left off rather than failing the start."""
    out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    text = out.stdout + out.stderr
    return Flags(
        threads="--threads" in text,
        access_log="--access-log" in text,
        help_text=text,
        upstream_keepalive="--upstream-keepalive-connections" in text,
    )


def argv(
    binary: Path,
    flags: Flags,
    manifests_dir: Path,
    http_port: int,
    https_port: int | None,
    admin_port: int,
    threads: int = 1,
    variant: str = "",
) -> list[str]:
    """Command line for one `bench` instance (default class) on the given ports: access log off
    (as every target of the bench), or in the "defaults" variant left at gatehouse's default (a
    JSON line per request on stdout; metrics are always on)."""
    instance = f"class={INSTANCE},http=127.0.0.1:{http_port}"
    if https_port:
        instance += f",https=127.0.0.1:{https_port}"
    instance += ",default=true"
    args = [
        str(binary),
        "--manifests",
        str(manifests_dir),
        "--instance",
        instance,
        "--admin",
        f"127.0.0.1:{admin_port}",
    ]
    if flags.threads:
        args += ["--threads", str(threads)]
    if flags.upstream_keepalive:
        args += ["--upstream-keepalive-connections", str(UPSTREAM_KEEPALIVE)]
    if variant not in ("", "defaults"):
        raise ValueError(f"gatehouse has no {variant!r} variant")
    if flags.access_log and not variant:
        args += ["--access-log", "off"]
    return args


def write_bench_manifests(directory: Path, upstream_port: int, certs: CertFiles | None) -> None:
    """The one-route manifests every benchmark of gatehouse uses."""
    directory.mkdir(parents=True, exist_ok=True)
    manifests.write_atomically(
        directory / "bench.yaml", manifests.documents(manifests.bench_objects(upstream_port, certs))
    )


def wait_ready(child: Child, admin_port: int, timeout: float) -> None:
    """Wait (bounded) for /readyz to report ready with a generation for our instance."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise StartError(f"gatehouse exited with {child.popen.returncode}:\n{child.log_tail()}")
        state = probe.readyz(admin_port)
        if state and state.get("ready") and probe.generation(admin_port, INSTANCE) is not None:
            return
        time.sleep(0.05)
    raise StartError(f"gatehouse /readyz not ready within {timeout:.0f}s:\n{child.log_tail()}")


def start(
    binary: Path,
    workdir: Path,
    http_port: int,
    https_port: int,
    admin_port: int,
    upstream_port: int,
    certs: CertFiles,
    log_dir: Path,
    cpu: str = PROXY_CPU,
    variant: str = "",
) -> tuple[Child, ProxySpec]:
    """Start gatehouse asking for HTTPS too; a build that refuses or ignores it serves HTTP only (TLS n/a).
    `variant` as in `argv`; the process and its log are named after it (`gatehouse-defaults`)."""
    flags = detect_flags(binary)
    notes = []
    if not flags.threads:
        notes.append("--threads not supported by this build: pinned to one CPU by taskset only")
    if not flags.access_log:
        notes.append("--access-log flag absent: left at its default")
    manifests_dir = workdir / "manifests"
    errors = []
    for https in (https_port, None):
        write_bench_manifests(manifests_dir, upstream_port, certs if https else None)
        args = argv(binary, flags, manifests_dir, http_port, https, admin_port, variant=variant)
        name = f"gatehouse-{variant}" if variant else "gatehouse"
        child = start_pinned(name, cpu, args, log_dir, env={"RUST_LOG": "warn"})
        try:
            wait_for_ports(child, [http_port, admin_port], timeout=30)
            wait_ready(child, admin_port, timeout=30)
        except StartError as err:
            child.stop()
            errors.append(str(err))
            continue
        if https and not port_open(https):
            notes.append("HTTPS listener requested but not opened by this build: TLS scenarios n/a")
            https = None
        elif not https:
            notes.append("HTTPS listener refused by this build; TLS scenarios n/a: " + errors[-1].splitlines()[0])
        protocols = ALL_PROTOCOLS if https else frozenset({"h1"})
        spec = ProxySpec("gatehouse", args, http_port, https, protocols=protocols, notes=notes, admin_port=admin_port)
        child.extra["manifests_dir"] = manifests_dir
        return child, spec
    raise StartError("gatehouse did not start:\n" + "\n---\n".join(errors))
