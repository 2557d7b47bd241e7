//! Every annotation gatehouse reads, in one place: the keys, a typed parser for each, and the
//! mapping of an Ingress's annotations onto its routes' [`RoutePolicy`]. Per-route annotations
//! are read under ingress-nginx's `nginx.ingress.kubernetes.io/` prefix and under gatehouse's
//! own `gatehouse.dev/` (same names; gatehouse's wins when both are set). An invalid value is a
//! warning naming the Ingress and the key, and the default applies.
//!
//! A new per-route annotation is: a key in [`READ`], a field and its parse in
//! [`IngressAnnotations::parse`], a field of [`RoutePolicy`] set in
//! [`IngressAnnotations::route_policy`], the request step that reads it, and their tests.

pub mod catalog;
pub mod configmap;
pub mod values;

use std::collections::BTreeMap;
use std::time::Duration;

use gatehouse_routes::RoutePolicy;
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
/// The per-route names read under both prefixes, sorted.
pub const READ: &[&str] = &[FORCE_SSL_REDIRECT, PROXY_CONNECT_TIMEOUT, SSL_REDIRECT];

/// `"true"` asks gatehouse to issue the Ingress's certificates with ACME (gatehouse's own key).
pub const ACME: &str = "gatehouse.dev/acme";
/// `"true"` routes request paths holding `%2F` / `%5C` instead of refusing them (gatehouse's
/// own key: ingress-nginx has no such switch and always lets them through).
pub const ALLOW_ENCODED_SLASHES: &str = "gatehouse.dev/allow-encoded-slashes";
/// The annotation that named an Ingress's class before `spec.ingressClassName`.
pub const LEGACY_CLASS: &str = "kubernetes.io/ingress.class";
/// The annotation that marks an IngressClass as the cluster's default.
pub const DEFAULT_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";

/// The longest `proxy-connect-timeout` accepted (nginx caps connects at 75 s in practice).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(3600);

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
}

impl Default for IngressAnnotations {
    fn default() -> Self {
        Self {
            ssl_redirect: true,
            force_ssl_redirect: false,
            connect_timeout: None,
            acme: None,
            allow_encoded_slashes: false,
        }
    }
}

impl IngressAnnotations {
    /// Parses the annotations of `ing`; every invalid value becomes a warning and keeps its
    /// default.
    pub fn parse(ing: &Ingress) -> (Self, Vec<Warning>) {
        let mut reader = Reader {
            annotations: ing.metadata.annotations.as_ref(),
            object: ObjectRef::ingress(ing),
            warnings: Vec::new(),
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
        };
        (parsed, reader.warnings)
    }

    /// The policy of one route of this Ingress; `redirect_https` is decided by translation
    /// (it depends on the route's host having TLS in its class).
    pub fn route_policy(&self, redirect_https: bool) -> RoutePolicy {
        RoutePolicy {
            redirect_https,
            connect_timeout: self.connect_timeout,
            allow_encoded_slashes: self.allow_encoded_slashes,
        }
    }
}

/// Reads annotation values and records a warning for each one that does not parse.
struct Reader<'a> {
    annotations: Option<&'a BTreeMap<String, String>>,
    object: ObjectRef,
    warnings: Vec<Warning>,
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

    fn warn(&mut self, message: String) {
        self.warnings.push(Warning::new(
            self.object.clone(),
            WarningKind::InvalidAnnotation,
            message,
        ));
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
