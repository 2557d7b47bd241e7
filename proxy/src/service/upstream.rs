//! How one request's upstream connection is set up from its route's policy: TLS or not,
//! HTTP/1.1 or HTTP/2 only (`backend-protocol`), the TLS server name and verification
//! (`proxy-ssl-*`), the CAs and client certificate of `proxy-ssl-secret`, and the Host sent
//! (`upstream-vhost`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use http::header::HOST;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::upstreams::peer::HttpPeer;
use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};

use crate::routes::{host_without_port, Backend, ClientCert, RoutePolicy, UpstreamCa, UpstreamTls};

/// Concurrent streams one HTTP/2 upstream connection carries before another is opened.
const H2_STREAMS_PER_CONNECTION: usize = 100;

/// A peer for `addr` speaking the route's protocol; `client_tls` says whether the request
/// came over TLS (`AUTO_HTTP` follows it). Timeouts are left to the caller.
pub fn peer(
    policy: &RoutePolicy,
    backend: &Backend,
    addr: SocketAddr,
    client_tls: bool,
) -> HttpPeer {
    let protocol = policy.backend_protocol;
    let tls = protocol.tls(client_tls);
    let name = if tls {
        server_name(policy, backend, addr)
    } else {
        String::new()
    };
    let mut peer = HttpPeer::new(addr, tls, name);
    if tls {
        // Off by default, as ingress-nginx's proxy-ssl-verify: backends' certificates are
        // usually self-signed or issued for names the Ingress does not know.
        peer.options.verify_cert = policy.upstream_tls.verify;
        peer.options.verify_hostname = policy.upstream_tls.verify;
        apply_secret(&policy.upstream_tls, &mut peer);
    }
    if protocol.http2() {
        // Over TLS: ALPN offers h2 alone. In plain text: HTTP/2 with prior knowledge (h2c).
        peer.options.set_http_version(2, 2);
        peer.options.max_h2_streams = H2_STREAMS_PER_CONNECTION;
    }
    peer
}

/// Keys the fingerprints of certificates, so that they cannot be computed outside the process.
static FINGERPRINT_KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// The CAs of a policy as Pingora takes them, with their fingerprint.
struct PreparedCa {
    /// `None`: a certificate did not parse (the connection then fails, never falls back).
    ca: Option<Arc<[WrappedX509]>>,
    fingerprint: u64,
}

/// A client certificate as Pingora takes it, with its fingerprint.
struct PreparedCert {
    /// `None`: unusable (the connection then fails rather than going without it).
    cert: Option<Arc<CertKey>>,
    fingerprint: u64,
}

fn fingerprint(value: &impl Hash) -> u64 {
    FINGERPRINT_KEYS.hash_one(value)
}

fn prepare_ca(ca: &UpstreamCa) -> Option<Arc<PreparedCa>> {
    ca.prepared.get_or_init(|| PreparedCa {
        // The controller parsed each certificate with the same X.509 parser Pingora uses
        // (gatehouse-certs' `parse_ca_bundle`), so `parse_x509` does not fail here.
        ca: (!ca.certs.is_empty()).then(|| {
            ca.certs
                .iter()
                .map(|der| WrappedX509::new(der.clone(), parse_x509))
                .collect()
        }),
        fingerprint: fingerprint(ca),
    })
}

fn prepare_cert(cert: &ClientCert) -> Option<Arc<PreparedCert>> {
    cert.prepared.get_or_init(|| PreparedCert {
        // Checked by the controller (`parse_client_pair`): a non-empty chain that parses, and
        // a key whose DER rustls recognises.
        cert: (!cert.chain.is_empty())
            .then(|| Arc::new(CertKey::new(cert.chain.clone(), cert.key.clone()))),
        fingerprint: fingerprint(cert),
    })
}

/// Sets the CAs (used only when verifying: then the backend must chain to them, not to the
/// system's trust store) and the client certificate of the route's `proxy-ssl-secret`. Both
/// go into the peer's `group_key`, which is part of the connection pool's key: Pingora's own
/// peer hash covers neither the CAs nor more than the client certificate's serial number, so
/// without it a pooled connection could be reused under another route's CAs or certificate.
fn apply_secret(tls: &UpstreamTls, peer: &mut HttpPeer) {
    let ca = tls.ca.as_deref().filter(|_| tls.verify).map(prepare_ca);
    let cert = tls.client_cert.as_deref().map(prepare_cert);
    if ca.is_none() && cert.is_none() {
        return;
    }
    let mut usable = true;
    let mut group = FINGERPRINT_KEYS.build_hasher();
    if let Some(prepared) = ca {
        match prepared.as_deref() {
            Some(PreparedCa {
                ca: Some(ca),
                fingerprint,
            }) => {
                peer.options.ca = Some(ca.clone());
                fingerprint.hash(&mut group);
            }
            _ => usable = false,
        }
    }
    if let Some(prepared) = cert {
        match prepared.as_deref() {
            Some(PreparedCert {
                cert: Some(cert),
                fingerprint,
            }) => {
                peer.client_cert_key = Some(cert.clone());
                fingerprint.hash(&mut group);
            }
            _ => usable = false,
        }
    }
    peer.group_key = group.finish();
    if !usable {
        // An empty CA list fails every handshake (502): never verify against the system's
        // trust store instead, never connect without the certificate asked for.
        peer.options.ca = Some(Arc::from(Vec::<WrappedX509>::new()));
    }
}

