//! Every annotation gatehouse reads, in one place: the keys, a typed parser for each, and the
//! mapping of an Ingress's annotations onto its routes' [`RoutePolicy`]. Per-route annotations
//! are read under ingress-nginx's `nginx.ingress.kubernetes.io/` prefix and under gatehouse's
//! own `gatehouse.dev/` (same names; gatehouse's wins when both are set). An invalid value is a
//! warning naming the Ingress and the key, and the default applies — except for access control
//! (the source-range lists, basic authentication and `satisfy`), where an invalid value refuses
//! the Ingress: access control never falls back to serving everyone. Basic authentication is
//! parsed here into a [`BasicAuthRequest`]; translation reads the Secret it names.
//!
//! Every other annotation under either prefix is looked up in the [`catalog`]: access control
//! gatehouse does not implement refuses the Ingress's routes (503, see
//! [`UnsupportedAnnotations`]); anything else unsupported or unknown is one warning; keys the
//! catalog calls harmless to ignore are passed over silently.
//!
//! A new per-route annotation is: a key in [`READ`], a field and its parse in
//! [`IngressAnnotations::parse`], a field of [`RoutePolicy`] set in
//! [`IngressAnnotations::route_policy`], the request step that reads it, and their tests.

pub mod catalog;
pub mod configmap;
pub mod forward_auth;
pub mod values;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_routes::{
    BackendProtocol, BasicAuth, ForwardAuth, RetryPolicy, RoutePolicy, Satisfy, SourceRanges,
    UpstreamTls,
};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use super::basic_auth::BasicAuthRequest;
use super::proxy_ssl::ProxySslRequest;
use super::{ObjectRef, Warning, WarningKind};

/// ingress-nginx's annotation prefix.
pub const NGINX_PREFIX: &str = "nginx.ingress.kubernetes.io/";
/// gatehouse's own prefix; it takes the same names and wins over [`NGINX_PREFIX`].
pub const GATEHOUSE_PREFIX: &str = "gatehouse.dev/";

