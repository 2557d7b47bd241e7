//! Typed parsers for annotation (and flag) values. Each returns a message that says what was
//! expected, so a warning can tell the user how to fix the value.

use std::net::IpAddr;
use std::time::Duration;

use std::sync::Arc;

use gatehouse_routes::{BackendProtocol, IpNet, Satisfy, SourceRanges};

use crate::translate::basic_auth::AuthSecretType;

/// A boolean as ingress-nginx (Go's `strconv.ParseBool`) accepts it.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(format!(
            "{other:?} is not a boolean (expected true or false)"
        )),
    }
}

/// `auth-type`: `basic` or `digest` (as ingress-nginx accepts them); only `basic` is given.
pub fn parse_auth_type(value: &str) -> Result<&'static str, String> {
    match value.trim() {
        "basic" => Ok("basic"),
        "digest" => Ok("digest"),
        other => Err(format!(
            "{other:?} is not an authentication type (expected basic)"
        )),
    }
}

/// `auth-secret-type`: `auth-file` (htpasswd lines under key `auth`) or `auth-map`.
pub fn parse_auth_secret_type(value: &str) -> Result<AuthSecretType, String> {
    match value.trim() {
        "auth-file" => Ok(AuthSecretType::File),
        "auth-map" => Ok(AuthSecretType::Map),
        other => Err(format!(
            "{other:?} is not a secret type (expected auth-file or auth-map)"
        )),
    }
}

/// `auth-realm`: any text without control characters (it is sent in a response header).
pub fn parse_realm(value: &str) -> Result<String, String> {
    if value.chars().any(char::is_control) {
        return Err("a realm may not hold control characters".to_string());
    }
    if value.len() > 1024 {
        return Err("a realm may be at most 1024 bytes".to_string());
    }
    Ok(value.to_string())
}

/// `auth-secret`: `NAME` (in the Ingress's namespace) or `NAMESPACE/NAME`.
pub fn parse_secret_ref(value: &str) -> Result<(Option<String>, String), String> {
    let text = value.trim();
    let (ns, name) = match text.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, text),
    };
    let valid = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    if !valid(name, 253) || ns.is_some_and(|ns| !valid(ns, 63) || ns.contains('.')) {
        return Err(format!(
            "{text:?} is not a Secret reference (expected NAME or NAMESPACE/NAME)"
        ));
    }
    Ok((ns.map(str::to_string), name.to_string()))
}

/// `satisfy`: `all` or `any`.
pub fn parse_satisfy(value: &str) -> Result<Satisfy, String> {
    match value.trim() {
        "all" => Ok(Satisfy::All),
        "any" => Ok(Satisfy::Any),
        other => Err(format!("{other:?} is not all or any")),
    }
}

/// A duration: a plain number is seconds (as ingress-nginx's timeout annotations are), or a
/// number with one unit: `ms`, `s`, `m`, `h` (`500ms`, `75s`, `1h`). It must be above zero
/// and at most `max`.
pub fn parse_duration(value: &str, max: Duration) -> Result<Duration, String> {
    let text = value.trim();
    let expected = || {
        format!("{text:?} is not a duration (seconds like \"5\", or a number with a unit: 500ms, 5s, 1m, 1h)")
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(expected());
    }
    let n: u64 = digits.parse().map_err(|_| expected())?;
    let per_unit_ms: u64 = match unit {
        "" | "s" => 1_000,
        "ms" => 1,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(expected()),
    };
    let ms = n.checked_mul(per_unit_ms).ok_or_else(expected)?;
    let duration = Duration::from_millis(ms);
    if duration.is_zero() {
        return Err(format!("{text:?}: the duration must be above zero"));
    }
    if duration > max {
        return Err(format!(
            "{text:?} is longer than the maximum of {}s",
            max.as_secs()
        ));
    }
    Ok(duration)
}

