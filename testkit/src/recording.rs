//! A recording backend for request-smuggling tests: a plain TCP server that splits what it
//! receives into requests with a lenient HTTP/1.1 reader of its own (no hyper, which would
//! refuse some smuggled bytes and so hide them) and counts every request head it sees, so a
//! test can assert that the backend never saw more requests than the client meant to send.
//! Each request is answered `200` with `x-echo-backend` and a JSON body like the echo backend's.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::echo::BACKEND_HEADER;

/// Upper bound on what one connection may buffer, so a runaway test cannot exhaust memory.
const MAX_BUFFERED: usize = 4 << 20;

/// One request as the backend read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRequest {
    /// The request line, as sent.
    pub line: String,
    /// Header fields in order, names lowercased, values trimmed (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    /// The body, after removing the chunked framing if there was one.
    pub body: Vec<u8>,
}

impl SeenRequest {
    /// Every value of header `name` (lowercase), joined with ", ".
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }
}

/// A running recording backend; dropping it stops the listener and its connections.
pub struct RecordingBackend {
    name: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

/// What the connections of one backend share.
#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<SeenRequest>>,
    /// Connections holding bytes that are not a whole request yet.
    pending: AtomicUsize,
}

impl Shared {
    fn record(&self, request: SeenRequest) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(request);
        }
    }
}

/// Counts one connection in [`Shared::pending`] while it holds part of a request.
struct Pending<'a> {
    shared: &'a Shared,
    holding: bool,
}

impl Pending<'_> {
    fn set(&mut self, holding: bool) {
        if holding != self.holding {
            if holding {
                self.shared.pending.fetch_add(1, Ordering::SeqCst);
            } else {
                self.shared.pending.fetch_sub(1, Ordering::SeqCst);
            }
            self.holding = holding;
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

impl RecordingBackend {
    /// Binds `addr` (port 0 picks a free port) and serves until dropped.
    pub async fn start(name: &str, addr: SocketAddr) -> anyhow::Result<RecordingBackend> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("recording backend {name}: bind {addr}"))?;
        let addr = listener
            .local_addr()
            .context("recording backend local_addr")?;
        let shared = Arc::new(Shared::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        tokio::spawn(accept_loop(
            listener,
            name.to_string(),
            shared.clone(),
            shutdown_rx,
        ));
        Ok(RecordingBackend {
            name: name.to_string(),
            addr,
            shared,
            shutdown,
        })
    }

    /// The name it reports in `x-echo-backend` and its JSON body.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Number of request heads seen so far, on all connections.
    pub fn count(&self) -> usize {
        self.requests().len()
    }

    /// The requests seen so far, in arrival order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared
            .seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }

    /// Number of connections holding part of a request (a head or body still arriving): a
    /// test waits for 0 before it counts, so a request cut off mid-body (counted when its
    /// connection closes) is counted for the case that sent it.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::SeqCst)
    }
}

impl Drop for RecordingBackend {
    fn drop(&mut self) {
        // Receivers may all be gone already; nothing to do then.
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    name: String,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let mut stop = shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Transient accept errors (e.g. EMFILE) must not kill the backend.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (name, shared, mut stop) = (name.clone(), shared.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => {}
                _ = serve(stream, &name, &shared) => {}
            }
        });
    }
}

