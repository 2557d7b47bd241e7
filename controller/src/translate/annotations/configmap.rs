//! Every key of ingress-nginx's controller ConfigMap, and what gatehouse offers instead.
//!
//! gatehouse reads no ConfigMap: its global settings are command-line flags. Sources
//! (ingress-nginx `main`, March 2026): the table and sections of
//! `docs/user-guide/nginx-configuration/configmap.md` (some keys only have a section, such as
//! `ssl-early-data`), plus the keys the controller decodes from the ConfigMap without
//! documenting them (`json` tags of `internal/ingress/controller/config/config.go` and
//! `internal/ingress/defaults/main.go`, e.g. `proxy-http-version`, `upstream-hash-by`).

use super::catalog::Support;

/// One key of ingress-nginx's controller ConfigMap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigKeyInfo {
    /// The ConfigMap key, e.g. `proxy-body-size`.
    pub name: &'static str,
    /// How gatehouse treats it (gatehouse has no ConfigMap: "supported" means an equivalent flag exists, named in the text or in `flag`).
    pub support: Support,
    /// The gatehouse flag that replaces it, if any (e.g. `--proxy-body-size`).
    pub flag: Option<&'static str>,
    /// Ignoring it would weaken access control.
    pub access_control: bool,
}

/// The entry for a ConfigMap key.
pub fn lookup(name: &str) -> Option<&'static ConfigKeyInfo> {
    CONFIG_KEYS
        .binary_search_by(|k| k.name.cmp(name))
        .ok()
        .and_then(|i| CONFIG_KEYS.get(i))
}

// Constructors keep each table row on one line; they are `const` so the table stays static data.

const fn supported(name: &'static str, flag: &'static str) -> ConfigKeyInfo {
    ConfigKeyInfo {
        name,
        support: Support::Supported,
        flag: Some(flag),
        access_control: false,
    }
}

const fn differs(
    name: &'static str,
    how: &'static str,
    flag: Option<&'static str>,
) -> ConfigKeyInfo {
    ConfigKeyInfo {
        name,
        support: Support::SupportedWithDifference(how),
        flag,
        access_control: false,
    }
}

const fn ignored(name: &'static str, why: &'static str) -> ConfigKeyInfo {
    ConfigKeyInfo {
        name,
        support: Support::Ignored(why),
        flag: None,
        access_control: false,
    }
}

const fn unsupported(name: &'static str, what: &'static str) -> ConfigKeyInfo {
    ConfigKeyInfo {
        name,
        support: Support::Unsupported(what),
        flag: None,
        access_control: false,
    }
}

/// A supported key that is access control.
const fn supported_access(name: &'static str, flag: &'static str) -> ConfigKeyInfo {
    ConfigKeyInfo {
        name,
        support: Support::Supported,
        flag: Some(flag),
        access_control: true,
    }
}

/// An unsupported key whose absence can let through a request ingress-nginx refuses.
const fn unsupported_access(name: &'static str, what: &'static str) -> ConfigKeyInfo {
    ConfigKeyInfo {
        name,
        support: Support::Unsupported(what),
        flag: None,
        access_control: true,
    }
}

// Shared texts.
const NGINX_TUNING: &str = "Tunes nginx internals that gatehouse does not have.";
const NGINX_BUFFERS: &str =
    "Tunes nginx's proxy buffers; gatehouse streams bodies without such buffers.";
const NO_STREAMS: &str = "Only tunes TCP/UDP stream proxying, which gatehouse does not offer.";
const NO_OPENTRACING: &str =
    "ingress-nginx itself no longer reads it: OpenTracing was removed in v1.10.";
const NO_OTEL: &str = "Has no effect: gatehouse exports no OpenTelemetry spans.";
const NO_GZIP: &str = "Has no effect: gatehouse does not compress responses (`use-gzip`).";
const NO_BROTLI: &str = "Has no effect: gatehouse does not compress responses (`enable-brotli`).";
const NEXT_UPSTREAM_PER_INGRESS: &str =
    "No global flag: every Ingress gets ingress-nginx's default (`error timeout`, 3 tries, no time limit) unless its own `proxy-next-upstream*` annotations say otherwise.";
