//! Host normalisation: the Host header's port and trailing dot are dropped and the name is
//! lowercased, without allocating on the request path.

/// A stack buffer that holds a lowercased host name (DNS names are at most 253 bytes).
pub struct HostBuf([u8; 256]);

impl HostBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self([0; 256])
    }
}

impl Default for HostBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// Strips the port (also from `[v6]:port`) and a trailing dot, and lowercases the rest.
/// Names too long to be DNS names are returned unchanged (they can match nothing anyway).
pub fn normalize_host<'a>(host: &'a str, buf: &'a mut HostBuf) -> &'a str {
    let host = strip_port(host).trim_end_matches('.');
    if !host.bytes().any(|b| b.is_ascii_uppercase()) {
        return host;
    }
    let bytes = host.as_bytes();
    if bytes.len() > buf.0.len() {
        return host;
    }
    let out = &mut buf.0[..bytes.len()];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = b.to_ascii_lowercase();
    }
    // Lowercasing ASCII bytes keeps UTF-8 valid; fall back to the input if it somehow is not.
    std::str::from_utf8(&buf.0[..bytes.len()]).unwrap_or(host)
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // IPv6 literal: keep the brackets' content.
        return rest.split_once(']').map_or(host, |(addr, _)| addr);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}
