//! The deadlines and limits as settings: one table holds each one's name (the flag, and the key
//! in `--instance`, after ingress-nginx's ConfigMap key where there is one), its default, its
//! ingress-nginx equivalent and how to read and show it. The flags, the per-instance keys,
//! `--check-config` and the README's table all come from here.

use std::time::Duration;

use gatehouse_controller::translate::annotations::values::{
    format_duration, format_size, parse_bool, parse_duration, parse_size, parse_source_ranges,
};
use gatehouse_proxy::routes::SourceRanges;
use gatehouse_proxy::Limits;

/// Which README table a setting is listed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// "Limits and timeouts".
    Limits,
    /// "Client addresses" (trusted proxies, PROXY protocol).
    ClientAddress,
}

/// One setting.
pub struct Setting {
    /// Flag name (without `--`) and `--instance` key.
    pub key: &'static str,
    /// Its README table.
    #[cfg_attr(not(test), allow(dead_code))]
    pub section: Section,
    /// The default, as it would be written on the command line.
    pub default: &'static str,
    /// What ingress-nginx calls it, and its default there (for the README's table).
    #[cfg_attr(not(test), allow(dead_code))]
    pub nginx: &'static str,
    /// One line of help.
    pub help: &'static str,
    apply: fn(&mut Limits, &str) -> Result<(), String>,
    show: fn(&Limits) -> String,
}

/// `http2-idle-timeout=keep-alive` (the default): idle HTTP/2 connections are kept as long as
/// idle HTTP/1 ones, as nginx does since 1.19.7. cloudflared's HTTP/2 origin connections
/// (`http2Origin`) are kept for `keep-alive=1h` that way, not cut at 75 s.
const FOLLOW_KEEP_ALIVE: &str = "keep-alive";

/// The HTTP/2 idle timeout that follows `keep_alive`: the same, except that no keep-alive (0)
/// keeps nginx's 75 s (an HTTP/2 idle timeout of zero would close a connection before its first
/// stream).
fn http2_idle_following(keep_alive: Duration) -> Duration {
    if keep_alive.is_zero() {
        Duration::from_secs(75)
    } else {
        keep_alive
    }
}

/// Longest accepted duration: a day.
const MAX_DURATION: Duration = Duration::from_secs(86_400);

fn duration(value: &str) -> Result<Duration, String> {
    parse_duration(value, MAX_DURATION)
}

/// A duration where `0` turns the feature off.
fn duration_or_off(value: &str) -> Result<Duration, String> {
    if value.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    duration(value)
}

/// Stores a parsed value (keeps each table entry one line).
fn set<T>(field: &mut T, value: Result<T, String>) -> Result<(), String> {
    *field = value?;
    Ok(())
}

fn count<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a whole number"))
}

/// A count that must not be 0. Pingora's pool cannot be turned off with 0: it would still hand
/// out the connection it has just evicted.
fn at_least_one(value: &str) -> Result<usize, String> {
    match count(value)? {
        0 => Err(format!("{value:?} must be at least 1")),
        n => Ok(n),
    }
}

/// nginx's `large-client-header-buffers`: `NUMBER SIZE` (`4 8k`).
fn header_buffers(limits: &mut Limits, value: &str) -> Result<(), String> {
    let expected = || format!("{value:?} is not NUMBER SIZE like \"4 8k\"");
    let mut parts = value.split_whitespace();
    let (Some(n), Some(size), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(expected());
    };
    let n: usize = n.parse().map_err(|_| expected())?;
    let size = usize::try_from(parse_size(size)?).map_err(|_| expected())?;
    if n == 0 || size < 1024 {
        return Err(format!("{value:?}: at least one buffer of at least 1k"));
    }
    limits.header_line_max = size;
    limits.header_total_max = n.checked_mul(size).ok_or_else(expected)?;
    Ok(())
}

