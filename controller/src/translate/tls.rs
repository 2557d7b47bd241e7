//! TLS: each class's certificate set from the `spec.tls` Secrets of its Ingresses, and which
//! hosts have TLS (for the HTTP → HTTPS redirect).

use std::collections::BTreeSet;
use std::sync::Arc;

use foldhash::HashMap;

use gatehouse_certs::{parse_tls_pair, CertSet, LoadedCert};
use gatehouse_routes::normalized_host;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;

use super::{ObjectRef, Warning, WarningKind};
use crate::snapshot::namespace;

/// The Secret type that holds a certificate and key.
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// Reads a certificate and key from a `kubernetes.io/tls` Secret.
pub fn secret_cert(secret: &Secret) -> Result<LoadedCert, String> {
    let ty = secret.type_.as_deref().unwrap_or("Opaque");
    if ty != TLS_SECRET_TYPE {
        return Err(format!("is of type {ty:?}, not {TLS_SECRET_TYPE}"));
    }
    let field = |name: &str| -> Result<Vec<u8>, String> {
        if let Some(v) = secret.data.as_ref().and_then(|d| d.get(name)) {
            return Ok(v.0.clone());
        }
        if let Some(v) = secret.string_data.as_ref().and_then(|d| d.get(name)) {
            return Ok(v.as_bytes().to_vec());
        }
        Err(format!("has no {name}"))
    };
    parse_tls_pair(&field("tls.crt")?, &field("tls.key")?).map_err(|e| e.to_string())
}

/// Certificates parsed from Secrets, by the Secret's identity: a Secret is parsed once for as
/// long as it is the same object, across translations (parsing a certificate and key costs far
/// more than translating the Ingress that names it).
#[derive(Default)]
pub struct CertCache(HashMap<usize, (Arc<Secret>, Result<LoadedCert, String>)>);

impl CertCache {
    /// Forgets the Secrets that are not in `secrets` (the snapshot's).
    pub fn retain_in(&mut self, secrets: &[Arc<Secret>]) {
        let live: foldhash::HashSet<*const Secret> = secrets.iter().map(Arc::as_ptr).collect();
        self.0
            .retain(|_, (secret, _)| live.contains(&Arc::as_ptr(secret)));
    }
}

/// Finds Secrets by namespace and name, and their certificates through a [`CertCache`].
pub struct SecretIndex<'a> {
    secrets: HashMap<(&'a str, &'a str), &'a Arc<Secret>>,
    parsed: &'a mut CertCache,
}

impl<'a> SecretIndex<'a> {
    /// Indexes `secrets` by namespace and name.
    pub fn new(secrets: &'a [Arc<Secret>], parsed: &'a mut CertCache) -> Self {
        Self {
            secrets: secrets
                .iter()
                .filter_map(|s| Some(((namespace(&s.metadata), s.metadata.name.as_deref()?), s)))
                .collect(),
            parsed,
        }
    }

    /// The certificate in Secret `ns/name`, or why there is none.
    pub fn cert(&mut self, ns: &str, name: &str) -> Result<LoadedCert, String> {
        let Some(secret) = self.secrets.get(&(ns, name)) else {
            return Err(format!("Secret {ns}/{name} not found"));
        };
        let key = Arc::as_ptr(secret) as usize;
        if let Some((_, result)) = self.parsed.0.get(&key) {
            return result.clone();
        }
        let result = secret_cert(secret).map_err(|e| format!("Secret {ns}/{name} {e}"));
        self.parsed
            .0
            .insert(key, (Arc::clone(secret), result.clone()));
        result
    }
}

/// Whether an Ingress has a `spec.tls` section (its hosts and certificates are the class's).
pub fn has_tls(ing: &Ingress) -> bool {
    ing.spec
        .as_ref()
        .is_some_and(|s| s.tls.as_ref().is_some_and(|t| !t.is_empty()))
}

/// The hosts an Ingress's `spec.tls` covers (its rule hosts when an entry lists none).
pub fn tls_hosts(ing: &Ingress) -> Vec<String> {
    let Some(spec) = &ing.spec else {
        return Vec::new();
    };
    let rule_hosts = || -> Vec<String> {
        spec.rules
            .iter()
            .flatten()
            .filter_map(|r| r.host.clone())
            .collect()
    };
    let mut out = Vec::new();
    for entry in spec.tls.iter().flatten() {
        match entry.hosts.as_deref() {
            Some(hosts) if !hosts.is_empty() => out.extend(hosts.iter().cloned()),
            _ => out.extend(rule_hosts()),
        }
    }
    out.iter().map(|h| normalized_host(h)).collect()
}

/// One class's certificates and TLS hosts.
pub struct ClassTls {
    /// Certificates for the class's HTTPS listener.
    pub certs: CertSet,
    /// Hosts (normalised) that have TLS in some Ingress of the class.
    pub hosts: BTreeSet<String>,
}

/// Builds a class's certificate set from its Ingresses (oldest first: the first certificate
/// for a host keeps it). A Secret that is missing or unusable is a warning; its hosts fall
/// back to the default certificate.
pub fn class_tls(
    class: &str,
    ingresses: &[&std::sync::Arc<Ingress>],
    secrets: &mut SecretIndex<'_>,
    default: Option<(&LoadedCert, &str)>,
    warnings: &mut Vec<Warning>,
) -> ClassTls {
    let mut builder = CertSet::builder();
    if let Some((cert, source)) = default {
        builder.default(cert, source);
    }
    let mut hosts = BTreeSet::new();
    for ing in ingresses {
        let ns = namespace(&ing.metadata);
        hosts.extend(tls_hosts(ing));
        let Some(spec) = &ing.spec else { continue };
        for entry in spec.tls.iter().flatten() {
            let Some(secret) = entry.secret_name.as_deref().filter(|s| !s.is_empty()) else {
                continue;
            };
            match secrets.cert(ns, secret) {
                Ok(cert) => {
                    let names = match entry.hosts.as_deref() {
                        Some(h) if !h.is_empty() => h.to_vec(),
                        _ => tls_hosts(ing),
                    };
                    for host in names {
                        builder.insert(&host, &cert, &format!("{ns}/{secret}"));
                    }
                }
                Err(message) => warnings.push(
                    Warning::new(
                        ObjectRef::ingress(ing),
                        WarningKind::TlsSecret,
                        format!("{message}; its hosts use the default certificate"),
                    )
                    .in_class(class),
                ),
            }
        }
    }
    ClassTls {
        certs: builder.build(),
        hosts,
    }
}
