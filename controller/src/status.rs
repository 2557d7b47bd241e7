//! Ingress status: `status.loadBalancer.ingress` of every Ingress of our classes holds the
//! addresses of that class (from a published Service or static addresses), so External-DNS and
//! k8s-gateway publish the right records. Planning is pure; writing goes through the status
//! subresource, only when the value changes, and only from the leader.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressLoadBalancerIngress};
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use serde_json::json;

use gatehouse_routes::IngressRef;

use crate::snapshot::{ingress_ref, namespace, Snapshot};

/// Where a class's addresses come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressSource {
    /// The `status.loadBalancer.ingress` of this Service (`namespace`, `name`).
    Service(String, String),
    /// Fixed IPs or hostnames.
    Static(Vec<String>),
}

/// One address as status holds it: an IP or a hostname.
pub type Address = (Option<String>, Option<String>);

/// The addresses a class publishes, sorted.
pub fn class_addresses(source: &AddressSource, services: &[Arc<Service>]) -> Vec<Address> {
    let mut out: Vec<Address> = match source {
        AddressSource::Static(values) => values
            .iter()
            .map(|v| match v.parse::<std::net::IpAddr>() {
                Ok(_) => (Some(v.clone()), None),
                Err(_) => (None, Some(v.clone())),
            })
            .collect(),
        AddressSource::Service(ns, name) => services
            .iter()
            .filter(|s| namespace(&s.metadata) == ns && s.metadata.name.as_deref() == Some(name))
            .flat_map(|s| {
                s.status
                    .as_ref()
                    .and_then(|st| st.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.clone())
                    .unwrap_or_default()
            })
            .map(|i| (i.ip, i.hostname))
            .collect(),
    };
    out.sort();
    out.dedup();
    out
}

fn current_addresses(ing: &Ingress) -> Vec<Address> {
    let mut out: Vec<Address> = ing
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i.ip, i.hostname))
        .collect();
    out.sort();
    out
}

/// One status write to make; empty addresses clear the status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    /// The Ingress.
    pub ingress: IngressRef,
    /// The addresses to write.
    pub addresses: Vec<Address>,
}

/// Plans the status writes: Ingresses of our classes get their class's addresses; Ingresses
/// that left our classes and still show only our addresses are cleared. Pure.
pub fn plan(
    snapshot: &Snapshot,
    members: &BTreeMap<String, Vec<IngressRef>>,
    addresses: &BTreeMap<String, Vec<Address>>,
) -> Vec<StatusChange> {
    // Borrowed (namespace, name) keys: looking an Ingress up allocates nothing.
    let class_of: HashMap<(&str, &str), &str> = members
        .iter()
        .flat_map(|(class, refs)| {
            refs.iter()
                .map(move |r| ((&*r.namespace, &*r.name), class.as_str()))
        })
        .collect();
    let ours: BTreeSet<&Address> = addresses.values().flatten().collect();
    let mut changes = Vec::new();
    for ing in &snapshot.ingresses {
        let key = (
            namespace(&ing.metadata),
            ing.metadata.name.as_deref().unwrap_or(""),
        );
        let current = current_addresses(ing);
        let desired = match class_of.get(&key) {
            // A class without a configured address source is not managed.
            Some(class) => match addresses.get(*class) {
                Some(a) => a.clone(),
                None => continue,
            },
            // Not ours: clear only what we wrote, never another controller's addresses.
            None if !current.is_empty() && current.iter().all(|a| ours.contains(a)) => Vec::new(),
            None => continue,
        };
        if desired != current {
            changes.push(StatusChange {
                ingress: ingress_ref(&ing.metadata),
                addresses: desired,
            });
        }
    }
    changes
}

/// Writes planned changes through the status subresource.
pub struct StatusWriter {
    client: Client,
    /// Last value written per Ingress, so a lagging watch does not cause repeated writes.
    written: HashMap<IngressRef, Vec<Address>>,
}

