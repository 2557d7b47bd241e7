//! The client stream as the connection guard hands it to Pingora: reads of a request head go
//! through the head scanner and against the head deadline; everything else passes through.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::SslDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::head::{HeadScan, Refusal, Verdict};
use super::{Phase, Shared};

/// A client stream under the guard.
pub struct GuardedStream {
    inner: pingora::protocols::Stream,
    shared: Arc<Shared>,
    scan: HeadScan,
    /// When the current head must be complete.
    deadline: Instant,
    /// The timer for `deadline`, made on the first wait and reset for later heads.
    timer: Option<Pin<Box<Sleep>>>,
    /// A refusal under way.
    refusal: Option<Refusing>,
    /// Bytes read while looking for the HTTP/2 preface, served to the next reads.
    peeked: Vec<u8>,
}

/// The HTTP/2 connection preface Pingora peeks for on plain listeners (h2c).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// After a refusal, how long and how much of what the client still sends is read and dropped
/// before the socket closes: closing with unread data makes the kernel send a reset, which can
/// destroy the answer before the client reads it (nginx's lingering close).
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// The stages of refusing a head.
enum Refusing {
    /// Writing the answer: the bytes and how many are out.
    Writing(Vec<u8>, usize),
    /// The answer is out and our side shut: dropping what the client still sends.
    Lingering(usize),
}

impl std::fmt::Debug for GuardedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedStream")
            .field("inner", &self.inner)
            .field("phase", &self.shared.phase())
            .finish()
    }
}

impl GuardedStream {
    /// Wraps `inner`; the first head's deadline counts from now.
    pub fn new(inner: pingora::protocols::Stream, shared: Arc<Shared>) -> Self {
        let limits = &shared.limits;
        let scan = HeadScan::new(limits.header_line_max, limits.header_total_max);
        let deadline = Instant::now() + limits.client_header_timeout;
        Self {
            inner,
            shared,
            scan,
            deadline,
            timer: None,
            refusal: None,
            peeked: Vec::new(),
        }
    }

    /// Whether `deadline` (the head's, or the linger's after a refusal) has passed, arming the
    /// timer to wake the task if not.
    fn deadline_passed(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.deadline;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).is_ready()
    }

    /// Writes the refusal's answer, shuts our side, lingers, then fails the read so Pingora
    /// drops the connection.
    fn poll_refuse(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(Refusing::Writing(answer, sent)) = &mut self.refusal {
            while *sent < answer.len() {
                match ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*sent..])) {
                    Ok(0) | Err(_) => return Poll::Ready(Err(refused())),
                    Ok(n) => *sent += n,
                }
            }
            if ready!(Pin::new(&mut self.inner).poll_flush(cx)).is_err()
                || ready!(Pin::new(&mut self.inner).poll_shutdown(cx)).is_err()
            {
                return Poll::Ready(Err(refused()));
            }
            self.deadline = Instant::now() + LINGER_TIME;
            self.refusal = Some(Refusing::Lingering(0));
        }
        if let Some(Refusing::Lingering(drained)) = &mut self.refusal {
            let mut scratch = [0u8; 4096];
            while *drained < LINGER_BYTES {
                let mut sink = ReadBuf::new(&mut scratch);
                match Pin::new(&mut self.inner).poll_read(cx, &mut sink) {
                    Poll::Ready(Ok(())) if !sink.filled().is_empty() => {
                        *drained += sink.filled().len()
                    }
                    Poll::Ready(_) => break,
                    Poll::Pending => {
                        if !self.deadline_passed(cx) {
                            return Poll::Pending;
                        }
                        break;
                    }
                }
            }
        }
        Poll::Ready(Err(refused()))
    }

    /// Reads until the bytes so far cannot be the start of the HTTP/2 preface, or `want`
    /// bytes are in (or the client stops sending).
    async fn peek_preface(&mut self, want: usize) -> io::Result<()> {
        let mut chunk = [0u8; 512];
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

fn refused() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "request head refused")
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return this.poll_refuse(cx);
        }
        let phase = this.shared.phase();
        let before = buf.filled().len();
        let polled = if this.peeked.is_empty() {
            Pin::new(&mut this.inner).poll_read(cx, buf)
        } else {
            let n = this.peeked.len().min(buf.remaining());
            buf.put_slice(&this.peeked[..n]);
            this.peeked.drain(..n);
            if this.peeked.is_empty() {
                this.peeked = Vec::new();
            }
            Poll::Ready(Ok(()))
        };
        if matches!(phase, Phase::Busy | Phase::PassThrough) {
            return polled;
        }
        match polled {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() == before {
                    return Poll::Ready(Ok(()));
                }
                if phase == Phase::Idle {
                    // The first byte of the next request: its head's deadline starts now.
                    this.scan.reset();
                    this.deadline = Instant::now() + this.shared.limits.client_header_timeout;
                    this.shared.set_phase(Phase::Head);
                }
                match this.scan.feed(&buf.filled()[before..]) {
                    Verdict::More => {}
                    Verdict::Complete(_) => this.shared.set_phase(Phase::Busy),
                    Verdict::Http2 => this.shared.set_phase(Phase::PassThrough),
                    Verdict::Refuse(refusal) => {
                        buf.set_filled(before);
                        this.refuse(refusal);
                        return this.poll_refuse(cx);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if phase == Phase::Head && this.deadline_passed(cx) => {
                this.shared.head_timed_out();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not complete within client-header-timeout",
                )))
            }
            other => other,
        }
    }
}

impl GuardedStream {
    fn refuse(&mut self, refusal: Refusal) {
        tracing::debug!(
            status = refusal.status(),
            reason = refusal.reason(),
            "request head refused"
        );
        self.shared.head_refused(refusal);
        self.refusal = Some(Refusing::Writing(refusal.response(), 0));
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
    /// 24 bytes, which holds a shorter HTTP/1 request (`GET / HTTP/1.0` and a blank line)
    /// unanswered; this one returns as soon as the bytes cannot be the preface, keeps them for
    /// the reads that follow, and counts the wait against the head deadline, or a client that
    /// connects and sends nothing would be held forever.
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let deadline = self.deadline;
        match tokio::time::timeout_at(deadline, self.peek_preface(buf.len())).await {
            Ok(Ok(())) => {
                let n = self.peeked.len().min(buf.len());
                buf[..n].copy_from_slice(&self.peeked[..n]);
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                self.shared.head_timed_out();
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "nothing sent within client-header-timeout",
                ))
            }
        }
    }
}
