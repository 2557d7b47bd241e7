//! The PROXY protocol (v1 text, v2 binary) on an instance's listeners (`proxy-protocol`): an L4
//! load balancer in front writes one header with the client's address before anything else on
//! the connection. Pingora has no downstream support, so gatehouse reads it off the accepted
//! socket itself: on TLS listeners in Pingora's pre-TLS callback ([`PreTlsProxyProtocol`], before
//! the ClientHello), on plain listeners at the start of the connection guard. Either way the
//! stream's socket digest is replaced so that its peer address (what `Session::client_addr()`
//! reports, and so what the client-address steps start from) is the header's source.
//!
//! Framing is ours (it decides how many bytes to read, and bounds them); validation and
//! decoding of the exact header bytes are the `ppp` crate's.
//!
//! Refused, and the connection closed, are: a peer outside `trusted-proxies`, a connection that
//! does not start with a header, a malformed or oversized header, and one not complete by the
//! `client-header-timeout` deadline. A v2 `LOCAL` header (the balancer's own health checks) and
//! an `UNKNOWN` / unspecified / unix source keep the TCP peer's address.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::BytesMut;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, SocketDigest};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use gatehouse_metrics::{ConnectionRefusal, Metrics};

use super::stream::GuardedStream;
use crate::limits::Limits;

/// The v2 signature: the first 12 bytes of every binary header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\x00\r\nQUIT\n";
/// The fixed part of a v2 header: signature, version/command, family/protocol, length.
const V2_FIXED: usize = 16;
/// The largest v2 header accepted. The protocol allows 16 + 65535 bytes, but addresses take at
/// most 216 and balancers add a few TLVs; more is refused rather than buffered.
pub const V2_MAX: usize = 4096;
/// The longest v1 header, CRLF included (the specification's bound).
pub const V1_MAX: usize = 107;
/// The v1 prefix, space included.
const V1_PREFIX: &[u8] = b"PROXY ";

/// Why a connection's PROXY header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The TCP peer is not in `trusted-proxies`.
    #[error("PROXY header from a peer outside trusted-proxies")]
    UntrustedPeer,
    /// The connection does not start with a PROXY header.
    #[error("connection does not start with a PROXY header")]
    Missing,
    /// The header is malformed, or longer than the bounds above.
    #[error("malformed PROXY header: {0}")]
    Malformed(String),
    /// The header was not complete by the head deadline.
    #[error("PROXY header not complete within client-header-timeout")]
    Timeout,
    /// The peer closed, or the socket failed, before the header was complete.
    #[error("connection closed before the PROXY header was complete")]
    Closed,
    /// The peer closed without sending anything (a port probe, such as gatehouse's own
    /// readiness check): closed, but not counted, as on listeners without PROXY.
    #[error("connection closed before sending anything")]
    Silent,
}

impl Refused {
    /// Whether the refusal is counted in `connections_refused_total{reason="proxy_protocol"}`.
    pub fn counted(&self) -> bool {
        *self != Refused::Silent
    }
}

/// What a complete header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The client's address and port, as the balancer saw them.
    Client(SocketAddr),
    /// Keep the TCP peer's address (v2 `LOCAL`, v1 `UNKNOWN`, unspecified or unix families).
    Peer,
}

/// Reads one PROXY header from `io` by `deadline`. Returns what it says and the bytes read past
/// it (the start of the client's data), which the caller must serve before the socket's.
pub async fn read_header<R: AsyncRead + Unpin>(
    io: &mut R,
    deadline: Instant,
) -> Result<(Source, BytesMut), Refused> {
    match tokio::time::timeout_at(deadline, read_header_now(io)).await {
        Ok(result) => result,
        Err(_) => Err(Refused::Timeout),
    }
}

