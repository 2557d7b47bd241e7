//! Every annotation ingress-nginx documents, and how gatehouse treats each one today.
//!
//! Sources (ingress-nginx `main`, March 2026): the table and sections of
//! `docs/user-guide/nginx-configuration/annotations.md`, the generated list in
//! `docs/user-guide/nginx-configuration/annotations-risk.md` (which adds keys documented
//! elsewhere, such as `allowlist-source-range` and `fastcgi-index`), the renamed OpenTracing
//! keys in `docs/user-guide/third-party-addons/opentelemetry.md`, and the parsers under
//! `internal/ingress/annotations/` for aliases (`whitelist-source-range`, `limit-whitelist`).

/// How gatehouse treats one ingress-nginx setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Read and honoured as ingress-nginx does.
    Supported,
    /// Read and honoured, with the difference described.
    SupportedWithDifference(&'static str),
    /// Not read; ignoring it changes nothing the user relies on (the why is given).
    Ignored(&'static str),
    /// Not read; what changes for the user is described.
    Unsupported(&'static str),
}

impl Support {
    /// What differs, why it is harmless, or what changes; `None` when fully supported.
    pub fn explanation(self) -> Option<&'static str> {
        match self {
            Support::Supported => None,
            Support::SupportedWithDifference(t) | Support::Ignored(t) | Support::Unsupported(t) => {
                Some(t)
            }
        }
    }
}

/// One ingress-nginx annotation (name without the `nginx.ingress.kubernetes.io/` prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnotationInfo {
    /// The key after the prefix, e.g. `auth-url`.
    pub name: &'static str,
    /// How gatehouse treats it.
    pub support: Support,
    /// Ignoring it would weaken access control (auth, allow/deny lists, client certificates…).
    pub access_control: bool,
}

use super::{GATEHOUSE_PREFIX, NGINX_PREFIX};

/// The entry for a name without prefix (binary search; the table is sorted).
pub fn lookup(name: &str) -> Option<&'static AnnotationInfo> {
    ANNOTATIONS
        .binary_search_by(|a| a.name.cmp(name))
        .ok()
        .and_then(|i| ANNOTATIONS.get(i))
}

/// Splits a full annotation key into its prefix-less name if it has one of the two prefixes.
pub fn strip_prefix(key: &str) -> Option<&str> {
    key.strip_prefix(NGINX_PREFIX)
        .or_else(|| key.strip_prefix(GATEHOUSE_PREFIX))
}

/// True when an unsupported switch's value turns it off (`enable-modsecurity: "false"`,
/// `auth-tls-verify-client: off`, `use-regex: "false"`): it then asks for nothing beyond what
/// gatehouse does without it, so refusing or warning about it would only mislead. Also used
/// for the ConfigMap's keys of the same meaning.
pub fn asks_for_nothing(name: &str, value: &str) -> bool {
    match name {
        "canary"
        | "enable-global-auth"
        | "enable-modsecurity"
        | "enable-owasp-core-rules"
        | "enable-owasp-modsecurity-crs"
        | "ssl-passthrough"
        | "use-regex" => super::values::parse_bool(value) == Ok(false),
        "auth-tls-verify-client" => value.trim() == "off",
        _ => false,
    }
}

/// The unsupported annotations whose absence changes where a request goes or what reaches the
/// backend (routing, not only tuning), sorted. `gatehouse check` fails for them.
pub const CHANGES_ROUTING: &[&str] = &[
    "app-root",
    "canary",
    "default-backend",
    "from-to-www-redirect",
    "permanent-redirect",
    "rewrite-target",
    "server-alias",
    "ssl-passthrough",
    "temporal-redirect",
    "use-regex",
];

/// True when leaving this annotation unread changes routing (see [`CHANGES_ROUTING`]).
pub fn changes_routing(name: &str) -> bool {
    CHANGES_ROUTING.binary_search(&name).is_ok()
}

/// True for annotations (and ConfigMap keys) that hold nginx configuration text.
pub fn is_snippet(name: &str) -> bool {
    name.ends_with("-snippet")
}