/// `"false"`: hosts with TLS do not redirect plain HTTP to HTTPS (default `true`).
pub const SSL_REDIRECT: &str = "ssl-redirect";
/// `"true"`: plain HTTP is redirected to HTTPS even for hosts without TLS.
pub const FORCE_SSL_REDIRECT: &str = "force-ssl-redirect";
/// Upstream connect timeout: seconds, or a duration with a unit.
pub const PROXY_CONNECT_TIMEOUT: &str = "proxy-connect-timeout";
/// Largest request body: bytes, or with `k`, `m`, `g` (`0`: no limit).
pub const PROXY_BODY_SIZE: &str = "proxy-body-size";
/// Longest pause between two reads from the upstream: seconds, or a duration with a unit.
pub const PROXY_READ_TIMEOUT: &str = "proxy-read-timeout";
/// Longest pause between two writes to the upstream: seconds, or a duration with a unit.
pub const PROXY_SEND_TIMEOUT: &str = "proxy-send-timeout";
/// When to try another endpoint: `error`, `timeout`, `non_idempotent`, … or `off`.
pub const PROXY_NEXT_UPSTREAM: &str = "proxy-next-upstream";
/// Tries in all, the first included (`0`: as many as there are endpoints).
pub const PROXY_NEXT_UPSTREAM_TRIES: &str = "proxy-next-upstream-tries";
/// No new try after this long since the first (`0`: no limit).
pub const PROXY_NEXT_UPSTREAM_TIMEOUT: &str = "proxy-next-upstream-timeout";
/// The protocol spoken to the backends: HTTP, HTTPS, AUTO_HTTP, GRPC, GRPCS, H2C.
pub const BACKEND_PROTOCOL: &str = "backend-protocol";
/// `on` verifies a TLS backend's certificate and name (default `off`).
pub const PROXY_SSL_VERIFY: &str = "proxy-ssl-verify";
/// The name a TLS backend's certificate is verified against and sent as SNI.
pub const PROXY_SSL_NAME: &str = "proxy-ssl-name";
/// The Secret (`NAMESPACE/NAME`) with the client certificate (`tls.crt`, `tls.key`) presented
/// to TLS backends and the CAs (`ca.crt`) they are verified against.
pub const PROXY_SSL_SECRET: &str = "proxy-ssl-secret";
/// `on` sends the server name as SNI to TLS backends (default `off`).
pub const PROXY_SSL_SERVER_NAME: &str = "proxy-ssl-server-name";
/// `"true"`: requests go to the Service's cluster IP instead of its endpoints.
pub const SERVICE_UPSTREAM: &str = "service-upstream";
/// The Host header sent to the backends.
pub const UPSTREAM_VHOST: &str = "upstream-vhost";
/// Only clients in these ranges are served (comma-separated CIDRs or addresses).
pub const ALLOWLIST_SOURCE_RANGE: &str = "allowlist-source-range";
/// ingress-nginx's older name for [`ALLOWLIST_SOURCE_RANGE`] (cert-manager still sets it).
pub const WHITELIST_SOURCE_RANGE: &str = "whitelist-source-range";
/// Clients in these ranges are refused (comma-separated CIDRs or addresses).
pub const DENYLIST_SOURCE_RANGE: &str = "denylist-source-range";
/// `basic` asks for HTTP basic authentication (`digest` is not supported: it refuses).
pub const AUTH_TYPE: &str = "auth-type";
/// The Secret with the credentials: `NAME` in the Ingress's namespace, or `NAMESPACE/NAME`.
pub const AUTH_SECRET: &str = "auth-secret";
/// How the Secret holds them: `auth-file` (default: htpasswd lines under key `auth`) or
/// `auth-map` (each key a user, each value a hash).
pub const AUTH_SECRET_TYPE: &str = "auth-secret-type";
/// The realm of the `WWW-Authenticate` challenge.
pub const AUTH_REALM: &str = "auth-realm";
/// The auth service asked before each request (external authentication).
pub const AUTH_URL: &str = "auth-url";
/// The method of the auth subrequest (default: the request's own).
pub const AUTH_METHOD: &str = "auth-method";
/// Where a 401 from the auth service redirects.
pub const AUTH_SIGNIN: &str = "auth-signin";
/// The sign-in URL's parameter that carries the original URL (default `rd`).
pub const AUTH_SIGNIN_REDIRECT_PARAM: &str = "auth-signin-redirect-param";
/// Headers of the auth answer copied onto the upstream request (comma-separated).
pub const AUTH_RESPONSE_HEADERS: &str = "auth-response-headers";
/// The auth subrequest's `X-Auth-Request-Redirect` (default `$request_uri`).
pub const AUTH_REQUEST_REDIRECT: &str = "auth-request-redirect";
/// `proxy_set_header` lines for the auth subrequest.
pub const AUTH_SNIPPET: &str = "auth-snippet";
/// `"true"`: the auth answer's `Set-Cookie` goes on every response, not only successful ones.
pub const AUTH_ALWAYS_SET_COOKIE: &str = "auth-always-set-cookie";
/// `"false"`: the process's global auth URL does not apply to this Ingress.
pub const ENABLE_GLOBAL_AUTH: &str = "enable-global-auth";
/// `all` (default): the source lists and authentication must both pass; `any`: either suffices.
pub const SATISFY: &str = "satisfy";
/// The per-route names read under both prefixes, sorted.
pub const READ: &[&str] = &[
    ALLOWLIST_SOURCE_RANGE,
    AUTH_ALWAYS_SET_COOKIE,
    AUTH_METHOD,
    AUTH_REALM,
    AUTH_REQUEST_REDIRECT,
    AUTH_RESPONSE_HEADERS,
    AUTH_SECRET,
    AUTH_SECRET_TYPE,
    AUTH_SIGNIN,
    AUTH_SIGNIN_REDIRECT_PARAM,
    AUTH_SNIPPET,
    AUTH_TYPE,
    AUTH_URL,
    BACKEND_PROTOCOL,
    DENYLIST_SOURCE_RANGE,
    ENABLE_GLOBAL_AUTH,
    FORCE_SSL_REDIRECT,
    PROXY_BODY_SIZE,
    PROXY_CONNECT_TIMEOUT,
    PROXY_NEXT_UPSTREAM,
    PROXY_NEXT_UPSTREAM_TIMEOUT,
    PROXY_NEXT_UPSTREAM_TRIES,
    PROXY_READ_TIMEOUT,
    PROXY_SEND_TIMEOUT,
    PROXY_SSL_NAME,
    PROXY_SSL_SECRET,
    PROXY_SSL_SERVER_NAME,
    PROXY_SSL_VERIFY,
    SATISFY,
    SERVICE_UPSTREAM,
    SSL_REDIRECT,
    UPSTREAM_VHOST,
    WHITELIST_SOURCE_RANGE,
];

