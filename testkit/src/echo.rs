//! Echo backend: an HTTP/1.1 + WebSocket server that describes every request it gets; also
//! over TLS (reporting the SNI and ALPN it saw) or speaking HTTP/2 with prior knowledge only.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Response header naming the backend that answered (also present on streamed bodies).
pub const BACKEND_HEADER: &str = "x-echo-backend";

/// Upper bounds for `/stream` so a typo in a test cannot make the backend run forever.
const MAX_STREAM_CHUNKS: usize = 10_000;
const MAX_STREAM_CHUNK_SIZE: usize = 1 << 20;
const DEFAULT_STREAM_DELAY: Duration = Duration::from_millis(100);

type EchoBody = BoxBody<Bytes, Infallible>;

/// How an echo backend speaks.
#[derive(Clone, Default)]
pub enum EchoMode {
    /// Plain TCP: HTTP/1.1, or HTTP/2 with prior knowledge (h2c).
    #[default]
    Plain,
    /// Plain TCP, HTTP/2 with prior knowledge only: an HTTP/1 request is a protocol error.
    H2cOnly,
    /// TLS with this configuration (its ALPN list decides HTTP/1.1 or HTTP/2), then either.
    Tls(Arc<rustls::ServerConfig>),
}

impl EchoMode {
    /// TLS with `cert_chain_pem` / `key_pem`, offering `alpn` (e.g. `[b"h2", b"http/1.1"]`).
    pub fn tls(cert_chain_pem: &str, key_pem: &str, alpn: &[&[u8]]) -> anyhow::Result<EchoMode> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("echo TLS certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("echo TLS key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("echo TLS versions")?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("echo TLS config")?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(EchoMode::Tls(Arc::new(config)))
    }

    /// Like [`EchoMode::tls`], and every client must present a certificate issued by one of
    /// the CAs in `client_ca_pem` (mutual TLS); other clients fail the handshake.
    pub fn tls_requiring_client_cert(
        cert_chain_pem: &str,
        key_pem: &str,
        client_ca_pem: &str,
        alpn: &[&[u8]],
    ) -> anyhow::Result<EchoMode> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("echo TLS certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("echo TLS key")?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
            roots
                .add(ca.context("echo client CA")?)
                .context("echo client CA")?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .context("echo client verifier")?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("echo TLS versions")?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .context("echo TLS config")?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(EchoMode::Tls(Arc::new(config)))
    }
}

/// What the echo backend learnt about one connection's TLS handshake.
#[derive(Clone, Default)]
struct ConnInfo {
    /// `None`: not TLS. Else the SNI sent (if any) and the ALPN protocol agreed (if any).
    tls: Option<(Option<String>, Option<String>)>,
}

/// A running echo server; dropping it stops the listener and every open connection.
pub struct EchoBackend {
    name: String,
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    load: Arc<Load>,
    shutdown: watch::Sender<bool>,
}

struct Shared {
    name: String,
    hits: Arc<AtomicU64>,
    load: Arc<Load>,
    shutdown: watch::Receiver<bool>,
}

/// Requests being answered now, and the most there ever were at once.
#[derive(Default)]
struct Load {
    now: AtomicU64,
    most: AtomicU64,
}

/// One request being answered (until its response body has been sent or dropped).
struct InFlight(Arc<Load>);

impl InFlight {
    fn enter(load: &Arc<Load>) -> InFlight {
        let now = load.now.fetch_add(1, Ordering::SeqCst) + 1;
        load.most.fetch_max(now, Ordering::SeqCst);
        InFlight(load.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EchoBackend {
    /// Binds `addr` (port 0 picks a free port) and serves until dropped.
    pub async fn start(name: &str, addr: SocketAddr) -> anyhow::Result<EchoBackend> {
        EchoBackend::start_with(name, addr, EchoMode::Plain).await
    }

    /// Like [`EchoBackend::start`], speaking as `mode` says.
    pub async fn start_with(
        name: &str,
        addr: SocketAddr,
        mode: EchoMode,
    ) -> anyhow::Result<EchoBackend> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("echo backend {name}: bind {addr}"))?;
        let addr = listener.local_addr().context("echo backend local_addr")?;
        let hits = Arc::new(AtomicU64::new(0));
        let load = Arc::new(Load::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            name: name.to_string(),
            hits: hits.clone(),
            load: load.clone(),
            shutdown: shutdown_rx,
        });
        tokio::spawn(accept_loop(listener, shared, mode));
        Ok(EchoBackend {
            name: name.to_string(),
            addr,
            hits,
            load,
            shutdown,
        })
    }

    /// The name this backend reports in its JSON body and `x-echo-backend` header.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Number of requests served so far (WebSocket upgrades included).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    /// The most requests it was answering at once (a streamed response counts until its last
    /// chunk is sent).
    pub fn most_in_flight(&self) -> u64 {
        self.load.most.load(Ordering::SeqCst)
    }
}

