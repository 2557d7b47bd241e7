//! A gatehouse process plus its manifests dir and listeners: the usual black-box test setup.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use crate::admin;
use crate::client::{self, Reply};
use crate::manifests::ManifestDir;
use crate::net::{any_port, free_addr};
use crate::process::{gatehouse_args, Gatehouse, InstanceSpec};

/// Startup budget: generous because a debug build on a busy 2-core machine starts slowly.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Budget for a manifest change to be applied when a test is not measuring latency.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running gatehouse with its manifests dir, admin address and instances.
pub struct Fixture {
    /// The `--manifests` directory.
    pub manifests: ManifestDir,
    /// The process.
    pub gatehouse: Gatehouse,
    /// The `--admin` address.
    pub admin: SocketAddr,
    /// The `--instance` specs it was started with.
    pub instances: Vec<InstanceSpec>,
    /// An HTTP/1.1 client for requests through gatehouse.
    pub client: reqwest::Client,
}

impl Fixture {
    /// Writes `files` into a fresh manifests dir, starts gatehouse and waits for /readyz.
    pub async fn start(
        bin: &Path,
        instances: Vec<InstanceSpec>,
        files: &[(&str, String)],
    ) -> anyhow::Result<Fixture> {
        Fixture::start_with_args(bin, instances, files, &[]).await
    }

    /// Like `start`, with extra command line arguments appended.
    pub async fn start_with_args(
        bin: &Path,
        instances: Vec<InstanceSpec>,
        files: &[(&str, String)],
        extra_args: &[String],
    ) -> anyhow::Result<Fixture> {
        Fixture::start_with_env(bin, instances, files, extra_args, &[]).await
    }

    /// Like `start_with_args`, with extra environment variables for the process.
    pub async fn start_with_env(
        bin: &Path,
        instances: Vec<InstanceSpec>,
        files: &[(&str, String)],
        extra_args: &[String],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Fixture> {
        let manifests = ManifestDir::new()?;
        for (name, yaml) in files {
            manifests.write(name, yaml)?;
        }
        let admin = free_addr("127.0.0.1");
        let mut args = gatehouse_args(manifests.path(), &instances, admin, Some(1));
        args.extend_from_slice(extra_args);
        let gatehouse = Gatehouse::start_with_env(bin, &args, env)?;
        gatehouse.wait_ready(admin, STARTUP_TIMEOUT).await?;
        Ok(Fixture {
            manifests,
            gatehouse,
            admin,
            instances,
            client: client::http_client(),
        })
    }

    /// The HTTP listener of `class`.
    pub fn http(&self, class: &str) -> SocketAddr {
        self.instances
            .iter()
            .find(|instance| instance.class == class)
            .map(|instance| instance.http)
            .unwrap_or_else(|| panic!("fixture has no instance for class {class}"))
    }

    /// GET through the `class` listener with the given Host header.
    pub async fn get(&self, class: &str, host: &str, path: &str) -> anyhow::Result<Reply> {
        client::get(&self.client, self.http(class), host, path).await
    }

    /// Waits (at most 10 s) for the access log line (stdout, JSON) of the request with
    /// `X-Request-ID: id`; a stdout line that is not JSON is an error (the access log is the
    /// only thing gatehouse writes there).
    pub async fn access_log_line(&self, id: &str) -> anyhow::Result<serde_json::Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            for line in self.gatehouse.stdout_lines() {
                let json: serde_json::Value = serde_json::from_str(&line)
                    .map_err(|e| anyhow::anyhow!("stdout line is not JSON ({e}): {line}"))?;
                if json["request_id"] == id {
                    return Ok(json);
                }
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!(
                    "no access log line with request_id {id}; stdout: {:?}",
                    self.gatehouse.stdout_lines()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Current route-table generation of `class`.
    pub async fn generation(&self, class: &str) -> anyhow::Result<u64> {
        admin::generation(self.admin, class).await
    }

    /// Writes a manifest file and waits until `class` has swapped its route table.
    pub async fn apply(&self, name: &str, yaml: &str, class: &str) -> anyhow::Result<u64> {
        let before = self.generation(class).await?;
        self.manifests.write(name, yaml)?;
        self.gatehouse
            .wait_generation_above(self.admin, class, before, APPLY_TIMEOUT)
            .await
    }

    /// Removes a manifest file and waits until `class` has swapped its route table.
    pub async fn delete(&self, name: &str, class: &str) -> anyhow::Result<u64> {
        let before = self.generation(class).await?;
        self.manifests.remove(name)?;
        self.gatehouse
            .wait_generation_above(self.admin, class, before, APPLY_TIMEOUT)
            .await
    }

    /// Polls GET until `accept` holds for the reply (at most `timeout`, every 10 ms).
    pub async fn wait_for_reply(
        &self,
        class: &str,
        host: &str,
        path: &str,
        timeout: Duration,
        accept: impl Fn(&Reply) -> bool,
    ) -> anyhow::Result<Reply> {
        let deadline = Instant::now() + timeout;
        let mut last = Err(anyhow!("no request sent"));
        while Instant::now() < deadline {
            last = self.get(class, host, path).await;
            if let Ok(reply) = &last {
                if accept(reply) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match last {
            Ok(reply) => bail!(
                "GET {host}{path} on {class}: condition not met within {timeout:?}; last reply {}",
                reply.summary()
            ),
            Err(e) => bail!("GET {host}{path} on {class}: condition not met within {timeout:?}; last error {e:#}"),
        }
    }
}

/// Starts echo backend `name` on `ip` (free port) and returns it with YAML for Service `name`
/// (port "http" = 80) and its EndpointSlice pointing at the backend.
pub async fn echo_service(
    namespace: &str,
    name: &str,
    ip: &str,
) -> anyhow::Result<(crate::echo::EchoBackend, String)> {
    let echo = crate::echo::EchoBackend::start(name, any_port(ip)).await?;
    let yaml = crate::yaml::backend(namespace, name, echo.addr().port(), &[(ip, true)]);
    Ok((echo, yaml))
}

/// Starts recording backend `name` on `ip` (free port) and returns it with YAML for Service
/// `name` (port "http" = 80) and its EndpointSlice pointing at the backend.
pub async fn recording_service(
    namespace: &str,
    name: &str,
    ip: &str,
) -> anyhow::Result<(crate::recording::RecordingBackend, String)> {
    let backend = crate::recording::RecordingBackend::start(name, any_port(ip)).await?;
    let yaml = crate::yaml::backend(namespace, name, backend.addr().port(), &[(ip, true)]);
    Ok((backend, yaml))
}
