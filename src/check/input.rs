//! Where `gatehouse check` gets its objects: manifest files (the manifests source's parser),
//! stdin, or every namespace of a cluster; and ingress-nginx's ConfigMap from a file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use gatehouse_controller::snapshot::ServiceInfo;
use gatehouse_controller::sources::manifests::{manifest_files, parse_file};
use gatehouse_controller::Object;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::Ingress;

use super::report::ExternalNames;

/// The objects to check.
#[derive(Default)]
pub struct Inputs {
    /// Every Ingress, with the file it came from (none from a cluster).
    pub ingresses: Vec<(Arc<Ingress>, Option<String>)>,
    /// The ExternalName Services among the inputs.
    pub external_names: ExternalNames,
}

impl Inputs {
    fn push(&mut self, object: Object, source: Option<String>) {
        match object {
            Object::Ingress(ing) => self.ingresses.push((ing, source)),
            Object::Service(svc) => self.push_service(&svc),
            _ => {}
        }
    }

    fn push_service(&mut self, svc: &ServiceInfo) {
        if svc.external_name.is_some() {
            let key = (svc.namespace.to_string(), svc.name.to_string());
            self.external_names.insert(key);
        }
    }
}

/// The name stdin goes by in reports and errors.
pub const STDIN: &str = "<stdin>";

/// Reads `-f` files (`-` is stdin; a directory is read like `--manifests`) and `--manifests`
/// directories. The first file that cannot be read or parsed is the error, naming it.
pub fn from_files(files: &[PathBuf], dirs: &[PathBuf]) -> Result<Inputs> {
    let mut paths = Vec::new();
    for path in files.iter().chain(dirs) {
        if path.as_os_str() == "-" {
            paths.push(path.clone());
        } else if path.is_dir() {
            paths.extend(manifest_files(path)?);
        } else if dirs.contains(path) {
            bail!("--manifests {}: not a directory", path.display());
        } else {
            paths.push(path.clone());
        }
    }
    let mut inputs = Inputs::default();
    for path in paths {
        let (name, text) = read(&path)?;
        let objects = parse_file(Path::new(&name), &text)?;
        for object in objects {
            inputs.push(object, Some(name.clone()));
        }
    }
    Ok(inputs)
}

/// A file's display name and text (`-`: stdin).
fn read(path: &Path) -> Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading manifests from stdin")?;
        return Ok((STDIN.to_string(), text));
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok((path.display().to_string(), text))
}

/// Lists the Ingresses (and Services) of every namespace.
pub async fn from_cluster(kubeconfig: Option<PathBuf>) -> Result<Inputs> {
    let client = crate::controller::kube_client(kubeconfig).await?;
    let params = kube::api::ListParams::default();
    let ingresses = kube::Api::<Ingress>::all(client.clone())
        .list(&params)
        .await
        .context("listing Ingresses in every namespace")?;
    let mut inputs = Inputs::default();
    for ing in ingresses {
        inputs.ingresses.push((Arc::new(ing), None));
    }
    // Services only sharpen the report (ExternalName backends); without them it still stands.
    match kube::Api::<Service>::all(client).list(&params).await {
        Ok(services) => services
            .iter()
            .for_each(|s| inputs.push_service(&ServiceInfo::from_api(s))),
        Err(e) => {
            eprintln!("warning: cannot list Services ({e}); ExternalName backends are not reported")
        }
    }
    Ok(inputs)
}

/// The `data` of the ConfigMap in `path` (the first ConfigMap document; `-` is stdin).
pub fn configmap(path: &Path) -> Result<(String, BTreeMap<String, String>)> {
    let (name, text) = read(path)?;
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = <serde_yaml::Value as serde::Deserialize>::deserialize(doc)
            .with_context(|| format!("{name}: not valid YAML"))?;
        if value.get("kind").and_then(|k| k.as_str()) != Some("ConfigMap") {
            continue;
        }
        let cm: ConfigMap = serde_yaml::from_value(value)
            .with_context(|| format!("{name}: not a valid ConfigMap"))?;
        return Ok((name, cm.data.unwrap_or_default()));
    }
    bail!("{name}: holds no ConfigMap (kind: ConfigMap)")
}
