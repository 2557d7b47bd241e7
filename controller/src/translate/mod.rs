//! `translate(snapshot, config) -> Translation`: a pure function owning all Ingress semantics.
//! No I/O, no clocks, no globals. A bad object never fails the build: it becomes a [`Warning`]
//! naming it, and only its own routes are skipped.

pub mod annotations;
mod backends;
pub mod basic_auth;
mod classes;
mod incremental;
mod ingress;
pub mod proxy_ssl;
mod state;
pub mod tls;
mod warnings;

/// Makes room for one more element: exactly one while the vector is short, doubling after.
/// Most host groups and Services have one or two entries, and a vector's first growth makes
/// room for four (at 10k Ingresses, 3 MiB of room never used).
fn reserve_one<T>(v: &mut Vec<T>) {
    if v.len() < 4 {
        v.reserve_exact(1);
    } else {
        v.reserve(1);
    }
}

#[cfg(test)]
mod tests;

/// Object constructors shared by the crate's unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use k8s_openapi::api::networking::v1::Ingress;
    use serde_json::json;

    /// An Ingress whose status lists `ips`.
    pub fn ingress_with_status(ns: &str, name: &str, ips: &[&str]) -> std::sync::Arc<Ingress> {
        let lb: Vec<_> = ips.iter().map(|ip| json!({"ip": ip})).collect();
        std::sync::Arc::new(
            serde_json::from_value(json!({
                "metadata": {"namespace": ns, "name": name},
                "spec": {},
                "status": {"loadBalancer": {"ingress": lb}}
            }))
            .expect("ingress fixture"),
        )
    }
}

use std::collections::BTreeMap;

use gatehouse_certs::{CertSet, LoadedCert};
use gatehouse_routes::{IngressRef, RouteTable};

use crate::snapshot::{self, Snapshot};
pub use classes::ClassResolver;
pub use incremental::IncrementalTranslator;
pub use warnings::{ObjectRef, Warning, WarningKind};

/// The controller name used when none is configured.
pub const DEFAULT_CONTROLLER_NAME: &str = "gatehouse.dev/ingress-controller";

/// One ingress class this process serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassConfig {
    /// The class name (`spec.ingressClassName`).
    pub name: String,
    /// Whether Ingresses without a class belong to it (unless the cluster marks another
    /// IngressClass as the default).
    pub is_default: bool,
    /// Whether the instance has an HTTPS listener (else nothing redirects to HTTPS).
    pub has_https: bool,
}

/// What translation needs to know about this process.
#[derive(Clone, Debug)]
pub struct TranslateConfig {
    /// IngressClasses whose `spec.controller` differs from this are not ours.
    pub controller_name: String,
    /// The classes we have instances for.
    pub classes: Vec<ClassConfig>,
    /// `--default-certificate NAMESPACE/NAME`: a TLS Secret served when no other matches.
    pub default_secret: Option<(String, String)>,
    /// Served when no default Secret is configured or usable (self-signed or from files).
    pub fallback_cert: Option<LoadedCert>,
    /// `--unsupported-annotations`: what access control gatehouse cannot give does to an
    /// Ingress (default: its routes answer 503).
    pub unsupported_annotations: annotations::UnsupportedAnnotations,
    /// `--global-auth-url` and its companions: external authentication for every Ingress
    /// without its own that does not opt out.
    pub global_auth: Option<annotations::forward_auth::GlobalAuth>,
}

impl TranslateConfig {
    /// A config for the given classes with the default controller name.
    pub fn new(classes: Vec<ClassConfig>) -> Self {
        Self {
            controller_name: DEFAULT_CONTROLLER_NAME.to_string(),
            classes,
            default_secret: None,
            fallback_cert: None,
            unsupported_annotations: annotations::UnsupportedAnnotations::FailClosed,
            global_auth: None,
        }
    }
}