async fn read_header_now<R: AsyncRead + Unpin>(io: &mut R) -> Result<(Source, BytesMut), Refused> {
    let mut buf = BytesMut::with_capacity(V1_MAX);
    loop {
        let want = match frame(&buf)? {
            Frame::Complete(len) => {
                let rest = buf.split_off(len);
                return Ok((decode(&buf)?, rest));
            }
            Frame::Need(n) => n,
        };
        // Read no more than the header can still need: only a v1 header (whose end is found by
        // looking) can be followed by bytes of the client's, and then at most `V1_MAX`.
        let limit = u64::try_from(want).unwrap_or(u64::MAX);
        match AsyncReadExt::take(&mut *io, limit).read_buf(&mut buf).await {
            Ok(0) if buf.is_empty() => return Err(Refused::Silent),
            Ok(0) | Err(_) => return Err(Refused::Closed),
            Ok(_) => {}
        }
    }
}

/// How far a header read so far has come.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// The header is the first `usize` bytes.
    Complete(usize),
    /// At most this many more bytes can still belong to the header.
    Need(usize),
}

/// Finds the end of the header at the start of `buf`, refusing as soon as the bytes cannot be
/// one.
fn frame(buf: &[u8]) -> Result<Frame, Refused> {
    let Some(&first) = buf.first() else {
        // The shortest header (`PROXY UNKNOWN\r\n`) is 15 bytes, a v2 one 16.
        return Ok(Frame::Need(V2_FIXED));
    };
    if first == V1_PREFIX[0] {
        let seen = buf.len().min(V1_PREFIX.len());
        if buf[..seen] != V1_PREFIX[..seen] {
            return Err(Refused::Missing);
        }
        if let Some(lf) = buf.iter().position(|&b| b == b'\n') {
            return Ok(Frame::Complete(lf + 1));
        }
        if buf.len() >= V1_MAX {
            return Err(Refused::Malformed(format!(
                "v1 header longer than {V1_MAX} bytes"
            )));
        }
        return Ok(Frame::Need(V1_MAX - buf.len()));
    }
    if first == V2_SIGNATURE[0] {
        let seen = buf.len().min(V2_SIGNATURE.len());
        if buf[..seen] != V2_SIGNATURE[..seen] {
            return Err(Refused::Missing);
        }
        if buf.len() < V2_FIXED {
            return Ok(Frame::Need(V2_FIXED - buf.len()));
        }
        let total = V2_FIXED + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        if total > V2_MAX {
            return Err(Refused::Malformed(format!(
                "v2 header of {total} bytes (at most {V2_MAX})"
            )));
        }
        if buf.len() >= total {
            return Ok(Frame::Complete(total));
        }
        return Ok(Frame::Need(total - buf.len()));
    }
    Err(Refused::Missing)
}

/// Decodes one complete header (exactly its bytes).
fn decode(header: &[u8]) -> Result<Source, Refused> {
    if header.first() == Some(&V1_PREFIX[0]) {
        let parsed = ppp::v1::Header::try_from(header)
            .map_err(|e| Refused::Malformed(format!("v1: {e}")))?;
        // ppp stops at the first CR; the header must be all of the line, CRLF included.
        if parsed.header.len() != header.len() {
            return Err(Refused::Malformed("v1: stray bytes before CRLF".into()));
        }
        return Ok(match parsed.addresses {
            ppp::v1::Addresses::Tcp4(a) => {
                Source::Client(SocketAddr::from((a.source_address, a.source_port)))
            }
            ppp::v1::Addresses::Tcp6(a) => {
                Source::Client(SocketAddr::from((a.source_address, a.source_port)))
            }
            ppp::v1::Addresses::Unknown => Source::Peer,
        });
    }
    let parsed =
        ppp::v2::Header::try_from(header).map_err(|e| Refused::Malformed(format!("v2: {e}")))?;
    if parsed.header.len() != header.len() {
        return Err(Refused::Malformed("v2: length mismatch".into()));
    }
    if parsed.command == ppp::v2::Command::Local {
        return Ok(Source::Peer);
    }
    // TLVs (the balancer's extras) are ignored.
    Ok(match parsed.addresses {
        ppp::v2::Addresses::IPv4(a) => {
            Source::Client(SocketAddr::from((a.source_address, a.source_port)))
        }
        ppp::v2::Addresses::IPv6(a) => {
            Source::Client(SocketAddr::from((a.source_address, a.source_port)))
        }
        ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_) => Source::Peer,
    })
}