const AUTH_NOT_CACHED: &str =
    "Auth answers are never cached: every request asks the auth service (over pooled connections).";
const NO_RATE_LIMIT: &str =
    "Has no effect: no rate limit is applied (rate limits are abuse protection, not access control).";
const NO_SYSLOG: &str = "Has no effect: logs go to stdout and stderr only (`enable-syslog`).";
const FORWARDED_TRUST: &str =
    "Forwarded headers are believed only from the peers in `--trusted-proxies` (none by default; per instance `trusted-proxies=`); from anyone else they are replaced.";
const NO_HASH: &str = "Has no effect: consistent hashing (`upstream-hash-by`) is not supported.";
const TLS_SESSIONS: &str =
    "TLS session resumption is rustls's own; clients only reconnect a little slower.";
const SNIPPET: &str = "No snippet is applied; gatehouse never runs configuration text.";
const ONLY_NGINX_REDIRECTS: &str =
    "Only affects redirects nginx makes itself; gatehouse makes none but the HTTPS redirect.";
const LOG_FORMAT: &str = "The access log is gatehouse's fixed JSON format on stdout.";
const HEADER_LIMITS: &str =
    "Sizes nginx's request header buffers; gatehouse accepts headers up to its own larger limits.";
const NO_SNIPPETS_GUARD: &str =
    "Guards against risky annotations; gatehouse never runs snippets or puts annotation values into configuration text.";