/// `"true"` asks gatehouse to issue the Ingress's certificates with ACME (gatehouse's own key).
pub const ACME: &str = "gatehouse.dev/acme";
/// `"true"` routes request paths holding `%2F` / `%5C` instead of refusing them (gatehouse's
/// own key: ingress-nginx has no such switch and always lets them through).
pub const ALLOW_ENCODED_SLASHES: &str = "gatehouse.dev/allow-encoded-slashes";
/// The keys that exist only under gatehouse's prefix.
pub const OWN: &[&str] = &[ACME, ALLOW_ENCODED_SLASHES];
/// The annotation that named an Ingress's class before `spec.ingressClassName`.
pub const LEGACY_CLASS: &str = "kubernetes.io/ingress.class";
/// The annotation that marks an IngressClass as the cluster's default.
pub const DEFAULT_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";

/// The longest `proxy-connect-timeout` accepted (nginx caps connects at 75 s in practice).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(3600);
/// The longest read/send timeout accepted (long-polling and streaming apps ask for hours).
const MAX_IO_TIMEOUT: Duration = Duration::from_secs(86_400);

/// What an Ingress gets when an annotation asks for access control gatehouse does not
/// implement (`--unsupported-annotations`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnsupportedAnnotations {
    /// Every route of the Ingress answers 503 naming the annotation (and a warning says so).
    #[default]
    FailClosed,
    /// The Ingress is served without the check (and a warning says so).
    Ignore,
}

