"""Kubernetes manifests for gatehouse: the bench route, churn variants and the scale sets.

Written as block YAML with JSON-quoted strings (valid YAML), so no YAML library is needed.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from .certs import CertFiles
from .layout import BENCH_HOST

CLASS = "bench"
NAMESPACE = "default"
CONTROLLER = "gatehouse.dev/ingress-controller"


def to_yaml(value, indent: int = 0) -> str:
    """Render dicts/lists/scalars as block YAML; strings are JSON-quoted so any text is safe."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{key}:\n{to_yaml(item, indent + 1)}")
            else:
                out.append(f"{pad}{key}: {_scalar(item)}\n")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        out = []
        for item in value:
            body = to_yaml(item, indent + 1)
            # "- " takes the place of the first line's indentation.
            out.append(f"{pad}- {body[len(pad) + 2 :]}")
        return "".join(out)
    return pad + _scalar(value) + "\n"


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(str(value))


def documents(objects: list[dict]) -> str:
    """A multi-document YAML stream."""
    return "".join("---\n" + to_yaml(obj) for obj in objects)


def write_atomically(path: Path, text: str) -> None:
    """Write then rename, so the watcher never reads a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def ingress_class() -> dict:
    """The bench IngressClass, owned by gatehouse."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": CLASS},
        "spec": {"controller": CONTROLLER},
    }


def ingress(
    name: str,
    host: str,
    paths: list[str],
    service: str,
    tls_secret: str | None = None,
    created: str = "2024-01-01T00:00:00Z",
    port: dict | None = None,
) -> dict:
    """An Ingress routing host + Prefix paths to a service port (default: the port named http)."""
    spec: dict = {"ingressClassName": CLASS}
    if tls_secret:
        spec["tls"] = [{"hosts": [host], "secretName": tls_secret}]
    spec["rules"] = [
        {
            "host": host,
            "http": {
                "paths": [
                    {
                        "path": path,
                        "pathType": "Prefix",
                        "backend": {"service": {"name": service, "port": port or {"name": "http"}}},
                    }
                    for path in paths
                ]
            },
        }
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "creationTimestamp": created,
            # The peers serve plain HTTP next to HTTPS for the same host: so does gatehouse here.
            "annotations": {"nginx.ingress.kubernetes.io/ssl-redirect": "false"},
        },
        "spec": spec,
    }


def service(name: str, target_port: int) -> dict:
    """A ClusterIP Service with one port named http (80 -> target_port)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": target_port, "protocol": "TCP"}]},
    }


def endpoint_slice(service_name: str, port: int, addresses: list[str], suffix: str = "bench") -> dict:
    """An EndpointSlice for service_name, every address ready, port named http."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name}-{suffix}",
            "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}} for address in addresses],
    }


def tls_secret(name: str, certs: CertFiles) -> dict:
    """A kubernetes.io/tls Secret holding the bench certificate."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(certs.cert.read_bytes()).decode(),
            "tls.key": base64.b64encode(certs.key.read_bytes()).decode(),
        },
    }


def bench_objects(upstream_port: int, certs: CertFiles | None) -> list[dict]:
    """The benchmark route: bench.local / (Prefix) -> Service up:80 (http) -> 127.0.0.1:upstream_port."""
    objects = [
        ingress_class(),
        ingress("bench", BENCH_HOST, ["/"], "up", "bench-tls" if certs else None, port={"number": 80}),
        service("up", upstream_port),
        endpoint_slice("up", upstream_port, ["127.0.0.1"]),
    ]
    if certs:
        objects.append(tls_secret("bench-tls", certs))
    return objects


def churn_objects(upstream_port: int, step: int) -> list[dict]:
    """A second Ingress whose host changes every step, so each write changes the route table."""
    return [ingress("churn", f"churn-{step}.bench.local", ["/", f"/v{step}"], "up")]


def scale_objects(count: int, upstream_port: int, paths_per_host: int = 4) -> list[dict]:
    """count Ingresses with distinct hosts and several paths, each with its own Service and slice.

    Every tenth host is a wildcard; each service has three distinct loopback endpoints that
    nothing listens on, except app-00000 whose one endpoint is the upstream (so the scale run can
    check with a real request that the set was routed).
    """
    objects: list[dict] = []
    for i in range(count):
        name = f"app-{i:05d}"
        host = f"*.w{i:05d}.scale.local" if i % 10 == 9 else f"{name}.scale.local"
        paths = ["/"] + [f"/api/v{p}" for p in range(1, paths_per_host)]
        objects.append(ingress(name, host, paths, name, created=f"2024-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}Z"))
        objects.append(service(name, upstream_port))
        addresses = ["127.0.0.1"] if i == 0 else [f"127.{1 + k}.{(i >> 8) & 255}.{i & 255}" for k in range(3)]
        objects.append(endpoint_slice(name, upstream_port, addresses, "s1"))
    return objects