// Constructors keep each table row on one line; they are `const` so the table stays static data.

const fn supported(name: &'static str) -> AnnotationInfo {
    AnnotationInfo {
        name,
        support: Support::Supported,
        access_control: false,
    }
}

const fn differs(name: &'static str, how: &'static str) -> AnnotationInfo {
    AnnotationInfo {
        name,
        support: Support::SupportedWithDifference(how),
        access_control: false,
    }
}

const fn ignored(name: &'static str, why: &'static str) -> AnnotationInfo {
    AnnotationInfo {
        name,
        support: Support::Ignored(why),
        access_control: false,
    }
}

const fn unsupported(name: &'static str, what: &'static str) -> AnnotationInfo {
    AnnotationInfo {
        name,
        support: Support::Unsupported(what),
        access_control: false,
    }
}

/// A supported access-control annotation, with the difference described.
const fn differs_access(name: &'static str, how: &'static str) -> AnnotationInfo {
    AnnotationInfo {
        name,
        support: Support::SupportedWithDifference(how),
        access_control: true,
    }
}

/// A supported access-control annotation.
const fn supported_access(name: &'static str) -> AnnotationInfo {
    AnnotationInfo {
        name,
        support: Support::Supported,
        access_control: true,
    }
}

/// An unsupported annotation whose absence can let through a request ingress-nginx refuses.
const fn unsupported_access(name: &'static str, what: &'static str) -> AnnotationInfo {
    AnnotationInfo {
        name,
        support: Support::Unsupported(what),
        access_control: true,
    }
}

// Until trusted proxies (and so the real client IP behind a load balancer) exist, the lists are
// checked against the address of the TCP connection itself.
const PEER_ADDRESS: &str =
    "Checked against the connection's peer address until trusted proxies exist.";

// Texts for annotations that only configure another, unsupported feature.
const NO_AFFINITY: &str = "Has no effect: session affinity (`affinity`) is not supported.";
const AUTH_NOT_CACHED: &str =
    "Auth answers are never cached: every request asks the auth service (over pooled connections).";
const AUTH_POOLED: &str =
    "Auth subrequests always reuse pooled keep-alive connections (idle up to 60 s).";
const NO_AUTH_TLS: &str =
    "Has no effect: client certificate authentication (`auth-tls-secret`) is not supported.";
const NO_CANARY: &str =
    "Has no effect: canary Ingresses (`canary`) are not supported, so no traffic is split.";
const NO_CORS: &str = "Has no effect: CORS (`enable-cors`) is not supported.";
const NO_FASTCGI: &str =
    "Has no effect: FastCGI backends (`backend-protocol: FCGI`) are not supported.";
const NO_BACKEND_TLS: &str =
    "Backends are spoken to with rustls's default TLS 1.2 and 1.3 protocols and ciphers.";
const NO_MIRROR: &str = "Has no effect: requests are not mirrored (`mirror-target`).";
const NO_MODSECURITY: &str = "Has no effect: ModSecurity (`enable-modsecurity`) is not supported.";
const NO_OTEL: &str =
    "Has no effect: gatehouse exports no OpenTelemetry spans (`enable-opentelemetry`).";
const NO_OPENTRACING: &str =
    "ingress-nginx itself no longer reads it: OpenTracing was removed in v1.10.";
const NO_HASH: &str = "Has no effect: consistent hashing (`upstream-hash-by`) is not supported.";
const NO_RATE_LIMIT: &str =
    "No rate limit is applied (rate limits are abuse protection, not access control).";
const SNIPPET: &str = "No snippet is applied; gatehouse never runs configuration text.";
const NGINX_BUFFERS: &str =
    "Tunes nginx's proxy buffers; gatehouse streams bodies without such buffers.";

