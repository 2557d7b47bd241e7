//! The immutable set of certificates one listener serves, looked up by SNI.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use gatehouse_routes::host::{normalize_host, normalized_host, wildcard_parent, HostBuf};
use rustls::sign::CertifiedKey;

use crate::tls_secret::LoadedCert;

/// One served certificate and where it came from.
#[derive(Clone)]
struct Entry {
    key: Arc<CertifiedKey>,
    not_after: i64,
    source: Arc<str>,
}

/// What is served for one host, for metrics and status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Host as configured (`a.example.com`, `*.example.com`), or `*` for the default.
    pub host: String,
    /// End of validity, unix seconds.
    pub not_after: i64,
    /// Where the certificate came from, e.g. `namespace/secret` or `default`.
    pub source: String,
    /// True for the fallback certificate served when nothing else matches.
    pub default: bool,
}

/// Host → certificate map: exact names, one-label wildcards, then a default.
#[derive(Clone, Default)]
pub struct CertSet {
    exact: HashMap<String, Entry>,
    /// `*.foo.com` is stored under `foo.com`.
    wildcard: HashMap<String, Entry>,
    default: Option<Entry>,
}

impl fmt::Debug for CertSet {
    // Keys stay out of logs; counts are what matter when debugging.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertSet")
            .field("exact", &self.exact.len())
            .field("wildcard", &self.wildcard.len())
            .field("default", &self.default.is_some())
            .finish()
    }
}

impl CertSet {
    /// An empty set (serves nothing; handshakes fail until a set with certificates is swapped in).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Start building a set.
    pub fn builder() -> CertSetBuilder {
        CertSetBuilder {
            set: CertSet::default(),
        }
    }

    /// The certificate for an SNI name: exact (case-insensitive) → one-label wildcard → default.
    /// No SNI gets the default. Names are normalised as routes normalise hosts. Allocation-free.
    pub fn lookup(&self, sni: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        let Some(name) = sni else {
            return self.default.as_ref().map(|e| &e.key);
        };
        let mut buf = HostBuf::new();
        let name = normalize_host(name, &mut buf);
        if let Some(entry) = self.exact.get(name) {
            return Some(&entry.key);
        }
        if let Some(entry) = wildcard_parent(name).and_then(|p| self.wildcard.get(p)) {
            return Some(&entry.key);
        }
        self.default.as_ref().map(|e| &e.key)
    }

    /// Every served certificate, sorted by host, the default last.
    pub fn infos(&self) -> Vec<CertInfo> {
        let info = |host: String, e: &Entry, default: bool| CertInfo {
            host,
            not_after: e.not_after,
            source: e.source.to_string(),
            default,
        };
        let mut out: Vec<CertInfo> = self
            .exact
            .iter()
            .map(|(h, e)| info(h.clone(), e, false))
            .chain(
                self.wildcard
                    .iter()
                    .map(|(h, e)| info(format!("*.{h}"), e, false)),
            )
            .collect();
        out.sort_by(|a, b| a.host.cmp(&b.host));
        if let Some(e) = &self.default {
            out.push(info("*".to_owned(), e, true));
        }
        out
    }

    /// Number of host entries (exact + wildcard), not counting the default.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    /// True when no host entry and no default exist.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.default.is_none()
    }
}

/// Builds a [`CertSet`]; the first certificate inserted for a host wins.
pub struct CertSetBuilder {
    set: CertSet,
}

impl CertSetBuilder {
    /// Serve `cert` for `host` (`a.example.com` or `*.example.com`). Returns false, keeping the
    /// earlier one, when the host already has a certificate.
    pub fn insert(&mut self, host: &str, cert: &LoadedCert, source: &str) -> bool {
        let host = normalized_host(host);
        let entry = Entry {
            key: Arc::clone(&cert.key),
            not_after: cert.not_after,
            source: Arc::from(source),
        };
        let (map, key) = match host.strip_prefix("*.") {
            Some(parent) => (&mut self.set.wildcard, parent.to_owned()),
            None => (&mut self.set.exact, host),
        };
        if map.contains_key(&key) {
            return false;
        }
        map.insert(key, entry);
        true
    }

