//! Shared parts of the Kubernetes-source tests: the in-repo API server, gatehouse replicas
//! pointed at it through a generated kubeconfig, and small polling helpers.
#![allow(dead_code)]

pub mod rbac;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gatehouse_testapi::TestApiServer;
use gatehouse_testkit::{free_addr, get, Gatehouse, Reply};
use serde_json::Value;

pub const STARTUP: Duration = Duration::from_secs(60);

/// The test API server plus a kubeconfig file for it.
pub struct Cluster {
    pub api: TestApiServer,
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Asserts that every request for Secrets selected TLS Secrets by type or Secret `name`
    /// by name in its namespace `ns` (never any other Secret), and that `name` was watched.
    pub fn assert_secrets_read_by_name(&self, ns: &str, name: &str) {
        let by_name = format!("metadata.name={name}");
        let path = format!("/api/v1/namespaces/{ns}/secrets");
        let secret_requests: Vec<_> = self
            .api
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/secrets"))
            .collect();
        let mut named = 0;
        for r in &secret_requests {
            let selector = r.query_param("fieldSelector").unwrap_or_default();
            if selector == by_name {
                assert_eq!(r.path, path, "{r:?}");
                named += 1;
            } else {
                assert_eq!(selector, "type=kubernetes.io/tls", "{r:?}");
            }
        }
        assert!(
            named > 0,
            "Secret {ns}/{name} was watched by name: {secret_requests:?}"
        );
    }

    pub async fn start() -> anyhow::Result<Cluster> {
        let api = TestApiServer::start().await?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        api.write_kubeconfig(&kubeconfig)?;
        Ok(Cluster {
            api,
            kubeconfig,
            _dir: dir,
        })
    }

    /// Applies every document of a (multi-document) YAML string.
    pub fn apply_yaml(&self, yaml: &str) -> anyhow::Result<()> {
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let value: Value = serde::Deserialize::deserialize(doc).context("yaml document")?;
            if value.is_null() {
                continue;
            }
            self.api.apply(value).context("apply")?;
        }
        Ok(())
    }

    pub fn delete_ingress(&self, ns: &str, name: &str) {
        self.api
            .delete("networking.k8s.io", "v1", "ingresses", Some(ns), name);
    }

    /// The `status.loadBalancer.ingress` IPs/hostnames of an Ingress.
    pub fn ingress_status(&self, ns: &str, name: &str) -> Vec<String> {
        let Some(obj) = self
            .api
            .get("networking.k8s.io", "v1", "ingresses", Some(ns), name)
        else {
            return vec![];
        };
        obj["status"]["loadBalancer"]["ingress"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e["ip"].as_str().or(e["hostname"].as_str()))
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One gatehouse process in Kubernetes mode.
pub struct Replica {
    pub gh: Gatehouse,
    pub admin: SocketAddr,
    pub http: BTreeMap<String, SocketAddr>,
    pub name: String,
}

impl Replica {
    /// Starts a replica serving `classes` (`(class, extra instance keys)`) with extra flags.
    pub async fn start(
        cluster: &Cluster,
        name: &str,
        classes: &[(&str, &str)],
        extra: &[&str],
    ) -> anyhow::Result<Replica> {
        let admin = free_addr("127.0.0.1");
        let mut args = vec![
            "--kubeconfig".to_string(),
            cluster.kubeconfig.display().to_string(),
            "--admin".to_string(),
            admin.to_string(),
            "--pod-name".to_string(),
            name.to_string(),
            "--threads".to_string(),
            "1".to_string(),
        ];
        let mut http = BTreeMap::new();
        for (class, keys) in classes {
            let addr = free_addr("127.0.0.1");
            http.insert(class.to_string(), addr);
            args.push("--instance".into());
            let mut spec = format!("class={class},http={addr}");
            if !keys.is_empty() {
                spec.push(',');
                spec.push_str(keys);
            }
            args.push(spec);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let gh = Gatehouse::start(bin(), &args)?;
        gh.wait_ready(admin, STARTUP).await?;
        Ok(Replica {
            gh,
            admin,
            http,
            name: name.to_string(),
        })
    }

    pub async fn get(&self, class: &str, host: &str, path: &str) -> anyhow::Result<Reply> {
        get(&client(), self.http[class], host, path).await
    }

    /// Polls until `host/path` on `class` is answered by backend `want` (None: 404); returns
    /// how long it took.
    pub async fn wait_routed(
        &self,
        class: &str,
        host: &str,
        want: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < timeout {
            match self.get(class, host, "/").await {
                Ok(reply) => {
                    let ok = match want {
                        Some(b) => reply.status == 200 && reply.backend().as_deref() == Some(b),
                        None => reply.status == 404,
                    };
                    if ok {
                        return Ok(started.elapsed());
                    }
                    last = reply.summary();
                }
                Err(e) => last = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bail!(
            "{host} on {class} (replica {}) not routed to {want:?} within {timeout:?}; last: {last}\nstderr:\n{}",
            self.name,
            gatehouse_testkit::process::tail(&self.gh.stderr_text(), 3000)
        )
    }
}

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

pub fn client() -> reqwest::Client {
    gatehouse_testkit::http_client()
}

/// Polls `check` every 20 ms until it returns true or `timeout` passes.
pub async fn eventually(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if check() {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("{what}: not within {timeout:?}")
}

/// An Ingress of class `internal` in namespace `ns` routing `host/` to Service `svc` port "http".
pub fn internal_ingress(ns: &str, name: &str, host: &str) -> String {
    gatehouse_testkit::yaml::Ingress::new(ns, name)
        .class("internal")
        .path(
            host,
            "/",
            gatehouse_testkit::yaml::PathType::Prefix,
            "svc",
            gatehouse_testkit::yaml::PortRef::Name("http".into()),
        )
        .yaml()
}

/// Who holds the election Lease `gatehouse/gatehouse-leader`, if anyone.
pub fn lease_holder(cluster: &Cluster) -> Option<String> {
    cluster
        .api
        .get(
            "coordination.k8s.io",
            "v1",
            "leases",
            Some("gatehouse"),
            "gatehouse-leader",
        )
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
}
