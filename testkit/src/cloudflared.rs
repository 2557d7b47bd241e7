//! A client that talks to an origin the way cloudflared does, for tests of gatehouse behind a
//! Cloudflare tunnel (cloudflared itself cannot run here).
//!
//! On the wire, cloudflared's connection to its origin (`service: https://…` with
//! `originRequest`) is:
//! - TCP from the cloudflared pod's address (here: a chosen loopback source address, so a test
//!   can be a trusted proxy or an untrusted peer),
//! - with `https://`: TLS whose SNI is `originServerName` (`external.<domain>`), not the
//!   request's Host, offering ALPN `h2` and `http/1.1` (`http2Origin: true`; HTTP/1.1 only
//!   otherwise); with `http://`: plain TCP and HTTP/1.1 ([`Origin::h2c`] also speaks HTTP/2
//!   with prior knowledge there, as other clients of the plain listener may),
//! - one long-lived connection carrying the requests of every hostname the tunnel serves
//!   (`keepAliveTimeout`), several streams at once on HTTP/2,
//! - each request carrying the visitor's Host (the `:authority` on HTTP/2) and the headers
//!   Cloudflare's edge adds: `CF-Connecting-IP` (the visitor), `X-Forwarded-For` (whatever the
//!   visitor sent, with the visitor's address appended), `X-Forwarded-Proto: https`,
//!   `CF-Visitor`, `CF-Ray`, `CDN-Loop`; never `X-Real-IP`.
//!
//! [`Tunnel`] is one such connection. It also records the HTTP/2 frames the origin sends
//! (SETTINGS, GOAWAY, …) and notices when the origin closes the connection.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

use crate::client::Reply;
use crate::tls_client;

/// Bound on connect, handshake, and on each request (head and body).
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP/2 frame types a test looks for.
pub const FRAME_SETTINGS: u8 = 0x4;
/// GOAWAY.
pub const FRAME_GOAWAY: u8 = 0x7;
/// SETTINGS_MAX_CONCURRENT_STREAMS.
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

/// Where and how cloudflared reaches its origin (`service` plus `originRequest`).
#[derive(Clone, Debug)]
pub struct Origin {
    /// The origin's address (the gatehouse listener).
    pub addr: SocketAddr,
    /// `https://` origin: the TLS server name sent (`originServerName`); `None`: `http://`.
    pub server_name: Option<String>,
    /// `http2Origin: true`.
    pub http2: bool,
    /// The address cloudflared connects from (a loopback address such as 127.0.0.1).
    pub source: Option<IpAddr>,
    /// HTTP/2: send requests before the origin's SETTINGS have arrived (up to 100 streams at
    /// once, Go's assumption until then); by default the client waits for them.
    pub eager: bool,
}

impl Origin {
    /// `https://addr` with `originServerName: server_name` and `http2Origin: true`.
    pub fn https(addr: SocketAddr, server_name: &str) -> Origin {
        Origin {
            addr,
            server_name: Some(server_name.to_string()),
            http2: true,
            source: None,
            eager: false,
        }
    }

    /// `http://addr` spoken in HTTP/2 with prior knowledge (h2c; cloudflared itself speaks
    /// HTTP/1.1 to `http://` services: add [`Origin::http1`]).
    pub fn h2c(addr: SocketAddr) -> Origin {
        Origin {
            addr,
            server_name: None,
            http2: true,
            source: None,
            eager: false,
        }
    }

    /// `http2Origin: false`: HTTP/1.1 with keep-alive.
    pub fn http1(mut self) -> Origin {
        self.http2 = false;
        self
    }

    /// Sends requests before the origin's SETTINGS have been seen (see [`Origin::eager`]).
    pub fn eager(mut self) -> Origin {
        self.eager = true;
        self
    }

    /// Connects from `source` (e.g. "127.0.0.2").
    pub fn from(mut self, source: &str) -> Origin {
        self.source = Some(
            source
                .parse()
                .unwrap_or_else(|e| panic!("Origin::from: {source:?} is not an address: {e}")),
        );
        self
    }
}

