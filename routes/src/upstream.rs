//! How gatehouse speaks to a route's backends: the protocol (`backend-protocol`) and, over
//! TLS, certificate verification and the server name (`proxy-ssl-verify`, `proxy-ssl-name`,
//! `proxy-ssl-server-name`), and the CAs and client certificate of `proxy-ssl-secret`.

use std::any::Any;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

/// The protocol spoken to a route's backends (`backend-protocol`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BackendProtocol {
    /// HTTP/1.1 over plain TCP.
    #[default]
    Http,
    /// HTTP/1.1 over TLS.
    Https,
    /// The client's scheme: plain HTTP for plain-HTTP requests, TLS for HTTPS ones (ingress-nginx's `AUTO_HTTP`).
    AutoHttp,
    /// gRPC: HTTP/2 with prior knowledge over plain TCP (h2c).
    Grpc,
    /// gRPC over TLS: HTTP/2 negotiated with ALPN `h2` only.
    Grpcs,
    /// HTTP/2 with prior knowledge over plain TCP (gatehouse's own value).
    H2c,
}

impl BackendProtocol {
    /// True when the connection to the backend is TLS; `client_tls` says whether the request
    /// arrived over TLS (only [`BackendProtocol::AutoHttp`] follows it).
    pub fn tls(self, client_tls: bool) -> bool {
        match self {
            BackendProtocol::Https | BackendProtocol::Grpcs => true,
            BackendProtocol::AutoHttp => client_tls,
            BackendProtocol::Http | BackendProtocol::Grpc | BackendProtocol::H2c => false,
        }
    }

    /// True when the backend is spoken to in HTTP/2 only (prior knowledge on plain TCP, ALPN
    /// `h2` alone over TLS).
    pub fn http2(self) -> bool {
        matches!(
            self,
            BackendProtocol::Grpc | BackendProtocol::Grpcs | BackendProtocol::H2c
        )
    }

    /// The annotation value that names it (upper case, as ingress-nginx documents them).
    pub fn name(self) -> &'static str {
        match self {
            BackendProtocol::Http => "HTTP",
            BackendProtocol::Https => "HTTPS",
            BackendProtocol::AutoHttp => "AUTO_HTTP",
            BackendProtocol::Grpc => "GRPC",
            BackendProtocol::Grpcs => "GRPCS",
            BackendProtocol::H2c => "H2C",
        }
    }
}

/// TLS towards a route's backends, when its protocol uses TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct UpstreamTls {
    /// Verify the backend's certificate chain and name (`proxy-ssl-verify: on`; default off,
    /// as ingress-nginx). Implies sending the name as SNI.
    pub verify: bool,
    /// The name verified and sent as SNI (`proxy-ssl-name`); `None`: the route's
    /// `upstream-vhost` without its port, else an ExternalName Service's name, else the
    /// Service's DNS name `<service>.<namespace>.svc`.
    pub name: Option<Arc<str>>,
    /// Send the name as SNI even without verification (`proxy-ssl-server-name: on`).
    pub server_name: bool,
    /// The CAs a verified backend must chain to, instead of the system's trust store
    /// (`ca.crt` of the `proxy-ssl-secret` Secret); only used with `verify`.
    pub ca: Option<Arc<UpstreamCa>>,
    /// The client certificate presented to the backends (`tls.crt` and `tls.key` of the
    /// `proxy-ssl-secret` Secret).
    pub client_cert: Option<Arc<ClientCert>>,
}

/// Trust anchors for verifying backends: DER certificates, compared by content.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UpstreamCa {
    /// The CA certificates (DER), as listed in the Secret; never empty.
    pub certs: Vec<Vec<u8>>,
    /// The proxy's own form of these certificates, made once.
    pub prepared: Prepared,
}

impl UpstreamCa {
    /// CAs from DER certificates (the caller has checked that each parses).
    pub fn new(certs: Vec<Vec<u8>>) -> Self {
        Self {
            certs,
            prepared: Prepared::default(),
        }
    }
}

impl fmt::Debug for UpstreamCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UpstreamCa({} certificates)", self.certs.len())
    }
}

/// A client certificate chain (leaf first) with its private key, DER, compared by content.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientCert {
    /// The chain (DER), leaf first; never empty.
    pub chain: Vec<Vec<u8>>,
    /// The private key (DER: PKCS#8, PKCS#1 or SEC1), which belongs to the leaf.
    pub key: Vec<u8>,
    /// The proxy's own form of this certificate and key, made once.
    pub prepared: Prepared,
}

