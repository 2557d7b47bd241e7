//! ACME state shared through the cluster: the account in a Secret, and pending HTTP-01 answers
//! in a ConfigMap that every replica mirrors, so whichever replica the CA's validation request
//! reaches can answer it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use gatehouse_certs::acme::{AccountStore, AcmeError};
use gatehouse_certs::{ChallengeStore, MemoryChallenges};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;

/// The key holding the account credentials in the account Secret.
const ACCOUNT_KEY: &str = "account.json";
/// How long `flush` waits for our own mirror to show the answers before telling the CA.
const MIRROR_WAIT: Duration = Duration::from_secs(5);
/// Extra time for other replicas' mirrors, which see the same watch event.
const REPLICA_GRACE: Duration = Duration::from_millis(300);

/// The ACME account, persisted in an Opaque Secret.
pub struct SecretAccountStore {
    api: Api<Secret>,
    name: String,
}

impl SecretAccountStore {
    /// A store for Secret `name` reachable through `api` (gatehouse's own namespace).
    pub fn new(api: Api<Secret>, name: &str) -> Self {
        Self {
            api,
            name: name.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl AccountStore for SecretAccountStore {
    async fn load(&self) -> Result<Option<String>, AcmeError> {
        let secret =
            self.api.get_opt(&self.name).await.map_err(|e| {
                AcmeError::AccountStore(format!("reading Secret {}: {e}", self.name))
            })?;
        Ok(secret
            .and_then(|s| s.data)
            .and_then(|d| d.get(ACCOUNT_KEY).cloned())
            .and_then(|b| String::from_utf8(b.0).ok()))
    }

    async fn save(&self, credentials: &str) -> Result<(), AcmeError> {
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": self.name, "labels": {"app.kubernetes.io/managed-by": "gatehouse"}},
            "data": {ACCOUNT_KEY: ByteString(credentials.as_bytes().to_vec())},
        });
        self.api
            .patch(
                &self.name,
                &PatchParams::apply("gatehouse").force(),
                &Patch::Apply(secret),
            )
            .await
            .map(|_| ())
            .map_err(|e| AcmeError::AccountStore(format!("writing Secret {}: {e}", self.name)))
    }
}

/// Pending answers: set by the leader's issuer, published to a ConfigMap on `flush`.
pub struct KubeChallenges {
    pending: MemoryChallenges,
    served: MemoryChallenges,
    api: Api<ConfigMap>,
    name: String,
    published: Mutex<HashSet<String>>,
}

impl KubeChallenges {
    /// A store writing ConfigMap `name`; `served` is the mirror the local proxies answer from.
    pub fn new(api: Api<ConfigMap>, name: &str, served: MemoryChallenges) -> Self {
        Self {
            pending: MemoryChallenges::new(),
            served,
            api,
            name: name.to_string(),
            published: Mutex::new(HashSet::new()),
        }
    }
}

#[async_trait::async_trait]
impl ChallengeStore for KubeChallenges {
    fn set(&self, token: &str, key_authorization: &str) {
        self.pending.set(token, key_authorization);
    }

    fn remove(&self, token: &str) {
        self.pending.remove(token);
    }

    fn get(&self, token: &str) -> Option<Arc<str>> {
        self.pending.get(token)
    }

    async fn flush(&self) -> Result<(), String> {
        let current = self.pending.all();
        let mut data = serde_json::Map::new();
        let previous: HashSet<String> = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for token in &previous {
            if !current.contains_key(token.as_str()) {
                data.insert(token.clone(), serde_json::Value::Null);
            }
        }
        for (token, answer) in &current {
            data.insert(token.to_string(), json!(answer.as_ref()));
        }
        let patch = json!({ "data": data });
        match self
            .api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": self.name},
                    "data": current.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
                }))
                .map_err(|e| e.to_string())?;
                self.api
                    .create(&PostParams::default(), &cm)
                    .await
                    .map_err(|e| format!("creating ConfigMap {}: {e}", self.name))?;
            }
            Err(e) => return Err(format!("patching ConfigMap {}: {e}", self.name)),
        }
        *self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            current.keys().map(|k| k.to_string()).collect();
        // Wait until our own mirror serves the new answers: the other replicas' mirrors see
        // the same watch event at about the same time.
        let deadline = tokio::time::Instant::now() + MIRROR_WAIT;
        while tokio::time::Instant::now() < deadline {
            let served = self.served.all();
            if current.iter().all(|(k, v)| served.get(k) == Some(v)) {
                tokio::time::sleep(REPLICA_GRACE).await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!(
            "ConfigMap {} written but not seen by this replica's watch",
            self.name
        ))
    }
}

/// Keeps `served` equal to the data of ConfigMap `name`, forever (every replica runs this).
pub async fn mirror_challenges(api: Api<ConfigMap>, name: String, served: MemoryChallenges) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(cm) => {
                let answers: HashMap<Arc<str>, Arc<str>> = cm
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (Arc::from(k), Arc::from(v)))
                    .collect();
                served.replace_all(answers);
            }
            Err(e) => tracing::warn!("watching ConfigMap {name} for ACME challenges: {e}"),
        }
    }
}
