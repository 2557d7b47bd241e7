//! The one host-name normaliser, shared by route lookup and certificate selection: the port
//! (also from `[v6]:port`) and one trailing dot are dropped and the name is lowercased, without
//! allocating on the request path. Build time uses the same function through
//! [`normalized_host`], so what is stored and what is looked up can never disagree.

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

/// Strips the port (also from `[v6]:port`) and one trailing dot, and lowercases the rest.
/// Names too long to be DNS names are returned unchanged (they can match nothing anyway).
pub fn normalize_host<'a>(host: &'a str, buf: &'a mut HostBuf) -> &'a str {
    let name = strip_port_and_dot(host);
    // Stripping happens once: a name that a second pass would shorten again (`foo.com..`,
    // `foo.com:80.`) is malformed and is kept whole, so normalising twice changes nothing
    // and a stored name is found by its own spelling.
    let host = if strip_port_and_dot(name) == name {
        name
    } else {
        host
    };
    if !host.bytes().any(|b| b.is_ascii_uppercase()) {
        return host;
    }
    let bytes = host.as_bytes();
    let Some(out) = buf.0.get_mut(..bytes.len()) else {
        return host;
    };
    out.copy_from_slice(bytes);
    out.make_ascii_lowercase();
    // Lowercasing ASCII bytes keeps UTF-8 valid; fall back to the input if it somehow is not.
    match std::str::from_utf8(out) {
        Ok(lower) => lower,
        Err(_) => host,
    }
}

/// [`normalize_host`] into an owned string, for names stored at build time.
pub fn normalized_host(host: &str) -> String {
    let mut buf = HostBuf::new();
    let name = normalize_host(host, &mut buf);
    if name.len() > 253 {
        // Too long for the stack buffer: normalise the slow way, same rules.
        return name.to_ascii_lowercase();
    }
    name.to_string()
}

/// The key a one-label wildcard is stored under for a normalised name: `bar.foo.com` →
/// `foo.com`, which `*.foo.com` covers. `None` when the first label is empty (`.foo.com`) or
/// there is no dot, so such names match no wildcard.
pub fn wildcard_parent(host: &str) -> Option<&str> {
    match host.split_once('.') {
        Some((first, parent)) if !first.is_empty() && !parent.is_empty() => Some(parent),
        _ => None,
    }
}

fn strip_port_and_dot(host: &str) -> &str {
    let host = host_without_port(host);
    host.strip_suffix('.').unwrap_or(host)
}

/// The Host value without a port (`host:8080` → `host`, `[::1]:80` → `::1`).
pub fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // IPv6 literal: keep the brackets' content.
        return rest.split_once(']').map_or(host, |(addr, _)| addr);
    }
    match host.rsplit_once(':') {
        // More than one colon without brackets is a bare IPv6 address, which has no port.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_port_and_one_trailing_dot() {
        let cases = [
            ("foo.com", "foo.com"),
            ("FOO.Com", "foo.com"),
            ("foo.com:8080", "foo.com"),
            ("foo.com.", "foo.com"),
            ("Foo.Com.:443", "foo.com"),
            ("foo.com..", "foo.com.."), // malformed: kept whole (one dot is the root label)
            ("foo.com:80.", "foo.com:80."),
            ("::1", "::1"), // a bare IPv6 address has no port
            ("[::1]:8443", "::1"),
            ("[::1]", "::1"),
            ("foo.com:", "foo.com"), // an empty port is still a port separator
            ("foo.com:http", "foo.com:http"),
            ("", ""),
            (".foo.com", ".foo.com"),
        ];
        for (input, want) in cases {
            let mut buf = HostBuf::new();
            assert_eq!(normalize_host(input, &mut buf), want, "{input:?}");
            assert_eq!(normalized_host(input), want, "owned {input:?}");
        }
    }

    #[test]
    fn long_names_keep_the_same_rules() {
        let long = format!("{}.COM", "A".repeat(300));
        assert_eq!(normalized_host(&long), long.to_ascii_lowercase());
    }

    #[test]
    fn wildcard_parents() {
        let cases = [
            ("bar.foo.com", Some("foo.com")),
            ("foo.com", Some("com")),
            (".foo.com", None),
            ("foo.", None),
            ("localhost", None),
            ("", None),
        ];
        for (host, want) in cases {
            assert_eq!(wildcard_parent(host), want, "{host:?}");
        }
    }
}
