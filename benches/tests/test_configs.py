"""Rendered peer configs are accepted by the real binaries; manifests have the expected shape."""

import subprocess
import tempfile
import unittest
from pathlib import Path

from harness import manifests, peers, tools
from harness.certs import make_cert


class PeerConfigs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tools.skip_unless_installed("openssl")
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        cls.certs = make_cert(cls.dir / "certs")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check(self, tool, argv):
        tools.skip_unless_installed(tool)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_nginx_proxy_and_upstream(self):
        for spec in (
            peers.nginx(self.dir / "nginx", 1, 2, 3, self.certs),
            peers.upstream(self.dir / "up", 4, 5, self.certs),
        ):
            self.check("nginx", [*spec.argv, "-t"])

    def test_haproxy(self):
        spec = peers.haproxy(self.dir / "haproxy", 1, 2, 3, self.certs)
        self.check("haproxy", ["haproxy", "-c", "-f", spec.argv[-1]])

    def test_caddy(self):
        spec = peers.caddy(self.dir / "caddy", 1, 2, 3, self.certs)
        self.check("caddy", ["caddy", "validate", "--config", spec.argv[-1]])

    def test_traefik_files_are_json(self):
        import json

        spec = peers.traefik(self.dir / "traefik", 1, 2, 3, self.certs)
        static = json.loads(Path(spec.argv[-1].split("=", 1)[1]).read_text())
        self.assertEqual(static["entryPoints"]["web"]["address"], "127.0.0.1:1")
        self.assertEqual(spec.env["GOMAXPROCS"], "1")


class Manifests(unittest.TestCase):
    def test_yaml_block_rendering(self):
        text = manifests.to_yaml({"a": {"b": [1, {"c": "x: y"}], "e": []}, "t": True})
        self.assertEqual(text, 'a:\n  b:\n    - 1\n    - c: "x: y"\n  e: []\nt: true\n')

    def test_bench_route(self):
        objs = manifests.bench_objects(18080, None)
        kinds = [o["kind"] for o in objs]
        self.assertEqual(kinds, ["IngressClass", "Ingress", "Service", "EndpointSlice"])
        backend = objs[1]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        self.assertEqual(backend, {"name": "up", "port": {"number": 80}})
        self.assertEqual(objs[3]["metadata"]["labels"]["kubernetes.io/service-name"], "up")
        self.assertEqual(objs[3]["ports"][0], {"name": "http", "port": 18080, "protocol": "TCP"})

    def test_scale_set_has_distinct_hosts(self):
        objs = manifests.scale_objects(100, 18080)
        ingresses = [o for o in objs if o["kind"] == "Ingress"]
        hosts = {i["spec"]["rules"][0]["host"] for i in ingresses}
        self.assertEqual(len(ingresses), 100)
        self.assertEqual(len(hosts), 100)
        self.assertEqual(sum(h.startswith("*.") for h in hosts), 10)
        self.assertEqual(len(objs), 300)
        self.assertEqual(len(ingresses[5]["spec"]["rules"][0]["http"]["paths"]), 4)

    def test_documents_are_separated(self):
        text = manifests.documents(manifests.bench_objects(1, None))
        self.assertEqual(text.count("---\n"), 4)


if __name__ == "__main__":
    unittest.main()