/// The visitor behind Cloudflare's edge, and what it sent itself.
#[derive(Clone, Debug)]
pub struct Visitor {
    /// The visitor's address as Cloudflare saw it (`CF-Connecting-IP`).
    pub ip: IpAddr,
    /// An `X-Forwarded-For` the visitor sent (Cloudflare appends the visitor's address).
    pub forwarded_for: Option<String>,
}

impl Visitor {
    /// A visitor at `ip` that sent no forwarded header.
    pub fn at(ip: &str) -> Visitor {
        Visitor {
            ip: ip
                .parse()
                .unwrap_or_else(|e| panic!("Visitor::at: {ip:?} is not an address: {e}")),
            forwarded_for: None,
        }
    }

    /// The visitor sent `X-Forwarded-For: value` (made up or from its own proxy).
    pub fn sending_forwarded_for(mut self, value: &str) -> Visitor {
        self.forwarded_for = Some(value.to_string());
        self
    }

    /// The headers Cloudflare's edge and cloudflared put on this visitor's requests.
    pub fn edge_headers(&self) -> Vec<(&'static str, String)> {
        let ip = self.ip.to_string();
        let forwarded_for = match &self.forwarded_for {
            Some(sent) => format!("{sent}, {ip}"),
            None => ip.clone(),
        };
        vec![
            ("cf-connecting-ip", ip),
            ("x-forwarded-for", forwarded_for),
            ("x-forwarded-proto", "https".to_string()),
            ("cf-visitor", r#"{"scheme":"https"}"#.to_string()),
            ("cf-ray", "8f1e2d3c4b5a6978-AMS".to_string()),
            ("cdn-loop", "cloudflare".to_string()),
        ]
    }
}

/// One HTTP/2 frame the origin sent: its header, and the payload of SETTINGS and GOAWAY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Frame type (`FRAME_SETTINGS`, `FRAME_GOAWAY`, …).
    pub kind: u8,
    /// Flags (ACK on SETTINGS is 0x1).
    pub flags: u8,
    /// Stream identifier.
    pub stream: u32,
    /// Payload (SETTINGS and GOAWAY only; empty for other types).
    pub payload: Vec<u8>,
}

impl Frame {
    /// The parameters of a SETTINGS frame, in order.
    pub fn settings(&self) -> Vec<(u16, u32)> {
        if self.kind != FRAME_SETTINGS {
            return Vec::new();
        }
        self.payload
            .chunks_exact(6)
            .map(|p| {
                (
                    u16::from_be_bytes([p[0], p[1]]),
                    u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
                )
            })
            .collect()
    }

    /// A GOAWAY frame's last stream id and error code.
    pub fn goaway(&self) -> Option<(u32, u32)> {
        if self.kind != FRAME_GOAWAY || self.payload.len() < 8 {
            return None;
        }
        let p = &self.payload;
        let last = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff;
        let code = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        Some((last, code))
    }
}

/// Reads HTTP/2 frames out of the bytes the origin sends, as they pass.
#[derive(Default)]
struct FrameParser {
    head: Vec<u8>,
    /// The frame being read: its header and how much payload is left.
    current: Option<(Frame, usize)>,
    frames: Vec<Frame>,
}

impl FrameParser {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.current {
                None => {
                    let take = (9 - self.head.len()).min(bytes.len());
                    self.head.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if self.head.len() == 9 {
                        let h = std::mem::take(&mut self.head);
                        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
                        let frame = Frame {
                            kind: h[3],
                            flags: h[4],
                            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
                            payload: Vec::new(),
                        };
                        self.current = Some((frame, len));
                    }
                }
                Some((frame, left)) => {
                    let take = (*left).min(bytes.len());
                    if matches!(frame.kind, FRAME_SETTINGS | FRAME_GOAWAY) {
                        frame.payload.extend_from_slice(&bytes[..take]);
                    }
                    *left -= take;
                    bytes = &bytes[take..];
                }
            }
            if let Some((_, 0)) = &self.current {
                if let Some((frame, _)) = self.current.take() {
                    self.frames.push(frame);
                }
            }
        }
        // A zero-length frame whose header ended the buffer.
        if let Some((_, 0)) = &self.current {
            if let Some((frame, _)) = self.current.take() {
                self.frames.push(frame);
            }
        }
    }
}

