//! Where issued certificates go: a Secret in the cluster, or a Secret manifest in the state
//! directory that the manifests source reads back. Either way the certificate returns through
//! the source like any other object.

use std::path::PathBuf;

use gatehouse_certs::acme::IssuedCert;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use serde_json::json;

use super::plan::MANAGED_BY_LABEL;

/// Stores issued certificates.
#[async_trait::async_trait]
pub trait CertSink: Send + Sync {
    /// Writes `cert` into TLS Secret `namespace/name`.
    async fn store(&self, namespace: &str, name: &str, cert: &IssuedCert) -> Result<(), String>;
}

/// The Secret gatehouse writes, with its mark ([`MANAGED_BY_LABEL`]): the planner overwrites
/// only Secrets that carry it.
fn secret_json(namespace: &str, name: &str, cert: &IssuedCert) -> serde_json::Value {
    let (label, value) = MANAGED_BY_LABEL;
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "namespace": namespace,
            "name": name,
            "labels": {label: value},
        },
        "stringData": {"tls.crt": cert.chain_pem, "tls.key": cert.key_pem},
    })
}

/// Writes Secret manifests into a directory (manifests mode).
pub struct FileSink {
    dir: PathBuf,
}

impl FileSink {
    /// A sink writing into `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait::async_trait]
impl CertSink for FileSink {
    async fn store(&self, namespace: &str, name: &str, cert: &IssuedCert) -> Result<(), String> {
        let yaml = serde_yaml::to_string(&secret_json(namespace, name, cert))
            .map_err(|e| format!("encoding Secret {namespace}/{name}: {e}"))?;
        let dir = self.dir.clone();
        let file = dir.join(format!("{namespace}--{name}.yaml"));
        tokio::task::spawn_blocking(move || write_private(&dir, &file, yaml.as_bytes()))
            .await
            .map_err(|e| e.to_string())?
    }
}

/// Writes atomically (temp file + rename) with owner-only permissions: it holds a private key.
fn write_private(
    dir: &std::path::Path,
    file: &std::path::Path,
    bytes: &[u8],
) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let tmp = file.with_extension("yaml.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, file).map_err(|e| format!("renaming to {}: {e}", file.display()))
}

/// Applies Secrets through the API (cluster mode).
pub struct KubeSink {
    client: Client,
}

impl KubeSink {
    /// A sink using `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait::async_trait]
impl CertSink for KubeSink {
    async fn store(&self, namespace: &str, name: &str, cert: &IssuedCert) -> Result<(), String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let params = PatchParams::apply("gatehouse").force();
        api.patch(
            name,
            &params,
            &Patch::Apply(secret_json(namespace, name, cert)),
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("writing Secret {namespace}/{name}: {e}"))
    }
}
