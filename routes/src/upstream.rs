//! How gatehouse speaks to a route's backends: the protocol (`backend-protocol`) and, over
//! TLS, certificate verification and the server name (`proxy-ssl-verify`, `proxy-ssl-name`,
//! `proxy-ssl-server-name`).

use std::sync::Arc;

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
            name: None,
            server_name,
        };
        assert!(!tls(false, false).sends_sni());
        assert!(tls(false, true).sends_sni());
        assert!(tls(true, false).sends_sni());
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
