//! Reading a client's next HTTP/1 request head, before Pingora builds any request state: the
//! wait for its first bytes (a small buffer on the stack, so an idle connection holds almost
//! nothing), then the head under its total deadline, checked byte by byte as it arrives
//! ([`super::head`]). A refused head is answered here and the connection closed gently.

use std::time::Duration;

use bytes::BytesMut;
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

use gatehouse_metrics::ConnectionRefusal;

use super::head::{HeadScan, Refusal, Verdict};
use super::stream::GuardedStream;
use crate::limits::Limits;

/// After a refusal, how long and how much of what the client still sends is read and dropped
/// before the socket closes: closing with unread data makes the kernel send a reset, which can
/// destroy the answer before the client reads it (nginx's lingering close).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;
/// The first read of a head; longer heads grow a buffer as they arrive.
const FIRST_READ: usize = 512;

/// What the client sent next.
pub enum Head {
    /// A complete HTTP/1 head (and whatever followed it in the same reads).
    Http1(BytesMut),
    /// The HTTP/2 preface (h2c): the bytes are kept in the stream for Pingora.
    Http2,
    /// Nothing more: closed, timed out, refused or shutting down.
    Gone,
}

/// Reads the next head from `stream`. `idle_until` is when a kept-alive connection stops
/// waiting for one (`None` for a new connection, whose first head is due by the stream's
/// deadline from accept); `refused` counts what the guard closes.
pub async fn next_head(
    stream: &mut GuardedStream,
    limits: &Limits,
    idle_until: Option<Instant>,
    stop: &mut ShutdownWatch,
    refused: impl Fn(ConnectionRefusal),
) -> Head {
    // Bytes already read past a PROXY protocol header start the first head.
    let carried = std::mem::take(&mut stream.peeked);
    let mut head = if carried.is_empty() {
        let mut first = [0u8; FIRST_READ];
        let wait_until = idle_until.unwrap_or(stream.deadline);
        let n = tokio::select! {
            read = tokio::time::timeout_at(wait_until, stream.inner.read(&mut first)) => match read {
                Ok(Ok(n)) if n > 0 => n,
                Ok(_) => return Head::Gone,
                Err(_) => {
                    // An idle keep-alive connection ending is normal; a new one that never
                    // spoke is a head that missed its deadline.
                    if idle_until.is_none() {
                        refused(ConnectionRefusal::HeadTimeout);
                    }
                    return Head::Gone;
                }
            },
            () = shutting_down(stop) => return Head::Gone,
        };
        BytesMut::from(&first[..n])
    } else {
        carried
    };
    if idle_until.is_some() {
        stream.deadline = Instant::now() + limits.client_header_timeout;
    }
    let deadline = stream.deadline;
    let mut scan = HeadScan::new(limits.header_line_max, limits.header_total_max);
    let mut scanned = 0;
    loop {
        match scan.feed(&head[scanned..]) {
            Verdict::More => {}
            Verdict::Complete(_) => return Head::Http1(head),
            Verdict::Http2 => {
                stream.peeked = head;
                return Head::Http2;
            }
            Verdict::Refuse(refusal) => {
                refused(match refusal {
                    Refusal::BadRequest(_) => ConnectionRefusal::BadHead,
                    Refusal::UriTooLong => ConnectionRefusal::UriTooLong,
                    Refusal::HeadersTooLarge => ConnectionRefusal::HeadersTooLarge,
                });
                // Boxed: its 4 KiB drain buffer would otherwise sit in every connection's
                // future, refused or not.
                Box::pin(refuse(stream, refusal)).await;
                return Head::Gone;
            }
        }
        scanned = head.len();
        head.reserve(FIRST_READ);
        match tokio::time::timeout_at(deadline, stream.inner.read_buf(&mut head)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Head::Gone,
            Err(_) => {
                tracing::debug!("request head deadline passed; closing");
                refused(ConnectionRefusal::HeadTimeout);
                return Head::Gone;
            }
        }
    }
}

/// Answers a refused head, shuts our side and drops what the client still sends, within
/// bounds.
async fn refuse(stream: &mut GuardedStream, refusal: Refusal) {
    tracing::debug!(
        status = refusal.status(),
        reason = refusal.reason(),
        "request head refused"
    );
    let answer = refusal.response();
    let linger = async {
        stream.inner.write_all(&answer).await?;
        stream.inner.flush().await?;
        stream.inner.shutdown().await?;
        let mut scratch = [0u8; 4096];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match stream.inner.read(&mut scratch).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(LINGER_TIME, linger).await;
}

/// Resolves once the server starts shutting down (never if the watch's sender is gone).
async fn shutting_down(stop: &mut ShutdownWatch) {
    loop {
        if *stop.borrow() {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
