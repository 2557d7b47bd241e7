//! Client address ranges for per-route allow and deny lists (`whitelist-source-range`,
//! `denylist-source-range`): a small list of CIDRs checked once per request.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

/// A non-empty set of address ranges, IPv4 and IPv6 (cheap to clone: routes share it).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SourceRanges(Arc<[IpNet]>);

impl SourceRanges {
    /// The ranges given, sorted and without duplicates; `None` when there are none (an empty
    /// list would be ambiguous: admit nobody, or check nothing?).
    pub fn new(mut nets: Vec<IpNet>) -> Option<Self> {
        if nets.is_empty() {
            return None;
        }
        // Host bits are cleared (`10.0.0.1/8` is `10.0.0.0/8`), as nginx's `allow` treats them.
        for net in &mut nets {
            *net = net.trunc();
        }
        nets.sort();
        nets.dedup();
        Some(Self(nets.into()))
    }

    /// True when `ip` is in one of the ranges. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
    /// what a dual-stack listener reports for IPv4 clients) is checked as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        // A handful of ranges per route: a linear scan beats any index at this size.
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The ranges, sorted.
    pub fn as_slice(&self) -> &[IpNet] {
        &self.0
    }
}

impl fmt::Debug for SourceRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|n| n.to_string()))
            .finish()
    }
}

impl fmt::Display for SourceRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(list: &[&str]) -> SourceRanges {
        SourceRanges::new(list.iter().map(|s| s.parse().expect("cidr")).collect())
            .expect("non-empty")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn membership() {
        let r = ranges(&["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"]);
        // (address, in the ranges)
        let cases = [
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("2001:db8::1", true),
            ("2001:db9::1", false),
            ("::ffff:10.9.9.9", true), // IPv4-mapped: checked as 10.9.9.9
            ("::ffff:11.9.9.9", false),
            ("::1", false),
        ];
        for (addr, want) in cases {
            assert_eq!(r.contains(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn everything_means_everything_of_its_family() {
        let v4 = ranges(&["0.0.0.0/0"]);
        assert!(v4.contains(ip("203.0.113.9")));
        assert!(!v4.contains(ip("2001:db8::1")), "0.0.0.0/0 is IPv4 only");
        let both = ranges(&["0.0.0.0/0", "::/0"]);
        assert!(both.contains(ip("203.0.113.9")) && both.contains(ip("2001:db8::1")));
    }

    #[test]
    fn normalised_sorted_deduplicated() {
        let r = ranges(&["10.0.0.1/8", "10.0.0.0/8", "::1/128", "1.2.3.4/32"]);
        assert_eq!(r.to_string(), "1.2.3.4/32,10.0.0.0/8,::1/128");
        assert!(SourceRanges::new(Vec::new()).is_none());
    }
}