/// Every ingress-nginx ConfigMap key, sorted by name.
pub static CONFIG_KEYS: &[ConfigKeyInfo] = &[
    ignored("access-log-params", "Tunes how nginx writes its access log file; gatehouse writes to stdout."),
    unsupported("access-log-path", "The access log always goes to stdout."),
    unsupported("add-headers", "The headers from that ConfigMap are not added to responses."),
    unsupported("allow-backend-server-header", "The backend's Server header always reaches the client, as with `true`."),
    ignored("allow-cross-namespace-resources", "No annotation gatehouse reads refers to another namespace."),
    ignored("allow-snippet-annotations", "gatehouse never runs snippets, whatever this says."),
    ignored("annotation-value-word-blocklist", NO_SNIPPETS_GUARD),
    ignored("annotations-risk-level", NO_SNIPPETS_GUARD),
    unsupported("app-root", "Requests for `/` reach the backend instead of being redirected to the app root."),
    differs("bind-address", "Listen addresses are given per instance: `--instance class=…,http=ADDR,https=ADDR`.", Some("--instance")),
    unsupported_access("block-cidrs", "Requests from the blocked addresses are let through."),
    unsupported_access("block-referers", "Requests with the blocked referers are let through."),
    unsupported_access("block-user-agents", "Requests with the blocked user agents are let through."),
    unsupported("brotli-level", NO_BROTLI),
    unsupported("brotli-min-length", NO_BROTLI),
    unsupported("brotli-types", NO_BROTLI),
    ignored("client-body-buffer-size", "gatehouse streams request bodies to the backend and never buffers them to disk."),
    supported("client-body-timeout", "--client-body-timeout"),
    ignored("client-header-buffer-size", HEADER_LIMITS),
    differs("client-header-timeout", "A total deadline for the request head, from accept or from the first byte of a later request (nginx's timer works the same way); closed without an answer.", Some("--client-header-timeout")),
    differs("compute-full-forwarded-for", "X-Forwarded-For from a peer in `--trusted-proxies` is always kept and the peer appended (as with `true`); from anyone else it is replaced by the peer's address.", Some("--trusted-proxies")),
    unsupported("custom-http-errors", "Error responses from backends reach the client unchanged."),
    ignored("debug-connections", "Only turns on nginx's debug log for some clients."),
    ignored("default-type", "Only types responses nginx makes itself; gatehouse labels its own."),
    unsupported_access("denylist-source-range", "Requests from the denied addresses are let through."),
    differs("disable-access-log", "`--access-log off` turns the access log off.", Some("--access-log")),
    differs("disable-http-access-log", "`--access-log off` turns the access log off.", Some("--access-log")),
    differs("disable-ipv6", "gatehouse listens only on the addresses given in `--instance`; give no IPv6 ones.", Some("--instance")),
    ignored("disable-ipv6-dns", "gatehouse resolves no names: backends are endpoint IPs from EndpointSlices."),
    ignored("disable-proxy-intercept-errors", "gatehouse never intercepts backend errors, which is what this asks for."),
    ignored("disable-stream-access-log", NO_STREAMS),
    ignored("enable-access-log-for-default-backend", "gatehouse also logs requests that match no route; nothing else changes."),
    ignored("enable-aio-write", NGINX_TUNING),
    ignored("enable-auth-access-log", "gatehouse makes no authentication subrequests to log."),
    unsupported("enable-brotli", "Responses are not compressed by gatehouse."),
    unsupported_access("enable-modsecurity", "No web application firewall inspects requests."),
    ignored("enable-multi-accept", NGINX_TUNING),
    ignored("enable-ocsp", "OCSP stapling is an optimisation; clients connect the same without it."),
    unsupported("enable-opentelemetry", "gatehouse exports no OpenTelemetry spans."),
    unsupported_access("enable-owasp-modsecurity-crs", "The OWASP core rule set is not applied: no web application firewall inspects requests."),
    differs("enable-real-ip", FORWARDED_TRUST, Some("--trusted-proxies")),
    ignored("enable-serial-reloads", "gatehouse swaps route tables without reloads."),
    unsupported("enable-syslog", "Logs go to stdout and stderr only."),
    unsupported("enable-underscores-in-headers", "Headers with underscores reach the backend, as with `true`."),
    differs("error-log-level", "gatehouse's own log level comes from the `RUST_LOG` environment variable.", None),
    unsupported("error-log-path", "gatehouse's own log always goes to stderr."),
    unsupported("force-ssl-redirect", "No global switch: set the `force-ssl-redirect` annotation on each Ingress that needs it."),
    differs("forwarded-for-header", "`--real-ip-header` names the header a trusted proxy gives the client's address in (such as `CF-Connecting-IP`; default X-Forwarded-For), read only from `--trusted-proxies`.", Some("--real-ip-header")),
    differs("forwarded-for-proxy-protocol-header", "Behind a PROXY header, forwarded headers are read only when its source is in `--trusted-proxies`, from the header `--real-ip-header` names.", Some("--real-ip-header")),
    unsupported("forwarded-host-header", "X-Forwarded-Host is always replaced by the request's Host, from trusted proxies too."),
    ignored("generate-request-id", "gatehouse always passes on or generates `X-Request-ID`, as with the default `true`."),
    ignored("geoip2-autoreload-in-minutes", "GeoIP data only feeds nginx variables for snippets and log formats, which gatehouse does not have."),
    unsupported("global-allowed-response-headers", "Has no effect: the `custom-headers` annotation is not supported."),
    supported("global-auth-always-set-cookie", "--global-auth-always-set-cookie"),
    ignored("global-auth-cache-duration", AUTH_NOT_CACHED),
    ignored("global-auth-cache-key", AUTH_NOT_CACHED),
    supported("global-auth-method", "--global-auth-method"),
    supported("global-auth-request-redirect", "--global-auth-request-redirect"),
    supported("global-auth-response-headers", "--global-auth-response-headers"),
    supported("global-auth-signin", "--global-auth-signin"),
    supported("global-auth-signin-redirect-param", "--global-auth-signin-redirect-param"),
    differs("global-auth-snippet", "Only `proxy_set_header NAME VALUE;` lines; any other directive stops gatehouse from starting.", Some("--global-auth-snippet")),
    supported_access("global-auth-url", "--global-auth-url"),
    ignored("grpc-buffer-size-kb", NGINX_BUFFERS),
    unsupported("gzip-disable", NO_GZIP),
    unsupported("gzip-level", NO_GZIP),
    unsupported("gzip-min-length", NO_GZIP),
    unsupported("gzip-types", NO_GZIP),
    unsupported("hide-headers", "Those backend response headers reach the client."),
    differs("hsts", "`--hsts-max-age 0` turns HSTS off.", Some("--hsts-max-age")),
    supported("hsts-include-subdomains", "--hsts-include-subdomains"),
    supported("hsts-max-age", "--hsts-max-age"),
    unsupported("hsts-preload", "The `preload` token is never added to the HSTS header."),
    unsupported("http-access-log-path", "The access log always goes to stdout."),
    unsupported("http-redirect-code", "The HTTPS redirect always uses 308, ingress-nginx's default."),
    // An http-level snippet can hold `deny` rules for every server.
    unsupported_access("http-snippet", SNIPPET),
    supported("http2-max-concurrent-streams", "--http2-max-concurrent-streams"),
    ignored("http2-max-field-size", "Deprecated in ingress-nginx; gatehouse applies its own header limits."),
    ignored("http2-max-header-size", "Deprecated in ingress-nginx; gatehouse applies its own header limits."),
    ignored("http2-max-requests", "Deprecated in ingress-nginx; clients simply keep their connection longer."),
    unsupported("ignore-invalid-headers", "Which header names are valid is decided by gatehouse's HTTP parser."),
    ignored("jaeger-baggage-header", NO_OPENTRACING),
    ignored("jaeger-collector-host", NO_OPENTRACING),
    ignored("jaeger-collector-port", NO_OPENTRACING),
    ignored("jaeger-debug-header", NO_OPENTRACING),
    ignored("jaeger-endpoint", NO_OPENTRACING),
    ignored("jaeger-propagation-format", NO_OPENTRACING),
    ignored("jaeger-sampler-host", NO_OPENTRACING),
    ignored("jaeger-sampler-param", NO_OPENTRACING),
    ignored("jaeger-sampler-port", NO_OPENTRACING),
    ignored("jaeger-sampler-type", NO_OPENTRACING),
    ignored("jaeger-service-name", NO_OPENTRACING),
    ignored("jaeger-trace-baggage-header-prefix", NO_OPENTRACING),
    ignored("jaeger-trace-context-header-name", NO_OPENTRACING),
    // The reference spells this one both ways (table vs section heading).
    ignored("jaeger-tracer-baggage-header-prefix", NO_OPENTRACING),
    supported("keep-alive", "--keep-alive"),
    supported("keep-alive-requests", "--keep-alive-requests"),
    differs("large-client-header-buffers", "Same sizes and meaning; an over-long header line or head is answered 431 (nginx answers 400 \"Request Header Or Cookie Too Large\").", Some("--large-client-header-buffers")),
    unsupported("limit-conn-status-code", NO_RATE_LIMIT),
    unsupported("limit-conn-zone-variable", NO_RATE_LIMIT),
    unsupported("limit-rate", "Responses are sent at full speed; the bandwidth limit is not applied."),
    unsupported("limit-rate-after", "Responses are sent at full speed; the bandwidth limit is not applied."),
    unsupported("limit-req-status-code", NO_RATE_LIMIT),
    ignored("load-balance", "gatehouse spreads requests round-robin (ingress-nginx's default) over every ready endpoint."),
    // A location snippet can hold `deny` rules for every path.
    unsupported_access("location-snippet", SNIPPET),
    unsupported("log-format-escape-json", LOG_FORMAT),
    unsupported("log-format-escape-none", LOG_FORMAT),
    ignored("log-format-stream", NO_STREAMS),
    unsupported("log-format-upstream", LOG_FORMAT),
    ignored("lua-shared-dicts", NGINX_TUNING),
    unsupported("main-snippet", SNIPPET),
    ignored("map-hash-bucket-size", NGINX_TUNING),
    differs("max-worker-connections", "gatehouse caps open connections per instance (`--max-connections`, default 8192), not per worker; excess connections are closed at once.", Some("--max-connections")),
    ignored("max-worker-open-files", NGINX_TUNING),
    unsupported_access("modsecurity-snippet", "No ModSecurity rules are applied: no web application firewall inspects requests."),
    ignored("nginx-status-ipv4-whitelist", "gatehouse has no nginx status page; its admin listener binds where `--admin` says."),
    ignored("nginx-status-ipv6-whitelist", "gatehouse has no nginx status page; its admin listener binds where `--admin` says."),
    supported("no-auth-locations", "--no-auth-locations"),
    unsupported("no-tls-redirect-locations", "Only `/.well-known/acme-challenge/` (the default) is exempt from the HTTPS redirect."),
    unsupported("opentelemetry-config", NO_OTEL),
    unsupported("opentelemetry-operation-name", NO_OTEL),
    unsupported("opentelemetry-trust-incoming-span", NO_OTEL),
    unsupported("otel-max-export-batch-size", NO_OTEL),
    unsupported("otel-max-queuesize", NO_OTEL),
    unsupported("otel-sampler", NO_OTEL),
    unsupported("otel-sampler-parent-based", NO_OTEL),
    unsupported("otel-sampler-ratio", NO_OTEL),
    unsupported("otel-schedule-delay-millis", NO_OTEL),
    unsupported("otel-service-name", NO_OTEL),
    unsupported("otlp-collector-host", NO_OTEL),
    unsupported("otlp-collector-port", NO_OTEL),
    ignored("preserve-trailing-slash", "gatehouse's HTTPS redirect always keeps the path exactly, trailing slash included."),
    unsupported("proxy-add-original-uri-header", "No `X-Original-Uri` header is sent to backends."),
    supported("proxy-body-size", "--proxy-body-size"),
    ignored("proxy-buffer-size", "Sizes nginx's response header buffer; gatehouse accepts large backend headers without it."),
    ignored("proxy-buffering", "gatehouse streams responses to the client, as ingress-nginx does by default."),
    ignored("proxy-buffers-number", NGINX_BUFFERS),
    ignored("proxy-busy-buffers-size", NGINX_BUFFERS),
    supported("proxy-connect-timeout", "--proxy-connect-timeout"),
    unsupported("proxy-cookie-domain", "Cookie domains set by backends reach the client unchanged."),
    unsupported("proxy-cookie-path", "Cookie paths set by backends reach the client unchanged."),
    ignored("proxy-headers-hash-bucket-size", NGINX_TUNING),
    ignored("proxy-headers-hash-max-size", NGINX_TUNING),
    unsupported("proxy-http-version", "gatehouse always speaks HTTP/1.1 to backends."),
    ignored("proxy-max-temp-file-size", "gatehouse never buffers responses to temporary files."),
    unsupported("proxy-next-upstream", NEXT_UPSTREAM_PER_INGRESS),
    unsupported("proxy-next-upstream-timeout", NEXT_UPSTREAM_PER_INGRESS),
    unsupported("proxy-next-upstream-tries", NEXT_UPSTREAM_PER_INGRESS),
    differs("proxy-protocol-header-timeout", "The PROXY header must arrive within `--client-header-timeout`, the deadline of the first request head.", Some("--client-header-timeout")),
    supported("proxy-read-timeout", "--proxy-read-timeout"),
    differs("proxy-real-ip-cidr", "`--trusted-proxies` (`;`-separated) trusts no one by default (ingress-nginx: 0.0.0.0/0), and applies to PROXY headers and forwarded headers alike.", Some("--trusted-proxies")),
    unsupported("proxy-redirect-from", "Location and Refresh headers from backends reach the client unchanged."),
    unsupported("proxy-redirect-to", "Location and Refresh headers from backends reach the client unchanged."),
    ignored("proxy-request-buffering", "gatehouse streams request bodies to the backend, as with `off`."),
    supported("proxy-send-timeout", "--proxy-send-timeout"),
    unsupported("proxy-set-headers", "The headers from that ConfigMap are not added to requests."),
    ignored("proxy-ssl-location-only", "The `proxy-ssl-*` annotations gatehouse reads always apply to the Ingress's own routes only."),
    ignored("proxy-stream-next-upstream", NO_STREAMS),
    ignored("proxy-stream-next-upstream-timeout", NO_STREAMS),
    ignored("proxy-stream-next-upstream-tries", NO_STREAMS),
    ignored("proxy-stream-responses", NO_STREAMS),
    ignored("proxy-stream-timeout", NO_STREAMS),
    ignored("relative-redirects", ONLY_NGINX_REDIRECTS),
    unsupported("retry-non-idempotent", "No global flag: a non-idempotent request is retried after it reached an endpoint only when its Ingress's `proxy-next-upstream` includes `non_idempotent` (a failed connect is retried for any method)."),
    ignored("reuse-port", NGINX_TUNING),
    ignored("server-name-hash-bucket-size", NGINX_TUNING),
    ignored("server-name-hash-max-size", NGINX_TUNING),
    // A server snippet can hold `deny` rules for every host.
    unsupported_access("server-snippet", SNIPPET),
    ignored("server-tokens", "gatehouse adds no Server header announcing its version."),
    unsupported("service-upstream", "Requests go to the endpoints directly, not to the Service's cluster IP."),
    unsupported("skip-access-log-urls", "Requests to those paths are logged too."),
    ignored("ssl-buffer-size", NGINX_TUNING),
    unsupported("ssl-ciphers", "gatehouse offers rustls's fixed set of modern cipher suites."),
    ignored("ssl-dh-param", "rustls uses no finite-field Diffie-Hellman, so there are no parameters to set."),
    ignored("ssl-early-data", "gatehouse accepts no TLS early data, ingress-nginx's default and the safer choice."),
    ignored("ssl-ecdh-curve", "rustls offers only modern key-exchange groups."),
    unsupported("ssl-protocols", "TLS 1.2 and 1.3 are always offered (ingress-nginx's default)."),
    unsupported("ssl-redirect", "No global switch: set the `ssl-redirect` annotation to `false` on each Ingress that must serve plain HTTP."),
    unsupported("ssl-reject-handshake", "Handshakes for unknown names get the default certificate instead of being refused."),
    ignored("ssl-session-cache", TLS_SESSIONS),
    ignored("ssl-session-cache-size", TLS_SESSIONS),
    ignored("ssl-session-ticket-key", TLS_SESSIONS),
    ignored("ssl-session-tickets", TLS_SESSIONS),
    ignored("ssl-session-timeout", TLS_SESSIONS),
    ignored("stream-access-log-path", NO_STREAMS),
    ignored("stream-snippet", "gatehouse proxies no TCP or UDP streams and never runs configuration text."),
    ignored("strict-validate-path-type", "gatehouse never puts paths into configuration text, and matches them literally."),
    unsupported("syslog-host", NO_SYSLOG),
    unsupported("syslog-port", NO_SYSLOG),
    unsupported("upstream-hash-by", "Requests are spread round-robin, so a key no longer sticks to one endpoint."),
    unsupported("upstream-hash-by-subset", NO_HASH),
    unsupported("upstream-hash-by-subset-size", NO_HASH),
    supported("upstream-keepalive-connections", "--upstream-keepalive-connections"),
    ignored("upstream-keepalive-requests", "gatehouse keeps its own pool of idle backend connections."),
    ignored("upstream-keepalive-time", "gatehouse keeps its own pool of idle backend connections."),
    ignored("upstream-keepalive-timeout", "gatehouse keeps idle backend connections for 60 s, ingress-nginx's default."),
    differs("use-forwarded-headers", FORWARDED_TRUST, Some("--trusted-proxies")),
    ignored("use-geoip", "ingress-nginx itself no longer reads it: the legacy GeoIP module was removed."),
    ignored("use-geoip2", "GeoIP data only feeds nginx variables for snippets and log formats, which gatehouse does not have."),
    unsupported("use-gzip", "Responses are not compressed by gatehouse."),
    unsupported("use-http2", "HTTP/2 is always offered on TLS listeners."),
    ignored("use-port-in-redirects", ONLY_NGINX_REDIRECTS),
    differs("use-proxy-protocol", "`--proxy-protocol true` (per instance `proxy-protocol=true`) reads PROXY v1 and v2 headers, only from peers in `--trusted-proxies`; a connection without a valid header is closed.", Some("--proxy-protocol")),
    ignored("variables-hash-bucket-size", NGINX_TUNING),
    ignored("variables-hash-max-size", NGINX_TUNING),
    unsupported_access("whitelist-source-range", "Requests from any address are let through; the allow-list is not checked."),
    ignored("worker-cpu-affinity", NGINX_TUNING),
    differs("worker-processes", "`--threads` sets the worker threads of each instance.", Some("--threads")),
    ignored("worker-shutdown-timeout", "gatehouse swaps route tables without reloads, so no old workers wait to shut down."),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ConfigMap key the brief names as access control.
    const ACCESS_CONTROL: &[&str] = &[
        "block-cidrs",
        "block-referers",
        "block-user-agents",
        "denylist-source-range",
        "enable-modsecurity",
        "enable-owasp-modsecurity-crs",
        "global-auth-url",
        "modsecurity-snippet",
        "whitelist-source-range",
    ];

    #[test]
    fn sorted_unique_bare_keys() {
        let names: Vec<&str> = CONFIG_KEYS.iter().map(|k| k.name).collect();
        crate::translate::annotations::catalog::tests::assert_well_formed(&names);
    }

    #[test]
    fn complete_enough() {
        // 195 documented keys plus 14 undocumented ones the controller decodes; a truncated
        // table fails here.
        assert!(CONFIG_KEYS.len() >= 200, "{} entries", CONFIG_KEYS.len());
    }

    #[test]
    fn lookup_finds_known_and_rejects_unknown() {
        for name in [
            "access-log-params",
            "hsts-max-age",
            "proxy-body-size",
            "worker-shutdown-timeout",
        ] {
            assert_eq!(lookup(name).map(|k| k.name), Some(name));
        }
        assert_eq!(
            lookup("hsts-max-age").and_then(|k| k.flag),
            Some("--hsts-max-age")
        );
        for name in ["", "no-such-key", "HSTS", "a", "zzz"] {
            assert!(lookup(name).is_none(), "{name:?}");
        }
    }

    #[test]
    fn access_control_keys_are_flagged() {
        for name in ACCESS_CONTROL {
            assert!(lookup(name).is_some_and(|k| k.access_control), "{name}");
        }
        for name in [
            "limit-req-status-code",
            "proxy-buffer-size",
            "keep-alive",
            "hsts",
            "global-auth-signin",
            "nginx-status-ipv4-whitelist",
        ] {
            assert!(lookup(name).is_some_and(|k| !k.access_control), "{name}");
        }
    }

    #[test]
    fn access_control_is_never_ignored() {
        for k in CONFIG_KEYS.iter().filter(|k| k.access_control) {
            assert!(!matches!(k.support, Support::Ignored(_)), "{}", k.name);
        }
    }

    #[test]
    fn flags_match_support() {
        for k in CONFIG_KEYS {
            match k.support {
                Support::Supported => assert!(k.flag.is_some(), "{} needs its flag", k.name),
                Support::Ignored(_) | Support::Unsupported(_) => {
                    assert!(k.flag.is_none(), "{} has a flag but is not read", k.name)
                }
                Support::SupportedWithDifference(_) => {}
            }
            if let Some(flag) = k.flag {
                assert!(flag.starts_with("--"), "{flag}");
            }
        }
    }

    #[test]
    fn every_text_is_a_sentence() {
        for k in CONFIG_KEYS {
            if let Some(t) = Support::explanation(k.support) {
                assert!(!t.trim().is_empty(), "{}", k.name);
                assert!(t.ends_with('.'), "{}: {t}", k.name);
            }
        }
    }
}