/// The TCP peer of a stream, from its socket digest.
pub fn tcp_peer<S: GetSocketDigest + ?Sized>(stream: &S) -> Option<std::net::IpAddr> {
    let digest = stream.get_socket_digest()?;
    let addr = digest.peer_addr()?.as_inet()?.ip();
    Some(addr.to_canonical())
}

/// The refusal of a peer outside `trusted-proxies`, once it has sent its first byte (or closed
/// silently, or let the deadline pass): nothing it sends is read as a header.
async fn untrusted<R: AsyncRead + Unpin>(io: &mut R, deadline: Instant) -> Refused {
    let mut first = [0u8; 1];
    match tokio::time::timeout_at(deadline, io.read(&mut first)).await {
        Ok(Ok(0)) => Refused::Silent,
        Ok(_) => Refused::UntrustedPeer,
        Err(_) => Refused::Timeout,
    }
}

/// Whether `limits` let `peer` send a PROXY header.
pub fn trusted(limits: &Limits, peer: Option<std::net::IpAddr>) -> bool {
    match (limits.trusted_proxies.as_ref(), peer) {
        (Some(trusted), Some(peer)) => trusted.contains(peer),
        _ => false,
    }
}

/// A socket digest for the socket `fd` whose peer is `client`; the local address (and what
/// else Pingora reads from the socket) stays the socket's own.
pub fn digest_for(fd: std::os::unix::io::RawFd, client: SocketAddr) -> SocketDigest {
    let digest = SocketDigest::from_raw_fd(fd);
    // A fresh cell: `set` only fails when already set, which it is not.
    let _ = digest.peer_addr.set(Some(PingoraAddr::Inet(client)));
    digest
}

/// Reads the PROXY header of a connection on a TLS listener, before the handshake, and applies
/// it to `l4`: the bytes read past the header (the start of the ClientHello, after a v1 header)
/// are rewound into the stream, and the socket digest's peer becomes the header's source.
/// `Err`: close the connection.
pub async fn accept_l4(
    l4: &mut L4Stream,
    limits: &Limits,
    deadline: Instant,
) -> Result<(), Refused> {
    if !trusted(limits, tcp_peer(l4)) {
        return Err(untrusted(l4, deadline).await);
    }
    let (source, rest) = read_header(l4, deadline).await?;
    if !rest.is_empty() {
        l4.rewind(&rest);
    }
    if let Source::Client(client) = source {
        use std::os::unix::io::AsRawFd as _;
        let fd = l4.as_raw_fd();
        l4.set_socket_digest(digest_for(fd, client));
    }
    Ok(())
}

/// The plain-listener counterpart of [`accept_l4`], at the start of the connection guard: the
/// bytes read past the header become the guarded stream's peeked bytes. A TLS stream is left
/// alone: its header was read before the handshake.
pub(super) async fn accept_guarded(
    stream: &mut GuardedStream,
    limits: &Limits,
) -> Result<(), Refused> {
    let Some(fd) = stream.inner.as_any().downcast_ref::<L4Stream>().map(|l4| {
        use std::os::unix::io::AsRawFd as _;
        l4.as_raw_fd()
    }) else {
        return Ok(());
    };
    if !trusted(limits, tcp_peer(&*stream.inner)) {
        return Err(untrusted(&mut stream.inner, stream.deadline).await);
    }
    let (source, rest) = read_header(&mut stream.inner, stream.deadline).await?;
    stream.peeked = rest;
    if let Source::Client(client) = source {
        stream.inner.set_socket_digest(digest_for(fd, client));
    }
    Ok(())
}

/// Pingora's pre-TLS callback of an instance's TLS listeners when `proxy-protocol` is on: reads
/// the PROXY header before the TLS handshake (see [`accept_l4`]).
pub struct PreTlsProxyProtocol {
    limits: Arc<Limits>,
    class: Arc<str>,
    metrics: Option<Arc<Metrics>>,
}

impl PreTlsProxyProtocol {
    /// The callback for the instance of `class`, counting refusals in `metrics`.
    pub fn new(limits: Arc<Limits>, class: &str, metrics: Option<Arc<Metrics>>) -> Self {
        Self {
            limits,
            class: class.into(),
            metrics,
        }
    }
}