/// A size as nginx writes it: bytes, or a number with `k`, `m` or `g` (either case): `8k`,
/// `1m`. Zero is allowed (for the limits where it means "none").
pub fn parse_size(value: &str) -> Result<u64, String> {
    let text = value.trim();
    let expected =
        || format!("{text:?} is not a size (bytes like \"1048576\", or with a unit: 8k, 1m, 1g)");
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], Some(c.to_ascii_lowercase())),
        _ => (text, None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected());
    }
    let n: u64 = digits.parse().map_err(|_| expected())?;
    let scale: u64 = match unit {
        None => 1,
        Some('k') => 1 << 10,
        Some('m') => 1 << 20,
        Some('g') => 1 << 30,
        Some(_) => return Err(expected()),
    };
    n.checked_mul(scale).ok_or_else(expected)
}

/// A size in the largest unit that writes it exactly (`1m`, `8k`, `1500`); parses back with
/// [`parse_size`].
pub fn format_size(bytes: u64) -> String {
    for (unit, scale) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes != 0 && bytes.is_multiple_of(scale) {
            return format!("{}{unit}", bytes / scale);
        }
    }
    bytes.to_string()
}

/// A duration in hours when whole hours, else seconds when whole seconds, else milliseconds
/// (`1h`, `75s`, `60s`, `500ms`; zero is `0`); parses back with [`parse_duration`].
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0".into()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// The conditions of `proxy-next-upstream` gatehouse acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextUpstream {
    /// `error`: connecting, sending or reading the response head failed.
    pub error: bool,
    /// `timeout`: the upstream timed out.
    pub timeout: bool,
    /// `non_idempotent`: POST, PATCH and the like may be retried too.
    pub non_idempotent: bool,
}

/// `proxy-next-upstream` as nginx writes it: space-separated conditions, or `off`. The
/// conditions on the response (`invalid_header`, `http_500`, …) are accepted but never retry:
/// gatehouse streams the response, so once an answer has begun there is nothing to retry.
pub fn parse_next_upstream(value: &str) -> Result<NextUpstream, String> {
    let mut on = NextUpstream {
        error: false,
        timeout: false,
        non_idempotent: false,
    };
    let mut any = false;
    for token in value.split_whitespace() {
        any = true;
        match token {
            "off" => {}
            "error" => on.error = true,
            "timeout" => on.timeout = true,
            "non_idempotent" => on.non_idempotent = true,
            "invalid_header" | "http_500" | "http_502" | "http_503" | "http_504" | "http_403"
            | "http_404" | "http_429" => {}
            other => {
                return Err(format!(
                    "{other:?} is not a proxy-next-upstream condition (error, timeout, non_idempotent, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, off)"
                ))
            }
        }
    }
    if !any {
        return Err("empty: expected conditions like \"error timeout\", or off".into());
    }
    if value.split_whitespace().any(|t| t == "off") && value.split_whitespace().count() > 1 {
        return Err(format!("{value:?}: off cannot be combined with conditions"));
    }
    Ok(on)
}

/// A source-range list as ingress-nginx accepts it: comma-separated CIDRs, IPv4 or IPv6, with
/// spaces around entries allowed; a bare address means that one address (/32 or /128). Host
/// bits are allowed and cleared (`10.1.2.3/8` is `10.0.0.0/8`), as Go's `ParseCIDR` does. An
/// empty entry, or any entry that is not an address or range, makes the whole value invalid:
/// for an allow- or deny-list a partly understood value must not be applied in part.
pub fn parse_source_ranges(value: &str) -> Result<SourceRanges, String> {
    let mut nets = Vec::new();
    for entry in value.split(',').map(str::trim) {
        let net = if entry.contains('/') {
            entry.parse::<IpNet>().ok()
        } else {
            entry.parse::<IpAddr>().ok().map(IpNet::from)
        };
        match net {
            Some(net) => nets.push(net),
            None if entry.is_empty() => {
                return Err(format!(
                    "{value:?} has an empty entry (expected comma-separated addresses or CIDRs like 10.0.0.0/8,2001:db8::/32)"
                ))
            }
            None => {
                return Err(format!(
                    "{entry:?} is not an IP address or CIDR range (expected e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)"
                ))
            }
        }
    }
    SourceRanges::new(nets).ok_or_else(|| format!("{value:?} names no address range"))
}