impl StatusWriter {
    /// A writer using `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            written: HashMap::new(),
        }
    }

    /// Forgets what was written (after losing leadership, the cluster may have moved on).
    pub fn reset(&mut self) {
        self.written.clear();
    }

    /// Applies `changes`; each failure is logged naming its Ingress, and the failed writes are
    /// retried on the next sync (nothing is remembered for them).
    pub async fn apply(&mut self, changes: Vec<StatusChange>) -> Result<(), StatusError> {
        let mut failed = 0;
        for change in changes {
            if self.written.get(&change.ingress) == Some(&change.addresses) {
                continue;
            }
            let list: Vec<IngressLoadBalancerIngress> = change
                .addresses
                .iter()
                .map(|(ip, hostname)| IngressLoadBalancerIngress {
                    ip: ip.clone(),
                    hostname: hostname.clone(),
                    ports: None,
                })
                .collect();
            let patch = json!({ "status": { "loadBalancer": { "ingress": if list.is_empty() { serde_json::Value::Null } else { json!(list) } } } });
            let api: Api<Ingress> = Api::namespaced(self.client.clone(), &change.ingress.namespace);
            match api
                .patch_status(
                    &change.ingress.name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {
                    tracing::info!(ingress = %change.ingress, addresses = ?change.addresses, "status updated");
                    self.written.insert(change.ingress, change.addresses);
                }
                Err(e) => {
                    tracing::warn!(ingress = %change.ingress, "status update failed: {e}");
                    failed += 1;
                }
            }
        }
        match failed {
            0 => Ok(()),
            failed => Err(StatusError { failed }),
        }
    }
}

/// Some status writes failed (each was logged with its Ingress); they are retried.
#[derive(Debug, thiserror::Error)]
#[error("{failed} Ingress status update(s) failed; retrying on the next sync")]
pub struct StatusError {
    /// How many writes failed.
    pub failed: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::tests_support::ingress_with_status;

    fn addr(ip: &str) -> Address {
        (Some(ip.to_string()), None)
    }

    #[test]
    fn plans_set_keep_and_clear() {
        let snapshot = Snapshot {
            ingresses: vec![
                ingress_with_status("ns", "new", &[]),
                ingress_with_status("ns", "same", &["10.0.0.1"]),
                ingress_with_status("ns", "moved", &["10.0.0.1"]),
                ingress_with_status("ns", "left", &["10.0.0.2"]),
                ingress_with_status("ns", "foreign", &["192.0.2.9"]),
            ],
            ..Snapshot::default()
        };
        let members = BTreeMap::from([
            (
                "internal".to_string(),
                vec![IngressRef::new("ns", "new"), IngressRef::new("ns", "same")],
            ),
            ("external".to_string(), vec![IngressRef::new("ns", "moved")]),
        ]);
        let addresses = BTreeMap::from([
            ("internal".to_string(), vec![addr("10.0.0.1")]),
            ("external".to_string(), vec![addr("10.0.0.2")]),
        ]);
        let changes = plan(&snapshot, &members, &addresses);
        let got: Vec<(&str, Vec<Address>)> = changes
            .iter()
            .map(|c| (&*c.ingress.name, c.addresses.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("new", vec![addr("10.0.0.1")]),
                ("moved", vec![addr("10.0.0.2")]),
                ("left", vec![]),
            ]
        );
    }

    #[test]
    fn addresses_from_static_values_and_services() {
        let st = class_addresses(
            &AddressSource::Static(vec!["lb.example".into(), "10.0.0.5".into()]),
            &[],
        );
        assert_eq!(
            st,
            vec![(None, Some("lb.example".into())), addr("10.0.0.5")]
        );
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"namespace": "gh", "name": "internal-lb"},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.240"}]}}
        }))
        .expect("service");
        let from_svc = class_addresses(
            &AddressSource::Service("gh".into(), "internal-lb".into()),
            &[Arc::new(svc)],
        );
        assert_eq!(from_svc, vec![addr("192.168.1.240")]);
    }
}