/// What an Ingress's annotations ask for, typed. `Default` is no annotations at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressAnnotations {
    /// Hosts with TLS redirect plain HTTP to HTTPS (`ssl-redirect`, default true).
    pub ssl_redirect: bool,
    /// Redirect plain HTTP to HTTPS whether or not the host has TLS (`force-ssl-redirect`).
    pub force_ssl_redirect: bool,
    /// Upstream connect timeout (`proxy-connect-timeout`); `None` keeps the proxy's default.
    pub connect_timeout: Option<Duration>,
    /// ACME opt-in (`gatehouse.dev/acme`); `None` leaves it to `--acme-all`.
    pub acme: Option<bool>,
    /// Paths with encoded slashes are routed, not refused (`gatehouse.dev/allow-encoded-slashes`).
    pub allow_encoded_slashes: bool,
    /// Only these clients are served (`allowlist-source-range`, alias
    /// `whitelist-source-range`).
    pub allow_sources: Option<SourceRanges>,
    /// These clients are refused (`denylist-source-range`).
    pub deny_sources: Option<SourceRanges>,
    /// Largest request body (`proxy-body-size`); `None` keeps the instance's limit.
    pub body_max: Option<u64>,
    /// Upstream read timeout (`proxy-read-timeout`); `None` keeps the instance's.
    pub read_timeout: Option<Duration>,
    /// Upstream send timeout (`proxy-send-timeout`); `None` keeps the instance's.
    pub send_timeout: Option<Duration>,
    /// Retries on another endpoint (`proxy-next-upstream`, `-tries`, `-timeout`).
    pub retry: RetryPolicy,
    /// Basic authentication (`auth-type: basic` with `auth-secret`), before its Secret is read.
    pub basic_auth: Option<BasicAuthRequest>,
    /// How the source lists and authentication combine (`satisfy`).
    pub satisfy: Satisfy,
    /// External authentication (`auth-url` and its companions).
    pub forward_auth: Option<Arc<ForwardAuth>>,
    /// The process's global auth URL applies unless the Ingress has its own
    /// (`enable-global-auth`, default true).
    pub global_auth: bool,
    /// The protocol spoken to the backends (`backend-protocol`, default HTTP).
    pub backend_protocol: BackendProtocol,
    /// Verification and server name towards TLS backends (`proxy-ssl-verify`,
    /// `proxy-ssl-name`, `proxy-ssl-server-name`).
    pub upstream_tls: UpstreamTls,
    /// The Secret with backend CAs and client certificate (`proxy-ssl-secret`), before it is
    /// read; translation fills `upstream_tls` from it.
    pub proxy_ssl_secret: Option<ProxySslRequest>,
    /// The Host header sent to the backends (`upstream-vhost`).
    pub upstream_vhost: Option<Arc<str>>,
    /// Route to the Service's cluster IP and port instead of its endpoints
    /// (`service-upstream`); translation reads it when resolving backends, so it is not a
    /// policy field.
    pub service_upstream: bool,
    /// Why every route of the Ingress answers 503: access control that is invalid, or that
    /// gatehouse does not implement (unless ignored by flag). `None` serves.
    pub refuse: Option<Arc<str>>,
}

impl Default for IngressAnnotations {
    fn default() -> Self {
        Self {
            ssl_redirect: true,
            force_ssl_redirect: false,
            connect_timeout: None,
            acme: None,
            allow_encoded_slashes: false,
            allow_sources: None,
            deny_sources: None,
            body_max: None,
            read_timeout: None,
            send_timeout: None,
            retry: RetryPolicy::default(),
            basic_auth: None,
            satisfy: Satisfy::All,
            forward_auth: None,
            global_auth: true,
            backend_protocol: BackendProtocol::Http,
            upstream_tls: UpstreamTls::default(),
            proxy_ssl_secret: None,
            upstream_vhost: None,
            service_upstream: false,
            refuse: None,
        }
    }
}

