"""Configurations of the fixed upstream and the peer proxies, rendered into a work directory.

Every proxy gets the same shape: one host (bench.local), one route (/ -> upstream), keep-alive to
the upstream, access logs off, one worker thread/process, the forwarded headers gatehouse sets,
TLS 1.3 only on the HTTPS listener (with h2 offered by ALPN).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .certs import CertFiles
from .layout import BENCH_HOST, CORE_FLOOR, FLOOR, UPSTREAM_KEEPALIVE
from .tools import traefik_binary

ALL_PROTOCOLS = frozenset({"h1", "h1-tls", "h2-tls"})
# The program each target runs (gatehouse and the floor are built, not installed).
TOOL = {"upstream": "nginx", "nginx": "nginx", "haproxy": "haproxy", "caddy": "caddy", "traefik": "traefik"}

# ingress-nginx's default access log format (`upstreaminfo`), with its two Lua-set variables
# (`$proxy_upstream_name`, `$proxy_alternative_upstream_name`) as the literals it would log here.
UPSTREAMINFO = (
    "'$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
    "\"$http_referer\" \"$http_user_agent\" $request_length $request_time [default-up-80] [] "
    "$upstream_addr $upstream_response_length $upstream_response_time $upstream_status $request_id'"
)
# The buffer of the access log in the defaults scenario: nginx writes the file every 64 KiB.
ACCESS_LOG_BUFFER = "64k"


@dataclass
class ProxySpec:
    """How to start one target and where it listens."""

    name: str
    argv: list[str]
    http_port: int
    https_port: int | None
    env: dict = field(default_factory=dict)
    protocols: frozenset = ALL_PROTOCOLS
    notes: list[str] = field(default_factory=list)
    admin_port: int | None = None


def _nginx_main(workdir: Path, http_block: str) -> str:
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.chmod(0o777)
    return f"""worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log stderr error;
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
{http_block}
}}
"""


def _nginx_argv(workdir: Path, conf: Path) -> list[str]:
    return ["nginx", "-p", str(workdir), "-c", str(conf)]


def upstream(workdir: Path, http_port: int, https_port: int, certs: CertFiles) -> ProxySpec:
    """The fixed upstream: nginx returning a 3-byte body; its TLS port is only for the direct run."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(
        _nginx_main(
            workdir,
            f"""    server {{
        listen 127.0.0.1:{http_port} backlog=4096;
        listen 127.0.0.1:{https_port} ssl http2 backlog=4096;
        ssl_certificate {certs.cert};
        ssl_certificate_key {certs.key};
        ssl_protocols TLSv1.3;
        default_type text/plain;
        location / {{ return 200 "ok\\n"; }}
    }}""",
        )
    )
    return ProxySpec("upstream", _nginx_argv(workdir, conf), http_port, https_port)


def nginx(
    workdir: Path, http_port: int, https_port: int, upstream_port: int, certs: CertFiles, variant: str = ""
) -> ProxySpec:
    """nginx as a reverse proxy with an upstream keep-alive pool; in the "defaults" variant with
    ingress-nginx's access log format written to a file, buffered (`buffer=64k`)."""
    server_extra = []
    if variant == "defaults":
        server_extra = [
            f"access_log {workdir / 'access.log'} upstreaminfo buffer={ACCESS_LOG_BUFFER}",
        ]
    elif variant:
        raise ValueError(f"nginx has no {variant!r} variant")
    return nginx_proxy(
        workdir,
        http_port,
        https_port,
        [upstream_port],
        certs,
        http_extra=[f"log_format upstreaminfo {UPSTREAMINFO}"] if server_extra else None,
        server_extra=server_extra,
    )


