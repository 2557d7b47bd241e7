"""The in-repo test Kubernetes API server (testapi/, binary `gatehouse-testapi`) as a bench peer:
gatehouse's Kubernetes source watches it with kube-rs's real client, and the bench applies YAML
files to it (one stdin line per file, answered `ok N` on its stdout)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .processes import StartError

BINARY = "gatehouse-testapi"


class ApiServer:
    """One `gatehouse-testapi` process pinned to `cpu`; only this process is ever signalled."""

    def __init__(self, binary: Path, cpu: str, workdir: Path) -> None:
        self.kubeconfig = workdir / "kubeconfig"
        self.log_path = workdir / "testapi.log"
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                ["taskset", "-c", cpu, str(binary), "--kubeconfig", str(self.kubeconfig)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
                start_new_session=True,
            )
        line = self._reply()
        if not line.startswith("ready "):
            self.stop()
            raise StartError(f"{BINARY} did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def _reply(self) -> str:
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline().strip()
        if not line and self.popen.poll() is not None:
            raise StartError(f"{BINARY} exited with {self.popen.returncode}: {self.log_path.read_text()[-1500:]}")
        return line

    def apply(self, path: Path) -> int:
        """Applies every document of `path`; how many. The objects are stored (and watchers
        notified) when this returns."""
        assert self.popen.stdin is not None
        self.popen.stdin.write(f"{path}\n")
        self.popen.stdin.flush()
        line = self._reply()
        if not line.startswith("ok "):
            raise StartError(f"{BINARY} could not apply {path}: {line}")
        return int(line.split()[1])

    def stop(self) -> None:
        """Closes its stdin (it exits), killing it if it does not within 5 s."""
        if self.popen.stdin:
            self.popen.stdin.close()
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        if self.popen.stdout:
            self.popen.stdout.close()

