//! The Secrets that Ingresses name — for basic authentication (`auth-secret`) and for backend
//! TLS (`proxy-ssl-secret`) — watched one by one by name: a watcher with a
//! `metadata.name=NAME` field selector in the Secret's namespace per referenced Secret, started
//! when an Ingress first names it and stopped when none does any more. No other Secret's
//! contents are ever requested for this.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::Notify;

use crate::translate::annotations::{IngressAnnotations, UnsupportedAnnotations};

/// A Secret by namespace and name.
pub type SecretName = (String, String);

/// The Secrets `ingresses` name, as translation reads them: for basic authentication
/// (`auth-type: basic` with a valid `auth-secret`) and for backend TLS (a valid
/// `proxy-ssl-secret`), limited to `namespaces` when not empty.
pub fn referenced(ingresses: &[Arc<Ingress>], namespaces: &[String]) -> BTreeSet<SecretName> {
    ingresses
        .iter()
        // Cheap first: only Ingresses with a key that can name a Secret are parsed (this runs
        // per event).
        .filter(|ing| {
            ing.metadata.annotations.as_ref().is_some_and(|a| {
                a.keys()
                    .any(|k| k.ends_with("/auth-type") || k.ends_with("/proxy-ssl-secret"))
            })
        })
        .flat_map(|ing| {
            let (notes, _) = IngressAnnotations::parse(ing, UnsupportedAnnotations::FailClosed);
            let auth = notes.basic_auth.map(|r| (r.namespace, r.name));
            let ssl = notes.proxy_ssl_secret.map(|r| (r.namespace, r.name));
            auth.into_iter().chain(ssl)
        })
        .filter(|(ns, _)| namespaces.is_empty() || namespaces.contains(ns))
        .collect()
}

/// One watcher per referenced Secret.
struct Watch {
    store: Store<Secret>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The running per-name Secret watchers.
pub struct NamedSecretWatchers {
    client: Client,
    trigger: Arc<Notify>,
    watches: BTreeMap<SecretName, Watch>,
}

impl NamedSecretWatchers {
    /// No watchers yet; each event of those started later pulls `trigger`.
    pub fn new(client: Client, trigger: Arc<Notify>) -> Self {
        Self {
            client,
            trigger,
            watches: BTreeMap::new(),
        }
    }

    /// Starts watchers for newly referenced Secrets and stops those no longer referenced;
    /// true when one was started.
    pub fn sync(&mut self, wanted: &BTreeSet<SecretName>) -> bool {
        self.watches.retain(|name, _| wanted.contains(name));
        let mut started = false;
        for name in wanted {
            if !self.watches.contains_key(name) {
                let watch = self.start(name);
                self.watches.insert(name.clone(), watch);
                started = true;
            }
        }
        started
    }

    fn start(&self, (ns, name): &SecretName) -> Watch {
        let (store, writer) = reflector::store();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let trigger = self.trigger.clone();
        let secret = format!("{ns}/{name}");
        let stream = watcher(api, config)
            .default_backoff()
            .modify(|s: &mut Secret| crate::snapshot::strip_unused(&mut s.metadata))
            .reflect(writer);
        let task = tokio::spawn(async move {
            stream
                .for_each(|event| {
                    match event {
                        Ok(_) => trigger.notify_one(),
                        Err(e) => tracing::warn!(
                            secret,
                            "watch of a Secret named by an Ingress failed, retrying with backoff (does RBAC allow list/watch of secrets in its namespace?): {e}"
                        ),
                    }
                    futures::future::ready(())
                })
                .await
        });
        Watch { store, task }
    }

    /// Waits until every watcher has listed once.
    pub async fn wait_ready(&self) {
        for watch in self.watches.values() {
            let _ = watch.store.wait_until_ready().await;
        }
    }

    /// The watched Secrets that exist.
    pub fn secrets(&self) -> Vec<Arc<Secret>> {
        self.watches
            .values()
            .flat_map(|w| w.store.state())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(ns: &str, name: &str, annotations: serde_json::Value) -> Arc<Ingress> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"namespace": ns, "name": name, "annotations": annotations},
                "spec": {}
            }))
            .expect("ingress fixture"),
        )
    }

    #[test]
    fn only_secrets_named_for_basic_auth_or_backend_tls_are_referenced() {
        let n = |k: &str| format!("nginx.ingress.kubernetes.io/{k}");
        let ingresses = vec![
            ingress(
                "a",
                "one",
                json!({n("auth-type"): "basic", n("auth-secret"): "creds"}),
            ),
            ingress(
                "a",
                "two",
                json!({n("auth-type"): "basic", n("auth-secret"): "b/other"}),
            ),
            // No auth-type, digest, or an invalid reference: nothing to read.
            ingress("a", "three", json!({n("auth-secret"): "unused"})),
            ingress(
                "a",
                "four",
                json!({n("auth-type"): "digest", n("auth-secret"): "d"}),
            ),
            ingress(
                "a",
                "five",
                json!({n("auth-type"): "basic", n("auth-secret"): "Bad Name"}),
            ),
            ingress(
                "c",
                "six",
                json!({"gatehouse.dev/auth-type": "basic", "gatehouse.dev/auth-secret": "own"}),
            ),
            // proxy-ssl-secret, under either prefix; it must name its namespace.
            ingress(
                "a",
                "seven",
                json!({n("proxy-ssl-secret"): "d/backend-tls"}),
            ),
            ingress(
                "a",
                "eight",
                json!({"gatehouse.dev/proxy-ssl-secret": "e/own-tls"}),
            ),
            ingress("a", "nine", json!({n("proxy-ssl-secret"): "no-namespace"})),
            // Both in one Ingress.
            ingress(
                "a",
                "ten",
                json!({n("auth-type"): "basic", n("auth-secret"): "creds", n("proxy-ssl-secret"): "a/mtls"}),
            ),
        ];
        let names = |ns: &[String]| -> Vec<(String, String)> {
            referenced(&ingresses, ns).into_iter().collect()
        };
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            names(&[]),
            vec![
                pair("a", "creds"),
                pair("a", "mtls"),
                pair("b", "other"),
                pair("c", "own"),
                pair("d", "backend-tls"),
                pair("e", "own-tls")
            ]
        );
        // --watch-namespace limits what is read.
        assert_eq!(
            names(&["a".to_string()]),
            vec![pair("a", "creds"), pair("a", "mtls")]
        );
    }
}
