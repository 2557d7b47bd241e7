//! The client stream as the connection guard hands it to Pingora: bytes the guard has already
//! read (a request head, the HTTP/2 preface) are served first, then the socket's.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::SslDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The HTTP/2 connection preface Pingora peeks for on plain listeners (h2c).
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A client stream under the guard.
pub struct GuardedStream {
    /// The socket (or TLS stream).
    pub(super) inner: pingora::protocols::Stream,
    /// Bytes read ahead by the guard, served to the next reads.
    pub(super) peeked: BytesMut,
    /// Until when Pingora's HTTP/2 preface peek may wait.
    pub(super) deadline: Instant,
}

impl std::fmt::Debug for GuardedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedStream")
            .field("inner", &self.inner)
            .field("peeked", &self.peeked.len())
            .finish()
    }
}

impl GuardedStream {
    /// Wraps `inner`; Pingora's preface peek may wait until `deadline`.
    pub fn new(inner: pingora::protocols::Stream, deadline: Instant) -> Self {
        Self {
            inner,
            peeked: BytesMut::new(),
            deadline,
        }
    }

    /// Reads until the bytes so far cannot be the start of the HTTP/2 preface, or `want`
    /// bytes are in (or the client stops sending).
    async fn peek_preface(&mut self, want: usize) -> io::Result<()> {
        let mut chunk = [0u8; 64];
        while self.peeked.len() < want && H2_PREFACE.starts_with(&self.peeked) {
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            self.peeked.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.peeked.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.peeked.len().min(buf.remaining());
        buf.put_slice(&this.peeked[..n]);
        this.peeked.advance(n);
        if this.peeked.is_empty() {
            // Release the buffer: an idle connection holds none.
            this.peeked = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for GuardedStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for GuardedStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for GuardedStream {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for GuardedStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> std::time::Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> std::time::Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for GuardedStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for GuardedStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for GuardedStream {
    /// Pingora peeks for the HTTP/2 preface before the first read. Its own peek waits for all
    /// 24 bytes; this one returns as soon as the bytes cannot be the preface, keeps them for
    /// the reads that follow, and gives up at the head deadline.
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let deadline = self.deadline;
        match tokio::time::timeout_at(deadline, self.peek_preface(buf.len())).await {
            Ok(Ok(())) => {
                let n = self.peeked.len().min(buf.len());
                buf[..n].copy_from_slice(&self.peeked[..n]);
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no HTTP/2 preface within client-header-timeout",
            )),
        }
    }
}