impl IngressAnnotations {
    /// Parses the annotations of `ing`; every invalid value becomes a warning and keeps its
    /// default, except that invalid access control refuses the Ingress. `unsupported` says
    /// what access control gatehouse does not implement does to it.
    pub fn parse(ing: &Ingress, unsupported: UnsupportedAnnotations) -> (Self, Vec<Warning>) {
        let mut reader = Reader {
            // Only keys under the two prefixes are read: an Ingress with none of them (most, at
            // scale) skips every per-key lookup, each of which builds its key with `format!`
            // (a quarter of translate()'s time at 10k Ingresses).
            annotations: ing
                .metadata
                .annotations
                .as_ref()
                .filter(|a| a.keys().any(|k| catalog::strip_prefix(k).is_some())),
            object: ObjectRef::ingress(ing),
            warnings: Vec::new(),
            refused: Vec::new(),
        };
        let defaults = Self::default();
        let parsed = Self {
            ssl_redirect: reader
                .route(SSL_REDIRECT, values::parse_bool)
                .unwrap_or(defaults.ssl_redirect),
            force_ssl_redirect: reader
                .route(FORCE_SSL_REDIRECT, values::parse_bool)
                .unwrap_or(defaults.force_ssl_redirect),
            connect_timeout: reader.route(PROXY_CONNECT_TIMEOUT, |v| {
                values::parse_duration(v, MAX_CONNECT_TIMEOUT)
            }),
            acme: reader.exact(ACME, values::parse_bool),
            allow_encoded_slashes: reader
                .exact(ALLOW_ENCODED_SLASHES, values::parse_bool)
                .unwrap_or(defaults.allow_encoded_slashes),
            allow_sources: reader.access(
                &[ALLOWLIST_SOURCE_RANGE, WHITELIST_SOURCE_RANGE],
                values::parse_source_ranges,
            ),
            deny_sources: reader.access(&[DENYLIST_SOURCE_RANGE], values::parse_source_ranges),
            body_max: reader.route(PROXY_BODY_SIZE, values::parse_size),
            read_timeout: reader.route(PROXY_READ_TIMEOUT, |v| {
                values::parse_duration(v, MAX_IO_TIMEOUT)
            }),
            send_timeout: reader.route(PROXY_SEND_TIMEOUT, |v| {
                values::parse_duration(v, MAX_IO_TIMEOUT)
            }),
            retry: reader.retry_policy(),
            basic_auth: reader.basic_auth(unsupported),
            satisfy: reader
                .access(&[SATISFY], values::parse_satisfy)
                .unwrap_or_default(),
            forward_auth: reader.forward_auth().map(Arc::new),
            global_auth: reader
                .access(&[ENABLE_GLOBAL_AUTH], values::parse_bool)
                .unwrap_or(defaults.global_auth),
            backend_protocol: reader
                .route(BACKEND_PROTOCOL, values::parse_backend_protocol)
                .unwrap_or(defaults.backend_protocol),
            upstream_tls: UpstreamTls {
                verify: reader
                    .route(PROXY_SSL_VERIFY, values::parse_on_off)
                    .unwrap_or(defaults.upstream_tls.verify),
                name: reader.route(PROXY_SSL_NAME, values::parse_server_name),
                server_name: reader
                    .route(PROXY_SSL_SERVER_NAME, values::parse_on_off)
                    .unwrap_or(defaults.upstream_tls.server_name),
                ..defaults.upstream_tls
            },
            proxy_ssl_secret: reader.proxy_ssl_secret(),
            upstream_vhost: reader.route(UPSTREAM_VHOST, values::parse_vhost),
            service_upstream: reader
                .route(SERVICE_UPSTREAM, values::parse_bool)
                .unwrap_or(defaults.service_upstream),
            refuse: None,
        };
        reader.unread(unsupported);
        let refuse = refusal(&reader.refused);
        (Self { refuse, ..parsed }, reader.warnings)
    }

    /// The policy of one route of this Ingress; `redirect_https` is decided by translation
    /// (it depends on the route's host having TLS in its class).
    /// `basic_auth` is the Ingress's basic authentication with its Secret read (see
    /// [`IngressAnnotations::refuse_because`] for when it cannot be).
    pub fn route_policy(&self, redirect_https: bool, basic_auth: Option<BasicAuth>) -> RoutePolicy {
        RoutePolicy {
            redirect_https,
            connect_timeout: self.connect_timeout,
            allow_encoded_slashes: self.allow_encoded_slashes,
            refuse: self.refuse.clone(),
            allow_sources: self.allow_sources.clone(),
            deny_sources: self.deny_sources.clone(),
            body_max: self.body_max,
            read_timeout: self.read_timeout,
            send_timeout: self.send_timeout,
            retry: self.retry,
            basic_auth,
            satisfy: self.satisfy,
            forward_auth: self.forward_auth.clone(),
            backend_protocol: self.backend_protocol,
            upstream_tls: self.upstream_tls.clone(),
            upstream_vhost: self.upstream_vhost.clone(),
        }
    }

    /// Refuses every route of the Ingress because the access control that `key` asks for
    /// cannot be given (`why`), adding to any reason already there.
    pub fn refuse_because(&mut self, key: &str, why: &str) {
        let reason = match &self.refuse {
            Some(r) => format!("{r}, {key} ({why})"),
            None => format!("{REFUSAL_PREFIX}{key} ({why})"),
        };
        self.refuse = Some(Arc::from(reason));
    }
}

