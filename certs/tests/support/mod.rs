//! Shared test support: a TLS server using `CertResolver`, TLS clients, an HTTP-01 responder.
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use gatehouse_certs::{CertResolver, MemoryChallenges};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Upper bound for any single network step in these tests.
pub const STEP: Duration = Duration::from_secs(10);

/// A TLS server on 127.0.0.1 that answers "ok" after the handshake.
pub struct TlsServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsServer {
    pub async fn start(resolver: CertResolver) -> Result<Self> {
        let config = ServerConfig::builder_with_provider(gatehouse_certs::crypto_provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let _ = tls.write_all(b"ok").await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        Ok(Self { addr, task })
    }
}

/// Accepts any server certificate; the tests inspect what was served instead.
#[derive(Debug)]
struct AcceptAny;

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = gatehouse_certs::crypto_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = gatehouse_certs::crypto_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        gatehouse_certs::crypto_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client that accepts any certificate (still checks handshake signatures).
pub fn inspecting_client() -> Result<ClientConfig> {
    Ok(
        ClientConfig::builder_with_provider(gatehouse_certs::crypto_provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny))
            .with_no_client_auth(),
    )
}

/// A client that fully verifies the server against `roots_pem`.
pub fn verifying_client(roots_pem: &str) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(roots_pem.as_bytes()) {
        let cert: CertificateDer<'static> = cert?;
        roots.add(cert)?;
    }
    Ok(
        ClientConfig::builder_with_provider(gatehouse_certs::crypto_provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Handshake with `server_name` as SNI (`None` sends no SNI) and return the served leaf.
pub async fn served_leaf(
    addr: SocketAddr,
    config: ClientConfig,
    server_name: Option<&str>,
) -> Result<CertificateDer<'static>> {
    let mut config = config;
    let name = match server_name {
        Some(name) => ServerName::try_from(name.to_owned()).context("server name")?,
        None => {
            config.enable_sni = false;
            ServerName::try_from("no-sni.invalid".to_owned())?
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::time::timeout(STEP, TcpStream::connect(addr)).await??;
    let mut tls = tokio::time::timeout(STEP, connector.connect(name, tcp))
        .await
        .context("handshake timed out")?
        .context("handshake")?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .context("no peer certificate")?
        .clone()
        .into_owned();
    let mut body = Vec::new();
    tokio::time::timeout(STEP, tls.read_to_end(&mut body)).await??;
    anyhow::ensure!(body == b"ok", "unexpected reply {body:?}");
    Ok(leaf)
}

/// How the HTTP-01 responder answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// From the challenge store (404 when the token is unknown).
    FromStore,
    /// Always 200 with a wrong body.
    Wrong,
}

/// A tiny HTTP server answering `/.well-known/acme-challenge/<token>`, as the proxy will.
pub struct Http01Responder {
    pub port: u16,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Http01Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Http01Responder {
    pub async fn start(store: MemoryChallenges, answer: Answer) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let store = store.clone();
                let counter = Arc::clone(&counter);
                let service = hyper::service::service_fn(move |req: Request<_>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let reply = match answer {
                        Answer::Wrong => Some(Arc::from("wrong-answer")),
                        Answer::FromStore => store.answer_for_path(req.uri().path()),
                    };
                    let rsp = match reply {
                        Some(body) => Response::new(Full::new(Bytes::from(body.to_string()))),
                        None => {
                            let mut rsp =
                                Response::new(Full::new(Bytes::from_static(b"no such token")));
                            *rsp.status_mut() = StatusCode::NOT_FOUND;
                            rsp
                        }
                    };
                    async move { Ok::<_, std::convert::Infallible>(rsp) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Ok(Self { port, hits, task })
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