def nginx_proxy(
    workdir: Path,
    http_port: int,
    https_port: int,
    upstream_ports: list[int],
    certs: CertFiles,
    location_extra: list[str] | None = None,
    server_params: str = "",
    http_extra: list[str] | None = None,
    server_extra: list[str] | None = None,
) -> ProxySpec:
    """nginx as a reverse proxy to one upstream group (one server per port on 127.0.0.1, round
    robin, each with `server_params`) with a keep-alive pool; `location_extra` directives go into
    the proxied location, `server_extra` into its server, `http_extra` into the http block."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    params = f" {server_params}" if server_params else ""
    servers = "".join(f"        server 127.0.0.1:{port}{params};\n" for port in upstream_ports)
    extra = "".join(f"            {directive};\n" for directive in location_extra or [])
    in_http = "".join(f"    {directive};\n" for directive in http_extra or [])
    in_server = "".join(f"        {directive};\n" for directive in server_extra or [])
    conf.write_text(
        _nginx_main(
            workdir,
            f"""{in_http}    upstream up {{
{servers}        keepalive {UPSTREAM_KEEPALIVE};
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{http_port} backlog=4096;
        listen 127.0.0.1:{https_port} ssl http2 backlog=4096;
        server_name {BENCH_HOST};
        ssl_certificate {certs.cert};
        ssl_certificate_key {certs.key};
        ssl_protocols TLSv1.3;
{in_server}        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Real-IP $remote_addr;
{extra}        }}
    }}""",
        )
    )
    return ProxySpec("nginx", _nginx_argv(workdir, conf), http_port, https_port)


def floor(
    binary: Path,
    http_port: int,
    https_port: int,
    upstream_port: int,
    certs: CertFiles,
    threads: int = 1,
    name: str = FLOOR,
) -> ProxySpec:
    """The bare Pingora proxy of benches/floor: one worker thread, HTTP/1.1 on the plain port, TLS
    (h2 or HTTP/1.1 by ALPN) with the peers' certificate on the other, the same forwarded headers,
    the same upstream pool as every target, gatehouse's scheduler. With name=CORE_FLOOR, the package's other binary (same flags): the loop on pingora-core's
    sessions, which offers HTTP/1.1 only over TLS, so its h2 scenarios are n/a."""
    argv = [
        str(binary),
        "--upstream",
        f"127.0.0.1:{upstream_port}",
        "--http",
        f"127.0.0.1:{http_port}",
        "--https",
        f"127.0.0.1:{https_port}",
        "--cert",
        str(certs.cert),
        "--key",
        str(certs.key),
        "--threads",
        str(threads),
        "--keepalive-pool",
        str(UPSTREAM_KEEPALIVE),
        # gatehouse's default scheduler (a scheduler per worker thread), so that gatehouse ÷ floor
        # compares request paths, not Pingora's two schedulers.
        "--work-stealing",
        "false",
    ]
    protocols = frozenset({"h1", "h1-tls"}) if name == CORE_FLOOR else ALL_PROTOCOLS
    return ProxySpec(name, argv, http_port, https_port, protocols=protocols)


def haproxy(workdir: Path, http_port: int, https_port: int, upstream_port: int, certs: CertFiles) -> ProxySpec:
    """HAProxy with one thread, connection reuse to the upstream, no logging."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "haproxy.cfg"
    conf.write_text(
        f"""global
    nbthread 1
    maxconn 8000
    ssl-default-bind-options ssl-min-ver TLSv1.3

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    option http-keep-alive
    http-reuse always

frontend bench
    bind 127.0.0.1:{http_port} backlog 4096
    bind 127.0.0.1:{https_port} ssl crt {certs.combined} alpn h2,http/1.1 backlog 4096
    option forwardfor
    http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
    http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-header X-Forwarded-Port %[dst_port]
    http-request set-header X-Real-IP %[src]
    use_backend up if {{ req.hdr(host),field(1,:) -i {BENCH_HOST} }}

backend up
    server s1 127.0.0.1:{upstream_port} maxconn 10000
"""
    )
    return ProxySpec("haproxy", ["haproxy", "-db", "-f", str(conf)], http_port, https_port)


