//! Which certificates gatehouse must order: for every Ingress of our classes that opts in, each
//! `spec.tls` entry's Secret must exist, parse, cover the entry's hosts and not be due for
//! renewal (two thirds of its lifetime). Pure: snapshot and time in, wants out.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use gatehouse_certs::renewal;
use gatehouse_routes::normalized_host;
use gatehouse_routes::IngressRef;

use crate::snapshot::{ingress_ref, namespace, Snapshot};
use crate::translate::annotations::IngressAnnotations;
use crate::translate::tls::secret_cert;
use crate::translate::{ObjectRef, Warning, WarningKind};

/// `"true"` on an Ingress asks gatehouse to issue its certificates with ACME.
pub use crate::translate::annotations::ACME as ACME_ANNOTATION;

/// Why a certificate must be ordered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WantReason {
    /// The Secret does not exist yet.
    Missing,
    /// The Secret exists but holds no usable certificate.
    Unusable(String),
    /// The certificate does not cover every requested host.
    NamesChanged,
    /// Two thirds of the certificate's lifetime have passed.
    Renewal,
}

/// One certificate to order and where to store it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeWant {
    /// Namespace of the Secret (and Ingress).
    pub namespace: String,
    /// Name of the Secret.
    pub secret: String,
    /// DNS names for the certificate, sorted.
    pub names: Vec<String>,
    /// The Ingress that asked for it, for Events.
    pub ingress: IngressRef,
    /// Why.
    pub reason: WantReason,
}

/// A certificate gatehouse manages that needs nothing now (ACME Renewal Info may still say
/// otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Managed {
    /// What an order for it would be.
    pub want: AcmeWant,
    /// The certificate chain it holds now (PEM).
    pub chain_pem: Vec<u8>,
}

/// What to order now, the managed certificates that are fine, and problems found.
#[derive(Debug, Default)]
pub struct Plan {
    /// Certificates to order.
    pub wants: Vec<AcmeWant>,
    /// Valid managed certificates.
    pub managed: Vec<Managed>,
    /// Problems (e.g. wildcard names).
    pub warnings: Vec<Warning>,
}

/// Plans orders for the Ingresses of our classes (`members`) at time `now` (unix seconds).
pub fn plan(
    snapshot: &Snapshot,
    members: &BTreeMap<String, Vec<IngressRef>>,
    acme_all: bool,
    now: i64,
) -> Plan {
    // Borrowed (namespace, name) keys: checking an Ingress allocates nothing.
    let ours: HashSet<(&str, &str)> = members
        .values()
        .flatten()
        .map(|r| (&*r.namespace, &*r.name))
        .collect();
    // (namespace, secret) → (names, ingress); the oldest-listed Ingress names the Secret's owner.
    let mut wanted: BTreeMap<(String, String), (BTreeSet<String>, IngressRef)> = BTreeMap::new();
    let mut warnings = Vec::new();
    for ing in &snapshot.ingresses {
        let ns = namespace(&ing.metadata);
        if !ours.contains(&(ns, ing.metadata.name.as_deref().unwrap_or(""))) {
            continue;
        }
        // Invalid values were reported by translation; here they count as unset.
        let opted_in = IngressAnnotations::parse(ing, Default::default())
            .0
            .acme
            .unwrap_or(acme_all);
        if !opted_in {
            continue;
        }
        for entry in ing.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
            let Some(secret) = entry.secret_name.as_deref().filter(|s| !s.is_empty()) else {
                continue;
            };
            let mut names = BTreeSet::new();
            for host in entry.hosts.iter().flatten() {
                if host.starts_with("*.") {
                    warnings.push(Warning::new(
                        ObjectRef::ingress(ing),
                        WarningKind::TlsSecret,
                        format!("ACME: {host} is a wildcard, which HTTP-01 cannot validate (use DNS-01 through cert-manager); skipped"),
                    ));
                    continue;
                }
                names.insert(normalized_host(host));
            }
            if names.is_empty() {
                continue;
            }
            let slot = wanted
                .entry((ns.to_string(), secret.to_string()))
                .or_insert_with(|| (BTreeSet::new(), ingress_ref(&ing.metadata)));
            slot.0.extend(names);
        }
    }

    let mut out = Plan {
        warnings,
        ..Plan::default()
    };
    for ((ns, secret), (names, ingress)) in wanted {
        let existing = snapshot
            .secrets
            .iter()
            .find(|s| namespace(&s.metadata) == ns && s.metadata.name.as_deref() == Some(&secret));
        let reason = match existing.map(|s| secret_cert(s)) {
            None => Some(WantReason::Missing),
            Some(Err(e)) => Some(WantReason::Unusable(e)),
            Some(Ok(cert)) if !names.iter().all(|n| cert.names.contains(n)) => {
                Some(WantReason::NamesChanged)
            }
            Some(Ok(cert)) if renewal::due(cert.not_before, cert.not_after, now) => {
                Some(WantReason::Renewal)
            }
            Some(Ok(_)) => None,
        };
        let want = |reason| AcmeWant {
            namespace: ns.clone(),
            secret: secret.clone(),
            names: names.iter().cloned().collect(),
            ingress: ingress.clone(),
            reason,
        };
        match reason {
            Some(reason) => out.wants.push(want(reason)),
            None => {
                let chain_pem = existing
                    .and_then(|s| tls_field(s, "tls.crt"))
                    .unwrap_or_default();
                out.managed.push(Managed {
                    want: want(WantReason::Renewal),
                    chain_pem,
                });
            }
        }
    }
    out
}

