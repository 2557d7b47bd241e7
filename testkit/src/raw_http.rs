//! Requests written byte for byte: HTTP clients (reqwest included) normalise paths before
//! sending, so tests of how gatehouse treats `//a`, `/./a` or `%2e%2e` write the request line
//! themselves over a plain TCP connection.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::client::Reply;

/// Bound on one raw request, so a hung server cannot hang a test.
const RAW_TIMEOUT: Duration = Duration::from_secs(15);

/// Sends `GET {target} HTTP/1.1` with `Host: {host}` exactly as given, on a fresh connection
/// that is closed after the response, and reads the response whole.
pub async fn get(addr: SocketAddr, host: &str, target: &str) -> anyhow::Result<Reply> {
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tokio::time::timeout(RAW_TIMEOUT, exchange(addr, request.as_bytes()))
        .await
        .map_err(|_| anyhow!("raw GET {target} on {addr}: timed out after {RAW_TIMEOUT:?}"))?
        .with_context(|| format!("raw GET {target} Host: {host} on {addr}"))
}

/// Sends `request` (a whole HTTP/1.1 request, written as given) on a fresh connection and reads
/// the response until the server closes it; the request should say `Connection: close`.
pub async fn send(addr: SocketAddr, request: &[u8]) -> anyhow::Result<Reply> {
    tokio::time::timeout(RAW_TIMEOUT, exchange(addr, request))
        .await
        .map_err(|_| anyhow!("raw request on {addr}: timed out after {RAW_TIMEOUT:?}"))?
        .with_context(|| {
            format!(
                "raw request on {addr}: {}",
                String::from_utf8_lossy(request)
            )
        })
}

async fn exchange(addr: SocketAddr, request: &[u8]) -> anyhow::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    stream.write_all(request).await.context("write request")?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .context("read response")?;
    parse(&response)
}

/// What one raw exchange observed: the bytes that came back and whether the server closed.
#[derive(Debug)]
pub struct Exchange {
    /// Everything read before the connection ended or the wait ran out.
    pub received: Vec<u8>,
    /// The server closed the connection (end of stream or reset) within the wait.
    pub closed: bool,
}

impl Exchange {
    /// The responses in `received`, in order (each framed by its `Content-Length`, else
    /// running to the end); a trailing fragment that is not a response is left out.
    pub fn replies(&self) -> Vec<Reply> {
        let mut replies = Vec::new();
        let mut rest = self.received.as_slice();
        while let Some(head_end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&rest[..head_end]).to_ascii_lowercase();
            let length = head
                .split("\r\n")
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(rest.len() - head_end - 4);
            let end = (head_end + 4 + length).min(rest.len());
            match parse(&rest[..end]) {
                Ok(reply) => replies.push(reply),
                Err(_) => break,
            }
            rest = &rest[end..];
        }
        replies
    }

    /// The first response's status, if one came back.
    pub fn status(&self) -> Option<u16> {
        self.replies().first().map(|r| r.status)
    }

    /// One-line summary for assertion messages.
    pub fn summary(&self) -> String {
        let statuses: Vec<u16> = self.replies().iter().map(|r| r.status).collect();
        format!(
            "responses {statuses:?}, closed {}, {} bytes: {:?}",
            self.closed,
            self.received.len(),
            String::from_utf8_lossy(&self.received[..self.received.len().min(200)])
        )
    }
}

/// Writes `request` exactly as given on a fresh connection (without closing our side) and
/// reads until the server closes or `wait` has passed since the write: a server that keeps the
/// connection open shows as `closed: false`. A reset counts as closed.
pub async fn exchange_raw(
    addr: SocketAddr,
    request: &[u8],
    wait: Duration,
) -> anyhow::Result<Exchange> {
    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    // A server that refuses early may reset before taking everything: what it answered until
    // then still counts.
    let _ = stream.write_all(request).await;
    read_until_closed(&mut stream, wait).await
}

/// Reads `stream` until the server closes it or `wait` passes.
pub async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> anyhow::Result<Exchange> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => {
                return Ok(Exchange {
                    received,
                    closed: false,
                })
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Ok(Exchange {
                    received,
                    closed: true,
                })
            }
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Parses a whole HTTP/1.1 response (a `Content-Length`, chunked, or read-to-close body).
fn parse(response: &[u8]) -> anyhow::Result<Reply> {
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no end of head in {:?}", String::from_utf8_lossy(response)))?;
    let head = std::str::from_utf8(&response[..head_end]).context("head is not UTF-8")?;
    let body = &response[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| anyhow!("bad header line {line:?}"))?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes())?,
            HeaderValue::from_str(value.trim())?,
        );
    }
    let chunked = headers
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(Reply::from_parts(status, headers, &body))
}

fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("chunk size line not terminated"))?;
        let size_text = std::str::from_utf8(&body[..line_end])?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("chunk of {size} bytes is truncated");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked_bodies() -> anyhow::Result<()> {
        let plain = parse(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad")?;
        assert_eq!((plain.status, plain.body.as_str()), (400, "bad"));
        let chunked =
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")?;
        assert_eq!((chunked.status, chunked.body.as_str()), (200, "{}"));
        assert!(chunked.json.is_some());
        Ok(())
    }
}