/// Every ingress-nginx annotation, sorted by name.
pub static ANNOTATIONS: &[AnnotationInfo] = &[
    unsupported("affinity", "No session affinity: a client's requests are spread over all endpoints."),
    unsupported("affinity-canary-behavior", NO_AFFINITY),
    unsupported("affinity-mode", NO_AFFINITY),
    differs_access("allowlist-source-range", PEER_ADDRESS),
    unsupported("app-root", "Requests for `/` reach the backend instead of being redirected to the app root."),
    supported("auth-always-set-cookie"),
    ignored("auth-cache-duration", AUTH_NOT_CACHED),
    ignored("auth-cache-key", AUTH_NOT_CACHED),
    ignored("auth-keepalive", AUTH_POOLED),
    ignored("auth-keepalive-requests", AUTH_POOLED),
    ignored("auth-keepalive-share-vars", AUTH_POOLED),
    ignored("auth-keepalive-timeout", AUTH_POOLED),
    supported("auth-method"),
    unsupported("auth-proxy-set-headers", "The ConfigMap's headers are not added to the auth subrequest; `auth-snippet`'s `proxy_set_header` lines are."),
    supported("auth-realm"),
    supported("auth-request-redirect"),
    supported("auth-response-headers"),
    differs_access("auth-secret", "Password hashes must be in a format `htpasswd` writes: bcrypt, `$apr1$` or `{SHA}`; other crypt(3) formats (DES, `$1$`, `$5$`, `$6$`) refuse the Ingress (503) instead of being checked."),
    supported_access("auth-secret-type"),
    differs("auth-signin", "`$request_uri` and `$escaped_request_uri` hold the normalised path (the one the backend receives), not the spelling the client sent."),
    supported("auth-signin-redirect-param"),
    differs("auth-snippet", "Only `proxy_set_header NAME VALUE;` lines (with nginx variables); any other directive refuses the Ingress (503), since it might have been part of the access decision."),
    unsupported("auth-tls-error-page", NO_AUTH_TLS),
    unsupported_access("auth-tls-match-cn", "Client certificates are not requested, so their common name is not checked."),
    unsupported("auth-tls-pass-certificate-to-upstream", "No client certificate is requested, so none is passed to the backend."),
    unsupported_access("auth-tls-secret", "Client certificates are not requested or verified: requests are let through without one."),
    unsupported_access("auth-tls-verify-client", "Client certificates are not requested or verified: requests are let through without one."),
    unsupported_access("auth-tls-verify-depth", "Client certificates are not requested or verified, so no chain depth is enforced."),
    differs_access("auth-type", "`basic` only: `digest` is access control gatehouse does not implement, so it refuses the Ingress (503)."),
    differs_access("auth-url", "The subrequest's `X-Original-URL`, `X-Original-URI` and `X-Forwarded-Uri` carry the normalised path (the one the backend receives); an HTTPS auth service's certificate is not verified (as ingress-nginx); answers are never cached."),
    differs("backend-protocol", "`AJP` and `FCGI` are refused (a warning, and HTTP applies); gatehouse adds `H2C` (HTTP/2 with prior knowledge over plain TCP)."),
    unsupported("canary", "The canary Ingress is routed as an ordinary one; where it repeats another's host and path, the older Ingress gets all traffic."),
    unsupported("canary-by-cookie", NO_CANARY),
    unsupported("canary-by-header", NO_CANARY),
    unsupported("canary-by-header-pattern", NO_CANARY),
    unsupported("canary-by-header-value", NO_CANARY),
    unsupported("canary-weight", NO_CANARY),
    unsupported("canary-weight-total", NO_CANARY),
    ignored("client-body-buffer-size", "gatehouse streams request bodies to the backend and never buffers them to disk."),
    // A snippet can hold `deny` or `return 403`, so losing it can let requests through.
    unsupported_access("configuration-snippet", SNIPPET),
    ignored("connection-proxy-header", "gatehouse manages the upstream Connection header itself, keeping connections alive and passing upgrades."),
    unsupported("cors-allow-credentials", NO_CORS),
    unsupported("cors-allow-headers", NO_CORS),
    unsupported("cors-allow-methods", NO_CORS),
    unsupported("cors-allow-origin", NO_CORS),
    unsupported("cors-expose-headers", NO_CORS),
    unsupported("cors-max-age", NO_CORS),
    unsupported("custom-headers", "The headers from that ConfigMap are not added to responses."),
    unsupported("custom-http-errors", "Error responses from the backend reach the client unchanged."),
    unsupported("default-backend", "When no endpoint is ready gatehouse answers 503 itself instead of using this Service."),
    differs_access("denylist-source-range", PEER_ADDRESS),
    ignored("disable-proxy-intercept-errors", "gatehouse never intercepts backend errors, which is what this asks for."),
    unsupported("enable-access-log", "Requests are still logged; `--access-log off` turns the log off for every Ingress."),
    unsupported("enable-cors", "No CORS headers are added and preflight requests reach the backend."),
    supported_access("enable-global-auth"),
    unsupported_access("enable-modsecurity", "No web application firewall inspects requests."),
    unsupported("enable-opentelemetry", "gatehouse exports no OpenTelemetry spans."),
    ignored("enable-opentracing", NO_OPENTRACING),
    unsupported_access("enable-owasp-core-rules", "The OWASP core rule set is not applied: no web application firewall inspects requests."),
    ignored("enable-rewrite-log", "Only turns on nginx's rewrite debug log, which gatehouse does not have."),
    unsupported("fastcgi-index", NO_FASTCGI),
    unsupported("fastcgi-params-configmap", NO_FASTCGI),
    supported("force-ssl-redirect"),
    unsupported("from-to-www-redirect", "No redirect is made between the `www.` name and the bare name."),
    ignored("http2-push-preload", "Browsers no longer accept HTTP/2 server push, so pages load the same without it."),
    ignored("limit-allowlist", "Exempts addresses from rate limits, and gatehouse applies none."),
    unsupported("limit-burst-multiplier", NO_RATE_LIMIT),
    unsupported("limit-connections", NO_RATE_LIMIT),
    unsupported("limit-rate", "Responses are sent at full speed; the bandwidth limit is not applied."),
    unsupported("limit-rate-after", "Responses are sent at full speed; the bandwidth limit is not applied."),
    unsupported("limit-rpm", NO_RATE_LIMIT),
    unsupported("limit-rps", NO_RATE_LIMIT),
    ignored("limit-whitelist", "Exempts addresses from rate limits, and gatehouse applies none."),
    ignored("load-balance", "gatehouse spreads requests round-robin (ingress-nginx's default) over every ready endpoint."),
    unsupported("mirror-host", NO_MIRROR),
    unsupported("mirror-request-body", NO_MIRROR),
    unsupported("mirror-target", "Requests are not copied to the mirror."),
    unsupported_access("modsecurity-snippet", "No ModSecurity rules are applied: no web application firewall inspects requests."),
    unsupported("modsecurity-transaction-id", NO_MODSECURITY),
    unsupported("opentelemetry-operation-name", NO_OTEL),
    unsupported("opentelemetry-trust-incoming-span", NO_OTEL),
    ignored("opentracing-trust-incoming-span", NO_OPENTRACING),
    unsupported("permanent-redirect", "Requests reach the backend instead of being redirected."),
    unsupported("permanent-redirect-code", "Has no effect: `permanent-redirect` is not supported."),
    ignored("preserve-trailing-slash", "gatehouse's HTTPS redirect always keeps the path exactly, trailing slash included."),
    supported("proxy-body-size"),
    ignored("proxy-buffer-size", "Sizes nginx's response header buffer; gatehouse accepts large backend headers without it."),
    ignored("proxy-buffering", "gatehouse streams responses to the client (ingress-nginx's default, `off`); with `on`, nginx would buffer a response before sending it, gatehouse still streams it."),
    ignored("proxy-buffers-number", NGINX_BUFFERS),
    ignored("proxy-busy-buffers-size", NGINX_BUFFERS),
    differs("proxy-connect-timeout", "Accepts seconds like ingress-nginx, and also values with units (`500ms`, `5s`)."),
    unsupported("proxy-cookie-domain", "Cookie domains set by the backend reach the client unchanged."),
    unsupported("proxy-cookie-path", "Cookie paths set by the backend reach the client unchanged."),
    unsupported("proxy-http-version", "gatehouse always speaks HTTP/1.1 to backends."),
    ignored("proxy-max-temp-file-size", "gatehouse never buffers responses to temporary files."),
    differs("proxy-next-upstream", "`error`, `timeout` and `non_idempotent` act as in ingress-nginx (a request that failed before any response byte arrived is tried on another endpoint); `invalid_header` and `http_*` are accepted but never retry: gatehouse streams responses, so an answer that has begun is never replaced."),
    supported("proxy-next-upstream-timeout"),
    supported("proxy-next-upstream-tries"),
    differs("proxy-read-timeout", "Accepts seconds like ingress-nginx, and also values with units; on a WebSocket it is the idle timeout in both directions."),
    unsupported("proxy-redirect-from", "Location and Refresh headers from the backend reach the client unchanged."),
    unsupported("proxy-redirect-to", "Location and Refresh headers from the backend reach the client unchanged."),
    ignored("proxy-request-buffering", "gatehouse streams request bodies to the backend, as with `off`; with `on` (ingress-nginx's default) nginx reads the whole body first, gatehouse still streams it (the body limit is checked either way)."),
    differs("proxy-send-timeout", "Accepts seconds like ingress-nginx, and also values with units."),
    unsupported("proxy-ssl-ciphers", NO_BACKEND_TLS),
    differs("proxy-ssl-name", "Without it the name is `upstream-vhost` (without port), else an ExternalName Service's name, else the Service's `<service>.<namespace>.svc`, not nginx's `$proxy_host`; it also applies without `proxy-ssl-secret` (ingress-nginx reads it only with one)."),
    unsupported("proxy-ssl-protocols", NO_BACKEND_TLS),
    differs_access("proxy-ssl-secret", "The value must be `NAMESPACE/NAME` (any namespace, as ingress-nginx with cross-namespace resources allowed) and the Secret is read by name. A missing or unusable Secret (half a key pair, bad PEM, a key that does not match) makes the Ingress answer 503 with a warning. With `proxy-ssl-verify: on` and no `ca.crt`, backends are still verified, against the system's trust store, where ingress-nginx would not verify."),
    differs("proxy-ssl-server-name", "It also applies without `proxy-ssl-secret` (ingress-nginx reads it only with one); with `proxy-ssl-verify: on` the name is sent as SNI even when this is `off`."),
    differs("proxy-ssl-verify", "With a `ca.crt` in `proxy-ssl-secret` backends are verified against those CAs only, as ingress-nginx; without one (ingress-nginx then does not verify) against the system's trust store, or `SSL_CERT_FILE`. The name is always sent as SNI when verifying."),
    unsupported("proxy-ssl-verify-depth", "Chains of any length up to a trusted root are accepted."),
    ignored("relative-redirects", "Only affects redirects nginx makes itself; gatehouse makes none but the HTTPS redirect."),
    unsupported("rewrite-target", "Requests reach the backend with the original path."),
    supported_access("satisfy"),
    unsupported("server-alias", "The extra host names get no routes, so requests for them are not served by this Ingress."),
    // Like configuration-snippet, a server snippet can refuse requests.
    unsupported_access("server-snippet", SNIPPET),
    differs("service-upstream", "A headless Service (no cluster IP) is a warning and its endpoints are used; ignored for ExternalName Services, as ingress-nginx."),
    unsupported("session-cookie-change-on-failure", NO_AFFINITY),
    unsupported("session-cookie-conditional-samesite-none", NO_AFFINITY),
    unsupported("session-cookie-domain", NO_AFFINITY),
    unsupported("session-cookie-expires", NO_AFFINITY),
    unsupported("session-cookie-max-age", NO_AFFINITY),
    unsupported("session-cookie-name", NO_AFFINITY),
    unsupported("session-cookie-path", NO_AFFINITY),
    unsupported("session-cookie-samesite", NO_AFFINITY),
    unsupported("session-cookie-secure", NO_AFFINITY),
    unsupported("ssl-ciphers", "gatehouse offers rustls's fixed set of modern cipher suites."),
    unsupported("ssl-passthrough", "gatehouse terminates TLS itself and sends plain HTTP to the backend."),
    ignored("ssl-prefer-server-ciphers", "Every suite rustls offers is strong, so whose preference wins does not matter."),
    supported("ssl-redirect"),
    ignored("stream-snippet", "gatehouse proxies no TCP or UDP streams and never runs configuration text."),
    unsupported("temporal-redirect", "Requests reach the backend instead of being redirected."),
    unsupported("temporal-redirect-code", "Has no effect: `temporal-redirect` is not supported."),
    unsupported("upstream-hash-by", "Requests are spread round-robin, so a key no longer sticks to one endpoint."),
    unsupported("upstream-hash-by-subset", NO_HASH),
    unsupported("upstream-hash-by-subset-size", NO_HASH),
    supported("upstream-vhost"),
    ignored("use-port-in-redirects", "Only affects redirects nginx makes itself; gatehouse makes none but the HTTPS redirect."),
    unsupported("use-regex", "Paths are matched as prefixes, not regular expressions."),
    differs_access("whitelist-source-range", PEER_ADDRESS),
    unsupported("x-forwarded-prefix", "No `X-Forwarded-Prefix` header is sent to the backend."),
];

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Every annotation the brief names as access control.
    const ACCESS_CONTROL: &[&str] = &[
        "allowlist-source-range",
        "auth-secret",
        "auth-secret-type",
        "auth-tls-match-cn",
        "auth-tls-secret",
        "auth-tls-verify-client",
        "auth-tls-verify-depth",
        "auth-type",
        "auth-url",
        "denylist-source-range",
        "enable-global-auth",
        "enable-modsecurity",
        "enable-owasp-core-rules",
        "modsecurity-snippet",
        "proxy-ssl-secret",
        "satisfy",
        "whitelist-source-range",
    ];

    /// Both tables: sorted (so `lookup`'s binary search holds), no duplicates, bare
    /// lowercase keys.
    pub(in crate::translate::annotations) fn assert_well_formed(names: &[&str]) {
        for pair in names.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{} must come before {}",
                pair[0],
                pair[1]
            );
        }
        for name in names {
            assert!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name:?} is not a bare key"
            );
        }
    }

    #[test]
    fn sorted_unique_bare_keys() {
        let names: Vec<&str> = ANNOTATIONS.iter().map(|a| a.name).collect();
        assert_well_formed(&names);
    }

    #[test]
    fn complete_enough() {
        // ingress-nginx documents 140 keys (aliases and legacy names included); a truncated
        // table fails here.
        assert!(ANNOTATIONS.len() >= 135, "{} entries", ANNOTATIONS.len());
    }

    #[test]
    fn lookup_finds_known_and_rejects_unknown() {
        for name in ["affinity", "auth-url", "ssl-redirect", "x-forwarded-prefix"] {
            assert_eq!(lookup(name).map(|a| a.name), Some(name));
        }
        assert_eq!(
            lookup("ssl-redirect").map(|a| a.support),
            Some(Support::Supported)
        );
        assert_eq!(
            lookup("force-ssl-redirect").map(|a| a.support),
            Some(Support::Supported)
        );
        assert!(matches!(
            lookup("proxy-connect-timeout").map(|a| a.support),
            Some(Support::SupportedWithDifference(_))
        ));
        for name in [
            "",
            "no-such-annotation",
            "Auth-Url",
            "nginx.ingress.kubernetes.io/auth-url",
            "a",
            "zzz",
        ] {
            assert!(lookup(name).is_none(), "{name:?}");
        }
    }

    #[test]
    fn only_the_implemented_ones_are_supported() {
        let read: Vec<_> = ANNOTATIONS
            .iter()
            .filter(|a| {
                matches!(
                    a.support,
                    Support::Supported | Support::SupportedWithDifference(_)
                )
            })
            .map(|a| a.name)
            .collect();
        // The supported set is exactly what the annotations module reads: no second list.
        assert_eq!(read, crate::translate::annotations::READ);
    }

    #[test]
    fn strip_prefix_handles_both_prefixes() {
        assert_eq!(
            strip_prefix("nginx.ingress.kubernetes.io/auth-url"),
            Some("auth-url")
        );
        assert_eq!(
            strip_prefix("gatehouse.dev/ssl-redirect"),
            Some("ssl-redirect")
        );
        assert_eq!(strip_prefix("gatehouse.dev/acme"), Some("acme"));
        for other in [
            "auth-url",
            "kubernetes.io/ingress.class",
            "cert-manager.io/cluster-issuer",
            "ingress.kubernetes.io/auth-url",
            "x.nginx.ingress.kubernetes.io/auth-url",
        ] {
            assert_eq!(strip_prefix(other), None, "{other}");
        }
    }

    #[test]
    fn access_control_keys_are_flagged() {
        for name in ACCESS_CONTROL {
            let entry = lookup(name);
            assert!(entry.is_some_and(|a| a.access_control), "{name}");
        }
        for name in [
            "auth-realm",
            "auth-signin",
            "auth-snippet",
            "limit-rps",
            "limit-connections",
            "proxy-buffer-size",
            "rewrite-target",
            "ssl-redirect",
            "session-cookie-name",
        ] {
            assert!(lookup(name).is_some_and(|a| !a.access_control), "{name}");
        }
    }

    #[test]
    fn off_values_of_access_control_ask_for_nothing() {
        // (name, value, asks for nothing)
        let cases = [
            ("enable-modsecurity", "false", true),
            ("enable-modsecurity", " False ", true),
            ("enable-modsecurity", "true", false),
            ("enable-modsecurity", "maybe", false),
            ("enable-global-auth", "0", true),
            ("enable-owasp-core-rules", "false", true),
            ("auth-tls-verify-client", "off", true),
            ("auth-tls-verify-client", "on", false),
            ("auth-tls-verify-client", "optional", false),
            ("auth-url", "false", false),
            ("auth-type", "off", false),
            ("satisfy", "all", false),
            ("use-regex", "false", true),
            ("use-regex", "true", false),
            ("canary", "false", true),
            ("canary", "true", false),
            ("ssl-passthrough", "0", true),
            ("rewrite-target", "false", false),
        ];
        for (name, value, want) in cases {
            assert_eq!(asks_for_nothing(name, value), want, "{name}: {value:?}");
        }
    }

    #[test]
    fn routing_changes_are_known_unsupported_and_sorted() {
        assert_well_formed(CHANGES_ROUTING);
        for name in CHANGES_ROUTING {
            let entry = lookup(name);
            assert!(
                entry.is_some_and(|a| matches!(a.support, Support::Unsupported(_))),
                "{name}"
            );
            assert!(changes_routing(name), "{name}");
        }
        for name in ["affinity", "ssl-redirect", "proxy-body-size", "zzz"] {
            assert!(!changes_routing(name), "{name}");
        }
        assert!(is_snippet("configuration-snippet") && is_snippet("auth-snippet"));
        assert!(!is_snippet("snippets") && !is_snippet("auth-url"));
    }

    #[test]
    fn access_control_is_never_ignored() {
        // Ignoring something that guards access is never harmless.
        for a in ANNOTATIONS.iter().filter(|a| a.access_control) {
            assert!(!matches!(a.support, Support::Ignored(_)), "{}", a.name);
        }
    }

    #[test]
    fn every_text_is_a_sentence() {
        for a in ANNOTATIONS {
            if let Some(t) = Support::explanation(a.support) {
                assert!(!t.trim().is_empty(), "{}", a.name);
                assert!(t.ends_with('.'), "{}: {t}", a.name);
            }
        }
    }
}
