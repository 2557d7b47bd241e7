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
pub mod tls;
mod warnings;

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
use gatehouse_routes::{IngressRef, RouteTable, RouteTableBuilder};

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

/// Host (normalised, as in the route table) → the Ingress that owns it in one class: the
/// oldest Ingress with a route on that host. Built ACME orders certificates only for hosts an
/// Ingress owns, so an Ingress elsewhere that lists the same host cannot obtain its certificate.
pub type HostOwners = BTreeMap<String, IngressRef>;

/// Translates a snapshot into one route table and certificate set per configured class.
pub fn translate(snapshot: &Snapshot, config: &TranslateConfig) -> Translation {
    translate_with(snapshot, config, None)
}

/// What a translation may reuse of the previous one (see [`IncrementalTranslator`]).
#[derive(Default)]
struct Memo {
    backends: backends::BackendMemo,
    routes: ingress::RouteMemo,
}

/// [`translate`], reusing from `memo` the backends and route targets whose inputs are the same
/// objects as last time, and recording this translation's in it. Only `Arc`s of equal values
/// are reused, so the result equals [`translate`]'s.
fn translate_with(
    snapshot: &Snapshot,
    config: &TranslateConfig,
    mut memo: Option<&mut Memo>,
) -> Translation {
    let (backend_memo, mut route_memo) = match memo.as_deref_mut() {
        Some(Memo { backends, routes }) => {
            backends.begin();
            routes.begin();
            (Some(backends), Some(routes))
        }
        None => (None, None),
    };
    let mut warnings = Vec::new();
    let resolver = ClassResolver::new(config, &snapshot.ingress_classes, &mut warnings);
    let mut backends = backends::BackendResolver::new(snapshot, backend_memo);
    let mut secrets = tls::SecretIndex::new(&snapshot.secrets);
    let default_cert = default_cert(config, &mut secrets, &mut warnings);
    let auth_secrets = basic_auth::AuthSecrets::new(&snapshot.secrets);

    // Oldest first, so that the oldest Ingress keeps a contested rule or certificate.
    let mut ingresses: Vec<_> = snapshot.ingresses.iter().collect();
    ingresses.sort_by(|a, b| age_key(&a.metadata).cmp(&age_key(&b.metadata)));
    let mut by_class: BTreeMap<
        &str,
        Vec<&std::sync::Arc<k8s_openapi::api::networking::v1::Ingress>>,
    > = config
        .classes
        .iter()
        .map(|c| (c.name.as_str(), Vec::new()))
        .collect();
    for ing in ingresses {
        if let Some(list) = resolver.class_of(ing).and_then(|c| by_class.get_mut(c)) {
            list.push(ing);
        }
    }

    let mut out = Translation::default();
    let mut policies = ingress::Policies::default();
    for class in &config.classes {
        let ingresses = by_class
            .get(class.name.as_str())
            .cloned()
            .unwrap_or_default();
        let default = default_cert.as_ref().map(|(c, s)| (c, s.as_str()));
        let class_tls = tls::class_tls(
            &class.name,
            &ingresses,
            &mut secrets,
            default,
            &mut warnings,
        );
        let mut builder = RouteTableBuilder::new();
        for ing in &ingresses {
            let ctx = ingress::IngressContext {
                class: &class.name,
                tls_hosts: &class_tls.hosts,
                has_https: class.has_https,
                unsupported_annotations: config.unsupported_annotations,
                auth_secrets: &auth_secrets,
                global_auth: config.global_auth.as_ref(),
            };
            ingress::add_ingress(
                ing,
                &ctx,
                &mut builder,
                &mut backends,
                &mut warnings,
                &mut policies,
                route_memo.as_deref_mut(),
            );
        }
        let members: Vec<IngressRef> = ingresses
            .iter()
            .map(|i| snapshot::ingress_ref(&i.metadata))
            .collect();
        let table = builder.build();
        out.host_owners
            .insert(class.name.clone(), host_owners(&table, &members));
        out.members.insert(class.name.clone(), members);
        out.tables.insert(class.name.clone(), table);
        out.certs.insert(class.name.clone(), class_tls.certs);
    }
    drop(backends);
    if let Some(memo) = memo {
        memo.backends.finish();
        memo.routes.finish(policies);
    }
    warnings.sort();
    warnings.dedup();
    out.warnings = warnings;
    out
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
