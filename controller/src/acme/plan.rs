//! Which certificates gatehouse must order: for every Ingress of our classes that opts in, each
//! `spec.tls` entry's Secret must exist, parse, cover the entry's hosts and not be due for
//! renewal (two thirds of its lifetime). Pure: snapshot and time in, wants out.
//!
//! Two ownership rules keep ACME from being a way to take what is not yours: a host is ordered
//! only for the Ingress that owns it in its class's route table (`host_owners`, from
//! translation), and a Secret that exists without gatehouse's mark ([`MANAGED_BY_LABEL`]) is
//! never ordered for (it may be user-provided or cert-manager's), only reported.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use gatehouse_certs::renewal;
use gatehouse_routes::normalized_host;
use gatehouse_routes::IngressRef;

use k8s_openapi::api::core::v1::Secret;

use crate::snapshot::{ingress_ref, namespace, Snapshot};
use crate::translate::annotations::IngressAnnotations;
use crate::translate::tls::secret_cert;
use crate::translate::{HostOwners, ObjectRef, Warning, WarningKind};

/// `"true"` on an Ingress asks gatehouse to issue its certificates with ACME.
pub use crate::translate::annotations::ACME as ACME_ANNOTATION;

/// The label gatehouse puts on every Secret it writes (both sinks); only Secrets carrying it
/// are ever overwritten.
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "gatehouse");

/// cert-manager's annotation on the Secrets it manages, named in the warning.
const CERT_MANAGER_ANNOTATION: &str = "cert-manager.io/certificate-name";

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

/// Plans orders for the Ingresses of our classes (`members`) at time `now` (unix seconds),
/// for the hosts each owns (`host_owners`, per class: host → owning Ingress).
pub fn plan(
    snapshot: &Snapshot,
    members: &BTreeMap<String, Vec<IngressRef>>,
    host_owners: &BTreeMap<String, HostOwners>,
    acme_all: bool,
    now: i64,
) -> Plan {
    // Borrowed (namespace, name) keys: checking an Ingress allocates nothing.
    let ours: HashSet<(&str, &str)> = members
        .values()
        .flatten()
        .map(|r| (&*r.namespace, &*r.name))
        .collect();
    // (namespace, name, host) an Ingress owns in any class; the owner of each host otherwise.
    let owned: HashSet<(&str, &str, &str)> = host_owners
        .values()
        .flatten()
        .map(|(host, r)| (&*r.namespace, &*r.name, host.as_str()))
        .collect();
    let owner_of = |host: &str| {
        host_owners
            .values()
            .find_map(|owners| owners.get(host))
            .map_or_else(
                || "no Ingress of ours routes it".to_owned(),
                |r| format!("it is routed by Ingress {r}"),
            )
    };
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
                let host = normalized_host(host);
                let name = ing.metadata.name.as_deref().unwrap_or("");
                if !owned.contains(&(ns, name, host.as_str())) {
                    warnings.push(Warning::new(
                        ObjectRef::ingress(ing),
                        WarningKind::TlsSecret,
                        format!("ACME: no certificate ordered for {host}: this Ingress has no route that wins it ({}); only the Ingress that owns a host gets its certificate", owner_of(&host)),
                    ));
                    continue;
                }
                names.insert(host);
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
        if let Some(foreign) = existing.filter(|s| !managed_by_gatehouse(s)) {
            let whose = if has_annotation(foreign, CERT_MANAGER_ANNOTATION) {
                "it is managed by cert-manager"
            } else {
                "gatehouse did not create it"
            };
            warnings_for_secret(&mut out.warnings, &ns, &secret, &ingress, whose);
            continue;
        }
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

/// True when the Secret carries gatehouse's mark ([`MANAGED_BY_LABEL`]).
fn managed_by_gatehouse(secret: &Secret) -> bool {
    let (key, value) = MANAGED_BY_LABEL;
    secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .is_some_and(|v| v == value)
}

fn has_annotation(secret: &Secret, key: &str) -> bool {
    secret
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(key))
}

