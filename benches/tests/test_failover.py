"""benches/failover: its pure parts (counts, aggregation, configs, log summary, report, options)."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from harness import failover, loadgen, tools
from harness.certs import CertFiles
from harness.failover import RunResult

BENCHES = Path(__file__).resolve().parents[1]

GATEHOUSE_RETRY = (
    "\x1b[2m2026-11-30T14:34:05.123456Z\x1b[0m \x1b[33m WARN\x1b[0m pingora_proxy: Fail to proxy: Upstream "
    "ConnectRefused context: Fail to connect to addr: 127.0.0.1:39127, scheme: HTTP cause:  context: Fail to "
    "connect to 127.0.0.1:39127 cause: Connection refused (os error 111), tries: 1, retry: true, GET /, Host: bench.local"
)
NGINX_REFUSED = (
    "2026/11/30 14:34:05 [error] 4242#4242: *1817 connect() failed (111: Connection refused) while connecting "
    'to upstream, client: 127.0.0.1, server: bench.local, request: "GET / HTTP/1.1", '
    'upstream: "http://127.0.0.1:39127/", host: "bench.local"'
)


def run(target="gatehouse", round_no=0, **counts) -> RunResult:
    return RunResult(target, round_no, **counts)


class Counts(unittest.TestCase):
    def test_failed_and_total_count_socket_errors_once(self):
        r = run(responses=1000, non_2xx=3, connect_errors=1, read_errors=2, write_errors=0, timeouts=1, seconds=2.0)
        self.assertEqual(r.socket_errors, 4)
        self.assertEqual(r.failed, 7)  # 3 non-2xx responses + 4 requests without a response
        self.assertEqual(r.total, 1004)  # the non-2xx are among the responses
        self.assertEqual(r.rps, 500.0)
        self.assertEqual(r.as_dict()["failed"], 7)

    def test_aggregate_sums_rounds_and_leaves_out_broken_runs(self):
        results = [
            run("gatehouse", 0, responses=100, non_2xx=1, proxy_log={"a": 2}),
            run("nginx", 0, responses=200),
            run("gatehouse", 1, responses=300, read_errors=2, proxy_log={"a": 1, "b": 5}),
            run("gatehouse", 2, responses=999, non_2xx=999, error="gatehouse did not start"),
        ]
        totals = failover.aggregate(results, ["gatehouse", "nginx", "nginx-passive"])
        g = totals["gatehouse"]
        self.assertEqual((g.runs, g.total, g.failed, g.non_2xx, g.read_errors), (2, 402, 3, 1, 2))
        self.assertEqual(dict(g.proxy_log), {"a": 3, "b": 5})
        self.assertAlmostEqual(g.rate, 3 / 402)
        self.assertEqual(totals["nginx"].rate, 0)
        self.assertIsNone(totals["nginx-passive"].rate)

    def test_rate_format(self):
        self.assertEqual(failover.fmt_rate(None), "n/a")
        self.assertEqual(failover.fmt_rate(0), "0")
        self.assertEqual(failover.fmt_rate(13 / 303_000), "0.0043 %")


class Configs(unittest.TestCase):
    def test_one_ingress_one_service_a_slice_per_backend(self):
        objs = failover.failover_objects([31001, 31003])
        self.assertEqual(
            [o["kind"] for o in objs], ["IngressClass", "Ingress", "Service", "EndpointSlice", "EndpointSlice"]
        )
        slices = objs[3:]
        self.assertEqual([s["ports"][0]["port"] for s in slices], [31001, 31003])
        self.assertEqual({s["metadata"]["labels"]["kubernetes.io/service-name"] for s in slices}, {"up"})
        self.assertEqual(len({s["metadata"]["name"] for s in slices}), 2)
        self.assertTrue(all(s["endpoints"][0]["conditions"]["ready"] for s in slices))
        annotations = objs[1]["metadata"]["annotations"]
        self.assertNotIn("nginx.ingress.kubernetes.io/proxy-next-upstream", annotations)

    def test_noretry_target_turns_proxy_next_upstream_off(self):
        target = failover.TARGETS["gatehouse-noretry"]
        objs = failover.failover_objects([1, 2], dict(target.annotations))
        annotations = objs[1]["metadata"]["annotations"]
        self.assertEqual(annotations["nginx.ingress.kubernetes.io/proxy-next-upstream"], "off")
        self.assertEqual(annotations["nginx.ingress.kubernetes.io/ssl-redirect"], "false")
        # The shared annotations of manifests.ingress are not changed for the next caller.
        fresh = failover.failover_objects([1])[1]["metadata"]["annotations"]
        self.assertNotIn("nginx.ingress.kubernetes.io/proxy-next-upstream", fresh)

    def render_nginx(self, name: str, tmp: Path) -> str:
        certs = CertFiles(tmp / "c.pem", tmp / "k.pem", tmp / "ck.pem")
        spec = failover.nginx_spec(tmp / name, failover.TARGETS[name], 41010, 41011, [41000, 41002], certs)
        self.assertEqual(spec.http_port, 41010)
        return (tmp / name / "nginx.conf").read_text()

    def test_nginx_upstream_has_both_servers_and_ingress_nginx_retries(self):
        with tempfile.TemporaryDirectory() as tmp:
            conf = self.render_nginx("nginx", Path(tmp))
            passive = self.render_nginx("nginx-passive", Path(tmp))
        self.assertIn("server 127.0.0.1:41000 max_fails=0;", conf)
        self.assertIn("server 127.0.0.1:41002 max_fails=0;", conf)
        self.assertIn("server 127.0.0.1:41000;", passive)
        for text in (conf, passive):
            self.assertIn("proxy_next_upstream error timeout;", text)
            self.assertIn("proxy_next_upstream_tries 3;", text)
            self.assertIn("keepalive 512;", text)
            self.assertIn('proxy_set_header Connection "";', text)

    def test_nginx_config_is_accepted_by_nginx(self):
        tools.skip_unless_installed("nginx", "openssl")
        from harness.certs import make_cert

        with tempfile.TemporaryDirectory() as tmp:
            certs = make_cert(Path(tmp) / "certs")
            spec = failover.nginx_spec(Path(tmp) / "n", failover.TARGETS["nginx"], 41010, 41011, [41000, 41002], certs)
            out = subprocess.run([*spec.argv, "-t"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


class Wrk(unittest.TestCase):
    def test_argv_is_pinned_bounded_keep_alive_get(self):
        argv = failover.wrk_argv(41010, 64, 10, "/tmp/x.lua")
        self.assertEqual(argv[:3], ["taskset", "-c", failover.CLIENT_CPU])
        for part in ("-c64", "-d10s", "-t1", "Host: bench.local", "http://127.0.0.1:41010/"):
            self.assertIn(part, argv)

    def test_counts_keep_the_error_kinds_apart(self):
        out = (
            "Running 10s test\n"
            'WRKJSON {"requests":5,"duration_us":1000000,"connect_errors":1,"read_errors":2,"write_errors":3,'
            '"timeouts":4,"non_2xx_3xx":5,"p50_us":1,"p99_us":2,"p999_us":3,"max_us":4}\n'
        )
        counts = failover.parse_wrk_counts(out)
        self.assertEqual((counts["read_errors"], counts["non_2xx_3xx"]), (2, 5))
        with self.assertRaises(loadgen.LoadError):
            failover.parse_wrk_counts("no result")


class Logs(unittest.TestCase):
    def test_gatehouse_lines_lose_colours_times_and_numbers(self):
        self.assertEqual(
            failover.normalise_log_line(GATEHOUSE_RETRY),
            "WARN pingora_proxy: Fail to proxy: Upstream ConnectRefused context: Fail to connect to addr: ADDR, "
            "scheme: HTTP cause: context: Fail to connect to ADDR cause: Connection refused (os error N), "
            "tries: N, retry: true, GET /, Host: bench.local",
        )

    def test_nginx_lines_keep_level_and_message_only(self):
        self.assertEqual(
            failover.normalise_log_line(NGINX_REFUSED),
            "[error] connect() failed (N: Connection refused) while connecting to upstream",
        )

    def test_info_lines_are_not_counted(self):
        self.assertIsNone(failover.normalise_log_line("2026-11-30T14:34:05Z  INFO gatehouse: serving"))
        self.assertIsNone(failover.normalise_log_line(""))

    def test_summary_counts_alike_lines_together(self):
        other = NGINX_REFUSED.replace("*1817", "*99").replace("39127", "40000")
        text = "\n".join([NGINX_REFUSED, other, GATEHOUSE_RETRY, "INFO nothing"])
        summary = failover.summarise_log(text)
        self.assertEqual(list(summary.values()), [2, 1])


class Report(unittest.TestCase):
    META = {
        "commit": "abc123",
        "date": "2026-11-30 15:00 UTC",
        "command": "benches/failover",
        "gatehouse_binary": "/x/gatehouse",
        "rounds": 1,
        "seconds": 10,
        "kill_after": 5.0,
        "warmup": 1,
        "connections": 64,
        "machine": "cpu: test",
        "load_average": "0 before, 0 after",
        "versions": "nginx: 1",
        "notes": ["a note"],
    }

    def test_tables_totals_runs_and_logs(self):
        results = [
            run("gatehouse", 0, responses=303_000, non_2xx=13, seconds=10.0, killed_at=5.0, proxy_log={"WARN x": 7}),
            run("nginx", 0, responses=300_000, seconds=10.0, killed_at=5.01),
            run("gatehouse-noretry", 0, error="gatehouse did not start: port | busy"),
        ]
        text = failover.markdown(results, self.META, ["gatehouse", "gatehouse-noretry", "nginx"])
        self.assertIn("Measured commit: `abc123`", text)
        self.assertIn(f"| {failover.TARGETS['gatehouse'].label} | 1 | 303,000 | 13 | 0.0043 % | 13 |", text)
        self.assertIn(f"| {failover.TARGETS['gatehouse-noretry'].label} | 0 | 0 | 0 | n/a |", text)
        self.assertIn("| 1 | gatehouse | 303,000 | 13 | 13 | 0 | 30,300 | 5.00 |", text)
        self.assertIn("gatehouse did not start: port / busy", text)  # table-safe
        self.assertIn("| 7 | `WARN x` |", text)
        self.assertIn("## Machine", text)
        self.assertIn("- a note", text)


class Options(unittest.TestCase):
    def test_defaults_and_quick(self):
        args = failover.parse_args(["--out", "/tmp/x.md"])
        self.assertEqual((args.rounds, args.seconds, args.kill_after, args.connections), (3, 10, 5.0, 64))
        self.assertEqual(args.targets, list(failover.TARGETS))
        quick = failover.parse_args(["--quick"])
        self.assertEqual((quick.rounds, quick.seconds, quick.warmup, quick.profile), (1, 2, 0, "dev"))
        self.assertNotEqual(quick.out.parent, failover.DOCS)

    def test_kill_must_fall_inside_the_load_and_targets_must_exist(self):
        for bad in (["--seconds", "4", "--kill-after", "4"], ["--targets", "gatehouse,envoy"]):
            with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
                failover.parse_args(bad)


class MissingPeer(unittest.TestCase):
    """Without nginx (the backends and a peer) every run is n/a, and a failure under CI=true."""

    def run_without_nginx(self, tmp: Path, ci: str):
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        for tool in ("taskset", "openssl"):
            found = shutil.which(tool)
            if found is None:
                self.skipTest(f"{tool} is not installed")
            (bin_dir / tool).symlink_to(found)
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        env.update(PATH=str(bin_dir), CI=ci)
        out = tmp / "failover.md"
        proc = subprocess.run(
            [sys.executable, str(BENCHES / "failover"), "--no-install", "--targets", "nginx", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        return proc, out

    def test_outside_ci_every_run_is_na_naming_the_package(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc, out = self.run_without_nginx(Path(tmp), "false")
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            result = json.loads(out.with_name("failover.json").read_text())["results"][0]
        self.assertTrue(result["error"].startswith("n/a: nginx is not installed"), result["error"])
        self.assertIn("apt-get install nginx", result["error"])

    def test_under_ci_it_fails(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc, out = self.run_without_nginx(Path(tmp), "true")
            self.assertFalse(out.exists())
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("nginx is not installed", proc.stdout)
        self.assertIn("CI=true", proc.stdout)


if __name__ == "__main__":
    unittest.main()