fn tls_field(secret: &k8s_openapi::api::core::v1::Secret, name: &str) -> Option<Vec<u8>> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(name))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(name))
                .map(|s| s.as_bytes().to_vec())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_testkit::tlsgen::{self, LeafSpec};
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::api::networking::v1::Ingress;
    use serde_json::json;

    fn ingress(name: &str, acme: Option<&str>, tls: serde_json::Value) -> std::sync::Arc<Ingress> {
        let mut meta = json!({"namespace": "ns", "name": name});
        if let Some(v) = acme {
            meta["annotations"] = json!({ACME_ANNOTATION: v});
        }
        std::sync::Arc::new(
            serde_json::from_value(json!({"metadata": meta, "spec": {"tls": tls}}))
                .expect("ingress"),
        )
    }

    fn secret(
        name: &str,
        hosts: &[&str],
        validity: ((i32, u8, u8), (i32, u8, u8)),
    ) -> std::sync::Arc<Secret> {
        let leaf = tlsgen::self_signed(&LeafSpec::new(hosts).validity(validity.0, validity.1))
            .expect("certificate");
        std::sync::Arc::new(
            serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": name},
            "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": leaf.chain_pem, "tls.key": leaf.key_pem}}))
            .expect("secret"),
        )
    }

    /// 2026-06-01 00:00:00 UTC.
    const NOW: i64 = 1_780_272_000;

    #[test]
    fn plans_missing_due_renamed_and_skips_valid_and_opted_out() {
        let snapshot = Snapshot {
            ingresses: vec![
                ingress(
                    "missing",
                    Some("true"),
                    json!([{"hosts": ["a.example"], "secretName": "a-tls"}]),
                ),
                ingress(
                    "valid",
                    Some("true"),
                    json!([{"hosts": ["b.example"], "secretName": "b-tls"}]),
                ),
                ingress(
                    "due",
                    Some("true"),
                    json!([{"hosts": ["c.example"], "secretName": "c-tls"}]),
                ),
                ingress(
                    "renamed",
                    Some("true"),
                    json!([{"hosts": ["d.example", "e.example"], "secretName": "d-tls"}]),
                ),
                ingress(
                    "optout",
                    None,
                    json!([{"hosts": ["f.example"], "secretName": "f-tls"}]),
                ),
                ingress(
                    "wild",
                    Some("true"),
                    json!([{"hosts": ["*.w.example"], "secretName": "w-tls"}]),
                ),
                ingress(
                    "notours",
                    Some("true"),
                    json!([{"hosts": ["g.example"], "secretName": "g-tls"}]),
                ),
            ],
            secrets: vec![
                // Lifetime 2026-01-01..2027-01-01: two thirds is at 2026-09-01, not due on 06-01.
                secret("b-tls", &["b.example"], ((2026, 1, 1), (2027, 1, 1))),
                // 2026-03-01..2026-07-01: two thirds passed on 2026-05-21.
                secret("c-tls", &["c.example"], ((2026, 3, 1), (2026, 7, 1))),
                secret("d-tls", &["d.example"], ((2026, 1, 1), (2027, 1, 1))),
            ],
            ..Snapshot::default()
        };
        let members = BTreeMap::from([(
            "internal".to_string(),
            ["missing", "valid", "due", "renamed", "optout", "wild"]
                .iter()
                .map(|n| IngressRef::new("ns", n))
                .collect(),
        )]);
        let Plan {
            wants,
            managed,
            warnings,
        } = plan(&snapshot, &members, false, NOW);
        let got: Vec<(&str, WantReason, Vec<String>)> = wants
            .iter()
            .map(|w| (w.secret.as_str(), w.reason.clone(), w.names.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a-tls", WantReason::Missing, vec!["a.example".to_string()]),
                ("c-tls", WantReason::Renewal, vec!["c.example".to_string()]),
                (
                    "d-tls",
                    WantReason::NamesChanged,
                    vec!["d.example".to_string(), "e.example".to_string()]
                ),
            ]
        );
        assert_eq!(
            wants[0].ingress,
            IngressRef::new("ns", "missing"),
            "the asking Ingress is named for Events"
        );
        assert_eq!(warnings.len(), 1, "wildcard reported");
        let fine: Vec<&str> = managed.iter().map(|m| m.want.secret.as_str()).collect();
        assert_eq!(
            fine,
            ["b-tls"],
            "valid certificates are listed for ACME Renewal Info"
        );
        assert!(managed[0]
            .chain_pem
            .starts_with(b"-----BEGIN CERTIFICATE-----"));
        // --acme-all opts in Ingresses without the annotation.
        let all = plan(&snapshot, &members, true, NOW);
        assert!(all.wants.iter().any(|w| w.secret == "f-tls"));
    }
}