/// Reports a Secret ACME leaves alone, on the Ingress that asked for it.
fn warnings_for_secret(
    warnings: &mut Vec<Warning>,
    ns: &str,
    secret: &str,
    ingress: &IngressRef,
    whose: &str,
) {
    warnings.push(Warning::new(
        ObjectRef {
            kind: "Ingress",
            namespace: ingress.namespace.to_string(),
            name: ingress.name.to_string(),
        },
        WarningKind::TlsSecret,
        format!("ACME: Secret {ns}/{secret} exists and {whose}; it is left alone and no certificate is ordered for it (delete it, or name another secretName, to let gatehouse issue one)"),
    ));
}

fn tls_field(secret: &Secret, name: &str) -> Option<Vec<u8>> {
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
        ingress_in("ns", name, acme, tls)
    }

    fn ingress_in(
        ns: &str,
        name: &str,
        acme: Option<&str>,
        tls: serde_json::Value,
    ) -> std::sync::Arc<Ingress> {
        let mut meta = json!({"namespace": ns, "name": name});
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
            serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": name,
                "labels": {MANAGED_BY_LABEL.0: MANAGED_BY_LABEL.1}},
            "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": leaf.chain_pem, "tls.key": leaf.key_pem}}))
            .expect("secret"),
        )
    }

    /// The same Secret without gatehouse's mark, with `annotations`.
    fn foreign(
        secret: std::sync::Arc<Secret>,
        annotations: serde_json::Value,
    ) -> std::sync::Arc<Secret> {
        let mut secret = Secret::clone(&secret);
        secret.metadata.labels = None;
        secret.metadata.annotations = serde_json::from_value(annotations).expect("annotations");
        std::sync::Arc::new(secret)
    }

    /// Class "internal" in which each `(namespace, name, host)` Ingress owns its host.
    fn owners(list: &[(&str, &str, &str)]) -> BTreeMap<String, HostOwners> {
        let hosts = list
            .iter()
            .map(|(ns, name, host)| (host.to_string(), IngressRef::new(ns, name)))
            .collect();
        BTreeMap::from([("internal".to_string(), hosts)])
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
        let host_owners = owners(&[
            ("ns", "missing", "a.example"),
            ("ns", "valid", "b.example"),
            ("ns", "due", "c.example"),
            ("ns", "renamed", "d.example"),
            ("ns", "renamed", "e.example"),
            ("ns", "optout", "f.example"),
        ]);
        let Plan {
            wants,
            managed,
            warnings,
        } = plan(&snapshot, &members, &host_owners, false, NOW);
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
        let all = plan(&snapshot, &members, &host_owners, true, NOW);
        assert!(all.wants.iter().any(|w| w.secret == "f-tls"));
    }

    /// (hosts the Ingress lists, hosts it owns) → the names ordered and whether it is warned.
    #[test]
    fn orders_only_hosts_the_ingress_owns() {
        type Hosts = &'static [&'static str];
        let cases: [(Hosts, Hosts, Hosts, bool); 5] = [
            (&["a.example"], &["a.example"], &["a.example"], false),
            // Another Ingress (here in another namespace) owns the host: nothing ordered.
            (&["taken.example"], &[], &[], true),
            // Of two hosts only the owned one is ordered; the other is reported.
            (
                &["a.example", "taken.example"],
                &["a.example"],
                &["a.example"],
                true,
            ),
            // A host no route of ours serves is not ordered either.
            (&["unrouted.example"], &[], &[], true),
            // Names compare normalised, as the route table stores them.
            (&["A.Example."], &["a.example"], &["a.example"], false),
        ];
        for (listed, owned, want, warned) in cases {
            let snapshot = Snapshot {
                ingresses: vec![
                    ingress_in(
                        "team",
                        "app",
                        Some("true"),
                        json!([{"hosts": listed, "secretName": "app-tls"}]),
                    ),
                    ingress_in("victim", "site", Some("true"), json!([])),
                ],
                ..Snapshot::default()
            };
            let members = BTreeMap::from([(
                "internal".to_string(),
                vec![
                    IngressRef::new("team", "app"),
                    IngressRef::new("victim", "site"),
                ],
            )]);
            let mut owned_list: Vec<(&str, &str, &str)> =
                owned.iter().map(|h| ("team", "app", *h)).collect();
            owned_list.push(("victim", "site", "taken.example"));
            let out = plan(&snapshot, &members, &owners(&owned_list), false, NOW);
            let names: Vec<&str> = out
                .wants
                .iter()
                .flat_map(|w| w.names.iter().map(String::as_str))
                .collect();
            assert_eq!(names, want, "{listed:?}");
            assert_eq!(
                !out.warnings.is_empty(),
                warned,
                "{listed:?}: {:?}",
                out.warnings
            );
            if listed.contains(&"taken.example") {
                assert!(
                    out.warnings.iter().any(|w| w.object.name == "app"
                        && w.message.contains("taken.example")
                        && w.message.contains("victim/site")),
                    "{:?}",
                    out.warnings
                );
            }
        }
    }

    /// Secret in the snapshot → what the plan does with it (`--acme-all` on).
    #[test]
    fn never_orders_over_a_secret_gatehouse_did_not_create() {
        let mine = secret("app-tls", &["a.example"], ((2026, 3, 1), (2026, 7, 1)));
        let valid = secret("app-tls", &["a.example"], ((2026, 1, 1), (2027, 1, 1)));
        let cm =
            json!({"cert-manager.io/certificate-name": "app", "cert-manager.io/issuer-name": "le"});
        let cases = [
            // (Secret, ordered, managed, warning contains)
            (None, true, false, None),
            (Some(mine.clone()), true, false, None),
            (Some(valid.clone()), false, true, None),
            (
                Some(foreign(mine.clone(), json!({}))),
                false,
                false,
                Some("gatehouse did not create it"),
            ),
            (
                Some(foreign(valid.clone(), json!({}))),
                false,
                false,
                Some("gatehouse did not create it"),
            ),
            (
                Some(foreign(mine, cm.clone())),
                false,
                false,
                Some("managed by cert-manager"),
            ),
            (
                Some(foreign(valid, cm)),
                false,
                false,
                Some("managed by cert-manager"),
            ),
        ];
        for (i, (existing, ordered, managed, warning)) in cases.into_iter().enumerate() {
            let snapshot = Snapshot {
                ingresses: vec![ingress(
                    "app",
                    None,
                    json!([{"hosts": ["a.example"], "secretName": "app-tls"}]),
                )],
                secrets: existing.into_iter().collect(),
                ..Snapshot::default()
            };
            let members =
                BTreeMap::from([("internal".to_string(), vec![IngressRef::new("ns", "app")])]);
            let out = plan(
                &snapshot,
                &members,
                &owners(&[("ns", "app", "a.example")]),
                true,
                NOW,
            );
            assert_eq!(!out.wants.is_empty(), ordered, "case {i}");
            assert_eq!(
                !out.managed.is_empty(),
                managed,
                "case {i}: ARI never renews a foreign Secret"
            );
            match warning {
                None => assert!(out.warnings.is_empty(), "case {i}: {:?}", out.warnings),
                Some(text) => {
                    assert_eq!(out.warnings.len(), 1, "case {i}");
                    let w = &out.warnings[0];
                    assert_eq!((w.object.kind, w.object.name.as_str()), ("Ingress", "app"));
                    assert!(
                        w.message.contains(text) && w.message.contains("ns/app-tls"),
                        "case {i}: {}",
                        w.message
                    );
                }
            }
        }
    }
}
