//! Shared test support: a TLS server using `CertResolver`, TLS clients (on
//! `gatehouse_testkit::tls_client`), an HTTP-01 responder.
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use gatehouse_certs::{CertResolver, MemoryChallenges};
use gatehouse_testkit::tls_client;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
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

/// A client that accepts any certificate (still checks handshake signatures).
pub fn inspecting_client() -> Result<ClientConfig> {
    tls_client::inspecting_config(rustls::DEFAULT_VERSIONS)
}

/// A client that fully verifies the server against `roots_pem`.
pub fn verifying_client(roots_pem: &str) -> Result<ClientConfig> {
    tls_client::verifying_config(roots_pem)
}

/// Handshake with `server_name` as SNI (`None` sends no SNI), check the server's "ok" and
/// return the served leaf.
pub async fn served_leaf(
    addr: SocketAddr,
    config: ClientConfig,
    server_name: Option<&str>,
) -> Result<CertificateDer<'static>> {
    let mut tls = tls_client::handshake(addr, config, server_name, STEP).await?;
    let leaf = tls_client::peer_leaf(&tls)?;
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
