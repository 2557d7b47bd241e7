"""The repository's own Python environment: the benchmarks' pip packages (Traefik, matplotlib)
go into `.venv` at the repository root (git-ignored), never into the system Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parents[2] / ".venv"


def python() -> Path:
    """The virtual environment's interpreter."""
    return VENV / "bin" / "python3"


def enter() -> None:
    """Re-runs the current script under the repository's virtual environment (made if missing)."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    os.execv(str(python()), [str(python()), *sys.argv])