/// Every setting, in the order of the README table.
pub const SETTINGS: &[Setting] = &[
    Setting {
        section: Section::Limits,
        key: "keep-alive",
        default: "75s",
        nginx: "`keep-alive` (75)",
        help: "how long an idle client connection is kept open between requests (0: no keep-alive)",
        apply: |l, v| set(&mut l.keep_alive, duration_or_off(v)),
        show: |l| format_duration(l.keep_alive),
    },
    Setting {
        section: Section::Limits,
        key: "keep-alive-requests",
        default: "1000",
        nginx: "`keep-alive-requests` (1000)",
        help: "requests served on one HTTP/1 connection before it is closed (0: no limit)",
        apply: |l, v| set(&mut l.keep_alive_requests, count(v)),
        show: |l| l.keep_alive_requests.to_string(),
    },
    Setting {
        section: Section::Limits,
        key: "client-header-timeout",
        default: "60s",
        nginx: "`client-header-timeout` (60)",
        help: "total time for a request head to arrive (from accept, or from the first byte of a later request); then the connection is closed",
        apply: |l, v| set(&mut l.client_header_timeout, duration(v)),
        show: |l| format_duration(l.client_header_timeout),
    },
    Setting {
        section: Section::Limits,
        key: "client-body-timeout",
        default: "60s",
        nginx: "`client-body-timeout` (60)",
        help: "longest pause between two reads of a request body",
        apply: |l, v| set(&mut l.client_body_timeout, duration(v)),
        show: |l| format_duration(l.client_body_timeout),
    },
    Setting {
        section: Section::Limits,
        key: "send-timeout",
        default: "60s",
        nginx: "nginx `send_timeout` (60s; no ConfigMap key)",
        help: "longest a write to the client may wait",
        apply: |l, v| set(&mut l.send_timeout, duration(v)),
        show: |l| format_duration(l.send_timeout),
    },
    Setting {
        section: Section::Limits,
        key: "lingering-time",
        default: "30s",
        nginx: "nginx `lingering_time` (30s; no ConfigMap key)",
        help: "how long the unread body of a request gatehouse answered itself (413, 401, …) is read and discarded before closing, so the client sees the answer rather than a reset (0: close at once)",
        apply: |l, v| set(&mut l.lingering_time, duration_or_off(v)),
        show: |l| format_duration(l.lingering_time),
    },
    Setting {
        section: Section::Limits,
        key: "lingering-timeout",
        default: "5s",
        nginx: "nginx `lingering_timeout` (5s; no ConfigMap key)",
        help: "longest pause between two reads of such a body; then the connection is closed",
        apply: |l, v| set(&mut l.lingering_timeout, duration(v)),
        show: |l| format_duration(l.lingering_timeout),
    },
    Setting {
        section: Section::Limits,
        key: "http2-idle-timeout",
        default: "keep-alive",
        nginx: "`keep-alive` (nginx ≥ 1.19.7 times idle HTTP/2 with it)",
        help: "how long an HTTP/2 connection without open streams is kept (`keep-alive`: as long as an idle HTTP/1 one, 75 s when that is 0)",
        apply: |l, v| {
            let idle = match v.trim() {
                FOLLOW_KEEP_ALIVE => Ok(http2_idle_following(l.keep_alive)),
                other => duration(other),
            };
            set(&mut l.http2_idle_timeout, idle)
        },
        show: |l| {
            if l.http2_idle_timeout == http2_idle_following(l.keep_alive) {
                FOLLOW_KEEP_ALIVE.to_string()
            } else {
                format_duration(l.http2_idle_timeout)
            }
        },
    },
    Setting {
        section: Section::Limits,
        key: "http2-max-concurrent-streams",
        default: "128",
        nginx: "`http2-max-concurrent-streams` (128)",
        help: "streams one HTTP/2 connection may have open at once",
        apply: |l, v| set(&mut l.http2_max_concurrent_streams, count(v)),
        show: |l| l.http2_max_concurrent_streams.to_string(),
    },
    Setting {
        section: Section::Limits,
        key: "max-connections",
        default: "8192",
        nginx: "`max-worker-connections` (16384, per worker)",
        help: "open client connections per instance; more are closed at once",
        apply: |l, v| set(&mut l.max_connections, count(v)),
        show: |l| l.max_connections.to_string(),
    },
    Setting {
        section: Section::Limits,
        key: "large-client-header-buffers",
        default: "4 8k",
        nginx: "`large-client-header-buffers` (4 8k)",
        help: "NUMBER SIZE: request line and each header line up to SIZE (414 / 431 beyond), the whole head up to NUMBER×SIZE (431)",
        apply: header_buffers,
        show: |l| {
            format!(
                "{} {}",
                l.header_total_max / l.header_line_max.max(1),
                format_size(l.header_line_max as u64)
            )
        },
    },
    Setting {
        section: Section::Limits,
        key: "proxy-body-size",
        default: "1m",
        nginx: "`proxy-body-size` (1m)",
        help: "largest request body, checked on Content-Length and while streaming (413; 0: no limit)",
        apply: |l, v| set(&mut l.body_max, parse_size(v)),
        show: |l| format_size(l.body_max),
    },
    Setting {
        section: Section::Limits,
        key: "proxy-connect-timeout",
        default: "5s",
        nginx: "`proxy-connect-timeout` (5)",
        help: "connect timeout to an endpoint (the annotation overrides it per Ingress)",
        apply: |l, v| set(&mut l.proxy_connect_timeout, duration(v)),
        show: |l| format_duration(l.proxy_connect_timeout),
    },
    Setting {
        section: Section::Limits,
        key: "proxy-read-timeout",
        default: "60s",
        nginx: "`proxy-read-timeout` (60)",
        help: "longest pause between two reads from an upstream (504 if its answer has not begun; on a WebSocket, the idle timeout)",
        apply: |l, v| set(&mut l.proxy_read_timeout, duration(v)),
        show: |l| format_duration(l.proxy_read_timeout),
    },
    Setting {
        section: Section::Limits,
        key: "proxy-send-timeout",
        default: "60s",
        nginx: "`proxy-send-timeout` (60)",
        help: "longest pause between two writes to an upstream (504)",
        apply: |l, v| set(&mut l.proxy_send_timeout, duration(v)),
        show: |l| format_duration(l.proxy_send_timeout),
    },
    Setting {
        section: Section::Limits,
        key: "upstream-keepalive-connections",
        default: "320",
        nginx: "`upstream-keepalive-connections` (320)",
        help: "idle upstream connections kept for reuse, per worker thread (at least 1), in each of the two pools (the lean loop's and Pingora's, `--lean-forwarding`); past it the least recently used is closed, and a busy instance connects anew for each request over it",
        apply: |l, v| set(&mut l.upstream_keepalive_connections, at_least_one(v)),
        show: |l| l.upstream_keepalive_connections.to_string(),
    },
    Setting {
        section: Section::Limits,
        key: "auth-timeout",
        default: "15s",
        nginx: "— (ingress-nginx waits up to `proxy-read-timeout`, 60 s)",
        help: "longest an external authentication subrequest (`auth-url`) may take, connect included; past it the request gets 500",
        apply: |l, v| set(&mut l.auth_timeout, duration(v)),
        show: |l| format_duration(l.auth_timeout),
    },
    Setting {
        section: Section::Limits,
        key: "forwarded-port",
        default: "client",
        nginx: "— (ingress-nginx sends the listener's port)",
        help: "X-Forwarded-Port sent upstream: `client` (the port in the client's Host, else 80/443) or a port number",
        apply: |l, v| {
            l.forwarded_port = match v.trim() {
                "client" => None,
                port => Some(count(port)?),
            };
            Ok(())
        },
        show: |l| l.forwarded_port.map_or_else(|| "client".into(), |p| p.to_string()),
    },
    Setting {
        section: Section::ClientAddress,
        key: "trusted-proxies",
        default: "none",
        nginx: "`proxy-real-ip-cidr` (0.0.0.0/0: everyone, once `use-forwarded-headers` is on)",
        help: "peers (CIDRs or addresses, `;`-separated) whose forwarded headers and PROXY protocol headers are believed; from any other peer they are replaced (`none`: trust no one)",
        apply: |l, v| set(&mut l.trusted_proxies, trusted_proxies(v)),
        show: |l| {
            l.trusted_proxies
                .as_ref()
                .map_or_else(|| "none".into(), |r| r.to_string().replace(',', ";"))
        },
    },
    Setting {
        section: Section::ClientAddress,
        key: "real-ip-header",
        default: "X-Forwarded-For",
        nginx: "`forwarded-for-header` (X-Forwarded-For)",
        help: "where a trusted proxy's client address is read: `X-Forwarded-For` (its right-most address outside trusted-proxies) or a header holding one address, such as cloudflared's `CF-Connecting-IP` (absent or invalid: X-Forwarded-For)",
        apply: |l, v| set(&mut l.real_ip_header, real_ip_header(v)),
        show: |l| {
            l.real_ip_header
                .as_ref()
                .map_or_else(|| "X-Forwarded-For".into(), display_header)
        },
    },
    Setting {
        section: Section::ClientAddress,
        key: "proxy-protocol",
        default: "false",
        nginx: "`use-proxy-protocol` (false)",
        help: "every connection must start with a PROXY protocol v1 or v2 header (before TLS), from a peer in trusted-proxies; a connection without a valid one, or from another peer, is closed",
        apply: |l, v| set(&mut l.proxy_protocol, parse_bool(v)),
        show: |l| l.proxy_protocol.to_string(),
    },
];

