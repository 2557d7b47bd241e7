//! ALPN (h2, http/1.1) and TLS versions (1.2 and 1.3 only) on the HTTPS listener.

mod tls_support;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use gatehouse_testkit::tlsgen::TestCa;
use gatehouse_testkit::yaml::{tls_secret, Ingress, PathType};
use gatehouse_testkit::{echo_service, EchoBackend, Fixture};
use tls_support::{https_instance, https_of, leaf_der, with_tls, Probe, TlsConn, Versions, NS};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const CLASS: &str = "tls";
const HOST: &str = "proto.test";

/// One TLS host `proto.test` routed to an echo backend; returns the HTTPS address and the leaf.
async fn setup(ip: &str) -> anyhow::Result<(Fixture, EchoBackend, SocketAddr, Vec<u8>)> {
    let ca = TestCa::new("protocol test ca")?;
    let leaf = ca.leaf(&[HOST])?;
    let (echo, svc) = echo_service(NS, "echo", ip).await?;
    let ingress = Ingress::new(NS, "proto")
        .class(CLASS)
        .path(HOST, "/", PathType::Prefix, "echo", "http")
        .yaml();
    let ingress = with_tls(&ingress, &[(&[HOST], "proto-tls")], &[])?;
    let instance = https_instance(CLASS, "127.0.0.1");
    let https = https_of(&instance);
    let fixture = Fixture::start(
        tls_support::bin(),
        vec![instance],
        &[
            ("svc.yaml", svc),
            ("ingress.yaml", ingress),
            (
                "secret.yaml",
                tls_secret(NS, "proto-tls", &leaf.chain_pem, &leaf.key_pem),
            ),
        ],
    )
    .await?;
    Ok((fixture, echo, https, leaf_der(&leaf)?))
}

#[tokio::test]
async fn alpn_negotiates_h2_and_serves_http2() -> anyhow::Result<()> {
    let (_fixture, echo, https, leaf) = setup("127.0.8.1").await?;
    let conn = TlsConn::connect(https, &Probe::sni(HOST)).await?;
    assert_eq!(conn.alpn().as_deref(), Some(&b"h2"[..]), "h2 preferred");
    assert!(conn.leaf_der()? == leaf);
    let mut h2 = conn.http2().await?;
    // Two requests on one HTTP/2 connection.
    for path in ["/one", "/two?q=2"] {
        let (version, reply) = h2.get(HOST, path).await?;
        assert_eq!(version, hyper::Version::HTTP_2);
        assert_eq!(reply.status, 200, "{path}: {}", reply.summary());
        assert_eq!(reply.echoed("uri").as_deref(), Some(path));
        assert_eq!(
            reply.echoed_header("x-forwarded-proto").as_deref(),
            Some("https")
        );
        assert_eq!(
            reply.echoed_header("host").as_deref(),
            Some(HOST),
            "the :authority becomes Host upstream"
        );
    }
    assert_eq!(echo.hits(), 2);
    Ok(())
}

#[tokio::test]
async fn alpn_http11_alone_and_no_alpn_use_http1() -> anyhow::Result<()> {
    let (_fixture, echo, https, _leaf) = setup("127.0.8.2").await?;
    let conn = TlsConn::connect(https, &Probe::sni(HOST).alpn(&[b"http/1.1"])).await?;
    assert_eq!(conn.alpn().as_deref(), Some(&b"http/1.1"[..]));
    let mut h1 = conn.http1().await?;
    // Keep-alive: both requests travel on the same TLS connection.
    for path in ["/a", "/b"] {
        let reply = h1.get(HOST, path).await?;
        assert_eq!(reply.status, 200, "{path}: {}", reply.summary());
        assert_eq!(reply.echoed("uri").as_deref(), Some(path));
    }

    let conn = TlsConn::connect(https, &Probe::sni(HOST).alpn(&[])).await?;
    assert_eq!(conn.alpn(), None, "no ALPN offered, none chosen");
    let reply = conn.http1().await?.get(HOST, "/c").await?;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(echo.hits(), 3);
    Ok(())
}