    /// Serve `cert` for every DNS name it carries; returns the names that were already taken.
    pub fn insert_all(&mut self, cert: &LoadedCert, source: &str) -> Vec<String> {
        cert.names
            .iter()
            .filter(|name| !self.insert(name, cert, source))
            .cloned()
            .collect()
    }

    /// Serve `cert` when no host matches or the client sent no SNI.
    pub fn default(&mut self, cert: &LoadedCert, source: &str) -> &mut Self {
        self.set.default = Some(Entry {
            key: Arc::clone(&cert.key),
            not_after: cert.not_after,
            source: Arc::from(source),
        });
        self
    }

    /// Finish; the set never changes afterwards (swap a new one in instead).
    pub fn build(self) -> CertSet {
        self.set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_cert::self_signed;

    fn same(a: Option<&Arc<CertifiedKey>>, b: &LoadedCert) -> bool {
        a.is_some_and(|k| Arc::ptr_eq(k, &b.key))
    }

    #[test]
    fn lookup_order_exact_wildcard_default() {
        let exact = self_signed("a.example.com").expect("cert");
        let wild = self_signed("*.example.com").expect("cert");
        let fallback = self_signed("default.invalid").expect("cert");
        let mut b = CertSet::builder();
        assert!(b.insert("A.Example.com.", &exact, "ns/a"));
        assert!(b.insert("*.example.com", &wild, "ns/wild"));
        assert!(
            !b.insert("a.example.com", &wild, "ns/late"),
            "first insert wins"
        );
        b.default(&fallback, "default");
        let set = b.build();

        assert!(same(set.lookup(Some("a.example.com")), &exact));
        assert!(same(set.lookup(Some("A.EXAMPLE.COM")), &exact));
        assert!(same(set.lookup(Some("a.example.com.")), &exact));
        assert!(same(set.lookup(Some("b.example.com")), &wild));
        assert!(same(set.lookup(Some("B.Example.Com")), &wild));
        assert!(same(set.lookup(Some("x.b.example.com")), &fallback));
        assert!(same(set.lookup(Some("example.com")), &fallback));
        // An empty first label is no host under the wildcard.
        assert!(same(set.lookup(Some(".example.com")), &fallback));
        assert!(same(set.lookup(Some("")), &fallback));
        assert!(same(set.lookup(None), &fallback));
        let long = "A".repeat(300);
        assert!(same(set.lookup(Some(&long)), &fallback));
        assert_eq!(set.len(), 2);
        assert!(!set.is_empty());
    }

    #[test]
    fn no_default_means_no_certificate() {
        let exact = self_signed("a.example.com").expect("cert");
        let mut b = CertSet::builder();
        assert!(b.insert_all(&exact, "ns/a").is_empty());
        let set = b.build();
        assert!(set.lookup(None).is_none());
        assert!(set.lookup(Some("other.example.com")).is_none());
        assert!(CertSet::empty().is_empty());
    }

    #[test]
    fn infos_are_sorted_with_default_last() {
        let a = self_signed("b.example.com").expect("cert");
        let w = self_signed("*.example.com").expect("cert");
        let d = self_signed("default.invalid").expect("cert");
        let mut b = CertSet::builder();
        b.insert_all(&a, "ns/b");
        b.insert_all(&w, "ns/w");
        b.default(&d, "default");
        let infos = b.build().infos();
        let hosts: Vec<&str> = infos.iter().map(|i| i.host.as_str()).collect();
        assert_eq!(hosts, vec!["*.example.com", "b.example.com", "*"]);
        assert_eq!(infos[1].source, "ns/b");
        assert_eq!(infos[1].not_after, a.not_after);
        assert!(infos[2].default && !infos[0].default);
    }
}