/// `backend-protocol`: the names ingress-nginx accepts, in any case, plus gatehouse's `H2C`.
/// `AJP` and `FCGI` are valid for ingress-nginx but not spoken by gatehouse.
pub fn parse_backend_protocol(value: &str) -> Result<BackendProtocol, String> {
    let text = value.trim();
    match text.to_ascii_uppercase().as_str() {
        "HTTP" => Ok(BackendProtocol::Http),
        "HTTPS" => Ok(BackendProtocol::Https),
        "AUTO_HTTP" => Ok(BackendProtocol::AutoHttp),
        "GRPC" => Ok(BackendProtocol::Grpc),
        "GRPCS" => Ok(BackendProtocol::Grpcs),
        "H2C" => Ok(BackendProtocol::H2c),
        "AJP" | "FCGI" => Err(format!(
            "{text:?} backends are not supported (gatehouse speaks HTTP, HTTPS, AUTO_HTTP, GRPC, GRPCS and H2C)"
        )),
        _ => Err(format!(
            "{text:?} is not a backend protocol (expected HTTP, HTTPS, AUTO_HTTP, GRPC, GRPCS or H2C)"
        )),
    }
}

/// nginx's `on` / `off` (`proxy-ssl-verify`, `proxy-ssl-server-name`), exactly as
/// ingress-nginx accepts them (lower case).
pub fn parse_on_off(value: &str) -> Result<bool, String> {
    match value.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?} is not on or off")),
    }
}

/// A server name to verify and send as SNI (`proxy-ssl-name`): a DNS name (letters, digits,
/// `-`, `_`, dots between non-empty labels, at most 253 characters) or an IP address; stored
/// in lower case without a trailing dot.
pub fn parse_server_name(value: &str) -> Result<Arc<str>, String> {
    let text = value.trim();
    if text.parse::<IpAddr>().is_ok() {
        return Ok(Arc::from(text));
    }
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(format!("{text:?} is not a DNS name or an IP address"));
    }
    Ok(Arc::from(name))
}

/// A Host header value (`upstream-vhost`): a DNS name or IP address with an optional port
/// (`api.internal`, `api.internal:8080`, `[::1]:8080`).
pub fn parse_vhost(value: &str) -> Result<Arc<str>, String> {
    let text = value.trim();
    let expected = || format!("{text:?} is not a host name with an optional port");
    let (name, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (ip, tail) = rest.split_once(']').ok_or_else(expected)?;
            if ip.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(expected());
            }
            let port = if tail.is_empty() {
                None
            } else {
                Some(tail.strip_prefix(':').ok_or_else(expected)?)
            };
            (None, port)
        }
        None => match text.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(text), None),
        },
    };
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(expected());
        }
    }
    if let Some(name) = name {
        parse_server_name(name).map_err(|_| expected())?;
    }
    Ok(Arc::from(text))
}

