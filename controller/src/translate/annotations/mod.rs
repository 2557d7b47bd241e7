//! Every annotation gatehouse reads, in one place: the keys, a typed parser for each, and the
//! mapping of an Ingress's annotations onto its routes' [`RoutePolicy`]. Per-route annotations
//! are read under ingress-nginx's `nginx.ingress.kubernetes.io/` prefix and under gatehouse's
//! own `gatehouse.dev/` (same names; gatehouse's wins when both are set). An invalid value is a
//! warning naming the Ingress and the key, and the default applies — except for access control
//! (the source-range lists), where an invalid value refuses the Ingress: access control never
//! falls back to serving everyone.
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
pub mod values;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_routes::{BackendProtocol, RoutePolicy, SourceRanges, UpstreamTls};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

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
/// The protocol spoken to the backends: HTTP, HTTPS, AUTO_HTTP, GRPC, GRPCS, H2C.
pub const BACKEND_PROTOCOL: &str = "backend-protocol";
/// `on` verifies a TLS backend's certificate and name (default `off`).
pub const PROXY_SSL_VERIFY: &str = "proxy-ssl-verify";
/// The name a TLS backend's certificate is verified against and sent as SNI.
pub const PROXY_SSL_NAME: &str = "proxy-ssl-name";
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
/// The per-route names read under both prefixes, sorted.
pub const READ: &[&str] = &[
    ALLOWLIST_SOURCE_RANGE,
    BACKEND_PROTOCOL,
    DENYLIST_SOURCE_RANGE,
    FORCE_SSL_REDIRECT,
    PROXY_CONNECT_TIMEOUT,
    PROXY_SSL_NAME,
    PROXY_SSL_SERVER_NAME,
    PROXY_SSL_VERIFY,
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
    /// The protocol spoken to the backends (`backend-protocol`, default HTTP).
    pub backend_protocol: BackendProtocol,
    /// Verification and server name towards TLS backends (`proxy-ssl-verify`,
    /// `proxy-ssl-name`, `proxy-ssl-server-name`).
    pub upstream_tls: UpstreamTls,
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
            backend_protocol: BackendProtocol::Http,
            upstream_tls: UpstreamTls::default(),
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
            annotations: ing.metadata.annotations.as_ref(),
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
            },
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
    pub fn route_policy(&self, redirect_https: bool) -> RoutePolicy {
        RoutePolicy {
            redirect_https,
            connect_timeout: self.connect_timeout,
            allow_encoded_slashes: self.allow_encoded_slashes,
            refuse: self.refuse.clone(),
            allow_sources: self.allow_sources.clone(),
            deny_sources: self.deny_sources.clone(),
            backend_protocol: self.backend_protocol,
            upstream_tls: self.upstream_tls.clone(),
            upstream_vhost: self.upstream_vhost.clone(),
        }
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
    Some(Arc::from(format!(
        "access control this Ingress asks for cannot be applied: {}",
        list.join(", ")
    )))
}

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
                    let message = match mode {
                        UnsupportedAnnotations::FailClosed => {
                            self.refused.push((key.clone(), Refused::Unsupported));
                            format!(
                                "annotation {key} asks for access control gatehouse does not implement, so every route of this Ingress answers 503 (with --unsupported-annotations=ignore it would be served, and then: {what})"
                            )
                        }
                        UnsupportedAnnotations::Ignore => format!(
                            "annotation {key} asks for access control gatehouse does not implement; served without it because of --unsupported-annotations=ignore: {what}"
                        ),
                    };
                    self.push(WarningKind::UnsupportedAccessControl, message);
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