/// The result of one translation.
#[derive(Debug, Default)]
pub struct Translation {
    /// One table per configured class (empty tables included).
    pub tables: BTreeMap<String, RouteTable>,
    /// One certificate set per configured class.
    pub certs: BTreeMap<String, CertSet>,
    /// Problems found, sorted, each naming its object.
    pub warnings: Vec<Warning>,
    /// Ingresses that belong to each class.
    pub members: BTreeMap<String, Vec<IngressRef>>,
    /// Per class, which Ingress owns each host of its route table (see [`HostOwners`]).
    pub host_owners: BTreeMap<String, HostOwners>,
}

/// What a translation found besides its tables and certificates: for status, Events and ACME.
#[derive(Debug, Default)]
pub struct Findings {
    /// Problems found, sorted, each naming its object.
    pub warnings: Vec<Warning>,
    /// Ingresses that belong to each class.
    pub members: BTreeMap<String, Vec<IngressRef>>,
    /// Per class, which Ingress owns each host of its route table.
    pub host_owners: BTreeMap<String, HostOwners>,
}

/// Host (normalised, as in the route table) → the Ingress that owns it in one class: the
/// oldest Ingress with a route on that host. Built ACME orders certificates only for hosts an
/// Ingress owns, so an Ingress elsewhere that lists the same host cannot obtain its certificate.
pub type HostOwners = BTreeMap<String, IngressRef>;

/// Translates a snapshot into one route table and certificate set per configured class.
pub fn translate(snapshot: &Snapshot, config: &TranslateConfig) -> Translation {
    let snapshot = std::sync::Arc::new(snapshot.clone());
    state::State::build(&snapshot, config, None).output()
}

/// The oldest Ingress (first in `members`, which is oldest first) with a route on each host of
/// `table`; host-less rules (`*`) are owned by no one.
fn host_owners(table: &RouteTable, members: &[IngressRef]) -> HostOwners {
    let rank: foldhash::HashMap<&IngressRef, usize> =
        members.iter().enumerate().map(|(i, r)| (r, i)).collect();
    // Per host group, not per sorted route: this runs on every publish, and the lowest rank is
    // the same in any order (equal ranks are the same Ingress).
    let mut owners = HostOwners::new();
    for (host, routes) in table.host_groups() {
        if host == "*" {
            continue;
        }
        // A group's routes mostly come from one Ingress: its rank is looked up once (comparing
        // `IngressRef`s of one Ingress is a pointer comparison), not hashed per route.
        let mut oldest: Option<(usize, &IngressRef)> = None;
        for target in routes.targets() {
            if oldest.is_some_and(|(_, best)| *best == target.ingress) {
                continue;
            }
            let this = rank.get(&target.ingress).copied().unwrap_or(usize::MAX);
            if oldest.is_none_or(|(best, _)| this < best) {
                oldest = Some((this, &target.ingress));
            }
        }
        if let Some((_, ingress)) = oldest {
            owners.insert(host.into_owned(), ingress.clone());
        }
    }
    owners
}

/// Oldest first: creation time, then namespace/name (borrowed: sorting allocates nothing).
fn age_key(
    m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> (Option<k8s_openapi::jiff::Timestamp>, &str, &str) {
    (
        m.creation_timestamp.as_ref().map(|t| t.0),
        snapshot::namespace(m),
        m.name.as_deref().unwrap_or(""),
    )
}

/// The default certificate: the configured Secret if usable, else the fallback.
fn default_cert(
    config: &TranslateConfig,
    secrets: &mut tls::SecretIndex<'_>,
    warnings: &mut Vec<Warning>,
) -> Option<(LoadedCert, String)> {
    if let Some((ns, name)) = &config.default_secret {
        match secrets.cert(ns, name) {
            Ok(cert) => return Some((cert, format!("{ns}/{name}"))),
            Err(message) => warnings.push(Warning::new(
                ObjectRef {
                    kind: "Secret",
                    namespace: ns.clone(),
                    name: name.clone(),
                },
                WarningKind::TlsSecret,
                format!("default certificate: {message}; using the built-in one"),
            )),
        }
    }
    config
        .fallback_cert
        .clone()
        .map(|c| (c, "built-in default".to_string()))
}
