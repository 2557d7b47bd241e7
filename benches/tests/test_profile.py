"""Parsing a flat perf report and rolling symbols up by component."""

import unittest

from harness import profile

REPORT = """# Overhead  Shared Object  Symbol
#
    20.00%  gatehouse             [.] pingora_core::protocols::http::v1::server::HttpSession::read_request
    10.00%  [kernel.kallsyms]     [k] tcp_sendmsg_locked
     5.00%  gatehouse             [.] <gatehouse_proxy::service::Proxy as pingora_proxy::ProxyHttp>::upstream_peer
     4.00%  libc.so.6             [.] __memmove_avx_unaligned_erms
     1.00%  gatehouse             [.] 0x00000000001234
"""


class PerfReport(unittest.TestCase):
    def test_rows(self):
        rows = profile.parse_report(REPORT)
        self.assertEqual(len(rows), 5)
        self.assertEqual(rows[1], (10.0, "[kernel.kallsyms]", "k", "tcp_sendmsg_locked"))

    def test_rollup_by_component(self):
        totals = dict(profile.rollup(profile.parse_report(REPORT)))
        self.assertEqual(totals["pingora_core"], 20.0)
        self.assertEqual(totals["kernel (network stack, syscalls, scheduling)"], 10.0)
        self.assertEqual(totals["gatehouse_proxy"], 5.0)
        self.assertEqual(totals["libc (memcpy, malloc, …)"], 4.0)
        self.assertEqual(totals["other / unresolved"], 1.0)


if __name__ == "__main__":
    unittest.main()