impl Drop for EchoBackend {
    fn drop(&mut self) {
        // Receivers may all be gone already; nothing to do then.
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mode: EchoMode) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _peer)) = accepted else {
            // Transient accept errors (e.g. EMFILE) must not kill the backend.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(serve_connection(stream, shared.clone(), mode.clone()));
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>, mode: EchoMode) {
    let mut shutdown = shared.shutdown.clone();
    match mode {
        EchoMode::Plain => {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let service = {
                let shared = shared.clone();
                hyper::service::service_fn(move |req| {
                    handle(shared.clone(), ConnInfo::default(), req)
                })
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => {}
                _ = conn => {}
            }
        }
        EchoMode::H2cOnly => {
            let builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            let service = {
                let shared = shared.clone();
                hyper::service::service_fn(move |req| {
                    handle(shared.clone(), ConnInfo::default(), req)
                })
            };
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => {}
                _ = conn => {}
            }
        }
        EchoMode::Tls(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            let Ok(tls) = acceptor.accept(stream).await else {
                // A failed handshake (a client that refused the certificate) ends here.
                return;
            };
            let (_, session) = tls.get_ref();
            let sni = session.server_name().map(str::to_string);
            let alpn = session
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            let info = ConnInfo {
                tls: Some((sni, alpn)),
            };
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let service = {
                let shared = shared.clone();
                hyper::service::service_fn(move |req| handle(shared.clone(), info.clone(), req))
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => {}
                _ = conn => {}
            }
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    info: ConnInfo,
    req: Request<Incoming>,
) -> Result<Response<EchoBody>, Infallible> {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    if is_websocket_upgrade(&req) {
        return Ok(websocket_accept(shared, req));
    }
    let in_flight = InFlight::enter(&shared.load);
    let path = req.uri().path().to_string();
    if path == "/stream" {
        return Ok(stream_response(
            &shared.name,
            req.uri().query().unwrap_or(""),
            in_flight,
        ));
    }
    let status = path
        .strip_prefix("/status/")
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);

    let (parts, mut body) = req.into_parts();
    let mut body_len: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    body_len += data.len() as u64;
                }
            }
            // A broken request body: report what arrived; the client sees the truncation.
            Err(_) => break,
        }
    }
    let description = serde_json::json!({
        "backend": shared.name,
        "method": parts.method.as_str(),
        "uri": parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/"),
        "authority": parts.uri.authority().map(|a| a.as_str()),
        "version": format!("{:?}", parts.version),
        "headers": header_map_json(&parts.headers),
        "body_len": body_len,
        "tls": info.tls.map(|(sni, alpn)| serde_json::json!({"sni": sni, "alpn": alpn})),
    });
    Ok(json_response(&shared.name, status, &description))
}

fn header_map_json(headers: &hyper::HeaderMap) -> serde_json::Value {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        joined
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    serde_json::json!(joined)
}

fn json_response(name: &str, status: StatusCode, body: &serde_json::Value) -> Response<EchoBody> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(name) {
        headers.insert(BACKEND_HEADER, value);
    }
    response
}

fn query_param<T: std::str::FromStr>(query: &str, key: &str) -> Option<T> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// `/stream?chunks=N&size=S[&delay_ms=D]`: N chunks of S bytes, D ms apart (default 100).
fn stream_response(name: &str, query: &str, in_flight: InFlight) -> Response<EchoBody> {
    let chunks = query_param::<usize>(query, "chunks")
        .unwrap_or(5)
        .min(MAX_STREAM_CHUNKS);
    let size = query_param::<usize>(query, "size")
        .unwrap_or(16)
        .min(MAX_STREAM_CHUNK_SIZE);
    let delay = query_param::<u64>(query, "delay_ms")
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_STREAM_DELAY);
    let frames = futures::stream::iter(0..chunks).then(move |index| async move {
        if index > 0 {
            tokio::time::sleep(delay).await;
        }
        // Each chunk is filled with a letter derived from its index so order is checkable.
        let fill = b'a' + (index % 26) as u8;
        Ok::<_, Infallible>(Frame::data(Bytes::from(vec![fill; size])))
    });
    // The request is in flight until the stream is done (or dropped).
    let frames = frames.map(move |frame| {
        let _in_flight = &in_flight;
        frame
    });
    let body: Pin<Box<dyn futures::Stream<Item = _> + Send + Sync>> = Box::pin(frames);
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(body)));
    if let Ok(value) = hyper::header::HeaderValue::from_str(name) {
        response.headers_mut().insert(BACKEND_HEADER, value);
    }
    response
}

fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn websocket_accept(shared: Arc<Shared>, mut req: Request<Incoming>) -> Response<EchoBody> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        let body =
            serde_json::json!({"backend": shared.name, "error": "missing sec-websocket-key"});
        return json_response(&shared.name, StatusCode::BAD_REQUEST, &body);
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let name = shared.name.clone();
    tokio::spawn(async move {
        let mut shutdown = shared.shutdown.clone();
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => {}
            _ = async {
                let Ok(upgraded) = on_upgrade.await else { return };
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
                websocket_echo(&shared.name, ws).await;
            } => {}
        }
    });
    let mut response = Response::new(Full::new(Bytes::new()).boxed());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(&accept) {
        headers.insert("sec-websocket-accept", value);
    }
    if let Ok(value) = hyper::header::HeaderValue::from_str(&name) {
        headers.insert(BACKEND_HEADER, value);
    }
    response
}

async fn websocket_echo<S>(name: &str, mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(message)) = ws.next().await {
        let reply = match message {
            Message::Text(text) => Message::text(format!("{name}:{}", text.as_str())),
            Message::Binary(data) => {
                let mut prefixed = format!("{name}:").into_bytes();
                prefixed.extend_from_slice(&data);
                Message::binary(prefixed)
            }
            Message::Close(_) => break,
            // Pings are answered by tungstenite itself on the next write/flush.
            _ => continue,
        };
        if ws.send(reply).await.is_err() {
            break;
        }
    }
    let _ = ws.close(None).await;
}
