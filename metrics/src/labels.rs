//! Bounded label values computed without allocating on the request path.

/// Label value used for namespace/ingress/service when no route matched.
pub(crate) const UNMATCHED: &str = "-";

/// Maps a request method to itself when standard, else "OTHER" (keeps cardinality bounded).
pub(crate) fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => "OTHER",
    }
}

/// Three-digit status code text in a caller-provided buffer; codes outside 100..=999 become "000".
pub(crate) fn status_label(status: u16, buf: &mut [u8; 3]) -> &str {
    let code = if (100..=999).contains(&status) {
        status
    } else {
        0
    };
    // Each byte is an ASCII digit, so the conversion cannot fail; the fallback keeps it total.
    buf[0] = b'0' + (code / 100) as u8;
    buf[1] = b'0' + (code / 10 % 10) as u8;
    buf[2] = b'0' + (code % 10) as u8;
    std::str::from_utf8(buf).unwrap_or("000")
}

/// `value`, or [`UNMATCHED`] when empty.
pub(crate) fn or_unmatched(value: &str) -> &str {
    if value.is_empty() {
        UNMATCHED
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_bounded() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("get"), "OTHER");
        assert_eq!(method_label("PROPFIND"), "OTHER");
    }

    #[test]
    fn status_codes_render_as_three_digits() {
        let mut buf = [0u8; 3];
        assert_eq!(status_label(404, &mut buf), "404");
        assert_eq!(status_label(200, &mut buf), "200");
        assert_eq!(status_label(99, &mut buf), "000");
        assert_eq!(status_label(1000, &mut buf), "000");
    }
}