/// The reason routes give when refused: the keys and what is wrong with each.
fn refusal(refused: &[(String, Refused)]) -> Option<Arc<str>> {
    if refused.is_empty() {
        return None;
    }
    let list: Vec<String> = refused
        .iter()
        .map(|(key, why)| match why {
            Refused::Invalid => format!("{key} (invalid value)"),
            Refused::Unsupported => format!("{key} (not supported)"),
        })
        .collect();
    Some(Arc::from(format!("{REFUSAL_PREFIX}{}", list.join(", "))))
}

/// How every refusal reason starts.
const REFUSAL_PREFIX: &str = "access control this Ingress asks for cannot be applied: ";

/// Why an access-control annotation refuses its Ingress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    /// Its value does not parse.
    Invalid,
    /// gatehouse does not implement it.
    Unsupported,
}

/// Reads annotation values and records a warning for each one that does not parse.
struct Reader<'a> {
    annotations: Option<&'a BTreeMap<String, String>>,
    object: ObjectRef,
    warnings: Vec<Warning>,
    /// Access-control annotations that refuse the Ingress.
    refused: Vec<(String, Refused)>,
}

impl<'a> Reader<'a> {
    /// A per-route annotation `name`, under gatehouse's prefix first, then ingress-nginx's.
    fn route<T: PartialEq>(
        &mut self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.annotations?;
        let own = self.exact(&format!("{GATEHOUSE_PREFIX}{name}"), &parse);
        let nginx = self.exact(&format!("{NGINX_PREFIX}{name}"), &parse);
        if let (Some(a), Some(b)) = (&own, &nginx) {
            if a != b {
                self.warn(format!(
                    "{GATEHOUSE_PREFIX}{name} and {NGINX_PREFIX}{name} disagree; {GATEHOUSE_PREFIX}{name} applies"
                ));
            }
        }
        own.or(nginx)
    }