/// A stream that shows every byte read from it to a [`FrameParser`].
struct FrameTap<S> {
    inner: S,
    parser: Arc<Mutex<FrameParser>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameTap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let fresh = &buf.filled()[before..];
            lock(&self.parser).feed(fresh);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameTap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

enum Sender {
    H2(h2::client::SendRequest<Bytes>),
    H1(tokio::sync::Mutex<hyper::client::conn::http1::SendRequest<Full<Bytes>>>),
}

/// One cloudflared connection to the origin.
pub struct Tunnel {
    origin: Origin,
    sender: Sender,
    frames: Arc<Mutex<FrameParser>>,
    closed: watch::Receiver<Option<String>>,
    leaf: Option<Vec<u8>>,
    refused: AtomicU64,
}

impl Tunnel {
    /// Opens the connection (TCP from `origin.source`, TLS with SNI `server_name`, HTTP/2 or
    /// HTTP/1.1) and starts driving it.
    pub async fn connect(origin: &Origin) -> anyhow::Result<Tunnel> {
        let tcp = tcp_connect(origin).await?;
        let frames = Arc::new(Mutex::new(FrameParser::default()));
        let (done, closed) = watch::channel(None);
        let (sender, leaf) = match &origin.server_name {
            Some(name) => {
                let mut config = tls_client::inspecting_config(&[
                    &rustls::version::TLS13,
                    &rustls::version::TLS12,
                ])?;
                config.alpn_protocols = if origin.http2 {
                    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
                } else {
                    vec![b"http/1.1".to_vec()]
                };
                let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
                let server_name = rustls::pki_types::ServerName::try_from(name.clone())
                    .with_context(|| format!("server name {name}"))?;
                let tls = tokio::time::timeout(IO_TIMEOUT, connector.connect(server_name, tcp))
                    .await
                    .map_err(|_| anyhow!("TLS handshake with {}: timed out", origin.addr))?
                    .with_context(|| format!("TLS handshake with {}", origin.addr))?;
                let leaf = tls_client::peer_leaf(&tls)?.to_vec();
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                if origin.http2 && alpn.as_deref() != Some(b"h2") {
                    bail!("origin {} did not agree to h2 (ALPN {alpn:?})", origin.addr);
                }
                (start(origin, tls, &frames, done).await?, Some(leaf))
            }
            None => (start(origin, tcp, &frames, done).await?, None),
        };
        let tunnel = Tunnel {
            origin: origin.clone(),
            sender,
            frames,
            closed,
            leaf,
            refused: AtomicU64::new(0),
        };
        if !origin.eager {
            tunnel.await_settings().await?;
        }
        Ok(tunnel)
    }