/// Reads requests off one connection until it closes, answering each.
async fn serve(mut stream: TcpStream, name: &str, shared: &Shared) {
    let mut pending = Pending {
        shared,
        holding: false,
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // Take every complete request out of the buffer first.
        while let Some((request, used)) = next_request(&buf) {
            buf.drain(..used);
            let answer = answer(name, &request);
            shared.record(request);
            if stream.write_all(&answer).await.is_err() {
                return;
            }
        }
        pending.set(!buf.is_empty());
        if buf.len() > MAX_BUFFERED {
            return;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                // A head whose body never completed still counts: the backend saw a request.
                if let Some(request) = partial_head(&buf) {
                    shared.record(request);
                }
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The head at the start of `buf` (ended by an empty line, CRLF or bare LF) and its length.
fn head(buf: &[u8]) -> Option<(SeenRequest, usize)> {
    let mut lines = Vec::new();
    let mut start = 0;
    loop {
        let end = start + buf[start..].iter().position(|&b| b == b'\n')?;
        let line = buf[start..end]
            .strip_suffix(b"\r")
            .unwrap_or(&buf[start..end]);
        start = end + 1;
        if line.is_empty() {
            if lines.is_empty() {
                continue; // stray empty lines between requests
            }
            break;
        }
        lines.push(String::from_utf8_lossy(line).into_owned());
    }
    let mut lines = lines.into_iter();
    let line = lines.next().unwrap_or_default();
    let headers = lines
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect();
    Some((
        SeenRequest {
            line,
            headers,
            body: Vec::new(),
        },
        start,
    ))
}

fn partial_head(buf: &[u8]) -> Option<SeenRequest> {
    head(buf).map(|(request, _)| request)
}

/// The next whole request in `buf` and how many bytes it took. A chunked body wins over a
/// length, as RFC 9112 says a recipient must read it.
pub(crate) fn next_request(buf: &[u8]) -> Option<(SeenRequest, usize)> {
    let (mut request, head_len) = head(buf)?;
    let rest = &buf[head_len..];
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().ends_with("chunked"));
    let (body, used) = if chunked {
        dechunk(rest)?
    } else {
        let length = request
            .header("content-length")
            .and_then(|v| v.split(',').next().and_then(|n| n.trim().parse().ok()))
            .unwrap_or(0usize);
        (rest.get(..length)?.to_vec(), length)
    };
    request.body = body;
    Some((request, head_len + used))
}

/// A chunked body at the start of `buf`, decoded, and its length on the wire.
fn dechunk(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + buf[at..].iter().position(|&b| b == b'\n')?;
        let size_text = String::from_utf8_lossy(&buf[at..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        at = line_end + 1;
        if size == 0 {
            // Trailer fields until the empty line.
            loop {
                let end = at + buf[at..].iter().position(|&b| b == b'\n')?;
                let empty = buf[at..end]
                    .strip_suffix(b"\r")
                    .unwrap_or(&buf[at..end])
                    .is_empty();
                at = end + 1;
                if empty {
                    return Some((body, at));
                }
            }
        }
        body.extend_from_slice(buf.get(at..at.checked_add(size)?)?);
        at += size;
        // The CRLF after the chunk data.
        let end = at + buf[at..].iter().position(|&b| b == b'\n')?;
        at = end + 1;
    }
}

fn answer(name: &str, request: &SeenRequest) -> Vec<u8> {
    let mut parts = request.line.split(' ');
    let (method, uri) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers
        .iter()
        .map(|(n, _)| (n.clone(), request.header(n).unwrap_or_default().into()))
        .collect();
    let body = serde_json::json!({
        "backend": name,
        "method": method,
        "uri": uri,
        "headers": headers,
        "body_len": request.body.len(),
    })
    .to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{BACKEND_HEADER}: {name}\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_requests_the_way_a_lenient_backend_would() {
        let stream = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\n\
                       Transfer-Encoding: chunked\n\n2\r\nhi\r\n0\r\n\r\nGET /c HTTP/1.1\r\n";
        let (first, used) = next_request(stream).expect("first");
        assert_eq!(
            (first.line.as_str(), first.body.as_slice()),
            ("POST /a HTTP/1.1", &b"abc"[..])
        );
        let rest = &stream[used..];
        let (second, used) = next_request(rest).expect("second");
        assert_eq!(
            (second.line.as_str(), second.body.as_slice()),
            ("GET /b HTTP/1.1", &b"hi"[..])
        );
        assert!(
            next_request(&rest[used..]).is_none(),
            "an unfinished head is not a request yet"
        );
    }
}
