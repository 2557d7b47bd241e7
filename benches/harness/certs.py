"""Self-signed ECDSA P-256 certificate for bench.local, shared by every TLS listener."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .layout import BENCH_HOST


@dataclass(frozen=True)
class CertFiles:
    """PEM paths: certificate, PKCS#8 key, and both concatenated (HAProxy's crt format)."""

    cert: Path
    key: Path
    combined: Path


def make_cert(directory: Path) -> CertFiles:
    """Create (once) a self-signed cert with SANs bench.local and 127.0.0.1 using the openssl CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    files = CertFiles(directory / "cert.pem", directory / "key.pem", directory / "combined.pem")
    if not files.combined.exists():
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "30",
                "-subj",
                f"/CN={BENCH_HOST}",
                "-addext",
                f"subjectAltName=DNS:{BENCH_HOST},IP:127.0.0.1",
                "-keyout",
                str(files.key),
                "-out",
                str(files.cert),
            ],
            check=True,
            capture_output=True,
        )
        files.combined.write_text(files.cert.read_text() + files.key.read_text())
    return files