/// A Secret reference that must name its namespace (`NAMESPACE/NAME`), as ingress-nginx's
/// `proxy-ssl-secret` expects.
pub fn parse_namespaced_secret_ref(value: &str) -> Result<(String, String), String> {
    match parse_secret_ref(value)? {
        (Some(ns), name) => Ok((ns, name)),
        (None, _) => Err(format!(
            "{:?} does not name its namespace (expected NAMESPACE/NAME)",
            value.trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_protocols() {
        use BackendProtocol::*;
        let cases: &[(&str, Option<BackendProtocol>)] = &[
            ("HTTP", Some(Http)),
            ("https", Some(Https)),
            (" GRPC ", Some(Grpc)),
            ("grpcs", Some(Grpcs)),
            ("h2c", Some(H2c)),
            ("Auto_Http", Some(AutoHttp)),
            ("AJP", None),
            ("FCGI", None),
            ("HTTP2", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_backend_protocol(value).ok(), *want, "{value:?}");
        }
    }

    #[test]
    fn on_off() {
        assert_eq!(parse_on_off("on"), Ok(true));
        assert_eq!(parse_on_off(" off "), Ok(false));
        for bad in ["On", "true", "1", ""] {
            assert!(parse_on_off(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn server_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("api.internal", Some("api.internal")),
            ("API.Internal.", Some("api.internal")),
            ("svc_a.ns.svc", Some("svc_a.ns.svc")),
            ("10.0.0.1", Some("10.0.0.1")),
            ("::1", Some("::1")),
            ("", None),
            ("a..b", None),
            ("a b", None),
            ("*.example.com", None),
            ("host:443", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_server_name(value).ok().as_deref(), *want, "{value:?}");
        }
    }

    #[test]
    fn vhosts() {
        let cases: &[(&str, bool)] = &[
            ("api.internal", true),
            ("api.internal:8080", true),
            ("[::1]:8080", true),
            ("[::1]", true),
            ("10.0.0.1:80", true),
            ("api.internal:", false),
            ("api.internal:0", false),
            ("api.internal:99999", false),
            ("[nope]:80", false),
            ("a/b", false),
            ("user@host", false),
            ("", false),
        ];
        for (value, ok) in cases {
            assert_eq!(parse_vhost(value).is_ok(), *ok, "{value:?}");
        }
    }

    #[test]
    fn booleans() {
        let cases: &[(&str, Option<bool>)] = &[
            ("true", Some(true)),
            ("True", Some(true)),
            (" TRUE ", Some(true)),
            ("1", Some(true)),
            ("t", Some(true)),
            ("false", Some(false)),
            ("False", Some(false)),
            ("0", Some(false)),
            ("f", Some(false)),
            ("yes", None),
            ("", None),
            ("tRuE", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_bool(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn next_upstream_conditions() {
        let on = |error, timeout, non_idempotent| NextUpstream {
            error,
            timeout,
            non_idempotent,
        };
        let cases: &[(&str, Option<NextUpstream>)] = &[
            ("error timeout", Some(on(true, true, false))),
            ("error timeout http_502", Some(on(true, true, false))),
            ("timeout", Some(on(false, true, false))),
            ("error non_idempotent", Some(on(true, false, true))),
            ("off", Some(on(false, false, false))),
            ("off error", None),
            ("", None),
            ("error bogus", None),
            ("error,timeout", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_next_upstream(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn sizes() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("1500", Some(1500)),
            ("8k", Some(8192)),
            ("8K", Some(8192)),
            ("1m", Some(1 << 20)),
            (" 1M ", Some(1 << 20)),
            ("2g", Some(2 << 30)),
            ("1.5m", None),
            ("m", None),
            ("", None),
            ("-1", None),
            ("1t", None),
            ("1 m", None),
            ("99999999999999999999g", None),
            ("18446744073709551615k", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_size(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn formats_parse_back() {
        for bytes in [1u64, 1500, 8192, 1 << 20, 3 << 30, (1 << 20) + 1] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes), "{bytes}");
        }
        assert_eq!(format_size(0), "0");
        assert_eq!(format_size(1 << 20), "1m");
        let max = Duration::from_secs(3600);
        for ms in [1u64, 500, 1000, 75_000, 90_000, 120_000, 3_600_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d), max), Ok(d), "{ms}");
        }
        assert_eq!(format_duration(Duration::from_secs(75)), "75s");
        assert_eq!(format_duration(Duration::from_secs(60)), "60s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(format_duration(Duration::ZERO), "0");
    }

    #[test]
    fn durations() {
        let max = Duration::from_secs(3600);
        let ms = Duration::from_millis;
        let cases: &[(&str, Option<Duration>)] = &[
            ("5", Some(ms(5_000))),
            (" 5 ", Some(ms(5_000))),
            ("5s", Some(ms(5_000))),
            ("500ms", Some(ms(500))),
            ("2m", Some(ms(120_000))),
            ("1h", Some(ms(3_600_000))),
            ("3601", None), // above the maximum
            ("2h", None),
            ("0", None),
            ("0s", None),
            ("-1", None),
            ("1.5", None),
            ("5 s", None),
            ("s", None),
            ("", None),
            ("5d", None),
            ("99999999999999999999", None),  // overflows u64
            ("18446744073709551615h", None), // overflows in the multiplication
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input, max).ok(), *want, "{input:?}");
        }
        let err = parse_duration("abc", max).expect_err("not a duration");
        assert!(
            err.contains("500ms"),
            "the message shows the accepted forms: {err}"
        );
    }
}