impl ClientCert {
    /// A client certificate from DER (the caller has checked the chain and that the key
    /// belongs to the leaf).
    pub fn new(chain: Vec<Vec<u8>>, key: Vec<u8>) -> Self {
        Self {
            chain,
            key,
            prepared: Prepared::default(),
        }
    }
}

impl fmt::Debug for ClientCert {
    // The key is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientCert({} certificates)", self.chain.len())
    }
}

/// A slot the proxy fills once with its own form of a value (parsed certificates, a route's
/// metric series), so that requests do not make it again. Ignored by comparison and hashing: it is derived from
/// the value it belongs to.
#[derive(Clone, Default)]
pub struct Prepared(OnceLock<Arc<dyn Any + Send + Sync>>);

impl Prepared {
    /// The value `init` makes, made on first use and kept; `None` if an earlier call made a
    /// value of another type.
    pub fn get_or_init<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Option<Arc<T>> {
        self.0
            .get_or_init(|| Arc::new(init()))
            .clone()
            .downcast::<T>()
            .ok()
    }

    /// [`Prepared::get_or_init`], borrowed (no reference count touched).
    pub fn get_or_init_ref<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Option<&T> {
        self.0.get_or_init(|| Arc::new(init())).downcast_ref::<T>()
    }
}

impl PartialEq for Prepared {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Prepared {}

impl Hash for Prepared {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Prepared")
    }
}

impl UpstreamTls {
    /// True when the server name goes on the wire as SNI.
    pub fn sends_sni(&self) -> bool {
        self.verify || self.server_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::host_without_port;

    #[test]
    fn tls_and_http2_per_protocol() {
        use BackendProtocol::*;
        let table = [
            (Http, false, false, false),
            (Https, true, true, false),
            (AutoHttp, false, true, false),
            (Grpc, false, false, true),
            (Grpcs, true, true, true),
            (H2c, false, false, true),
        ];
        for (protocol, plain_client, tls_client, http2) in table {
            assert_eq!(protocol.tls(false), plain_client, "{protocol:?}");
            assert_eq!(protocol.tls(true), tls_client, "{protocol:?}");
            assert_eq!(protocol.http2(), http2, "{protocol:?}");
        }
    }

    #[test]
    fn sni_is_sent_when_verifying_or_asked() {
        let tls = |verify, server_name| UpstreamTls {
            verify,
            server_name,
            ..UpstreamTls::default()
        };
        assert!(!tls(false, false).sends_sni());
        assert!(tls(false, true).sends_sni());
        assert!(tls(true, false).sends_sni());
    }

    #[test]
    fn certificates_compare_by_content_and_prepare_once() {
        let a = ClientCert::new(vec![vec![1, 2]], vec![3]);
        let b = ClientCert::new(vec![vec![1, 2]], vec![3]);
        let other_key = ClientCert::new(vec![vec![1, 2]], vec![4]);
        let made = a.prepared.get_or_init(|| 7u32);
        assert_eq!(made.as_deref(), Some(&7));
        assert_eq!(a.prepared.get_or_init(|| 8u32).as_deref(), Some(&7));
        assert_eq!(a.prepared.get_or_init(|| "other type"), None);
        assert_eq!(a.prepared.get_or_init_ref(|| 9u32), Some(&7));
        assert_eq!(a.prepared.get_or_init_ref(|| "other type"), None);
        assert_eq!(a, b, "prepared or not, same content");
        assert_ne!(a, other_key);
        let hash = |c: &ClientCert| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            c.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&b));
        assert!(!format!("{a:?}").contains('3'), "no key bytes in {a:?}");
        let ca = UpstreamCa::new(vec![vec![9]]);
        assert_eq!(ca, UpstreamCa::new(vec![vec![9]]));
        assert_ne!(ca, UpstreamCa::new(vec![vec![8]]));
    }

    #[test]
    fn ports_are_dropped_from_hosts() {
        for (host, want) in [
            ("api.internal", "api.internal"),
            ("api.internal:8443", "api.internal"),
            ("[::1]:80", "::1"),
            ("[::1]", "::1"),
            ("::1", "::1"),
        ] {
            assert_eq!(host_without_port(host), want, "{host}");
        }
    }
}