/// `trusted-proxies`: `none`, or CIDRs and addresses separated by `;` (inside `--instance`,
/// where `,` separates keys) or `,`.
fn trusted_proxies(value: &str) -> Result<Option<SourceRanges>, String> {
    let v = value.trim();
    if v.is_empty() || v == "none" {
        return Ok(None);
    }
    parse_source_ranges(&v.replace(';', ",")).map(Some)
}

/// `real-ip-header`: a header name; `X-Forwarded-For` means the forwarded chain itself.
fn real_ip_header(value: &str) -> Result<Option<http::HeaderName>, String> {
    let v = value.trim();
    let name = http::HeaderName::from_bytes(v.as_bytes())
        .map_err(|_| format!("{v:?} is not a header name"))?;
    Ok((name.as_str() != "x-forwarded-for").then_some(name))
}

/// A header name as people write it (`cf-connecting-ip` → `CF-Connecting-IP`).
fn display_header(name: &http::HeaderName) -> String {
    match name.as_str() {
        "cf-connecting-ip" => "CF-Connecting-IP".to_string(),
        "x-real-ip" => "X-Real-IP".to_string(),
        other => other
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// The setting named `key`.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// Sets `key` to `value`, or says why not.
pub fn apply(limits: &mut Limits, key: &str, value: &str) -> Result<(), String> {
    let setting = setting(key).ok_or_else(|| format!("unknown setting {key:?}"))?;
    (setting.apply)(limits, value).map_err(|e| format!("{key}: {e}"))
}

/// The defaults (ingress-nginx's, where it has the setting).
pub fn defaults() -> Limits {
    let mut limits = Limits {
        keep_alive: Duration::ZERO,
        keep_alive_requests: 0,
        client_header_timeout: Duration::ZERO,
        client_body_timeout: Duration::ZERO,
        send_timeout: Duration::ZERO,
        lingering_time: Duration::ZERO,
        lingering_timeout: Duration::ZERO,
        http2_idle_timeout: Duration::ZERO,
        http2_max_concurrent_streams: 0,
        max_connections: 0,
        header_line_max: 0,
        header_total_max: 0,
        body_max: 0,
        proxy_connect_timeout: Duration::ZERO,
        proxy_read_timeout: Duration::ZERO,
        proxy_send_timeout: Duration::ZERO,
        upstream_keepalive_connections: 0,
        auth_timeout: Duration::ZERO,
        forwarded_port: None,
        trusted_proxies: None,
        real_ip_header: None,
        proxy_protocol: false,
    };
    for s in SETTINGS {
        if let Err(e) = (s.apply)(&mut limits, s.default) {
            unreachable!("default of {} does not parse: {e}", s.key);
        }
    }
    limits
}

/// The limits of an instance: defaults, then the global flags, then the instance's own keys.
pub fn effective(global: &[(String, String)], own: &[(String, String)]) -> Result<Limits, String> {
    let mut limits = defaults();
    let mut http2_idle_follows = true;
    for (key, value) in global.iter().chain(own) {
        apply(&mut limits, key, value)?;
        if key == "http2-idle-timeout" {
            http2_idle_follows = value.trim() == FOLLOW_KEEP_ALIVE;
        }
    }
    // Following keep-alive means its final value, whichever order the keys came in.
    if http2_idle_follows {
        limits.http2_idle_timeout = http2_idle_following(limits.keep_alive);
    }
    Ok(limits)
}

/// Every setting of `limits`, written as it would be given.
pub fn describe(limits: &Limits) -> serde_json::Map<String, serde_json::Value> {
    SETTINGS
        .iter()
        .map(|s| (s.key.to_string(), (s.show)(limits).into()))
        .collect()
}

/// The global flags, one per setting.
pub fn args() -> impl Iterator<Item = clap::Arg> {
    SETTINGS.iter().map(|s| {
        clap::Arg::new(s.key)
            .long(s.key)
            .value_name("VALUE")
            .help(format!("{} [default: {}]", s.help, s.default))
            .value_parser(move |v: &str| apply(&mut defaults(), s.key, v).map(|()| v.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of the README's settings tables, as it must read.
    fn readme_table(section: Section) -> String {
        let mut table = String::from(
            "| Flag (and `--instance` key) | Default | ingress-nginx equivalent | What it does |\n|---|---|---|---|\n",
        );
        for s in SETTINGS.iter().filter(|s| s.section == section) {
            table.push_str(&format!(
                "| `--{}` | `{}` | {} | {} |\n",
                s.key, s.default, s.nginx, s.help
            ));
        }
        table
    }

    #[test]
    fn readme_lists_every_limit() {
        let readme = include_str!("../README.md");
        for (section, title) in [
            (Section::Limits, "Limits and timeouts"),
            (Section::ClientAddress, "Client addresses"),
        ] {
            let table = readme_table(section);
            assert!(
                readme.contains(&table),
                "README.md's \"{title}\" table must read:\n{table}"
            );
        }
    }

    #[test]
    fn defaults_are_ingress_nginx_s() {
        let l = defaults();
        assert_eq!(l.keep_alive, Duration::from_secs(75));
        assert_eq!(l.keep_alive_requests, 1000);
        assert_eq!(l.client_header_timeout, Duration::from_secs(60));
        assert_eq!(l.client_body_timeout, Duration::from_secs(60));
        assert_eq!(l.http2_max_concurrent_streams, 128);
        assert_eq!((l.header_line_max, l.header_total_max), (8192, 32768));
        assert_eq!(l.body_max, 1 << 20);
        assert_eq!(l.proxy_connect_timeout, Duration::from_secs(5));
        assert_eq!(l.proxy_read_timeout, Duration::from_secs(60));
        assert_eq!(l.forwarded_port, None);
    }

    #[test]
    fn every_setting_shows_what_it_was_given() {
        for s in SETTINGS {
            let shown = (s.show)(&defaults());
            assert_eq!(shown, s.default, "{}", s.key);
            let mut again = defaults();
            apply(&mut again, s.key, &shown).expect("parses back");
            assert_eq!(again, defaults(), "{}", s.key);
        }
    }

    #[test]
    fn instance_keys_win_over_flags() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let l = effective(
            &[pair("keep-alive", "30s"), pair("proxy-body-size", "8m")],
            &[pair("keep-alive", "1h"), pair("forwarded-port", "443")],
        )
        .expect("valid");
        assert_eq!(l.keep_alive, Duration::from_secs(3600));
        assert_eq!(l.body_max, 8 << 20);
        assert_eq!(l.forwarded_port, Some(443));
        for (key, bad) in [
            ("keep-alive", "forever"),
            ("proxy-body-size", "1t"),
            ("large-client-header-buffers", "4"),
            ("large-client-header-buffers", "0 8k"),
            ("forwarded-port", "70000"),
            ("color", "red"),
        ] {
            assert!(effective(&[], &[pair(key, bad)]).is_err(), "{key}={bad}");
        }
        assert_eq!(
            effective(&[], &[pair("keep-alive", "0")]).map(|l| l.keep_alive_secs()),
            Ok(None)
        );
    }

    #[test]
    fn http2_idle_timeout_follows_keep_alive_unless_given() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let idle = |global: &[(String, String)], own: &[(String, String)]| {
            effective(global, own).map(|l| l.http2_idle_timeout)
        };
        let secs = |n| Ok(Duration::from_secs(n));
        assert_eq!(idle(&[], &[]), secs(75));
        // The external instance behind cloudflared (http2Origin): an hour, like HTTP/1.
        assert_eq!(idle(&[], &[pair("keep-alive", "1h")]), secs(3600));
        assert_eq!(idle(&[pair("keep-alive", "1h")], &[]), secs(3600));
        // Given after keep-alive or before it, the final keep-alive counts.
        assert_eq!(
            idle(
                &[pair("http2-idle-timeout", "keep-alive")],
                &[pair("keep-alive", "20s")]
            ),
            secs(20)
        );
        assert_eq!(idle(&[], &[pair("keep-alive", "0")]), secs(75));
        // Given a duration, it is its own.
        assert_eq!(
            idle(
                &[pair("http2-idle-timeout", "5s")],
                &[pair("keep-alive", "1h")]
            ),
            secs(5)
        );
        let shown = effective(&[], &[pair("keep-alive", "1h")]).map(|l| describe(&l));
        assert_eq!(
            shown.map(|d| d["http2-idle-timeout"].clone()),
            Ok("keep-alive".into())
        );
    }
}
