//! X-Request-ID: kept when the client sent a sane one, otherwise generated (128 random bits as
//! 32 hex digits, built on the stack from a thread-local generator).

use pingora::http::RequestHeader;

/// The request id header, lowercase as HTTP/2 needs it.
pub const HEADER: &str = "x-request-id";
/// Longest client-supplied id that is kept; longer ones are replaced (they end up in logs).
const MAX_LEN: usize = 128;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// One request's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestId {
    /// Generated here: 32 lowercase hex digits.
    Generated([u8; 32]),
    /// Sent by the client and propagated unchanged.
    Propagated(Box<str>),
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::Generated([b'0'; 32])
    }
}

impl RequestId {
    /// The client's X-Request-ID when it is 1–128 visible ASCII characters, else a new one.
    pub fn for_request(req: &RequestHeader) -> Self {
        let client = req
            .headers
            .get(HEADER)
            .map(|v| v.as_bytes())
            .filter(|b| {
                !b.is_empty() && b.len() <= MAX_LEN && b.iter().all(|c| c.is_ascii_graphic())
            })
            .and_then(|b| std::str::from_utf8(b).ok());
        match client {
            Some(id) => RequestId::Propagated(id.into()),
            None => RequestId::generate(),
        }
    }

    /// A fresh random id.
    pub fn generate() -> Self {
        let mut n = fastrand::u128(..);
        let mut out = [0u8; 32];
        for byte in out.iter_mut().rev() {
            *byte = HEX[(n & 0xf) as usize];
            n >>= 4;
        }
        RequestId::Generated(out)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match self {
            // Hex digits are ASCII, so this never falls back.
            RequestId::Generated(bytes) => std::str::from_utf8(bytes).unwrap_or(""),
            RequestId::Propagated(id) => id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: Option<&str>) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).expect("request");
        if let Some(id) = id {
            r.insert_header(HEADER, id).expect("header");
        }
        r
    }

    #[test]
    fn generated_ids_are_32_hex_digits_and_differ() {
        let a = RequestId::for_request(&req(None));
        let b = RequestId::generate();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_sane_client_id_is_propagated_and_junk_is_replaced() {
        assert_eq!(
            RequestId::for_request(&req(Some("abc-123"))).as_str(),
            "abc-123"
        );
        for junk in ["has space", &"x".repeat(MAX_LEN + 1)] {
            let id = RequestId::for_request(&req(Some(junk)));
            assert!(matches!(id, RequestId::Generated(_)), "{junk}");
        }
    }
}