def caddy(workdir: Path, http_port: int, https_port: int, upstream_port: int, certs: CertFiles) -> ProxySpec:
    """Caddy (JSON config) with GOMAXPROCS=1, automatic HTTPS off, our certificate loaded."""
    workdir.mkdir(parents=True, exist_ok=True)
    route = {
        "match": [{"host": [BENCH_HOST]}],
        "handle": [
            {
                "handler": "reverse_proxy",
                "upstreams": [{"dial": f"127.0.0.1:{upstream_port}"}],
                "transport": {"protocol": "http", "keep_alive": {"max_idle_conns_per_host": 1024}},
                # Caddy sets X-Forwarded-For/-Proto/-Host itself; add the two others gatehouse sets.
                "headers": {
                    "request": {
                        "set": {
                            "X-Forwarded-Port": ["{http.request.port}"],
                            "X-Real-IP": ["{http.request.remote.host}"],
                        }
                    }
                },
            }
        ],
        "terminal": True,
    }
    config = {
        "admin": {"disabled": True},
        "logging": {"logs": {"default": {"level": "ERROR"}}},
        "storage": {"module": "file_system", "root": str(workdir / "storage")},
        "apps": {
            "http": {
                "servers": {
                    "plain": {
                        "listen": [f"127.0.0.1:{http_port}"],
                        "routes": [route],
                        "automatic_https": {"disable": True},
                        "protocols": ["h1", "h2"],
                    },
                    "tls": {
                        "listen": [f"127.0.0.1:{https_port}"],
                        "routes": [route],
                        "automatic_https": {"disable": True},
                        "tls_connection_policies": [{"protocol_min": "tls1.3"}],
                        "protocols": ["h1", "h2"],
                    },
                }
            },
            "tls": {"certificates": {"load_files": [{"certificate": str(certs.cert), "key": str(certs.key)}]}},
        },
    }
    conf = workdir / "caddy.json"
    conf.write_text(json.dumps(config, indent=2))
    return ProxySpec(
        "caddy",
        ["caddy", "run", "--config", str(conf)],
        http_port,
        https_port,
        env={"GOMAXPROCS": "1", "HOME": str(workdir), "XDG_DATA_HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir)},
    )


def traefik(workdir: Path, http_port: int, https_port: int, upstream_port: int, certs: CertFiles) -> ProxySpec:
    """Traefik v3 with the file provider and GOMAXPROCS=1 (JSON is valid YAML, so .yml files hold JSON)."""
    workdir.mkdir(parents=True, exist_ok=True)
    dynamic = {
        "http": {
            "routers": {
                "bench": {"rule": f"Host(`{BENCH_HOST}`)", "entryPoints": ["web"], "service": "up"},
                "bench-tls": {
                    "rule": f"Host(`{BENCH_HOST}`)",
                    "entryPoints": ["websecure"],
                    "service": "up",
                    "tls": {},
                },
            },
            "services": {
                "up": {
                    "loadBalancer": {
                        "servers": [{"url": f"http://127.0.0.1:{upstream_port}"}],
                        "passHostHeader": True,
                        "serversTransport": "pool",
                    }
                }
            },
            "serversTransports": {"pool": {"maxIdleConnsPerHost": 1024}},
        },
        "tls": {
            "options": {"default": {"minVersion": "VersionTLS13"}},
            "stores": {"default": {"defaultCertificate": {"certFile": str(certs.cert), "keyFile": str(certs.key)}}},
            "certificates": [{"certFile": str(certs.cert), "keyFile": str(certs.key)}],
        },
    }
    dynamic_path = workdir / "dynamic.yml"
    dynamic_path.write_text(json.dumps(dynamic, indent=2))
    static = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "log": {"level": "ERROR"},
        "entryPoints": {
            "web": {"address": f"127.0.0.1:{http_port}"},
            "websecure": {"address": f"127.0.0.1:{https_port}"},
        },
        "providers": {"file": {"filename": str(dynamic_path), "watch": False}},
    }
    static_path = workdir / "traefik.yml"
    static_path.write_text(json.dumps(static, indent=2))
    return ProxySpec(
        "traefik",
        [traefik_binary(), f"--configFile={static_path}"],
        http_port,
        https_port,
        env={"GOMAXPROCS": "1"},
    )
