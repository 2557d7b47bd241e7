//! The client stream of an HTTP/1 connection, shared between the connection guard and the one
//! session that uses it at a time: the first pass ([`crate::service::first_pass`]) may decline a
//! request after its session parsed the head, and the guard then gives the same stream to
//! Pingora, which no session API would give back. Only one session holds a handle at a time,
//! so the lock is never contended; between requests the guard holds the only handle and
//! reads the next head without it.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::SslDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::stream::GuardedStream;

/// One handle on a connection's [`GuardedStream`].
#[derive(Clone)]
pub struct SharedStream(Arc<Mutex<GuardedStream>>);

impl std::fmt::Debug for SharedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedStream").finish()
    }
}

impl SharedStream {
    /// Shares `stream`.
    pub fn new(stream: GuardedStream) -> Self {
        Self(Arc::new(Mutex::new(stream)))
    }

    /// The stream itself, when this is its only handle (no session holds one).
    pub fn get_mut(&mut self) -> Option<&mut GuardedStream> {
        Arc::get_mut(&mut self.0).map(|m| m.get_mut().unwrap_or_else(|p| p.into_inner()))
    }

    /// The stream back, when this is its only handle.
    pub fn into_inner(self) -> Option<Box<GuardedStream>> {
        Arc::try_unwrap(self.0)
            .ok()
            .map(|m| Box::new(m.into_inner().unwrap_or_else(|p| p.into_inner())))
    }

    fn lock(&self) -> MutexGuard<'_, GuardedStream> {
        // A panic while holding the lock leaves the stream as usable as it was.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl AsyncRead for SharedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_read(cx, buf)
    }
}

impl AsyncWrite for SharedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.lock()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.lock()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.lock().is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for SharedStream {
    async fn shutdown(&mut self) {
        // Through `poll_shutdown` (which for TLS sends close_notify, as Pingora's own
        // shutdown does): the lock is never held across an await.
        let _ = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_shutdown(cx)).await;
    }
}

impl UniqueID for SharedStream {
    fn id(&self) -> UniqueIDType {
        self.lock().id()
    }
}

/// No `get_ssl`: it lends a reference the lock cannot (Pingora reads it only during the TLS
/// handshake, before the guard); the digest and ALPN are passed on.
impl Ssl for SharedStream {
    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.lock().get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.lock().selected_alpn_proto()
    }
}

impl GetTimingDigest for SharedStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.lock().get_timing_digest()
    }

    fn get_read_pending_time(&self) -> std::time::Duration {
        self.lock().get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> std::time::Duration {
        self.lock().get_write_pending_time()
    }
}

impl GetProxyDigest for SharedStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.lock().get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.lock().set_proxy_digest(digest)
    }
}

impl GetSocketDigest for SharedStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.lock().get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.lock().set_socket_digest(digest)
    }
}

/// No peeking: the guard detects HTTP/2 itself and hands such connections to Pingora
/// unshared.
#[async_trait]
impl Peek for SharedStream {}
