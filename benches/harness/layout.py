"""Fixed layout of a benchmark run: ports, CPUs, scenarios, targets."""

from __future__ import annotations

from dataclasses import dataclass

# The proxy under test gets CPU 1; the load generator, the upstream and this harness share CPU 0,
# so the proxy's single core is the only thing being compared.
PROXY_CPU = "1"
CLIENT_CPU = "0"

# Host every proxy routes; requests carry it in Host (and SNI for TLS).
BENCH_HOST = "bench.local"
# Idle upstream connections every proxy keeps (nginx `keepalive`, gatehouse
# `--upstream-keepalive-connections`): above the largest scenario's 256 connections, so no
# target reconnects to the upstream in steady state.
UPSTREAM_KEEPALIVE = 512


@dataclass(frozen=True)
class Ports:
    """Loopback ports of one run, derived from one base so a run can be moved off busy ports."""

    base: int = 18080

    @property
    def upstream_http(self) -> int:
        """Plain HTTP port of the fixed upstream."""
        return self.base

    @property
    def upstream_https(self) -> int:
        """TLS port of the upstream, used only for its direct (no-proxy) measurement."""
        return self.base + 1

    def proxy_http(self, index: int) -> int:
        """HTTP listener of the index-th proxy."""
        return self.base + 10 * (index + 1)

    def proxy_https(self, index: int) -> int:
        """HTTPS listener of the index-th proxy."""
        return self.base + 10 * (index + 1) + 1

    def proxy_admin(self, index: int) -> int:
        """Admin/metrics port of the index-th proxy (gatehouse /readyz)."""
        return self.base + 10 * (index + 1) + 9


@dataclass(frozen=True)
class Scenario:
    """One load shape: protocol, connections and (for h2) streams per connection, against the
    targets as configured for `variant`: "" is the bench configuration (access logs off, every
    target alike); "defaults" is how users run them (see DEFAULTS)."""

    name: str
    label: str
    protocol: str  # "h1", "h1-tls" or "h2-tls"
    connections: int
    streams: int = 1
    variant: str = ""

    @property
    def tls(self) -> bool:
        """Whether the scenario runs over TLS 1.3."""
        return self.protocol != "h1"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("h1-c1", "HTTP/1.1 keep-alive, 1 conn", "h1", 1),
    Scenario("h1-c64", "HTTP/1.1 keep-alive, 64 conns", "h1", 64),
    Scenario("h1-c256", "HTTP/1.1 keep-alive, 256 conns", "h1", 256),
    Scenario("https-c64", "HTTPS (TLS 1.3) keep-alive, 64 conns", "h1-tls", 64),
    Scenario("h2-c64x10", "HTTP/2 over TLS, 64 conns x 10 streams", "h2-tls", 64, 10),
    Scenario(
        "h1-c64-defaults",
        "HTTP/1.1 keep-alive, 64 conns, as users run them: gatehouse's defaults (metrics, JSON access log), "
        "nginx with its access log (buffered)",
        "h1",
        64,
        variant="defaults",
    ),
)

# The bench's floor: a bare Pingora proxy (benches/floor) with gatehouse's Pingora and allocator.
FLOOR = "pingora-floor"
# The second floor: the least HTTP/1.1 proxy loop on pingora-core's own sessions (no pingora-proxy),
# benches/floor's gatehouse-bench-core-floor: core-floor ÷ floor is what Pingora's generic loop costs.
CORE_FLOOR = "core-floor"

# Order of targets in every round (A B C ... A B C ...). "upstream" is the direct measurement.
TARGETS: tuple[str, ...] = ("upstream", "gatehouse", FLOOR, CORE_FLOOR, "nginx", "haproxy", "caddy", "traefik")
PEERS: tuple[str, ...] = ("nginx", "haproxy", "caddy", "traefik")

# Per variant: the targets that run in its scenarios with a configuration of their own (started as a
# second process), and those that run there unchanged as references (the limit and the floor, which
# have no access log or metrics to turn on). Other targets are n/a in the variant's scenarios.
VARIANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "defaults": {"own": ("gatehouse", "nginx"), "unchanged": ("upstream", FLOOR, CORE_FLOOR)},
}


def variant_of(target: str, scenario: Scenario) -> str | None:
    """Which configuration of `target` runs `scenario`: "" (the bench one), the scenario's variant,
    or None when the target does not take part in that variant."""
    if not scenario.variant:
        return ""
    variant = VARIANTS[scenario.variant]
    if target in variant["own"]:
        return scenario.variant
    return "" if target in variant["unchanged"] else None


def process_name(target: str, variant: str) -> str:
    """The name of the process running `target` in `variant` (its log file and work dir)."""
    return f"{target}-{variant}" if variant else target