    /// On HTTP/2, waits (bounded) until the origin's first SETTINGS has been received and
    /// applied, as Go's transport does before it opens more than its initial 100 streams.
    async fn await_settings(&self) -> anyhow::Result<()> {
        let Sender::H2(send) = &self.sender else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
        loop {
            let first = self
                .frames()
                .into_iter()
                .find(|f| f.kind == FRAME_SETTINGS && f.flags & 0x1 == 0);
            if let Some(settings) = first {
                let announced = settings
                    .settings()
                    .into_iter()
                    .find(|(id, _)| *id == SETTINGS_MAX_CONCURRENT_STREAMS)
                    .map(|(_, v)| v as usize);
                if announced.is_none_or(|n| send.current_max_send_streams() == n) {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "no SETTINGS from {} within {IO_TIMEOUT:?}",
                    self.origin.addr
                );
            }
            if let Some(how) = self.closed() {
                bail!(
                    "{} closed the connection before its SETTINGS: {how}",
                    self.origin.addr
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Streams the origin refused (REFUSED_STREAM) and this client sent again.
    pub fn refused_streams(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// The leaf certificate the origin presented (TLS origins).
    pub fn leaf_der(&self) -> Option<&[u8]> {
        self.leaf.as_deref()
    }

    /// GET `path` on `host` for `visitor`, with the headers the edge adds.
    pub async fn get(&self, host: &str, path: &str, visitor: &Visitor) -> anyhow::Result<Reply> {
        let headers = visitor.edge_headers();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.request(host, path, &headers).await
    }

    /// GET `path` on `host` with exactly `headers` (besides Host / `:authority`).
    pub async fn request(
        &self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        tokio::time::timeout(IO_TIMEOUT, self.request_unbounded(host, path, headers))
            .await
            .map_err(|_| {
                anyhow!("GET {host}{path} over the tunnel: timed out after {IO_TIMEOUT:?}")
            })?
            .with_context(|| format!("GET {host}{path} over the tunnel to {}", self.origin.addr))
    }

    async fn request_unbounded(
        &self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        match &self.sender {
            Sender::H2(send) => {
                let scheme = if self.origin.server_name.is_some() {
                    "https"
                } else {
                    "http"
                };
                let mut builder = http::Request::get(format!("{scheme}://{host}{path}"));
                for (name, value) in headers {
                    builder = builder.header(*name, *value);
                }
                let request = builder.body(()).context("build request")?;
                // Go's HTTP/2 transport (cloudflared's) retries a stream the origin refused
                // (REFUSED_STREAM: not processed, safe to send again); so does this client,
                // counting it.
                let mut attempt = 0;
                let response = loop {
                    attempt += 1;
                    let mut send = send.clone().ready().await.context("HTTP/2 stream slot")?;
                    let (response, _) = send
                        .send_request(request.clone(), true)
                        .context("send HTTP/2 request")?;
                    match response.await {
                        Err(e) if e.reason() == Some(h2::Reason::REFUSED_STREAM) && attempt < 5 => {
                            self.refused.fetch_add(1, Ordering::SeqCst);
                        }
                        other => break other.context("HTTP/2 response")?,
                    }
                };
                let (parts, mut body) = response.into_parts();
                let mut bytes = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.context("HTTP/2 response body")?;
                    let _ = body.flow_control().release_capacity(chunk.len());
                    bytes.extend_from_slice(&chunk);
                }
                Ok(Reply::from_parts(
                    parts.status.as_u16(),
                    parts.headers,
                    &bytes,
                ))
            }
            Sender::H1(send) => {
                let mut builder = http::Request::get(path).header(http::header::HOST, host);
                for (name, value) in headers {
                    builder = builder.header(*name, *value);
                }
                let request = builder
                    .body(Full::new(Bytes::new()))
                    .context("build request")?;
                let mut send = send.lock().await;
                send.ready().await.context("HTTP/1.1 connection closed")?;
                let response = send
                    .send_request(request)
                    .await
                    .context("HTTP/1.1 request")?;
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .context("HTTP/1.1 response body")?
                    .to_bytes();
                Ok(Reply::from_parts(status, headers, &body))
            }
        }
    }

    /// Every HTTP/2 frame the origin has sent so far.
    pub fn frames(&self) -> Vec<Frame> {
        lock(&self.frames).frames.clone()
    }

    /// The origin's SETTINGS_MAX_CONCURRENT_STREAMS (its last SETTINGS that set it).
    pub fn max_concurrent_streams(&self) -> Option<u32> {
        self.frames()
            .iter()
            .flat_map(Frame::settings)
            .rev()
            .find(|(id, _)| *id == SETTINGS_MAX_CONCURRENT_STREAMS)
            .map(|(_, value)| value)
    }

    /// The GOAWAY frames received so far: (last stream id, error code).
    pub fn goaways(&self) -> Vec<(u32, u32)> {
        self.frames().iter().filter_map(Frame::goaway).collect()
    }

    /// `Some(how)` once the connection has ended (the origin closed it, or it failed).
    pub fn closed(&self) -> Option<String> {
        self.closed.borrow().clone()
    }

    /// Waits until the connection has ended; says how, or fails after `timeout`.
    pub async fn wait_closed(&self, timeout: Duration) -> anyhow::Result<String> {
        let mut closed = self.closed.clone();
        let result = tokio::time::timeout(timeout, closed.wait_for(Option::is_some))
            .await
            .map_err(|_| {
                anyhow!(
                    "the connection to {} is still open after {timeout:?}",
                    self.origin.addr
                )
            })?
            .map_err(|_| anyhow!("connection driver gone"))?
            .clone();
        Ok(result.unwrap_or_default())
    }
}

/// TCP to the origin from its source address.
async fn tcp_connect(origin: &Origin) -> anyhow::Result<TcpStream> {
    let socket = if origin.addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .context("socket")?;
    if let Some(source) = origin.source {
        socket
            .bind(SocketAddr::new(source, 0))
            .with_context(|| format!("bind {source}"))?;
    }
    tokio::time::timeout(IO_TIMEOUT, socket.connect(origin.addr))
        .await
        .map_err(|_| anyhow!("connect {}: timed out", origin.addr))?
        .with_context(|| format!("connect {}", origin.addr))
}

/// Starts HTTP/2 or HTTP/1.1 on `io`; the driver task reports the connection's end on `done`.
async fn start<S>(
    origin: &Origin,
    io: S,
    frames: &Arc<Mutex<FrameParser>>,
    done: watch::Sender<Option<String>>,
) -> anyhow::Result<Sender>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if origin.http2 {
        let tap = FrameTap {
            inner: io,
            parser: frames.clone(),
        };
        // Go's HTTP/2 transport (cloudflared's) announces a 4 MiB stream window and assumes
        // 100 concurrent streams until the origin's SETTINGS say otherwise.
        let (send, conn) = h2::client::Builder::new()
            .initial_window_size(4 << 20)
            .initial_max_send_streams(100)
            .enable_push(false)
            .handshake::<_, Bytes>(tap)
            .await
            .context("HTTP/2 handshake")?;
        tokio::spawn(async move {
            let how = match conn.await {
                Ok(()) => "closed".to_string(),
                Err(e) => format!("failed: {e}"),
            };
            let _ = done.send(Some(how));
        });
        Ok(Sender::H2(send))
    } else {
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            let how = match conn.await {
                Ok(()) => "closed".to_string(),
                Err(e) => format!("failed: {e}"),
            };
            let _ = done.send(Some(how));
        });
        Ok(Sender::H1(tokio::sync::Mutex::new(send)))
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_across_any_split() {
        // SETTINGS (MAX_CONCURRENT_STREAMS=32), SETTINGS ACK (empty), DATA on stream 1, GOAWAY.
        let mut wire = vec![0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 32];
        wire.extend_from_slice(&[0, 0, 0, 4, 1, 0, 0, 0, 0]);
        wire.extend_from_slice(&[0, 0, 2, 0, 1, 0, 0, 0, 1, b'h', b'i']);
        wire.extend_from_slice(&[
            0, 0, 8, 7, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        for split in 1..wire.len() {
            let mut parser = FrameParser::default();
            for piece in wire.chunks(split) {
                parser.feed(piece);
            }
            let frames = parser.frames;
            assert_eq!(frames.len(), 4, "split {split}");
            assert_eq!(frames[0].settings(), vec![(3, 32)]);
            assert_eq!((frames[1].kind, frames[1].flags), (FRAME_SETTINGS, 1));
            assert_eq!((frames[2].kind, frames[2].stream), (0, 1));
            assert_eq!(frames[3].goaway(), Some((0x7fff_ffff, 0)));
        }
    }

    #[test]
    fn edge_headers_append_the_visitor() {
        let visitor = Visitor::at("203.0.113.7").sending_forwarded_for("10.0.0.1");
        let headers = visitor.edge_headers();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("cf-connecting-ip").as_deref(), Some("203.0.113.7"));
        assert_eq!(
            get("x-forwarded-for").as_deref(),
            Some("10.0.0.1, 203.0.113.7")
        );
        assert_eq!(get("x-real-ip"), None);
    }
}