#[tokio::test]
async fn tls12_and_tls13_both_work() -> anyhow::Result<()> {
    let (_fixture, _echo, https, leaf) = setup("127.0.8.3").await?;
    for (versions, alpn) in [
        (Versions::Tls12, &b"h2"[..]),
        (Versions::Tls12, &b"http/1.1"[..]),
        (Versions::Tls13, &b"http/1.1"[..]),
    ] {
        let probe = Probe::sni(HOST).versions(versions).alpn(&[alpn]);
        let conn = TlsConn::connect(https, &probe).await?;
        match versions {
            Versions::Tls12 => assert!(conn.is_tls12(), "{probe:?}: TLS 1.2 negotiated"),
            _ => assert!(conn.is_tls13(), "{probe:?}: TLS 1.3 negotiated"),
        }
        assert!(conn.leaf_der()? == leaf, "{probe:?}: same certificate");
        let reply = if alpn == b"h2" {
            conn.http2().await?.get(HOST, "/v").await?.1
        } else {
            conn.http1().await?.get(HOST, "/v").await?
        };
        assert_eq!(reply.status, 200, "{probe:?}: {}", reply.summary());
    }
    let both = TlsConn::connect(https, &Probe::sni(HOST)).await?;
    assert!(both.is_tls13(), "a client offering both gets TLS 1.3");
    Ok(())
}

/// rustls (our only client) cannot speak TLS 1.1 or 1.0, so this sends hand-made ClientHellos
/// offering only those versions and checks the server refuses them with a fatal alert instead
/// of a ServerHello.
#[tokio::test]
async fn tls11_and_tls10_client_hellos_are_refused() -> anyhow::Result<()> {
    let (_fixture, echo, https, _leaf) = setup("127.0.8.4").await?;
    // (client_version, with signature_algorithms, expected alert description)
    let cases = [
        // With every extension rustls needs, the version itself is what it refuses.
        ([3u8, 2u8], true, Some(70u8)),
        ([3, 1], true, Some(70)),
        // A genuine old client sends no signature_algorithms; any fatal alert is a refusal.
        ([3, 2], false, None),
    ];
    for (version, sig_algs, expected) in cases {
        let mut tcp = tokio::net::TcpStream::connect(https).await?;
        tcp.write_all(&client_hello(version, sig_algs, HOST))
            .await?;
        let mut buf = [0u8; 7];
        let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut buf))
            .await
            .map_err(|_| anyhow!("no answer to a {version:?} ClientHello"))?
            .context("read the server's answer")?;
        assert_eq!(read, 7);
        assert_eq!(
            buf[0], 0x15,
            "{version:?}: expected an alert record, got content type {:#x} ({buf:?})",
            buf[0]
        );
        assert_eq!(buf[5], 2, "{version:?}: fatal alert ({buf:?})");
        if let Some(description) = expected {
            assert_eq!(
                buf[6], description,
                "{version:?}: protocol_version alert ({buf:?})"
            );
        }
    }
    assert_eq!(echo.hits(), 0);
    Ok(())
}

/// A minimal ClientHello with `version` as client_version and no supported_versions extension
/// (so it offers only that version), ECDHE/RSA CBC suites, SNI, groups, point formats and,
/// when `sig_algs`, signature_algorithms.
fn client_hello(version: [u8; 2], sig_algs: bool, sni: &str) -> Vec<u8> {
    fn u16be(n: usize) -> [u8; 2] {
        [(n >> 8) as u8, n as u8]
    }
    let mut extensions = Vec::new();
    // server_name
    let name = sni.as_bytes();
    let mut server_name = Vec::new();
    server_name.extend_from_slice(&u16be(name.len() + 3));
    server_name.push(0);
    server_name.extend_from_slice(&u16be(name.len()));
    server_name.extend_from_slice(name);
    extensions.extend_from_slice(&[0, 0]);
    extensions.extend_from_slice(&u16be(server_name.len()));
    extensions.extend_from_slice(&server_name);
    // supported_groups: secp256r1, x25519
    extensions.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x17, 0x00, 0x1d]);
    // ec_point_formats: uncompressed
    extensions.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    if sig_algs {
        // ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
        extensions.extend_from_slice(&[
            0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01,
        ]);
    }

    let suites: [u16; 6] = [0xc013, 0xc014, 0xc009, 0xc00a, 0x002f, 0x0035];
    let mut body = Vec::new();
    body.extend_from_slice(&version);
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&u16be(suites.len() * 2));
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    body.extend_from_slice(&u16be(extensions.len()));
    body.extend_from_slice(&extensions);

    let mut handshake = vec![1u8]; // client_hello
    handshake.extend_from_slice(&[
        (body.len() >> 16) as u8,
        (body.len() >> 8) as u8,
        body.len() as u8,
    ]);
    handshake.extend_from_slice(&body);

    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16be(handshake.len()));
    record.extend_from_slice(&handshake);
    record
}