    /// `proxy-next-upstream`, `-tries` and `-timeout` over ingress-nginx's defaults.
    fn retry_policy(&mut self) -> RetryPolicy {
        let mut retry = RetryPolicy::default();
        if let Some(on) = self.route(PROXY_NEXT_UPSTREAM, values::parse_next_upstream) {
            retry.on_error = on.error;
            retry.on_timeout = on.timeout;
            retry.non_idempotent = on.non_idempotent;
        }
        if let Some(tries) = self.route(PROXY_NEXT_UPSTREAM_TRIES, |v| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("{v:?} is not a whole number of tries"))
        }) {
            retry.tries = tries;
        }
        if let Some(limit) = self.route(PROXY_NEXT_UPSTREAM_TIMEOUT, |v| {
            if v.trim() == "0" {
                return Ok(None);
            }
            values::parse_duration(v, MAX_IO_TIMEOUT).map(Some)
        }) {
            retry.timeout = limit;
        }
        retry
    }

    /// The annotation with exactly this key.
    fn exact<T>(&mut self, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        let value = self.annotations?.get(key)?;
        match parse(value) {
            Ok(v) => Some(v),
            Err(message) => {
                self.warn(format!("annotation {key}: {message}; the default applies"));
                None
            }
        }
    }

    /// An access-control annotation: the first of `names` (aliases, in order of precedence)
    /// that is set, each under gatehouse's prefix first, then ingress-nginx's. An invalid value
    /// under any of these keys refuses the Ingress, whatever the others say: a list that was
    /// meant to restrict must never be dropped.
    fn access<T: PartialEq>(
        &mut self,
        names: &[&str],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.annotations?;
        let mut chosen: Option<(String, T)> = None;
        for name in names {
            for prefix in [GATEHOUSE_PREFIX, NGINX_PREFIX] {
                let key = format!("{prefix}{name}");
                let Some(value) = self.annotations.and_then(|a| a.get(&key)) else {
                    continue;
                };
                match parse(value) {
                    Ok(v) => {
                        if let Some((first, applied)) = &chosen {
                            if v != *applied {
                                let message =
                                    format!("{key} and {first} disagree; {first} applies");
                                self.warn(message);
                            }
                        } else {
                            chosen = Some((key, v));
                        }
                    }
                    Err(message) => {
                        self.warn(format!(
                            "annotation {key}: {message}; every route of this Ingress answers 503 until it is fixed (invalid access control is never ignored)"
                        ));
                        self.refused.push((key, Refused::Invalid));
                    }
                }
            }
        }
        chosen.map(|(_, v)| v)
    }

    /// Basic authentication: `auth-type` (`basic`; `digest` is unsupported access control,
    /// anything else invalid), the Secret it needs (`auth-secret`, missing or malformed is
    /// invalid), `auth-secret-type` and `auth-realm`. Without `auth-type` the other keys ask
    /// for nothing (as in ingress-nginx) and are passed over.
    fn basic_auth(&mut self, mode: UnsupportedAnnotations) -> Option<BasicAuthRequest> {
        let auth_type = self.access(&[AUTH_TYPE], values::parse_auth_type)?;
        if auth_type != "basic" {
            let key = self.set_key(AUTH_TYPE);
            self.unsupported_access(
                key,
                "digest authentication is not supported: requests would reach the backend without credentials",
                mode,
            );
            return None;
        }
        let secret_type = self.access(&[AUTH_SECRET_TYPE], values::parse_auth_secret_type);
        let realm = self.access(&[AUTH_REALM], values::parse_realm);
        let secret = self.access(&[AUTH_SECRET], values::parse_secret_ref);
        let secret_key = self.set_key(AUTH_SECRET);
        let Some((namespace, name)) = secret else {
            if !self.refused.iter().any(|(k, _)| *k == secret_key) {
                self.warn(format!(
                    "annotation {secret_key} is missing: auth-type basic needs the Secret with the credentials; every route of this Ingress answers 503 until it is set"
                ));
                self.refused.push((secret_key, Refused::Invalid));
            }
            return None;
        };
        Some(BasicAuthRequest {
            secret_key,
            namespace: namespace.unwrap_or_else(|| self.object.namespace.clone()),
            name,
            secret_type: secret_type.unwrap_or_default(),
            realm: Arc::from(realm.unwrap_or_default()),
        })
    }

    /// External authentication: `auth-url` and, only with it (as in ingress-nginx), its
    /// companions. Every one is access control: an invalid value refuses the Ingress.
    fn forward_auth(&mut self) -> Option<ForwardAuth> {
        let url = self.access(&[AUTH_URL], forward_auth::parse_url)?;
        let parts = forward_auth::AuthParts {
            url: Some(url),
            method: self.access(&[AUTH_METHOD], forward_auth::parse_method),
            signin: self.access(&[AUTH_SIGNIN], forward_auth::parse_signin),
            signin_redirect_param: self.access(
                &[AUTH_SIGNIN_REDIRECT_PARAM],
                forward_auth::parse_redirect_param,
            ),
            response_headers: self
                .access(&[AUTH_RESPONSE_HEADERS], forward_auth::parse_header_list),
            request_redirect: self.access(&[AUTH_REQUEST_REDIRECT], forward_auth::parse_template),
            set_headers: self.access(&[AUTH_SNIPPET], forward_auth::parse_auth_snippet),
            always_set_cookie: self.access(&[AUTH_ALWAYS_SET_COOKIE], values::parse_bool),
        };
        match parts.build() {
            Ok(auth) => auth,
            Err(message) => {
                let key = self.set_key(AUTH_SIGNIN);
                self.warn(format!(
                    "annotation {key}: {message}; every route of this Ingress answers 503 until it is fixed (invalid access control is never ignored)"
                ));
                self.refused.push((key, Refused::Invalid));
                None
            }
        }
    }

    /// `proxy-ssl-secret`: a Secret that must be `NAMESPACE/NAME` (another namespace is
    /// allowed, as in ingress-nginx); an invalid value refuses the Ingress like invalid access
    /// control, since it configures how backends are verified.
    fn proxy_ssl_secret(&mut self) -> Option<ProxySslRequest> {
        let (namespace, name) =
            self.access(&[PROXY_SSL_SECRET], values::parse_namespaced_secret_ref)?;
        Some(ProxySslRequest {
            secret_key: self.set_key(PROXY_SSL_SECRET),
            namespace,
            name,
        })
    }

    /// The key `name` is set under (gatehouse's prefix first), or ingress-nginx's key.
    fn set_key(&self, name: &str) -> String {
        let own = format!("{GATEHOUSE_PREFIX}{name}");
        if self.annotations.is_some_and(|a| a.contains_key(&own)) {
            own
        } else {
            format!("{NGINX_PREFIX}{name}")
        }
    }

    /// Access control gatehouse does not implement, asked for by `key`: refuses the Ingress
    /// unless `mode` ignores it; warns either way. `what` says what serving it would mean.
    fn unsupported_access(&mut self, key: String, what: &str, mode: UnsupportedAnnotations) {
        let message = match mode {
            UnsupportedAnnotations::FailClosed => {
                let message = format!(
                    "annotation {key} asks for access control gatehouse does not implement, so every route of this Ingress answers 503 (with --unsupported-annotations=ignore it would be served, and then: {what})"
                );
                self.refused.push((key, Refused::Unsupported));
                message
            }
            UnsupportedAnnotations::Ignore => format!(
                "annotation {key} asks for access control gatehouse does not implement; served without it because of --unsupported-annotations=ignore: {what}"
            ),
        };
        self.push(WarningKind::UnsupportedAccessControl, message);
    }

    /// Every annotation under either prefix that nothing above read, classified by the
    /// catalog: unsupported access control refuses the Ingress (unless `mode` ignores it),
    /// other unsupported or unknown keys warn once, harmless ones pass silently.
    fn unread(&mut self, mode: UnsupportedAnnotations) {
        let Some(annotations) = self.annotations else {
            return;
        };
        for (key, value) in annotations {
            let Some(name) = catalog::strip_prefix(key) else {
                continue;
            };
            if READ.contains(&name) || OWN.contains(&key.as_str()) {
                continue;
            }
            let Some(info) = catalog::lookup(name) else {
                self.push(
                    WarningKind::UnsupportedAnnotation,
                    format!("unknown annotation {key}: gatehouse does not read it"),
                );
                continue;
            };
            match info.support {
                // Read above (a test holds the catalog's supported set equal to READ).
                catalog::Support::Supported | catalog::Support::SupportedWithDifference(_) => {}
                catalog::Support::Ignored(_) => {}
                catalog::Support::Unsupported(_) if catalog::asks_for_nothing(name, value) => {}
                catalog::Support::Unsupported(what) if info.access_control => {
                    self.unsupported_access(key.clone(), what, mode);
                }
                catalog::Support::Unsupported(what) => self.push(
                    WarningKind::UnsupportedAnnotation,
                    format!("annotation {key} is not supported: {what}"),
                ),
            }
        }
    }

    fn warn(&mut self, message: String) {
        self.push(WarningKind::InvalidAnnotation, message);
    }

    fn push(&mut self, kind: WarningKind, message: String) {
        self.warnings
            .push(Warning::new(self.object.clone(), kind, message));
    }
}

/// The class an Ingress names through the legacy annotation, if any.
pub fn legacy_class(ing: &Ingress) -> Option<&str> {
    ing.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LEGACY_CLASS))
        .map(String::as_str)
}

/// True when an IngressClass is marked as the cluster's default.
pub fn is_default_class(class: &IngressClass) -> bool {
    class
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CLASS))
        .is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests;