#[async_trait]
impl PreTlsProcess for PreTlsProxyProtocol {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        let deadline = Instant::now() + self.limits.client_header_timeout;
        match accept_l4(stream, &self.limits, deadline).await {
            Ok(()) => Ok(()),
            Err(refused) => {
                tracing::debug!(class = %self.class, %refused, "PROXY header refused; closing");
                if let (Some(m), true) = (&self.metrics, refused.counted()) {
                    m.connection_refused(&self.class, ConnectionRefusal::ProxyProtocol);
                }
                Err(pingora::Error::explain(
                    pingora::ErrorType::AcceptError,
                    refused.to_string(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v2(command: u8, family: u8, addresses: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        let len = u16::try_from(addresses.len() + tlvs.len()).unwrap();
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(addresses);
        h.extend_from_slice(tlvs);
        h
    }

    fn v4_addresses() -> Vec<u8> {
        let mut a = vec![203, 0, 113, 7, 10, 0, 0, 1];
        a.extend_from_slice(&40000u16.to_be_bytes());
        a.extend_from_slice(&443u16.to_be_bytes());
        a
    }

    /// The header's meaning, and the client's data after it: what was read past the header,
    /// then what was left unread.
    async fn read(input: &[u8]) -> Result<(Source, Vec<u8>), Refused> {
        let mut io = input;
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let (source, rest) = read_header(&mut io, deadline).await?;
        Ok((source, [&rest[..], io].concat()))
    }

    #[tokio::test]
    async fn v1_tcp4_and_tcp6_give_the_source_and_keep_what_follows() {
        let (s, rest) = read(b"PROXY TCP4 198.51.100.9 10.0.0.1 51000 80\r\nGET / HTTP/1.1\r\n")
            .await
            .unwrap();
        assert_eq!(
            s,
            Source::Client(SocketAddr::from((Ipv4Addr::new(198, 51, 100, 9), 51000)))
        );
        assert_eq!(
            rest, b"GET / HTTP/1.1\r\n",
            "nothing after the header is lost"
        );
        let (s, _) = read(b"PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n")
            .await
            .unwrap();
        let ip: Ipv6Addr = "2001:db8::7".parse().unwrap();
        assert_eq!(s, Source::Client(SocketAddr::from((ip, 51000))));
    }

    #[tokio::test]
    async fn v1_unknown_keeps_the_peer() {
        assert_eq!(read(b"PROXY UNKNOWN\r\n").await.unwrap().0, Source::Peer);
        assert_eq!(
            read(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n")
                .await
                .unwrap()
                .0,
            Source::Peer
        );
    }

    #[tokio::test]
    async fn v2_proxy_local_tlvs_and_rest() {
        let mut input = v2(1, 0x11, &v4_addresses(), &[0x04, 0, 2, 1, 2]);
        input.extend_from_slice(b"\x16\x03\x01");
        let (s, rest) = read(&input).await.unwrap();
        assert_eq!(
            s,
            Source::Client(SocketAddr::from((Ipv4Addr::new(203, 0, 113, 7), 40000)))
        );
        assert_eq!(rest, b"\x16\x03\x01", "nothing after the header is lost");

        let mut six = vec![0x20, 0x01, 0x0d, 0xb8];
        six.extend_from_slice(&[0; 11]);
        six.push(9);
        six.extend_from_slice(&[0xfe, 0x80]);
        six.extend_from_slice(&[0; 14]);
        six.extend_from_slice(&1234u16.to_be_bytes());
        six.extend_from_slice(&443u16.to_be_bytes());
        let (s, _) = read(&v2(1, 0x21, &six, &[])).await.unwrap();
        let ip: Ipv6Addr = "2001:db8::9".parse().unwrap();
        assert_eq!(s, Source::Client(SocketAddr::from((ip, 1234))));

        assert_eq!(read(&v2(0, 0x00, &[], &[])).await.unwrap().0, Source::Peer);
        assert_eq!(
            read(&v2(0, 0x11, &v4_addresses(), &[])).await.unwrap().0,
            Source::Peer,
            "LOCAL keeps the peer even with addresses"
        );
        assert_eq!(read(&v2(1, 0x00, &[], &[])).await.unwrap().0, Source::Peer);
    }

    #[tokio::test]
    async fn refusals() {
        let missing = [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"PROXI TCP4",
            b"\x16\x03\x01\x00",
            b"\r\n\r\n\x00\r\nQUIX\n",
        ];
        for input in missing {
            assert_eq!(read(input).await, Err(Refused::Missing), "{input:?}");
        }
        let malformed = [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"[..],
            b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
            b"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n",
        ];
        for input in malformed {
            assert!(
                matches!(read(input).await, Err(Refused::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 200]].concat();
        assert!(matches!(read(&long).await, Err(Refused::Malformed(_))));
        // v2: version 1, command 2, family 4, too short for its family, oversized.
        let mut bad_version = v2(1, 0x11, &v4_addresses(), &[]);
        bad_version[12] = 0x11;
        let mut bad_command = v2(1, 0x11, &v4_addresses(), &[]);
        bad_command[12] = 0x22;
        let short = v2(1, 0x11, &[1, 2, 3, 4], &[]);
        let bad_family = v2(1, 0x41, &v4_addresses(), &[]);
        for input in [bad_version, bad_command, short, bad_family] {
            assert!(
                matches!(read(&input).await, Err(Refused::Malformed(_))),
                "{input:?}"
            );
        }
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0x10, 0x00]);
        assert!(matches!(read(&huge).await, Err(Refused::Malformed(_))));
        // Truncated: the peer stops sending.
        assert_eq!(read(b"PROXY TCP4 1.2.3.4").await, Err(Refused::Closed));
        assert_eq!(read(&V2_SIGNATURE[..]).await, Err(Refused::Closed));
        assert_eq!(read(b"").await, Err(Refused::Silent));
    }

    /// A reader that hands out one byte per read, as a slow or fragmenting peer would.
    struct OneByte<'a>(&'a [u8]);

    impl AsyncRead for OneByte<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if let Some((&b, rest)) = self.0.split_first() {
                buf.put_slice(&[b]);
                self.0 = rest;
            }
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn headers_arriving_byte_by_byte() {
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let v1 = b"PROXY TCP4 198.51.100.9 10.0.0.1 51000 80\r\nGET";
        let mut io = OneByte(v1);
        let (source, rest) = read_header(&mut io, deadline).await.unwrap();
        assert_eq!(
            source,
            Source::Client(SocketAddr::from((Ipv4Addr::new(198, 51, 100, 9), 51000)))
        );
        assert_eq!([&rest[..], io.0].concat(), b"GET");
        let mut input = v2(1, 0x11, &v4_addresses(), &[0x04, 0, 1, 9]);
        input.extend_from_slice(b"GET");
        let mut io = OneByte(&input);
        let (source, rest) = read_header(&mut io, deadline).await.unwrap();
        assert!(matches!(source, Source::Client(_)));
        assert_eq!([&rest[..], io.0].concat(), b"GET");
    }

    #[tokio::test]
    async fn a_header_that_stalls_times_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt as _;
        client.write_all(b"PROXY TCP4 ").await.unwrap();
        let deadline = Instant::now() + std::time::Duration::from_millis(50);
        assert_eq!(
            read_header(&mut server, deadline).await.map(|(s, _)| s),
            Err(Refused::Timeout)
        );
    }

    #[tokio::test]
    async fn an_untrusted_peer_is_refused_once_it_speaks() {
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        assert_eq!(untrusted(&mut &b""[..], deadline).await, Refused::Silent);
        assert!(!Refused::Silent.counted());
        let refused = untrusted(&mut &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"[..], deadline).await;
        assert_eq!(refused, Refused::UntrustedPeer);
        assert!(refused.counted());
    }

    #[test]
    fn the_digest_reports_the_client() {
        let client: SocketAddr = "[2001:db8::5]:4000".parse().unwrap();
        let digest = digest_for(-1, client);
        assert_eq!(
            digest.peer_addr().and_then(|a| a.as_inet()).copied(),
            Some(client)
        );
    }
}