/// The TLS server name of a connection to `addr`. When it is sent as SNI (or verified): the
/// policy's `proxy-ssl-name`, else the `upstream-vhost` without its port, else an
/// ExternalName Service's name, else the Service's DNS name. Otherwise the endpoint's IP address, which rustls never sends as SNI (an empty
/// name would fail the handshake in Pingora's rustls connector).
fn server_name(policy: &RoutePolicy, backend: &Backend, addr: SocketAddr) -> String {
    let tls = &policy.upstream_tls;
    if !tls.sends_sni() {
        return addr.ip().to_string();
    }
    if let Some(name) = &tls.name {
        return name.to_string();
    }
    if let Some(vhost) = &policy.upstream_vhost {
        return host_without_port(vhost).to_string();
    }
    if let Some(external) = backend.external_name() {
        return external.to_string();
    }
    format!("{}.{}.svc", backend.service, backend.namespace)
}

/// Replaces the Host sent upstream by the route's `upstream-vhost`, if it has one; an HTTP/2
/// request's authority goes too, so the upstream HTTP/2 client derives `:authority` from it.
pub fn apply_vhost(policy: &RoutePolicy, req: &mut RequestHeader) -> Result<()> {
    let Some(vhost) = policy.upstream_vhost.as_deref() else {
        return Ok(());
    };
    req.insert_header(HOST, vhost)?;
    if req.uri.authority().is_some() {
        let origin_form = req
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .parse::<http::Uri>()
            .or_err(ErrorType::InternalError, "origin-form request target")?;
        req.set_uri(origin_form);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::routes::{BackendProtocol, EndpointSet};
    use pingora::upstreams::peer::Peer as _;

    fn backend() -> Backend {
        Backend::new("shop", "api", "https", EndpointSet::default(), 0)
    }

    fn addr() -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 7], 8443))
    }

    fn policy(protocol: BackendProtocol, tls: UpstreamTls, vhost: Option<&str>) -> RoutePolicy {
        RoutePolicy {
            backend_protocol: protocol,
            upstream_tls: tls,
            upstream_vhost: vhost.map(Arc::from),
            ..RoutePolicy::default()
        }
    }

    fn tls(verify: bool, name: Option<&str>, server_name: bool) -> UpstreamTls {
        UpstreamTls {
            verify,
            name: name.map(Arc::from),
            server_name,
            ..UpstreamTls::default()
        }
    }

    #[test]
    fn protocol_decides_tls_and_http_version() {
        use BackendProtocol::*;
        // (protocol, client over TLS, peer TLS, HTTP/2 only)
        let cases = [
            (Http, false, false, false),
            (Https, false, true, false),
            (AutoHttp, false, false, false),
            (AutoHttp, true, true, false),
            (Grpc, false, false, true),
            (Grpcs, false, true, true),
            (H2c, true, false, true),
        ];
        for (protocol, client_tls, want_tls, h2) in cases {
            let p = peer(
                &policy(protocol, UpstreamTls::default(), None),
                &backend(),
                addr(),
                client_tls,
            );
            assert_eq!(p.scheme.to_string() == "HTTPS", want_tls, "{protocol:?}");
            let alpn = &p.options.alpn;
            assert_eq!(alpn.get_min_http_version() == 2, h2, "{protocol:?}");
            assert_eq!(
                alpn.get_max_http_version(),
                if h2 { 2 } else { 1 },
                "{protocol:?}"
            );
        }
    }

    #[test]
    fn verification_follows_the_policy() {
        let off = peer(
            &policy(BackendProtocol::Https, tls(false, None, false), None),
            &backend(),
            addr(),
            false,
        );
        assert!(!off.options.verify_cert && !off.options.verify_hostname);
        let on = peer(
            &policy(BackendProtocol::Https, tls(true, None, false), None),
            &backend(),
            addr(),
            false,
        );
        assert!(on.options.verify_cert && on.options.verify_hostname);
    }

    /// DER of the certificates of `pem` (none when it holds none).
    fn der(pem: &str) -> Vec<Vec<u8>> {
        gatehouse_certs::parse_ca_bundle(pem.as_bytes())
            .map(|certs| certs.iter().map(|c| c.to_vec()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn secret_sets_ca_client_cert_and_pool_key() {
        use gatehouse_testkit::tlsgen::TestCa;
        let (ca_a, ca_b) = (TestCa::new("A").expect("ca"), TestCa::new("B").expect("ca"));
        let client = ca_a.leaf(&["client.test"]).expect("leaf");
        let (chain, key) = gatehouse_certs::parse_client_pair(
            client.chain_pem.as_bytes(),
            client.key_pem.as_bytes(),
        )
        .expect("client pair");
        let chain: Vec<Vec<u8>> = chain.iter().map(|c| c.to_vec()).collect();
        let key = key.secret_der().to_vec();
        let with = |verify: bool, ca: Option<&str>, cert: bool| {
            let upstream_tls = UpstreamTls {
                verify,
                ca: ca.map(|pem| Arc::new(UpstreamCa::new(der(pem)))),
                client_cert: cert.then(|| Arc::new(ClientCert::new(chain.clone(), key.clone()))),
                ..UpstreamTls::default()
            };
            peer(
                &policy(BackendProtocol::Https, upstream_tls, None),
                &backend(),
                addr(),
                false,
            )
        };
        let plain = with(true, None, false);
        assert!(plain.options.ca.is_none() && plain.client_cert_key.is_none());
        assert_eq!(plain.group_key, 0);

        let verified = with(true, Some(ca_a.cert_pem()), false);
        assert_eq!(verified.options.ca.as_ref().map(|c| c.len()), Some(1));
        // The CAs are only used to verify: with verification off they are not set.
        let unverified = with(false, Some(ca_a.cert_pem()), false);
        assert!(unverified.options.ca.is_none());
        assert_eq!(unverified.group_key, 0);

        let mtls = with(false, None, true);
        assert!(mtls.client_cert_key.is_some());
        // Another CA, another certificate, or none: never the same pooled connection.
        let other_ca = with(true, Some(ca_b.cert_pem()), false);
        let keys = [
            plain.reuse_hash(),
            verified.reuse_hash(),
            other_ca.reuse_hash(),
            mtls.reuse_hash(),
            with(true, Some(ca_a.cert_pem()), true).reuse_hash(),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b, "{keys:?}");
            }
        }
        // The same content (a new Arc, as after a republish) keeps its pooled connections.
        assert_eq!(
            with(true, Some(ca_a.cert_pem()), false).reuse_hash(),
            verified.reuse_hash()
        );

        // An unusable CA list fails the connection instead of falling back.
        let empty = with(true, Some(""), false);
        assert_eq!(empty.options.ca.as_ref().map(|c| c.len()), Some(0));
    }

    #[test]
    fn server_name_by_precedence() {
        // (upstream tls, upstream-vhost, name)
        let cases = [
            (tls(false, Some("named.internal"), false), None, "10.0.0.7"),
            (tls(false, None, true), None, "api.shop.svc"),
            (tls(true, None, false), None, "api.shop.svc"),
            (
                tls(true, None, false),
                Some("vhost.internal:8443"),
                "vhost.internal",
            ),
            (
                tls(true, Some("named.internal"), false),
                Some("vhost.internal"),
                "named.internal",
            ),
            (
                tls(false, Some("named.internal"), true),
                None,
                "named.internal",
            ),
        ];
        for (upstream_tls, vhost, want) in cases {
            let p = policy(BackendProtocol::Https, upstream_tls.clone(), vhost);
            assert_eq!(
                server_name(&p, &backend(), addr()),
                want,
                "{upstream_tls:?} {vhost:?}"
            );
        }
        let external = backend().with_external_name("api.example.com");
        let p = policy(BackendProtocol::Https, tls(true, None, false), None);
        assert_eq!(server_name(&p, &external, addr()), "api.example.com");
        let plain = peer(
            &policy(BackendProtocol::Http, tls(true, None, true), None),
            &backend(),
            addr(),
            false,
        );
        assert_eq!(plain.sni, "");
    }

    #[test]
    fn vhost_replaces_host_and_authority() -> Result<()> {
        let p = policy(
            BackendProtocol::Http,
            UpstreamTls::default(),
            Some("api.internal"),
        );
        let mut h1 = RequestHeader::build("GET", b"/x?y=1", None)?;
        h1.insert_header(HOST, "shop.example")?;
        apply_vhost(&p, &mut h1)?;
        assert_eq!(
            h1.headers.get(HOST).map(|v| v.as_bytes()),
            Some(&b"api.internal"[..])
        );
        assert_eq!(h1.uri.to_string(), "/x?y=1");

        let mut h2 = RequestHeader::build("GET", b"https://shop.example/x?y=1", None)?;
        apply_vhost(&p, &mut h2)?;
        assert_eq!(
            h2.headers.get(HOST).map(|v| v.as_bytes()),
            Some(&b"api.internal"[..])
        );
        assert_eq!(h2.uri.to_string(), "/x?y=1");

        let untouched = RoutePolicy::default();
        let mut h = RequestHeader::build("GET", b"/", None)?;
        h.insert_header(HOST, "shop.example")?;
        apply_vhost(&untouched, &mut h)?;
        assert_eq!(
            h.headers.get(HOST).map(|v| v.as_bytes()),
            Some(&b"shop.example"[..])
        );
        Ok(())
    }
}
